//! Differential test: one scenario against kernel overlayfs and against
//! fuse-overlay over the same lower layers; the logs of results (errno of
//! failures, contents, directory listings) and the final trees must match.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;

fn write(p: &Path, s: &str) {
    fs::write(p, s).unwrap();
}

/// Two lower layers (l1 on top) covering whiteouts, opaque directories,
/// merged directories, hard links, symlinks and modes.
pub fn build_lowers(base: &Path) -> Vec<PathBuf> {
    let l1 = base.join("l1");
    let l2 = base.join("l2");
    for d in ["dir/sub", "opq", "emptyd", "mixed", "deep/a/b"] {
        fs::create_dir_all(l2.join(d)).unwrap();
    }
    for d in ["opq", "mixed", "dir2"] {
        fs::create_dir_all(l1.join(d)).unwrap();
    }
    write(&l2.join("a"), "hello from l2");
    write(&l2.join("b"), "bee");
    write(&l2.join("dir/x"), "x content");
    write(&l2.join("dir/y"), "y content");
    write(&l2.join("dir/sub/z"), "zed");
    write(&l2.join("dir/w"), "0123456789");
    write(&l2.join("gone"), "should be hidden");
    write(&l2.join("opq/old1"), "hidden by opaque");
    write(&l2.join("mixed/m2"), "m2");
    write(&l2.join("deep/a/b/c"), "deep");
    write(&l2.join("hl1"), "linked");
    fs::hard_link(l2.join("hl1"), l2.join("hl2")).unwrap();
    symlink("a", l2.join("sym")).unwrap();
    write(&l2.join("ro"), "read only");
    fs::set_permissions(l2.join("ro"), fs::Permissions::from_mode(0o444)).unwrap();
    write(&l2.join("exe"), "#!/bin/sh\n");
    fs::set_permissions(l2.join("exe"), fs::Permissions::from_mode(0o755)).unwrap();
    write(&l1.join("a"), "hello from l1");
    whiteout(&l1.join("gone"));
    set_opaque(&l1.join("opq"));
    write(&l1.join("opq/new1"), "visible");
    write(&l1.join("mixed/m1"), "m1");
    write(&l1.join("dir2/q"), "q");
    if real_root() {
        std::os::unix::fs::chown(l2.join("exe"), Some(1000), Some(1000)).unwrap();
    }
    vec![l1, l2]
}

fn listing(p: &Path) -> String {
    match fs::read_dir(p) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v.join(",")
        }
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

fn read(p: &Path) -> String {
    let mut s = String::new();
    match fs::File::open(p).and_then(|mut f| f.read_to_string(&mut s)) {
        Ok(_) => s,
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

/// The scenario; returns its log.
pub fn scenario(m: &Path) -> Vec<String> {
    let mut log = Vec::new();
    let mut r = |what: &str, x: String| log.push(format!("{what}: {x}"));
    r("read a", read(&m.join("a")));
    r("read gone", read(&m.join("gone")));
    // A 0:0 character device is the upper layer's whiteout: refused (EPERM),
    // over a lower name and a new one alike.
    for name in ["a", "wh00"] {
        r(
            &format!("mknod 0:0 {name}"),
            res(rustix::fs::mknodat(
                rustix::fs::CWD,
                m.join(name),
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .map_err(std::io::Error::from)),
        );
    }
    r("read a again", read(&m.join("a")));
    r("ls /", listing(m));
    r("ls opq", listing(&m.join("opq")));
    r("ls mixed", listing(&m.join("mixed")));
    r(
        "append b",
        res(OpenOptions::new()
            .append(true)
            .open(m.join("b"))
            .and_then(|mut f| f.write_all(b" more"))),
    );
    r(
        "trunc dir/x",
        res(OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(m.join("dir/x"))
            .and_then(|mut f| f.write_all(b"new"))),
    );
    r(
        "set_len dir/y",
        res(OpenOptions::new()
            .write(true)
            .open(m.join("dir/y"))
            .and_then(|f| f.set_len(2))),
    );
    // A write-only open that changes part of a lower file's page, with
    // the file read and stat'ed through the path while the handle is open
    // (under the writeback cache the kernel fills the page by reading).
    r("overwrite in dir/w", {
        let p = m.join("dir/w");
        let f = OpenOptions::new().write(true).open(&p);
        match f.and_then(|mut f| {
            use std::io::{Seek, SeekFrom};
            f.seek(SeekFrom::Start(1))?;
            f.write_all(b"XY")?;
            let seen = read(&p);
            let len = fs::metadata(&p)?.len();
            f.write_all(b" and a tail that grows it")?;
            Ok(format!("{seen} {len} {}", fs::metadata(&p)?.len()))
        }) {
            Ok(s) => s,
            Err(e) => res::<()>(Err(e)),
        }
    });
    // Two appenders on one upper file, interleaved.
    r("two appenders", {
        let p = m.join("dir/w");
        let open = || OpenOptions::new().append(true).open(&p);
        match open()
            .and_then(|a| Ok((a, open()?)))
            .and_then(|(mut a, mut b)| {
                a.write_all(b"<a1>")?;
                b.write_all(b"<b1>")?;
                a.write_all(b"<a2>")?;
                Ok(())
            }) {
            Ok(()) => read(&p),
            Err(e) => res::<()>(Err(e)),
        }
    });
    r(
        "chmod exe",
        res(fs::set_permissions(
            m.join("exe"),
            fs::Permissions::from_mode(0o700),
        )),
    );
    if real_root() {
        r(
            "chown b",
            res(std::os::unix::fs::chown(m.join("b"), Some(123), Some(456))),
        );
    }
    r("unlink gone", res(fs::remove_file(m.join("gone"))));
    r("unlink b", res(fs::remove_file(m.join("b"))));
    r("read b", read(&m.join("b")));
    r(
        "create b",
        res(OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(m.join("b"))
            .and_then(|mut f| f.write_all(b"b again"))),
    );
    r(
        "create b excl",
        res(OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(m.join("b"))),
    );
    r("rmdir dir", res(fs::remove_dir(m.join("dir"))));
    r("rmdir emptyd", res(fs::remove_dir(m.join("emptyd"))));
    r("mkdir emptyd", res(fs::create_dir(m.join("emptyd"))));
    r("ls emptyd", listing(&m.join("emptyd")));
    r("rm mixed/m1", res(fs::remove_file(m.join("mixed/m1"))));
    r("rm mixed/m2", res(fs::remove_file(m.join("mixed/m2"))));
    r("ls mixed", listing(&m.join("mixed")));
    r("rmdir mixed", res(fs::remove_dir(m.join("mixed"))));
    r("mkdir mixed", res(fs::create_dir(m.join("mixed"))));
    r("ls mixed", listing(&m.join("mixed")));
    r("rename a a2", res(fs::rename(m.join("a"), m.join("a2"))));
    r("read a", read(&m.join("a")));
    r("read a2", read(&m.join("a2")));
    r(
        "rename sym sym2",
        res(fs::rename(m.join("sym"), m.join("sym2"))),
    );
    r(
        "rename dir/y b",
        res(fs::rename(m.join("dir/y"), m.join("b"))),
    );
    r("read b", read(&m.join("b")));
    r("link a2 a3", res(fs::hard_link(m.join("a2"), m.join("a3"))));
    r(
        "link ro ro2",
        res(fs::hard_link(m.join("ro"), m.join("ro2"))),
    );
    r("symlink", res(symlink("some/target", m.join("newsym"))));
    r("mkdir newd", res(fs::create_dir(m.join("newd"))));
    write(&m.join("newd/f"), "in new dir");
    r(
        "rename newd newd2",
        res(fs::rename(m.join("newd"), m.join("newd2"))),
    );
    r("ls newd2", listing(&m.join("newd2")));
    r("open missing", res(fs::File::open(m.join("missing"))));
    r("mkdir dir", res(fs::create_dir(m.join("dir"))));
    r("unlink dir", res(fs::remove_file(m.join("dir"))));
    r("rmdir a2", res(fs::remove_dir(m.join("a2"))));
    r(
        "rename dir2 a2",
        res(fs::rename(m.join("newd2"), m.join("a2"))),
    );
    r(
        "rename a2 dir",
        res(fs::rename(m.join("a2"), m.join("emptyd"))),
    );
    r("rmdir missing", res(fs::remove_dir(m.join("nope"))));
    r(
        "setxattr",
        res(rustix::fs::setxattr(
            m.join("dir/sub/z"),
            "user.test",
            b"v1",
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(std::io::Error::from)),
    );
    let mut buf = [0u8; 16];
    r(
        "getxattr",
        match rustix::fs::getxattr(m.join("dir/sub/z"), "user.test", &mut buf[..]) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => format!("errno {}", e.raw_os_error()),
        },
    );
    r("read dir/sub/z", read(&m.join("dir/sub/z")));
    r("ls deep/a/b", listing(&m.join("deep/a/b")));
    r("rm deep/a/b/c", res(fs::remove_file(m.join("deep/a/b/c"))));
    r("rmdir deep/a/b", res(fs::remove_dir(m.join("deep/a/b"))));
    r("ls deep/a", listing(&m.join("deep/a")));
    // renameat2(RENAME_EXCHANGE): lower files, upper directories, a file
    // with a directory, and a missing name.
    let xchg = |a: &str, b: &str| {
        res(rustix::fs::renameat_with(
            rustix::fs::CWD,
            m.join(a),
            rustix::fs::CWD,
            m.join(b),
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(std::io::Error::from))
    };
    r("exchange exe ro", xchg("exe", "ro"));
    r("read exe", read(&m.join("exe")));
    r("read ro", read(&m.join("ro")));
    write(&m.join("mixed/x1"), "one");
    r("mkdir x2", res(fs::create_dir(m.join("x2"))));
    write(&m.join("x2/g"), "two");
    r("exchange mixed x2", xchg("mixed", "x2"));
    r("ls mixed", listing(&m.join("mixed")));
    r("ls x2", listing(&m.join("x2")));
    r("exchange exe x2", xchg("exe", "x2"));
    r("ls exe", listing(&m.join("exe")));
    r("read x2", read(&m.join("x2")));
    r("exchange missing", xchg("exe", "nope"));
    r("exchange into itself", xchg("exe", "exe/x1"));
    r("ls /", listing(m));
    log
}

#[test]
fn differential_against_kernel_overlay() {
    if !with_caps("differential_against_kernel_overlay") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = build_lowers(tmp.path());
    let kd = dirs(tmp.path(), "kernel");
    let kernel = match mount_kernel(&lowers, &kd) {
        Ok(k) => k,
        Err(e) => return skip("differential_against_kernel_overlay", &e),
    };
    let klog = scenario(&kd.mnt);
    let ktree = dump(&kd.mnt);
    drop(kernel);

    // Once as the kernel runs it by default (every write a request), once
    // with the kernel's writeback cache.
    for writeback in [false, true] {
        check_fuse(&lowers, tmp.path(), writeback, &klog, &ktree);
    }
}

fn check_fuse(lowers: &[PathBuf], tmp: &Path, writeback: bool, klog: &[String], ktree: &str) {
    let fd = dirs(tmp, if writeback { "fuse-wb" } else { "fuse" });
    let h = mount_fuse_wb(lowers, &fd, true, writeback);
    let flog = scenario(&fd.mnt);
    let ftree = dump(&fd.mnt);
    h.unmount().unwrap();

    for (k, f) in klog.iter().zip(&flog) {
        assert_eq!(
            k, f,
            "kernel (left) and fuse-overlay (right, writeback {writeback}) differ"
        );
    }
    assert_eq!(klog.len(), flog.len());
    assert!(klog.len() > 50 && ktree.lines().count() > 20);
    println!("{}\n{ktree}", klog.join("\n"));
    // Hard links must share st_ino through fuse-overlay.
    for g in [
        "link group a2 a3",
        "link group hl1 hl2",
        "link group ro2 x2",
    ] {
        assert!(ftree.contains(g), "missing {g}:\n{ftree}");
    }
    if real_root() {
        assert_eq!(ktree, ftree, "final trees differ (kernel left)");
    } else {
        // Kernel overlayfs mounted in a user namespace reports different
        // st_ino for hard links made through the mount: compare the rest.
        let strip = |t: &str| -> String {
            t.lines()
                .filter(|l| !l.starts_with("link group"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(ktree),
            strip(&ftree),
            "final trees differ (kernel left)"
        );
    }

    // The fuse upper layer must read the same through kernel overlayfs.
    let kd2 = dirs(tmp, if writeback { "kernel2-wb" } else { "kernel2" });
    let mut with_fuse_upper = lowers.to_vec();
    with_fuse_upper.insert(0, fd.upper.clone());
    let k2 = mount_kernel(&with_fuse_upper, &kd2).unwrap();
    assert_eq!(
        dump(&kd2.mnt),
        ftree,
        "kernel overlay reads our upper differently"
    );
    drop(k2);
}

#[test]
fn rename_populated_lower_directory() {
    if !with_caps("rename_populated_lower_directory") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = build_lowers(tmp.path());
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse(&lowers, &d, true);
    let m = &d.mnt;
    let before = dump(&m.join("dir"));
    let ino_z = fs::metadata(m.join("dir/sub/z")).unwrap();
    fs::rename(m.join("dir"), m.join("moved")).unwrap();
    assert!(!m.join("dir").exists());
    assert_eq!(dump(&m.join("moved")), before);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(m.join("moved/sub/z")).unwrap().ino(),
        ino_z.ino(),
        "st_ino changed by the rename"
    );
    // Exchanged with a file: the populated lower directory `dir2` keeps
    // its content under the file's name, and `b` takes its place.
    let dir2 = dump(&m.join("dir2"));
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        m.join("dir2"),
        rustix::fs::CWD,
        m.join("b"),
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .unwrap();
    assert_eq!(dump(&m.join("b")), dir2);
    assert_eq!(fs::read_to_string(m.join("dir2")).unwrap(), "bee");
    // A merged directory (parts in two lowers) moved into another directory.
    fs::rename(m.join("mixed"), m.join("deep/mixed")).unwrap();
    assert_eq!(listing(&m.join("deep/mixed")), "m1,m2");
    // Hard links in a lower layer stay one inode through a rename.
    fs::rename(m.join("hl1"), m.join("hl3")).unwrap();
    assert_eq!(
        fs::metadata(m.join("hl3")).unwrap().ino(),
        fs::metadata(m.join("hl2")).unwrap().ino()
    );
    let tree = dump(m);
    h.unmount().unwrap();
    // Same view after a remount.
    let h = mount_fuse(&lowers, &d, true);
    let mut again = dump(m);
    // hl2/hl3 were one object during the mount; on disk they are separate
    // (as with kernel overlayfs without index=on).
    again = again
        .lines()
        .filter(|l| !l.starts_with("link group"))
        .collect::<Vec<_>>()
        .join("\n");
    let tree: String = tree
        .lines()
        .filter(|l| !l.starts_with("link group") && !l.starts_with("hl"))
        .collect::<Vec<_>>()
        .join("\n");
    let again: String = again
        .lines()
        .filter(|l| !l.starts_with("hl"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(tree, again);
    h.unmount().unwrap();
}
