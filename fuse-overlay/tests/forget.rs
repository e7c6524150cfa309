//! The server frees the inodes the kernel forgets, and inode numbers stay
//! the same when the kernel looks the objects up again.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{dirs, drop_caches, mount_fuse, real_root, skip};

const DIRS: usize = 20;
const FILES: usize = 100;

fn inos(root: &Path) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for d in 0..DIRS {
        for f in 0..FILES {
            let rel = format!("d{d}/f{f}");
            v.push((
                rel.clone(),
                std::fs::metadata(root.join(&rel)).unwrap().ino(),
            ));
        }
    }
    v
}

#[test]
fn forgotten_inodes_are_freed_and_keep_their_numbers() {
    let test = "forgotten_inodes_are_freed_and_keep_their_numbers";
    if !real_root() {
        // Only real root can make the kernel drop its dentry cache, which is
        // what makes it send FORGET.
        skip(test, "dropping the kernel's caches needs real root");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let lower = base.path().join("lower");
    for d in 0..DIRS {
        let dir = lower.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES {
            std::fs::write(dir.join(format!("f{f}")), format!("{d}/{f}")).unwrap();
        }
    }
    std::fs::write(lower.join("h1"), "lower").unwrap();
    std::fs::hard_link(lower.join("h1"), lower.join("h2")).unwrap();
    let d = dirs(base.path(), "m");
    let m = mount_fuse(std::slice::from_ref(&lower), &d, true);
    let mnt = m.mountpoint().to_path_buf();

    let before = inos(&mnt);
    // Copy up one name of the lower hard link pair.
    std::fs::write(mnt.join("h1"), "upper").unwrap();
    let h1 = std::fs::metadata(mnt.join("h1")).unwrap().ino();
    let peak = m.live_inodes();
    assert!(
        peak > DIRS * FILES,
        "only {peak} live inodes after the walk"
    );

    assert!(drop_caches(), "cannot write /proc/sys/vm/drop_caches");
    let t0 = Instant::now();
    while m.live_inodes() > 50 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        drop_caches();
    }
    let after_forget = m.live_inodes();
    assert!(
        after_forget <= 50,
        "{after_forget} of {peak} inodes still live after the kernel dropped its caches"
    );

    assert_eq!(inos(&mnt), before, "inode numbers changed after forget");
    assert_eq!(std::fs::metadata(mnt.join("h1")).unwrap().ino(), h1);
    // The copied-up node is kept: the other name still shows the copy.
    assert_eq!(std::fs::read_to_string(mnt.join("h2")).unwrap(), "upper");
    assert_eq!(std::fs::read_to_string(mnt.join("d3/f7")).unwrap(), "3/7");
    m.unmount().unwrap();
}
