//! Removal from the store: garbage collection of what no image refers
//! to, and the `.tmp-*` debris of killed processes.
//!
//! Theory of operation: whatever is removed is first renamed to a
//! `.tmp-*` name ([`Store::remove_dir_atomically`]), so a half-deleted
//! layer is never taken for a complete one. Debris is removed by the
//! exclusive holder of the store lock; under a shared lock only the
//! debris whose maker's pid (in its name, [`tmp_owner_runs`]) is gone.
//! Trees are deleted with [`remove_tree`], which first makes read-only
//! directories writable.

use super::{io_err, tmp_name, Index, Store, StoreError};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

impl Store {
    /// Deletes blobs and layers that no image in `index` refers to. Needs
    /// the exclusive lock. Returns the bytes of blobs freed, and errors met
    /// (collection goes on past them).
    pub fn collect_garbage(&self, index: &Index) -> (u64, Vec<StoreError>) {
        let mut keep_blobs = std::collections::HashSet::new();
        let mut keep_layers = std::collections::HashSet::new();
        for img in &index.images {
            keep_blobs.insert(img.id.hex().to_string());
            keep_blobs.insert(img.manifest.hex().to_string());
            let others = img.other_manifests.iter();
            for m in others.clone() {
                keep_blobs.insert(m.digest.hex().to_string());
            }
            for l in img.layers.iter().chain(others.flat_map(|m| &m.layers)) {
                keep_blobs.insert(l.blob.hex().to_string());
                keep_layers.insert(l.diff_id.hex().to_string());
            }
        }
        let mut freed = 0;
        let mut errors = Vec::new();
        let blobs = self.root.join("blobs/sha256");
        for name in list_dir(&blobs, &mut errors) {
            if !keep_blobs.contains(&name) {
                let p = blobs.join(&name);
                freed += p.metadata().map(|m| m.len()).unwrap_or(0);
                if let Err(e) = fs::remove_file(&p) {
                    errors.push(io_err("remove", &p)(e));
                }
            }
        }
        let layers = self.root.join("layers");
        for name in list_dir(&layers, &mut errors) {
            if !keep_layers.contains(&name) {
                if let Err(e) = self.remove_dir_atomically(&layers.join(&name)) {
                    errors.push(e);
                }
            }
        }
        let locks = self.root.join("locks");
        for name in list_dir(&locks, &mut errors) {
            if let Some(hex) = name.strip_prefix("layer-") {
                if !keep_layers.contains(hex) {
                    let _ = fs::remove_file(locks.join(&name));
                }
            }
        }
        (freed, errors)
    }

    /// Renames a directory to a temporary name, then deletes it.
    pub fn remove_dir_atomically(&self, dir: &Path) -> Result<(), StoreError> {
        let parent = dir.parent().unwrap_or(&self.root);
        let tmp = parent.join(tmp_name("del"));
        match fs::rename(dir, &tmp) {
            Ok(()) => remove_tree(&tmp),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("rename for removal", dir)(e)),
        }
    }

    /// Removes `.tmp-*` debris left by killed processes. Only called with the
    /// exclusive lock, when no other process can own such debris in the
    /// image directories. Containers are made and removed under the shared
    /// lock (or none), so there only the debris of a process that is gone
    /// (by the pid in its name) is removed. The exclusive holders (`rmi`,
    /// `prune`, `system reset`) run inside the user namespace, where a
    /// container's files owned by subordinate ids can be deleted.
    pub(super) fn remove_debris(&self) {
        // Containers first: their anonymous volumes become volume debris.
        self.remove_container_debris();
        for sub in ["blobs/sha256", "layers", "images", "volumes", "build-cache"] {
            self.remove_debris_in(sub, |_| true);
        }
        self.remove_container_locks();
        crate::runtime::owners::remove_debris(&self.root);
    }

    /// Removes the lock files (`locks/ctr-<id>`) of containers that are
    /// gone: `rm` leaves its container's behind (removing a lock file
    /// under its holder would let two processes hold "it"), one for every
    /// container a job script ever made and removed. Safe under the
    /// exclusive lock: a container's lock is taken only by a process that
    /// found the container under the shared lock, and one held on past
    /// that (`start`) is a container's that exists.
    fn remove_container_locks(&self) {
        let dir = self.root.join("locks");
        let Ok(rd) = fs::read_dir(&dir) else { return };
        let containers = self.root.join("containers");
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_prefix("ctr-") else {
                continue;
            };
            let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
            if is_id && !containers.join(id).exists() {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Removes the `.tmp-*` entries in `containers/` whose process is gone
    /// (safe under any lock mode). Files of subordinate ids in them can be
    /// deleted only inside the user namespace: `container prune` calls
    /// this there too. A `--rm` container's removal killed after it renamed
    /// the directory away may not have come to its anonymous volumes: they
    /// go first (see [`crate::container::remove_debris_volumes`]).
    pub fn remove_container_debris(&self) {
        let dir = self.root.join("containers");
        let Ok(rd) = fs::read_dir(&dir) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") && !tmp_owner_runs(&name) {
                crate::container::remove_debris_volumes(&self.root, &e.path());
                if let Err(err) = remove_tree(&e.path()) {
                    tracing::warn!("{err}");
                }
            }
        }
    }

    /// Removes the `.tmp-*` blobs and layer trees of processes that are
    /// gone (safe under any lock mode: the name carries its maker's pid).
    /// A pull calls it first: a killed pull (a batch job at its time limit)
    /// left a partial blob, perhaps gigabytes of it, until the next
    /// exclusive holder. Quiet: what cannot be removed here (files of
    /// subordinate ids outside the user namespace) waits for that holder.
    pub fn remove_dead_debris(&self) {
        for sub in ["blobs/sha256", "layers"] {
            let dir = self.root.join(sub);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") && !tmp_owner_runs(&name) {
                    if let Err(err) = remove_tree(&e.path()) {
                        tracing::debug!("{err}");
                    }
                }
            }
        }
    }

    fn remove_debris_in(&self, sub: &str, unowned: impl Fn(&str) -> bool) {
        let dir = self.root.join(sub);
        let Ok(rd) = fs::read_dir(&dir) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") && unowned(&name) {
                if let Err(err) = remove_tree(&e.path()) {
                    tracing::warn!("{err}");
                }
            }
        }
    }
}

/// Whether the process whose pid a [`tmp_name`] carries still runs (it may
/// be writing or deleting that entry right now). A name without a pid
/// belongs to no one.
pub fn tmp_owner_runs(name: &str) -> bool {
    name.strip_prefix(".tmp-")
        .and_then(|r| r.split('-').next())
        .and_then(|p| p.parse::<i32>().ok())
        .is_some_and(|pid| {
            pid as u32 == std::process::id() || crate::container::process_start(pid).is_some()
        })
}

/// The complete (non-temporary) entries of a directory.
fn list_dir(dir: &Path, errors: &mut Vec<StoreError>) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(e) => {
            errors.push(io_err("list", dir)(e));
            Vec::new()
        }
    }
}

/// Deletes a tree, first making directories writable: image layers may hold
/// read-only directories, which block deletion for a user without
/// CAP_DAC_OVERRIDE (single-id mode).
pub fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("inspect", path)(e)),
        Ok(m) if !m.is_dir() => return fs::remove_file(path).map_err(io_err("remove", path)),
        Ok(_) => {}
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    make_writable(path);
    fs::remove_dir_all(path).map_err(io_err("remove", path))
}

fn make_writable(dir: &Path) {
    if let Ok(m) = fs::symlink_metadata(dir) {
        if m.is_dir() {
            let mode = m.permissions().mode();
            if mode & 0o700 != 0o700 {
                let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700));
            }
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        make_writable(&e.path());
                    }
                }
            }
        }
    }
}
