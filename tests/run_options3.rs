//! podman's further `run`/`create` options:
//!
//! - `--health-on-failure kill|stop|restart`: when the check turns the
//!   container unhealthy, the watcher kills, stops or restarts it
//!   (`none`: it runs on); refused without a health check.
//! - `--env-merge 'PATH=/x:${PATH}'`: a default variable rewritten from
//!   its own value; `-e` still goes over it.
//! - `--image-volume bind|tmpfs|ignore`: the image's VOLUMEs as anonymous
//!   volumes (the default), tmpfs, or not at all.
//! - `--personality LINUX32`: the command's execution domain.
//! - `--preserve-fds N`: the caller's descriptor 3 reaches the command
//!   (foreground and `-d`), and without the option it does not; refused
//!   for a descriptor that is not open, and with `create`.
//! - `/etc/passwd` lines as podman adds them: for a numeric `-u UID:GID`
//!   the image lacks ("container user", and a group line), for
//!   `--hostuser NAME` (the host's entry), and with keep-id; podman's
//!   `--passwd-entry` template makes the line, `--group-entry` the group
//!   line.
//! - `--seccomp-policy image`: the image's
//!   `io.containers.seccomp.profile` label is the filter; refused when the
//!   image has none.
//! - accepted with a warning where nothing is enforced
//!   (`--memory-swappiness`, `--oom-kill-disable`, `--device-cgroup-rule`,
//!   `--init-path` with `--init`), accepted as podman does (`--systemd=false`,
//!   `--sdnotify ignore`), and refused with one line, exit 125, before a
//!   container exists (systemd mode, `--uidmap` and the other explicit
//!   maps, `--mac-address`, bad values).
//! - `--cgroupns host` (the default) is the caller's cgroup namespace,
//!   `private` one of the container's own where its cgroups are `/`.
//!
//! The scenarios import the busybox root filesystem as `bb`.

mod common;

use common::checks::*;
use common::for_each_user;
use common::lifecycle_helpers::inspect;
use common::run_helpers::*;
use std::time::Duration;

/// Each `(OPTS, says)` of `cases`: `run --rm OPTS… IMG true` must be
/// refused with one line (exit 125) naming `says`, leaving no container.
fn refused(ctx: &common::Ctx, cases: &[(&[&str], &str)]) {
    for (opts, says) in cases {
        let out = expect_run_error(ctx, &[&["--rm"][..], opts, &[IMG, "true"]].concat());
        assert!(out.stderr.contains(says), "{says}: {out}");
    }
}

/// The busybox root filesystem imported again as `name`, with `changes`.
fn import_with(ctx: &common::Ctx, name: &str, changes: &[&str]) {
    let dir = ctx.work.join("rootfs");
    let mut args = vec!["import"];
    for c in changes {
        args.extend(["-c", c]);
    }
    args.extend([dir.to_str().unwrap(), name]);
    ctx.ok(&args);
}

fn state(ctx: &common::Ctx, name: &str) -> String {
    inspect_f(ctx, "{{.State.Status}} {{.State.ExitCode}}", name)
}

#[test]
fn run_health_on_failure() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_health_on_failure", |ctx| {
        assert!(setup_image(ctx));
        refused(
            ctx,
            &[
                (&["--health-on-failure", "kill"], "without a health check"),
                (
                    &["--health-cmd", "true", "--health-on-failure", "boom"],
                    "invalid --health-on-failure",
                ),
            ],
        );
        let failing = [
            "-d",
            "--health-cmd",
            "false",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
        ];
        for (name, action, want) in [("k", "kill", "exited 137"), ("s", "stop", "exited 143")] {
            let mut args = failing.to_vec();
            args.extend(["--name", name, "--health-on-failure", action, IMG]);
            args.extend(["sleep", "600"]);
            run_ok(ctx, &args);
            let shown = inspect_f(ctx, "{{.Config.HealthcheckOnFailureAction}}", name);
            assert_eq!(shown, action);
            let ended = eventually(Duration::from_secs(60), || state(ctx, name) == want);
            assert!(ended, "{action}: {}", state(ctx, name));
        }
        // restart: the command starts again (its file in the container
        // gets a second line).
        let mut args = failing.to_vec();
        args.extend(["--name", "r", "--health-on-failure", "restart", IMG]);
        args.extend(["sh", "-c", "echo x >> /runs; sleep 600"]);
        run_ok(ctx, &args);
        let again = eventually(Duration::from_secs(60), || {
            ctx.rless(&["exec", "r", "cat", "/runs"])
                .stdout
                .lines()
                .count()
                >= 2
        });
        assert!(again, "{}", ctx.rless(&["exec", "r", "cat", "/runs"]));
        ctx.ok(&["rm", "-f", "r"]);
        // none: unhealthy, and running on.
        let mut args = failing.to_vec();
        args.extend([
            "--name",
            "n",
            "--health-on-failure",
            "none",
            IMG,
            "sleep",
            "600",
        ]);
        run_ok(ctx, &args);
        let unhealthy = eventually(Duration::from_secs(60), || {
            inspect(ctx, "n")["State"]["Health"]["Status"] == "unhealthy"
        });
        assert!(unhealthy);
        assert_eq!(state(ctx, "n"), "running 0");
        let shown = inspect_f(ctx, "{{.Config.HealthcheckOnFailureAction}}", "n");
        assert_eq!(shown, "none");
        ctx.ok(&["rm", "-f", "n"]);
    });
}

#[test]
fn run_env_merge_and_image_volumes() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_env_merge_and_image_volumes", |ctx| {
        assert!(setup_image(ctx));
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--env-merge",
                "PATH=/x:${PATH}",
                "--env-merge",
                "G=[$NONE]",
                IMG,
                "sh",
                "-c",
                "echo $PATH $G",
            ],
        );
        assert_eq!(
            out.stdout,
            "/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin []\n"
        );
        let over = ["--rm", "--env-merge", "A=merged", "-e", "A=user", IMG];
        let out = run_ok(ctx, &[&over[..], &["sh", "-c", "echo $A"]].concat());
        assert_eq!(out.stdout, "user\n");
        refused(
            ctx,
            &[
                (&["--env-merge", "=x"], "--env-merge"),
                (&["--image-volume", "nfs"], "--image-volume"),
            ],
        );
        import_with(ctx, "bbvol", &["VOLUME /data"]);
        let mounted = "grep ' /data ' /proc/mounts | cut -d' ' -f3";
        run_ok(ctx, &["--name", "b", "bbvol", "true"]);
        let mounts = "{{range .Mounts}}{{.Type}} {{.Destination}};{{end}}";
        assert_eq!(inspect_f(ctx, mounts, "b"), "volume /data;");
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--image-volume",
                "tmpfs",
                "bbvol",
                "sh",
                "-c",
                mounted,
            ],
        );
        assert_eq!(out.stdout, "tmpfs\n");
        run_ok(
            ctx,
            &["--name", "i", "--image-volume", "ignore", "bbvol", "true"],
        );
        assert_eq!(inspect_f(ctx, mounts, "i"), "");
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--image-volume",
                "ignore",
                "bbvol",
                "sh",
                "-c",
                mounted,
            ],
        );
        assert_eq!(out.stdout, "");
    });
}

#[test]
fn run_preserve_fds() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_preserve_fds", |ctx| {
        assert!(setup_image(ctx));
        let path = ctx.work.join("fd3.out");
        let file = std::fs::File::create(&path).unwrap();
        let write3 = ["sh", "-c", "echo via-fd3 >&3"];
        let args = [&["--rm", "--preserve-fds", "1", IMG][..], &write3].concat();
        let out = common::checks::rless_with_fd3(ctx, &[&["run"][..], &args].concat(), &file);
        assert_eq!(out.code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "via-fd3\n");
        // Without the option the command has no descriptor 3.
        let out = common::checks::rless_with_fd3(
            ctx,
            &[&["run", "--rm", IMG][..], &write3].concat(),
            &file,
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "via-fd3\n");
        // Detached too: the detached monitor keeps it for the command.
        let args = [
            &["--name", "d", "-d", "--preserve-fds", "1", IMG][..],
            &write3,
        ]
        .concat();
        let out = common::checks::rless_with_fd3(ctx, &[&["run"][..], &args].concat(), &file);
        assert_eq!(out.code, Some(0), "{out}");
        assert_eq!(ctx.ok(&["wait", "d"]).stdout.trim(), "0");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "via-fd3\nvia-fd3\n"
        );
        ctx.ok(&["rm", "d"]);
        refused(ctx, &[(&["--preserve-fds", "40"], "descriptor")]);
        let out = ctx.fail(&["create", "--preserve-fds", "1", IMG, "true"]);
        assert!(out.stderr.contains("--preserve-fds is for run"), "{out}");
    });
}

#[test]
fn run_passwd_entries() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_passwd_entries", |ctx| {
        assert!(setup_image(ctx));
        // Other ids than root are mapped in subuid mode only.
        if ctx.user.subuid.is_some() {
            let tails = ["sh", "-c", "tail -1 /etc/passwd; tail -1 /etc/group"];
            let out = run_ok(ctx, &[&["--rm", "-u", "1234:55", IMG][..], &tails].concat());
            assert_eq!(
                out.stdout,
                "1234:*:1234:55:container user:/:/bin/sh\n55:x:55:1234\n"
            );
            // A user the image has gains nothing.
            let out = run_ok(
                ctx,
                &[&["--rm", "-u", "1000:1000", IMG][..], &tails].concat(),
            );
            assert_eq!(
                out.stdout,
                format!(
                    "{}{}",
                    PASSWD.lines().last().unwrap(),
                    "\nnogroup:x:65534:\n"
                )
            );
            let template = ["--passwd-entry", "X$USERNAME:$UID:$GID:$NAME:$HOME"];
            let opts = [&["--rm", "-w", "/tmp", "-u", "1234"][..], &template, &[IMG]].concat();
            let out = run_ok(ctx, &[&opts[..], &tails].concat());
            assert_eq!(
                out.stdout,
                "X1234:1234:0:container user:/tmp\nnogroup:x:65534:\n"
            );
        }
        let u = &ctx.user;
        let opts = [
            "--rm",
            "--userns",
            "keep-id",
            "--group-entry",
            "G$GROUPNAME:$GID:$USERNAME",
            IMG,
        ];
        let out = run_ok(
            ctx,
            &[&opts[..], &["sh", "-c", "tail -1 /etc/group"]].concat(),
        );
        let group = out.stdout.trim().to_string();
        assert!(
            group.starts_with('G') && group.ends_with(&format!(":{}:{}", u.gid, u.name)),
            "{out}"
        );
        let opts = [
            "--rm",
            "-w",
            "/tmp",
            "--hostuser",
            &u.name,
            "--passwd-entry",
            "$USERNAME:$UID:$GID:$HOME",
            IMG,
        ];
        let out = run_ok(
            ctx,
            &[&opts[..], &["sh", "-c", "tail -1 /etc/passwd"]].concat(),
        );
        assert_eq!(out.stdout, format!("{}:{}:{}:/tmp\n", u.name, u.uid, u.gid));
        let opts = [
            "--rm",
            "--userns",
            "keep-id",
            "--passwd-entry",
            "K$USERNAME:$UID",
            IMG,
        ];
        let out = run_ok(
            ctx,
            &[&opts[..], &["sh", "-c", "tail -1 /etc/passwd"]].concat(),
        );
        assert_eq!(out.stdout, format!("K{}:{}\n", u.name, u.uid));
        refused(
            ctx,
            &[(&["--hostuser", "no-such-user-here"], "no such user")],
        );
    });
}

#[test]
fn run_personality_and_image_seccomp() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_personality_and_image_seccomp", |ctx| {
        assert!(setup_image(ctx));
        let show = ["cat", "/proc/self/personality"];
        let out = run_ok(
            ctx,
            &[&["--rm", "--personality", "LINUX32", IMG][..], &show].concat(),
        );
        assert_eq!(out.stdout, "00000008\n");
        let out = run_ok(
            ctx,
            &[&["--rm", "--personality", "linux", IMG][..], &show].concat(),
        );
        assert_eq!(out.stdout, "00000000\n");
        refused(
            ctx,
            &[
                (&["--personality", "LINUX64"], "--personality"),
                (
                    &["--seccomp-policy", "image"],
                    "no seccomp policy defined by image",
                ),
            ],
        );
        let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let label = format!("LABEL io.containers.seccomp.profile='{profile}'");
        import_with(ctx, "bbsec", &[&label]);
        let mk = ["sh", "-c", "mkdir /tmp/d && echo made"];
        let out = run(
            ctx,
            &[&["--rm", "--seccomp-policy", "image", "bbsec"][..], &mk].concat(),
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert!(!out.stdout.contains("made"), "{out}");
        let out = run_ok(
            ctx,
            &[&["--rm", "--seccomp-policy", "default", "bbsec"][..], &mk].concat(),
        );
        assert_eq!(out.stdout, "made\n");
    });
}

#[test]
fn run_accepted_and_refused_options() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_accepted_and_refused_options", |ctx| {
        assert!(setup_image(ctx));
        // Nothing can enforce these: a warning each, and the run goes on.
        for (opts, warns) in [
            (
                &["--memory-swappiness", "10"][..],
                "--memory-swappiness not applied",
            ),
            (
                &["--oom-kill-disable"][..],
                "--oom-kill-disable not applied",
            ),
            (
                &["--device-cgroup-rule", "c 1:3 rwm"][..],
                "--device-cgroup-rule",
            ),
            (
                &["--init", "--init-path", "/bin/sh"][..],
                "--init-path /bin/sh is not used",
            ),
        ] {
            let out = run_ok(ctx, &[&["--rm"][..], opts, &[IMG, "echo", "ran"]].concat());
            assert_eq!(out.stdout, "ran\n", "{out}");
            assert!(out.stderr.contains(warns), "{warns}: {out}");
        }
        for opts in [
            &["--systemd=false"][..],
            &["--systemd", "true"][..],
            &["--sdnotify", "ignore"][..],
            &["--cgroupns", "host"][..],
            &["--memory-swappiness", "-1"][..],
        ] {
            let out = run_ok(ctx, &[&["--rm"][..], opts, &[IMG, "echo", "ran"]].concat());
            out.assert_streams("ran\n", "");
        }
        refused(
            ctx,
            &[
                (&["--systemd=always"], "--systemd=always is not supported"),
                (&["--systemd=maybe"], "invalid --systemd"),
                (&["--cgroupns", "elsewhere"], "invalid --cgroupns"),
                (&["--subuidname", "x"], "--subuidname is not supported"),
                (
                    &["--mac-address", "02:42:ac:11:00:02"],
                    "static ip/mac address",
                ),
                (&["--memory-swappiness", "101"], "--memory-swappiness"),
                (&["--device-cgroup-rule", "c 1:3"], "--device-cgroup-rule"),
                (&["--sdnotify", "always"], "--sdnotify"),
                (&["--seccomp-policy", "any"], "--seccomp-policy"),
            ],
        );
        // --cgroupns: the caller's namespace by default, one of its own
        // with private (rooted at the container's cgroup).
        let host_ns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
        let host_ns = host_ns.to_str().unwrap();
        let ns = ["readlink", "/proc/self/ns/cgroup"];
        let out = run_ok(ctx, &[&["--rm", IMG][..], &ns].concat());
        assert_eq!(out.stdout.trim(), host_ns);
        let out = run_ok(
            ctx,
            &[&["--rm", "--cgroupns", "host", IMG][..], &ns].concat(),
        );
        assert_eq!(out.stdout.trim(), host_ns);
        let private = ["--rm", "--cgroupns", "private", IMG, "sh", "-c"];
        let script = "readlink /proc/self/ns/cgroup; cut -d: -f3 /proc/self/cgroup | sort -u";
        let out = run_ok(ctx, &[&private[..], &[script]].concat());
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(
            lines.len() == 2 && lines[0].starts_with("cgroup:[") && lines[0] != host_ns,
            "{out}"
        );
        assert_eq!(lines[1], "/", "{out}");
        // exec joins it.
        let main = "readlink /proc/self/ns/cgroup > /ns; sleep 600";
        run_ok(
            ctx,
            &[
                &["-d", "--name", "cg", "--cgroupns", "private", IMG][..],
                &["sh", "-c", main],
            ]
            .concat(),
        );
        let theirs = eventually(Duration::from_secs(60), || {
            ctx.rless(&["exec", "cg", "cat", "/ns"])
                .stdout
                .starts_with("cgroup:")
        });
        assert!(theirs);
        let theirs = ctx.ok(&["exec", "cg", "cat", "/ns"]);
        let mine = ctx.ok(&["exec", "cg", "readlink", "/proc/self/ns/cgroup"]);
        assert_eq!(mine.stdout, theirs.stdout);
        assert_ne!(mine.stdout.trim(), host_ns);
        ctx.ok(&["rm", "-f", "cg"]);
        // systemd mode is what --systemd=true asks of an init command.
        let out = expect_run_error(ctx, &["--rm", "--systemd=true", IMG, "/sbin/init"]);
        assert!(out.stderr.contains("systemd mode"), "{out}");
        // create takes them too.
        let out = ctx.ok(&[
            "create",
            "--name",
            "c",
            "--personality",
            "LINUX32",
            "--systemd=false",
            IMG,
            "true",
        ]);
        assert!(!out.stdout.trim().is_empty(), "{out}");
        ctx.ok(&["rm", "c"]);
    });
}
