//! Stages 3, 5 and 6: build the root filesystem, carry out the mount plan,
//! and pivot into it. Runs in the container's init, inside its new mount
//! namespace, so nothing here is ever visible on the host and everything
//! disappears with the namespace.
//!
//! Mount targets come from the image, which may be hostile: each target is
//! resolved inside the new root, following the image's symlinks as if the
//! root were `/` ([`resolve_in_root`]), so `/data -> /etc` cannot send a
//! mount outside it. Nothing else runs in the container yet, so the tree
//! cannot change under the resolution. Volumes go through the same
//! resolution; an empty one is filled from the image first
//! ([`super::copyup`]).

use super::plan::{MountOp, DEV_NODES};
use rustix::mount::{self, MountFlags, MountPropagationFlags, UnmountFlags};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("cannot {op} {path}: {source}")]
    Op {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the kernel refused to mount overlayfs in a user namespace ({0}); this needs Linux 5.11 or later; use --storage-driver fuse-overlay")]
    Overlay(io::Error),
    #[error("the filesystem of {0} cannot hold user extended attributes, which kernel overlayfs needs for its upper layer (an NFS or ramfs store, for one); use --storage-driver fuse-overlay")]
    NoUserXattrs(PathBuf),
    #[error("cannot mount the fuse-overlay filesystem: {0}")]
    NoFuse(String),
    #[error("too many layers for one overlay mount ({0} bytes of options)")]
    TooManyLayers(usize),
    #[error(transparent)]
    Copy(#[from] super::copyup::CopyError),
    #[error("{0:?} is not an absolute path")]
    Relative(PathBuf),
}

fn op_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Op {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn rx(e: rustix::io::Errno) -> io::Error {
    e.into()
}

/// How the root filesystem is made.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum RootFs {
    /// Image layers stacked by a union filesystem.
    Layers(super::storage::Layers),
    /// An exploded directory used as it is (`--rootfs`).
    Dir(PathBuf),
}

/// Makes the mount namespace private, so nothing propagates to the host.
pub fn make_private() -> Result<(), RootfsError> {
    mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|e| op_err("make private", Path::new("/"))(rx(e)))
}

/// Mounts kernel overlayfs at `target`.
pub fn mount_overlay(
    layers_dir: &Path,
    lower: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), RootfsError> {
    // Without user xattrs overlayfs still mounts (userxattr), but cannot
    // mark an opaque directory: removing or renaming an image directory
    // then fails with EIO half way. fuse-overlay copes (marker files).
    if !user_xattrs_supported(work) {
        return Err(RootfsError::NoUserXattrs(work.to_path_buf()));
    }
    // Relative lower paths keep the option string short; the kernel
    // resolves them against the working directory at mount time.
    std::env::set_current_dir(layers_dir).map_err(op_err("enter", layers_dir))?;
    let data = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        return Err(RootfsError::TooManyLayers(data.len()));
    }
    let data = std::ffi::CString::new(data).expect("no NUL in paths");
    mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
    .map_err(|e| RootfsError::Overlay(rx(e)))
}

/// Whether the filesystem of the directory `dir` takes `user.*` extended
/// attributes (set on `dir` and removed again). NFS, ramfs and some Lustre
/// setups do not.
pub fn user_xattrs_supported(dir: &Path) -> bool {
    const PROBE: &str = "user.rless.probe";
    match rustix::fs::setxattr(dir, PROBE, b"1", rustix::fs::XattrFlags::empty()) {
        Ok(()) => {
            let _ = rustix::fs::removexattr(dir, PROBE);
            true
        }
        // Only "not supported" says no; anything else is for the mount to
        // report.
        Err(e) => e != rustix::io::Errno::NOTSUP,
    }
}

/// Mounts the root filesystem at `target`; returns the storage driver used.
pub fn mount_root(
    root: &RootFs,
    target: &Path,
    monitor: Option<&std::os::fd::OwnedFd>,
) -> Result<Option<super::storage::Driver>, RootfsError> {
    match root {
        RootFs::Layers(layers) => super::storage::mount_layers(layers, target, monitor).map(Some),
        RootFs::Dir(dir) => {
            mount::mount_bind_recursive(dir, target).map_err(|e| op_err("bind", dir)(rx(e)))?;
            Ok(None)
        }
    }
}

/// Resolves the absolute container path `path` to a host path inside `root`,
/// following symlinks as if `root` were `/`. The final component is
/// followed too (a mount lands on what a symlink points at, as in docker).
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, RootfsError> {
    if !path.is_absolute() {
        return Err(RootfsError::Relative(path.to_path_buf()));
    }
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = std::iter::once(root.as_os_str().to_os_string())
            .chain(resolved.iter().cloned())
            .chain([name.clone()])
            .collect();
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(RootfsError::Op {
                        op: "resolve",
                        path: path.into(),
                        source: io::Error::from_raw_os_error(nix::libc::ELOOP),
                    });
                }
                let target = fs::read_link(&candidate).map_err(op_err("read link", &candidate))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(name),
        }
    }
    Ok(std::iter::once(root.as_os_str().to_os_string())
        .chain(resolved)
        .collect())
}

/// Creates `target` (a directory, or an empty file when `file`) and its
/// parents if missing.
fn ensure_target(target: &Path, file: bool) -> Result<(), RootfsError> {
    if fs::symlink_metadata(target).is_ok() {
        return Ok(());
    }
    if file {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(op_err("create", parent))?;
        }
        fs::File::create(target)
            .map(drop)
            .map_err(op_err("create", target))
    } else {
        fs::create_dir_all(target).map_err(op_err("create", target))
    }
}

/// Remounts a mount read-only, keeping the flags the kernel locked on it.
fn remount_readonly(target: &Path) -> Result<(), RootfsError> {
    let st = rustix::fs::statvfs(target).map_err(|e| op_err("inspect", target)(rx(e)))?;
    let locked = [
        (rustix::fs::StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (rustix::fs::StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (rustix::fs::StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (rustix::fs::StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (
            rustix::fs::StatVfsMountFlags::NODIRATIME,
            MountFlags::NODIRATIME,
        ),
        (
            rustix::fs::StatVfsMountFlags::RELATIME,
            MountFlags::RELATIME,
        ),
    ]
    .into_iter()
    .filter(|(s, _)| st.f_flag.contains(*s))
    .fold(MountFlags::RDONLY | MountFlags::BIND, |acc, (_, m)| acc | m);
    mount::mount_remount(target, locked, "").map_err(|e| op_err("remount read-only", target)(rx(e)))
}

fn mount_fs(fstype: &str, target: &Path, flags: MountFlags, data: &str) -> Result<(), RootfsError> {
    ensure_target(target, false)?;
    let data = std::ffi::CString::new(data).expect("no NUL");
    mount::mount(fstype, target, fstype, flags, data.as_c_str())
        .map_err(|e| op_err("mount", target)(rx(e)))
}

fn bind(source: &Path, target: &Path, readonly: bool) -> Result<(), RootfsError> {
    let is_file = !fs::metadata(source)
        .map_err(op_err("find", source))?
        .is_dir();
    ensure_target(target, is_file)?;
    mount::mount_bind_recursive(source, target).map_err(|e| op_err("bind", source)(rx(e)))?;
    if readonly {
        remount_readonly(target)?;
    }
    Ok(())
}

/// Carries out one plan step with the new root at `root`.
pub fn apply(root: &Path, op: &MountOp) -> Result<(), RootfsError> {
    let hard = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    match op {
        MountOp::Proc => mount_fs(
            "proc",
            &resolve_in_root(root, Path::new("/proc"))?,
            hard,
            "",
        ),
        MountOp::Sys => {
            let target = resolve_in_root(root, Path::new("/sys"))?;
            match mount_fs("sysfs", &target, hard | MountFlags::RDONLY, "") {
                Ok(()) => Ok(()),
                // Without a network namespace of our own the kernel refuses
                // sysfs; a read-only view of the host's does instead.
                Err(_) => bind(Path::new("/sys"), &target, true),
            }
        }
        MountOp::Dev => mount_dev(&resolve_in_root(root, Path::new("/dev"))?),
        MountOp::Tmpfs {
            target,
            options,
            readonly,
        } => {
            let t = resolve_in_root(root, target)?;
            let noexec = super::plan::TMPFS_NOEXEC;
            let mut flags = MountFlags::NOSUID | MountFlags::NODEV;
            if *readonly {
                flags |= MountFlags::RDONLY;
            }
            if options.split(',').any(|o| o == noexec) {
                flags |= MountFlags::NOEXEC;
            }
            let data: Vec<&str> = options.split(',').filter(|o| *o != noexec).collect();
            mount_fs("tmpfs", &t, flags, &data.join(","))
        }
        MountOp::Bind {
            source,
            target,
            readonly,
        } => bind(source, &resolve_in_root(root, target)?, *readonly),
        MountOp::Volume {
            source,
            target,
            readonly,
            copy,
            ..
        } => {
            let t = resolve_in_root(root, target)?;
            if *copy {
                super::copyup::copy_up(&t, source)?;
            }
            bind(source, &t, *readonly)
        }
        MountOp::Secret {
            source,
            target,
            uid,
            gid,
            mode,
        } => {
            // As root of the container's user namespace: the ids are its own.
            std::os::unix::fs::chown(source, Some(*uid), Some(*gid))
                .map_err(op_err("chown", source))?;
            fs::set_permissions(source, fs::Permissions::from_mode(*mode))
                .map_err(op_err("chmod", source))?;
            bind(source, &resolve_in_root(root, target)?, true)
        }
        MountOp::RootReadOnly => remount_readonly(root),
        MountOp::Mask(paths) => {
            for p in paths {
                let t = resolve_in_root(root, p)?;
                match fs::symlink_metadata(&t) {
                    Ok(m) if m.is_dir() => {
                        mount_fs("tmpfs", &t, MountFlags::RDONLY | hard, "size=0,mode=0")?
                    }
                    Ok(_) => {
                        mount::mount_bind("/dev/null", &t).map_err(|e| op_err("mask", p)(rx(e)))?;
                    }
                    Err(_) => {}
                }
            }
            Ok(())
        }
        MountOp::ReadOnlyPaths(paths) => {
            for p in paths {
                let t = resolve_in_root(root, p)?;
                if fs::symlink_metadata(&t).is_ok() {
                    mount::mount_bind_recursive(&t, &t).map_err(|e| op_err("bind", p)(rx(e)))?;
                    remount_readonly(&t)?;
                }
            }
            Ok(())
        }
    }
}

/// The host's /proc bound in, instead of [`MountOp::Proc`], in the host's
/// pid namespace (`--pid host`), where the kernel refuses a new procfs to
/// a user namespace.
pub fn bind_host_proc(root: &Path) -> Result<(), RootfsError> {
    bind(
        Path::new("/proc"),
        &resolve_in_root(root, Path::new("/proc"))?,
        false,
    )
}

fn mount_dev(dev: &Path) -> Result<(), RootfsError> {
    mount_fs(
        "tmpfs",
        dev,
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        "mode=755,size=65536k",
    )?;
    for name in DEV_NODES {
        let host = Path::new("/dev").join(name);
        if host.exists() {
            bind(&host, &dev.join(name), false)?;
        }
    }
    let pts = dev.join("pts");
    mount_fs(
        "devpts",
        &pts,
        MountFlags::NOSUID | MountFlags::NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    )?;
    mount_fs(
        "tmpfs",
        &dev.join("shm"),
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        "mode=1777,size=65536k",
    )?;
    // mqueue needs an IPC namespace of our own; without one, go on without it.
    if let Err(e) = mount_fs(
        "mqueue",
        &dev.join("mqueue"),
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        "",
    ) {
        tracing::debug!("{e}");
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        let p = dev.join(link);
        symlink(target, &p).map_err(op_err("create", &p))?;
    }
    fs::set_permissions(dev, fs::Permissions::from_mode(0o755)).map_err(op_err("chmod", dev))
}

/// Makes `new_root` the root and detaches the old one.
pub fn pivot(new_root: &Path) -> Result<(), RootfsError> {
    std::env::set_current_dir(new_root).map_err(op_err("enter", new_root))?;
    rustix::process::pivot_root(".", ".").map_err(|e| op_err("pivot_root to", new_root)(rx(e)))?;
    mount::unmount(".", UnmountFlags::DETACH)
        .map_err(|e| op_err("detach the old root from", new_root)(rx(e)))?;
    std::env::set_current_dir("/").map_err(op_err("enter", Path::new("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc", root.join("data")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        assert_eq!(
            resolve_in_root(root, Path::new("/data/x")).unwrap(),
            root.join("etc/x")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/up/etc")).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/../../x")).unwrap(),
            root.join("x")
        );
        assert!(resolve_in_root(root, Path::new("/loop1/x")).is_err());
        assert!(resolve_in_root(root, Path::new("rel")).is_err());
    }
}
