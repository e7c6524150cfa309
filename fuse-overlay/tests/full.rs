//! A full upper layer (no inode left, as on a filesystem or quota that is
//! full): a rename or an unlink that needs a whiteout fails with ENOSPC
//! before anything moved, so the union is unchanged, in the mount and after
//! a remount.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

/// Makes files in `dir` until the filesystem has no inode left.
fn fill_inodes(dir: &Path) {
    fs::create_dir(dir).unwrap();
    for i in 0.. {
        if fs::write(dir.join(format!("f{i}")), "").is_err() {
            return;
        }
        assert!(i < 100_000, "the filesystem never filled up");
    }
}

fn state(m: &Path) -> String {
    let mut v: Vec<String> = fs::read_dir(m)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    let a = fs::read_to_string(m.join("a")).unwrap_or_else(|e| format!("({e})"));
    format!("{} a={a}", v.join(","))
}

#[test]
fn a_full_upper_layer_fails_changes_whole() {
    const T: &str = "a_full_upper_layer_fails_changes_whole";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("lower");
    fs::create_dir(&l).unwrap();
    fs::write(l.join("a"), "lower a").unwrap();
    fs::write(l.join("c"), "lower c").unwrap();
    let small = tmp.path().join("small");
    fs::create_dir(&small).unwrap();
    let _unmount = match mount_tmpfs(&small, Some("nr_inodes=64")) {
        Ok(u) => u,
        Err(e) => return skip(T, &format!("cannot mount tmpfs: {e}")),
    };
    for old in [false, true] {
        let d = dirs(&small, &format!("m{old}"));
        let h = mount_fuse_with(std::slice::from_ref(&l), &d, variant(true, false, old));
        // `a` and `c` copied up while there is room (a chmod copies up).
        for n in ["a", "c"] {
            fs::set_permissions(d.mnt.join(n), fs::Permissions::from_mode(0o600)).unwrap();
        }
        fill_inodes(&small.join(format!("filler{old}")));
        let before = state(&d.mnt);
        let e = fs::rename(d.mnt.join("a"), d.mnt.join("b")).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ENOSPC),
            "4.18 {old}: rename: {e}"
        );
        assert_eq!(
            state(&d.mnt),
            before,
            "4.18 {old}: a failed rename moved something"
        );
        let e = fs::remove_file(d.mnt.join("c")).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ENOSPC),
            "4.18 {old}: unlink: {e}"
        );
        assert_eq!(
            state(&d.mnt),
            before,
            "4.18 {old}: a failed unlink removed something"
        );
        h.unmount().unwrap();
        // Room again (mounting checks the work directory takes a file).
        fs::remove_dir_all(small.join(format!("filler{old}"))).unwrap();
        let h = mount_fuse_with(std::slice::from_ref(&l), &d, variant(true, false, old));
        assert_eq!(state(&d.mnt), before, "4.18 {old}: after a remount");
        h.unmount().unwrap();
    }
}
