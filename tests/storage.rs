//! `rless run --storage-driver fuse-overlay`: the container's root served
//! by the fuse-overlay crate from the monitor, with the same semantics as
//! kernel overlayfs: writes land in the writable layer, deletions are
//! whiteouts, the image's layers stay untouched, and removal leaves nothing
//! behind.

mod common;

use common::oci::busybox;
use common::{for_each_user, skip, Ctx, Mode, ERR_EXIT};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const IMG: &str = "fusebb";

fn setup_image(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else {
        skip("busybox-static is not installed");
        return false;
    };
    if fs::metadata("/dev/fuse").is_err() {
        skip("/dev/fuse is missing");
        return false;
    }
    let dir = ctx.work.join("fuseroot");
    for sub in ["bin", "etc", "data/sub", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(
        &dir,
        bb,
        &[
            "sh", "cat", "echo", "ls", "rm", "mv", "mount", "sleep", "true", "chmod", "chgrp",
            "stat", "truncate", "ln",
        ],
    );
    fs::write(dir.join("data/keep"), "kept\n").unwrap();
    fs::write(dir.join("data/gone"), "to be deleted\n").unwrap();
    fs::write(dir.join("data/sub/file"), "in a lower directory\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

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
        assert!(
            !std::path::Path::new(&format!("/proc/{monitor}")).exists() || {
                std::thread::sleep(std::time::Duration::from_millis(500));
                !std::path::Path::new(&format!("/proc/{monitor}/cmdline")).exists()
                    || fs::read_to_string(format!("/proc/{monitor}/stat"))
                        .is_ok_and(|s| s.contains(") Z"))
            },
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

/// `auto` picks fuse-overlay where the kernel refuses overlayfs: a store
/// on a FUSE filesystem (here fuse-overlay itself, mounted by real root as
/// NFS would be by the admin) cannot be an overlayfs upper layer, since
/// overlayfs refuses upper layers on filesystems that revalidate dentries
/// (NFS, FUSE). `info` says so, and `run` works on that store.
/// A deletion there takes the marker form (the host filesystem refuses 0:0
/// devices, as overlayfs does), and a name that starts with `.wh.` is
/// still an ordinary file: both go through the host fuse-overlay escaped.
#[test]
fn auto_picks_fuse_overlay_where_the_kernel_refuses() {
    if !common::is_root() {
        skip("mounting a FUSE filesystem that the test user's store lives on needs real root");
        return;
    }
    for_each_user("auto_picks_fuse_overlay_where_the_kernel_refuses", |ctx| {
        if busybox().is_none() || fs::metadata("/dev/fuse").is_err() {
            skip("busybox-static or /dev/fuse is missing");
            return;
        }
        let host = ctx.work.join("hostfs");
        let (lower, upper, work, mnt) = (
            host.join("l"),
            host.join("u"),
            host.join("w"),
            host.join("m"),
        );
        for d in [&lower, &upper, &work, &mnt] {
            fs::create_dir_all(d).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let handle = fuse_overlay::mount(fuse_overlay::Config {
            lower: vec![lower],
            upper,
            work,
            mountpoint: mnt.clone(),
            options: fuse_overlay::Options::default(),
        })
        .expect("mount the FUSE filesystem for the store");
        {
            // A user whose store is on that filesystem.
            let inner = Ctx {
                test: ctx.test.clone(),
                user: ctx.user.clone(),
                work: ctx.work.join("inner"),
                root: mnt.join("store"),
            };
            for d in [&inner.work, &inner.root] {
                fs::create_dir(d).unwrap();
                inner.give(d);
            }
            fs::set_permissions(&inner.root, fs::Permissions::from_mode(0o700)).unwrap();
            let info = inner.ok(&["info", "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
            assert_eq!(v["Storage"]["Driver"], "fuse-overlay", "{info}");
            assert!(
                v["Storage"]["Reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("refuses overlayfs")),
                "{info}"
            );
            assert!(setup_image(&inner));
            let out = inner.ok(&[
                "run",
                "--name",
                "onfuse",
                IMG,
                "sh",
                "-c",
                "mount | grep ' / '; cat /data/keep; echo new > /data/new; rm /data/gone; \
                 echo odd > /data/.wh.made; cat /data/.wh.made; ls -a /data",
            ]);
            assert!(
                out.stdout.contains("fuse"),
                "the root is a FUSE mount: {out}"
            );
            assert!(out.stdout.contains("kept"), "{out}");
            assert!(out.stdout.contains("odd"), "{out}");
            assert!(!out.stdout.contains("gone"), "{out}");
            let insp = inner.ok(&["inspect", "onfuse"]);
            let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
            assert_eq!(c[0]["GraphDriver"]["Name"], "fuse-overlay", "{insp}");
            let diff = inner.ok(&["diff", "onfuse"]);
            assert!(diff.stdout.contains("A /data/new"), "{diff}");
            assert!(diff.stdout.contains("D /data/gone"), "{diff}");
            assert!(diff.stdout.contains("A /data/.wh.made"), "{diff}");
            // An image layer cannot hold a `.wh.` name: commit says so.
            let commit = inner.ok(&["commit", "onfuse", "committed"]);
            assert!(
                commit.stderr.contains("warning: /data/.wh.made left out"),
                "{commit}"
            );
            let out = inner.ok(&["run", "--rm", "committed", "ls", "-a", "/data"]);
            assert!(
                out.stdout.contains("new") && !out.stdout.contains("gone"),
                "{out}"
            );
            assert!(!out.stdout.contains(".wh."), "{out}");
            inner.ok(&["rm", "onfuse"]);
            // Forcing the kernel here is a clear error, and leaves nothing.
            let before = inner.snapshot();
            let out = inner.fail(&["run", "--rm", "--storage-driver", "overlay", IMG, "true"]);
            assert!(out.stderr.contains("overlay"), "{out}");
            inner
                .snapshot()
                .assert_same(&before, "run with a refused overlay");
            // `inner` resets its store here, while the filesystem is mounted.
        }
        handle.unmount().expect("unmount the store's filesystem");
    });
}

/// `$XDG_CONFIG_HOME/rless/storage.toml` picks the driver for `run` and
/// `info`; `--storage-driver` and `RLESS_STORAGE_DRIVER` come first; a bad
/// file is a one-line error naming it, and leaves nothing behind.
#[test]
fn storage_toml_picks_the_driver() {
    for_each_user("storage_toml_picks_the_driver", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let cfg = ctx.work.join("cfg");
        let file = |body: &str| ctx.write_file("cfg/rless/storage.toml", body.as_bytes());
        let rless = |args: &[&str], env: &[(&str, &str)]| {
            let mut c = ctx.rless_cmd(args);
            c.env("XDG_CONFIG_HOME", &cfg);
            for (k, v) in env {
                c.env(k, v);
            }
            common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name)
        };
        let graph_driver = |name: &str| {
            let insp = ctx.ok(&["inspect", name]);
            let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
            c[0]["GraphDriver"]["Name"].as_str().unwrap().to_string()
        };

        file("# the user's choice\n[storage]\ndriver = \"fuse-overlay\"\n");
        let out = rless(&["info", "--format", "json"], &[]);
        assert!(out.success(), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["Storage"]["Driver"], "fuse-overlay", "{out}");
        let reason = v["Storage"]["Reason"].as_str().unwrap();
        assert!(reason.contains("cfg/rless/storage.toml"), "{out}");
        let out = rless(
            &[
                "run",
                "--name",
                "byfile",
                IMG,
                "sh",
                "-c",
                "mount | grep ' / '",
            ],
            &[],
        );
        assert!(out.success(), "{out}");
        assert!(
            out.stdout.contains("fuse"),
            "the root is a FUSE mount: {out}"
        );
        assert_eq!(graph_driver("byfile"), "fuse-overlay");

        // The command line and the environment come before the file.
        let out = rless(
            &[
                "run",
                "--name",
                "byflag",
                "--storage-driver",
                "auto",
                IMG,
                "true",
            ],
            &[],
        );
        assert!(out.success(), "{out}");
        let auto = graph_driver("byflag");
        let probe = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&probe.stdout).unwrap();
        assert_eq!(v["Storage"]["Driver"], auto.as_str(), "{probe}");
        let out = rless(&["info"], &[("RLESS_STORAGE_DRIVER", "overlay")]);
        assert!(
            out.stdout.contains("overlay (set by RLESS_STORAGE_DRIVER)"),
            "{out}"
        );
        ctx.ok(&["rm", "byfile", "byflag"]);

        // A value or a key this version does not know: one line naming the
        // file, exit 125, no container.
        let before = ctx.snapshot();
        for (body, says) in [
            (
                "[storage]\ndriver = \"zfs\"\n",
                "unknown storage driver \"zfs\"",
            ),
            ("[storage]\ndrivr = \"overlay\"\n", "drivr"),
            ("[storage\n", "storage.toml"),
        ] {
            file(body);
            for args in [&["run", "--name", "bad", IMG, "true"][..], &["info"][..]] {
                let out = rless(args, &[]);
                out.assert_rless_error();
                assert!(out.stderr.contains("cfg/rless/storage.toml"), "{out}");
                assert!(out.stderr.contains(says), "{out}");
            }
        }
        // An empty RLESS_STORAGE_DRIVER is unset, for run as for info.
        for args in [&["run", "--name", "bad", IMG, "true"][..], &["info"][..]] {
            let out = rless(args, &[("RLESS_STORAGE_DRIVER", "")]);
            out.assert_rless_error();
            assert!(out.stderr.contains("cfg/rless/storage.toml"), "{out}");
        }
        ctx.snapshot().assert_same(&before, "bad storage.toml");
        // An explicit driver does not need the file.
        let out = rless(
            &[
                "run",
                "--rm",
                "--storage-driver",
                "fuse-overlay",
                IMG,
                "true",
            ],
            &[],
        );
        assert!(out.success(), "{out}");
        fs::remove_dir_all(&cfg).unwrap();
    });
}

#[test]
fn info_reports_the_driver_run_uses() {
    for_each_user("info_reports_the_driver_run_uses", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let info = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        let said = v["Storage"]["Driver"].as_str().unwrap().to_string();
        assert!(
            v["Storage"]["Reason"]
                .as_str()
                .is_some_and(|r| r.contains("on this store")),
            "{info}"
        );
        ctx.ok(&["run", "--name", "auto", IMG, "true"]);
        let insp = ctx.ok(&["inspect", "auto"]);
        let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
        assert_eq!(c[0]["GraphDriver"]["Name"], said.as_str(), "{info}\n{insp}");
        ctx.ok(&["rm", "auto"]);
        // The probe leaves nothing in the store.
        let probes = fs::read_dir(&ctx.root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("probe"))
            .count();
        assert_eq!(probes, 0);
        // A forced driver is reported as such.
        let mut forced = ctx.rless_cmd(&["info"]);
        forced.env("RLESS_STORAGE_DRIVER", "fuse-overlay");
        let out = common::run_cmd(
            forced,
            None,
            std::time::Duration::from_secs(30),
            &ctx.user.name,
        );
        assert!(
            out.stdout
                .contains("fuse-overlay (set by RLESS_STORAGE_DRIVER)"),
            "{out}"
        );
        // A store that info is the first to make is private, as the store
        // always makes it (not left to the umask).
        let fresh = ctx.work.join("fresh-root");
        let mut first = ctx.command(common::rless_bin());
        first.arg("--root").arg(&fresh).arg("info");
        let out = common::run_cmd(first, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{out}");
    });
}

/// A store on a filesystem without user xattrs (ramfs here; NFS, some
/// Lustre setups): kernel overlayfs would mount there, but could not mark
/// an opaque directory, so removing or renaming an image directory failed
/// with EIO half way. `auto` takes fuse-overlay instead, `info` says why,
/// and forcing `overlay` is a clear error that leaves nothing behind.
#[test]
fn auto_avoids_kernel_overlay_without_user_xattrs() {
    if !common::is_root() {
        skip("mounting a ramfs for the test user's store needs real root");
        return;
    }
    for_each_user("auto_avoids_kernel_overlay_without_user_xattrs", |ctx| {
        if busybox().is_none() || fs::metadata("/dev/fuse").is_err() {
            skip("busybox-static or /dev/fuse is missing");
            return;
        }
        let mnt = ctx.work.join("ramfs");
        fs::create_dir_all(&mnt).unwrap();
        rustix::mount::mount(
            "ramfs",
            &mnt,
            "ramfs",
            rustix::mount::MountFlags::empty(),
            c"mode=0755",
        )
        .expect("mount a ramfs");
        // Unmounted however the test ends.
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
            }
        }
        let _unmount = Unmount(&mnt);
        {
            let inner = Ctx {
                test: ctx.test.clone(),
                user: ctx.user.clone(),
                work: ctx.work.join("inner"),
                root: mnt.join("store"),
            };
            for d in [&mnt, &inner.work] {
                fs::create_dir_all(d).unwrap();
                inner.give(d);
            }
            let info = inner.ok(&["info", "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
            assert_eq!(v["Storage"]["Driver"], "fuse-overlay", "{info}");
            assert!(
                v["Storage"]["Reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("extended attributes")),
                "{info}"
            );
            assert!(setup_image(&inner));
            let out = inner.ok(&[
                "run",
                "--name",
                "noxattr",
                IMG,
                "sh",
                "-c",
                "mv /data /moved && echo mv=$?; cat /moved/keep; rm -rf /moved && echo rm=$?; \
                 ls -a /",
            ]);
            assert!(out.stdout.contains("mv=0"), "{out}");
            assert!(out.stdout.contains("kept"), "{out}");
            assert!(out.stdout.contains("rm=0"), "{out}");
            assert!(
                !out.stdout.contains("data") && !out.stdout.contains("moved"),
                "{out}"
            );
            let insp = inner.ok(&["inspect", "noxattr"]);
            let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
            assert_eq!(c[0]["GraphDriver"]["Name"], "fuse-overlay", "{insp}");
            inner.ok(&["rm", "noxattr"]);
            let before = inner.snapshot();
            let out = inner.fail(&["run", "--rm", "--storage-driver", "overlay", IMG, "true"]);
            assert!(out.stderr.contains("extended attributes"), "{out}");
            inner
                .snapshot()
                .assert_same(&before, "run with overlay forced on a store without xattrs");
        }
    });
}

/// `--userns keep-id` shows the image's files with the owners the image
/// gives them (root's as 0, uid 1000's as 1000), as podman does: the
/// layers are stored in the default layout, which the keep-id map would
/// shift, so fuse-overlay shows them back. Files the caller makes belong
/// to the caller's id in later runs too. Kernel overlayfs cannot do this:
/// forcing it is a clear error that leaves nothing.
#[test]
fn keep_id_shows_the_image_owners() {
    for_each_user("keep_id_shows_the_image_owners", |ctx| {
        if ctx.user.mode != Mode::Subuid {
            eprintln!("single-id mode maps no uid 1000; this test is for subuid mode");
            return;
        }
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&[
            "run",
            "--name",
            "own",
            IMG,
            "sh",
            "-c",
            "chown 1000:1000 /data/keep && chown 1:1 /data/gone && chmod 1777 /tmp",
        ]);
        ctx.ok(&["commit", "own", "owned"]);
        ctx.ok(&["rm", "own"]);
        let me = ctx.user.uid.to_string();
        let out = ctx.ok(&[
            "run",
            "--name",
            "kept",
            "--userns=keep-id",
            "owned",
            "sh",
            "-c",
            "id -u; stat -c '%u:%g' /data/keep /data/gone /bin /data/sub/file; \
             echo mine > /tmp/mine; stat -c '%u' /tmp/mine",
        ]);
        assert_eq!(
            out.stdout,
            format!("{me}\n1000:1000\n1:1\n0:0\n0:0\n{me}\n"),
            "{out}"
        );
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--userns=keep-id",
            "-u",
            "1000",
            "owned",
            "sh",
            "-c",
            "echo more >> /data/keep && cat /data/keep",
        ]);
        assert_eq!(out.stdout, "kept\nmore\n", "{out}");
        let insp = ctx.ok(&["inspect", "-f", "{{.Driver}}", "kept"]);
        assert_eq!(insp.stdout.trim(), "fuse-overlay", "{insp}");
        // The caller's file, seen without keep-id after a commit.
        ctx.ok(&["commit", "kept", "mine"]);
        let out = ctx.ok(&["run", "--rm", "mine", "stat", "-c", "%u", "/tmp/mine"]);
        assert_eq!(out.stdout.trim(), me, "{out}");
        ctx.ok(&["rm", "kept"]);
        let before = ctx.snapshot();
        let out = ctx.fail(&[
            "run",
            "--rm",
            "--userns=keep-id",
            "--storage-driver",
            "overlay",
            "owned",
            "true",
        ]);
        assert!(
            out.stderr.contains("keep-id needs the fuse-overlay"),
            "{out}"
        );
        ctx.snapshot()
            .assert_same(&before, "keep-id with overlay forced");
    });
}
