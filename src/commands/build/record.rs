//! The build's record of what it made, so that nothing of a build is lost
//! to a concurrent `image prune` and nothing of a killed one stays.
//!
//! Theory of operation: a running build keeps a file `build-PID-RANDOM` in
//! `STORE/locks/` (made under a dot-name, locked, then renamed into place) with one line
//! per step container (`container NAME`) and intermediate image (`image
//! ID`) it made and image it looked up (`uses ID`: a base, or an image
//! it copies from), and holds an exclusive `flock` on it for its whole life.
//! The lock tells whether the build still runs: the kernel drops it when
//! the build ends, however it ends (SIGKILL included).
//! - `rless commit`, run by the build for each step, adds the image it made
//!   while it still holds the store lock (the variable [`RECORD_ENV`] names
//!   the file), so there is no moment when an intermediate image exists
//!   unrecorded: `image prune`, which takes the store lock exclusively,
//!   either runs before the commit stores the image or sees it recorded.
//! - `image prune` leaves the images (made or used) of every record whose
//!   lock is held ([`live_images`]).
//! - A build's cleanup empties its record; at its start a build sweeps
//!   every record whose lock it can take (a build that was killed): it
//!   removes the containers and images (made, not used) listed there,
//!   then the record.
//!
//! Dot-names are never swept (a build that dies between making its file
//! and renaming it leaves an empty dot-file, nothing else).

use anyhow::{Context as _, Result};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Names the record `rless commit` adds its image to.
pub const RECORD_ENV: &str = "_RLESS_BUILD_RECORD";

/// Records are lock files among the store's others.
fn builds_dir(root: &Path) -> PathBuf {
    root.join("locks")
}

const PREFIX: &str = "build-";

/// This build's record, locked while it lives.
pub struct Record {
    path: PathBuf,
    file: File,
}

impl Record {
    /// Makes this build's record in `root`'s `locks/`.
    pub fn begin(root: &Path) -> Result<Record> {
        let dir = builds_dir(root);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            rless::container::ContainerId::random().short()
        );
        let tmp = dir.join(format!(".{name}"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", tmp.display()))?;
        let path = dir.join(name);
        fs::rename(&tmp, &path).with_context(|| format!("cannot rename {}", tmp.display()))?;
        Ok(Record { path, file })
    }

    /// The file, for [`RECORD_ENV`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a step container, before it is made.
    pub fn container(&self, name: &str) -> Result<()> {
        add(&self.file, &self.path, "container", name)
    }

    /// Adds an intermediate image.
    pub fn image(&self, id: &str) -> Result<()> {
        add(&self.file, &self.path, "image", id)
    }

    /// Adds an image the build looked up.
    pub fn uses(&self, id: &str) -> Result<()> {
        add(&self.file, &self.path, "uses", id)
    }

    /// The build cleaned up: the record goes (its lock with it).
    pub fn end(self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn add(mut file: &File, path: &Path, what: &str, value: &str) -> Result<()> {
    file.write_all(format!("{what} {value}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// For `rless commit` run by a build: adds `id` to the build's record.
pub fn commit_made(id: &str) -> Result<()> {
    let Some(path) = std::env::var_os(RECORD_ENV) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the build record {}", path.display()))?;
    add(&file, &path, "image", id)
}

/// What a record lists: (containers, images made, images used).
fn read(path: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let (mut containers, mut images, mut used) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("container", c)) => containers.push(c.to_string()),
            Some(("image", i)) => images.push(i.to_string()),
            Some(("uses", i)) => used.push(i.to_string()),
            _ => {}
        }
    }
    (containers, images, used)
}

/// The records in `root`, each with its lock when it could be taken (its
/// build is gone) or `None` (its build runs).
fn records(root: &Path) -> Vec<(PathBuf, Option<File>)> {
    let Ok(rd) = fs::read_dir(builds_dir(root)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .filter_map(|e| {
            let file = File::open(e.path()).ok()?;
            let lock = match file.try_lock() {
                Ok(()) => Some(file),
                Err(TryLockError::WouldBlock) => None,
                Err(TryLockError::Error(_)) => return None,
            };
            Some((e.path(), lock))
        })
        .collect()
}

/// The images (full hex ids) the builds that run now made or use.
pub fn live_images(root: &Path) -> HashSet<String> {
    records(root)
        .into_iter()
        .filter(|(_, lock)| lock.is_none())
        .flat_map(|(path, _)| {
            let (_, made, used) = read(&path);
            made.into_iter().chain(used)
        })
        .collect()
}

/// The records of builds that are gone: their containers and images, to
/// remove, and a guard per record that removes the file once dropped
/// after [`Stale::done`].
pub fn stale(root: &Path) -> Vec<Stale> {
    records(root)
        .into_iter()
        .filter_map(|(path, lock)| {
            let lock = lock?;
            let (containers, images, _) = read(&path);
            Some(Stale {
                path,
                _lock: lock,
                containers,
                images,
            })
        })
        .collect()
}

/// A killed build's record, locked by the sweep.
pub struct Stale {
    path: PathBuf,
    _lock: File,
    pub containers: Vec<String>,
    pub images: Vec<String>,
}

impl Stale {
    /// Everything listed is gone: the record goes.
    pub fn done(self) {
        let _ = fs::remove_file(&self.path);
    }
}
