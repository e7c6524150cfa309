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
//! byte each way: init → `K` (kernel overlay mounted, nothing to serve),
//! `S` (the fuse-overlay mount of an `rless unshare` session reused, served
//! by the session's server) or `F` + the connection; monitor → `A` (serving) or `E` + a message. The
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
    /// fuse-overlay only: the kernel's writeback cache (`--storage-opt
    /// writeback`). Writes are gathered in the page cache and sent soon
    /// after; a failed write (full disk, quota) shows at close or fsync
    /// instead of at `write(2)`, which is why it is off by default.
    #[serde(default)]
    pub writeback: bool,
    /// fuse-overlay only: the layers' owners as shown in the container,
    /// (on-disk id as its user namespace sees it, shown id, count) triples
    /// for uids and gids; set under `--userns keep-id`
    /// ([`super::ids::keep_id_view`]), which kernel overlayfs cannot show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_view: Option<IdView>,
}

/// See [`Layers::id_view`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdView {
    pub uids: Vec<[u32; 3]>,
    pub gids: Vec<[u32; 3]>,
}

impl IdView {
    pub(crate) fn map(table: &[[u32; 3]]) -> fuse_overlay::IdMap {
        fuse_overlay::IdMap(
            table
                .iter()
                .map(|r| fuse_overlay::IdRange {
                    outside: r[0],
                    inside: r[1],
                    count: r[2],
                })
                .collect(),
        )
    }
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
    // Started in an `rless unshare` that mounted it (`rless mount`): this
    // new mount namespace holds a copy of that mount, which is the root
    // (a second overlay on the same writable layer is undefined). A bind
    // of it on itself, made here, is the root: a copy from a namespace of
    // another user namespace is locked, which pivot_root refuses.
    let reused = crate::container::session::mounted_driver(target);
    if reused.is_some() {
        rustix::mount::mount_bind(target, target).map_err(|e| RootfsError::Op {
            op: "bind",
            path: target.to_path_buf(),
            source: e.into(),
        })?;
    }
    match reused {
        Some(Driver::FuseOverlay) => {
            tell(b'S', None);
            return Ok(Driver::FuseOverlay);
        }
        Some(_) => {
            tell(b'K', None);
            return Ok(Driver::Overlay);
        }
        None => {}
    }
    match layers.driver {
        Driver::Overlay => {
            kernel()?;
            tell(b'K', None);
            Ok(Driver::Overlay)
        }
        Driver::Auto if layers.id_view.is_none() && !layers.writeback && kernel().is_ok() => {
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
    init: nix::unistd::Pid,
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
                    // The mount goes away only after every process of the
                    // container closed its files (each close sends the
                    // file's pages) while the server still runs; `commit`
                    // and `diff`, which read the layer from outside, first
                    // call `container::flush_writes`.
                    writeback: layers.writeback,
                    uid_map: layers
                        .id_view
                        .as_ref()
                        .map_or_else(Default::default, |v| IdView::map(&v.uids)),
                    gid_map: layers
                        .id_view
                        .as_ref()
                        .map_or_else(Default::default, |v| IdView::map(&v.gids)),
                    // The init mounted inside the container's pid
                    // namespace: callers' pids are pids there.
                    callers_pid_ns: u32::try_from(init.as_raw()).ok(),
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
        // The session's fuse mount, served by its own server.
        (b'S', _) => Ok(Some((None, Driver::FuseOverlay))),
        _ => Ok(Some((None, Driver::Overlay))),
    }
}

/// Whether kernel overlayfs mounts for us with its upper layer on the
/// filesystem of `dir` (the store): a child enters a user namespace of its
/// own (mapping only our ids, as in single-id mode) and tries. `Err` says
/// why not. Used by `rless info`; `run` itself simply tries at each start.
pub fn probe_kernel_overlay(dir: &Path) -> Result<(), String> {
    let base = dir.join(format!(".overlay-probe-{}", std::process::id()));
    let made = ["l", "u", "w", "m"]
        .iter()
        .try_for_each(|d| std::fs::create_dir_all(base.join(d)));
    let result = match made {
        Err(e) => Err(format!("cannot create {}: {e}", base.display())),
        Ok(()) if !rootfs::user_xattrs_supported(&base.join("w")) => Err(format!(
            "the filesystem of {} cannot hold user extended attributes, which the upper layer needs",
            dir.display()
        )),
        Ok(()) => probe_in_child(&base),
    };
    // overlayfs leaves `w/work` with mode 0, which only root could enter.
    let _ = std::fs::set_permissions(
        base.join("w/work"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    );
    let _ = std::fs::remove_dir_all(&base);
    result
}

fn probe_in_child(base: &Path) -> Result<(), String> {
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    match sys::fork().map_err(|e| format!("fork: {e}"))? {
        None => {
            let r = (|| -> io::Result<()> {
                nix::sched::unshare(
                    nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
                )?;
                std::fs::write("/proc/self/setgroups", "deny")?;
                std::fs::write("/proc/self/uid_map", format!("0 {} 1", uid.as_raw()))?;
                std::fs::write("/proc/self/gid_map", format!("0 {} 1", gid.as_raw()))?;
                rootfs::mount_overlay(
                    base,
                    &["l".to_string()],
                    &base.join("u"),
                    &base.join("w"),
                    &base.join("m"),
                )
                .map_err(|e| match e {
                    RootfsError::Overlay(e) => e,
                    other => io::Error::other(other.to_string()),
                })
            })();
            // The exit status carries the errno (1 for anything else).
            let code = match r {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(1).clamp(1, 255),
            };
            sys::exit_child(code)
        }
        Some(pid) => match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => {
                Err(io::Error::from_raw_os_error(code).to_string())
            }
            other => Err(format!("the probe ended with {other:?}")),
        },
    }
}
