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
//!   Listings carry no handle, so the offset carries the way back: it
//!   names the snapshot (a generation, never 0) and the position in it
//!   (see Offsets below). A batch at position 0 takes a new snapshot. The table
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
//!
//! Offsets: a 32-bit program that reads directories without large-file
//! support gets `EOVERFLOW` from glibc for any offset past 2^31 - 1 (ext4
//! and kernel overlayfs hand such callers small offsets). So a listing of
//! fewer than [`COMPACT_POSITIONS`] entries gets a *compact* generation
//! (1 to 2047) and offsets `gen << 20 | position`, below 2^31; a bigger one
//! gets a *wide* generation (2048 and up) and offsets `gen << 32 |
//! position`. Compact generations come round again after 2047 listings, so
//! a new one skips those the table or a handle still holds (when all are
//! held, a listing gets a wide one), and a handle's own snapshot comes
//! before the table's. An offset the kernel kept from a snapshot that went
//! may thus lead into a newer snapshot of the same directory: the same as
//! going on in a fresh one.

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

/// Bits of position in a compact offset.
const COMPACT_BITS: u32 = 20;
/// Positions a compact offset holds (a listing's last is its length + 2).
const COMPACT_POSITIONS: usize = (1 << COMPACT_BITS) - 1;
/// Compact generations are 1 to this, wide ones above it.
const MAX_COMPACT_GEN: u32 = (1 << (31 - COMPACT_BITS)) - 1;

type Snapshot = Arc<Vec<DirEnt>>;

/// The generation and position an offset names (generation 0: none, as
/// for an offset in neither form, which only a caller's `lseek` makes).
fn split_offset(offset: u64) -> (u32, usize) {
    if offset < 1 << 31 {
        (
            (offset >> COMPACT_BITS) as u32,
            (offset & ((1 << COMPACT_BITS) - 1)) as usize,
        )
    } else {
        let gen = (offset >> 32) as u32;
        let gen = if gen > MAX_COMPACT_GEN { gen } else { 0 };
        (gen, (offset & 0xffff_ffff) as usize)
    }
}

/// The offset of position `pos` in the listing of generation `gen`.
fn make_offset(gen: u32, pos: usize) -> u64 {
    if gen <= MAX_COMPACT_GEN {
        (u64::from(gen) << COMPACT_BITS) | pos as u64
    } else {
        (u64::from(gen) << 32) | pos as u64
    }
}

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
    /// Handle mode: how many handles hold each generation.
    held: HashMap<u32, usize>,
    next_compact: u32,
    next_wide: u32,
}

impl Listings {
    /// A generation for a snapshot of `len` entries (see Offsets): a
    /// compact one that neither the table nor a handle holds, else (a big
    /// listing, or every compact one in use) a wide one.
    fn new_gen(&mut self, len: usize) -> u32 {
        if len + 2 <= COMPACT_POSITIONS {
            for _ in 0..MAX_COMPACT_GEN {
                self.next_compact = self.next_compact % MAX_COMPACT_GEN + 1;
                let gen = self.next_compact;
                if !self.snaps.contains_key(&gen) && !self.held.contains_key(&gen) {
                    return gen;
                }
            }
        }
        loop {
            self.next_wide = self.next_wide.wrapping_add(1).max(MAX_COMPACT_GEN + 1);
            let gen = self.next_wide;
            if !self.snaps.contains_key(&gen) && !self.held.contains_key(&gen) {
                return gen;
            }
        }
    }

    /// Handle `fh` now holds snapshot `gen` (and lets go of its last one).
    fn hold(&mut self, fh: u64, gen: u32, snap: Snapshot) {
        let Some(h) = self.handles.get_mut(&fh) else {
            return;
        };
        let old = h.1.replace((gen, snap)).map(|(g, _)| g);
        *self.held.entry(gen).or_default() += 1;
        if let Some(g) = old {
            self.let_go(g);
        }
    }

    /// A handle let go of generation `gen`.
    fn let_go(&mut self, gen: u32) {
        if let Some(n) = self.held.get_mut(&gen) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&gen);
            }
        }
    }

    /// Handle `fh` is closed.
    fn close(&mut self, fh: u64) {
        if let Some((_, Some((gen, _)))) = self.handles.remove(&fh) {
            self.let_go(gen);
        }
    }

    fn insert(&mut self, ino: u64, snap: Snapshot) -> u32 {
        let gen = self.new_gen(snap.len());
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

/// Where a batch starts: the snapshot, its generation and the position.
struct Batch {
    gen: u32,
    snap: Snapshot,
    pos: usize,
}

impl Batch {
    /// The length of the name the entry at `i` shows.
    fn name_len(&self, i: usize) -> usize {
        match i {
            0 => 1,
            1 => 2,
            _ => shown(&self.snap[i - 2].name).len(),
        }
    }

    /// The offset of the entry at `i` (0-based over `.`, `..`, entries).
    fn offset(&self, i: usize) -> u64 {
        make_offset(self.gen, i + 1)
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
        // 4.18 has no directory cache (FOPEN_CACHE_DIR came in 4.20).
        let cache = if self.opts.kernel_4_18 {
            FopenFlags::empty()
        } else {
            FopenFlags::FOPEN_CACHE_DIR
        };
        reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE | cache);
    }

    pub fn releasedir(&self, fh: FileHandle) {
        self.listings.lock().unwrap().close(fh.0);
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
        let (gen, pos) = split_offset(offset);
        {
            let mut l = self.listings.lock().unwrap();
            let own = if self.no_opendir {
                None
            } else {
                let (_, own) = l.handles.get(&fh.0).ok_or(Errno::BADF)?;
                own.clone()
            };
            if pos != 0 {
                // The snapshot the offset came from: held by this handle
                // (first: its generation may have come round again in the
                // table), or in the table.
                let found = own
                    .filter(|(g, _)| *g == gen)
                    .map(|(_, snap)| snap)
                    .or_else(|| match l.snaps.get(&gen) {
                        Some((i, snap)) if *i == ino => Some(snap.clone()),
                        _ => None,
                    });
                if let Some(snap) = found {
                    // A handle holds what it reads, whoever took it.
                    l.hold(fh.0, gen, snap.clone());
                    return Ok(Batch { gen, snap, pos });
                }
            }
        }
        let snap = self.take_snapshot(ino)?;
        let mut l = self.listings.lock().unwrap();
        let gen = l.insert(ino, snap.clone());
        l.hold(fh.0, gen, snap.clone());
        Ok(Batch { gen, snap, pos })
    }

    pub fn readdir(&self, ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let b = match self.batch(ino.0, fh, offset) {
            Ok(b) => b,
            Err(e) => return reply.error(fuse_err(e)),
        };
        let mut budget = self.batch_budget();
        let mut i = b.pos;
        while i < b.end() {
            if !budget.take(i - b.pos, b.name_len(i), false) {
                break;
            }
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
        let mut budget = self.batch_budget();
        let mut i = b.pos;
        while i < end {
            if !budget.take(i - b.pos, b.name_len(i), true) {
                break;
            }
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

/// Bytes left in a listing batch where the kernel asks for less than the
/// reply buffer fuser gives (4.18 reads directories a page at a time).
struct Budget(usize);

impl Budget {
    /// Whether the `n`th entry of a batch (whose name is `len` bytes) still
    /// fits; the first always does.
    fn take(&mut self, n: usize, len: usize, plus: bool) -> bool {
        // fuse_dirent (24 bytes and the name, 8-aligned), after a 128-byte
        // fuse_entry_out in a READDIRPLUS reply.
        let size = (24 + len).div_ceil(8) * 8 + if plus { 128 } else { 0 };
        if n > 0 && size > self.0 {
            return false;
        }
        self.0 = self.0.saturating_sub(size);
        true
    }
}

impl Overlay {
    fn batch_budget(&self) -> Budget {
        Budget(if self.opts.kernel_4_18 {
            4096
        } else {
            usize::MAX
        })
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
    fn a_4_18_batch_holds_one_page() {
        // 60-byte names: 88 bytes an entry, 216 with attributes.
        let fits = |plus: bool| {
            let mut b = Budget(4096);
            (0..1000).take_while(|n| b.take(*n, 60, plus)).count()
        };
        assert_eq!(fits(false), 4096 / 88);
        assert_eq!(fits(true), 4096 / 216);
        let mut b = Budget(10);
        assert!(b.take(0, 200, true), "the first entry always goes");
        assert!(!b.take(1, 1, false));
        let mut unbounded = Budget(usize::MAX);
        assert!((0..100_000).all(|n| unbounded.take(n, 255, true)));
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
        assert_eq!(b.offset(0), (7 << 20) | 1);
        assert_eq!(b.offset(6), (7 << 20) | 7);
        assert_eq!(b.end(), 7);
        for (gen, pos) in [(1, 1), (7, 3), (MAX_COMPACT_GEN, COMPACT_POSITIONS)] {
            let off = make_offset(gen, pos);
            assert!(off > 0 && off < 1 << 31, "compact {gen} {pos}: {off:#x}");
            assert_eq!(split_offset(off), (gen, pos));
        }
        for (gen, pos) in [(MAX_COMPACT_GEN + 1, 1), (u32::MAX, 5_000_000)] {
            let off = make_offset(gen, pos);
            assert!(off >= 1 << 31, "wide {gen} {pos}");
            assert_eq!(split_offset(off), (gen, pos));
        }
        assert_eq!(split_offset(0), (0, 0));
        assert_eq!(split_offset((5 << 32) | 3).0, 0, "neither form");
    }

    #[test]
    fn compact_generations_skip_those_in_use() {
        let mut l = Listings::default();
        let first = l.insert(1, snap(3));
        let big = l.insert(2, snap(COMPACT_POSITIONS));
        assert!((1..=MAX_COMPACT_GEN).contains(&first));
        assert!(
            big > MAX_COMPACT_GEN,
            "a big listing gets a wide generation"
        );
        // A handle holds the first generation after the table let it go.
        l.handles.insert(9, (1, None));
        l.hold(9, first, snap(3));
        l.remove(first);
        let mut seen = std::collections::HashSet::new();
        for ino in 0..3 * u64::from(MAX_COMPACT_GEN) {
            let gen = l.insert(ino, snap(1));
            assert!((1..=MAX_COMPACT_GEN).contains(&gen));
            assert_ne!(gen, first, "a generation a handle holds came round");
            seen.insert(gen);
        }
        assert_eq!(
            seen.len(),
            MAX_COMPACT_GEN as usize - 1,
            "every other one is used"
        );
        l.close(9);
        assert!(l.held.is_empty());
    }

    #[test]
    fn with_every_compact_generation_held_a_listing_gets_a_wide_one() {
        let mut l = Listings::default();
        for fh in 0..u64::from(MAX_COMPACT_GEN) + 300 {
            l.handles.insert(fh, (fh, None));
            let gen = l.insert(fh, snap(1));
            l.hold(fh, gen, snap(1));
        }
        let held: std::collections::HashSet<u32> = l
            .handles
            .values()
            .map(|h| h.1.as_ref().unwrap().0)
            .collect();
        assert_eq!(held.len(), l.handles.len(), "no two handles share one");
        assert!(held.iter().filter(|g| **g > MAX_COMPACT_GEN).count() >= 300);
        // A handle that reads on moves its hold.
        let g = l.insert(5000, snap(1));
        l.hold(0, g, snap(1));
        assert_eq!(l.held.values().sum::<usize>(), l.handles.len());
    }
}
