//! `rless mount` / `rless umount` (podman's): inside `rless unshare` a
//! stopped container's root filesystem is mounted at a path the user's own
//! tools can change, with either storage driver; what they write is the
//! container's. Outside a session, for a running container and for a
//! missing one: one error line, exit 125. A session that ends with its
//! mounts in place leaves no server behind.

mod common;

use common::run_helpers::*;
use common::{for_each_user, rless_bin, Ctx};
use std::time::{Duration, Instant};

/// Runs `script` in `rless unshare sh -c`, with `$R` the rless command
/// (binary and store) for the script to call.
fn in_session(ctx: &Ctx, script: &str) -> common::Out {
    let r = format!(
        "{} --root {}",
        rless_bin().display(),
        ctx.root.to_string_lossy()
    );
    let full = format!("R='{r}'\n{script}");
    ctx.rless(&["unshare", "sh", "-c", &full])
}

/// Every process whose command line names this test's store, once
/// `deadline` has passed without them going.
fn store_processes_after(ctx: &Ctx, deadline: Duration) -> Vec<String> {
    let root = ctx.root.to_string_lossy().into_owned();
    let end = Instant::now() + deadline;
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&root))
            .collect();
        if left.is_empty() || Instant::now() > end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn mount_a_stopped_container_in_an_unshare_session() {
    if !have_busybox() {
        return;
    }
    for_each_user("mount_a_stopped_container_in_an_unshare_session", |ctx| {
        assert!(setup_image(ctx));
        let id = ctx
            .ok(&["create", "--name", "mc", IMG, "cat", "/added"])
            .stdout
            .trim()
            .to_string();

        // Outside a session: refused, saying where it works.
        let out = ctx.fail(&["mount", "mc"]);
        assert!(out.stderr.contains("rless unshare"), "{out}");
        let out = ctx.fail(&["umount", "mc"]);
        assert!(out.stderr.contains("rless unshare"), "{out}");

        // Inside: the path is the container's root; a write there is the
        // container's; the listing names it; umount takes it away.
        let out = in_session(
            ctx,
            "m=$($R mount mc) || exit 9
             echo \"path=$m\"
             test -f \"$m/bin/busybox\" || exit 8
             echo from-mount > \"$m/added\"
             $R mount
             $R container mount mc
             $R umount mc || exit 7
             test -e \"$m/added\" && echo still-mounted
             $R mount",
        );
        assert_eq!(out.code, Some(0), "{out}");
        let path = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("path="))
            .unwrap()
            .to_string();
        assert!(path.starts_with(&*ctx.root.to_string_lossy()), "{out}");
        assert!(path.ends_with("/merged"), "{out}");
        let listed = format!("{} {path}", &id[..12]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[1..], [listed.as_str(), path.as_str(), "mc"], "{out}");
        assert!(out.stderr.is_empty(), "{out}");

        let out = ctx.ok(&["start", "-a", "mc"]);
        assert_eq!(out.stdout, "from-mount\n", "{out}");
        assert!(ctx.ok(&["diff", "mc"]).stdout.contains("A /added"));

        // A running container, a missing one: one line each, 125.
        ctx.ok(&["run", "-d", "--name", "mr", IMG, "sleep", "100"]);
        let out = in_session(ctx, "$R mount mr");
        assert_eq!(out.code, Some(125), "{out}");
        assert!(out.stderr.contains("mr is running"), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        let out = in_session(ctx, "$R mount no-such-container");
        assert_eq!(out.code, Some(125), "{out}");
        assert!(out.stderr.starts_with("rless: no such container"), "{out}");
        // umount of a missing one among others: named, the others done.
        let out = in_session(
            ctx,
            "$R mount mc >/dev/null || exit 9
             $R umount no-such-container mc; echo code=$?
             $R mount",
        );
        assert_eq!(out.stdout, "mc\ncode=125\n", "{out}");
        assert!(out.stderr.starts_with("rless: no such container"), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        ctx.ok(&["rm", "-f", "mr", "mc"]);

        // rm of a container mounted in the session unmounts it first: the
        // removal does not walk into the mounted root (and delete the
        // image's files through it), and leaves nothing.
        ctx.ok(&["create", "--name", "mrm", IMG, "true"]);
        let out = in_session(
            ctx,
            "m=$($R mount mrm) || exit 9
             $R rm mrm || exit 8
             grep -q \" $m \" /proc/self/mountinfo && exit 7
             exit 0",
        );
        assert_eq!(out.code, Some(0), "{out}");
        let left: Vec<_> = std::fs::read_dir(ctx.root.join("containers"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let out = ctx.ok(&["run", "--rm", IMG, "cat", "/etc/passwd"]);
        assert!(out.stdout.starts_with("root:"), "{out}");
    });
}

#[test]
fn mount_serves_a_fuse_overlay_container_until_the_session_ends() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "mount_serves_a_fuse_overlay_container_until_the_session_ends",
        |ctx| {
            assert!(setup_image(ctx));
            ctx.ok(&[
                "create",
                "--name",
                "mf",
                "--storage-driver",
                "fuse-overlay",
                IMG,
                "cat",
                "/added",
            ]);
            // The server holds none of the caller's files: the store lock
            // (an exclusive one, image prune's, is not kept waiting), nor
            // the `$(…)` pipe. The session ends with the mount in place:
            // the server goes with the session's mount namespace.
            let out = in_session(
                ctx,
                "m=$($R mount mf) || exit 9
                 grep \" $m \" /proc/self/mountinfo | grep -q ' - fuse' || exit 8
                 echo through-fuse > \"$m/added\"
                 timeout 30 $R image prune -f > /dev/null || exit 7",
            );
            assert_eq!(out.code, Some(0), "{out}");
            let left = store_processes_after(ctx, Duration::from_secs(10));
            assert!(left.is_empty(), "left running: {left:?}");
            let out = ctx.ok(&["start", "-a", "mf"]);
            assert_eq!(out.stdout, "through-fuse\n", "{out}");

            // umount ends the server while the session goes on.
            let out = in_session(
                ctx,
                "m=$($R mount mf) || exit 9
                 $R unmount mf || exit 8
                 for i in $(seq 100); do
                   up=
                   for f in /proc/[0-9]*/cmdline; do
                     tr '\\0' ' ' < $f 2>/dev/null | grep -q ' mount mf $' && up=1
                   done
                   [ -z \"$up\" ] && exit 0
                   sleep 0.1
                 done
                 exit 5",
            );
            assert_eq!(out.code, Some(0), "the server outlived umount: {out}");

            // The server keeps nothing of its caller's: not the store's
            // lock, which `system reset` (exclusive) would wait for while
            // the mount lives; reset detaches the mount, and the server
            // goes.
            let out = in_session(
                ctx,
                "m=$($R mount mf) || exit 9
                 timeout 60 $R system reset --force >/dev/null
                 echo reset=$?",
            );
            assert!(out.stdout.contains("reset=0"), "{out}");
            let left = store_processes_after(ctx, Duration::from_secs(10));
            assert!(left.is_empty(), "left running: {left:?}");
            assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "reset left containers");
        },
    );
}

/// A container started inside the session that mounted it runs on that
/// mount (one filesystem, the same device number inside and out), not on
/// a second overlay of the same writable layer; what either side writes
/// the other reads, and `diff`/`commit` see it. Started detached, it keeps
/// its copy of the mount (and a fuse server its connection) after the
/// session ends, until it is removed; then nothing is left running.
#[test]
fn start_in_the_session_reuses_its_mount() {
    if !have_busybox() {
        return;
    }
    for_each_user("start_in_the_session_reuses_its_mount", |ctx| {
        assert!(setup_image(ctx));
        for driver in ["auto", "fuse-overlay"] {
            let sd = ["--storage-driver", driver];
            let script = "stat -c dev=%d /; cat /s; echo from-ctr > /c";
            let mut args = vec!["create", "--name", "ms"];
            args.extend(sd);
            args.extend([IMG, "sh", "-c", script]);
            ctx.ok(&args);
            let out = in_session(
                ctx,
                "m=$($R mount ms) || exit 9
                 echo from-session > \"$m/s\"
                 $R start -a ms || exit 8
                 stat -c dev=%d \"$m\"
                 cat \"$m/c\"
                 $R diff ms",
            );
            assert_eq!(out.code, Some(0), "{driver}: {out}");
            let lines: Vec<&str> = out.stdout.lines().collect();
            assert!(lines.len() > 4, "{driver}: {out}");
            assert!(lines[0].starts_with("dev="), "{driver}: {out}");
            assert_eq!(lines[0], lines[2], "{driver}: a second mount: {out}");
            assert_eq!(lines[1], "from-session", "{driver}: {out}");
            assert_eq!(lines[3], "from-ctr", "{driver}: {out}");
            assert!(lines[4..].contains(&"A /c"), "{driver}: {out}");
            ctx.ok(&["commit", "ms", "ms-img"]);
            let out = ctx.ok(&["run", "--rm", "ms-img", "cat", "/c", "/s"]);
            assert_eq!(out.stdout, "from-ctr\nfrom-session\n", "{driver}: {out}");
            ctx.ok(&["rm", "-f", "ms"]);
            ctx.ok(&["rmi", "ms-img"]);

            // A read-only container on the session's mount: read-only in
            // the container only.
            let mut args = vec!["create", "--name", "mro", "--read-only"];
            args.extend(sd);
            args.extend([IMG, "sh", "-c", "cat /s; touch /ro || echo refused"]);
            ctx.ok(&args);
            let out = in_session(
                ctx,
                "m=$($R mount mro) || exit 9
                 echo rw > \"$m/s\"
                 $R start -a mro 2>/dev/null || exit 8
                 echo still-rw > \"$m/s\" && cat \"$m/s\"",
            );
            assert_eq!(out.stdout, "rw\nrefused\nstill-rw\n", "{driver}: {out}");
            ctx.ok(&["rm", "-f", "mro"]);

            // Started detached; the session ends while it runs.
            let mut args = vec!["create", "--name", "md"];
            args.extend(sd);
            args.extend([IMG, "sleep", "1000"]);
            ctx.ok(&args);
            let out = in_session(
                ctx,
                "m=$($R mount md) || exit 9
                 echo from-session > \"$m/s\"
                 $R start md >/dev/null || exit 8
                 test \"$($R mount md)\" = \"$m\" || exit 7",
            );
            assert_eq!(out.code, Some(0), "{driver}: {out}");
            assert!(out.stderr.is_empty(), "{driver}: {out}");
            let out = ctx.ok(&["exec", "md", "sh", "-c", "cat /s; echo late > /late"]);
            assert_eq!(out.stdout, "from-session\n", "{driver}: {out}");
            assert!(ctx.ok(&["diff", "md"]).stdout.contains("A /late"));
            ctx.ok(&["rm", "-f", "md"]);
            let left = store_processes_after(ctx, Duration::from_secs(10));
            assert!(left.is_empty(), "{driver}: left running: {left:?}");
        }
    });
}
