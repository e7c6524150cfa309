//! `rless run`/`create` options users rely on from docker and podman:
//! `--pull` (and `-q`, `--platform`) against the test registry,
//! `--cidfile`, `--group-add`, `--sig-proxy`, `--stop-timeout`; and
//! `rless system prune`.
//!
//! The registry scenarios push small busybox images to 127.0.0.1:5000 (see
//! tests/pull.rs); the others import the busybox root filesystem as `bb`.

mod common;

use common::background::Background;
use common::checks::*;
use common::oci::{busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
use common::pty::PtySession;
use common::run_helpers::*;
use common::{
    for_each_user, host_arch_or_skip, other_arch, rless_bin, run_cmd, skip, Ctx, Mode, Out,
    CMD_TIMEOUT,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

/// An image of busybox plus `/marker` holding `text`.
fn marked(bb: &[u8], text: &str) -> Built {
    let top = LayerBuilder::new()
        .file("marker", text.as_bytes(), 0o644)
        .finish();
    Built::host(Format::Oci, &[(bb, Comp::Gzip), (&top, Comp::Gzip)])
}

/// The last stderr line is an `rless:` error, the exit code 125, and the
/// store holds no container.
fn assert_failed_cleanly(ctx: &Ctx, out: &Out) {
    assert_eq!(out.code, Some(125), "{out}");
    let last = stderr_lines(out).last().copied().unwrap_or_default();
    assert!(last.starts_with("rless: "), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert_no_containers(ctx, &out.cmdline);
}

#[test]
fn run_pulls_a_missing_image() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("run_pulls_missing", |ctx| {
        let p = reg.push(&ctx.repo("img"), "latest", &marked(bb, "one"));
        let out = ctx.rless(&["run", "--rm", &p.reference, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "one", "only the command's output: {out}");
        assert!(
            out.stderr
                .contains(&format!("Unable to find image '{}' locally", p.reference)),
            "{out}"
        );
        // Stored now: the next run does not pull (nor say so).
        let out = ctx.rless(&["run", "--rm", &p.reference, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert!(out.stderr.trim().is_empty(), "{out}");

        // -q: nothing on stderr; create pulls too, and prints only the id.
        let q = reg.push(&ctx.repo("quiet"), "latest", &marked(bb, "q"));
        let out = ctx.rless(&["create", "-q", &q.reference]);
        assert!(out.success(), "{out}");
        assert!(out.stderr.trim().is_empty(), "-q: {out}");
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        assert_eq!(containers(ctx).len(), 1, "{out}");
        ctx.ok(&["rm", out.last_line()]);

        // --pull never: refused, nothing pulled, nothing made.
        let n = reg.push(&ctx.repo("never"), "latest", &marked(bb, "n"));
        let out = ctx.rless(&["run", "--pull", "never", &n.reference, "true"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("--pull never"), "{out}");
        assert!(ctx.image_entry(&n.id).is_none(), "never pulled: {out}");

        // An image the registry does not have: the pull's error, exit
        // 125, no container.
        let gone = format!("{}/{}:nope", reg.host, ctx.repo("absent"));
        let out = ctx.rless(&["run", "--rm", &gone, "true"]);
        assert_failed_cleanly(ctx, &out);
        let out = ctx.rless(&["create", "-q", &gone]);
        assert_failed_cleanly(ctx, &out);
        assert!(out.stderr.lines().count() == 1, "-q: only the error: {out}");

        // A bad policy is refused before anything happens.
        let out = ctx.rless(&["run", "--pull", "sometimes", &n.reference]);
        assert_one_error(&out, 125);
    });
}

/// `rless login`'s credentials serve the pull of `run`.
#[test]
fn run_pulls_with_login_credentials() {
    let Some(reg) = Registry::auth() else { return };
    let Some(bb) = busybox_layer() else { return };
    let (user, pass) = reg.creds.clone().unwrap();
    for_each_user("run_pull_login", |ctx| {
        let p = reg.push(&ctx.repo("private"), "latest", &marked(bb, "secret"));
        // Not logged in: the pull's error, nothing made.
        let out = ctx.rless(&["run", "--rm", "-q", &p.reference, "true"]);
        assert_failed_cleanly(ctx, &out);
        ctx.ok(&["login", "-u", &user, "-p", &pass, &reg.host]);
        let out = ctx.rless(&["run", "--rm", "-q", &p.reference, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "secret", "{out}");
        ctx.ok(&["logout", &reg.host]);
    });
}

#[test]
fn run_pull_always_and_newer() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("run_pull_always", |ctx| {
        let repo = ctx.repo("moving");
        let p = reg.push(&repo, "latest", &marked(bb, "old"));
        let cat = |policy: &str| {
            let out = ctx.rless(&[
                "run",
                "--rm",
                "--pull",
                policy,
                &p.reference,
                "cat",
                "/marker",
            ]);
            assert!(out.success(), "--pull {policy}: {out}");
            out.stdout
        };
        assert_eq!(cat("missing"), "old");
        reg.push(&repo, "latest", &marked(bb, "new"));
        // missing and never keep the stored image; always takes the new one.
        assert_eq!(cat("missing"), "old");
        assert_eq!(cat("never"), "old");
        assert_eq!(cat("always"), "new");
        reg.push(&repo, "latest", &marked(bb, "newer"));
        assert_eq!(cat("newer"), "newer");

        // newer, and the registry cannot be asked: a warning, and the
        // stored image runs. always fails instead.
        let unreachable = "127.0.0.1:1/rlt/nowhere:latest";
        ctx.ok(&["tag", &p.reference, unreachable]);
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--pull",
            "newer",
            unreachable,
            "cat",
            "/marker",
        ]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "newer", "{out}");
        assert!(out.stderr.contains("warning"), "{out}");
        let out = ctx.rless(&["run", "--rm", "--pull", "always", unreachable, "true"]);
        assert_failed_cleanly(ctx, &out);
    });
}

#[test]
fn run_platform() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let Some(host) = host_arch_or_skip() else {
        return;
    };
    let other = other_arch();
    for_each_user("run_platform", |ctx| {
        let mine = marked(bb, host);
        let theirs = Built::new(
            Format::Oci,
            other,
            &[
                (bb, Comp::Gzip),
                (
                    &LayerBuilder::new()
                        .file("marker", other.as_bytes(), 0o644)
                        .finish(),
                    Comp::Gzip,
                ),
            ],
        );
        let repo = ctx.repo("multi");
        reg.push_index(&repo, "latest", &[(host, &mine), (other, &theirs)]);
        let reference = format!("{}/{repo}:latest", reg.host);
        let platform = format!("linux/{host}");
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--platform",
            &platform,
            &reference,
            "cat",
            "/marker",
        ]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, host, "{out}");

        // The other platform: the stored image is not it, so it is pulled.
        let platform = format!("linux/{other}");
        let out = ctx.rless(&["create", "--platform", &platform, &reference]);
        assert!(out.success(), "{out}");
        assert!(ctx.image_entry(&theirs.id()).is_some(), "{out}");
        ctx.ok(&["rm", out.last_line()]);

        // A platform the index lacks: the pull's clear error.
        let out = ctx.rless(&["create", "--platform", "linux/s390x", &reference]);
        assert_failed_cleanly(ctx, &out);
        assert!(out.stderr.contains("linux/s390x"), "{out}");
        let out = ctx.rless(&["create", "--platform", "linux", &reference]);
        assert_one_error(&out, 125);
        assert_no_containers(ctx, &out.cmdline);
    });
}

#[test]
fn run_cidfile() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_cidfile", |ctx| {
        assert!(setup_image(ctx));
        let cid = ctx.work.join("cid");
        let cid_s = cid.to_str().unwrap();
        let out = ctx.ok(&["create", "--cidfile", cid_s, IMG, "true"]);
        let id = out.last_line();
        assert_eq!(
            fs::read_to_string(&cid).unwrap(),
            id,
            "docker's: no newline"
        );
        // The file exists: refused, the file untouched, nothing made.
        let out = ctx.rless(&["run", "--rm", "--cidfile", cid_s, IMG, "true"]);
        assert_one_error(&out, 125);
        assert!(
            out.stderr.contains(&format!(
                "container ID file found, make sure the other container isn't running or delete {cid_s}"
            )),
            "{out}"
        );
        assert_eq!(fs::read_to_string(&cid).unwrap(), id, "{out}");
        assert_eq!(containers(ctx), vec![id.to_string()], "{out}");
        ctx.ok(&["rm", id]);
        // It cannot be made: the container goes too.
        let out = ctx.rless(&["run", "--cidfile", "no/such/dir/cid", IMG, "true"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("container ID file"), "{out}");
        assert_no_containers(ctx, &out.cmdline);
        // run writes it too.
        fs::remove_file(&cid).unwrap();
        let out = ctx.ok(&["run", "--cidfile", cid_s, IMG, "true"]);
        let id = fs::read_to_string(&cid).unwrap();
        assert_eq!(containers(ctx), vec![id], "{out}");
    });
}

#[test]
fn run_stop_timeout() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_stop_timeout", |ctx| {
        assert!(setup_image(ctx));
        // Ends 4 s after SIGTERM: before the default 10 s grace, after a
        // 1 s one (then SIGKILL: 137).
        let script = "trap 'sleep 4; exit 7' TERM; echo up; while :; do sleep 1; done";
        let started = |opts: &[&str]| {
            let mut a = vec!["run", "-d"];
            a.extend_from_slice(opts);
            a.extend_from_slice(&[IMG, "sh", "-c", script]);
            let id = ctx.ok(&a).last_line().to_string();
            assert!(
                eventually(std::time::Duration::from_secs(30), || ctx
                    .rless(&["logs", &id])
                    .stdout
                    .contains("up")),
                "{id} did not start"
            );
            id
        };
        let exit_code = |id: &str| -> String {
            let out = ctx.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]);
            out.last_line().to_string()
        };
        let short = started(&["--stop-timeout", "1"]);
        let out = ctx.ok(&["inspect", "-f", "{{.Config.StopTimeout}}", &short]);
        assert_eq!(out.last_line(), "1", "{out}");
        // A unit made for it stops it the same way (podman's).
        let unit = ctx.ok(&["generate", "systemd", &short]).stdout;
        assert!(unit.contains(&format!("stop -t 1 {short}")), "{unit}");
        ctx.ok(&["stop", &short]);
        assert_eq!(exit_code(&short), "137", "killed after its 1 s");
        // -t still wins over it.
        let long = started(&["--stop-timeout", "1"]);
        ctx.ok(&["stop", "-t", "30", &long]);
        assert_eq!(exit_code(&long), "7", "-t 30 let it end");
        // Without it: docker's 10 s, and no StopTimeout shown.
        let plain = started(&[]);
        let out = ctx.ok(&["inspect", &plain]);
        assert!(!out.stdout.contains("StopTimeout"), "{out}");
        ctx.ok(&["stop", &plain]);
        assert_eq!(exit_code(&plain), "7");
    });
}

// ------------------------------------------------------------------ system prune

#[test]
fn system_prune() {
    if !have_busybox() {
        return;
    }
    for_each_user("system_prune", |ctx| {
        assert!(setup_image(ctx));
        // A stopped container with 200 kB in its writable layer.
        let stopped = ctx
            .ok(&[
                "create",
                IMG,
                "dd",
                "if=/dev/zero",
                "of=/big",
                "bs=1000",
                "count=200",
            ])
            .last_line()
            .to_string();
        ctx.ok(&["start", "-a", &stopped]);
        let running = ctx
            .ok(&["run", "-d", IMG, "sleep", "1000"])
            .last_line()
            .to_string();
        // An untagged image, and an anonymous volume no container uses
        // (rm without -v keeps it), beside a named one.
        let dangling = ctx.ok(&["commit", &stopped]).last_line().to_string();
        let dangling = dangling.trim_start_matches("sha256:").to_string();
        ctx.ok(&["run", "--name", "anon", "-v", "/data", IMG, "true"]);
        ctx.ok(&["rm", "anon"]);
        let volumes = || -> Vec<String> {
            let out = ctx.ok(&["volume", "ls", "-q"]);
            out.stdout.lines().map(String::from).collect()
        };
        ctx.ok(&["volume", "create", "named"]);
        assert_eq!(volumes().len(), 2);
        ctx.ok(&["network", "create", "spare"]);

        // No -f and no terminal: refused, nothing removed.
        let out = ctx.fail_unchanged(&["system", "prune"]);
        assert!(out.stderr.contains("-f"), "{out}");

        let out = ctx.ok(&["system", "prune", "-f"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let after = |header: &str| -> Vec<&str> {
            let at = lines.iter().position(|l| *l == header);
            let at = at.unwrap_or_else(|| panic!("no {header}: {out}"));
            lines[at + 1..]
                .iter()
                .take_while(|l| !l.ends_with(':'))
                .copied()
                .collect()
        };
        assert_eq!(
            after("Deleted Containers:"),
            vec![stopped.as_str()],
            "{out}"
        );
        assert_eq!(after("Deleted Networks:"), vec!["spare"], "{out}");
        assert!(
            after("Deleted Images:").contains(&dangling.as_str()),
            "{out}"
        );
        assert!(!out.stdout.contains("Deleted Volumes:"), "{out}");
        let total = lines.last().copied().unwrap_or_default();
        let size = total.strip_prefix("Total reclaimed space: ");
        assert!(size.is_some_and(|s| s != "0B"), "{out}");
        assert_eq!(containers(ctx), vec![running.clone()], "{out}");
        assert!(ctx.image_entry(&dangling).is_none(), "{out}");
        assert_eq!(ctx.images_json().len(), 1, "bb is tagged: kept: {out}");
        assert_eq!(volumes().len(), 2, "no --volumes: {out}");

        // --volumes: the unused anonymous one; the named one stays.
        let out = ctx.ok(&["system", "prune", "-f", "--volumes"]);
        assert!(out.stdout.contains("Deleted Volumes:"), "{out}");
        assert_eq!(volumes(), vec!["named".to_string()], "{out}");

        // -a: an image in use stays; once its container is gone, it goes.
        ctx.ok(&["system", "prune", "-af"]);
        assert_eq!(ctx.images_json().len(), 1);
        ctx.ok(&["rm", "-f", &running]);
        let out = ctx.ok(&["system", "prune", "-a", "-f"]);
        assert!(out.stdout.contains("Deleted Images:"), "{out}");
        assert!(ctx.images_json().is_empty(), "{out}");
    });
}

/// Without -f, on a terminal: docker's question; only "y" prunes.
#[test]
fn system_prune_asks_on_a_terminal() {
    for_each_user("system_prune_asks", |ctx| {
        ctx.ok(&["network", "create", "spare"]);
        let networks = || ctx.ok(&["network", "ls", "-q"]).stdout;
        for (answer, kept) in [("n\n", true), ("\n", true), ("y\n", false)] {
            let mut pty = PtySession::spawn(ctx, &["system", "prune"], 24, 80);
            pty.wait_for("[y/N]");
            pty.type_in(answer.as_bytes());
            let (code, text) = pty.finish();
            assert_eq!(code, Some(0), "{answer:?}: {text}");
            assert!(text.contains("WARNING! This will remove:"), "{text}");
            assert_eq!(networks().contains("spare"), kept, "{answer:?}: {text}");
            assert_eq!(text.contains("Deleted Networks:"), !kept, "{text}");
        }
    });
}

// ------------------------------------------------------------------ --group-add

#[test]
fn run_group_add() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_group_add", |ctx| {
        assert!(setup_image(ctx));
        let groups = ["--group-add", "wheel", "--group-add", "4242"];
        if ctx.user.mode == Mode::Single {
            // One gid mapped: no other group can be had; said up front.
            let mut a = vec!["--rm"];
            a.extend_from_slice(&groups);
            a.extend_from_slice(&[IMG, "id", "-G"]);
            let out = expect_run_error(ctx, &a);
            assert!(out.stderr.contains("single-id mode"), "{out}");
        } else {
            assert_eq!(sh(ctx, &groups, "id -G"), "0 10 4242\n");
            // Added to -u's groups, an explicit group's too (docker).
            let out = sh(ctx, &["-u", "alice", "--group-add", "root"], "id -G");
            // (The kernel keeps supplementary groups sorted.)
            assert_eq!(out, "1000 0 10 100\n");
            let out = sh(ctx, &["-u", "alice:users", "--group-add", "wheel"], "id -G");
            assert_eq!(out, "100 10\n");
            // exec's processes have them too (docker).
            let id = ctx
                .ok(&["run", "-d", "--group-add", "4242", IMG, "sleep", "1000"])
                .last_line()
                .to_string();
            let out = ctx.ok(&["exec", &id, "id", "-G"]);
            assert_eq!(out.stdout, "0 4242\n", "{out}");
            ctx.ok(&["rm", "-f", &id]);
            // A name the image does not have: docker's error at start.
            let out = expect_run_error(ctx, &["--group-add", "staff", IMG, "true"]);
            assert!(out.stderr.contains("unable to find group staff"), "{out}");
        }
        let out = expect_run_error(
            ctx,
            &["--group-add", "keep-groups", "--group-add", "10", IMG],
        );
        assert!(out.stderr.contains("keep-groups"), "{out}");
    });
}

/// keep-groups: the caller's supplementary groups stay with the command,
/// so a host file only a group of the caller's may read is readable.
#[test]
fn run_group_add_keep_groups() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_keep_groups", |ctx| {
        if !ctx.user.switch {
            skip("keep-groups: needs root to start rless with a supplementary group");
            return;
        }
        assert!(setup_image(ctx));
        let dir = ctx.work.join("shared");
        fs::create_dir(&dir).unwrap();
        ctx.give(&dir);
        let secret = dir.join("secret");
        fs::write(&secret, "for the group\n").unwrap();
        std::os::unix::fs::chown(&secret, Some(0), Some(4343)).unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o640)).unwrap();
        let bind = format!("{}:/m", dir.display());
        // rless started as the user, with group 4343 besides its own.
        let cat = |opts: &[&str]| {
            let mut c = Command::new("setpriv");
            ctx.user_env(&mut c);
            c.arg(format!("--reuid={}", ctx.user.uid))
                .arg(format!("--regid={}", ctx.user.gid))
                .arg("--groups=4343")
                .arg("--")
                .arg(rless_bin())
                .arg("--root")
                .arg(&ctx.root)
                .args(["run", "--rm", "-v", &bind])
                .args(opts)
                .args([IMG, "cat", "/m/secret"]);
            run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name)
        };
        let out = cat(&["--group-add", "keep-groups"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "for the group\n", "{out}");
        if ctx.user.mode == Mode::Subuid {
            // Without it the command has only the image's groups.
            let out = cat(&[]);
            assert_eq!(out.code, Some(1), "{out}");
            assert!(out.stderr.contains("Permission denied"), "{out}");
        }
    });
}

// ------------------------------------------------------------------ --sig-proxy

#[test]
fn run_sig_proxy_false() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_sig_proxy", |ctx| {
        assert!(setup_image(ctx));
        // Output, stream by stream, and the exit code, as ever.
        let script = "echo out; echo err >&2; exit 3";
        let out = run(ctx, &["--rm", "--sig-proxy=false", IMG, "sh", "-c", script]);
        assert_eq!(out.code, Some(3), "{out}");
        assert_eq!(out.stdout, "out\n", "{out}");
        assert_eq!(out.stderr, "err\n", "{out}");
        assert_no_containers(ctx, &out.cmdline);
        let out = ctx.rless_stdin(
            &["run", "--rm", "-i", "--sig-proxy=false", IMG, "cat"],
            b"piped\n",
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "piped\n", "-i: {out}");
        for on in ["--sig-proxy", "--sig-proxy=true"] {
            assert_eq!(sh(ctx, &[on], "echo on"), "on\n");
        }

        // A signal ends rless only: the container runs on.
        let looping = "echo up; while :; do sleep 1; done";
        let start = |name: &str, opts: &[&str]| {
            let mut a = vec!["run", "--name", name];
            a.extend_from_slice(opts);
            a.extend_from_slice(&[IMG, "sh", "-c", looping]);
            let mut bg = Background::spawn(ctx, &a);
            bg.wait_line("up", Duration::from_secs(60));
            bg.signal(rustix::process::Signal::TERM);
            bg.finish(Duration::from_secs(60)).0
        };
        let running = |name: &str| {
            let out = ctx.ok(&["inspect", "-f", "{{.State.Running}}", name]);
            out.last_line().to_string()
        };
        let code = start("stays", &["--sig-proxy=false"]);
        assert_eq!(code, None, "rless itself ended by SIGTERM");
        assert_eq!(running("stays"), "true");
        ctx.ok(&["rm", "-f", "stays"]);
        // Passed on (the default), it ends the command.
        let code = start("goes", &[]);
        assert_eq!(code, Some(143), "the command ended by SIGTERM");
        assert_eq!(running("goes"), "false");
    });
}

/// Ctrl-C on the caller's terminal (no -t): with --sig-proxy=false it ends
/// rless and the container runs on; passed on (the default), it ends the
/// command.
#[test]
fn run_sig_proxy_false_ctrl_c() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_sig_proxy_ctrl_c", |ctx| {
        assert!(setup_image(ctx));
        let looping = "echo up; while :; do sleep 1; done";
        let ctrl_c = |name: &str, opts: &[&str]| {
            let mut a = vec!["run", "--name", name];
            a.extend_from_slice(opts);
            a.extend_from_slice(&[IMG, "sh", "-c", looping]);
            let mut pty = PtySession::spawn(ctx, &a, 24, 80);
            pty.wait_for("up");
            pty.type_in(b"\x03");
            pty.finish()
        };
        let running = |name: &str| {
            let out = ctx.ok(&["inspect", "-f", "{{.State.Running}}", name]);
            out.last_line().to_string()
        };
        let (code, text) = ctrl_c("stays", &["--sig-proxy=false"]);
        assert_eq!(code, None, "rless ended by SIGINT: {text}");
        assert_eq!(running("stays"), "true", "{text}");
        ctx.ok(&["rm", "-f", "stays"]);
        let (code, text) = ctrl_c("goes", &[]);
        assert_eq!(code, Some(130), "the command ended by SIGINT: {text}");
        assert_eq!(running("goes"), "false", "{text}");
    });
}

/// Options whose mistakes do not depend on the image are refused before a
/// pull: with an image whose registry cannot be reached, the error is the
/// option's (it was the pull's for most of these).
#[test]
fn run_bad_options_fail_before_a_pull() {
    for_each_user("run_bad_options_fail_before_a_pull", |ctx| {
        let unreachable = "127.0.0.1:1/rlt/nowhere:latest";
        let cases: &[(&[&str], &str)] = &[
            (&["--dns", "bad"], "--dns"),
            (&["--dns-option", ""], "--dns-option"),
            (&["--add-host", "nocolon"], "--add-host"),
            (&["--add-host", "h:notanip"], "--add-host"),
            (&["--label", "=v"], "label"),
            (&["--label-file", "/nonexistent/labels"], "label file"),
            (&["--env-file", "/nonexistent/env"], "env file"),
            (&["--volumes-from", "nosuch"], "no such container"),
            (&["--pid", "container:nosuch"], "no such container"),
            (&["--expose", "notaport"], "--expose"),
            (&["-p", "notaport"], "port"),
            (&["--device", "/nonexistent/dev"], "/nonexistent/dev"),
        ];
        for verb in ["run", "create"] {
            for (opts, says) in cases {
                let mut args = vec![verb];
                args.extend_from_slice(opts);
                args.extend([unreachable, "true"]);
                let out = ctx.rless(&args);
                assert_failed_cleanly(ctx, &out);
                let last = stderr_lines(&out).last().copied().unwrap_or_default();
                assert!(
                    last.contains(says) && !out.stderr.contains("127.0.0.1:1"),
                    "{verb} {opts:?}: the error must be the option's ({says:?}), before any pull: {out}"
                );
            }
            // A good option goes on to the pull, which fails.
            let out = ctx.rless(&[verb, "--dns", "192.0.2.1", unreachable, "true"]);
            assert_failed_cleanly(ctx, &out);
            assert!(out.stderr.contains("127.0.0.1:1"), "{out}");
        }
    });
}

/// `-t --sig-proxy=false` passes no signal (as docker, which passes none
/// in tty mode): the caller's input still reaches the container's
/// terminal, a SIGTERM ends rless only and the container runs on; the same
/// for `start -a -i` of a container made with `-t -i`, whose detach keys
/// leave it running too.
#[test]
fn run_tty_sig_proxy_false() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_sig_proxy_false", |ctx| {
        assert!(setup_image(ctx));
        let script = "echo up; read x; echo got-$x; trap 'echo got-term' TERM; \
                      while :; do sleep 1; done";
        let running = |name: &str| {
            let out = ctx.ok(&["inspect", "-f", "{{.State.Running}}", name]);
            out.last_line().to_string()
        };
        let check = |name: &str, args: &[&str]| {
            let mut pty = PtySession::spawn(ctx, args, 24, 80);
            pty.wait_for("up");
            pty.type_in(b"hello\r");
            pty.wait_for("got-hello");
            pty.signal(rustix::process::Signal::TERM);
            let (code, text) = pty.finish();
            assert_eq!(
                code, None,
                "{args:?}: rless itself ended by SIGTERM: {text}"
            );
            assert_eq!(running(name), "true", "{args:?}: {text}");
            let logs = ctx.ok(&["logs", name]);
            assert!(
                !logs.stdout.contains("got-term"),
                "{args:?}: passed on: {logs}"
            );
        };
        check(
            "runs",
            &[
                "run",
                "-t",
                "-i",
                "--name",
                "runs",
                "--sig-proxy=false",
                IMG,
                "sh",
                "-c",
                script,
            ],
        );
        ctx.ok(&["rm", "-f", "runs"]);
        ctx.ok(&[
            "create", "-t", "-i", "--name", "made", IMG, "sh", "-c", script,
        ]);
        check("made", &["start", "-a", "-i", "--sig-proxy=false", "made"]);
        // The detach keys leave it running; rless ends with 0.
        ctx.ok(&["stop", "made"]);
        let mut pty = PtySession::spawn(
            ctx,
            &["start", "-a", "-i", "--sig-proxy=false", "made"],
            24,
            80,
        );
        pty.wait_for("up");
        pty.type_in(b"\x10\x11");
        let (code, text) = pty.finish();
        assert_eq!(code, Some(0), "detached: {text}");
        assert_eq!(running("made"), "true", "{text}");
        ctx.ok(&["rm", "-f", "made"]);
    });
}

/// `start -a --sig-proxy=false` (no -t): this run's output only and its
/// exit code; a SIGTERM ends rless only and the container runs on.
#[test]
fn start_attach_sig_proxy_false() {
    if !have_busybox() {
        return;
    }
    for_each_user("start_attach_sig_proxy_false", |ctx| {
        assert!(setup_image(ctx));
        ctx.ok(&[
            "create",
            "--name",
            "once",
            IMG,
            "sh",
            "-c",
            "echo hi; echo err >&2; exit 3",
        ]);
        for _ in 0..2 {
            let out = ctx.rless(&["start", "-a", "--sig-proxy=false", "once"]);
            assert_eq!(out.code, Some(3), "{out}");
            assert_eq!(
                (out.stdout.as_str(), out.stderr.as_str()),
                ("hi\n", "err\n"),
                "{out}"
            );
        }
        ctx.ok(&[
            "create",
            "--name",
            "stays",
            IMG,
            "sh",
            "-c",
            "trap 'echo got-term' TERM; echo up; while :; do sleep 1; done",
        ]);
        let mut bg = Background::spawn(ctx, &["start", "-a", "--sig-proxy=false", "stays"]);
        bg.wait_line("up", Duration::from_secs(60));
        bg.signal(rustix::process::Signal::TERM);
        let (code, lines) = bg.finish(Duration::from_secs(60));
        assert_eq!(code, None, "rless itself ended by SIGTERM: {lines:?}");
        let out = ctx.ok(&["inspect", "-f", "{{.State.Running}}", "stays"]);
        assert_eq!(out.last_line(), "true", "{out}");
        let logs = ctx.ok(&["logs", "stays"]);
        assert!(!logs.stdout.contains("got-term"), "passed on: {logs}");
        ctx.ok(&["rm", "-f", "stays", "once"]);
    });
}
