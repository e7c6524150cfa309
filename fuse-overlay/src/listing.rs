//! Directory listings: the snapshot a listing reads, and the offsets that
//! lead the kernel back into it.
//!
//! # Theory of operation
//!
//! A listing reads a snapshot of the merged directory, taken at its first
//! batch, so names created or removed meanwhile never make it skip or
//! repeat another entry. There are two ways back to the snapshot:
//!
//! - **No OPENDIR** (kernels that offer `FUSE_NO_OPENDIR_SUPPORT`, 5.1 and
//!   later): the first OPENDIR is answered ENOSYS, and the kernel then
//!   stops sending OPENDIR and RELEASEDIR. That is two round trips fewer
//!   for every directory listed, and none at all for a listing served from
//!   the kernel's directory cache (the kernel then opens directories with
//!   `FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR`, what OPENDIR answered anyway).
//!   Listings carry no handle, so the offset carries the way back: its high
//!   32 bits name the snapshot (a generation, never 0), its low 32 bits the
//!   position in it. A batch at position 0 takes a new snapshot. The table
//!   of snapshots is bounded; a snapshot goes when the table is full (oldest
//!   first), not when its listing has read to the end: readers of the
//!   kernel's directory cache may come back with its offsets. A listing
//!   whose snapshot went on at the same position in a fresh one, as a
//!   stateless NFS server does.
//! - **Handles** (older kernels): OPENDIR makes a handle. Its snapshot goes
//!   into the same table, so offsets carry generations here too (a handle
//!   may start reading at an offset another listing put in the kernel's
//!   directory cache), and the handle holds its own snapshot until
//!   RELEASEDIR, so that the table's bound never cuts its listing short.
//!
//! Positions: 1 and 2 follow `.` and `..`; position `p > 2` follows
//! snapshot entry `p - 3`. Offsets handed to the kernel are never 0.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use fuser::{
    FileHandle, FileType, FopenFlags, Generation, INodeNo, ReplyDirectory, ReplyDirectoryPlus,
    ReplyOpen,
};
use rustix::io::Errno;

use crate::fs::{fuse_err, ttl, DirEnt, Overlay, R};

/// The name a listing shows for a stored name (see `layout::escape`).
fn shown(stored: &OsStr) -> &OsStr {
    OsStr::from_bytes(crate::layout::shown(stored.as_bytes()))
}

/// Snapshots kept for listings without handles.
const MAX_SNAPSHOTS: usize = 256;
/// Entries kept in those snapshots, all together (about 70 bytes each:
/// finished listings stay until evicted, so this is what every mount may
/// hold). A larger snapshot still goes in alone.
const MAX_SNAPSHOT_ENTRIES: usize = 1 << 16;

type Snapshot = Arc<Vec<DirEnt>>;

/// The open directories and the snapshots of listings.
#[derive(Default)]
pub(crate) struct Listings {
    /// Handle mode: handle → (directory, generation and snapshot of its
    /// latest listing).
    handles: HashMap<u64, (u64, Option<(u32, Snapshot)>)>,
    /// No-OPENDIR mode: generation → (directory, snapshot).
    snaps: HashMap<u32, (u64, Snapshot)>,
    /// Generations, oldest first.
    order: VecDeque<u32>,
    entries: usize,
    next_gen: u32,
}

impl Listings {
    fn insert(&mut self, ino: u64, snap: Snapshot) -> u32 {
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let gen = self.next_gen;
        self.entries += snap.len();
        self.snaps.insert(gen, (ino, snap));
        self.order.push_back(gen);
        while self.order.len() > MAX_SNAPSHOTS || self.entries > MAX_SNAPSHOT_ENTRIES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if old == gen {
                self.order.push_back(old);
                break;
            }
            self.remove(old);
        }
        gen
    }

    fn remove(&mut self, gen: u32) {
        if let Some((_, s)) = self.snaps.remove(&gen) {
            self.entries -= s.len();
            self.order.retain(|g| *g != gen);
        }
    }
}

/// Where a batch starts: the snapshot, its generation (0 in handle mode)
/// and the position.
struct Batch {
    gen: u32,
    snap: Snapshot,
    pos: usize,
}

impl Batch {
    /// The offset of the entry at `i` (0-based over `.`, `..`, entries).
    fn offset(&self, i: usize) -> u64 {
        (u64::from(self.gen) << 32) | (i as u64 + 1)
    }

    fn end(&self) -> usize {
        self.snap.len() + 2
    }
}

impl Overlay {
    pub fn opendir(&self, ino: INodeNo, reply: ReplyOpen) {
        if self.no_opendir {
            return reply.error(fuser::Errno::ENOSYS);
        }
        let fh = self.new_fh();
        self.listings
            .lock()
            .unwrap()
            .handles
            .insert(fh, (ino.0, None));
        reply.opened(
            FileHandle(fh),
            FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
        );
    }

    pub fn releasedir(&self, fh: FileHandle) {
        self.listings.lock().unwrap().handles.remove(&fh.0);
    }

    /// The merged entries of `ino`, subdirectories first (see `dirplus`:
    /// a lite first batch carries them).
    fn take_snapshot(&self, ino: u64) -> R<Snapshot> {
        let _ns = self.ns.read().unwrap();
        let (layers, path) = self.locate(ino)?;
        let mut v = self.list_dir(&layers, &path, true)?;
        v.sort_by_key(|e| e.kind != FileType::Directory);
        Ok(Arc::new(v))
    }

    /// The snapshot and position a batch of `ino` at `offset` reads.
    fn batch(&self, ino: u64, fh: FileHandle, offset: u64) -> R<Batch> {
        let pos = (offset & 0xffff_ffff) as usize;
        let gen = (offset >> 32) as u32;
        {
            let mut l = self.listings.lock().unwrap();
            let own = if self.no_opendir {
                None
            } else {
                let (_, own) = l.handles.get(&fh.0).ok_or(Errno::BADF)?;
                own.clone()
            };
            if pos != 0 {
                // The snapshot the offset came from: in the table, or
                // held by this handle after the table let it go.
                let found = match l.snaps.get(&gen) {
                    Some((i, snap)) if *i == ino => Some(snap.clone()),
                    _ => own.filter(|(g, _)| *g == gen).map(|(_, snap)| snap),
                };
                if let Some(snap) = found {
                    // A handle holds what it reads, whoever took it.
                    if let Some(h) = l.handles.get_mut(&fh.0) {
                        h.1 = Some((gen, snap.clone()));
                    }
                    return Ok(Batch { gen, snap, pos });
                }
            }
        }
        let snap = self.take_snapshot(ino)?;
        let mut l = self.listings.lock().unwrap();
        let gen = l.insert(ino, snap.clone());
        if let Some(h) = l.handles.get_mut(&fh.0) {
            h.1 = Some((gen, snap.clone()));
        }
        Ok(Batch { gen, snap, pos })
    }

    pub fn readdir(&self, ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let b = match self.batch(ino.0, fh, offset) {
            Ok(b) => b,
            Err(e) => return reply.error(fuse_err(e)),
        };
        let mut i = b.pos;
        while i < b.end() {
            let off = b.offset(i);
            let full = match i {
                0 => reply.add(ino, off, FileType::Directory, "."),
                1 => reply.add(
                    INodeNo(self.parent_of(ino.0)),
                    off,
                    FileType::Directory,
                    "..",
                ),
                _ => {
                    let e = &b.snap[i - 2];
                    reply.add(INodeNo(e.ino), off, e.kind, shown(&e.name))
                }
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    pub fn readdirplus(
        &self,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let b = match self.batch(ino.0, fh, offset) {
            Ok(b) => b,
            Err(e) => return reply.error(fuse_err(e)),
        };
        let ino = ino.0;
        let _ns = self.ns.read().unwrap();
        // Lite: `.`, `..` and (in auto mode) the subdirectories, which come
        // first; the kernel reads on with plain READDIR.
        let dirs = b
            .snap
            .iter()
            .take_while(|e| e.kind == FileType::Directory)
            .count();
        let end = if b.pos == 0 && !self.plus.plus_for(ino, b.snap.len() - dirs) {
            2 + if self.plus.dirs_when_lite() { dirs } else { 0 }
        } else {
            b.end()
        };
        let mut i = b.pos;
        while i < end {
            let (eino, name, st, layers) = if i < 2 {
                let dino = if i == 0 { ino } else { self.parent_of(ino) };
                match self.getattr_locked(dino) {
                    Ok((st, l)) => (dino, OsStr::new(if i == 0 { "." } else { ".." }), st, l),
                    Err(e) => return reply.error(fuse_err(e)),
                }
            } else {
                let e = &b.snap[i - 2];
                match self.lookup_locked(ino, &e.name) {
                    Ok((ci, st, l)) => (ci, shown(&e.name), st, l),
                    Err(_) => {
                        i += 1;
                        continue;
                    }
                }
            };
            let attr = self.attr(eino, &st);
            if reply.add(
                INodeNo(eino),
                b.offset(i),
                name,
                &ttl(&layers),
                &attr,
                Generation(0),
            ) {
                // Not sent: the kernel will not count this entry.
                if i >= 2 {
                    self.tree.write().unwrap().unref(eino);
                }
                break;
            }
            i += 1;
        }
        reply.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(n: usize) -> Snapshot {
        Arc::new(
            (0..n)
                .map(|i| DirEnt {
                    name: format!("f{i}").into(),
                    kind: FileType::RegularFile,
                    ino: i as u64 + 10,
                })
                .collect(),
        )
    }

    #[test]
    fn the_snapshot_table_is_bounded_and_keeps_the_newest() {
        let mut l = Listings::default();
        let gens: Vec<u32> = (0..MAX_SNAPSHOTS as u64 + 44)
            .map(|ino| l.insert(ino, snap(3)))
            .collect();
        assert_eq!(l.snaps.len(), MAX_SNAPSHOTS);
        assert_eq!(l.order.len(), MAX_SNAPSHOTS);
        assert_eq!(l.entries, 3 * MAX_SNAPSHOTS);
        assert!(!l.snaps.contains_key(&gens[0]), "the oldest went first");
        let newest = *gens.last().unwrap();
        assert_eq!(l.snaps[&newest].0, MAX_SNAPSHOTS as u64 + 43);
        assert!(gens.iter().all(|g| *g != 0), "offsets are never 0");
        l.remove(newest);
        l.remove(newest);
        assert_eq!(l.entries, 3 * (MAX_SNAPSHOTS - 1));
        assert!(!l.order.contains(&newest));
    }

    #[test]
    fn the_entry_bound_keeps_at_least_the_new_snapshot() {
        let mut l = Listings::default();
        let small = l.insert(1, snap(10));
        let huge = l.insert(2, snap(MAX_SNAPSHOT_ENTRIES + 1));
        assert!(!l.snaps.contains_key(&small));
        assert!(
            l.snaps.contains_key(&huge),
            "a listing keeps its own snapshot"
        );
        assert_eq!(l.entries, MAX_SNAPSHOT_ENTRIES + 1);
    }

    #[test]
    fn offsets_carry_generation_and_position() {
        let b = Batch {
            gen: 7,
            snap: snap(5),
            pos: 0,
        };
        assert_eq!(b.offset(0), (7 << 32) | 1);
        assert_eq!(b.offset(6), (7 << 32) | 7);
        assert_eq!(b.end(), 7);
    }
}
