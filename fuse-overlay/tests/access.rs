//! Access checks and upper-layer interchange, against kernel overlayfs.
//!
//! - `access_checks_like_kernel_overlay`: a lower tree with objects of
//!   several owners, groups and modes (private file, read-only file and
//!   directory, sticky directory, group-only files, a 0711 directory) is
//!   worked on by uid 1000 (with and without supplementary group 3000)
//!   through kernel overlayfs and through fuse-overlay: opens, creates,
//!   unlinks, renames, chmod, chown, utimes, readdir, truncation and user
//!   xattrs. The result of each operation must be the same, some must be
//!   the values the kernel documents, and the trees must end equal.
//!   Needs real root (to act as another uid on a mount of another owner).
//! - `kernel_reads_fuse_upper_and_writes_on`, `fuse_reads_kernel_upper_and_writes_on`:
//!   an upper layer written by one driver (whiteouts, opaque directories,
//!   renamed lower directories, copied-up files) is mounted as the upper
//!   layer of the other driver, which must show the same tree and carry on
//!   writing to it; the result must equal a run on kernel overlayfs alone.
//!   Both drivers use the `user.overlay.*` xattrs (kernel overlayfs mounted
//!   with `userxattr`, fuse-overlay with `xattrs: true`).

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

// ---------------------------------------------------------------------
// Access checks
// ---------------------------------------------------------------------

/// The operations uid 1000 runs, as a Python script: `script MOUNT TAG`.
/// One line per operation: `name: ok [value]` or `name: ERRNO_NAME`.
/// TAG (`g` with supplementary group 3000, `n` without) names the objects
/// that each run creates or changes for itself.
const OPS: &str = r#"
import errno, os, sys
m, t = sys.argv[1], sys.argv[2]
def p(x):
    return os.path.join(m, x)
def r(name, f):
    try:
        v = f()
        print(name + ": ok" + ("" if v is None else " " + str(v)))
    except OSError as e:
        print(name + ": " + errno.errorcode.get(e.errno, str(e.errno)))
def read(x):
    with open(p(x), "rb") as f:
        return f.read().decode()
def write(x, data, flags=0):
    fd = os.open(p(x), os.O_WRONLY | flags)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)
def create(x):
    os.close(os.open(p(x), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
def owner(x):
    st = os.lstat(p(x))
    return "%d:%d %o" % (st.st_uid, st.st_gid, st.st_mode & 0o7777)
def size(x):
    return os.stat(p(x)).st_size
def mtime(x):
    return int(os.stat(p(x)).st_mtime)

r("read secret", lambda: read("secret"))
r("write secret", lambda: write("secret", "x"))
r("access secret R", lambda: os.access(p("secret"), os.R_OK))
r("read ro", lambda: read("ro"))
r("write ro", lambda: write("ro", "x"))
r("access ro W", lambda: os.access(p("ro"), os.W_OK))
r("read grp", lambda: read("grp"))
r("write grp", lambda: write("grp", "x"))
r("write grpw", lambda: write("grpw", "G"))
r("read grpw", lambda: read("grpw"))
r("create at root", lambda: create("new_" + t))
r("create in rodir", lambda: create("rodir/new_" + t))
r("create in pub", lambda: create("pub/new_" + t))
r("owner of pub/new", lambda: owner("pub/new_" + t))
r("mkdir in pub", lambda: os.mkdir(p("pub/dir_" + t), 0o750))
r("owner of pub/dir", lambda: owner("pub/dir_" + t))
r("mkdir in hidden", lambda: os.mkdir(p("hidden/dir_" + t)))
r("unlink in rodir", lambda: os.unlink(p("rodir/f")))
r("unlink ro at root", lambda: os.unlink(p("ro")))
r("unlink sticky/theirs", lambda: os.unlink(p("sticky/theirs")))
r("rename sticky/theirs", lambda: os.rename(p("sticky/theirs"), p("sticky/theirs_" + t)))
r("rename into sticky/theirs", lambda: os.rename(p("pub/new_" + t), p("sticky/theirs")))
r("unlink sticky/lower mine", lambda: os.unlink(p("sticky/mine_" + t)))
r("create in sticky", lambda: create("sticky/made_" + t))
r("unlink sticky/made", lambda: os.unlink(p("sticky/made_" + t)))
r("rename in pub", lambda: os.rename(p("pub/new_" + t), p("pub/new2_" + t)))
r("rename out of rodir", lambda: os.rename(p("rodir/f"), p("pub/f_" + t)))
r("rename out of root", lambda: os.rename(p("ro"), p("pub/ro_" + t)))
r("chmod rootfile", lambda: os.chmod(p("rootfile"), 0o777))
r("chmod own", lambda: os.chmod(p("own_" + t), 0o600))
r("owner of own", lambda: owner("own_" + t))
r("chown rootfile", lambda: os.chown(p("rootfile"), 1000, -1))
r("chown own to 2000", lambda: os.chown(p("own_" + t), 2000, -1))
r("chgrp own to 3000", lambda: os.chown(p("own_" + t), -1, 3000))
r("owner of own again", lambda: owner("own_" + t))
r("utimes wr explicit", lambda: os.utime(p("wr"), (1, 1)))
r("utimes wr now", lambda: os.utime(p("wr"), None))
r("utimes rootfile now", lambda: os.utime(p("rootfile"), None))
r("utimes own explicit", lambda: os.utime(p("own_" + t), (5, 5)))
r("mtime of own", lambda: mtime("own_" + t))
r("readdir hidden", lambda: sorted(os.listdir(p("hidden"))))
r("stat hidden/inside", lambda: size("hidden/inside"))
r("read hidden/inside", lambda: read("hidden/inside"))
r("readdir rodir", lambda: sorted(os.listdir(p("rodir"))))
r("O_TRUNC rootfile", lambda: write("rootfile", "", os.O_TRUNC))
r("size of rootfile", lambda: size("rootfile"))
r("truncate ro", lambda: os.truncate(p("ro"), 0))
r("truncate wr", lambda: os.truncate(p("wr"), 2))
r("size of wr", lambda: size("wr"))
r("setxattr rootfile", lambda: os.setxattr(p("rootfile"), "user.test", b"v"))
r("setxattr secret", lambda: os.setxattr(p("secret"), "user.test", b"v"))
r("setxattr sticky dir", lambda: os.setxattr(p("sticky"), "user.test", b"v"))
r("setxattr own", lambda: os.setxattr(p("own_" + t), "user.test", b"v" + t.encode()))
r("getxattr own", lambda: os.getxattr(p("own_" + t), "user.test").decode())
r("write rodir/w", lambda: write("rodir/w", "W"))
r("write hidden/w", lambda: write("hidden/w", "W"))
r("create in sgid", lambda: create("sgid/f_" + t))
r("owner of sgid/f", lambda: owner("sgid/f_" + t))
r("mkdir in sgid", lambda: os.mkdir(p("sgid/d_" + t), 0o755))
r("owner of sgid/d", lambda: owner("sgid/d_" + t))
r("create setgid in sgid", lambda: os.close(os.open(p("sgid/x_" + t), os.O_WRONLY | os.O_CREAT, 0o2755)))
r("owner of sgid/x", lambda: owner("sgid/x_" + t))
r("chmod setgid other group", lambda: os.chmod(p("own_o_" + t), 0o2755))
r("owner of own_o", lambda: owner("own_o_" + t))
r("chgrp setuid own", lambda: os.chown(p("own_sx_" + t), -1, 1000))
r("owner of own_sx", lambda: owner("own_sx_" + t))
r("getxattr secret", lambda: os.getxattr(p("secret"), "user.test"))
r("removexattr rootfile", lambda: os.removexattr(p("rootfile"), "user.test"))
r("access rootfile X", lambda: os.access(p("rootfile"), os.X_OK))
r("chdir hidden", lambda: os.chdir(p("hidden")))
r("read inside relative", lambda: open("inside").read())
r("rmdir sticky/theirdir", lambda: os.rmdir(p("sticky/theirdir")))
r("link secret", lambda: os.link(p("secret"), p("pub/l_" + t)))
r("link own", lambda: os.link(p("own_" + t), p("pub/lo_" + t)))
"#;

fn put(p: &Path, data: &str, mode: u32, uid: u32, gid: u32) {
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

fn put_dir(p: &Path, mode: u32, uid: u32, gid: u32) {
    fs::create_dir(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

fn access_lower(base: &Path) -> PathBuf {
    let l = base.join("lower");
    put_dir(&l, 0o755, 0, 0);
    put(&l.join("secret"), "secret", 0o600, 2000, 2000);
    put(&l.join("ro"), "ro", 0o444, 0, 0);
    put_dir(&l.join("rodir"), 0o555, 0, 0);
    put(&l.join("rodir/f"), "f", 0o644, 0, 0);
    put_dir(&l.join("sticky"), 0o1777, 0, 0);
    put(&l.join("sticky/theirs"), "theirs", 0o644, 2000, 2000);
    put_dir(&l.join("sticky/theirdir"), 0o755, 2000, 2000);
    put(&l.join("grp"), "grp", 0o640, 0, 3000);
    // Only the group may write (or read) it.
    put(&l.join("grpw"), "grpw", 0o060, 2000, 3000);
    put_dir(&l.join("hidden"), 0o711, 0, 0);
    put(&l.join("hidden/inside"), "inside", 0o644, 0, 0);
    put(&l.join("hidden/w"), "w", 0o666, 0, 0);
    put(&l.join("rodir/w"), "w", 0o666, 0, 0);
    put_dir(&l.join("sgid"), 0o2777, 0, 3000);
    put_dir(&l.join("pub"), 0o777, 0, 0);
    put(&l.join("wr"), "writable", 0o666, 0, 0);
    put(&l.join("rootfile"), "rootfile", 0o644, 0, 0);
    for t in ["g", "n"] {
        put(&l.join(format!("own_{t}")), "own", 0o644, 1000, 1000);
        put(&l.join(format!("own_o_{t}")), "own", 0o644, 1000, 2000);
        put(&l.join(format!("own_sx_{t}")), "own", 0o4755, 1000, 1000);
        put(
            &l.join(format!("sticky/mine_{t}")),
            "mine",
            0o644,
            1000,
            1000,
        );
    }
    l
}

/// A Python interpreter uid 1000 may run (not a shim under /root).
fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o001 != 0))
}

/// Runs [`OPS`] on `mnt` as uid/gid 1000, with or without group 3000.
fn run_as_1000(py: &str, script: &Path, mnt: &Path, with_group: bool) -> Vec<String> {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", "1000", "--regid", "1000"]);
    if with_group {
        c.args(["--groups", "3000"]);
    } else {
        c.arg("--clear-groups");
    }
    let o = c
        .arg(py)
        .arg(script)
        .arg(mnt)
        .arg(if with_group { "g" } else { "n" })
        .current_dir("/")
        .output()
        .expect("run setpriv");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "ops as uid 1000 failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let tag = if with_group {
        "[group 3000] "
    } else {
        "[no groups] "
    };
    out.lines().map(|l| format!("{tag}{l}")).collect()
}

fn run_both(py: &str, script: &Path, mnt: &Path) -> Vec<String> {
    let mut log = run_as_1000(py, script, mnt, true);
    log.extend(run_as_1000(py, script, mnt, false));
    log
}

#[test]
fn access_checks_like_kernel_overlay() {
    let test = "access_checks_like_kernel_overlay";
    if !real_root() {
        return skip(test, "acting as another uid needs real root");
    }
    if !with_caps(test) {
        return;
    }
    let Some(py) = python() else {
        return skip(test, "no python3 that uid 1000 may run");
    };
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let script = tmp.path().join("ops.py");
    fs::write(&script, OPS).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let lowers = vec![access_lower(tmp.path())];

    let kd = dirs(tmp.path(), "kernel");
    let k = match mount_kernel(&lowers, &kd) {
        Ok(k) => k,
        Err(e) => return skip(test, &e),
    };
    let klog = run_both(py, &script, &kd.mnt);
    let ktree = dump(&kd.mnt);
    drop(k);

    let fd = dirs(tmp.path(), "fuse");
    let h = mount_fuse(&lowers, &fd, true);
    let flog = run_both(py, &script, &fd.mnt);
    let ftree = dump(&fd.mnt);
    h.unmount().unwrap();
    // As kernel 4.18 (RHEL 8) drives the server: the same log.
    let od = dirs(tmp.path(), "fuse-4.18");
    let h = mount_fuse_with(&lowers, &od, variant(true, false, true));
    let olog = run_both(py, &script, &od.mnt);
    let otree = dump(&od.mnt);
    h.unmount().unwrap();
    assert_eq!(
        flog, olog,
        "fuse-overlay (left) and as kernel 4.18 drives it (right)"
    );
    assert_eq!(
        ftree, otree,
        "trees: fuse-overlay and as kernel 4.18 drives it"
    );

    println!("{}", klog.join("\n"));
    for (k, f) in klog.iter().zip(&flog) {
        assert_eq!(
            k, f,
            "kernel overlay (left) and fuse-overlay (right) differ"
        );
    }
    assert_eq!(klog.len(), flog.len());

    // What the kernel's rules give, so that both cannot be wrong alike.
    let g = |s: &str| format!("[group 3000] {s}");
    let n = |s: &str| format!("[no groups] {s}");
    let mut want = Vec::new();
    for both in [
        "read secret: EACCES",
        "write secret: EACCES",
        "access secret R: ok False",
        "read ro: ok ro",
        "write ro: EACCES",
        "access ro W: ok False",
        "write grp: EACCES",
        "create at root: EACCES",
        "create in rodir: EACCES",
        "create in pub: ok",
        "owner of pub/new: ok 1000:1000 644",
        "owner of pub/dir: ok 1000:1000 750",
        "mkdir in hidden: EACCES",
        "unlink in rodir: EACCES",
        "unlink ro at root: EACCES",
        "unlink sticky/theirs: EPERM",
        "rename sticky/theirs: EPERM",
        "rename into sticky/theirs: EPERM",
        "unlink sticky/lower mine: ok",
        "unlink sticky/made: ok",
        "rename in pub: ok",
        "rename out of rodir: EACCES",
        "rename out of root: EACCES",
        "chmod rootfile: EPERM",
        "chmod own: ok",
        "chown rootfile: EPERM",
        "chown own to 2000: EPERM",
        "utimes wr explicit: EPERM",
        "utimes wr now: ok",
        "utimes rootfile now: EACCES",
        "utimes own explicit: ok",
        "mtime of own: ok 5",
        "readdir hidden: EACCES",
        "stat hidden/inside: ok 6",
        "read hidden/inside: ok inside",
        "readdir rodir: ok ['f', 'w']",
        "O_TRUNC rootfile: EACCES",
        "size of rootfile: ok 8",
        "truncate ro: EACCES",
        "truncate wr: ok",
        "size of wr: ok 2",
        "setxattr rootfile: EACCES",
        "setxattr secret: EACCES",
        "setxattr sticky dir: EPERM",
        "write rodir/w: ok",
        "write hidden/w: ok",
        "owner of sgid/f: ok 1000:3000 644",
        "owner of sgid/d: ok 1000:3000 2755",
        "owner of own_o: ok 1000:2000 755",
        "owner of own_sx: ok 1000:1000 755",
        "getxattr secret: EACCES",
        "removexattr rootfile: EACCES",
        "access rootfile X: ok False",
        "chdir hidden: ok",
        "read inside relative: ok inside",
        "rmdir sticky/theirdir: EPERM",
        "link own: ok",
    ] {
        want.push(g(both));
        want.push(n(both));
    }
    for (with, without) in [
        ("read grp: ok grp", "read grp: EACCES"),
        ("write grpw: ok", "write grpw: EACCES"),
        ("read grpw: ok Grpw", "read grpw: EACCES"),
        ("chgrp own to 3000: ok", "chgrp own to 3000: EPERM"),
        ("getxattr own: ok vg", "getxattr own: ok vn"),
        (
            "owner of sgid/x: ok 1000:3000 2755",
            "owner of sgid/x: ok 1000:3000 755",
        ),
        (
            "owner of own again: ok 1000:3000 600",
            "owner of own again: ok 1000:1000 600",
        ),
    ] {
        want.push(g(with));
        want.push(n(without));
    }
    for w in &want {
        assert!(
            klog.contains(w),
            "kernel overlay: expected {w:?} in\n{}",
            klog.join("\n")
        );
    }

    assert_eq!(ktree, ftree, "trees after the runs differ (kernel left)");
    assert!(ftree.contains("pub/new2_g: file size=0"), "{ftree}");
    assert!(ftree.contains("sticky/theirs: file size=6"), "{ftree}");
    assert!(!ftree.contains("sticky/mine_g"), "{ftree}");
}

// ---------------------------------------------------------------------
// One driver's upper layer under the other driver
// ---------------------------------------------------------------------

/// Two lowers (the first on top) with a whiteout and an opaque directory
/// of their own.
fn interchange_lowers(base: &Path) -> Vec<PathBuf> {
    let l1 = base.join("l1");
    let l2 = base.join("l2");
    for d in ["d1", "d2/sub", "d3", "keep", "mv/inner"] {
        fs::create_dir_all(l2.join(d)).unwrap();
    }
    for d in ["d3", "keep"] {
        fs::create_dir_all(l1.join(d)).unwrap();
    }
    for (f, s) in [
        ("a", "a from l2"),
        ("b", "bee"),
        ("d1/x", "x"),
        ("d1/y", "y"),
        ("d2/p", "p"),
        ("d2/sub/q", "q"),
        ("d3/m", "hidden by opaque d3"),
        ("keep/k1", "k1"),
        ("keep/k2", "k2"),
        ("gone", "whited out by l1"),
        ("del", "del"),
        ("mv/r1", "r1"),
        ("mv/inner/r2", "r2"),
    ] {
        fs::write(l2.join(f), s).unwrap();
    }
    fs::set_permissions(l2.join("mv/inner"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(l2.join("mv/r1"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(l1.join("a"), "a from l1").unwrap();
    fs::write(l1.join("d3/n"), "n").unwrap();
    fs::write(l1.join("keep/k3"), "k3").unwrap();
    whiteout(&l1.join("gone"));
    set_opaque(&l1.join("d3"));
    vec![l1, l2]
}

fn ok<T>(what: &str, r: std::io::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let m = fs::symlink_metadata(from)?;
    if m.is_dir() {
        fs::create_dir(to)?;
        for e in fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        fs::set_permissions(to, m.permissions())
    } else if m.file_type().is_symlink() {
        symlink(fs::read_link(from)?, to)
    } else {
        fs::copy(from, to).map(drop)
    }
}

/// `mv`: a rename, or where the driver refuses to rename a directory with
/// lower parts (kernel overlayfs with `userxattr` has no redirects: EXDEV),
/// a copy and a removal.
fn mv(from: &Path, to: &Path) -> std::io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_tree(from, to)?;
            fs::remove_dir_all(from)
        }
        r => r,
    }
}

fn append(p: &Path, s: &str) -> std::io::Result<()> {
    OpenOptions::new()
        .append(true)
        .open(p)
        .and_then(|mut f| f.write_all(s.as_bytes()))
}

/// Changes made by the first driver.
fn phase1(m: &Path) {
    ok("create new", fs::write(m.join("new"), "new file"));
    ok("rewrite a", fs::write(m.join("a"), "A!"));
    ok("append b", append(&m.join("b"), " more"));
    ok("unlink del", fs::remove_file(m.join("del")));
    ok("unlink d1/x", fs::remove_file(m.join("d1/x")));
    ok("unlink d2/p", fs::remove_file(m.join("d2/p")));
    ok("unlink d2/sub/q", fs::remove_file(m.join("d2/sub/q")));
    ok("rmdir d2/sub", fs::remove_dir(m.join("d2/sub")));
    ok("rmdir d2", fs::remove_dir(m.join("d2")));
    ok("mkdir d2", fs::create_dir(m.join("d2")));
    ok("create d2/fresh", fs::write(m.join("d2/fresh"), "fresh"));
    ok("mv mv moved", mv(&m.join("mv"), &m.join("moved")));
    ok(
        "rename keep/k1",
        fs::rename(m.join("keep/k1"), m.join("keep/k1r")),
    );
    ok(
        "chmod keep/k2",
        fs::set_permissions(m.join("keep/k2"), fs::Permissions::from_mode(0o600)),
    );
    ok("symlink lnk", symlink("a", m.join("lnk")));
    ok("mkdir newdir/sub", fs::create_dir_all(m.join("newdir/sub")));
    ok(
        "create newdir/sub/f",
        fs::write(m.join("newdir/sub/f"), "f"),
    );
}

/// Changes made by the second driver, on top of [`phase1`].
fn phase2(m: &Path) {
    ok("unlink keep/k2", fs::remove_file(m.join("keep/k2")));
    ok("unlink keep/k3", fs::remove_file(m.join("keep/k3")));
    ok("unlink b", fs::remove_file(m.join("b")));
    ok("append a", append(&m.join("a"), " and more"));
    ok("append d2/fresh", append(&m.join("d2/fresh"), "er"));
    ok("unlink moved/r1", fs::remove_file(m.join("moved/r1")));
    ok(
        "create moved/inner/r3",
        fs::write(m.join("moved/inner/r3"), "r3"),
    );
    ok("unlink d1/y", fs::remove_file(m.join("d1/y")));
    ok("create d1/x", fs::write(m.join("d1/x"), "x again"));
    ok("rename new", fs::rename(m.join("new"), m.join("d3/new")));
    ok("create del", fs::write(m.join("del"), "del again"));
    ok("unlink lnk", fs::remove_file(m.join("lnk")));
    ok("rmdir newdir/sub", fs::remove_dir_all(m.join("newdir/sub")));
    ok("unlink d2/fresh", fs::remove_file(m.join("d2/fresh")));
    ok("rmdir d2", fs::remove_dir(m.join("d2")));
    ok("mkdir d3/d", fs::create_dir(m.join("d3/d")));
}

fn check_phase1(t: &str) {
    for want in [
        "a: file size=2",
        "d2: dir",
        "d2/fresh: file size=5",
        "moved: dir mode=755",
        "moved/inner: dir mode=700",
        "moved/inner/r2: file size=2",
        "moved/r1: file size=2",
        "keep/k1r: file size=2",
        "keep/k2: file size=2",
        "keep/k3: file size=2",
        "lnk: symlink -> a",
        "newdir/sub/f: file size=1",
    ] {
        assert!(t.lines().any(|l| l.starts_with(want)), "no {want}:\n{t}");
    }
    for gone in [
        "del:", "d1/x:", "d2/p:", "d2/sub", "mv:", "mv/", "keep/k1:", "gone:", "d3/m",
    ] {
        assert!(
            !t.lines().any(|l| l.starts_with(gone)),
            "{gone} is there:\n{t}"
        );
    }
}

fn check_phase2(t: &str) {
    for want in [
        "a: file size=11",
        "d1/x: file size=7",
        "d3/d: dir",
        "d3/n: file size=1",
        "d3/new: file size=8",
        "del: file size=9",
        "keep/k1r: file size=2",
        "moved/inner/r3: file size=2",
        "newdir: dir",
    ] {
        assert!(t.lines().any(|l| l.starts_with(want)), "no {want}:\n{t}");
    }
    for gone in [
        "b:",
        "d1/y",
        "d2",
        "keep/k2",
        "keep/k3",
        "lnk",
        "moved/r1",
        "new:",
        "newdir/sub",
    ] {
        assert!(
            !t.lines().any(|l| l.starts_with(gone)),
            "{gone} is there:\n{t}"
        );
    }
}

/// The upper layer holds the forms both drivers read: a 0:0 character
/// device for a deleted lower file, `user.overlay.opaque=y` on a directory
/// made over a deleted lower one.
fn check_upper_forms(upper: &Path, by: &str) {
    let m = fs::symlink_metadata(upper.join("del")).unwrap();
    assert!(
        m.file_type().is_char_device() && m.rdev() == 0,
        "{by}: upper/del is no whiteout"
    );
    let mut buf = [0u8; 8];
    let n = rustix::fs::lgetxattr(upper.join("d2"), "user.overlay.opaque", &mut buf)
        .unwrap_or_else(|e| panic!("{by}: upper/d2 not opaque: {e}"));
    assert_eq!(&buf[..n], b"y", "{by}: upper/d2");
}

/// No `user.overlay.*` xattr (the other driver's `origin`, `impure`,
/// `uuid`, `opaque`) shows through the mount `m` of a phase-1 tree.
fn no_overlay_xattrs(m: &Path, by: &str) {
    for p in [".", "a", "keep", "keep/k1r", "keep/k2", "d1", "d2", "moved"] {
        let mut buf = vec![0u8; 4096];
        let n = rustix::fs::llistxattr(m.join(p), &mut buf)
            .unwrap_or_else(|e| panic!("{by}: listxattr {p}: {e}"));
        let names: Vec<String> = buf[..n]
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        assert!(
            !names.iter().any(|x| x.starts_with("user.overlay.")),
            "{by} shows {names:?} on {p}"
        );
    }
}

/// Phase 1 and 2 on kernel overlayfs alone: the dumps after each.
fn kernel_reference(lowers: &[PathBuf], base: &Path) -> Option<(String, String)> {
    let d = dirs(base, "reference");
    let k = mount_kernel(lowers, &d).ok()?;
    phase1(&d.mnt);
    let one = dump(&d.mnt);
    phase2(&d.mnt);
    let two = dump(&d.mnt);
    drop(k);
    check_phase1(&one);
    check_phase2(&two);
    Some((one, two))
}

/// The same upper layer with a fresh work directory and mount point.
fn second(base: &Path, first: &Dirs) -> Dirs {
    let d = Dirs {
        upper: first.upper.clone(),
        work: base.join("second/work"),
        mnt: base.join("second/mnt"),
    };
    fs::create_dir_all(&d.work).unwrap();
    fs::create_dir_all(&d.mnt).unwrap();
    d
}

#[test]
fn kernel_reads_fuse_upper_and_writes_on() {
    let test = "kernel_reads_fuse_upper_and_writes_on";
    if !with_caps(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = interchange_lowers(tmp.path());
    let Some((ref1, ref2)) = kernel_reference(&lowers, tmp.path()) else {
        return skip(test, "kernel overlay cannot be mounted here");
    };

    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse(&lowers, &d, true);
    phase1(&d.mnt);
    let fuse1 = dump(&d.mnt);
    h.unmount().unwrap();
    assert_eq!(
        fuse1, ref1,
        "fuse-overlay (left) after phase 1 and kernel overlay"
    );
    check_upper_forms(&d.upper, "fuse-overlay");

    let d2 = second(tmp.path(), &d);
    let k = mount_kernel(&lowers, &d2).unwrap();
    assert_eq!(
        dump(&d2.mnt),
        fuse1,
        "kernel overlay (left) reads fuse-overlay's upper differently"
    );
    no_overlay_xattrs(&d2.mnt, "kernel overlay");
    phase2(&d2.mnt);
    let kernel2 = dump(&d2.mnt);
    drop(k);
    assert_eq!(
        kernel2, ref2,
        "kernel overlay over fuse-overlay's upper (left) and kernel alone"
    );
}

#[test]
fn fuse_reads_kernel_upper_and_writes_on() {
    let test = "fuse_reads_kernel_upper_and_writes_on";
    if !with_caps(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lowers = interchange_lowers(tmp.path());
    let Some((ref1, ref2)) = kernel_reference(&lowers, tmp.path()) else {
        return skip(test, "kernel overlay cannot be mounted here");
    };

    let d = dirs(tmp.path(), "kernel");
    let k = mount_kernel(&lowers, &d).unwrap();
    phase1(&d.mnt);
    let kernel1 = dump(&d.mnt);
    drop(k);
    assert_eq!(kernel1, ref1);
    check_upper_forms(&d.upper, "kernel overlay");

    let d2 = second(tmp.path(), &d);
    let h = mount_fuse(&lowers, &d2, true);
    assert_eq!(
        dump(&d2.mnt),
        kernel1,
        "fuse-overlay (left) reads kernel overlay's upper differently"
    );
    no_overlay_xattrs(&d2.mnt, "fuse-overlay");
    phase2(&d2.mnt);
    let fuse2 = dump(&d2.mnt);
    h.unmount().unwrap();
    assert_eq!(
        fuse2, ref2,
        "fuse-overlay over kernel overlay's upper (left) and kernel alone"
    );

    // And the result still reads the same through the kernel.
    let d3 = Dirs {
        upper: d.upper.clone(),
        work: tmp.path().join("third/work"),
        mnt: tmp.path().join("third/mnt"),
    };
    fs::create_dir_all(&d3.work).unwrap();
    fs::create_dir_all(&d3.mnt).unwrap();
    let k = mount_kernel(&lowers, &d3).unwrap();
    assert_eq!(
        dump(&d3.mnt),
        ref2,
        "kernel overlay (left) after fuse-overlay's changes"
    );
    drop(k);
}
