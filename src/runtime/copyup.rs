//! Copy-on-first-mount: an empty volume mounted over a directory that holds
//! files in the image is first filled with those files, as docker does.
//!
//! Theory of operation: the init runs this before `pivot_root`, as root of
//! the container's user namespace, right before the volume is bound over
//! the target. At that moment the image's content is visible at
//! `merged/TARGET` (the target was already resolved inside the root) and
//! nothing of the container runs yet, so the source tree cannot change
//! under the walk. The copy keeps owners (as container ids: the process's
//! own mapping turns them into the right host ids, subordinate ones in
//! subuid mode), modes, symlinks, hard links within the tree, fifos and
//! times; device nodes and sockets are skipped (they cannot be created in
//! a user namespace), and so are extended attributes. The volume
//! directory itself takes the owner and mode of the image's directory.
//!
//! The walk never follows a symlink: entries are read with lstat and links
//! are recreated as links. New entries are created exclusively (`mkdir`,
//! `O_CREAT|O_EXCL`, `symlink`), which fail rather than follow anything
//! another container sharing the volume might have planted.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {path} while filling a volume from the image: {source}")]
pub struct CopyError {
    op: &'static str,
    path: PathBuf,
    source: io::Error,
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CopyError + 'a {
    move |source| CopyError {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Fills `volume` from `from` when `from` is a directory and `volume` is
/// empty. Returns whether it copied.
pub fn copy_up(from: &Path, volume: &Path) -> Result<bool, CopyError> {
    let Ok(meta) = fs::symlink_metadata(from) else {
        return Ok(false);
    };
    if !meta.is_dir() {
        return Ok(false);
    }
    let mut entries = fs::read_dir(volume).map_err(err("list", volume))?;
    if entries.next().is_some() {
        return Ok(false);
    }
    let mut links = HashMap::new();
    copy_children(from, volume, &mut links)?;
    set_attributes(volume, &meta)?;
    Ok(true)
}

/// Copies what is in directory `from` into the existing directory `to`.
fn copy_children(
    from: &Path,
    to: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), CopyError> {
    for entry in fs::read_dir(from).map_err(err("list", from))? {
        let entry = entry.map_err(err("list", from))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).map_err(err("inspect", &src))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst).map_err(err("create", &dst))?;
            copy_children(&src, &dst, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(err("read link", &src))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(err("create", &dst))?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    fs::hard_link(first, &dst).map_err(err("link", &dst))?;
                    continue;
                }
                links.insert(key, dst.clone());
            }
            copy_file(&src, &dst)?;
        } else if std::os::unix::fs::FileTypeExt::is_fifo(&ft) {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &dst,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777),
                0,
            )
            .map_err(|e| err("create", &dst)(e.into()))?;
        } else {
            tracing::debug!(
                "volume copy skips {}: not a file, directory or link",
                src.display()
            );
            continue;
        }
        set_attributes(&dst, &meta)?;
    }
    Ok(())
}

fn copy_file(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let mut input = fs::File::open(src).map_err(err("open", src))?;
    let mut output = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dst)
        .map_err(err("create", dst))?;
    io::copy(&mut input, &mut output).map_err(err("copy", src))?;
    Ok(())
}

/// Owner, then mode (a chown clears set-id bits), then times; never
/// following a symlink.
fn set_attributes(path: &Path, meta: &fs::Metadata) -> Result<(), CopyError> {
    match std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid())) {
        Ok(()) => {}
        // Single-id mode maps one id: files then stay the caller's.
        Err(e) if matches!(e.raw_os_error(), Some(nix::libc::EINVAL | nix::libc::EPERM)) => {}
        Err(e) => return Err(err("change the owner of", path)(e)),
    }
    if !meta.file_type().is_symlink() {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(err("change the mode of", path))?;
    }
    let ts = |sec: i64, nsec: i64| rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| err("set the times of", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_once_into_an_empty_volume() {
        let t = tempfile::tempdir().unwrap();
        let from = t.path().join("image/data");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/f"), "x").unwrap();
        fs::set_permissions(from.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("link")).unwrap();
        fs::hard_link(from.join("sub/f"), from.join("hard")).unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o750)).unwrap();
        let vol = t.path().join("vol");
        fs::create_dir(&vol).unwrap();
        assert!(copy_up(&from, &vol).unwrap());
        assert_eq!(fs::read_to_string(vol.join("sub/f")).unwrap(), "x");
        let m = fs::metadata(vol.join("sub/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.nlink(), 2);
        assert_eq!(
            fs::read_link(vol.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(fs::metadata(&vol).unwrap().mode() & 0o7777, 0o750);
        // Not empty any more: no second copy.
        fs::remove_file(vol.join("hard")).unwrap();
        assert!(!copy_up(&from, &vol).unwrap());
        assert!(!vol.join("hard").exists());
        // Nothing to copy from.
        let empty = t.path().join("vol2");
        fs::create_dir(&empty).unwrap();
        assert!(!copy_up(&t.path().join("missing"), &empty).unwrap());
    }
}
