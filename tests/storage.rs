//! `rless run --storage-driver fuse-overlay`: the container's root served
//! by the fuse-overlay crate from the monitor, with the same semantics as
//! kernel overlayfs: writes land in the writable layer, deletions are
//! whiteouts, the image's layers stay untouched, and removal leaves nothing
//! behind.

mod common;
mod storage_support;

use common::{for_each_user, Ctx, Mode, ERR_EXIT};
use std::fs;
use storage_support::{setup_image, IMG};

/// What `cat PATH` in the running container `ctr` prints, once that holds
/// `needle` (polled for up to 5 s while the container gets there).
fn cat_when(ctx: &Ctx, ctr: &str, path: &str, needle: &str) -> String {
    let mut seen = String::new();
    for _ in 0..100 {
        seen = ctx.rless(&["exec", ctr, "cat", path]).stdout;
        if seen.contains(needle) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    seen
}

#[test]
fn fuse_driver_semantics() {
    for_each_user("fuse_driver_semantics", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let layers_before = ctx.layer_dirs();
        let script = "mount | grep ' / '; cat /data/keep; echo new > /data/new; rm /data/gone; \
                      mv /data/sub /data/moved; cat /data/moved/file; ls /data";
        let out = ctx.ok(&[
            "run",
            "--name",
            "f",
            "--storage-driver",
            "fuse-overlay",
            IMG,
            "sh",
            "-c",
            script,
        ]);
        assert!(
            out.stdout.contains("fuse"),
            "the root is a FUSE mount: {out}"
        );
        assert!(
            out.stdout.contains("kept") && out.stdout.contains("in a lower directory"),
            "{out}"
        );
        let listing: Vec<&str> = out
            .stdout
            .lines()
            .skip_while(|l| !l.contains("in a lower directory"))
            .skip(1)
            .collect();
        assert_eq!(listing, ["keep", "moved", "new"], "{out}");
        let insp = ctx.ok(&["inspect", "f"]);
        let v: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
        assert_eq!(v[0]["GraphDriver"]["Name"], "fuse-overlay", "{insp}");
        // The writable layer holds the changes in the layout both drivers read.
        let diff = ctx.ok(&["diff", "f"]);
        assert!(
            diff.stdout.contains("D /data/gone") && diff.stdout.contains("A /data/new"),
            "{diff}"
        );
        // A second start of the same container sees its own earlier changes.
        let again = ctx.rless(&["start", "-a", "f"]);
        let tail: Vec<&str> = again.stdout.lines().rev().take(3).collect();
        assert_eq!(tail, ["new", "moved", "keep"], "{again}");
        assert_eq!(
            ctx.layer_dirs(),
            layers_before,
            "the image's layers are untouched"
        );
        ctx.ok(&["rm", "f"]);
        let left = fs::read_dir(ctx.root.join("containers"))
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(left, 0);
        let bad = ctx.rless(&["run", "--rm", "--storage-driver", "zfs", IMG, "true"]);
        assert_eq!(bad.code, Some(ERR_EXIT), "{bad}");
    });
}

#[test]
fn fuse_driver_detached_and_exec() {
    for_each_user("fuse_driver_detached_and_exec", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "fd",
            "--storage-driver",
            "fuse-overlay",
            IMG,
            "sh",
            "-c",
            "echo hi > /tmp/x; sleep 60",
        ]);
        let seen = cat_when(ctx, "fd", "/tmp/x", "hi");
        assert!(seen.contains("hi"), "exec sees the FUSE root: {seen:?}");
        let insp = ctx.ok(&["inspect", "fd"]);
        let v: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
        let monitor = v[0]["State"]["MonitorPid"].as_i64().unwrap();
        ctx.ok(&["rm", "-f", "fd"]);
        // It records the exit (which `rm -f` waits for) before it ends:
        // polled, as a loaded machine may take a while for the rest.
        assert!(
            common::checks::eventually(std::time::Duration::from_secs(30), || {
                !std::path::Path::new(&format!("/proc/{monitor}/cmdline")).exists()
                    || fs::read_to_string(format!("/proc/{monitor}/stat"))
                        .is_ok_and(|s| s.contains(") Z"))
            }),
            "the monitor serving FUSE is gone after rm -f"
        );
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(ctx.root.to_str().unwrap()),
            "nothing mounted on the host under the store"
        );
    });
}

/// With `--storage-opt writeback` the FUSE root uses the kernel's writeback
/// cache: what a container wrote to a file it still holds open may be only
/// in the page cache. `commit` and `diff` read the writable layer from
/// outside, so they must see it anyway. On 6.18 the FUSE bdi's strict dirty
/// limit starts writeback at once, so the content check would pass here
/// even without the flush; what this machine does check is the flush's own
/// path (an agent joins the running container and syncs its root), which
/// fails loudly if it is refused.
#[test]
fn fuse_driver_writeback_reaches_commit_and_diff() {
    for_each_user("fuse_driver_writeback_reaches_commit_and_diff", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let bad = ctx.rless(&["run", "--rm", "--storage-opt", "size=1G", IMG, "true"]);
        assert_eq!(bad.code, Some(ERR_EXIT), "{bad}");
        assert!(bad.stderr.contains("--storage-opt"), "{bad}");
        let args = [
            "run",
            "--rm",
            "--storage-driver",
            "overlay",
            "--storage-opt",
            "writeback",
        ];
        let bad = ctx.rless(&[&args[..], &[IMG, "true"]].concat());
        assert_eq!(bad.code, Some(ERR_EXIT), "{bad}");
        assert!(bad.stderr.contains("fuse-overlay"), "{bad}");
        // Writeback is fuse-overlay's: `auto` takes it with writeback, also
        // where it takes the kernel without (as `info` says), and again at
        // the next start.
        let info = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        eprintln!("auto takes {} without writeback", v["Storage"]["Driver"]);
        ctx.ok(&[
            "run",
            "--name",
            "wba",
            "--storage-opt",
            "writeback",
            IMG,
            "true",
        ]);
        ctx.ok(&["start", "-a", "wba"]);
        let d = ctx.ok(&["inspect", "-f", "{{.Driver}}", "wba"]);
        assert_eq!(d.stdout.trim(), "fuse-overlay", "{d}");
        ctx.ok(&["rm", "wba"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "fw",
            "--storage-driver",
            "fuse-overlay",
            "--storage-opt",
            "writeback",
            IMG,
            "sh",
            "-c",
            "exec 3>/data/open; echo pending >&3; rm /data/gone; echo x > /data/hl1; \
             ln /data/hl1 /data/hl2; echo ready > /tmp/ready; sleep 60",
        ]);
        let seen = cat_when(ctx, "fw", "/tmp/ready", "ready");
        assert!(seen.contains("ready"), "the container wrote: {seen:?}");
        let insp = ctx.ok(&["inspect", "fw"]);
        let v: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
        assert_eq!(
            v[0]["HostConfig"]["StorageOpt"]["writeback"], "true",
            "{insp}"
        );
        let diff = ctx.ok(&["diff", "fw"]);
        assert!(diff.stdout.contains("A /data/open"), "{diff}");
        // The deletion's cached times once made the server fail, and the
        // commit's syncfs with it.
        ctx.ok(&["commit", "fw", "fwimg"]);
        let out = ctx.ok(&["run", "--rm", "fwimg", "cat", "/data/open"]);
        assert_eq!(
            out.stdout, "pending\n",
            "the commit holds the unclosed write: {out}"
        );
        let out = ctx.ok(&[
            "run",
            "--rm",
            "fwimg",
            "sh",
            "-c",
            "ls /data; stat -c %i /data/hl1 /data/hl2",
        ]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(!lines.contains(&"gone"), "deleted before the commit: {out}");
        let inodes = &lines[lines.len() - 2..];
        assert_eq!(inodes[0], inodes[1], "commit keeps hard links: {out}");
        ctx.ok(&["rm", "-f", "fw"]);
        ctx.ok(&["rmi", "fwimg"]);
    });
}

/// Set-id bits after writes and truncates in a container are the same on
/// fuse-overlay as on kernel overlayfs: set-user-id goes (no container
/// process has CAP_FSETID in the initial namespace), set-group-id without
/// group execution stays for a writer in the file's group, here only
/// through a supplementary group, which the server reads from the
/// caller's /proc entry although it sees pids of another pid namespace.
#[test]
fn fuse_driver_set_id_bits_match_kernel_overlay() {
    for_each_user("fuse_driver_set_id_bits_match_kernel_overlay", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let subuid = ctx.user.mode == Mode::Subuid;
        let mut results = Vec::new();
        for driver in ["overlay", "fuse-overlay"] {
            let name = format!("sid-{driver}");
            let run = [
                "run",
                "-d",
                "--name",
                &name,
                "--storage-driver",
                driver,
                IMG,
                "sleep",
                "60",
            ];
            ctx.ok(&run);
            let exec = |user: Option<&str>, script: &str| {
                let mut args = vec!["exec"];
                if let Some(u) = user {
                    args.extend(["--user", u]);
                }
                args.extend([name.as_str(), "sh", "-c", script]);
                ctx.ok(&args).stdout
            };
            exec(
                None,
                "cd /data && for f in a b c d e; do echo 0123 > $f; done && \
                 chmod 4777 a && chmod 2767 b && chmod 6777 c && \
                 printf x >> a && printf x >> b && truncate -s 1 c",
            );
            if subuid {
                // u: uid 1000, group 1001, and 1000 as a supplementary group.
                exec(
                    None,
                    "echo 'u:x:1000:1001::/:/bin/sh' >> /etc/passwd && \
                     echo 'g:x:1000:u' >> /etc/group && \
                     chgrp 1000 /data/d && chmod 2767 /data/d && \
                     chgrp 1002 /data/e && chmod 2767 /data/e",
                );
                exec(Some("u"), "printf x >> /data/d && printf x >> /data/e");
            }
            results.push(exec(None, "cd /data && stat -c '%n %a %s' a b c d e"));
            ctx.ok(&["rm", "-f", &name]);
        }
        assert_eq!(
            results[0], results[1],
            "kernel overlay (left), fuse-overlay"
        );
        assert!(results[1].contains("a 777 6\n"), "{}", results[1]);
        if subuid {
            assert!(
                results[1].contains("d 2767 6\n") && results[1].contains("e 767 6\n"),
                "{}",
                results[1]
            );
        }
    });
}

/// Copy-up inside a container keeps a lower file's owner when that owner
/// is a subordinate id: the FUSE server runs in the container's user
/// namespace, so it can chown the copy to the mapped id. A committed image
/// holds a file of uid 1234; a container on fuse-overlay changes its mode
/// and content (both copy it up), and the owner stays, also for the next
/// container of the same image and on the kernel driver alike.
#[test]
fn fuse_driver_copy_up_keeps_mapped_owners() {
    for_each_user("fuse_driver_copy_up_keeps_mapped_owners", |ctx| {
        if ctx.user.mode != Mode::Subuid {
            // One id only: no other owner can exist in an image here.
            eprintln!("single-id mode maps no uid 1234; this test is for subuid mode");
            return;
        }
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&[
            "run",
            "--name",
            "owner",
            IMG,
            "sh",
            "-c",
            "chown 1234:4321 /data/keep && chmod 640 /data/keep",
        ]);
        ctx.ok(&["commit", "owner", "owned"]);
        ctx.ok(&["rm", "owner"]);
        let mut seen = Vec::new();
        for driver in ["fuse-overlay", "overlay"] {
            let out = ctx.ok(&[
                "run",
                "--rm",
                "--storage-driver",
                driver,
                "owned",
                "sh",
                "-c",
                "stat -c '%u:%g %a' /data/keep; chmod 600 /data/keep; \
                 echo more >> /data/keep; stat -c '%u:%g %a' /data/keep; cat /data/keep",
            ]);
            seen.push(out.stdout);
        }
        assert_eq!(seen[0], "1234:4321 640\n1234:4321 600\nkept\nmore\n");
        assert_eq!(seen[0], seen[1], "fuse-overlay (left), kernel overlay");
    });
}
