//! Listings are the same whether the first batch of a directory carries
//! attributes (readdirplus) or only `.` and `..` (lite): same names, each
//! once, `d_ino` equal to `st_ino`, in directories larger than one batch,
//! with whiteouts and merged layers, and when the caller stats entries
//! between batches (which makes the kernel switch to readdirplus midway).

mod common;

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::{dirs, dump, mount_fuse_with, with_caps};
use fuse_overlay::{Options, ReaddirPlus};

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
        for stat_between in [false, true] {
            let d = dirs(tmp.path(), &format!("m{i}{stat_between}"));
            let h = mount_fuse_with(
                &lowers,
                &d,
                Options {
                    readdirplus: mode,
                    ..Options::default()
                },
            );
            let big = list(&d.mnt.join("big"), stat_between);
            let small = list(&d.mnt.join("small"), stat_between);
            assert_eq!(big.len(), 2500, "{mode:?}");
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
