//! The `-o FILE` of `save` and `export`.
//!
//! Theory of operation: a regular file (or a name that does not exist
//! yet) is written through a temporary file in its directory, renamed over
//! it once complete, so FILE is either whole or as it was before: a
//! failure, or SIGINT, SIGTERM or SIGHUP (`rless::interrupt`), removes only
//! the temporary file, never a FILE that existed. Any other target is
//! written in place, as docker writes to it, and is never removed nor
//! truncated, also at a signal:
//! - a FIFO, a character device (`/dev/null`), a socket: opened for
//!   writing as it is (renaming a file over it would need write access to
//!   its directory, and would replace the FIFO or device by a file);
//! - one of this process's own descriptors (`/dev/stdout`, `/dev/fd/N`,
//!   `/proc/self/fd/N`): that descriptor itself, so `-o /dev/stdout`
//!   writes where standard output goes, at its offset and with its flags
//!   (`>>` appends), as without `-o`.

use anyhow::{anyhow, bail, Context, Result};
use std::fs::{self, File};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};

/// An output being written.
pub struct OutFile {
    file: File,
    /// The temporary file and the target it is renamed to (None: in place).
    replace: Option<(PathBuf, PathBuf)>,
}

impl OutFile {
    /// Opens `path` for writing: a temporary file next to it, or the
    /// target itself when it is not a regular file (see the module's
    /// documentation). `what` names the temporary file (`save`).
    pub fn create(path: &Path, what: &str) -> Result<OutFile> {
        let target = resolve_links(path);
        let open_fd = own_descriptor(&target).filter(|_| fs::symlink_metadata(&target).is_ok());
        if let Some(fd) = open_fd {
            // SAFETY: the descriptor is open (/proc/self/fd lists it) and
            // this thread closes nothing before it is duplicated, here at
            // once; the borrow ends with this statement.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let file = borrowed
                .try_clone_to_owned()
                .map(File::from)
                .with_context(|| format!("cannot write to {}", path.display()))?;
            return Ok(OutFile {
                file,
                replace: None,
            });
        }
        match fs::metadata(&target) {
            Ok(m) if m.is_dir() => bail!("cannot write to {}: it is a directory", path.display()),
            Ok(m) if !m.is_file() => {
                let file = File::options()
                    .write(true)
                    .open(&target)
                    .with_context(|| format!("cannot write to {}", path.display()))?;
                return Ok(OutFile {
                    file,
                    replace: None,
                });
            }
            _ => {}
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Some(file_name) = path.file_name() else {
            bail!("cannot write to {}: not a file name", path.display());
        };
        let tmp = dir.join(format!(
            ".{}{}",
            file_name.to_string_lossy(),
            rless::image::store::tmp_name(what)
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| anyhow!("cannot create {}: {e}", path.display()))?;
        // Only the temporary file goes at a signal.
        rless::interrupt::remove_at_signal(&tmp);
        Ok(OutFile {
            file,
            replace: Some((tmp, path.to_path_buf())),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Completes the output: a temporary file is synced and renamed into
    /// place.
    pub fn commit(mut self) -> Result<()> {
        let Some((tmp, path)) = self.replace.take() else {
            return Ok(());
        };
        let r = self
            .file
            .sync_all()
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                fs::rename(&tmp, &path).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
            });
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        rless::interrupt::forget(&tmp);
        r
    }
}

impl Drop for OutFile {
    /// An output not committed: its temporary file goes.
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.replace.take() {
            let _ = fs::remove_file(&tmp);
            rless::interrupt::forget(&tmp);
        }
    }
}

impl std::io::Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl AsFd for OutFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// `path` with its symbolic links followed (up to 40), as far as they
/// lead; the last one that exists, or `path` itself.
fn resolve_links(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let Ok(m) = fs::symlink_metadata(&p) else {
            break;
        };
        if !m.file_type().is_symlink() {
            break;
        }
        let Ok(link) = fs::read_link(&p) else { break };
        // /proc/self/fd/N names the open file as a path (or `pipe:[…]`):
        // stop at it.
        if own_descriptor(&p).is_some() {
            break;
        }
        p = match p.parent() {
            Some(dir) => dir.join(link),
            None => link,
        };
    }
    p
}

/// The descriptor number `p` names when it is one of this process's
/// own: `/proc/self/fd/N`, `/proc/PID/fd/N` with PID this process,
/// `/dev/fd/N`.
fn own_descriptor(p: &Path) -> Option<i32> {
    let parts: Vec<String> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let me = std::process::id().to_string();
    let n = match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["proc", who, "fd", n] if who == "self" || who == me => n,
        ["dev", "fd", n] => n,
        _ => return None,
    };
    if !p.is_absolute() {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_descriptors_are_recognised() {
        let me = std::process::id();
        assert_eq!(own_descriptor(Path::new("/proc/self/fd/1")), Some(1));
        assert_eq!(
            own_descriptor(Path::new(&format!("/proc/{me}/fd/7"))),
            Some(7)
        );
        assert_eq!(own_descriptor(Path::new("/dev/fd/2")), Some(2));
        assert_eq!(own_descriptor(Path::new("/proc/1/fd/1")), None);
        assert_eq!(own_descriptor(Path::new("proc/self/fd/1")), None);
        assert_eq!(own_descriptor(Path::new("/dev/null")), None);
        assert_eq!(own_descriptor(Path::new("/tmp/fd/1")), None);
    }

    #[test]
    fn stdout_link_resolves_to_a_descriptor() {
        // /dev/stdout → /proc/self/fd/1 on Linux.
        let p = resolve_links(Path::new("/dev/stdout"));
        assert_eq!(own_descriptor(&p), Some(1), "{}", p.display());
    }
}
