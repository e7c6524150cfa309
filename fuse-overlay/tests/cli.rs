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
    let st = child.wait().unwrap();
    assert!(st.success());
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
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        s(&l),
        s(&d.upper),
        s(&d.work)
    );
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
