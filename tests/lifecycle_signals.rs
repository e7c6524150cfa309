//! `kill -s` and stop signals: signal names (with or without SIG, any
//! case, numbers, real-time RTMIN+n / RTMAX-n), which the container's init
//! passes on to the command; `stop` and `restart` send the container's stop
//! signal (`run --stop-signal` over the image's `STOPSIGNAL`), then SIGKILL;
//! `kill` of a paused container resumes it for its stop signal only.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::fs;
use std::time::Duration;

#[test]
fn lifecycle_kill() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_kill", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "k"],
            "trap 'echo got-usr1' USR1; trap 'echo got-hup' HUP; echo ready; \
             while true; do sleep 0.1; done",
        );
        wait_log(ctx, "k", "ready");
        let out = ctx.ok(&["kill", "-s", "USR1", "k"]);
        assert_eq!(out.stdout, "k\n", "{out}");
        wait_log(ctx, "k", "got-usr1");
        // One at a time: a second HUP while the first is pending is merged.
        ctx.ok(&["kill", "--signal", "SIGHUP", "k"]);
        wait_log(ctx, "k", "got-hup");
        ctx.ok(&["kill", "-s", "1", "k"]);
        let out = wait_log(ctx, "k", "got-hup\ngot-hup");
        assert_eq!(out.stdout, "ready\ngot-usr1\ngot-hup\ngot-hup\n", "{out}");
        let st = inspect(ctx, &id);
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "trapped signals must not end it: {st}"
        );
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        assert!(pid_alive(pid), "inspect's Pid {pid} must be a live process");

        // Default: KILL.
        ctx.ok(&["kill", "k"]);
        let out = ctx.ok(&["wait", "k"]);
        assert_eq!(out.stdout, "137\n", "kill (SIGKILL) gives 137: {out}");
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 137, "{st}");
        assert!(
            eventually(Duration::from_secs(30), || !pid_alive(pid)),
            "the init {pid} must be gone after kill"
        );
        // Killing an exited container is an error.
        let out = ctx.rless(&["kill", "k"]);
        assert_one_error(&out, ERR_EXIT);
        // A bad signal.
        let id2 = run_sh(ctx, &[], FOREVER);
        for bad in [
            "NOPE",
            "999",
            "",
            "0",
            "65",
            "RTMIN+31",
            "SIGRTMAX+1",
            "RTMAX-31",
        ] {
            let out = ctx.rless(&["kill", "-s", bad, &id2]);
            assert_one_error(&out, ERR_EXIT);
        }
        assert_eq!(state_of(&inspect(ctx, &id2))["Running"], true);
        ctx.ok(&["kill", "-s", "TERM", &id2]);
        assert_eq!(ctx.ok(&["wait", &id2]).stdout, "0\n");
    });
}

/// Real-time signals, as podman and docker take them: the init passes
/// them on (a namespace's init gets only the signals it catches or
/// blocks), and a command they end exits 128+n.
#[test]
fn lifecycle_kill_real_time_signals() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_kill_rt", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        run_sh(
            ctx,
            &["--name", "rt"],
            "trap 'echo got-37' 37; trap 'echo got-64' 64; trap 'echo got-pwr' PWR; \
             echo ready; while true; do sleep 0.1; done",
        );
        wait_log(ctx, "rt", "ready");
        let mut want = String::from("ready\n");
        for (sig, line) in [
            ("SIGRTMIN+3", "got-37"),
            ("rtmin+3", "got-37"),
            ("37", "got-37"),
            ("RTMAX", "got-64"),
            ("64", "got-64"),
            ("SIGPWR", "got-pwr"),
        ] {
            let out = ctx.ok(&["kill", "-s", sig, "rt"]);
            assert_eq!(out.stdout, "rt\n", "{out}");
            want.push_str(line);
            want.push('\n');
            let out = wait_log(ctx, "rt", &want);
            assert_eq!(out.stdout, want, "kill -s {sig}: {out}");
        }
        assert_eq!(state_of(&inspect(ctx, "rt"))["Running"], true);
        // Untrapped, a real-time signal ends the command: 128 + 39.
        let id = run_sh(ctx, &[], "sleep 1000");
        ctx.ok(&["kill", "-s", "SIGRTMAX-25", &id]);
        assert_eq!(ctx.ok(&["wait", &id]).stdout, "167\n");
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["ExitCode"], 167, "{st}");
        // With a terminal the command leads a session of its own; its
        // death is still seen (the init waits for any child).
        for opts in [&[][..], &["-t"][..]] {
            let script = ["sh", "-c", "kill -s 40 $$"];
            let out = ctx.rless(&[&["run", "--rm"][..], opts, &[IMG], &script].concat());
            assert_eq!(out.code, Some(168), "run {opts:?}: {out}");
            let id = run_sh(ctx, opts, FOREVER);
            let out = ctx.rless(&[&["exec"][..], opts, &[&id], &script].concat());
            assert_eq!(out.code, Some(168), "exec {opts:?}: {out}");
            ctx.ok(&["rm", "-f", &id]);
        }
    });
}

/// `stop` sends the image's `STOPSIGNAL` (`commit -c`), or `run
/// --stop-signal` over it, and SIGKILL after the grace period; `restart`
/// too; inspect shows it. A bad --stop-signal or STOPSIGNAL makes nothing.
#[test]
fn lifecycle_stop_signal() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_stop_signal", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "base", IMG, "true"]);
        // STOPSIGNAL must name a signal (as podman): one line, no image.
        for bad in ["STOPSIGNAL BOGUS", "STOPSIGNAL 65", "STOPSIGNAL RTMIN+31"] {
            let out = ctx.fail_unchanged(&["commit", "-c", bad, "base", "badsig"]);
            assert!(out.stderr.contains("invalid signal"), "{out}");
        }
        ctx.ok(&["commit", "-c", "STOPSIGNAL SIGUSR1", "base", "usr1img"]);
        // Kept as written.
        ctx.ok(&["commit", "-c", "STOPSIGNAL rtmin+3", "base", "rtimg"]);
        let out = ctx.ok(&["image", "inspect", "-f", "{{.Config.StopSignal}}", "rtimg"]);
        assert_eq!(out.stdout, "rtmin+3\n", "{out}");
        let out = ctx.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.StopSignal}}",
            "usr1img",
        ]);
        assert_eq!(out.stdout, "SIGUSR1\n", "{out}");
        let traps = "trap 'echo got-term; exit 3' TERM; trap 'echo got-usr1; exit 10' USR1; \
                     trap 'echo got-37; exit 11' 37; trap 'echo got-usr2; exit 0' USR2; \
                     echo ready; while true; do sleep 0.1; done";
        let run = |opts: &[&str], name: &str| {
            let mut a = vec!["run", "-d", "--name", name];
            a.extend_from_slice(opts);
            a.extend_from_slice(&["usr1img", "sh", "-c", traps]);
            ctx.ok(&a);
            wait_log(ctx, name, "ready");
        };
        let stopped = |name: &str, code: i64, line: &str| {
            let st = inspect(ctx, name);
            assert_eq!(state_of(&st)["ExitCode"], code, "{name}: {st}");
            let out = ctx.ok(&["logs", name]);
            assert_eq!(out.stdout, format!("ready\n{line}\n"), "{name}: {out}");
        };
        // The image's signal.
        run(&[], "img");
        assert_eq!(inspect(ctx, "img")["Config"]["StopSignal"], "SIGUSR1");
        ctx.ok(&["stop", "-t", "30", "img"]);
        stopped("img", 10, "got-usr1");
        // --stop-signal over it, real-time ones included.
        run(&["--stop-signal", "rtmin+3"], "rt");
        assert_eq!(inspect(ctx, "rt")["Config"]["StopSignal"], "SIGRTMIN+3");
        ctx.ok(&["stop", "-t", "30", "rt"]);
        stopped("rt", 11, "got-37");
        // Without either: SIGTERM.
        let id = run_sh(ctx, &["--name", "plain"], FOREVER);
        assert_eq!(inspect(ctx, &id)["Config"]["StopSignal"], "SIGTERM");
        // restart sends it too, and the container runs again.
        run(&["--stop-signal", "USR2"], "re");
        ctx.ok(&["restart", "-t", "30", "re"]);
        let out = wait_log(ctx, "re", "ready\ngot-usr2\nready\n");
        assert!(!out.stdout.contains("got-term"), "{out}");
        assert_eq!(state_of(&inspect(ctx, "re"))["Running"], true);
        // An ignored stop signal: SIGKILL after the grace period.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "deaf",
            "--stop-signal",
            "USR1",
            IMG,
            "sh",
            "-c",
            "trap '' USR1; echo ready; while true; do sleep 0.1; done",
        ]);
        wait_log(ctx, "deaf", "ready");
        ctx.ok(&["stop", "-t", "1", "deaf"]);
        assert_eq!(state_of(&inspect(ctx, "deaf"))["ExitCode"], 137);
        // Bad values: one line, 125, nothing made.
        for bad in ["BOGUS", "0", "65", ""] {
            let out = ctx.fail_unchanged(&["run", "-d", "--stop-signal", bad, IMG, "true"]);
            assert!(out.stderr.contains("--stop-signal"), "{out}");
        }
    });
}

/// Whether `pid`'s process-wide pending signals hold signal `sig`.
fn pending(pid: i64, sig: u32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (sig - 1)) != 0)
}

/// A process's state letter from /proc/PID/stat.
fn proc_state(pid: i64) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|r| r.trim_start().chars().next())
        .unwrap_or('?')
}

/// SIGCONT stays with a foreground rless, with the other job-control
/// signals: the shell's `fg` or `bg` after Ctrl-Z sends it, and passed on
/// it would resume a paused container's init and command (pause stops
/// them with SIGSTOP) while `inspect` still says paused. A signal passed
/// on after it (real-time 40, lower numbers go first) shows rless has
/// handled both: it waits in the stopped init.
#[test]
fn lifecycle_foreground_sigcont_keeps_a_paused_container_paused() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_foreground_sigcont_paused", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script = "trap 'echo got-40' 40; echo ready; while true; do sleep 0.1; done";
        let mut bg = Background::spawn(ctx, &["run", "--name", "fg", IMG, "sh", "-c", script]);
        bg.wait_line("ready", Duration::from_secs(60));
        ctx.ok(&["pause", "fg"]);
        let init = state_of(&inspect(ctx, "fg"))["Pid"]
            .as_i64()
            .expect("the init's pid");
        assert_eq!(proc_state(init), 'T', "pause stops the init");
        for sig in [nix::libc::SIGCONT, 40] {
            // SAFETY: kill takes plain integers.
            assert_eq!(unsafe { nix::libc::kill(bg.pid(), sig) }, 0, "kill {sig}");
        }
        let handled = eventually(Duration::from_secs(30), || {
            proc_state(init) != 'T' || pending(init, 40)
        });
        assert!(handled, "signal 40 must reach the init");
        assert_eq!(
            proc_state(init),
            'T',
            "SIGCONT to the foreground rless must not resume the paused init"
        );
        assert_eq!(state_of(&inspect(ctx, "fg"))["Status"], "paused");
        ctx.ok(&["unpause", "fg"]);
        bg.wait_line("got-40", Duration::from_secs(30));
        bg.signal(rustix::process::Signal::TERM);
        let (exit, lines) = bg.finish(Duration::from_secs(30));
        assert_eq!(exit, Some(143), "stdout {lines:?}");
    });
}

/// How many signals are queued for `pid`'s user (in its user namespace),
/// from the first number of /proc/PID/status's `SigQ:`.
fn queued(pid: i64) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigQ:"))
        .and_then(|q| q.trim().split('/').next()?.parse().ok())
        .expect("SigQ in /proc/PID/status")
}

/// One real-time signal sent to the process group of a foreground `run`
/// (as `kill -- -PGID`, `timeout` or systemd do) reaches the container
/// once, in subuid mode too, where rless is two processes in that group
/// (the waiting parent and the monitor) that each pass on what they get.
/// The container is paused, so what is passed on queues at its stopped
/// init (counted by SigQ): one 37, then a marker 40 sent to rless alone
/// (lower numbers go first, so once it is there every 37 is) — two
/// signals queued more, not three. Unpaused, the command's trap runs (a
/// shell's trap runs once for signals that come together, so the count
/// is taken at the init).
#[test]
fn lifecycle_group_signal_reaches_the_command_once() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_group_signal_once", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script =
            "trap 'echo got-37' 37; trap : 39 40; echo ready; while true; do sleep 0.1; done";
        let mut cmd = ctx.rless_cmd(&["run", "--name", "grp", IMG, "sh", "-c", script]);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut bg = Background::spawn_cmd(cmd);
        bg.wait_line("ready", Duration::from_secs(60));
        ctx.ok(&["pause", "grp"]);
        let init = state_of(&inspect(ctx, "grp"))["Pid"]
            .as_i64()
            .expect("the init's pid");
        assert_eq!(proc_state(init), 'T', "pause stops the init");
        // A first marker, 39, to rless alone: once it waits at the init,
        // rless has taken what it had before (such as the SIGCHLD of the
        // init's stop, which counts in the same SigQ while it waits).
        // SAFETY: kill takes plain integers.
        assert_eq!(unsafe { nix::libc::kill(bg.pid(), 39) }, 0, "kill rless");
        let arrived = eventually(Duration::from_secs(30), || pending(init, 39));
        assert!(arrived, "signal 39 must reach the init");
        let before = queued(init);
        // SAFETY: as above.
        let group = unsafe { nix::libc::kill(-bg.pid(), 37) };
        assert_eq!(group, 0, "kill the group");
        // SAFETY: as above.
        assert_eq!(unsafe { nix::libc::kill(bg.pid(), 40) }, 0, "kill rless");
        let arrived = eventually(Duration::from_secs(30), || pending(init, 40));
        assert!(arrived, "signal 40 must reach the init");
        assert!(pending(init, 37), "signal 37 must reach the init");
        assert_eq!(
            queued(init) as i64 - before as i64,
            2,
            "{} mode: the group's signal 37 must be queued at the init once (with 40)",
            ctx.user.mode.as_str()
        );
        ctx.ok(&["unpause", "grp"]);
        bg.wait_line("got-37", Duration::from_secs(30));
        bg.signal(rustix::process::Signal::TERM);
        let (exit, lines) = bg.finish(Duration::from_secs(30));
        assert_eq!(exit, Some(143), "stdout {lines:?}");
    });
}

/// The caller's `ulimit -f` does not kill the monitor of a detached
/// container once its log grows past it (SIGXFSZ, which rless no longer
/// passes on, took its default action on the monitor: the container was
/// killed, exit 137, "the monitor process is gone"); the log writes fail
/// and the container runs to its own end.
#[test]
fn lifecycle_file_size_limit_does_not_kill_the_monitor() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "lifecycle_file_size_limit_does_not_kill_the_monitor",
        |ctx| {
            setup_image(ctx);
            let mut cmd = ctx.rless_cmd(&[
                "run",
                "-d",
                "--name",
                "big",
                IMG,
                "sh",
                "-c",
                "yes | head -c 300000; echo written >&2; exit 3",
            ]);
            limit_file_size(&mut cmd, 200_000);
            let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "{out}");
            let code = ctx.ok(&["wait", "big"]).stdout;
            assert_eq!(code.trim(), "3", "the command's own end, not the monitor's");
            ctx.ok(&["rm", "big"]);
            // A foreground run too: its output goes to a pipe here, its log
            // past the limit (it died of SIGXFSZ, 153).
            let mut cmd = ctx.rless_cmd(&[
                "run",
                "--rm",
                IMG,
                "sh",
                "-c",
                "yes | head -c 300000 >&2; exit 3",
            ]);
            limit_file_size(&mut cmd, 200_000);
            let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert_eq!(out.code, Some(3), "foreground: {}", out.cmdline);
        },
    );
}

/// Runs `cmd` with RLIMIT_FSIZE at `bytes` (soft and hard).
fn limit_file_size(cmd: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setrlimit(
                rustix::process::Resource::Fsize,
                rustix::process::Rlimit {
                    current: Some(bytes),
                    maximum: Some(bytes),
                },
            )
            .map_err(std::io::Error::from)
        });
    }
}

/// `kill` of a paused container, as docker: its stop signal resumes it, so
/// the command acts on it at once; another signal leaves it paused (the
/// signal waits for `unpause`).
#[test]
fn lifecycle_kill_paused_with_the_stop_signal_resumes() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "lifecycle_kill_paused_with_the_stop_signal_resumes",
        |ctx| {
            let _cleanup = Cleanup(ctx);
            setup_image(ctx);
            run_sh(
                ctx,
                &["--name", "p"],
                "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 4' TERM; echo ready; \
             while true; do sleep 0.1; done",
            );
            wait_log(ctx, "p", "ready");
            ctx.ok(&["pause", "p"]);
            ctx.ok(&["kill", "-s", "USR1", "p"]);
            assert_eq!(inspect(ctx, "p")["State"]["Paused"], true);
            ctx.ok(&["kill", "-s", "TERM", "p"]);
            let exited = eventually(Duration::from_secs(30), || {
                inspect(ctx, "p")["State"]["Status"] == "exited"
            });
            assert!(
                exited,
                "a paused container killed with its stop signal must end"
            );
            let st = inspect(ctx, "p");
            assert_eq!(st["State"]["ExitCode"], 4, "{st}");
            assert_eq!(st["State"]["Paused"], false, "{st}");
            let out = ctx.ok(&["logs", "p"]);
            assert!(out.stdout.contains("got-term"), "{out}");
        },
    );
}

/// `stop -s SIG` and `restart -s SIG` (docker 23's `--signal`) send SIG
/// first instead of the container's stop signal; a bad name is refused
/// before anything is stopped.
#[test]
fn lifecycle_stop_and_restart_with_a_signal() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_stop_and_restart_with_a_signal", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        run_sh(
            ctx,
            &["--name", "s"],
            "trap 'echo got-int; exit 3' INT; trap 'echo got-term; exit 5' TERM; echo ready; \
             while true; do sleep 0.1; done",
        );
        wait_log(ctx, "s", "ready");
        ctx.ok(&["restart", "--signal", "INT", "s"]);
        wait_log(ctx, "s", "ready\ngot-int\nready");
        let out = ctx.fail(&["stop", "-s", "BOGUS", "s"]);
        assert!(out.stderr.contains("BOGUS"), "{out}");
        assert_eq!(inspect(ctx, "s")["State"]["Status"], "running");
        let out = ctx.ok(&["stop", "-s", "SIGINT", "s"]);
        assert_eq!(out.stdout, "s\n", "{out}");
        assert_eq!(inspect(ctx, "s")["State"]["ExitCode"], 3);
        let out = ctx.ok(&["logs", "s"]);
        assert!(!out.stdout.contains("got-term"), "{out}");
    });
}
