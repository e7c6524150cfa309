//! Several threads reading, writing, creating, renaming and removing at
//! once must neither deadlock nor break the mount.

mod common;

use std::fs;
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

#[test]
fn concurrent_operations_do_not_deadlock() {
    if !with_caps("concurrent_operations_do_not_deadlock") {
        return;
    }
    stress(false);
    stress(true);
}

/// One run, with the kernel's writeback cache on or off.
fn stress(writeback: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("lower");
    for t in 0..4 {
        fs::create_dir_all(l.join(format!("t{t}/sub"))).unwrap();
        fs::write(l.join(format!("t{t}/sub/f")), vec![b'x'; 100_000]).unwrap();
    }
    fs::create_dir_all(l.join("shared")).unwrap();
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse_wb(std::slice::from_ref(&l), &d, true, writeback);
    let (tx, rx) = mpsc::channel();
    let mnt = d.mnt.clone();
    std::thread::spawn(move || {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let m = mnt.clone();
                std::thread::spawn(move || {
                    let mut x = t + 1;
                    for i in 0..400 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let own = m.join(format!("t{t}"));
                        let shared = m.join(format!("shared/n{}", x % 8));
                        let _ = match x % 9 {
                            0 => fs::rename(own.join("sub"), own.join("sub2")),
                            1 => fs::rename(own.join("sub2"), own.join("sub")),
                            2 => fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&shared)
                                .and_then(|mut f| f.write_all(b"abc")),
                            3 => fs::remove_file(&shared),
                            4 => fs::rename(&shared, m.join(format!("shared/n{}", i % 8))),
                            5 => fs::read_dir(m.join("shared")).map(|r| r.count()).map(drop),
                            6 => fs::read(own.join("sub/f")).map(drop),
                            7 => fs::create_dir(own.join(format!("d{}", i % 5))),
                            _ => fs::remove_dir(own.join(format!("d{}", i % 5))),
                        };
                    }
                })
            })
            .collect();
        // Meanwhile the kernel keeps forgetting inodes (when we may make it).
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dropper = {
            let done = done.clone();
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) && drop_caches() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        dropper.join().unwrap();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!("stress threads (writeback {writeback}) did not finish in 120 s: deadlock?")
        });
    dump(&d.mnt);
    h.unmount().unwrap();
}
