//! `rless mount` / `rless umount` (podman's): a container's root
//! filesystem, mounted where the user's own tools can reach it.
//!
//! Theory of operation: an unprivileged user can mount only in a mount
//! namespace that its user namespace owns, and such a mount lives as long
//! as that namespace. `rless unshare` makes one for its command
//! ([`crate::userns::enter_mount_session`]), so mounts made by `rless mount`
//! inside it last until that command ends, as podman's last until its
//! pause process ends; outside one, a rootless mount would vanish with the
//! `rless mount` that made it, so it is refused, in podman's words.
//!
//! - A stopped container's layers are mounted at its `merged` directory:
//!   kernel overlayfs where it mounts and the container needs nothing only
//!   fuse-overlay gives (an id view for `--userns keep-id`, the writeback
//!   cache); otherwise a fuse-overlay server forked for it, which serves
//!   until the mount goes ([`umount`], or the session's end).
//! - A running container is refused: its root is mounted in its own mount
//!   namespace, which the session (a sibling user namespace) may not enter
//!   (`/proc/PID/root` answers EACCES there), and a second overlay mount of
//!   a writable layer in use is undefined behaviour. One that runs on this
//!   session's mount (below) is not refused: its path is printed.
//! - A container started in the session while mounted there uses that
//!   mount as its root ([`mounted_driver`]): its init's new mount namespace
//!   is a copy of the session's, holding the mount, as podman shares one
//!   mount. The container's copy keeps the filesystem (and a fuse server,
//!   which ends with the last mount) after the session's command ends.
//! - Elsewhere (the host, another session) the mount is out of sight, so
//!   `rless mount` records its session in the container's directory
//!   ([`record_holder`]: the session's mount namespace and its command's
//!   pid). While that session lives and holds the mount ([`holder`]),
//!   `start`, `mount` and a writable `cp` from anywhere else are refused
//!   ([`check_not_held_elsewhere`]): a second overlay of the same
//!   writable layer would be undefined behaviour. A record whose session
//!   ended (or whose mount went by hand) counts for nothing and is
//!   removed by whoever reads it; `umount` removes its own; `rm` and
//!   `system reset` take it with the directory.

use crate::runtime::storage::{Driver, IdView, Layers};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Record(#[from] super::ContainerError),
    #[error(
        "container {name} is mounted (\"rless mount\") in the \"rless unshare\" session of process {pid}: \
         run \"rless umount {name}\" in that session, or end it, first"
    )]
    HeldElsewhere { name: String, pid: nix::unistd::Pid },
    #[error("cannot mount {}: kernel overlayfs refused ({kernel}) and fuse-overlay failed ({fuse})", path.display())]
    Mount {
        path: PathBuf,
        kernel: String,
        fuse: String,
    },
}

/// The mounts of this process's mount namespace, in mount order: each
/// mount point with its filesystem type.
fn mounts() -> Vec<(PathBuf, String)> {
    mounts_of("self")
}

/// [`mounts`] of the mount namespace of process `proc` (a pid, or `self`).
fn mounts_of(proc: &str) -> Vec<(PathBuf, String)> {
    let Ok(info) = std::fs::read_to_string(format!("/proc/{proc}/mountinfo")) else {
        return vec![];
    };
    info.lines()
        .filter_map(|l| {
            let point = l.split(' ').nth(4)?;
            let fstype = l.split_once(" - ")?.1.split(' ').next()?;
            Some((PathBuf::from(unescape(point)), fstype.to_string()))
        })
        .collect()
}

/// The mount points of this process's mount namespace.
fn mount_points() -> Vec<PathBuf> {
    mounts().into_iter().map(|(p, _)| p).collect()
}

/// Whether `path` is a mount point in this process's mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    let want = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mount_points().contains(&want)
}

/// The driver of what `rless mount` mounted at `target`, when the topmost
/// mount there is one of its kinds (kernel overlayfs, or rless's
/// fuse-overlay): a container started in the session's mount namespace,
/// whose init's new namespace holds a copy of that mount, uses it as its
/// root instead of stacking a second overlay on the same writable layer.
pub fn mounted_driver(target: &Path) -> Option<Driver> {
    // Every start asks, and nearly always nothing is mounted there: on the
    // device of its parent, `target` is no overlay or FUSE mount point,
    // which two stats tell without reading the mount table (long on hosts
    // with many mounts). A stat that fails (a dead FUSE mount answers
    // ENOTCONN) leaves the answer to the table.
    if let (Ok(t), Some(Ok(p))) = (
        rustix::fs::stat(target),
        target.parent().map(rustix::fs::stat),
    ) {
        if t.st_dev == p.st_dev {
            return None;
        }
    }
    let want = std::fs::canonicalize(target).ok()?;
    // Later lines are mounted over earlier ones: the last is on top.
    let (_, fstype) = mounts().into_iter().rfind(|(p, _)| *p == want)?;
    match fstype.as_str() {
        "overlay" => Some(Driver::Overlay),
        "fuse.rless-overlay" => Some(Driver::FuseOverlay),
        _ => None,
    }
}

/// Before a container's directory (or the store) under `dir` is deleted:
/// detaches what `rless mount` mounted below it in this session (where the
/// deletion would otherwise walk into the mounted root and delete through
/// it). Only where mounts can be: in a session, or as real root.
pub fn umount_all_under(dir: &Path) {
    if !crate::userns::in_mount_session() && !rustix::process::getuid().is_root() {
        return;
    }
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut under: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|p| p.starts_with(&dir) && *p != dir)
        .collect();
    // Deepest first.
    under.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in under {
        let _ = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH);
    }
}

/// In a container's directory: the `rless unshare` session whose mount
/// namespace holds the container's layers mounted by `rless mount`
/// ([`Holder`]). Other sessions and the host cannot see that mount; this
/// file tells them of it.
const MARKER: &str = "session-mount";

/// The `rless unshare` session that holds a container's layers mounted
/// (its [`MARKER`] file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// `mnt:[INODE]`, the session's mount namespace.
    mnt_ns: String,
    /// A process in that namespace: the session's command when recorded.
    pid: i32,
    /// Its start time ([`super::process_start`]): a pid used again since
    /// is another process.
    #[serde(default)]
    start: Option<u64>,
}

impl Holder {
    /// The process that holds the session (for messages).
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.pid)
    }

    /// Whether this process runs in the holding session's mount namespace
    /// (where the mount is its own to use).
    pub fn is_here(&self) -> bool {
        crate::userns::mount_ns_of("self").is_some_and(|ns| ns == self.mnt_ns)
    }
}

/// After `rless mount` mounted the layers of the container in `dir` at
/// `merged` in this `rless unshare` session: records the session there
/// ([`holder`]). As real root (no session) nothing is recorded: every
/// command shares that mount namespace.
pub fn record_holder(dir: &Path) -> Result<(), SessionError> {
    let Some((mnt_ns, pid)) = crate::userns::mount_session() else {
        return Ok(());
    };
    let start = super::process_start(pid);
    super::write_json_atomically(dir, MARKER, &Holder { mnt_ns, pid, start })?;
    Ok(())
}

/// The live `rless unshare` session whose mount namespace holds the layers
/// of the container in `dir` mounted at `merged`, if any. A record whose
/// session is gone (no process left in its namespace), or whose mount is
/// (an `umount` by hand), counts for nothing and is removed.
pub fn holder(dir: &Path, merged: &Path) -> Option<Holder> {
    let file = dir.join(MARKER);
    let text = std::fs::read(&file).ok()?;
    let found = serde_json::from_slice::<Holder>(&text)
        .ok()
        .and_then(|h| live_holder(h, merged));
    if found.is_none() {
        let _ = std::fs::remove_file(&file);
    }
    found
}

/// `h` if its namespace still holds a mount at `merged`, with a process of
/// that namespace as its pid: the one recorded, else (the session's
/// command ended, a process it left behind holds the namespace) any other.
/// From another session (a sibling user namespace) the session's
/// processes are out of reach (`/proc/PID/ns` and `mountinfo` answer
/// EACCES): there the recorded process still running counts as the
/// session holding the mount, and once it ended the record is stale even
/// where a process it left behind holds the namespace (the host sees
/// that one).
fn live_holder(h: Holder, merged: &Path) -> Option<Holder> {
    let in_ns = |pid: i32| crate::userns::mount_ns_of(pid).is_some_and(|ns| ns == h.mnt_ns);
    let recorded =
        super::process_alive(Some(h.pid), h.start).then(|| crate::userns::mount_ns_of(h.pid));
    let pid = match recorded {
        Some(None) => return Some(h),
        Some(Some(ns)) if ns == h.mnt_ns => h.pid,
        _ => std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .find(|p| in_ns(*p))?,
    };
    let want = std::fs::canonicalize(merged).unwrap_or_else(|_| merged.to_path_buf());
    mounts_of(&pid.to_string())
        .iter()
        .any(|(p, _)| *p == want)
        .then(|| Holder {
            pid,
            start: super::process_start(pid),
            ..h
        })
}

/// Forgets the record of a mount by this session (after `rless umount`):
/// only this session's, not another's.
pub fn forget_holder(dir: &Path, merged: &Path) {
    if holder(dir, merged).is_some_and(|h| h.is_here()) {
        let _ = std::fs::remove_file(dir.join(MARKER));
    }
}

/// Refuses (for `start`, `mount`, a writable `cp`) a container whose
/// layers another live `rless unshare` session holds mounted: a second
/// overlay of the same writable layer is undefined behaviour. One mounted
/// in this process's session is fine (it is used, not mounted again).
pub fn check_not_held_elsewhere(dir: &Path, merged: &Path, name: &str) -> Result<(), SessionError> {
    match holder(dir, merged) {
        Some(h) if !h.is_here() => Err(SessionError::HeldElsewhere {
            name: name.to_string(),
            pid: h.pid(),
        }),
        _ => Ok(()),
    }
}

/// A mountinfo path field with its `\NNN` octal escapes undone.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts a stopped container's `layers` at `target` (once: a mount point
/// already there is kept). Returns whether this call mounted it.
pub fn mount(layers: &Layers, target: &Path) -> Result<bool, SessionError> {
    if is_mounted(target) {
        return Ok(false);
    }
    let needs_fuse = layers.id_view.is_some() || layers.writeback;
    let kernel = match layers.driver {
        Driver::FuseOverlay => Err("the container uses fuse-overlay".to_string()),
        _ if needs_fuse => Err("the container needs fuse-overlay".to_string()),
        _ => {
            // mount_overlay enters the layers' directory (short options).
            let cwd = std::env::current_dir().ok();
            let r = crate::runtime::rootfs::mount_overlay(
                &layers.layers_dir,
                &layers.lower,
                &layers.upper,
                &layers.work,
                target,
            );
            if let Some(d) = cwd {
                let _ = std::env::set_current_dir(d);
            }
            r.map_err(|e| e.to_string())
        }
    };
    let Err(kernel) = kernel else {
        record_driver(target, false)?;
        return Ok(true);
    };
    if layers.driver == Driver::Overlay {
        return Err(SessionError::Mount {
            path: target.to_path_buf(),
            kernel,
            fuse: "the container's storage driver is overlay".into(),
        });
    }
    serve_fuse(layers, target).map_err(|fuse| SessionError::Mount {
        path: target.to_path_buf(),
        kernel,
        fuse,
    })?;
    record_driver(target, true)?;
    Ok(true)
}

/// What writes through the mount at `target` is the layer of that driver,
/// for `diff` and `commit` of a container that never ran (see
/// [`super::export::record_view_driver`]). A failure takes the mount away.
fn record_driver(target: &Path, fuse: bool) -> Result<(), SessionError> {
    super::export::record_view_driver(target, fuse).map_err(|e| {
        let _ = rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH);
        SessionError::Io {
            op: "record the storage driver of",
            path: target.to_path_buf(),
            source: io::Error::other(e.to_string()),
        }
    })
}

/// Mounts a fuse-overlay filesystem of `layers` at `target`, here, and
/// forks its server. The server leaves this mount namespace first (a copy
/// of its own, where it detaches the mount): a server inside the session's
/// namespace would keep that namespace, and so its own mount, alive after
/// the session's command ended. It serves until the last mount goes
/// ([`umount`], or the session's end).
fn serve_fuse(layers: &Layers, target: &Path) -> Result<(), String> {
    let map = |v: &Option<IdView>, uids: bool| {
        v.as_ref().map_or_else(Default::default, |v| {
            IdView::map(if uids { &v.uids } else { &v.gids })
        })
    };
    let config = fuse_overlay::Layers {
        lower: layers
            .lower
            .iter()
            .map(|l| layers.layers_dir.join(l))
            .collect(),
        upper: layers.upper.clone(),
        work: layers.work.clone(),
        options: fuse_overlay::Options {
            xattrs: true,
            uid_map: map(&layers.id_view, true),
            gid_map: map(&layers.id_view, false),
            ..Default::default()
        },
    };
    let conn = fuse_overlay::mount_connection(target).map_err(|e| e.to_string())?;
    let (rd, wr) = std::io::pipe().map_err(|e| e.to_string())?;
    let forked = crate::runtime::sys::fork();
    match forked {
        Err(e) => {
            drop(conn);
            let _ = rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH);
            Err(e.to_string())
        }
        Ok(Some(_server)) => {
            drop((wr, conn));
            let mut msg = String::new();
            let _ = (&rd).read_to_string(&mut msg);
            if msg.starts_with("ok") {
                return Ok(());
            }
            let _ = rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH);
            Err(msg
                .strip_prefix("err ")
                .unwrap_or("the server ended before it served")
                .to_string())
        }
        Ok(None) => {
            drop(rd);
            let _ = rustix::process::setsid();
            // Nothing of the caller's stays open in a server that may
            // outlive it by hours: not the `$(…)` pipe of its stdout, and
            // above all not the store's lock (held, `rmi`, `prune` and
            // `system reset` would wait for it for good, in the session
            // that would unmount it).
            fuse_overlay::stdio_to_dev_null();
            crate::runtime::close_fds_except(&[conn.as_raw_fd(), wr.as_raw_fd()]);
            let mut wr = wr;
            let left = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(io::Error::from)
                .and_then(|()| {
                    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH)
                        .map_err(io::Error::from)
                });
            let server = match left {
                Err(e) => Err(format!("leave the session's mount namespace: {e}")),
                Ok(()) => fuse_overlay::serve(conn, config).map_err(|e| e.to_string()),
            };
            let server = match server {
                Ok(s) => s,
                Err(e) => {
                    let _ = write!(wr, "err {e}");
                    std::process::exit(1);
                }
            };
            let _ = wr.write_all(b"ok");
            drop(wr);
            server.join();
            std::process::exit(0)
        }
    }
}

/// Unmounts `target` if it is a mount point here (lazily with `force`,
/// where a process still uses it); returns whether it was mounted.
pub fn umount(target: &Path, force: bool) -> Result<bool, SessionError> {
    if !is_mounted(target) {
        return Ok(false);
    }
    let flags = if force {
        rustix::mount::UnmountFlags::DETACH
    } else {
        rustix::mount::UnmountFlags::empty()
    };
    rustix::mount::unmount(target, flags)
        .map_err(|e| SessionError::Io {
            op: "unmount",
            path: target.to_path_buf(),
            source: e.into(),
        })
        .map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
    }
}
