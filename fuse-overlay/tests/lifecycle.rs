//! The library's mount lifecycle: dropping a [`MountHandle`] unmounts and
//! ends the server threads; [`MountHandle::unmounter`] unmounts from another
//! thread and [`MountHandle::wait`] then returns; so does an unmount from
//! outside. The library installs no signal handlers: the
//! `rless-fuse-overlay` binary turns SIGINT, SIGTERM and SIGHUP into an
//! unmount (tests/cli.rs).

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use fuse_overlay::MountHandle;

/// One mount at a time: the thread counts below are per process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether `mnt` is listed in our mountinfo.
fn mounted(mnt: &Path) -> bool {
    let want = mnt.canonicalize().unwrap().display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

/// Our threads serving FUSE: fuser's (`fuser-bg`, `fuser-N`) and the poll
/// governor (`fuse-spin`), as (tid, name).
fn server_threads() -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim().to_string();
            (comm.starts_with("fuser-") || comm == "fuse-spin").then_some((tid, comm))
        })
        .collect();
    v.sort();
    v
}

/// Waits (up to 5 s) for no server thread to be left.
fn threads_end() -> Vec<(u32, String)> {
    for _ in 0..100 {
        let t = server_threads();
        if t.is_empty() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server_threads()
}

/// A lower layer with `hello` and a mounted overlay over it.
fn setup(base: &Path) -> (PathBuf, MountHandle) {
    let l = base.join("lower");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(l.join("hello"), "hi").unwrap();
    let d = dirs(base, "m");
    let h = mount_fuse(&[l], &d, true);
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    (d.mnt, h)
}

/// Runs `h.wait()` on a thread; the result arrives on the channel.
fn wait_in_thread(h: MountHandle) -> mpsc::Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(h.wait().map_err(|e| e.to_string()));
    });
    rx
}

#[test]
fn lifecycle_drop_unmounts_and_ends_threads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("lifecycle_drop_unmounts_and_ends_threads") {
        return;
    }
    assert_eq!(server_threads(), [], "server threads before mounting");
    let tmp = tempfile::tempdir().unwrap();
    let (mnt, h) = setup(tmp.path());
    assert!(mounted(&mnt));
    let running = server_threads();
    assert!(
        running.iter().any(|(_, n)| n == "fuser-bg") && running.iter().any(|(_, n)| n == "fuser-0"),
        "{running:?}"
    );
    drop(h);
    let left = mounted(&mnt);
    if left {
        let _ = rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::DETACH);
    }
    assert!(!left, "drop left the mount");
    // fuser's threads are joined by the drop; the governor follows. A
    // joined thread may still be listed in /proc for a moment while the
    // kernel finishes its exit (CI saw fuser-bg once), hence the short wait.
    let fuser_threads = || -> Vec<_> {
        server_threads()
            .into_iter()
            .filter(|(_, n)| n.starts_with("fuser-"))
            .collect()
    };
    let mut left = fuser_threads();
    for _ in 0..10 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        left = fuser_threads();
    }
    assert_eq!(left, [], "fuser threads left after drop");
    assert_eq!(threads_end(), [], "threads left after drop");
    // The mount point is an ordinary empty directory again.
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0);
}

#[test]
fn lifecycle_unmounter_ends_wait() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("lifecycle_unmounter_ends_wait") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mnt, h) = setup(tmp.path());
    let unmount = h.unmounter();
    let rx = wait_in_thread(h);
    // wait() serves: the mount keeps answering.
    std::thread::sleep(Duration::from_millis(200));
    assert!(rx.try_recv().is_err(), "wait() returned while mounted");
    assert_eq!(std::fs::read_to_string(mnt.join("hello")).unwrap(), "hi");
    std::thread::spawn(unmount).join().unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("wait() did not return after unmounter()");
    assert_eq!(r, Ok(()));
    assert!(!mounted(&mnt));
    assert_eq!(threads_end(), [], "threads left after unmounter()");
}

#[test]
fn lifecycle_outside_umount_ends_wait() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("lifecycle_outside_umount_ends_wait") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mnt, h) = setup(tmp.path());
    let rx = wait_in_thread(h);
    std::thread::sleep(Duration::from_millis(200));
    assert!(rx.try_recv().is_err(), "wait() returned while mounted");
    rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty()).unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("wait() did not return after umount");
    assert_eq!(r, Ok(()));
    assert!(!mounted(&mnt));
    assert_eq!(threads_end(), [], "threads left after umount");
}
