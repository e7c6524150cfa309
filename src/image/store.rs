//! The content-addressed image store.
//!
//! Theory of operation (the layout is also in `docs/design.md`):
//!
//! ```text
//! ROOT/store.lock                 shared by readers and pulls, exclusive for removal
//! ROOT/blobs/sha256/<hex>         manifests, configs, compressed layers; verified before the rename
//! ROOT/layers/<diffid hex>/diff/  one extracted layer, shared by every image that has it
//! ROOT/layers/<hex>/layer.json    what extraction found (whiteout form, sizes)
//! ROOT/layers/.empty/             the lower layer of an image without layers
//! ROOT/images/index.json          every image, its names and layers; replaced atomically
//! ROOT/locks/                     per-layer extraction locks and the index lock
//! ROOT/build-cache/<key>          `rless build`'s cache entries (commands/build/cache.rs)
//! ```
//!
//! Invariants:
//! - Everything is written under a `.tmp-*` name in its final directory and
//!   renamed into place only once complete and verified, so a process killed
//!   at any moment leaves only `.tmp-*` debris, which the next exclusive
//!   holder of the store lock removes. A name without that prefix is complete.
//! - Pulls hold the store lock shared; removal (`rmi`, `prune`, `reset`)
//!   holds it exclusive, so nothing is deleted under a running pull.
//! - Two pulls of the same layer serialise on that layer's lock; the second
//!   finds the layer present and skips it.
//! - Removal renames a directory to a `.tmp-*` name before deleting it, so a
//!   half-deleted layer is never taken for a complete one.

use super::digest::Digest;
use fuse_overlay::layout::WhiteoutForm;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod gc;
pub use gc::{remove_tree, tmp_owner_runs};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("image index {path} is damaged: {source}")]
    BadIndex {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("stored blob {0} is damaged: {1}")]
    BadBlob(Digest, String),
    /// The caller asked to stop while waiting for the store lock.
    #[error("stopped while waiting for the store lock {0}")]
    Stopped(PathBuf),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// How the store lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// One layer of an image, as recorded in the index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// The compressed blob, as the manifest names it.
    pub blob: Digest,
    pub blob_size: u64,
    pub media_type: String,
}

/// One image in the index. Its id is the digest of its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    /// Full names, `registry/repo:tag`.
    pub names: Vec<String>,
    /// Repository digests, `registry/repo@sha256:…`.
    #[serde(default)]
    pub digests: Vec<String>,
    pub layers: Vec<LayerRecord>,
    /// Seconds since the epoch, from the config's `created`, else the pull time.
    pub created: i64,
    /// Uncompressed size of the layers.
    pub size: u64,
    pub architecture: String,
    pub os: String,
    /// Other manifests of this image (the same config pushed another way:
    /// other compression, docker or OCI media types), kept so that a name
    /// or repo digest pulled with one pushes and saves as it was pulled.
    /// `manifest` and `layers` above are the latest pull's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_manifests: Vec<ManifestRecord>,
    /// The `repo@sha256:…` references the image was pulled by. Such an
    /// image has no name, but it is not dangling (as in podman) until that
    /// reference is removed: `RepoDigests` alone cannot tell a pull by
    /// digest from a tag that moved to another image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pulled_by_digest: Vec<String>,
    /// Every name the image has had, the latest given first (podman's
    /// `NamesHistory`, `images --history`); kept up by
    /// [`Store::update_index`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names_history: Vec<String>,
}

/// A manifest of an image other than its main one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    /// The layers as this manifest names their blobs.
    pub layers: Vec<LayerRecord>,
    /// The image's names that were pulled with this manifest.
    pub names: Vec<String>,
}

impl ImageRecord {
    /// Neither named nor pulled by digest: what `image prune` removes.
    pub fn dangling(&self) -> bool {
        self.names.is_empty() && self.pulled_by_digest.is_empty()
    }

    /// Every manifest digest of the image, the main one first.
    pub fn manifests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.manifest).chain(self.other_manifests.iter().map(|m| &m.digest))
    }

    /// The image as `reference` (a full name, or `repo@sha256:…`) was
    /// pulled: with the manifest that name or digest came with, if it is
    /// another than the main one.
    pub fn as_pulled(&self, reference: &str) -> ImageRecord {
        let digest = reference.rsplit_once('@').map(|(_, d)| d);
        let other = self.other_manifests.iter().find(|m| match digest {
            Some(d) => m.digest.as_str() == d,
            None => m.names.iter().any(|n| n == reference),
        });
        let mut view = self.clone();
        if let Some(m) = other {
            view.manifest = m.digest.clone();
            view.manifest_media_type = m.media_type.clone();
            view.layers = m.layers.clone();
        }
        view
    }

    /// Records another manifest for this image (a pull of the same config
    /// with `record`'s manifest): it becomes the main one, and the one it
    /// replaces is kept for the names it had that `record` does not take.
    pub fn add_manifest(&mut self, record: &ImageRecord) {
        for m in &mut self.other_manifests {
            m.names.retain(|n| !record.names.contains(n));
        }
        if record.manifest == self.manifest {
            return;
        }
        let claimed: Vec<&String> = self.other_manifests.iter().flat_map(|m| &m.names).collect();
        let names = self
            .names
            .iter()
            .filter(|n| !record.names.contains(n) && !claimed.contains(n))
            .cloned()
            .collect();
        let old = ManifestRecord {
            digest: self.manifest.clone(),
            media_type: self.manifest_media_type.clone(),
            layers: self.layers.clone(),
            names,
        };
        self.other_manifests.retain(|m| m.digest != record.manifest);
        self.other_manifests.push(old);
        self.manifest = record.manifest.clone();
        self.manifest_media_type = record.manifest_media_type.clone();
        self.layers = record.layers.clone();
        self.tidy();
    }

    /// Drops other manifests nothing refers to any more: no name of the
    /// image was pulled with them, and no repo digest names them.
    /// Puts the names it has now but did not have (`had`) at the front of
    /// its name history, the last of them first; an image recorded before
    /// there was a history starts it with all its names.
    pub fn note_names(&mut self, had: &[String]) {
        let fresh = self.names_history.is_empty();
        for n in &self.names {
            if fresh || !had.contains(n) || !self.names_history.contains(n) {
                self.names_history.retain(|h| h != n);
                self.names_history.insert(0, n.clone());
            }
        }
    }

    pub fn tidy(&mut self) {
        let (names, digests) = (&self.names, &self.digests);
        self.other_manifests.retain_mut(|m| {
            m.names.retain(|n| names.contains(n));
            let suffix = format!("@{}", m.digest);
            !m.names.is_empty() || digests.iter().any(|d| d.ends_with(&suffix))
        });
    }
}

/// The whole image index (`images/index.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Index {
    pub images: Vec<ImageRecord>,
}

/// What extraction recorded about a layer (`layers/<hex>/layer.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub diff_id: Digest,
    pub whiteout_form: String,
    pub size: u64,
    pub entries: u64,
}

impl LayerMeta {
    pub fn form(&self) -> WhiteoutForm {
        WhiteoutForm::parse(&self.whiteout_form).unwrap_or(WhiteoutForm::Marker)
    }
}

/// An open store, holding the store lock for as long as it lives.
pub struct Store {
    root: PathBuf,
    _lock: File,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique temporary name (`.tmp-<pid>-<seq>-<tag>`) for a directory entry.
pub fn tmp_name(tag: &str) -> String {
    format!(
        ".tmp-{}-{}-{tag}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

impl Store {
    /// Whether the store at `root` has an image index (a look that
    /// neither creates nor locks anything: a fresh store holds no image).
    pub fn has_index(root: &Path) -> bool {
        root.join("images/index.json").exists()
    }

    /// Opens (creating if needed) the store at `root` and takes its lock.
    pub fn open(root: &Path, mode: LockMode) -> Result<Store, StoreError> {
        Store::open_or_wait(root, mode, || {})
    }

    /// [`Store::open`], calling `waiting` once before it blocks when
    /// another process holds the lock in a conflicting mode (a pull, while
    /// `rmi` wants it exclusive), so the caller can say why nothing happens.
    pub fn open_or_wait(
        root: &Path,
        mode: LockMode,
        waiting: impl FnOnce(),
    ) -> Result<Store, StoreError> {
        Store::open_or_wait_unless(root, mode, waiting, None)
    }

    /// [`Store::open_or_wait`] that gives up with [`StoreError::Stopped`]
    /// once `stop` says so while it waits (a build asked to stop): the
    /// lock is then tried every 50 ms, as a blocking flock would be
    /// restarted after a caller's `SA_RESTART` signal handler.
    pub fn open_or_wait_unless(
        root: &Path,
        mode: LockMode,
        waiting: impl FnOnce(),
        stop: Option<&dyn Fn() -> bool>,
    ) -> Result<Store, StoreError> {
        // One stat of the root serves both the check and `drop_setgid`
        // (a symlink is followed for the check only, as before).
        let found = fs::symlink_metadata(root).ok();
        let exists = match &found {
            Some(m) if m.file_type().is_symlink() => root.exists(),
            Some(_) => true,
            None => false,
        };
        if !exists {
            // Private to the user, as podman's storage: container specs
            // hold environment variables, and layers may hold secrets.
            // The directories made on the way are private too (as
            // podman's), whatever the umask.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .map_err(io_err("create", root))?;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700))
                .map_err(io_err("chmod", root))?;
        }
        // Made just now: 0700, no set-group-id bit.
        if let Some(m) = found {
            drop_setgid(root, &m);
        }
        for sub in ["blobs/sha256", "layers", "images", "locks"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        let lock_path = root.join("store.lock");
        let lock = open_lock_file(&lock_path)?;
        take_lock(&lock, mode, &lock_path, waiting, stop)?;
        let store = Store {
            root: root.to_path_buf(),
            _lock: lock,
        };
        if mode == LockMode::Exclusive {
            store.remove_debris();
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).exists()
    }

    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(d);
        fs::read(&p).map_err(io_err("read", &p))
    }

    /// Stores `data` after checking it hashes to `expected`, if given.
    pub fn put_blob(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest, StoreError> {
        let d = Digest::of(data);
        if let Some(e) = expected {
            if *e != d {
                return Err(StoreError::BadBlob(
                    e.clone(),
                    format!("content hashes to {d}"),
                ));
            }
        }
        if self.has_blob(&d) {
            return Ok(d);
        }
        let tmp = self.tmp_blob_path();
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(data).map_err(io_err("write", &tmp))?;
        drop(f);
        self.commit_blob(&tmp, &d)?;
        Ok(d)
    }

    /// A fresh temporary path in the blob directory.
    pub fn tmp_blob_path(&self) -> PathBuf {
        self.root.join("blobs/sha256").join(tmp_name("blob"))
    }

    /// Renames a verified temporary blob into place.
    pub fn commit_blob(&self, tmp: &Path, d: &Digest) -> Result<(), StoreError> {
        let dst = self.blob_path(d);
        fs::rename(tmp, &dst).map_err(io_err("rename into place", &dst))
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).join("layer.json").exists()
    }

    pub fn layer_meta(&self, diff_id: &Digest) -> Result<LayerMeta, StoreError> {
        let p = self.layer_dir(diff_id).join("layer.json");
        let b = fs::read(&p).map_err(io_err("read", &p))?;
        serde_json::from_slice(&b).map_err(|e| StoreError::BadBlob(diff_id.clone(), e.to_string()))
    }

    /// An empty directory in `layers/` (made on first use), the one lower
    /// layer of an image that has none (`rootfs.diff_ids: []`): overlayfs
    /// and fuse-overlay both need at least one. Its name, relative to
    /// `layers/`, starts with a dot, so garbage collection passes it by.
    pub fn empty_layer(&self) -> Result<String, StoreError> {
        let name = ".empty";
        let p = self.root.join("layers").join(name);
        match fs::create_dir(&p) {
            Ok(()) => Ok(name.into()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(name.into()),
            Err(e) => Err(io_err("create", &p)(e)),
        }
    }

    /// Makes a temporary layer directory with an empty `diff/` in it.
    pub fn new_tmp_layer(&self) -> Result<PathBuf, StoreError> {
        let tmp = self.root.join("layers").join(tmp_name("layer"));
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).map_err(io_err("create", &diff))?;
        Ok(tmp)
    }

    /// Writes the metadata and renames a finished layer into place.
    pub fn commit_layer(&self, tmp: &Path, meta: &LayerMeta) -> Result<(), StoreError> {
        let p = tmp.join("layer.json");
        fs::write(&p, serde_json::to_vec(meta).expect("json")).map_err(io_err("write", &p))?;
        let dst = self.layer_dir(&meta.diff_id);
        match fs::rename(tmp, &dst) {
            Ok(()) => Ok(()),
            // Another process finished the same layer first: keep theirs.
            Err(e) if dst.join("layer.json").exists() => {
                tracing::debug!("layer {} appeared meanwhile ({e})", meta.diff_id);
                remove_tree(tmp)
            }
            Err(e) => Err(io_err("rename into place", &dst)(e)),
        }
    }

    /// Takes the extraction lock of one layer (released on drop).
    pub fn lock_layer(&self, diff_id: &Digest) -> Result<File, StoreError> {
        self.lock_layer_or_wait(diff_id, || {})
    }

    /// [`Store::lock_layer`], calling `waiting` once before it blocks
    /// because another process is fetching the same layer.
    pub fn lock_layer_or_wait(
        &self,
        diff_id: &Digest,
        waiting: impl FnOnce(),
    ) -> Result<File, StoreError> {
        let p = self
            .root
            .join("locks")
            .join(format!("layer-{}", diff_id.hex()));
        let f = open_lock_file(&p)?;
        take_lock(&f, LockMode::Exclusive, &p, waiting, None)?;
        Ok(f)
    }

    /// Takes a named lock in `locks/` (released on drop).
    pub fn lock(&self, name: &str) -> Result<File, StoreError> {
        self.lock_file(name)
    }

    /// [`Store::lock`] shared: its holders exclude only the exclusive one.
    pub fn lock_shared(&self, name: &str) -> Result<File, StoreError> {
        let p = self.root.join("locks").join(name);
        let f = open_lock_file(&p)?;
        f.lock_shared().map_err(io_err("lock", &p))?;
        Ok(f)
    }

    /// [`Store::lock`] without waiting: `None` while another holder has it
    /// (this process included, through another open of the file).
    pub fn try_lock(&self, name: &str) -> Result<Option<File>, StoreError> {
        let p = self.root.join("locks").join(name);
        let f = open_lock_file(&p)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(io_err("lock", &p)(e)),
        }
    }

    fn lock_file(&self, name: &str) -> Result<File, StoreError> {
        let p = self.root.join("locks").join(name);
        let f = open_lock_file(&p)?;
        f.lock().map_err(io_err("lock", &p))?;
        Ok(f)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images/index.json")
    }

    /// Reads the index (empty when there is none yet).
    pub fn index(&self) -> Result<Index, StoreError> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| StoreError::BadIndex { path: p, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    /// Read-modify-write of the index under the index lock; the new index
    /// replaces the old one atomically.
    pub fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> Result<T, StoreError> {
        let _lock = self.lock_file("index")?;
        let mut index = self.index()?;
        let before = crate::events::names_of(&index);
        let out = f(&mut index);
        // Names may have moved or gone: forget manifests left unused.
        for img in &mut index.images {
            img.tidy();
            let had = before.iter().find(|(id, _)| id == img.id.hex());
            let had: &[String] = had.map_or(&[], |(_, n)| n);
            img.note_names(had);
        }
        let changes = crate::events::image_changes(&before, &crate::events::names_of(&index));
        let p = self.index_path();
        let tmp = self.root.join("images").join(tmp_name("index"));
        let mut body = serde_json::to_vec_pretty(&index).expect("json");
        body.push(b'\n');
        fs::write(&tmp, body).map_err(io_err("write", &tmp))?;
        fs::rename(&tmp, &p).map_err(io_err("rename into place", &p))?;
        for (status, id, name) in changes {
            crate::events::image(&self.root, status, &id, &name);
        }
        Ok(out)
    }
}

/// Takes the set-group-id bit off a store made in a project's group
/// directory (`mkdir -m 2775`, `chgrp proj`), and off the directories
/// already made in it. With the bit, every layer file and container
/// directory inherited that group, which the user namespace does not map:
/// the kernel's overlay then refused to copy such a file up (`run` failed
/// writing `/etc/hosts`: permission denied). Without it, what rless makes
/// has the user's own group. Left as it is (with a warning) when the user
/// may not change it.
/// `root_meta`: the root's `symlink_metadata`.
fn drop_setgid(root: &Path, root_meta: &fs::Metadata) {
    const SETGID: u32 = 0o2000;
    let clear = |p: &Path, m: Option<&fs::Metadata>| {
        let read;
        let m = match m {
            Some(m) => m,
            None => match fs::symlink_metadata(p) {
                Ok(m) => {
                    read = m;
                    &read
                }
                Err(_) => return false,
            },
        };
        if !m.is_dir() || m.permissions().mode() & SETGID == 0 {
            return false;
        }
        let mode = m.permissions().mode() & 0o7777 & !SETGID;
        match fs::set_permissions(p, fs::Permissions::from_mode(mode)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "cannot clear the set-group-id bit of {}: {e}; containers may fail to write files of the image",
                    p.display()
                );
                false
            }
        }
    };
    if !clear(root, Some(root_meta)) {
        return;
    }
    if let Ok(rd) = fs::read_dir(root) {
        for e in rd.flatten() {
            clear(&e.path(), None);
        }
    }
}

fn open_lock_file(p: &Path) -> Result<File, StoreError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
        .map_err(io_err("open", p))
}

/// flock()s `f` in `mode`. The lock is tried first, so that `waiting` is
/// called only when another process holds it, before this one blocks.
/// With `stop`, the wait polls and gives up once `stop()` is true.
fn take_lock(
    f: &File,
    mode: LockMode,
    p: &Path,
    waiting: impl FnOnce(),
    stop: Option<&dyn Fn() -> bool>,
) -> Result<(), StoreError> {
    let tried = match mode {
        LockMode::Shared => f.try_lock_shared(),
        LockMode::Exclusive => f.try_lock(),
    };
    match tried {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) if stop.is_some() => {
            waiting();
            let stop = stop.expect("given");
            loop {
                if stop() {
                    return Err(StoreError::Stopped(p.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                let again = match mode {
                    LockMode::Shared => f.try_lock_shared(),
                    LockMode::Exclusive => f.try_lock(),
                };
                match again {
                    Ok(()) => return Ok(()),
                    Err(fs::TryLockError::WouldBlock) => {}
                    Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", p)(e)),
                }
            }
        }
        Err(fs::TryLockError::WouldBlock) => {
            waiting();
            match mode {
                LockMode::Shared => f.lock_shared(),
                LockMode::Exclusive => f.lock(),
            }
            .map_err(io_err("lock", p))
        }
        Err(fs::TryLockError::Error(e)) => Err(io_err("lock", p)(e)),
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
