//! `rless mount` / `rless umount` (podman's): inside `rless unshare` a
//! stopped container's root filesystem is mounted at a path the user's own
//! tools can change, with either storage driver; what they write is the
//! container's. Outside a session, for a running container and for a
//! missing one: one error line, exit 125. A session that ends with its
//! mounts in place leaves no server behind.

mod common;

use common::background::Background;
use common::run_helpers::*;
use common::{for_each_user, Ctx};
use std::time::{Duration, Instant};

/// Runs `script` in `rless unshare sh -c`, with `$R` the rless command
/// (binary and store) for the script to call.
fn in_session(ctx: &Ctx, script: &str) -> common::Out {
    ctx.rless(&["unshare", "sh", "-c", &session_script(ctx, script)])
}

/// [`in_session`]'s command, to start in the background.
fn session_cmd(ctx: &Ctx, script: &str) -> std::process::Command {
    ctx.rless_cmd(&["unshare", "sh", "-c", &session_script(ctx, script)])
}

/// `script` with `$R` set, and `$W` the test's work directory.
fn session_script(ctx: &Ctx, script: &str) -> String {
    let r = ctx.rless_words();
    format!("R='{r}'\nW='{}'\n{script}", ctx.work.display())
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
        // podman 4.3's columns (two spaces); umount names it as given.
        let listed = format!("{}  {path}", &id[..12]);
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

/// A mount made in one `rless unshare` session is recorded with the
/// container: while that session lives, `start` (attached or not), a copy
/// into the container, and `mount`, `start` and `umount` in another
/// session are refused (one line, 125, naming the way out) rather than put
/// a second overlay on the writable layer; a copy out reads it. Once the
/// session ends with the mount in place, the record counts for nothing:
/// the container starts, and the record is gone.
#[test]
fn a_session_mount_is_refused_elsewhere_while_the_session_lives() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "a_session_mount_is_refused_elsewhere_while_the_session_lives",
        |ctx| {
            assert!(setup_image(ctx));
            let id = ctx
                .ok(&["create", "--name", "mo", IMG, "cat", "/s"])
                .stdout
                .trim()
                .to_string();
            let rid = ctx
                .ok(&["create", "--name", "mr", IMG, "true"])
                .stdout
                .trim()
                .to_string();
            let done = ctx.work.join("session-done");
            let mut session = Background::spawn_cmd(session_cmd(
                ctx,
                &format!(
                    "$R mount mr >/dev/null || exit 10
                     m=$($R mount mo) || exit 9
                     echo in-session > \"$m/s\"
                     echo ready
                     while [ ! -e '{}' ]; do sleep 0.1; done",
                    done.display()
                ),
            ));
            session.wait_line("ready", Duration::from_secs(120));
            let marker = ctx.root.join("containers").join(&id).join("session-mount");
            assert!(marker.exists(), "no record of the mount");

            for args in [&["start", "-a", "mo"][..], &["start", "mo"]] {
                let out = ctx.rless(args);
                assert_eq!(out.code, Some(125), "{args:?}: {out}");
                assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out}");
                assert!(out.stderr.contains("\"rless umount mo\""), "{out}");
                assert!(out.stdout.is_empty(), "{args:?}: {out}");
            }
            let state = ctx.ok(&["inspect", "-f", "{{.State.Status}}", "mo"]);
            assert_eq!(state.stdout, "created\n", "{state}");
            let f = ctx.write_file("f", b"x");
            let into = format!("{}", f.display());
            let out = ctx.rless(&["cp", &into, "mo:/f"]);
            assert_eq!(out.code, Some(125), "{out}");
            assert!(out.stderr.contains("is mounted"), "{out}");
            let out = ctx.ok(&["cp", "mo:/s", "-"]);
            assert!(out.stdout.contains("in-session"), "{out}");

            let out = in_session(
                ctx,
                "$R mount mo; echo code=$?
                 $R start mo; echo code=$?
                 $R umount mo; echo code=$?",
            );
            assert_eq!(out.stdout, "code=125\ncode=125\ncode=125\n", "{out}");
            assert_eq!(out.stderr.lines().count(), 3, "{out}");
            assert!(
                marker.exists(),
                "another session's umount dropped the record"
            );
            // rm -f from outside takes the record with the container.
            ctx.ok(&["rm", "-f", "mr"]);
            assert!(!ctx.root.join("containers").join(&rid).exists());

            std::fs::write(&done, "").unwrap();
            let (code, _) = session.finish(Duration::from_secs(60));
            assert_eq!(code, Some(0), "the session failed");
            let left = store_processes_after(ctx, Duration::from_secs(10));
            assert!(left.is_empty(), "left running: {left:?}");
            let out = ctx.ok(&["start", "-a", "mo"]);
            assert_eq!(out.stdout, "in-session\n", "{out}");
            assert!(!marker.exists(), "a stale record was kept");

            // umount in the session drops the record; a new mount makes one.
            let out = in_session(
                ctx,
                &format!(
                    "$R mount mo >/dev/null || exit 9
                     test -e '{0}' || exit 8
                     $R umount mo >/dev/null || exit 7
                     test -e '{0}' && exit 6
                     exit 0",
                    marker.display()
                ),
            );
            assert_eq!(out.code, Some(0), "{out}");
            ctx.ok(&["rm", "-f", "mo"]);
        },
    );
}

/// In the session that mounted a container, `cp` (both ways) and `export`
/// use that mount: their helper's mount namespace (a copy of the
/// session's) holds it once, not a second overlay of the same layer on
/// top of it.
#[test]
fn views_in_the_session_use_its_mount() {
    if !have_busybox() {
        return;
    }
    for_each_user("views_in_the_session_use_its_mount", |ctx| {
        assert!(setup_image(ctx));
        ctx.write_file("in", b"copied-in\n");
        for driver in ["auto", "fuse-overlay"] {
            let sd = ["--storage-driver", driver];
            let mut args = vec!["create", "--name", "mv"];
            args.extend(sd);
            args.extend([IMG, "true"]);
            ctx.ok(&args);
            // While the helper streams a large file (blocked on a full pipe),
            // the most mounts at `$m` any process of the command has.
            let count = |what: &str| {
                format!(
                    "{{ head -c 1 >/dev/null
                   max=0
                   for d in /proc/[0-9]*; do
                     tr '\\0' ' ' < $d/cmdline 2>/dev/null | grep -q ' {what} $' || continue
                     n=$(grep -c \" $m \" $d/mountinfo)
                     [ \"$n\" -gt $max ] && max=$n
                   done
                   echo mounts=$max
                   cat >/dev/null; }}"
                )
            };
            let out = in_session(
                ctx,
                &format!(
                    "m=$($R mount mv) || exit 9
                 head -c 4000000 /dev/zero > \"$m/big\"
                 $R cp mv:/big - | {}
                 $R export mv | {}
                 $R cp \"$W/in\" mv:/in || exit 8
                 cat \"$m/in\"",
                    count("cp mv:/big -"),
                    count("export mv"),
                ),
            );
            assert_eq!(
                out.stdout, "mounts=1\nmounts=1\ncopied-in\n",
                "{driver}: a second mount: {out}"
            );
            ctx.ok(&["rm", "-f", "mv"]);
        }
    });
}

/// A session's command that ends while a process it left behind holds
/// its mount namespace (a background job): the mount lives on there, and
/// a start from the host is still refused, naming that process; once it
/// ends too, the container starts.
#[test]
fn a_background_job_of_the_session_keeps_its_mount_held() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "a_background_job_of_the_session_keeps_its_mount_held",
        |ctx| {
            assert!(setup_image(ctx));
            ctx.ok(&["create", "--name", "mb", IMG, "cat", "/s"]);
            let done = ctx.work.join("job-done");
            let session = Background::spawn_cmd(session_cmd(
                ctx,
                &format!(
                    "m=$($R mount mb) || exit 9
                 echo from-session > \"$m/s\"
                 ( while [ ! -e '{}' ]; do sleep 0.1; done ) >/dev/null 2>&1 &
                 echo job=$!",
                    done.display()
                ),
            ));
            let (code, lines) = session.finish(Duration::from_secs(60));
            assert_eq!(code, Some(0), "{lines:?}");
            let job = lines
                .iter()
                .find_map(|l| l.strip_prefix("job="))
                .expect("the job's pid")
                .to_string();
            let out = ctx.rless(&["start", "-a", "mb"]);
            assert_eq!(out.code, Some(125), "{out}");
            assert!(out.stderr.contains(&format!("process {job}:")), "{out}");
            std::fs::write(&done, "").unwrap();
            let left = store_processes_after(ctx, Duration::from_secs(10));
            assert!(left.is_empty(), "left running: {left:?}");
            let out = ctx.ok(&["start", "-a", "mb"]);
            assert_eq!(out.stdout, "from-session\n", "{out}");
            ctx.ok(&["rm", "mb"]);
        },
    );
}
