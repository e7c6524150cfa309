//! Lower hard links through the overlay, run over kernel overlayfs and
//! over fuse-overlay on the same lower layers with the logs of results
//! compared where both can: d_ino and st_ino of the names of one lower
//! inode, changes through one name persisting across a remount and
//! renames, and the link names staying on the layers' filesystem. Split
//! from `semantics_meta.rs` (the other metadata semantics), which they
//! made too long.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirEntryExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::differential::*;
use common::*;

#[test]
fn lower_hard_links() {
    const T: &str = "lower_hard_links";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("d")).unwrap();
    fs::write(l.join("h1"), "linked").unwrap();
    fs::hard_link(l.join("h1"), l.join("h2")).unwrap();
    fs::hard_link(l.join("h1"), l.join("d/h3")).unwrap();
    fs::write(l.join("plain"), "p").unwrap();
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        // `full`: also nlink, content and st_ino equality of the other
        // names (see the note below on why not after a copy-up).
        let state = |log: &mut Vec<String>, when: &str, full: bool| {
            let mut d_ino = BTreeMap::new();
            for dir in [m.to_path_buf(), m.join("d")] {
                for e in fs::read_dir(&dir).unwrap() {
                    let e = e.unwrap();
                    d_ino.insert(e.path(), e.ino());
                }
            }
            let names = ["h1", "h2", "d/h3"];
            let st: Vec<fs::Metadata> = names
                .iter()
                .map(|n| fs::metadata(m.join(n)).unwrap())
                .collect();
            for (n, s) in names.iter().zip(&st) {
                if full {
                    log.push(format!(
                        "{when} {n}: d_ino==st_ino {} nlink {} data {}",
                        d_ino[&m.join(n)] == s.ino(),
                        s.nlink(),
                        read(&m.join(n))
                    ));
                } else if *n == "h1" {
                    log.push(format!(
                        "{when} {n}: d_ino==st_ino {} data {}",
                        d_ino[&m.join(n)] == s.ino(),
                        read(&m.join(n))
                    ));
                } else {
                    log.push(format!(
                        "{when} {n}: d_ino==st_ino {}",
                        d_ino[&m.join(n)] == s.ino()
                    ));
                }
            }
            if full {
                log.push(format!(
                    "{when} h1==h2 {} h1==h3 {} h2==h3 {}",
                    st[0].ino() == st[1].ino(),
                    st[0].ino() == st[2].ino(),
                    st[1].ino() == st[2].ino()
                ));
            }
            log.push(format!(
                "{when} plain d_ino==st_ino {}",
                d_ino[&m.join("plain")] == fs::metadata(m.join("plain")).unwrap().ino()
            ));
        };
        state(&mut log, "lower", true);
        let w = OpenOptions::new()
            .append(true)
            .open(m.join("h1"))
            .and_then(|mut f| f.write_all(b" +h1"));
        log.push(format!("append h1 {}", res(w)));
        // Not compared after the copy-up: kernel overlayfs (index=off, as
        // userxattr forces) breaks the link, so h2 and d/h3 keep the lower
        // content and st_ino; fuse-overlay keeps the names it knows one
        // object, in the mount and linked in the upper layer (see
        // `lower_hard_link_changes_persist`). A known difference.
        state(&mut log, "after write", false);
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
    assert_eq!(read(&l.join("h2")), "linked", "lower changed");
    run.has("lower h1==h2 true h1==h3 true h2==h3 true");
    for n in ["h1", "h2", "d/h3"] {
        run.has(&format!(
            "lower {n}: d_ino==st_ino true nlink 3 data linked"
        ));
    }
    run.has("after write h1: d_ino==st_ino true data linked +h1");
    run.has("after write h2: d_ino==st_ino true");
    run.has("after write d/h3: d_ino==st_ino true");
    assert!(
        !run.kernel.upper.join("h2").exists(),
        "kernel: h2 copied up"
    );
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        assert_eq!(
            read(&d.upper.join("h1")),
            "linked +h1",
            "{}",
            d.upper.display()
        );
    }
    // fuse-overlay linked the names it had looked up to the copy.
    for d in &run.fuse {
        let h1 = fs::metadata(d.upper.join("h1")).unwrap();
        for n in ["h2", "d/h3"] {
            let other = fs::metadata(d.upper.join(n)).unwrap();
            assert_eq!(other.ino(), h1.ino(), "{n} in {}", d.upper.display());
        }
    }
}

/// Content, permission bits, st_ino and nlink of a path.
fn link_state(p: &Path) -> (String, u32, u64, u64) {
    let md = fs::metadata(p).unwrap();
    (read(p), md.mode() & 0o7777, md.ino(), md.nlink())
}

/// Asserts d1/h1 and d2/h2 under `root` are one file with the new content
/// and mode 0600; returns its st_ino.
fn assert_linked(root: &Path, when: &str) -> u64 {
    let (c1, m1, i1, n1) = link_state(&root.join("d1/h1"));
    let (c2, m2, i2, n2) = link_state(&root.join("d2/h2"));
    println!("{when}: h1 {c1:?} {m1:o} ino {i1} nlink {n1}; h2 {c2:?} {m2:o} ino {i2} nlink {n2}");
    assert_eq!(
        (c1.as_str(), c2.as_str()),
        ("new", "new"),
        "{when}: content"
    );
    assert_eq!((m1, m2), (0o600, 0o600), "{when}: mode");
    assert_eq!(i1, i2, "{when}: h1 and h2 split");
    assert!(n1 >= 2 && n2 >= 2, "{when}: nlink {n1} {n2}");
    i1
}

/// A lower layer and a plain directory alike: `d1/h1` ("old content",
/// 0644) hard-linked as `d2/h2` and as each of `more`.
fn linked_lowers(more: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    let plain = lower(tmp.path(), "plain");
    for r in [&l, &plain] {
        fs::create_dir_all(r.join("d1")).unwrap();
        fs::create_dir_all(r.join("d2")).unwrap();
        fs::write(r.join("d1/h1"), "old content").unwrap();
        fs::set_permissions(r.join("d1/h1"), fs::Permissions::from_mode(0o644)).unwrap();
        for n in ["d2/h2"].iter().chain(more) {
            fs::hard_link(r.join("d1/h1"), r.join(n)).unwrap();
        }
    }
    (tmp, l, plain)
}

/// A write through one name of a lower hard link and a chmod through
/// another, both looked up first, stay one file: in the mount, after a
/// remount, and in the upper directory. Not differential (kernel overlayfs
/// without an index breaks the link at copy-up): checked against a plain
/// directory. d1/h3, never looked up, joins them too (the copy-up finds it
/// in the layer); d2/gone, whited out by the upper lower layer, does not.
#[test]
fn lower_hard_link_changes_persist() {
    const T: &str = "lower_hard_link_changes_persist";
    if !with_caps(T) {
        return;
    }
    let (tmp, l, plain) = linked_lowers(&["d1/h3"]);
    fs::hard_link(l.join("d1/h1"), l.join("d2/gone")).unwrap();
    let top = lower(tmp.path(), "top");
    fs::create_dir_all(top.join("d2")).unwrap();
    whiteout(&top.join("d2/gone"));
    let lowers = [top, l.clone()];
    let change = |m: &Path| {
        fs::metadata(m.join("d1/h1")).unwrap();
        fs::metadata(m.join("d2/h2")).unwrap();
        fs::write(m.join("d1/h1"), "new").unwrap();
        fs::set_permissions(m.join("d2/h2"), fs::Permissions::from_mode(0o600)).unwrap();
    };
    change(&plain);
    assert_linked(&plain, "plain directory");
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(&lowers, &d, opts(false));
    change(&d.mnt);
    let ino = assert_linked(&d.mnt, "in the mount");
    let h3 = link_state(&d.mnt.join("d1/h3"));
    assert_eq!(
        (h3.0.as_str(), h3.1, h3.2),
        ("new", 0o600, ino),
        "h3 in the mount"
    );
    h.unmount().unwrap();
    let h = mount_fuse_with(&lowers, &d, opts(false));
    let ino2 = assert_linked(&d.mnt, "after remount");
    println!("st_ino kept across remount: {}", ino == ino2);
    let h3 = link_state(&d.mnt.join("d1/h3"));
    assert_eq!(
        (h3.0.as_str(), h3.1, h3.2),
        ("new", 0o600, ino2),
        "h3 after remount"
    );
    assert!(
        !d.mnt.join("d2/gone").exists(),
        "a whited-out name came back"
    );
    h.unmount().unwrap();
    assert_linked(&d.upper, "upper directory");
    let up = |n: &str| fs::symlink_metadata(d.upper.join(n)).map(|m| m.ino());
    assert_eq!(
        up("d1/h3").unwrap(),
        up("d1/h1").unwrap(),
        "h3 not linked in the upper layer"
    );
    assert!(up("d2/gone").is_err(), "the whited-out name was linked");
    assert_eq!(
        link_state(&l.join("d1/h1")).0,
        "old content",
        "lower changed"
    );
    assert_eq!(link_state(&l.join("d2/h2")).1, 0o644, "lower changed");
}

/// The same when the copy-up comes from renaming the directory that holds
/// one name (the rename copies the directory's files up): d1 is renamed to
/// d9, then d2/h2 is written, d9/h1 chmod'ed and written. d2/h3, never
/// looked up, joins them (the rename's scan finds it). Checked against a
/// plain directory, in the mount, after a remount and in the upper
/// directory.
#[test]
fn lower_hard_link_survives_directory_rename() {
    const T: &str = "lower_hard_link_survives_directory_rename";
    if !with_caps(T) {
        return;
    }
    let (tmp, l, plain) = linked_lowers(&["d2/h3"]);
    let change = |m: &Path| {
        // d2/h2 first: the name outside the renamed directory is the one
        // the mount knows the file by.
        fs::metadata(m.join("d2/h2")).unwrap();
        fs::metadata(m.join("d1/h1")).unwrap();
        fs::rename(m.join("d1"), m.join("d9")).unwrap();
        fs::write(m.join("d2/h2"), "first").unwrap();
        fs::set_permissions(m.join("d9/h1"), fs::Permissions::from_mode(0o600)).unwrap();
        // Through the name the rename copied up, too.
        fs::write(m.join("d9/h1"), "new").unwrap();
    };
    let check = |root: &Path, when: &str| {
        let one = link_state(&root.join("d9/h1"));
        let two = link_state(&root.join("d2/h2"));
        let three = link_state(&root.join("d2/h3"));
        println!("{when}: d9/h1 {one:?}; d2/h2 {two:?}; d2/h3 {three:?}");
        assert_eq!((one.0.as_str(), one.1), ("new", 0o600), "{when}: d9/h1");
        assert_eq!((two.0.as_str(), two.1), ("new", 0o600), "{when}: d2/h2");
        assert_eq!((three.0.as_str(), three.1), ("new", 0o600), "{when}: d2/h3");
        assert_eq!(one.2, two.2, "{when}: the names split");
        assert_eq!(one.2, three.2, "{when}: the unseen name split");
    };
    change(&plain);
    check(&plain, "plain directory");
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    change(&d.mnt);
    check(&d.mnt, "in the mount");
    h.unmount().unwrap();
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    check(&d.mnt, "after remount");
    h.unmount().unwrap();
    check(&d.upper, "upper directory");
    assert_eq!(
        link_state(&l.join("d1/h1")).0,
        "old content",
        "lower changed"
    );
}

/// Renaming one name of a lower hard link (which copies it up) keeps the
/// other name sharing the copy: a write through the new name shows through
/// the other one, in the mount, after a remount and in the upper layer.
#[test]
fn lower_hard_link_survives_file_rename() {
    const T: &str = "lower_hard_link_survives_file_rename";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("a")).unwrap();
    fs::write(l.join("a/x"), "old content").unwrap();
    fs::hard_link(l.join("a/x"), l.join("a/y")).unwrap();
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    fs::metadata(d.mnt.join("a/x")).unwrap();
    fs::metadata(d.mnt.join("a/y")).unwrap();
    fs::rename(d.mnt.join("a/y"), d.mnt.join("a/z")).unwrap();
    fs::write(d.mnt.join("a/z"), "new").unwrap();
    let check = |root: &Path, when: &str| {
        let x = link_state(&root.join("a/x"));
        let z = link_state(&root.join("a/z"));
        assert_eq!((x.0.as_str(), z.0.as_str()), ("new", "new"), "{when}");
        assert_eq!(x.2, z.2, "{when}: the names split");
        // In the upper layer itself the old name is a whiteout.
        let y = fs::symlink_metadata(root.join("a/y"));
        let whiteout = y
            .as_ref()
            .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0);
        assert!(
            y.is_err() || (when == "upper directory" && whiteout),
            "{when}: a/y came back"
        );
    };
    check(&d.mnt, "in the mount");
    h.unmount().unwrap();
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    check(&d.mnt, "after remount");
    h.unmount().unwrap();
    check(&d.upper, "upper directory");
    assert_eq!(link_state(&l.join("a/x")).0, "old content", "lower changed");
}

/// The names of a lower hard link are found by inode number within the
/// layer's own filesystem only: a file of another filesystem mounted in the
/// layer that happens to have the same inode number is not linked to the
/// copy (and does not use up the link count, so the real second name is).
#[test]
fn lower_hard_link_names_stay_on_the_layers_filesystem() {
    const T: &str = "lower_hard_link_names_stay_on_the_layers_filesystem";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    let _unmount = match mount_tmpfs(&l, None) {
        Ok(u) => u,
        Err(e) => return skip(T, &format!("cannot mount tmpfs: {e}")),
    };
    // `sub` first: tmpfs lists newest first, so the walk reaches `sub`
    // before `d`.
    fs::create_dir_all(l.join("sub")).unwrap();
    fs::create_dir_all(l.join("d")).unwrap();
    fs::write(l.join("d/a"), "old").unwrap();
    fs::hard_link(l.join("d/a"), l.join("d/b")).unwrap();
    let ino = fs::metadata(l.join("d/a")).unwrap().ino();
    let _unmount_sub = mount_tmpfs(&l.join("sub"), None).unwrap();
    // tmpfs numbers inodes in order: make files in the inner one until one
    // has d/a's number.
    let twin = (0..10_000).map(|i| l.join(format!("sub/f{i}"))).find(|p| {
        fs::write(p, "other").unwrap();
        fs::metadata(p).unwrap().ino() == ino
    });
    let Some(twin) = twin else {
        return skip(T, &format!("no inode {ino} in the inner tmpfs"));
    };
    let twin = twin.strip_prefix(&l).unwrap().to_path_buf();
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    fs::write(d.mnt.join("d/a"), "new").unwrap();
    h.unmount().unwrap();
    let h = mount_fuse_with(std::slice::from_ref(&l), &d, opts(false));
    assert_eq!(read(&d.mnt.join("d/b")), "new", "the second name split");
    assert_eq!(
        read(&d.mnt.join(&twin)),
        "other",
        "the other filesystem's file"
    );
    h.unmount().unwrap();
    assert!(
        !d.upper.join(&twin).exists(),
        "{} was linked to the copy",
        twin.display()
    );
}
