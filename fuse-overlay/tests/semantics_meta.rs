//! POSIX metadata semantics that the other tests leave out, mostly run over
//! kernel overlayfs and over fuse-overlay on the same lower layers with the
//! logs of results compared: timestamps across copy-up, st_ino across
//! copy-up, names that look like whiteouts. Where the point is persistence,
//! the upper directories are checked after unmount too. Lower hard links
//! are in `semantics_links.rs`, the data path (mmap, fsync, big files, ...)
//! in `semantics.rs`, xattrs in `xattrs.rs`.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::differential::*;
use common::*;
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

// ------------------------------------------------------------ 1. times

const LOWER_MTIME: Timespec = Timespec {
    tv_sec: 1_500_000_000,
    tv_nsec: 123_456_789,
};

fn set_times(p: &Path, atime: Timespec, mtime: Timespec) -> rustix::io::Result<()> {
    rustix::fs::utimensat(
        CWD,
        p,
        &Timestamps {
            last_access: atime,
            last_modification: mtime,
        },
        AtFlags::empty(),
    )
}

fn mtime(p: &Path) -> String {
    match fs::symlink_metadata(p) {
        Ok(m) => format!("{}.{:09}", m.mtime(), m.mtime_nsec()),
        Err(e) => res::<()>(Err(e)),
    }
}

fn atime(p: &Path) -> String {
    match fs::symlink_metadata(p) {
        Ok(m) => format!("{}.{:09}", m.atime(), m.atime_nsec()),
        Err(e) => res::<()>(Err(e)),
    }
}

#[test]
fn times_across_copy_up() {
    const T: &str = "times_across_copy_up";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    for n in ["u", "c", "f", "own"] {
        fs::write(l.join(n), format!("content of {n}")).unwrap();
        set_times(&l.join(n), LOWER_MTIME, LOWER_MTIME).unwrap();
    }
    let new_a = Timespec {
        tv_sec: 1_000_000_001,
        tv_nsec: 111,
    };
    let new_m = Timespec {
        tv_sec: 1_100_000_002,
        tv_nsec: 222_333_444,
    };
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        log.push(format!("u before {}", mtime(&m.join("u"))));
        log.push(format!(
            "utimensat u {}",
            rres(set_times(&m.join("u"), new_a, new_m))
        ));
        log.push(format!(
            "u mtime {} atime {}",
            mtime(&m.join("u")),
            atime(&m.join("u"))
        ));
        log.push(format!("u read {}", read(&m.join("u"))));
        log.push(format!(
            "chmod c {}",
            res(fs::set_permissions(
                m.join("c"),
                fs::Permissions::from_mode(0o600)
            ))
        ));
        log.push(format!("c mtime {}", mtime(&m.join("c"))));
        log.push(format!("c read {}", read(&m.join("c"))));
        // futimens on a descriptor opened read-only before the copy-up.
        let f = fs::File::open(m.join("f")).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_200_000_003, 444_555_666);
        log.push(format!(
            "futimens f {}",
            res(f.set_times(fs::FileTimes::new().set_modified(t)))
        ));
        log.push(format!("f mtime {}", mtime(&m.join("f"))));
        log.push(format!(
            "f mtime by fd {}",
            f.metadata()
                .map(|m| format!("{}.{:09}", m.mtime(), m.mtime_nsec()))
                .unwrap_or_default()
        ));
        drop(f);
        // UTIME_OMIT for mtime: only atime changes, the lower mtime stays.
        log.push(format!(
            "atime only {}",
            rres(set_times(
                &m.join("own"),
                new_a,
                Timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                }
            ))
        ));
        log.push(format!(
            "own mtime {} atime {}",
            mtime(&m.join("own")),
            atime(&m.join("own"))
        ));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    let lower_m = mtime(&l.join("c"));
    assert_eq!(lower_m, "1500000000.123456789");
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let u = &d.upper;
        assert_eq!(
            mtime(&u.join("u")),
            "1100000002.222333444",
            "{}",
            u.display()
        );
        assert_eq!(mtime(&u.join("c")), lower_m, "chmod copy-up kept mtime");
        assert_eq!(read(&u.join("c")), "content of c");
        assert_eq!(fs::metadata(u.join("c")).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(mtime(&u.join("f")), "1200000003.444555666");
        assert_eq!(read(&u.join("f")), "content of f");
        assert_eq!(mtime(&u.join("own")), lower_m);
    }
    for n in ["u", "c", "f", "own"] {
        assert_eq!(mtime(&l.join(n)), lower_m, "lower {n} changed");
    }
}

/// A copy-up is no change of the directories it passes through: they keep
/// their lower times, in the mount and in the upper layer; creating and
/// removing entries still changes them.
#[test]
fn parent_times_across_copy_up() {
    const T: &str = "parent_times_across_copy_up";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("d/e")).unwrap();
    fs::create_dir_all(l.join("d/h")).unwrap();
    for n in ["d/e/f", "d/e/g", "d/l1"] {
        fs::write(l.join(n), n).unwrap();
    }
    fs::hard_link(l.join("d/l1"), l.join("d/e/l2")).unwrap();
    for n in ["d/e/f", "d/e/g", "d/l1", "d/e", "d/h", "d"] {
        set_times(&l.join(n), LOWER_MTIME, LOWER_MTIME).unwrap();
    }
    let lower_m = mtime(&l.join("d"));
    let scenario = |m: &Path| {
        let same = |p: &str| (mtime(&m.join(p)) == lower_m).to_string();
        let mut log = vec![format!(
            "chmod d/e/f {}",
            res(fs::set_permissions(
                m.join("d/e/f"),
                fs::Permissions::from_mode(0o600)
            ))
        )];
        log.push(format!("kept: d {} d/e {}", same("d"), same("d/e")));
        log.push(format!(
            "write d/l1 {}",
            res(fs::write(m.join("d/l1"), "x"))
        ));
        log.push(format!("kept: d {} d/e {}", same("d"), same("d/e")));
        log.push(format!(
            "touch d/h/new {}",
            res(fs::write(m.join("d/h/new"), ""))
        ));
        log.push(format!(
            "rm d/e/g {}",
            res(fs::remove_file(m.join("d/e/g")))
        ));
        log.push(format!(
            "kept: d {} d/e {} d/h {}",
            same("d"),
            same("d/e"),
            same("d/h")
        ));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    run.has("kept: d true d/e true");
    run.has("kept: d true d/e false d/h false");
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        assert_eq!(mtime(&d.upper.join("d")), lower_m, "{}", d.upper.display());
        assert_ne!(mtime(&d.upper.join("d/e")), lower_m);
    }
}

// ------------------------------------------------------ 2. st_ino

#[test]
fn st_ino_across_copy_up() {
    const T: &str = "st_ino_across_copy_up";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    for n in ["w", "c", "t", "x"] {
        fs::write(l.join(n), n).unwrap();
    }
    fs::create_dir_all(l.join("d")).unwrap();
    fs::write(l.join("d/in"), "in").unwrap();
    let lower_ino: BTreeMap<&str, u64> = ["w", "c", "t", "x", "d"]
        .into_iter()
        .map(|n| (n, fs::metadata(l.join(n)).unwrap().ino()))
        .collect();
    // Whether st_ino (and st_dev) of each name are unchanged by each step.
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let st = |n: &str| {
            let md = fs::symlink_metadata(m.join(n)).unwrap();
            (md.ino(), md.dev())
        };
        let before: BTreeMap<&str, (u64, u64)> = ["w", "c", "t", "x", "d"]
            .into_iter()
            .map(|n| (n, st(n)))
            .collect();
        let same = |log: &mut Vec<String>, what: &str| {
            let now: Vec<String> = before
                .iter()
                .map(|(n, v)| format!("{n}={}", st(n) == *v))
                .collect();
            log.push(format!("{what}: {}", now.join(" ")));
        };
        let mut w = OpenOptions::new().append(true).open(m.join("w")).unwrap();
        same(&mut log, "opened w for writing");
        w.write_all(b" more").unwrap();
        drop(w);
        same(&mut log, "wrote w");
        fs::set_permissions(m.join("c"), fs::Permissions::from_mode(0o600)).unwrap();
        same(&mut log, "chmod c");
        OpenOptions::new()
            .write(true)
            .open(m.join("t"))
            .unwrap()
            .set_len(0)
            .unwrap();
        same(&mut log, "truncate t");
        fs::write(m.join("d/new"), "n").unwrap();
        same(&mut log, "dir d copied up");
        if drop_caches() {
            same(&mut log, "after drop_caches");
        } else {
            log.push("no drop_caches".into());
        }
        // With the file kept in use by an open descriptor.
        let keep = fs::File::open(m.join("x")).unwrap();
        fs::set_permissions(m.join("x"), fs::Permissions::from_mode(0o600)).unwrap();
        log.push(format!(
            "x by fd after chmod same: {}",
            keep.metadata().unwrap().ino() == before["x"].0
        ));
        same(&mut log, "chmod x while open");
        // st_ino of each name against the lower file's st_ino: logged per
        // driver, not compared (fuse-overlay numbers inodes itself).
        let eq_lower: Vec<String> = lower_ino
            .iter()
            .map(|(n, i)| format!("{n}={}", st(n).0 == *i))
            .collect();
        println!("st_ino equals the lower's: {}", eq_lower.join(" "));
        log
    };
    let Some(run) = differential(T, tmp.path(), &[l], &[("fuse", opts(false))], scenario) else {
        return;
    };
    // Concrete: every line says every name kept its st_ino.
    let d = dirs(tmp.path(), "fuse-check");
    let h = mount_fuse_with(&[tmp.path().join("lower")], &d, opts(false));
    let a = fs::metadata(d.mnt.join("x")).unwrap().ino();
    fs::write(d.mnt.join("x"), "rewritten").unwrap();
    let b = fs::metadata(d.mnt.join("x")).unwrap().ino();
    drop_caches();
    let c = fs::metadata(d.mnt.join("x")).unwrap().ino();
    h.unmount().unwrap();
    assert_eq!((a, a), (b, c), "st_ino changed across copy-up");
    assert!(run.log.len() >= 8);
    for l in &run.log {
        assert!(!l.contains("false"), "{l}");
    }
    assert!(run.fuse[0].upper.join("w").exists());
}

// ---------------------------------------- 3. names like whiteouts

/// Names that start with `.wh.` made through the mount (kernel overlayfs
/// allows them; fuse-overlay stores them escaped so they are not taken for
/// its markers): create, read, list, rename, a directory of them, an
/// opaque-marker name, unlink; with xattrs and with the marker layout, and
/// across a remount.
#[test]
fn names_that_look_like_whiteouts() {
    const T: &str = "names_that_look_like_whiteouts";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("d")).unwrap();
    fs::write(l.join("d/x"), "lower x").unwrap();
    fs::write(l.join("gone"), "lower gone").unwrap();
    let list = |p: &Path| {
        let mut v: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v.join(",")
    };
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let mut r = |what: &str, x: String| log.push(format!("{what}: {x}"));
        r(
            "write .wh.x",
            res(fs::write(m.join(".wh.x"), "not a whiteout")),
        );
        r("read .wh.x", read(&m.join(".wh.x")));
        r("x still there", read(&m.join("x")));
        r("write d/.wh.x", res(fs::write(m.join("d/.wh.x"), "in d")));
        r("d/x kept", read(&m.join("d/x")));
        r(
            "marker name",
            res(fs::write(m.join("d/.wh..wh..opq"), "opq")),
        );
        r("ls d", list(&m.join("d")));
        r("mkdir .wh.dir", res(fs::create_dir(m.join(".wh.dir"))));
        r(
            "write .wh.dir/.wh.in",
            res(fs::write(m.join(".wh.dir/.wh.in"), "in")),
        );
        r("ls .wh.dir", list(&m.join(".wh.dir")));
        r("rename", res(fs::rename(m.join(".wh.x"), m.join(".wh.y"))));
        r(
            "rename onto plain",
            res(fs::rename(m.join(".wh.y"), m.join("plain"))),
        );
        r("read plain", read(&m.join("plain")));
        r("rm gone", res(fs::remove_file(m.join("gone"))));
        r("make .wh.gone", res(fs::write(m.join(".wh.gone"), "")));
        r("gone stays gone", read(&m.join("gone")));
        r("unlink .wh.gone", res(fs::remove_file(m.join(".wh.gone"))));
        r("rm -r .wh.dir", res(fs::remove_dir_all(m.join(".wh.dir"))));
        r("ls /", list(m));
        r("ls d again", list(&m.join("d")));
        log
    };
    let marker = fuse_overlay::Options {
        xattrs: false,
        ..opts(false)
    };
    let variants = [("fuse", opts(false)), ("fuse-markers", marker)];
    let Some(run) = differential(T, tmp.path(), std::slice::from_ref(&l), &variants, scenario)
    else {
        return;
    };
    run.has("ls d: .wh..wh..opq,.wh.x,x");
    run.has("read plain: not a whiteout");
    run.has("gone stays gone: errno 2");
    run.has("ls /: d,plain");
    // Stored escaped, and shown again after a remount.
    for (d, (_, o)) in run.fuse.iter().zip(&variants) {
        assert!(
            d.upper.join("d/.wh..wh..esc.wh..wh..opq").exists(),
            "{}",
            d.upper.display()
        );
        let h = mount_fuse_with(std::slice::from_ref(&l), d, o.clone());
        assert_eq!(list(&d.mnt.join("d")), ".wh..wh..opq,.wh.x,x");
        assert_eq!(read(&d.mnt.join("d/.wh.x")), "in d");
        assert_eq!(list(&d.mnt), "d,plain");
        h.unmount().unwrap();
    }
}
