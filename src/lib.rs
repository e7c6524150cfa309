//! rless: rootless, daemonless containers. See `docs/design.md`.

pub mod cdi;
pub mod config;
pub mod container;
pub mod events;
pub mod image;
pub mod inroot;
pub mod interrupt;
pub mod message;
pub mod network;
pub mod procfs;
pub mod runtime;
pub mod signal;
pub mod trace;
pub mod userns;
