//! Names that do not exist are answered with a negative entry the kernel
//! keeps for a second (as long as an upper entry), so repeated probes of
//! missing names cost no round trip. Every way of making a name through the
//! mount must still show it at once, and a name made in the upper layer
//! from outside (which the kernel cannot see) within that second, and at
//! once to an open with O_CREAT.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// The ways of making a name through the mount.
const MAKERS: [&str; 6] = ["write", "mkdir", "symlink", "link", "rename", "mkfifo"];

/// Makes `p` in the mount `m` the way `what` says.
fn make(what: &str, m: &Path, p: &Path) {
    match what {
        "write" => fs::write(p, "x").unwrap(),
        "mkdir" => fs::create_dir(p).unwrap(),
        "symlink" => symlink("target", p).unwrap(),
        "link" => fs::hard_link(m.join("src"), p).unwrap(),
        "rename" => {
            fs::write(m.join("tmp"), "t").unwrap();
            fs::rename(m.join("tmp"), p).unwrap()
        }
        _ => rustix::fs::mknodat(
            rustix::fs::CWD,
            p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap(),
    }
}

#[test]
fn missing_names_show_up_once_made() {
    const T: &str = "missing_names_show_up_once_made";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("lower");
    fs::create_dir_all(l.join("ld")).unwrap();
    fs::write(l.join("ld/gone"), "lower").unwrap();
    fs::write(l.join("src"), "src").unwrap();
    for old in [false, true] {
        let d = dirs(tmp.path(), &format!("m{old}"));
        let h = mount_fuse_with(std::slice::from_ref(&l), &d, variant(true, false, old));
        let m = &d.mnt;
        fs::create_dir(m.join("ud")).unwrap();
        for dir in ["", "ld", "ud"] {
            for what in MAKERS {
                let p = m.join(dir).join(format!("new-{what}"));
                for _ in 0..3 {
                    assert!(!exists(&p), "{} exists before", p.display());
                }
                make(what, m, &p);
                assert!(
                    exists(&p),
                    "4.18 {old}: {} made by {what} not seen",
                    p.display()
                );
            }
        }
        // A lower name removed, probed, and made again.
        fs::remove_file(m.join("ld/gone")).unwrap();
        assert!(!exists(&m.join("ld/gone")));
        fs::write(m.join("ld/gone"), "again").unwrap();
        assert_eq!(fs::read_to_string(m.join("ld/gone")).unwrap(), "again");
        // Made in the upper layer from outside right after a miss: an open
        // with O_CREAT but not O_EXCL opens it (not EEXIST), at once.
        let p = m.join("ud/appended");
        assert!(!exists(&p));
        fs::write(d.upper.join("ud/appended"), "outside,").unwrap();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("4.18 {old}: open(O_CREAT) of a name made outside: {e}"));
        std::io::Write::write_all(&mut f, b"inside").unwrap();
        drop(f);
        assert_eq!(fs::read_to_string(&p).unwrap(), "outside,inside");
        // Made in the upper layer from outside: seen within the second.
        let p = m.join("ud/outside");
        assert!(!exists(&p));
        fs::write(d.upper.join("ud/outside"), "o").unwrap();
        let t = Instant::now();
        while !exists(&p) {
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "a name made in the upper layer did not show within 3 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        h.unmount().unwrap();
    }
}
