//! The marker layout: `.wh.NAME` whiteouts and `.wh..wh..opq` opaque
//! markers are honoured in lower layers, and written to the upper layer
//! when xattrs are disabled.

mod common;

use std::fs;
use std::io::Write;

use common::*;

#[test]
fn marker_layout_read_and_written() {
    if !with_caps("marker_layout_read_and_written") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l1 = tmp.path().join("l1");
    let l2 = tmp.path().join("l2");
    for d in ["opq", "keep"] {
        fs::create_dir_all(l1.join(d)).unwrap();
        fs::create_dir_all(l2.join(d)).unwrap();
    }
    fs::write(l2.join("gone"), "x").unwrap();
    fs::write(l1.join(".wh.gone"), "").unwrap();
    fs::write(l2.join("opq/hidden"), "x").unwrap();
    fs::write(l1.join("opq/.wh..wh..opq"), "").unwrap();
    fs::write(l1.join("opq/shown"), "x").unwrap();
    fs::write(l2.join("keep/a"), "a").unwrap();
    fs::create_dir_all(l2.join("dd/sub")).unwrap();
    fs::write(l2.join("dd/sub/f"), "f").unwrap();
    let lowers = vec![l1, l2];
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse(&lowers, &d, false);
    let m = &d.mnt;
    let names = |p: &std::path::Path| {
        let mut v: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(m), ["dd", "keep", "opq"]);
    assert_eq!(names(&m.join("opq")), ["shown"]);
    assert!(!m.join("gone").exists());
    fs::remove_file(m.join("keep/a")).unwrap();
    assert!(
        d.upper.join("keep/.wh.a").is_file(),
        "marker whiteout not written"
    );
    fs::remove_dir_all(m.join("dd")).unwrap();
    assert!(d.upper.join(".wh.dd").is_file());
    fs::create_dir(m.join("dd")).unwrap();
    assert!(
        d.upper.join("dd/.wh..wh..opq").is_file(),
        "opaque marker not written"
    );
    assert_eq!(names(&m.join("dd")), Vec::<String>::new());
    fs::write(m.join("dd/new"), "n").unwrap();
    let before = dump(m);
    h.unmount().unwrap();
    let h = mount_fuse(&lowers, &d, false);
    assert_eq!(dump(m), before);
    h.unmount().unwrap();
}

/// An upper layer on a filesystem without rename flags: NFS answers
/// `EINVAL` to `RENAME_NOREPLACE`, with which copy-up and marker whiteouts
/// move what they made into place; bindfs (here, as NFS cannot be mounted
/// on these machines) answers the same. Copy-up of a directory and of a
/// file, and a deletion, still land.
#[test]
fn upper_without_rename_flags() {
    let test = "upper_without_rename_flags";
    if !rustix::process::geteuid().is_root() {
        skip(test, "mounting bindfs needs real root");
        return;
    }
    if !std::path::Path::new("/usr/bin/bindfs").exists() {
        skip(test, "bindfs is not installed (tests/run.sh installs it)");
        return;
    }
    if !with_caps(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    fs::create_dir_all(lower.join("dir")).unwrap();
    fs::write(lower.join("dir/f"), "f").unwrap();
    fs::write(lower.join("top"), "t").unwrap();
    let (src, nfs) = (tmp.path().join("src"), tmp.path().join("nfs"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&nfs).unwrap();
    let st = std::process::Command::new("bindfs")
        .arg(&src)
        .arg(&nfs)
        .status()
        .unwrap();
    assert!(st.success(), "bindfs: {st}");
    let _bindfs = Unmount(nfs.clone());
    fs::write(nfs.join("a"), "").unwrap();
    let r = rustix::fs::renameat_with(
        rustix::fs::CWD,
        nfs.join("a"),
        rustix::fs::CWD,
        nfs.join("b"),
        rustix::fs::RenameFlags::NOREPLACE,
    );
    assert_eq!(r, Err(rustix::io::Errno::INVAL), "bindfs took rename flags");
    fs::remove_file(nfs.join("a")).unwrap();
    let d = Dirs {
        upper: nfs.join("upper"),
        work: nfs.join("work"),
        mnt: tmp.path().join("mnt"),
    };
    for p in [&d.upper, &d.work, &d.mnt] {
        fs::create_dir_all(p).unwrap();
    }
    let h = mount_fuse(&[lower], &d, false);
    let m = &d.mnt;
    fs::write(m.join("dir/new"), "n").unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(m.join("top"))
        .unwrap()
        .write_all(b"+")
        .unwrap();
    fs::remove_file(m.join("dir/f")).unwrap();
    let names: Vec<String> = fs::read_dir(m.join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["new"]);
    assert_eq!(fs::read_to_string(m.join("top")).unwrap(), "t+");
    assert!(d.upper.join("dir/.wh.f").exists(), "marker whiteout");
    h.unmount().unwrap();
}
