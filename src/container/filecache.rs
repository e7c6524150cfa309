//! What this thread last read or wrote of a container's `config.json` and
//! `state.json`, so that reading them again costs one `statx`.
//!
//! Theory of operation: neither file is ever changed in place; every change
//! writes a new file and renames it over the old one
//! ([`super::write_json_atomically`]). So a file this thread parsed (or
//! wrote) still holds that content for as long as it lives, and it is the
//! file at the path exactly when the path's device and inode are its own.
//! The file is kept open: an inode number is given to another file only
//! once its last descriptor closes, so the comparison cannot be fooled by
//! a number used again. One entry per kind and thread (a command or a
//! monitor works on one container); a removal drops the entries under the
//! directory first ([`forget`]), so no descriptor keeps a deleted file
//! alive (on NFS that would leave a `.nfs…` file behind and stop the
//! directory's removal). The descriptors are close-on-exec; a process
//! that closes what it inherited (the container's init, a detached
//! monitor, a forwarder) lets go of them first ([`disown`]), so nothing
//! here closes or reads a number that names another file by then.

use super::{ContainerConfig, ContainerError, ContainerState};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread::LocalKey;

/// One file read or written, with its parsed content.
pub(super) struct Entry<T> {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Held open so that its inode number stays its own.
    _file: File,
    value: T,
}

type Slot<T> = LocalKey<RefCell<Option<Entry<T>>>>;

thread_local! {
    static CONFIG: RefCell<Option<Entry<ContainerConfig>>> = const { RefCell::new(None) };
    static STATE: RefCell<Option<Entry<ContainerState>>> = const { RefCell::new(None) };
}

/// The container's `config.json` in `dir`, if it reads.
pub fn config(dir: &Path) -> Option<ContainerConfig> {
    read(&CONFIG, &dir.join("config.json"))
}

/// The container's `state.json` in `dir`, if it reads.
pub fn state(dir: &Path) -> Option<ContainerState> {
    read(&STATE, &dir.join("state.json"))
}

/// Records `config`, just written to `path` through `file`.
pub(super) fn keep_config(path: &Path, file: File, config: &ContainerConfig) {
    keep(&CONFIG, path, file, config.clone());
}

/// Records `state`, just written to `path` through `file`.
pub(super) fn keep_state(path: &Path, file: File, state: ContainerState) {
    keep(&STATE, path, file, state);
}

/// Replaces `state.json` in `dir` atomically, and keeps what it wrote.
pub(super) fn write_state(dir: &Path, state: &ContainerState) -> Result<(), ContainerError> {
    let file = super::write_json_file(dir, "state.json", state, 0o666)?;
    keep(&STATE, &dir.join("state.json"), file, state.clone());
    Ok(())
}

/// Drops (and closes) what is kept of the files under `dir`, before it is
/// removed.
pub(super) fn forget(dir: &Path) {
    fn clear<T>(slot: &'static Slot<T>, dir: &Path) {
        slot.with_borrow_mut(|e| {
            if e.as_ref().is_some_and(|e| e.path.starts_with(dir)) {
                *e = None;
            }
        });
    }
    clear(&CONFIG, dir);
    clear(&STATE, dir);
}

/// Lets go of the kept files without closing them: for a process about to
/// close every descriptor it inherited ([`crate::runtime::close_fds_except`]).
pub fn disown() {
    fn leave<T>(slot: &'static Slot<T>) {
        if let Some(e) = slot.take() {
            let _ = std::os::fd::IntoRawFd::into_raw_fd(e._file);
        }
    }
    leave(&CONFIG);
    leave(&STATE);
}

fn read<T: Clone + DeserializeOwned>(slot: &'static Slot<T>, path: &Path) -> Option<T> {
    let kept = slot.with_borrow(|e| match e {
        Some(e) if e.path == path => fs::symlink_metadata(path)
            .ok()
            .filter(|m| (m.dev(), m.ino()) == (e.dev, e.ino))
            .map(|_| e.value.clone()),
        _ => None,
    });
    if kept.is_some() {
        return kept;
    }
    let mut file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    // Never changed in place: the size read is the content's, for good.
    let mut bytes = vec![0; usize::try_from(meta.len()).ok()?];
    file.read_exact(&mut bytes).ok()?;
    let value: T = serde_json::from_slice(&bytes).ok()?;
    slot.set(Some(Entry {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
        _file: file,
        value: value.clone(),
    }));
    Some(value)
}

fn keep<T>(slot: &'static Slot<T>, path: &Path, file: File, value: T) {
    let entry = file.metadata().ok().map(|m| Entry {
        path: path.to_path_buf(),
        dev: m.dev(),
        ino: m.ino(),
        _file: file,
        value,
    });
    slot.set(entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_of(status: &str) -> ContainerState {
        ContainerState {
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_file_replaced_by_another_writer_is_read_again() {
        let t = tempfile::tempdir().unwrap();
        write_state(t.path(), &state_of("running")).unwrap();
        assert_eq!(state(t.path()).unwrap().status, "running");
        // Another process's write: same size, new file.
        super::super::write_json_atomically(t.path(), "state.json", &state_of("exited_")).unwrap();
        assert_eq!(state(t.path()).unwrap().status, "exited_");
        // Read from the file's text, not from memory, while nothing changed.
        assert_eq!(state(t.path()).unwrap().status, "exited_");
        fs::remove_file(t.path().join("state.json")).unwrap();
        assert!(state(t.path()).is_none());
    }

    #[test]
    fn a_kept_file_is_not_read_again() {
        let t = tempfile::tempdir().unwrap();
        write_state(t.path(), &state_of("running")).unwrap();
        // Changed in place (which rless never does): the same file, so
        // what was kept answers, and the file is not read.
        fs::write(t.path().join("state.json"), b"{}").unwrap();
        assert_eq!(state(t.path()).unwrap().status, "running");
        forget(t.path());
        assert!(STATE.with_borrow(|e| e.is_none()));
        assert!(state(t.path()).is_none(), "read again: {{}} has no status");
    }
}
