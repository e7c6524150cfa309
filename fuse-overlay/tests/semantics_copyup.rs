//! Reads through a descriptor opened before a copy-up, run over kernel
//! overlayfs and over fuse-overlay on the same lower layers with the logs
//! of results compared: a read-only descriptor on a lower file follows the
//! copy-up that a write through another descriptor, a directory rename or
//! a file rename makes, also when the opens race with the copy-up. The
//! rest of the data path is in `semantics.rs`.

mod common;

use std::fs::{self, OpenOptions};
use std::os::fd::AsFd;
use std::path::Path;

use common::differential::*;
use common::*;

const MIB: u64 = 1 << 20;

const RD_LEN: usize = MIB as usize;
/// Written through a second descriptor: the first pages, and three pages
/// from 900 KiB + 100, none of which the first descriptor has read.
const RD_WRITES: [(usize, usize); 2] = [(0, 3 * 4096 + 100), (900 * 1024 + 100, 2 * 4096)];

/// Whether `len` bytes at `off` read through `f` equal `want` there.
fn pread_matches(f: &fs::File, off: usize, len: usize, want: &[u8]) -> String {
    let mut buf = vec![0u8; len];
    match rustix::io::pread(f.as_fd(), &mut buf, off as u64) {
        Ok(n) => (n == len && buf == want[off..off + len]).to_string(),
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

/// A descriptor opened read-only on a lower file before another descriptor
/// writes (and so copies it up) follows the copy-up, as kernel overlayfs
/// does since 4.19: pread through it sees the new data, in pages it had
/// read and in pages it had not, with the page cache kept or dropped.
#[test]
fn read_fd_sees_copy_up() {
    const T: &str = "read_fd_sees_copy_up";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    let old: Vec<u8> = (0..RD_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    let mut new = old.clone();
    for (off, len) in RD_WRITES {
        for (i, b) in new.iter_mut().enumerate().skip(off).take(len) {
            *b = b'0' + (i % 10) as u8;
        }
    }
    for n in ["cached", "dropped"] {
        fs::write(l.join(n), &old).unwrap();
    }
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        for n in ["cached", "dropped"] {
            let a = fs::File::open(m.join(n)).unwrap();
            log.push(format!(
                "{n} A reads old: {}",
                pread_matches(&a, 0, 1, &old)
            ));
            let b = OpenOptions::new().write(true).open(m.join(n)).unwrap();
            for (off, len) in RD_WRITES {
                let w = rustix::io::pwrite(b.as_fd(), &new[off..off + len], off as u64);
                log.push(format!("{n} write at {off}: {}", rres(w)));
            }
            if n == "dropped" {
                b.sync_all().unwrap();
                // common::drop_caches drops dentries and inodes only; this
                // evicts the clean pages of the file.
                drop_caches();
                let none = None;
                let f = rustix::fs::fadvise(&a, 0, none, rustix::fs::Advice::DontNeed);
                log.push(format!("{n} fadvise DONTNEED: {}", rres(f)));
            }
            for (off, len) in RD_WRITES.into_iter().chain([(500 * 1024, 100)]) {
                let seen = pread_matches(&a, off, len, &new);
                log.push(format!("{n} A sees new at {off}: {seen}"));
            }
            let fresh = fs::File::open(m.join(n)).unwrap();
            log.push(format!(
                "{n} new fd: {}",
                pread_matches(&fresh, 0, RD_LEN, &new)
            ));
        }
        log
    };
    let variants = [("fuse", opts(false)), ("fuse-wb", opts(true))];
    let Some(run) = differential(T, tmp.path(), std::slice::from_ref(&l), &variants, scenario)
    else {
        return;
    };
    for n in ["cached", "dropped"] {
        for d in std::iter::once(&run.kernel).chain(&run.fuse) {
            assert!(
                fs::read(d.upper.join(n)).unwrap() == new,
                "{}",
                d.upper.display()
            );
        }
        assert!(fs::read(l.join(n)).unwrap() == old, "lower {n} changed");
        for (off, _) in RD_WRITES.into_iter().chain([(500 * 1024, 0)]) {
            run.has(&format!("{n} A sees new at {off}: true"));
        }
        run.has(&format!("{n} new fd: true"));
    }
}

/// The same through a directory rename: renaming a lower directory copies
/// its files up (kernel overlayfs mounted `userxattr` answers EXDEV
/// instead, so this is checked against a plain directory's behaviour): a
/// descriptor opened before the rename reads what is written through the
/// new path afterwards.
#[test]
fn read_fd_follows_directory_rename() {
    const T: &str = "read_fd_follows_directory_rename";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("dir")).unwrap();
    let old: Vec<u8> = (0..RD_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    fs::write(l.join("dir/f"), &old).unwrap();
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    let a = fs::File::open(d.mnt.join("dir/f")).unwrap();
    assert_eq!(pread_matches(&a, 0, 1, &old), "true");
    fs::rename(d.mnt.join("dir"), d.mnt.join("moved")).unwrap();
    let b = OpenOptions::new()
        .write(true)
        .open(d.mnt.join("moved/f"))
        .unwrap();
    let new = vec![b'#'; 3 * 4096];
    let off = 900 * 1024;
    rustix::io::pwrite(b.as_fd(), &new, off as u64).unwrap();
    // Out of the page cache, so that the read reaches the server.
    b.sync_all().unwrap();
    rustix::fs::fadvise(&a, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    let mut seen = vec![0u8; new.len()];
    rustix::io::pread(a.as_fd(), &mut seen, off as u64).unwrap();
    assert!(
        seen == new,
        "a descriptor opened before the rename reads stale data"
    );
    drop((a, b));
    h.unmount().unwrap();
    assert_eq!(fs::read(l.join("dir/f")).unwrap(), old, "lower changed");
}

/// The same through a file rename (which copies the file up first): a
/// descriptor opened on the old name reads what is written through the new
/// one.
#[test]
fn read_fd_follows_file_rename() {
    const T: &str = "read_fd_follows_file_rename";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::write(l.join("f"), "old content").unwrap();
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    let a = fs::File::open(d.mnt.join("f")).unwrap();
    fs::rename(d.mnt.join("f"), d.mnt.join("g")).unwrap();
    fs::write(d.mnt.join("g"), "new content").unwrap();
    rustix::fs::fadvise(&a, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    assert_eq!(pread_str(&a, 0, 64), "new content");
    drop(a);
    h.unmount().unwrap();
}

/// Read-only opens racing with the copy-up of the same lower files: every
/// descriptor, opened before or during the copy-up, reads the new content
/// afterwards (a copy-up that ran between a lower open and its handle's
/// entry missed the handle).
#[test]
fn read_fds_opened_during_copy_up_follow_it() {
    const T: &str = "read_fds_opened_during_copy_up_follow_it";
    if !with_caps(T) {
        return;
    }
    const FILES: usize = 400;
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    for i in 0..FILES {
        fs::write(l.join(format!("f{i}")), "old").unwrap();
    }
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    let m = d.mnt.clone();
    // Per file, two readers open it at the moment the writer copies it up.
    let go = std::sync::Arc::new(std::sync::Barrier::new(3));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (m, go) = (m.clone(), go.clone());
            std::thread::spawn(move || {
                (0..FILES)
                    .map(|i| {
                        go.wait();
                        fs::File::open(m.join(format!("f{i}"))).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for i in 0..FILES {
        go.wait();
        fs::write(m.join(format!("f{i}")), "new").unwrap();
    }
    let mut stale = Vec::new();
    for r in readers {
        for (i, f) in r.join().unwrap().into_iter().enumerate() {
            rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            if pread_str(&f, 0, 8) != "new" {
                stale.push(i);
            }
        }
    }
    h.unmount().unwrap();
    assert!(
        stale.is_empty(),
        "descriptors still on the lower file: {stale:?}"
    );
}
