//! Listings are the same whether the first batch of a directory carries
//! attributes (readdirplus) or only `.` and `..` (lite): same names, each
//! once, `d_ino` equal to `st_ino`, in directories larger than one batch,
//! with whiteouts and merged layers, and when the caller stats entries
//! between batches (which makes the kernel switch to readdirplus midway).
//! Also: a listing that names change under reads the snapshot taken at its
//! start, and hundreds of listings open at once (more than the server keeps
//! snapshots for) each read every name once; both with OPENDIR left
//! unanswered (the default where the kernel allows it) and with handles.
//! Offsets fit a 32-bit reader without large-file support, and a listing
//! resumed at any of them (`seekdir`) reads the rest; more directories open
//! than there are compact offset generations still list.

mod common;

use std::collections::HashSet;
use std::fs;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::{dirs, dump, mount_fuse_with, with_caps};
use fuse_overlay::{Options, ReaddirPlus};
use rustix::fs::{Mode, OFlags, RawDir};

/// Mounts `lowers` at `d`, with OPENDIR handles or without.
fn mount_mode(lowers: &[PathBuf], d: &common::Dirs, handles: bool) -> fuse_overlay::MountHandle {
    let o = Options {
        opendir_handles: handles,
        ..Options::default()
    };
    mount_fuse_with(lowers, d, o)
}

/// Two lower layers: `big` is larger than one 32 KiB getdents batch and
/// merges both layers; the top layer whites out some names of the bottom.
fn lowers(base: &Path) -> Vec<PathBuf> {
    let top = base.join("top");
    let bottom = base.join("bottom");
    for l in [&top, &bottom] {
        fs::create_dir_all(l.join("big")).unwrap();
        fs::create_dir_all(l.join("small")).unwrap();
    }
    let long = "x".repeat(60);
    for i in 0..1500 {
        fs::write(bottom.join(format!("big/{long}-{i}")), "b").unwrap();
    }
    for i in 1000..2500 {
        fs::write(top.join(format!("big/{long}-{i}")), "t").unwrap();
    }
    for i in 0..20 {
        fs::write(bottom.join(format!("small/f{i}")), "b").unwrap();
    }
    // Whiteouts in the marker layout, which needs no privilege to make.
    for i in 0..10 {
        fs::write(top.join(format!("small/.wh.f{i}")), "").unwrap();
    }
    vec![top, bottom]
}

/// Reads `dir` entry by entry; with `stat_between`, stats every entry as
/// it comes, before the next batch is read, else all of them after the
/// listing. Checks names are unique and that `d_ino` matches `st_ino`.
fn list(dir: &Path, stat_between: bool) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut ents = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(seen.insert(name.clone()), "{name} listed twice");
        if stat_between {
            let st = fs::symlink_metadata(e.path()).unwrap();
            assert_eq!(e.ino(), st.ino(), "d_ino of {name}");
        }
        ents.push((name, e.ino()));
    }
    if !stat_between {
        for (n, d_ino) in &ents {
            let st = fs::symlink_metadata(dir.join(n)).unwrap();
            assert_eq!(*d_ino, st.ino(), "d_ino of {n}");
        }
    }
    let mut names: Vec<String> = ents.into_iter().map(|e| e.0).collect();
    names.sort();
    names
}

#[test]
fn listings_do_not_depend_on_readdirplus_mode() {
    if !with_caps("listings_do_not_depend_on_readdirplus_mode") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = lowers(tmp.path());
    let mut results = Vec::new();
    for (i, mode) in [ReaddirPlus::Auto, ReaddirPlus::Always, ReaddirPlus::Never]
        .into_iter()
        .enumerate()
    {
        for (stat_between, handles) in [(false, false), (true, false), (false, true)] {
            let d = dirs(tmp.path(), &format!("m{i}{stat_between}{handles}"));
            let h = mount_fuse_with(
                &lowers,
                &d,
                Options {
                    readdirplus: mode,
                    opendir_handles: handles,
                    ..Options::default()
                },
            );
            let big = list(&d.mnt.join("big"), stat_between);
            let small = list(&d.mnt.join("small"), stat_between);
            assert_eq!(big.len(), 2500, "{mode:?} handles {handles}");
            assert_eq!(small.len(), 10, "{mode:?}: whiteouts hide f0..f9");
            assert!(!small.iter().any(|n| n.starts_with(".wh.")));
            // A second listing comes from the kernel's cache or from us
            // again; either way it is the same.
            assert_eq!(list(&d.mnt.join("big"), false), big);
            let tree = dump(&d.mnt);
            h.unmount().unwrap();
            results.push((mode, big, small, tree));
        }
    }
    for r in &results[1..] {
        assert_eq!(r.1, results[0].1, "big differs: {:?}", r.0);
        assert_eq!(r.2, results[0].2, "small differs: {:?}", r.0);
        assert_eq!(r.3, results[0].3, "tree differs: {:?}", r.0);
    }
}

/// A listing of `big` that names are created in and removed from after its
/// first batch lists every name that stayed exactly once and no name that
/// came later (it reads the snapshot taken at its start), through any
/// number of later batches.
#[test]
fn listings_read_their_snapshot_while_names_change() {
    if !with_caps("listings_read_their_snapshot_while_names_change") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = lowers(tmp.path());
    for handles in [false, true] {
        let d = dirs(tmp.path(), &format!("c{handles}"));
        let h = mount_mode(&lowers, &d, handles);
        let big = d.mnt.join("big");
        let mut before = list(&big, false);
        // A change resets the kernel's cached listing, so the next one is
        // served by the server, batch by batch.
        fs::write(big.join("pre"), "p").unwrap();
        before.push("pre".into());
        before.sort();
        let mut it = fs::read_dir(&big).unwrap();
        let mut got = vec![it.next().unwrap().unwrap().file_name()];
        // Remove names from the whole range, so positions after the
        // first batch would shift if the listing did not keep its snapshot.
        let mut removed = HashSet::new();
        for (k, n) in before.iter().enumerate().filter(|(k, _)| k % 7 == 3) {
            fs::remove_file(big.join(n)).unwrap_or_else(|e| panic!("rm {n} ({k}): {e}"));
            removed.insert(n.clone());
        }
        for k in 0..300 {
            fs::write(big.join(format!("new-{k}")), "n").unwrap();
        }
        got.extend(it.map(|e| e.unwrap().file_name()));
        // POSIX: a name removed or added meanwhile may show or not; every
        // other name shows exactly once. (Removed names do not show in a
        // batch that carries attributes, which the kernel asks for after
        // the lookups of the removals.)
        let mut seen = HashSet::new();
        for n in got {
            let n = n.to_string_lossy().into_owned();
            assert!(
                seen.insert(n.clone()),
                "handles {handles}: {n} listed twice"
            );
            assert!(
                before.contains(&n),
                "handles {handles}: {n} was not there when the listing started"
            );
        }
        for n in &before {
            assert!(
                seen.contains(n) || removed.contains(n),
                "handles {handles}: {n} was there all along but not listed"
            );
        }
        // A new listing sees the changes.
        let after = list(&big, false);
        assert_eq!(after.len(), before.len() - removed.len() + 300);
        assert!(after.contains(&"new-0".to_string()));
        h.unmount().unwrap();
    }
}

/// More listings open at once than the server keeps snapshots for, each
/// read a little (a tiny buffer: two entries per call), then all read to
/// the end: each lists its directory's names exactly once.
#[test]
fn many_open_listings_each_list_every_name_once() {
    if !with_caps("many_open_listings_each_list_every_name_once") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    const DIRS: usize = 300;
    const FILES: usize = 8;
    let long = "y".repeat(250);
    for i in 0..DIRS {
        let dir = lower.join(format!("d{i}"));
        fs::create_dir_all(&dir).unwrap();
        for j in 0..FILES {
            fs::write(dir.join(format!("{long}{j}")), "").unwrap();
        }
    }
    for handles in [false, true] {
        let d = dirs(tmp.path(), &format!("n{handles}"));
        let h = mount_mode(std::slice::from_ref(&lower), &d, handles);
        let mut bufs: Vec<Vec<MaybeUninit<u8>>> = (0..DIRS)
            .map(|_| vec![MaybeUninit::uninit(); 600])
            .collect();
        let mut listings: Vec<(RawDir<'_, OwnedFd>, Vec<String>)> = bufs
            .iter_mut()
            .enumerate()
            .map(|(i, b)| {
                let fd = rustix::fs::open(
                    d.mnt.join(format!("d{i}")),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .unwrap();
                (RawDir::new(fd, b), Vec::new())
            })
            .collect();
        let take = |l: &mut (RawDir<'_, OwnedFd>, Vec<String>), n: usize| {
            for _ in 0..n {
                match l.0.next() {
                    Some(e) => {
                        l.1.push(e.unwrap().file_name().to_string_lossy().into_owned())
                    }
                    None => break,
                }
            }
        };
        for l in listings.iter_mut() {
            take(l, 3);
        }
        for l in listings.iter_mut() {
            take(l, usize::MAX);
        }
        for (i, (_, names)) in listings.iter_mut().enumerate() {
            names.sort();
            let mut want: Vec<String> = (0..FILES).map(|j| format!("{long}{j}")).collect();
            want.extend([".".to_string(), "..".to_string()]);
            want.sort();
            assert_eq!(*names, want, "d{i}, handles {handles}");
        }
        drop(listings);
        h.unmount().unwrap();
    }
}

/// Readers of one directory, listing it over and over while other threads
/// rename, write and remove names in it, never see a name twice in one
/// listing. Readers share the kernel's directory cache; when a change drops
/// it midway, a reader comes back to the server with the cache's offsets,
/// which must lead into the snapshot they came from (a fresh one listed
/// names twice, in both offset modes).
#[test]
fn concurrent_readers_of_a_changing_directory_see_each_name_once() {
    if !with_caps("concurrent_readers_of_a_changing_directory_see_each_name_once") {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for handles in [false, true] {
        for plus in [ReaddirPlus::Auto, ReaddirPlus::Always, ReaddirPlus::Never] {
            let tmp = tempfile::tempdir().unwrap();
            let l = tmp.path().join("lower");
            fs::create_dir_all(l.join("s")).unwrap();
            for i in 0..4 {
                fs::write(l.join(format!("s/f{i}")), b"x").unwrap();
            }
            let d = dirs(tmp.path(), "fuse");
            let options = Options {
                xattrs: true,
                opendir_handles: handles,
                readdirplus: plus,
                ..Options::default()
            };
            let h = mount_fuse_with(&[l], &d, options);
            let s = d.mnt.join("s");
            let stop = Arc::new(AtomicBool::new(false));
            let writers: Vec<_> = (0..3u64)
                .map(|t| {
                    let (s, stop) = (s.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut x = t + 7;
                        while !stop.load(Ordering::Relaxed) {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let a = s.join(format!("f{}", x % 8));
                            let b = s.join(format!("f{}", (x >> 8) % 8));
                            // Races make some of these fail; only the
                            // listings are checked.
                            let _ = match x % 3 {
                                0 => fs::rename(&a, &b),
                                1 => fs::write(&a, b"y"),
                                _ => fs::remove_file(&a),
                            };
                        }
                    })
                })
                .collect();
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    let (s, stop) = (s.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let (mut listings, mut twice) = (0, Vec::new());
                        while !stop.load(Ordering::Relaxed) {
                            let mut seen = HashSet::new();
                            for e in fs::read_dir(&s).unwrap() {
                                let name = e.unwrap().file_name();
                                if !seen.insert(name.clone()) {
                                    twice.push(name);
                                }
                            }
                            listings += 1;
                        }
                        (listings, twice)
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(700));
            stop.store(true, Ordering::Relaxed);
            for w in writers {
                w.join().unwrap();
            }
            let mut listings = 0;
            for r in readers {
                let (n, twice) = r.join().unwrap();
                listings += n;
                assert!(
                    twice.is_empty(),
                    "handles {handles}, {plus:?}: names listed twice: {twice:?}"
                );
            }
            assert!(listings > 30, "only {listings} listings ran");
            h.unmount().unwrap();
        }
    }
}

/// Every offset a listing hands out (`d_off`) lies in 1..2^31, which a
/// 32-bit program built without large-file support can take (glibc answers
/// EOVERFLOW past it), and seeking to one resumes the listing right after
/// its entry, as `seekdir` does: in a merged directory larger than one
/// batch, in both offset modes.
#[test]
fn offsets_fit_32_bit_readers_and_resume_listings() {
    if !with_caps("offsets_fit_32_bit_readers_and_resume_listings") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = lowers(tmp.path());
    for handles in [false, true] {
        let d = dirs(tmp.path(), &format!("o{handles}"));
        let h = mount_mode(&lowers, &d, handles);
        let open = || {
            rustix::fs::open(
                d.mnt.join("big"),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap()
        };
        let read_all = |fd: &OwnedFd| {
            let mut buf = vec![MaybeUninit::uninit(); 4096];
            let mut dir = RawDir::new(fd, &mut buf);
            let mut out = Vec::new();
            while let Some(e) = dir.next() {
                let e = e.unwrap();
                out.push((
                    e.file_name().to_string_lossy().into_owned(),
                    e.next_entry_cookie(),
                ));
            }
            out
        };
        let all = read_all(&open());
        assert_eq!(all.len(), 2500 + 2, "handles {handles}");
        for (name, off) in &all {
            assert!(
                *off > 0 && *off < 1 << 31,
                "handles {handles}: d_off of {name} is {off:#x}"
            );
        }
        for k in [0, 1, 2, 700, all.len() - 2] {
            let fd = open();
            rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(all[k].1)).unwrap();
            let rest: Vec<String> = read_all(&fd).into_iter().map(|e| e.0).collect();
            let want: Vec<String> = all[k + 1..].iter().map(|e| e.0.clone()).collect();
            assert_eq!(rest, want, "handles {handles}: resumed after entry {k}");
        }
        h.unmount().unwrap();
    }
}

/// In handle mode, with more directories open (each holding its listing's
/// snapshot) than there are compact offset generations (2047), new
/// listings still get a generation and list every name: the server once
/// spun forever looking for a free compact one.
#[test]
fn more_open_listings_than_compact_generations() {
    const T: &str = "more_open_listings_than_compact_generations";
    if !with_caps(T) {
        return;
    }
    const HELD: usize = 1900;
    let want = HELD as u64 + 200;
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if lim.current.is_some_and(|c| c < want) {
        let raised = rustix::process::Rlimit {
            current: lim.maximum.map(|m| m.min(want)),
            maximum: lim.maximum,
        };
        let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised);
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        if now.current.is_some_and(|c| c < want) {
            return common::skip(T, &format!("cannot open {want} files: {now:?}"));
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    for i in 0..HELD + 300 {
        fs::create_dir_all(lower.join(format!("d{i}/f"))).unwrap();
    }
    let d = dirs(tmp.path(), "m");
    let _abort = common::watch::AbortOnPanic(tmp.path().to_path_buf());
    let _dog = common::watch::Watchdog::start(
        T.to_string(),
        tmp.path().to_path_buf(),
        std::time::Duration::from_secs(120),
    );
    let h = mount_mode(std::slice::from_ref(&lower), &d, true);
    let list = |fd: &OwnedFd| {
        let mut buf = vec![MaybeUninit::uninit(); 4096];
        let mut dir = RawDir::new(fd, &mut buf);
        let mut names = Vec::new();
        while let Some(e) = dir.next() {
            names.push(e.unwrap().file_name().to_string_lossy().into_owned());
        }
        names.sort();
        names
    };
    let open = |i: usize| {
        rustix::fs::open(
            d.mnt.join(format!("d{i}")),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    };
    let mut held = Vec::new();
    for i in 0..HELD + 300 {
        let fd = open(i);
        assert_eq!(list(&fd), [".", "..", "f"], "d{i}");
        if i < HELD {
            held.push(fd);
        }
    }
    drop(held);
    h.unmount().unwrap();
}
