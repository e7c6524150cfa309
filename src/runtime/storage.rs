//! Storage drivers: which union filesystem stacks a container's layers.
//!
//! Theory of operation: kernel overlayfs (`userxattr`, Linux 5.11+ in a user
//! namespace) is fastest; where the kernel refuses it (RHEL 8's 4.18, an
//! upper layer on NFS) or a layer holds marker whiteouts the kernel cannot
//! read, the `fuse-overlay` crate serves the same layers. With `Auto` the
//! init tries the kernel first and falls back to FUSE.
//!
//! FUSE must be mounted inside the container's mount namespace, but served
//! from a process that sees the store and outlives setup: the monitor. So
//! the init mounts an empty FUSE filesystem (`mount_connection`), sends the
//! `/dev/fuse` connection to the monitor over a socket pair, and waits; the
//! monitor starts the server threads on it and answers. The protocol is one
//! byte each way: init → `K` (kernel overlay mounted, nothing to serve) or
//! `F` + the connection; monitor → `A` (serving) or `E` + a message. The
//! monitor is single-threaded when it clones the init; its FUSE threads
//! start only afterwards. The server lives as long as the monitor; if it is
//! killed, the container sees ENOTCONN (and dies with the monitor anyway).

use super::rootfs::{self, RootfsError};
use super::sys;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Which union filesystem to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Driver {
    /// Kernel overlayfs where it mounts, else fuse-overlay.
    #[default]
    Auto,
    Overlay,
    FuseOverlay,
}

impl Driver {
    pub fn parse(s: &str) -> Option<Driver> {
        match s {
            "" | "auto" => Some(Driver::Auto),
            "overlay" | "overlayfs" => Some(Driver::Overlay),
            "fuse-overlay" | "fuse-overlayfs" | "fuse" => Some(Driver::FuseOverlay),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Driver::Auto => "auto",
            Driver::Overlay => "overlay",
            Driver::FuseOverlay => "fuse-overlay",
        }
    }
}

/// The layers of a container, for either driver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layers {
    pub layers_dir: PathBuf,
    /// Relative to `layers_dir`, topmost first.
    pub lower: Vec<String>,
    pub upper: PathBuf,
    pub work: PathBuf,
    #[serde(default)]
    pub driver: Driver,
}

/// Init side: mounts the layers at `target`; returns the driver used.
pub fn mount_layers(
    layers: &Layers,
    target: &Path,
    monitor: Option<&OwnedFd>,
) -> Result<Driver, RootfsError> {
    let kernel = || {
        rootfs::mount_overlay(
            &layers.layers_dir,
            &layers.lower,
            &layers.upper,
            &layers.work,
            target,
        )
    };
    let tell = |tag: u8, fd: Option<&OwnedFd>| {
        if let Some(m) = monitor {
            let _ = sys::send_msg(m, tag, fd.map(|f| f.as_fd()));
        }
    };
    match layers.driver {
        Driver::Overlay => {
            kernel()?;
            tell(b'K', None);
            Ok(Driver::Overlay)
        }
        Driver::Auto if kernel().is_ok() => {
            tell(b'K', None);
            Ok(Driver::Overlay)
        }
        Driver::Auto | Driver::FuseOverlay => {
            let Some(m) = monitor else {
                return Err(RootfsError::NoFuse("no monitor to serve it".into()));
            };
            let conn = fuse_overlay::mount_connection(target)
                .map_err(|e| RootfsError::NoFuse(e.to_string()))?;
            sys::send_msg(m, b'F', Some(conn.as_fd()))
                .map_err(|e| RootfsError::NoFuse(e.to_string()))?;
            drop(conn);
            match rustix_read_answer(m) {
                Some(b'A') => Ok(Driver::FuseOverlay),
                _ => Err(RootfsError::NoFuse(
                    "the monitor could not serve the filesystem".into(),
                )),
            }
        }
    }
}

fn rustix_read_answer(m: &OwnedFd) -> Option<u8> {
    let mut b = [0u8; 1];
    match rustix::io::read(m, &mut b) {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

/// Monitor side: waits for the init's request and serves FUSE if asked.
/// Returns the server (kept alive by the caller) and the driver used, or
/// `None` when the init ended before mounting (its status says why).
pub fn answer(
    socket: &OwnedFd,
    layers: &Layers,
) -> io::Result<Option<(Option<fuse_overlay::Server>, Driver)>> {
    let Some((tag, conn)) = sys::recv_msg(socket)? else {
        return Ok(None);
    };
    match (tag, conn) {
        (b'F', Some(conn)) => {
            let lower = layers
                .lower
                .iter()
                .map(|l| layers.layers_dir.join(l))
                .collect();
            let cfg = fuse_overlay::Layers {
                lower,
                upper: layers.upper.clone(),
                work: layers.work.clone(),
                options: fuse_overlay::Options {
                    xattrs: true,
                    ..Default::default()
                },
            };
            match fuse_overlay::serve(conn, cfg) {
                Ok(server) => {
                    sys::send_msg(socket, b'A', None)?;
                    Ok(Some((Some(server), Driver::FuseOverlay)))
                }
                Err(e) => {
                    let _ = sys::send_msg(socket, b'E', None);
                    Err(io::Error::other(e.to_string()))
                }
            }
        }
        _ => Ok(Some((None, Driver::Overlay))),
    }
}
