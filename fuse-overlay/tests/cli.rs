//! The `rless-fuse-overlay` binary: mounting in both calling conventions,
//! and one-line errors with nothing left mounted for bad input.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_rless-fuse-overlay");

/// The tests here run one at a time: a command spawned by one holds copies
/// of the other's open fds until it execs, which can make an unmount of the
/// other's mount fail with EBUSY.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Mounts at or below `dir` (each test counts its own, as they run at once).
fn mounts(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap().display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| mp.starts_with(&dir))
        .count()
}

fn run(args: &[&str]) -> (bool, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A lower layer holding `hello` ("hi"), and upper, work and mount point
/// directories, under `base`.
fn hello_lower(base: &Path) -> (std::path::PathBuf, Dirs) {
    let l = base.join("lower");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(l.join("hello"), "hi").unwrap();
    (l, dirs(base, "m"))
}

/// `-o` options for lower `l` over the upper and work directories of `d`.
fn layer_opts(l: &Path, d: &Dirs) -> String {
    format!(
        "lowerdir={},upperdir={},workdir={}",
        s(l),
        s(&d.upper),
        s(&d.work)
    )
}

/// Waits (up to 5 s) for more than `before` mounts below `dir`: a server
/// started in the foreground mounts on its own time.
fn wait_mounted(dir: &Path, before: usize) {
    for _ in 0..100 {
        if mounts(dir) > before {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cli_mounts_and_reports_bad_input() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_mounts_and_reports_bad_input") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (l, d) = hello_lower(tmp.path());
    let before = mounts(tmp.path());
    let opts = |lower: &str, work: &str| {
        format!(
            "lowerdir={lower},upperdir={},workdir={work},bogus=1",
            s(&d.upper)
        )
    };

    let (ok, err) = run(&[
        "-o",
        &opts(&s(&tmp.path().join("nope")), &s(&d.work)),
        &s(&d.mnt),
    ]);
    assert!(!ok);
    assert!(err.contains("lower") && err.contains("nope"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| !l.contains("warning"))
            .count(),
        1,
        "{err}"
    );
    let (ok, err) = run(&[
        "-o",
        &opts(&s(&l), &s(&tmp.path().join("nowork"))),
        &s(&d.mnt),
    ]);
    assert!(!ok && err.contains("work"), "{err}");
    let file_work = tmp.path().join("file");
    std::fs::write(&file_work, "").unwrap();
    let (ok, err) = run(&["-o", &opts(&s(&l), &s(&file_work)), &s(&d.mnt)]);
    assert!(!ok && err.contains("work"), "{err}");
    let (ok, err) = run(&["-o", "upperdir=/x", &s(&d.mnt)]);
    assert!(!ok && err.contains("lowerdir"), "{err}");
    assert_eq!(mounts(tmp.path()), before, "something left mounted");

    // Daemon mode, mount.fuse3 convention.
    let (ok, err) = run(&["none", &s(&d.mnt), "-o", &opts(&s(&l), &s(&d.work))]);
    assert!(ok, "{err}");
    assert!(err.contains("warning") && err.contains("bogus"), "{err}");
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    // Busy mount point.
    let (ok, err) = run(&["-o", &opts(&s(&l), &s(&d.work)), &s(&d.mnt)]);
    assert!(!ok && err.contains("busy"), "{err}");
    rustix::mount::unmount(&d.mnt, rustix::mount::UnmountFlags::empty()).unwrap();
    assert_eq!(mounts(tmp.path()), before);

    // Foreground mode stops and unmounts on SIGTERM.
    let mut child = Command::new(BIN)
        .args(["-f", "-o", &opts(&s(&l), &s(&d.work)), &s(&d.mnt)])
        .spawn()
        .unwrap();
    wait_mounted(tmp.path(), before);
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert!(wait_exit(&mut child, "SIGTERM").success());
    assert_eq!(mounts(tmp.path()), before, "SIGTERM left the mount behind");
}

/// Without `upperdir=` (podman mounts a container's layers so for `diff`
/// and `commit`) the mount is read-only: the union reads as usual, every
/// change is refused with EROFS, and the scratch directories the library
/// needs are gone from `$TMPDIR` once the mount is up.
#[test]
fn cli_read_only_without_upperdir() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_read_only_without_upperdir") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (top, bottom) = (tmp.path().join("top"), tmp.path().join("bottom"));
    for l in [&top, &bottom] {
        std::fs::create_dir_all(l.join("dir")).unwrap();
    }
    std::fs::write(top.join("dir/a"), "top").unwrap();
    std::fs::write(bottom.join("dir/a"), "bottom").unwrap();
    std::fs::write(bottom.join("dir/b"), "b").unwrap();
    let scratch = tmp.path().join("tmpdir");
    std::fs::create_dir(&scratch).unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let before = mounts(tmp.path());
    let out = Command::new(BIN)
        .env("TMPDIR", &scratch)
        .args([
            "-o",
            &format!("lowerdir={}:{},ro", s(&top), s(&bottom)),
            &s(&mnt),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("unknown option ro"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(mnt.join("dir/a")).unwrap(), "top");
    assert_eq!(std::fs::read_to_string(mnt.join("dir/b")).unwrap(), "b");
    let e = std::fs::write(mnt.join("dir/c"), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    let e = std::fs::remove_file(mnt.join("dir/b")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "scratch directories left in TMPDIR"
    );
    rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty()).unwrap();
    assert_eq!(mounts(tmp.path()), before);
    assert_eq!(std::fs::read_to_string(bottom.join("dir/b")).unwrap(), "b");
}

/// A server killed with SIGKILL leaves its mount answering ENOTCONN (the
/// processes using it get an error, not a hang), and the mount can still be
/// unmounted.
#[test]
fn cli_killed_server_gives_enotconn() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_killed_server_gives_enotconn") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (l, d) = hello_lower(tmp.path());
    let opts = layer_opts(&l, &d);
    let mut child = Command::new(BIN)
        .args(["-f", "-o", &opts, &s(&d.mnt)])
        .spawn()
        .unwrap();
    wait_mounted(tmp.path(), 0);
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    child.kill().unwrap();
    child.wait().unwrap();
    let e = std::fs::metadata(d.mnt.join("other")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "{e}");
    let e = std::fs::write(d.mnt.join("new"), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "{e}");
    rustix::mount::unmount(&d.mnt, rustix::mount::UnmountFlags::empty()).unwrap();
    assert_eq!(mounts(tmp.path()), 0);
}

/// Owner (uid, gid) of `p`, not following a symlink.
fn owner(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// Runs `sh -c script` as `uid:gid` (no supplementary groups).
fn as_user(uid: u32, gid: u32, script: &str) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .args(["-c", script])
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap()
}

/// Lets other users reach the mount point below `tmp` (a tempdir is 0700).
fn open_to_all(tmp: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// A background mount of [`hello_lower`] with the extra `-o` options
/// `extra`, made by real root after `prepare` got the lower layer ready,
/// for the id option tests; `None` after a skip.
struct IdMount {
    // Dropped in this order: the mount goes before its directory.
    _guard: Unmount,
    tmp: tempfile::TempDir,
    l: std::path::PathBuf,
    d: Dirs,
    before: usize,
    _serial: std::sync::MutexGuard<'static, ()>,
}

fn id_mount(test: &str, extra: &str, prepare: impl FnOnce(&Path)) -> Option<IdMount> {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps(test) {
        return None;
    }
    if !real_root() {
        skip(test, "needs real root (files of several uids)");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    open_to_all(tmp.path());
    let (l, d) = hello_lower(tmp.path());
    prepare(&l);
    let before = mounts(tmp.path());
    let o = format!("{},{extra}", layer_opts(&l, &d));
    let (ok, err) = run(&["-o", &o, &s(&d.mnt)]);
    assert!(ok, "{err}");
    let guard = Unmount(d.mnt.clone());
    Some(IdMount {
        _guard: guard,
        tmp,
        l,
        d,
        before,
        _serial: serial,
    })
}

impl IdMount {
    /// Unmounts, and checks nothing is left mounted.
    fn finish(self) {
        rustix::mount::unmount(&self.d.mnt, rustix::mount::UnmountFlags::empty()).unwrap();
        assert_eq!(mounts(self.tmp.path()), self.before);
    }
}

/// `squash_to_uid`/`squash_to_gid` change only what the mount reports, as
/// in fuse-overlayfs: every object, from a lower layer or new, stats as the
/// squash ids, while new objects are stored with their creator's real ids
/// and a chown through the mount still reaches the upper layer.
#[test]
fn cli_squash_reports_ids_and_stores_real_ones() {
    let Some(m) = id_mount(
        "cli_squash_reports_ids_and_stores_real_ones",
        "squash_to_uid=4321,squash_to_gid=8765",
        |l| {
            chown(&l.join("hello"), 7, 8);
            std::fs::create_dir(l.join("pub")).unwrap();
            std::fs::set_permissions(
                l.join("pub"),
                std::os::unix::fs::PermissionsExt::from_mode(0o1777),
            )
            .unwrap();
        },
    ) else {
        return;
    };
    let (l, d) = (&m.l, &m.d);
    const SQ: (u32, u32) = (4321, 8765);
    for p in ["", "hello", "pub"] {
        assert_eq!(owner(&d.mnt.join(p)), SQ, "{p:?} through the mount");
    }

    std::fs::write(d.mnt.join("byroot"), "r").unwrap();
    assert_eq!(owner(&d.mnt.join("byroot")), SQ);
    assert_eq!(
        owner(&d.upper.join("byroot")),
        (0, 0),
        "stored as the creator"
    );

    let o = as_user(
        2001,
        2002,
        &format!("echo u > {}", s(&d.mnt.join("pub/byuser"))),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(owner(&d.mnt.join("pub/byuser")), SQ);
    assert_eq!(owner(&d.upper.join("pub/byuser")), (2001, 2002));

    chown(&d.mnt.join("hello"), 11, 12);
    assert_eq!(owner(&d.mnt.join("hello")), SQ);
    assert_eq!(owner(&d.upper.join("hello")), (11, 12), "chown copied up");
    assert_eq!(owner(&l.join("hello")), (7, 8), "lower layer untouched");

    m.finish();
}

/// `uidmapping=`/`gidmapping=` in fuse-overlayfs's order, `ONDISK:SHOWN:LEN`
/// (containers/storage passes `ContainerID:HostID:Size`): with `0:1000:10`
/// on-disk ids 0..9 show as 1000..1009 and the reverse on the way in; an id
/// outside the map becomes the overflow id 65534 both ways.
#[test]
fn cli_id_mapping_shifts_both_ways() {
    let Some(m) = id_mount(
        "cli_id_mapping_shifts_both_ways",
        "uidmapping=0:1000:10,gidmapping=0:1000:10",
        |l| {
            chown(&l.join("hello"), 1, 2);
            std::fs::write(l.join("odd"), "o").unwrap();
            chown(&l.join("odd"), 50, 60);
            std::fs::create_dir(l.join("dir")).unwrap();
            chown(&l.join("dir"), 5, 5);
        },
    ) else {
        return;
    };
    let (l, d) = (&m.l, &m.d);
    assert_eq!(owner(&d.mnt), (1000, 1000), "root dir, 0:0 on disk");
    assert_eq!(owner(&d.mnt.join("hello")), (1001, 1002));
    assert_eq!(owner(&d.mnt.join("dir")), (1005, 1005));
    assert_eq!(owner(&d.mnt.join("odd")), (65534, 65534), "outside the map");

    chown(&d.mnt.join("hello"), 1003, 1004);
    assert_eq!(owner(&d.mnt.join("hello")), (1003, 1004));
    assert_eq!(owner(&d.upper.join("hello")), (3, 4), "stored shifted back");
    assert_eq!(owner(&l.join("hello")), (1, 2), "lower layer untouched");

    // Root (uid 0 is not a shown id) creates as the overflow id, as
    // fuse-overlayfs does.
    std::fs::write(d.mnt.join("byroot"), "r").unwrap();
    assert_eq!(owner(&d.upper.join("byroot")), (65534, 65534));
    assert_eq!(owner(&d.mnt.join("byroot")), (65534, 65534));

    let o = as_user(
        1005,
        1005,
        &format!("echo u > {}", s(&d.mnt.join("dir/mine"))),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(owner(&d.mnt.join("dir/mine")), (1005, 1005));
    assert_eq!(owner(&d.upper.join("dir/mine")), (5, 5));
    assert_eq!(owner(&d.upper.join("dir")), (5, 5), "copied-up parent");

    m.finish();
}

/// Waits (up to 10 s) for `child` to exit by itself.
fn wait_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server still running 10 s after {what}");
}

/// `-d` and `-o debug` log each request to stderr and keep the server in
/// the foreground; an unknown flag gets one warning and is otherwise
/// ignored (fuse-overlayfs, through libfuse, refuses it instead).
#[test]
fn cli_debug_logs_requests_and_unknown_flags_warn() {
    use std::io::Read;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_debug_logs_requests_and_unknown_flags_warn") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (l, d) = hello_lower(tmp.path());
    let opts = layer_opts(&l, &d);
    let before = mounts(tmp.path());
    for debug in [&["-d"][..], &["-o", "debug"][..]] {
        let mut child = Command::new(BIN)
            .args(debug)
            .args(["-o", &opts, &s(&d.mnt)])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        wait_mounted(tmp.path(), before);
        let _guard = Unmount(d.mnt.clone());
        assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{debug:?}: the server left the foreground"
        );
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        assert!(wait_exit(&mut child, "SIGTERM").success());
        let log = reader.join().unwrap();
        assert!(
            log.lines()
                .any(|l| l.contains("DEBUG") && l.contains("LOOKUP name \"hello\"")),
            "{debug:?}: no request log:\n{log}"
        );
        assert!(!log.contains("unknown option"), "{log}");
        assert_eq!(mounts(tmp.path()), before);
    }

    for flag in ["--foo", "-x"] {
        let (ok, err) = run(&[flag, "-o", &opts, &s(&d.mnt)]);
        assert!(ok, "{flag}: {err}");
        let _guard = Unmount(d.mnt.clone());
        assert_eq!(
            err.trim().lines().collect::<Vec<_>>(),
            [format!(
                "rless-fuse-overlay: warning: ignoring unknown flag {flag}"
            )],
            "{flag}"
        );
        assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
        rustix::mount::unmount(&d.mnt, rustix::mount::UnmountFlags::empty()).unwrap();
        assert_eq!(mounts(tmp.path()), before);
    }
}

/// A foreground server unmounts and exits 0 on SIGINT (a user's Ctrl-C) and
/// on SIGHUP (its terminal going away), as on SIGTERM.
#[test]
fn cli_sigint_and_sighup_unmount() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_sigint_and_sighup_unmount") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (l, d) = hello_lower(tmp.path());
    let opts = layer_opts(&l, &d);
    let before = mounts(tmp.path());
    for sig in [rustix::process::Signal::INT, rustix::process::Signal::HUP] {
        let mut child = Command::new(BIN)
            .args(["-f", "-o", &opts, &s(&d.mnt)])
            .spawn()
            .unwrap();
        wait_mounted(tmp.path(), before);
        let _guard = Unmount(d.mnt.clone());
        assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
        rustix::process::kill_process(rustix::process::Pid::from_child(&child), sig).unwrap();
        let st = wait_exit(&mut child, &format!("{sig:?}"));
        assert_eq!(st.code(), Some(0), "{sig:?}: {st:?}");
        assert_eq!(mounts(tmp.path()), before, "{sig:?} left the mount behind");
    }
}

/// The pid of the running `rless-fuse-overlay` serving `mnt`.
fn server_pid(mnt: &Path) -> Option<i32> {
    let want = s(mnt);
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
        let ours =
            args.first()?.ends_with(b"rless-fuse-overlay") && args.contains(&want.as_bytes());
        ours.then_some(pid)
    })
}

/// Whether process `pid` is gone (or a zombie nobody reaped).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(st) => st.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')),
    }
}

/// `umount MNT` from outside makes the server exit by itself, in the
/// foreground (with status 0) and as a daemon.
#[test]
fn cli_outside_umount_ends_server() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_outside_umount_ends_server") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (l, d) = hello_lower(tmp.path());
    let opts = layer_opts(&l, &d);
    let before = mounts(tmp.path());
    let umount = || {
        let o = Command::new("umount").arg(&d.mnt).output().unwrap();
        assert!(o.status.success(), "umount: {o:?}");
    };

    let mut child = Command::new(BIN)
        .args(["-f", "-o", &opts, &s(&d.mnt)])
        .spawn()
        .unwrap();
    wait_mounted(tmp.path(), before);
    let guard = Unmount(d.mnt.clone());
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    umount();
    let st = wait_exit(&mut child, "umount");
    assert_eq!(st.code(), Some(0), "{st:?}");
    assert_eq!(mounts(tmp.path()), before);
    drop(guard);

    let (ok, err) = run(&["-o", &opts, &s(&d.mnt)]);
    assert!(ok, "{err}");
    let _guard = Unmount(d.mnt.clone());
    let pid = server_pid(&d.mnt).expect("no server process for the mount");
    assert!(!exited(pid));
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    umount();
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        exited(pid)
    });
    assert!(gone, "daemon {pid} still running 10 s after umount");
    assert_eq!(mounts(tmp.path()), before);
}

/// A work or upper directory that exists but cannot be written (a read-only
/// bind mount of it) is refused at mount time with one line naming it, a
/// non-zero exit, and nothing mounted.
#[test]
fn cli_unwritable_work_or_upper_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("cli_unwritable_work_or_upper_is_refused") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (l, d) = hello_lower(tmp.path());
    let ro = tmp.path().join("m/ro");
    std::fs::create_dir(&ro).unwrap();
    rustix::mount::mount_bind(&ro, &ro).unwrap();
    let _ro_guard = Unmount(ro.clone());
    rustix::mount::mount_remount(
        &ro,
        rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
        "",
    )
    .unwrap();
    assert_eq!(
        std::fs::create_dir(ro.join("x"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EROFS)
    );
    let before = mounts(tmp.path());
    let _guard = Unmount(d.mnt.clone());
    for (upper, work, what) in [
        (&d.upper, &ro, "write to work directory"),
        (&ro, &d.work, "write to upper directory"),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "-o",
            &format!(
                "lowerdir={},upperdir={},workdir={}",
                s(&l),
                s(upper),
                s(work)
            ),
            &s(&d.mnt),
        ]);
        for fg in [false, true] {
            if fg {
                cmd.arg("-f");
            }
            let o = cmd.output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{what} fg={fg}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(
                err.contains(what) && err.contains(&s(&ro)) && err.contains("Read-only"),
                "{err}"
            );
            assert_eq!(mounts(tmp.path()), before, "mounted anyway: {what}");
        }
    }
}
