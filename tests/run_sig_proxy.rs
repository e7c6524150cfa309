//! `--sig-proxy` of `run` and `start -a`: with it (the default) the
//! caller's signals reach the container; with `--sig-proxy=false` they end
//! rless only and the container runs on, with or without `-t`.
//!
//! The scenarios import the busybox root filesystem as `bb`.

mod common;

use common::background::Background;
use common::checks::*;
use common::for_each_user;
use common::pty::PtySession;
use common::run_helpers::*;
use std::time::Duration;

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
