//! Property test: random operation sequences applied to a fuse-overlay
//! mount and to a plain directory that starts as a copy of the lower layer;
//! every result (errno included) and the trees must match, also after a
//! remount.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

fn lower(base: &Path) -> PathBuf {
    let l = base.join("lower");
    for d in ["d0/d2/d3", "d1"] {
        fs::create_dir_all(l.join(d)).unwrap();
    }
    for (f, c) in [
        ("f0", "zero"),
        ("d0/f1", "one"),
        ("d0/d2/f2", "two"),
        ("d1/f0", "three"),
        ("d0/d2/d3/f3", "four"),
    ] {
        fs::write(l.join(f), c).unwrap();
    }
    l
}

fn copy_tree(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

fn random_path(rng: &mut Rng) -> String {
    let dir = rng.pick(&["", "d0/", "d1/", "d0/d2/"]);
    let name = rng.pick(&["f0", "f1", "f2", "d0", "d1", "d2"]);
    format!("{dir}{name}")
}

fn apply(root: &Path, op: u64, a: &str, b: &str, i: usize) -> String {
    let pa = root.join(a);
    let pb = root.join(b);
    let r = match op {
        0 | 1 => OpenOptions::new()
            .create(true)
            .append(true)
            .open(&pa)
            .and_then(|mut f| f.write_all(format!("data{i};").as_bytes())),
        2 => OpenOptions::new()
            .write(true)
            .open(&pa)
            .and_then(|f| f.set_len(3)),
        3 => fs::remove_file(&pa),
        4 => fs::create_dir(&pa),
        5 => fs::remove_dir(&pa),
        6 | 7 => fs::rename(&pa, &pb),
        8 => fs::hard_link(&pa, &pb),
        9 => symlink(format!("target{i}"), &pa),
        10 => fs::set_permissions(&pa, fs::Permissions::from_mode(0o600 + (i as u32 % 0o100))),
        _ => fs::read(&pa).map(|v| assert!(v.len() < 1 << 20)),
    };
    format!("op{op} {a} {b}: {}", res(r))
}

#[test]
fn random_operations_match_plain_directory() {
    if !with_caps("random_operations_match_plain_directory") {
        return;
    }
    for seed in [1u64, 7, 42, 1234, 99999] {
        let tmp = tempfile::tempdir().unwrap();
        let l = lower(tmp.path());
        let reference = tmp.path().join("ref");
        copy_tree(&l, &reference);
        // Whiteouts as xattrs or as marker files; the kernel's writeback
        // cache on or off; as a current kernel or as 4.18 drives the server.
        let variants = [
            (true, false, false),
            (false, false, false),
            (true, true, false),
            (true, false, true),
        ];
        for (xattrs, writeback, old) in variants {
            let name = format!(
                "{}{}{}",
                if xattrs { "x" } else { "m" },
                writeback as u8,
                if old { "-4.18" } else { "" }
            );
            let d = dirs(tmp.path(), &name);
            let reference = tmp.path().join(format!("ref-{name}"));
            copy_tree(&l, &reference);
            let o = variant(xattrs, writeback, old);
            let h = mount_fuse_with(std::slice::from_ref(&l), &d, o);
            let mut rng = Rng(seed * 2 + xattrs as u64 + 1);
            let mut oks = 0;
            for i in 0..400 {
                let op = rng.next() % 12;
                let a = random_path(&mut rng);
                let b = random_path(&mut rng);
                let want = apply(&reference, op, &a, &b, i);
                let got = apply(&d.mnt, op, &a, &b, i);
                assert_eq!(got, want, "seed {seed} step {i} {name}");
                oks += got.ends_with(": ok") as usize;
                if i % 10 == 5 {
                    // The kernel forgets inodes; the server must free them
                    // and still answer with the same tree afterwards.
                    drop_caches();
                }
                if i % 25 == 0 {
                    assert_eq!(dump(&d.mnt), dump(&reference), "seed {seed} step {i}");
                }
            }
            assert!(oks > 50, "only {oks} operations succeeded");
            let want = dump(&reference);
            assert_eq!(dump(&d.mnt), want, "seed {seed} end");
            h.unmount().unwrap();
            let h = mount_fuse(std::slice::from_ref(&l), &d, xattrs);
            let again = dump(&d.mnt);
            h.unmount().unwrap();
            // Hard links made before a remount stay hard links on disk.
            assert_eq!(again, want, "seed {seed} after remount");
        }
    }
}
