//! fuse-overlay: a union filesystem over FUSE for hosts where kernel
//! overlayfs cannot be mounted by an unprivileged user (kernel 4.18, upper
//! layers on NFS or Lustre).
//!
//! Theory of operation: N read-only lower directories and one writable upper
//! directory are merged at a mount point, with the same semantics and the
//! same on-disk [`layout`] as kernel overlayfs, so a container's upper layer
//! can be mounted by either driver.
//!
//! Status: only the shared layer [`layout`] exists so far; the filesystem
//! itself is the subject of its own issue.

pub mod layout;
