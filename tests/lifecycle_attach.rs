//! `rless attach`: a running container's output from the moment of the
//! attach (stdout and stderr apart), its input with `-d -i` (through its
//! terminal with `-t`), the detach keys, signals passed on, the
//! container's exit code, a `--rm` container's too, and 137 for one `rm
//! -f` kills (`wait` too); refused for stopped and unknown containers and
//! bad detach keys.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn lifecycle_attach_output_signals_and_exit_code() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_attach_output_signals_and_exit_code", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        run_sh(
            ctx,
            &["--name", "talk"],
            "echo early; trap 'echo got-term; exit 3' TERM; \
             while true; do echo tick; echo err-tick >&2; sleep 0.2; done",
        );
        wait_log(ctx, "talk", "tick");
        let mut att = Background::spawn(ctx, &["attach", "talk"]);
        // Output after the attach began arrives (on stdout)...
        att.wait_line("tick", WAIT);
        // ...and SIGTERM to attach reaches the container, whose trap
        // answers; the attach ends with the container's exit code.
        att.signal(rustix::process::Signal::TERM);
        let stderr = att.stderr.clone();
        let (code, lines) = att.finish(WAIT);
        assert_eq!(code, Some(3), "{lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("got-term"),
            "{lines:?}"
        );
        // Nothing from before the attach; stderr stays apart.
        assert!(!lines.contains(&"early".to_string()), "{lines:?}");
        assert!(!lines.contains(&"err-tick".to_string()), "{lines:?}");
        let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
        assert!(stderr.contains("err-tick"), "{stderr}");
        assert_eq!(state_of(&inspect(ctx, "talk"))["ExitCode"], 3);

        // Refused: a stopped container, an unknown one, bad detach keys.
        for args in [
            &["attach", "talk"][..],
            &["attach", "nosuch"],
            &["attach", "--detach-keys", "ctrl-", "talk"],
        ] {
            assert_one_error(&ctx.rless(args), ERR_EXIT);
        }
        // A container waiting out its restart back-off is "restarting", as
        // docker says.
        run_sh(ctx, &["--name", "flaky", "--restart", "always"], "exit 1");
        let told = eventually(WAIT, || {
            let out = ctx.rless(&["attach", "flaky"]);
            out.code == Some(ERR_EXIT) && out.stderr.contains("restarting container")
        });
        assert!(told, "{}", ctx.rless(&["attach", "flaky"]));
        ctx.ok(&["rm", "-f", "flaky"]);
    });
}

#[test]
fn lifecycle_attach_input_detach_keys_and_auto_remove() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "lifecycle_attach_input_detach_keys_and_auto_remove",
        |ctx| {
            let _cleanup = Cleanup(ctx);
            setup_image(ctx);
            // -d -i: attach's stdin is the command's; its exit code is attach's,
            // also when --rm removes the container at once.
            run_sh(
                ctx,
                &["-i", "--rm", "--name", "reader"],
                "while read l; do echo \"got:$l\"; [ \"$l\" = bye ] && exit 4; done",
            );
            let out = ctx.rless_stdin(&["attach", "reader"], b"hello\nbye\n");
            assert_eq!(out.code, Some(4), "{out}");
            assert_eq!(out.stdout, "got:hello\ngot:bye\n", "{out}");
            assert!(eventually(WAIT, || {
                ctx.rless(&["inspect", "reader"]).code == Some(ERR_EXIT)
            }));

            // --no-stdin: this attach's input is not passed on; a second
            // attach's is.
            run_sh(
                ctx,
                &["-i", "--name", "deaf"],
                "while ! read -t 0.2 l; do echo tick; done; echo \"read:$l\"",
            );
            let mut deaf = Background::spawn_with_input(
                ctx.rless_cmd(&["attach", "--no-stdin", "deaf"]),
                Some(b"ignored\n"),
            );
            deaf.wait_line("tick", WAIT);
            let out = ctx.rless_stdin(&["attach", "deaf"], b"second\n");
            assert_eq!(out.code, Some(0), "{out}");
            let (code, lines) = deaf.finish(WAIT);
            assert_eq!(code, Some(0));
            assert_eq!(lines.last().map(String::as_str), Some("read:second"));

            // -d -i -t: keys go through the container's terminal; the detach
            // keys (ctrl-p ctrl-q, or those of --detach-keys) leave it
            // running; its exit ends the attach.
            run_d(ctx, &["-i", "-t", "--name", "term", IMG, "sh"]);
            let out = ctx.rless_stdin(&["attach", "term"], b"echo two-$((40+3))\n\x10\x11");
            assert_eq!(out.code, Some(0), "{out}");
            assert_eq!(state_of(&inspect(ctx, "term"))["Status"], "running");
            assert!(wait_log(ctx, "term", "two-43").success());
            let out = ctx.rless_stdin(
                &["attach", "--detach-keys", "ctrl-x", "term"],
                b"echo three-$((40+4))\n\x18",
            );
            assert_eq!(out.code, Some(0), "{out}");
            assert!(wait_log(ctx, "term", "three-44").success());
            let out = ctx.rless_stdin(&["attach", "term"], b"exit 5\n");
            assert_eq!(out.code, Some(5), "{out}");
        },
    );
}

/// `rm -f` of a running container: its attaches and waits end with its
/// exit code, 137, as docker's; they read it before the directory goes
/// (each said 0, or "removed before it exited", when it went first).
#[test]
fn lifecycle_attach_and_wait_read_the_exit_of_rm_f() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_attach_and_wait_read_the_exit_of_rm_f", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--name", "doomed"], FOREVER);
        let waiters_lock = container_dir(ctx, &id).join("waiters.lock");
        let mut attaches: Vec<Background> = (0..3)
            .map(|_| Background::spawn(ctx, &["attach", "doomed"]))
            .collect();
        let mut waits: Vec<Background> = (0..3)
            .map(|_| Background::spawn(ctx, &["wait", "doomed"]))
            .collect();
        // Every one of them waits (each holds the waiters' lock shared).
        assert!(eventually(WAIT, || flock_holders(&waiters_lock) == 6));
        ctx.ok(&["rm", "-f", "doomed"]);
        for a in attaches.drain(..) {
            let (code, _) = a.finish(WAIT);
            assert_eq!(code, Some(137), "attach");
        }
        for w in waits.drain(..) {
            let (code, lines) = w.finish(WAIT);
            assert_eq!((code, lines), (Some(0), vec!["137".to_string()]), "wait");
        }
    });
}

/// A `-t` container that never reads its input while attaches push far
/// more than the FIFO and the pty's input queue hold (4 MiB): the monitor
/// drops what does not fit and goes on copying the output (the ticks go
/// on, logged and shown), and `stop` ends it and the attaches as usual.
#[test]
fn lifecycle_attach_input_flood_does_not_stall_the_monitor() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "lifecycle_attach_input_flood_does_not_stall_the_monitor",
        |ctx| {
            use std::io::Write;
            let _cleanup = Cleanup(ctx);
            setup_image(ctx);
            let script = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.05; done";
            run_d(
                ctx,
                &["-i", "-t", "--name", "busy", IMG, "sh", "-c", script],
            );
            wait_log(ctx, "busy", "tick-1");
            let last_tick = || {
                let out = ctx.ok(&["logs", "busy"]).stdout;
                out.lines()
                    .filter_map(|l| l.trim().strip_prefix("tick-")?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
            };
            let before = last_tick();
            let (taken, all_taken) = std::sync::mpsc::channel();
            let flooders: Vec<_> = (0..2)
                .map(|_| {
                    let mut child = ctx
                        .rless_cmd(&["attach", "busy"])
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .unwrap();
                    let mut input = child.stdin.take().unwrap();
                    let taken = taken.clone();
                    std::thread::spawn(move || {
                        // Keys without a newline, and lines: neither is read.
                        let flood = [vec![b'a'; 2 << 20], b"line\n".repeat(400_000)].concat();
                        let _ = taken.send(input.write_all(&flood).is_ok());
                    });
                    child
                })
                .collect();
            // The output goes on meanwhile, and each attach's input is
            // taken whole: the monitor drains it.
            assert!(
                eventually(WAIT, || last_tick() >= before + 5),
                "the output stopped at tick {}",
                last_tick()
            );
            for _ in 0..2 {
                let ok = all_taken.recv_timeout(WAIT);
                assert_eq!(ok, Ok(true), "an attach stopped taking input");
            }
            let after = last_tick();
            assert!(
                eventually(WAIT, || last_tick() >= after + 5),
                "the output stopped at tick {after}"
            );
            ctx.ok(&["stop", "busy"]);
            for mut child in flooders {
                let status =
                    wait_timeout(&mut child, WAIT).expect("attach ends with the container");
                assert_eq!(status.code(), Some(143));
            }
        },
    );
}

/// How many flock(2) locks are held on `path` (from /proc/locks).
fn flock_holders(path: &std::path::Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = std::fs::metadata(path).map(|m| m.ino()) else {
        return 0;
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"FLOCK") && f.get(5).is_some_and(|d| d.ends_with(&format!(":{ino}")))
        })
        .count()
}

/// `attach` to a `-d -i -t` container from a terminal: the container's
/// terminal takes the attaching terminal's size at once and at each
/// resize, and its processes get SIGWINCH, as docker's attach resizes.
#[test]
fn lifecycle_attach_passes_terminal_size() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_attach_passes_terminal_size", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        run_d(
            ctx,
            &[
                "-i", "-t", "--name", "sized", IMG, "sh", "-c",
                "trap 'echo size=$(busybox stty size)' WINCH; echo ready; while true; do sleep 0.1; done",
            ],
        );
        assert!(wait_log(ctx, "sized", "ready").success());
        let mut pty = common::pty::PtySession::spawn(ctx, &["attach", "sized"], 40, 100);
        pty.wait_for("size=40 100");
        pty.resize(50, 132);
        pty.wait_for("size=50 132");
        pty.type_in(b"\x10\x11");
        let (code, _) = pty.finish();
        assert_eq!(code, Some(0));
        assert_eq!(state_of(&inspect(ctx, "sized"))["Status"], "running");
        ctx.ok(&["rm", "-f", "sized"]);
    });
}
