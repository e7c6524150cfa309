//! What follows the copy-up of a lower hard link: its other names.
//!
//! # Theory of operation
//!
//! In the mount, all names of a lower hard link are one object (one node,
//! one inode number). On disk, copy-up writes one name; the others would
//! go on naming the lower file, and a remount would show them with the
//! old content. So after the copy-up of a file with several links, its
//! other names that the union shows are linked to the copy in the upper
//! layer: those the mount knows (from its tree), and those it never looked
//! up, which the layer's hard-link index finds. Kernel overlayfs mounted
//! `userxattr` has no index and breaks every link at copy-up instead.
//!
//! The index of a lower layer maps each inode with several names to their
//! paths. It is made on the first copy-up of a hard link from that layer,
//! by walking the layer (twice: count names per inode, then note the paths
//! of those with several), at most [`SCAN_LIMIT`] entries, and kept for
//! the life of the mount: lower layers do not change. So a `chmod -R` over
//! many hard links costs one walk, not one per file.
//!
//! Limits: the walks run under the namespace lock, so the first such
//! copy-up stalls the mount for two walks of the layer (a walk stopped at
//! the last name, as before the index, was shorter for a single copy-up);
//! names past [`SCAN_LIMIT`] entries are not found (a warning says so);
//! other filesystems mounted in a layer are not walked; the index is kept
//! in memory (a layer made mostly of hard links, as a deduplicated store
//! is, may take tens of MB); a name that cannot be linked is logged, and
//! shares the copy only until a remount.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::fs::{os, Overlay, R};
use crate::tree::{join, Key, ROOT, UPPER};

/// Entries of a lower layer walked at most for its hard-link index: the
/// walk holds the namespace lock, and an enormous layer would otherwise
/// stall the mount for as long as it takes.
pub(crate) const SCAN_LIMIT: usize = 1 << 18;

/// A lower layer's inodes with several names, and their paths.
pub(crate) type LinkIndex = HashMap<u64, Vec<Vec<u8>>>;

impl Overlay {
    /// Links to their copies the names of lower hard links that the mount
    /// has not looked up yet but the union shows, so that a remount keeps
    /// them one file with the copy. `wanted` maps an inode of `layer` to
    /// the names wanted for it; the layer's index says where they are.
    /// Names that already exist in the upper layer are left alone.
    pub(crate) fn link_unseen_names(&self, layer: u16, mut wanted: HashMap<u64, Wanted>) {
        let index = self.link_index(layer);
        let mut found = Vec::new();
        for (ino, w) in wanted.iter_mut() {
            for p in index.get(ino).into_iter().flatten() {
                if w.left() > 0 && *p != w.copy && w.done.insert(p.clone()) {
                    found.push((*ino, p.clone()));
                }
            }
        }
        for (ino, p) in found {
            let Some(parents) = self.shown_from(layer, &p, ino) else {
                continue; // whited out, or hidden by another layer
            };
            let ready = parents
                .iter()
                .try_for_each(|(dir, top, key)| self.dir_to_upper(dir, *top, *key));
            self.link_to_copy(&wanted[&ino].copy, &p, ready);
        }
    }

    /// The hard-link index of lower layer `layer`, made on first use.
    fn link_index(&self, layer: u16) -> Arc<LinkIndex> {
        if let Some(i) = self.link_indexes.lock().unwrap().get(&layer) {
            return i.clone();
        }
        // Made under the namespace lock (held by every caller), so no
        // other thread makes it meanwhile.
        let index = Arc::new(self.make_link_index(layer));
        self.link_indexes
            .lock()
            .unwrap()
            .insert(layer, index.clone());
        index
    }

    /// Walks lower layer `layer` twice (up to [`SCAN_LIMIT`] entries): once
    /// to count the names of each inode, then to note the paths of those
    /// with more than one.
    fn make_link_index(&self, layer: u16) -> LinkIndex {
        let mut count: HashMap<u64, u32> = HashMap::new();
        let complete = self.walk_layer(layer, |ino, _| {
            *count.entry(ino).or_default() += 1;
        });
        count.retain(|_, n| *n > 1);
        let mut index: LinkIndex = HashMap::new();
        if !count.is_empty() {
            self.walk_layer(layer, |ino, path| {
                if count.contains_key(&ino) {
                    index.entry(ino).or_default().push(path());
                }
            });
        }
        if !complete {
            log::warn!(
                "fuse-overlay: lower layer {layer} has more than {SCAN_LIMIT} entries; \
                 hard links past them split at copy-up"
            );
        }
        log::debug!(
            "hard-link index of layer {layer}: {} inodes with several names",
            index.len()
        );
        index
    }

    /// Calls `f(inode, path)` for every entry of lower layer `layer` but
    /// directories, depth first, until [`SCAN_LIMIT`] entries, and not
    /// into other filesystems mounted in it; `path` makes the entry's
    /// path. Returns whether it saw them all.
    fn walk_layer(&self, layer: u16, mut f: impl FnMut(u64, &dyn Fn() -> Vec<u8>)) -> bool {
        let dev = self.layers[layer as usize].dev;
        let mut dirs = vec![b".".to_vec()];
        let mut scanned = 0;
        while let Some(dir) = dirs.pop() {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(
                &self.layers[layer as usize].fd,
                os(&dir),
                flags,
                Mode::empty(),
            );
            let Some(mut entries) = fd.ok().and_then(|fd| rustix::fs::Dir::new(fd).ok()) else {
                continue;
            };
            while let Some(Ok(e)) = entries.read() {
                let name = e.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                scanned += 1;
                if scanned > SCAN_LIMIT {
                    return false;
                }
                let kind = match e.file_type() {
                    FileType::Unknown => self
                        .statat(layer, &join(&dir, name))
                        .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode)),
                    k => k,
                };
                if kind == FileType::Directory {
                    // Not into another filesystem mounted in the layer: its
                    // inode numbers are not the layer's.
                    let p = join(&dir, name);
                    if self.statat(layer, &p).is_ok_and(|st| st.st_dev == dev) {
                        dirs.push(p);
                    }
                } else {
                    f(e.ino(), &|| join(&dir, name));
                }
            }
        }
        true
    }

    /// Whether the union shows `layer`'s inode `ino` at `path`; if so, the
    /// directories on the way (path, topmost layer, key).
    fn shown_from(&self, layer: u16, path: &[u8], ino: u64) -> Option<Vec<(Vec<u8>, u16, Key)>> {
        let mut layers = self.tree.read().unwrap().get(ROOT)?.layers.clone();
        let mut dir = b".".to_vec();
        let mut parents = Vec::new();
        let names: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        for (i, name) in names.iter().enumerate() {
            let f = self.resolve(&layers, &dir, name).ok()??;
            if i + 1 == names.len() {
                let same = f.layers[0] == layer
                    && f.st.st_ino == ino
                    && f.st.st_dev == self.layers[layer as usize].dev;
                return same.then_some(parents);
            }
            if !f.is_dir() {
                return None;
            }
            dir = join(&dir, name);
            let key = (self.layers[f.layers[0] as usize].dev, f.st.st_ino);
            parents.push((dir.clone(), f.layers[0], key));
            layers = f.layers;
        }
        None
    }

    /// Makes the merged directory at `dir` (topmost in layer `top`, with
    /// `key` there) present in the upper layer, through its node when the
    /// mount has one.
    fn dir_to_upper(&self, dir: &[u8], top: u16, key: Key) -> R<()> {
        if top == UPPER {
            return Ok(());
        }
        let known = self.tree.read().unwrap().key_ino(key);
        match known {
            Some(ino) => self.ensure_upper(ino, false).map(drop),
            None => self.copy_object(top, dir, false).map(drop),
        }
    }

    /// Gives the copy at `path` of a lower hard link the mount's other
    /// names for it (`others`: parent and name), in the upper layer.
    /// Returns their paths.
    pub(crate) fn link_other_names(
        &self,
        path: &[u8],
        others: &[(u64, OsString)],
    ) -> HashSet<Vec<u8>> {
        let mut done = HashSet::new();
        for (parent, name) in others {
            match self.ensure_upper(*parent, false) {
                Ok(ppath) => {
                    let to = join(&ppath, name.as_bytes());
                    self.link_to_copy(path, &to, Ok(()));
                    done.insert(to);
                }
                Err(e) => self.link_to_copy(path, name.as_bytes(), Err(e)),
            }
        }
        done
    }

    /// Links the name `to` to the copy at `copy` in the upper layer, once
    /// `ready` (its directory made present there) succeeded. A name already
    /// there is fine. A failure is logged: the mount still shows the name
    /// sharing the copy, only a remount would split them.
    fn link_to_copy(&self, copy: &[u8], to: &[u8], ready: R<()>) {
        let upper = &self.layers[0].fd;
        let linked = ready.and_then(|()| {
            self.keeping_parent_times(to, || {
                rustix::fs::linkat(upper, os(copy), upper, os(to), AtFlags::empty())
            })
        });
        match linked {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => log::warn!(
                "fuse-overlay: cannot link {} to the copy-up of {}: {e}",
                String::from_utf8_lossy(to),
                String::from_utf8_lossy(copy)
            ),
        }
    }
}

/// The names of one lower hard link to give its copy.
pub(crate) struct Wanted {
    /// The copy, in the upper layer.
    pub(crate) copy: Vec<u8>,
    /// The lower file's link count.
    pub(crate) nlink: u64,
    /// Other names linked to the copy already (or found in the index).
    pub(crate) done: HashSet<Vec<u8>>,
}

impl Wanted {
    /// How many names are still to find.
    pub(crate) fn left(&self) -> u64 {
        self.nlink
            .saturating_sub(1)
            .saturating_sub(self.done.len() as u64)
    }
}

/// The lower hard links one directory copy-up ([`Overlay::materialize`])
/// copied, by key: their layer, inode there, and names. The directory's
/// other names for one are linked to its first copy; names elsewhere
/// afterwards by [`Overlay::link_unseen`].
#[derive(Default)]
pub(crate) struct HardLinks(pub(crate) HashMap<Key, (u16, u64, Wanted)>);

impl Overlay {
    /// Links to their copies the names of the hard links a directory
    /// copy-up copied that lie outside the directory and the mount has not
    /// looked up, from each layer's index (see `link_unseen_names`).
    pub(crate) fn link_unseen(&self, links: HardLinks) {
        let mut by_layer: HashMap<u16, HashMap<u64, Wanted>> = HashMap::new();
        for (_, (layer, ino, w)) in links.0 {
            if w.left() > 0 {
                by_layer.entry(layer).or_default().insert(ino, w);
            }
        }
        for (layer, wanted) in by_layer {
            self.link_unseen_names(layer, wanted);
        }
    }
}
