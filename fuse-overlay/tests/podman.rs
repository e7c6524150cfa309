//! `rless-fuse-overlay` as rootless podman's `overlay.mount_program`, the
//! contract fuse-overlayfs fills: podman mounts a container's root through
//! it (lower, upper and work directories) and mounts the layers read-only
//! (`lowerdir=` alone) for `diff` and `commit`. Podman runs as the
//! unprivileged test user (`RLESS_TEST_USER`, which has a subordinate id
//! range), with runc (crun refuses hosts with cgroup v1) and no network.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{real_root, skip};

const BIN: &str = env!("CARGO_BIN_EXE_rless-fuse-overlay");
const BUSYBOX: &str = "/bin/busybox";

struct User {
    uid: u32,
    gid: u32,
    home: String,
}

fn user(name: &str) -> Option<User> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 5 && f[0] == name).then(|| User {
            uid: f[2].parse().unwrap(),
            gid: f[3].parse().unwrap(),
            home: f[5].to_string(),
        })
    })
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn rless_mounts_under(dir: &Path) -> usize {
    let dir = dir.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir) && l.contains("rless-overlay"))
        .count()
}

#[test]
fn podman_mount_program() {
    let test = "podman_mount_program";
    if !real_root() {
        return skip(test, "running podman as the test user needs real root");
    }
    let Some(name) = std::env::var("RLESS_TEST_USER").ok() else {
        return skip(test, "RLESS_TEST_USER is not set (tests/run.sh sets it)");
    };
    let Some(u) = user(&name) else {
        return skip(test, &format!("no user {name}"));
    };
    for tool in ["podman", "runc", "setpriv", "tar"] {
        if !on_path(tool) {
            return skip(test, &format!("{tool} is not installed"));
        }
    }
    if !Path::new(BUSYBOX).exists() {
        return skip(test, "busybox-static is not installed");
    }
    let tmp = tempfile::Builder::new()
        .prefix("rless-podman-")
        .tempdir_in("/tmp")
        .unwrap();
    let base = tmp.path();
    fs::set_permissions(base, fs::Permissions::from_mode(0o755)).unwrap();
    // The binary where the user can run it, and an image root.
    let bin = base.join("rless-fuse-overlay");
    fs::copy(BIN, &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let root = base.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for app in ["sh", "cat", "echo", "mkdir", "mv", "ls"] {
        symlink("busybox", root.join("bin").join(app)).unwrap();
    }
    fs::write(root.join("data/keep"), "kept\n").unwrap();
    let store = base.join("podman");
    fs::create_dir(&store).unwrap();
    rustix::fs::chown(
        &store,
        Some(rustix::fs::Uid::from_raw(u.uid)),
        Some(rustix::fs::Gid::from_raw(u.gid)),
    )
    .unwrap();

    let podman = |args: &[&str], stdin: Option<&[u8]>| {
        let mut c = Command::new("timeout");
        c.arg("120")
            .args(["setpriv", "--reuid", &u.uid.to_string()])
            .args(["--regid", &u.gid.to_string(), "--init-groups", "--"])
            .args(["env", "-i", &format!("HOME={}", u.home)])
            .arg(format!("XDG_RUNTIME_DIR=/run/user/{}", u.uid))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg("podman")
            .arg("--root")
            .arg(store.join("root"))
            .arg("--runroot")
            .arg(store.join("run"))
            .arg("--tmpdir")
            .arg(store.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "overlay", "--storage-opt"])
            .arg(format!("overlay.mount_program={}", bin.display()))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(data) = stdin {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            o.status.success(),
            "podman {args:?}: {:?}\n{out}\n{err}",
            o.status
        );
        out
    };

    // Rootless podman leaves a pause process per user; ours goes at the end.
    let pause_file = format!("/run/user/{}/libpod/tmp/pause.pid", u.uid);
    let pause_before = fs::read_to_string(&pause_file).ok();

    let tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--owner=0", "--group=0", "--numeric-owner", "-c", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    podman(&["import", "-", "localhost/rfo"], Some(&tar.stdout));
    let run = ["--runtime", "runc", "run", "--network", "none"];
    let out = podman(
        &[
            &run[..],
            &[
                "--name",
                "c1",
                "localhost/rfo",
                "sh",
                "-c",
                "cat /data/keep; echo new > /f; mkdir /d; mv /data /data2; \
                 mount | grep ' / ' | grep -c rless-overlay",
            ],
        ]
        .concat(),
        None,
    );
    assert_eq!(out, "kept\n1\n", "the root is served by rless-fuse-overlay");
    // diff and commit mount the layers read-only, with lowerdir= alone.
    let diff = podman(&["diff", "c1"], None);
    for line in ["A /f", "A /d", "A /data2", "D /data"] {
        assert!(diff.lines().any(|l| l == line), "{line} in:\n{diff}");
    }
    podman(&["commit", "c1", "localhost/rfo2"], None);
    let out = podman(
        &[
            &run[..],
            &[
                "--rm",
                "localhost/rfo2",
                "sh",
                "-c",
                "cat /f /data2/keep; ls /",
            ],
        ]
        .concat(),
        None,
    );
    assert!(out.starts_with("new\nkept\n"), "{out}");
    assert!(!out.lines().any(|l| l == "data"), "{out}");
    podman(&["rm", "-f", "c1"], None);
    podman(&["system", "reset", "-f"], None);
    assert_eq!(rless_mounts_under(base), 0, "a mount was left behind");
    let pause_after = fs::read_to_string(&pause_file).ok();
    if let Some(pid) = pause_after.filter(|p| Some(p) != pause_before.as_ref()) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}
