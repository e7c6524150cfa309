//! The `rless-fuse-overlay` binary: mounting in both calling conventions,
//! and one-line errors with nothing left mounted for bad input.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_rless-fuse-overlay");

fn mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
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

#[test]
fn cli_mounts_and_reports_bad_input() {
    if !with_caps("cli_mounts_and_reports_bad_input") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("lower");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(l.join("hello"), "hi").unwrap();
    let d = dirs(tmp.path(), "m");
    let before = mounts();
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
    assert_eq!(mounts(), before, "something left mounted");

    // Daemon mode, mount.fuse3 convention.
    let (ok, err) = run(&["none", &s(&d.mnt), "-o", &opts(&s(&l), &s(&d.work))]);
    assert!(ok, "{err}");
    assert!(err.contains("warning") && err.contains("bogus"), "{err}");
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    // Busy mount point.
    let (ok, err) = run(&["-o", &opts(&s(&l), &s(&d.work)), &s(&d.mnt)]);
    assert!(!ok && err.contains("busy"), "{err}");
    rustix::mount::unmount(&d.mnt, rustix::mount::UnmountFlags::empty()).unwrap();
    assert_eq!(mounts(), before);

    // Foreground mode stops and unmounts on SIGTERM.
    let mut child = Command::new(BIN)
        .args(["-f", "-o", &opts(&s(&l), &s(&d.work)), &s(&d.mnt)])
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if mounts() > before {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(d.mnt.join("hello")).unwrap(), "hi");
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert!(st.success());
    assert_eq!(mounts(), before, "SIGTERM left the mount behind");
}
