//! Container lifecycle verbs after `run -d`: `stop`, `wait`, `restart`,
//! `start`, `rm` and `container prune` (`kill` and stop signals:
//! lifecycle_signals.rs).
//! Every scenario imports a busybox root filesystem (no registry).
//! Shared helpers and constants are in `common::lifecycle_helpers`.

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ stop, kill, wait

/// A foreground run's output is shown (stdout and stderr apart) and
/// logged, as docker's attached run: `logs` shows it, and `start -a` adds
/// its run. The command writes to a pipe, not to the caller's own
/// descriptors; a reader that goes away (`| head`) ends it as before
/// (SIGPIPE, 141) and `--rm` still removes it.
#[test]
fn lifecycle_foreground_run_is_logged() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_foreground_run_is_logged", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script = "echo out; echo err >&2; exit 3";
        let out = ctx.rless(&["run", "--name", "fg", IMG, "sh", "-c", script]);
        assert_eq!(out.code, Some(3), "{out}");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        let logs = ctx.ok(&["logs", "fg"]);
        assert_eq!(
            (logs.stdout.as_str(), logs.stderr.as_str()),
            ("out\n", "err\n")
        );
        let again = ctx.rless(&["start", "-a", "fg"]);
        assert_eq!(again.code, Some(3), "{again}");
        assert_eq!(ctx.ok(&["logs", "fg"]).stdout, "out\nout\n");
        ctx.ok(&["rm", "fg"]);

        let mut child = ctx
            .rless_cmd(&["run", "--rm", IMG, "sh", "-c", "while :; do echo y; done"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 2];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let status = common::checks::wait_timeout(&mut child, Duration::from_secs(30))
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("run kept going with its reader gone")
            });
        assert_eq!(status.code(), Some(141), "{status:?}");
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "--rm left the container");
    });
}

/// A `--rm` container: `wait` prints its real exit code (the directory
/// went before `wait` read it: 0), in the foreground too; `restart` keeps
/// it (its exit removed it) and `--rm` still applies to the next exit.
#[test]
fn lifecycle_rm_container_wait_and_restart() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_rm_container_wait_and_restart", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&[
            "run",
            "-d",
            "--rm",
            "--name",
            "w",
            IMG,
            "sh",
            "-c",
            "sleep 1; exit 3",
        ]);
        let out = ctx.ok(&["wait", "w"]);
        assert_eq!(out.stdout, "3\n", "{out}");
        let mut fg = ctx
            .rless_cmd(&[
                "run",
                "--rm",
                "--name",
                "f",
                IMG,
                "sh",
                "-c",
                "sleep 1; exit 4",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Running (`wait` on a container not yet started returns at once).
        while !ctx
            .rless(&["inspect", "--format", "{{.State.Status}}", "f"])
            .stdout
            .starts_with("running")
        {
            assert!(Instant::now() < deadline, "f never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = ctx.ok(&["wait", "f"]);
        assert_eq!(out.stdout, "4\n", "foreground: {out}");
        assert_eq!(fg.wait().unwrap().code(), Some(4));

        ctx.ok(&["run", "-d", "--rm", "--name", "r", IMG, "sleep", "60"]);
        let out = ctx.ok(&["restart", "-t", "1", "r"]);
        assert_eq!(out.stdout, "r\n", "{out}");
        let st = inspect(ctx, "r");
        assert_eq!(st["State"]["Status"], "running", "{st}");
        ctx.ok(&["stop", "-t", "1", "r"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while ctx.rless(&["inspect", "r"]).success() {
            assert!(
                Instant::now() < deadline,
                "--rm no longer applies after restart"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "left behind");
    });
}

#[test]
fn lifecycle_stop() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_stop", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // A trapped TERM: the trap's code, well within the grace period.
        let id = run_sh(
            ctx,
            &["--name", "trapper"],
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        );
        wait_log(ctx, "trapper", "ready");
        let t = Instant::now();
        let out = ctx.ok(&["stop", "-t", "20", "trapper"]);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(8),
            "stop of a command that traps TERM must not wait for the grace period: took {took:?}"
        );
        assert_eq!(out.stdout, "trapper\n", "stop prints the name given: {out}");
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["Status"], "exited", "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 7, "the trap's exit code: {st}");
        assert_eq!(ctx.ok(&["wait", "trapper"]).stdout, "7\n");
        let out = ctx.ok(&["logs", "trapper"]);
        assert_eq!(out.stdout, "ready\ngot-term\n", "{out}");
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        assert!(
            out.stdout.starts_with("trapper Exited (7) "),
            "ps -a must show Exited (7): {out}"
        );

        // TERM ignored: SIGKILL after -t 1, exit 137.
        let id = run_sh(
            ctx,
            &["--name", "stubborn"],
            "trap '' TERM; echo ready; while true; do sleep 0.1; done",
        );
        wait_log(ctx, "stubborn", "ready");
        let t = Instant::now();
        let out = ctx.ok(&["stop", "-t", "1", "stubborn"]);
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(900),
            "stop -t 1 must wait the grace period before SIGKILL: took {took:?}: {out}"
        );
        assert!(
            took < Duration::from_secs(10),
            "stop -t 1 of a command ignoring TERM took {took:?}: {out}"
        );
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(
            state_of(&st)["ExitCode"],
            137,
            "killed after the grace period: {st}"
        );

        // An untrapped TERM ends the command: 143, at once.
        let id = run_d(ctx, &[IMG, "sleep", "1000"]);
        let t = Instant::now();
        ctx.ok(&["stop", "-t", "30", &id[..12]]);
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "took {:?}",
            t.elapsed()
        );
        assert_eq!(state_of(&inspect(ctx, &id))["ExitCode"], 143);

        // Stop of an exited container: fine, changes nothing.
        let before = inspect(ctx, "trapper");
        let out = ctx.ok(&["stop", "trapper"]);
        assert!(out.stderr.trim().is_empty(), "{out}");
        let after = inspect(ctx, "trapper");
        assert_eq!(state_of(&after)["ExitCode"], 7, "{after}");
        assert_eq!(
            state_of(&after)["FinishedAt"],
            state_of(&before)["FinishedAt"],
            "stop of an exited container must not touch its state"
        );
        // Several at once, running and not.
        let a = run_sh(ctx, &[], FOREVER);
        let b = run_sh(ctx, &[], FOREVER);
        let out = ctx.ok(&["stop", "-t", "5", &a, &b, "stubborn"]);
        assert_eq!(out.stdout.lines().count(), 3, "{out}");
        for c in [&a, &b] {
            let st = inspect(ctx, c);
            assert_eq!(state_of(&st)["Running"], false, "{st}");
            assert_eq!(state_of(&st)["ExitCode"], 0, "{st}");
        }
        assert!(ps_json(ctx, &[]).is_empty(), "nothing runs after the stops");
    });
}

#[test]
fn lifecycle_wait() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_wait", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let a = run_sh(ctx, &[], "sleep 1; exit 3");
        let b = run_sh(ctx, &[], "exit 0");
        let c = run_sh(ctx, &[], "sleep 0.5; exit 250");
        let t = Instant::now();
        let out = ctx.ok(&["wait", &a, &b, &c]);
        assert_eq!(
            out.stdout, "3\n0\n250\n",
            "wait prints each exit code in order: {out}"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "wait must block until the first container (sleep 1) exits"
        );
        let st = inspect(ctx, &a);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        // Again, on exited ones: immediate.
        let out = ctx.ok(&["wait", &a[..10]]);
        assert_eq!(out.stdout, "3\n", "{out}");
    });
}

// ------------------------------------------------------------------ restart and start

#[test]
fn lifecycle_restart_keeps_layer() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_restart_keeps_layer", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script = format!(
            "if [ -e /x ]; then echo second-run $(cat /x); else echo first-run; echo data > /x; fi; \
             echo ready; {FOREVER}"
        );
        let id = run_sh(ctx, &["--name", "r1"], &script);
        wait_log(ctx, "r1", "ready");
        let pid1 = state_of(&inspect(ctx, "r1"))["Pid"].as_i64().unwrap();
        let out = ctx.ok(&["restart", "-t", "5", "r1"]);
        assert_eq!(
            out.stdout.trim(),
            "r1",
            "restart prints the name given: {out}"
        );
        let out = wait_log(ctx, "r1", "second-run");
        assert!(
            out.stdout.contains("second-run data\n"),
            "/x written before the restart must still be there: {out}"
        );
        let st = inspect(ctx, "r1");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "running again after restart: {st}"
        );
        let pid2 = state_of(&st)["Pid"].as_i64().unwrap();
        assert_ne!(pid1, pid2, "a new init after restart");
        assert!(
            pid_alive(pid2) && !pid_alive(pid1),
            "old init {pid1} gone, new {pid2} live"
        );
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/x")).unwrap(),
            "data\n"
        );
        let rows = ps_json(ctx, &[]);
        assert_eq!(json_ids(&rows), BTreeSet::from([id.clone()]));
        assert!(
            rows[0]["Status"].as_str().unwrap().starts_with("Up "),
            "{rows:?}"
        );
        // Restart of a stopped container starts it.
        ctx.ok(&["stop", "r1"]);
        ctx.ok(&["restart", "r1"]);
        assert_eq!(state_of(&inspect(ctx, "r1"))["Running"], true);
        ctx.ok(&["stop", "r1"]);
    });
}

#[test]
fn lifecycle_start() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_start", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Counts its runs in its writable layer; exits 10 + the count.
        let script = "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; \
                      echo count $n; exit $((n+10))";
        let id = run_sh(ctx, &["--name", "counter"], script);
        assert_eq!(ctx.ok(&["wait", "counter"]).stdout, "11\n");
        let out = ctx.ok(&["start", "counter"]);
        assert_eq!(out.stdout.trim(), "counter", "{out}");
        assert_eq!(
            ctx.ok(&["wait", "counter"]).stdout,
            "12\n",
            "the layer must be kept by start"
        );
        let out = ctx.ok(&["logs", "counter"]);
        assert!(
            out.stdout.contains("count 1\n") && out.stdout.contains("count 2\n"),
            "logs must hold both runs: {out}"
        );
        // start -a: foreground, output here, the command's exit code.
        let out = ctx.rless(&["start", "-a", &id[..12]]);
        assert_eq!(
            out.code,
            Some(13),
            "start -a must return the exit code: {out}"
        );
        assert_eq!(
            out.stdout, "count 3\n",
            "start -a must show the output: {out}"
        );
        let st = inspect(ctx, "counter");
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 13, "{st}");
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/n")).unwrap(),
            "3\n"
        );

        // start -a -i passes stdin.
        let cat = run_d(ctx, &["--name", "cat", IMG, "cat"]);
        assert_eq!(ctx.ok(&["wait", "cat"]).stdout, "0\n");
        let out = ctx.rless_stdin(&["start", "-a", "-i", "cat"], b"hello\nworld\n");
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "hello\nworld\n",
            "start -a -i must pass stdin: {out}"
        );
        let _ = cat;

        // Starting a running one: fine for start, an error for start -a.
        let run = run_sh(
            ctx,
            &["--name", "runner"],
            &format!("echo ready; {FOREVER}"),
        );
        wait_log(ctx, "runner", "ready");
        let pid = state_of(&inspect(ctx, "runner"))["Pid"].clone();
        let out = ctx.ok(&["start", "runner"]);
        assert!(out.stderr.trim().is_empty(), "{out}");
        assert_eq!(
            state_of(&inspect(ctx, "runner"))["Pid"],
            pid,
            "start must not restart a running container"
        );
        let out = ctx.rless(&["start", "-a", "runner"]);
        assert_one_error(&out, ERR_EXIT);
        let out = ctx.rless(&["start", "-a", "runner", "counter"]);
        assert_one_error(&out, ERR_EXIT);
        ctx.ok(&["stop", &run]);
        // Several at once.
        let out = ctx.ok(&["start", "counter", "runner"]);
        assert_eq!(out.stdout.lines().count(), 2, "{out}");
        assert_eq!(ctx.ok(&["wait", "counter"]).stdout, "14\n");
        assert_eq!(state_of(&inspect(ctx, "runner"))["Running"], true);
        ctx.ok(&["stop", "runner"]);
        // monitor.log stays bounded: a start moves one past 1 MiB aside (it
        // only grew).
        let log = container_dir(ctx, &id).join("monitor.log");
        let mut sh = ctx.command(std::path::Path::new("/bin/sh"));
        sh.arg("-c")
            .arg(format!("head -c 2000000 /dev/zero >> {}", log.display()));
        assert!(common::run_cmd(sh, None, common::CMD_TIMEOUT, &ctx.user.name).success());
        ctx.ok(&["start", "counter"]);
        assert_eq!(ctx.ok(&["wait", "counter"]).stdout, "15\n");
        assert!(fs::metadata(&log).unwrap().len() < 1 << 20);
        assert!(log.with_file_name("monitor.log.1").exists());
    });
}

// ------------------------------------------------------------------ rm and prune

#[test]
fn lifecycle_rm() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_rm", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mark = marker(ctx, 1);
        let id = run_sh(
            ctx,
            &["--name", "busy"],
            &format!("sleep {mark} & sleep {mark} & echo ready; wait"),
        );
        wait_log(ctx, "busy", "ready");
        let st = inspect(ctx, "busy");
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap_or(0);
        assert!(pid_alive(pid), "init {pid} must run: {st}");
        assert!(pid_alive(monitor), "monitor {monitor} must run: {st}");
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(30), || marker_sleeps(&mark).len() == 2),
                "the two sleeps must run"
            );
        }

        // Without -f: refused, still running (podman's status 2).
        for q in ["busy", &id[..12]] {
            let out = ctx.rless(&["rm", q]);
            assert_one_error(&out, 2);
            assert!(out.stdout.is_empty(), "{out}");
        }
        assert!(container_dir(ctx, &id).is_dir());
        let st = inspect(ctx, "busy");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "rm without -f must leave it running: {st}"
        );
        assert_eq!(state_of(&st)["Pid"], pid);
        assert!(pid_alive(pid));

        // -f: killed and removed.
        let out = ctx.ok(&["rm", "-f", "busy"]);
        assert_eq!(out.stdout, "busy\n", "{out}");
        assert!(
            !container_dir(ctx, &id).exists(),
            "rm -f must remove the container dir"
        );
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        assert!(
            eventually(Duration::from_secs(30), || !pid_alive(pid)),
            "the container's init {pid} is still alive after rm -f"
        );
        assert!(
            eventually(Duration::from_secs(30), || !pid_alive(monitor)),
            "the container's monitor {monitor} is still alive after rm -f"
        );
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(30), || marker_sleeps(&mark).is_empty()),
                "the container's sleeps outlived rm -f: {:?}",
                marker_sleeps(&mark)
            );
            let left = store_processes(ctx);
            kill_all(&left);
            assert!(
                left.is_empty(),
                "rless processes of the store left: {left:?}"
            );
        }
        ctx.rless(&["inspect", "busy"]).assert_rless_error();
        let out = ctx.ok(&["ps", "-aq"]);
        assert_eq!(out.stdout, "", "{out}");

        // rm of exited containers, several at once, by id prefix and name.
        let a = run_d(ctx, &["--name", "ea", IMG, "true"]);
        let b = run_d(ctx, &[IMG, "false"]);
        ctx.ok(&["wait", &a, &b]);
        let out = ctx.ok(&["rm", "ea", &b[..12]]);
        assert_eq!(out.stdout, format!("ea\n{}\n", &b[..12]), "{out}");
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        // container rm is the same.
        let c = run_d(ctx, &[IMG, "true"]);
        ctx.ok(&["wait", &c]);
        ctx.ok(&["container", "rm", &c]);
        assert!(containers(ctx).is_empty());
        // Nothing under the store is mounted on the host.
        assert_eq!(host_mounts_under(&ctx.root), Vec::<String>::new());
    });
}

#[test]
fn lifecycle_container_prune() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_container_prune", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let running = run_sh(ctx, &["--name", "stays"], FOREVER);
        let e0 = run_d(ctx, &[IMG, "true"]);
        let e3 = run_sh(ctx, &[], "exit 3");
        let stopped = run_sh(ctx, &[], FOREVER);
        ctx.ok(&["wait", &e0, &e3]);
        ctx.ok(&["stop", &stopped]);
        let out = ctx.ok(&["container", "prune", "-f"]);
        let listed: BTreeSet<String> = out
            .stdout
            .lines()
            .filter(|l| common::is_hex64(l.trim()))
            .map(|l| l.trim().to_string())
            .collect();
        assert_eq!(
            listed,
            BTreeSet::from([e0.clone(), e3.clone(), stopped.clone()]),
            "prune must list the removed ids: {out}"
        );
        assert!(
            out.last_line().starts_with("Total reclaimed space: "),
            "docker's last line: {out}"
        );
        assert_eq!(
            containers(ctx),
            vec![running.clone()],
            "only the running one stays"
        );
        let st = inspect(ctx, "stays");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "prune must not touch running ones: {st}"
        );
        // Nothing left to prune.
        let out = ctx.ok(&["container", "prune"]);
        assert!(
            !out.stdout.lines().any(|l| common::is_hex64(l.trim())),
            "{out}"
        );
        assert_eq!(containers(ctx), vec![running.clone()]);
        ctx.ok(&["rm", "-f", "stays"]);
        assert!(containers(ctx).is_empty());
        assert!(
            tmp_debris(&ctx.root).is_empty(),
            "{:?}",
            tmp_debris(&ctx.root)
        );
    });
}

// ------------------------------------------------------------------ rmi of an image in use

/// An image a container uses keeps its layers: `rmi` refuses it, `rmi -f`
/// refuses it while the container runs (docker: "cannot be forced") and,
/// once stopped, only untags it, so the container starts again. (`rmi -f`
/// deleted the layers under a running container.)
#[test]
fn lifecycle_rmi_of_image_in_use() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_rmi_of_image_in_use", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let layers = ctx.layer_dirs();
        assert!(!layers.is_empty());
        let images = ctx.image_ids();
        run_sh(ctx, &["--name", "user"], &format!("echo ready; {FOREVER}"));
        wait_log(ctx, "user", "ready");
        let id_of_image = images.iter().next().unwrap().clone();
        for force in [&["rmi", IMG][..], &["rmi", "-f", &id_of_image]] {
            let out = ctx.rless(force);
            assert_eq!(
                out.code,
                Some(2),
                "{force:?} of a running container's image (podman's status for in use): {out}"
            );
            assert!(out.stderr.contains("in use"), "{out}");
            assert_eq!(ctx.image_ids(), images, "{force:?} changed the images");
            assert_eq!(ctx.layer_dirs(), layers, "{force:?} removed layers");
        }
        // By name, -f untags it (docker's rule): the image stays, in use.
        let out = ctx.ok(&["rmi", "-f", IMG]);
        assert!(
            out.stdout.contains("Untagged") && !out.stdout.contains("Deleted"),
            "{out}"
        );
        assert_eq!(ctx.image_ids(), images, "the image stays");
        assert_eq!(ctx.layer_dirs(), layers, "its layers stay");
        ctx.ok(&["tag", &id_of_image, IMG]);
        let out = ctx.ok(&["exec", "user", "ls", "/bin/busybox"]);
        assert!(out.stdout.contains("busybox"), "{out}");
        // One name of several may go, in use or not (docker untags it).
        ctx.ok(&["tag", IMG, "extra:v1"]);
        let out = ctx.ok(&["rmi", "extra:v1"]);
        assert!(out.stdout.contains("Untagged: "), "{out}");
        assert_eq!(ctx.image_ids(), images, "only a name went");
        // -f too: forcing a name of several is not removing the image.
        ctx.ok(&["tag", IMG, "extra:v3"]);
        let out = ctx.ok(&["rmi", "-f", "extra:v3"]);
        assert_eq!(out.stdout.trim(), "Untagged: localhost/extra:v3", "{out}");
        assert_eq!(ctx.image_ids(), images, "only a name went");
        // Names go in turn, as docker's: all of them at once untags the
        // first and refuses the last, which would remove the image.
        ctx.ok(&["tag", IMG, "extra:v2"]);
        let out = ctx.rless(&["rmi", IMG, "extra:v2"]);
        assert_eq!(
            out.stdout,
            format!("Untagged: localhost/{IMG}:latest\n"),
            "{out}"
        );
        assert_one_error(&out, 2);
        assert!(out.stderr.contains("image extra:v2 is in use"), "{out}");
        ctx.ok(&["tag", "extra:v2", IMG]);
        ctx.ok(&["rmi", "extra:v2"]);

        ctx.ok(&["stop", "-t", "1", "user"]);
        let out = ctx.rless(&["rmi", IMG]);
        assert_eq!(
            out.code,
            Some(2),
            "rmi of a stopped container's image: {out}"
        );
        let out = ctx.ok(&["rmi", "-f", IMG]);
        assert!(out.stdout.contains("Untagged"), "{out}");
        assert!(
            !out.stdout.contains("Deleted"),
            "the image must stay: {out}"
        );
        assert_eq!(ctx.image_ids(), images, "the image stays, dangling");
        assert_eq!(ctx.layer_dirs(), layers, "rmi -f removed layers in use");
        ctx.ok(&["start", "user"]);
        wait_log(ctx, "user", "ready\nready");
        ctx.ok(&["rm", "-f", "user"]);
        // Unused and dangling now: prune takes it, layers and all.
        ctx.ok(&["image", "prune"]);
        assert!(ctx.image_ids().is_empty(), "{:?}", ctx.image_ids());
        assert!(ctx.layer_dirs().is_empty(), "{:?}", ctx.layer_dirs());
    });
}

// ------------------------------------------------------------------ several names

/// Status of container `q` from `inspect`.
fn status(ctx: &common::Ctx, q: &str) -> String {
    state_of(&inspect(ctx, q))["Status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `start`, `restart`, `pause`, `unpause`, `kill`, `stop` and `rm` act on
/// each name in turn, as docker: an unknown (or, for rm, running) one is
/// reported on its own line, in order, the others are acted on, and the
/// command fails at the end.
#[test]
fn lifecycle_several_names_each_on_its_own() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_several_names", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        for n in ["s1", "s2"] {
            ctx.ok(&["create", "--name", n, IMG, "sleep", "1000"]);
        }
        let expect = |args: &[&str], bad: &[&str]| {
            let out = ctx.rless(args);
            assert_eq!(out.code, Some(ERR_EXIT), "{out}");
            assert_eq!(
                out.stdout, "s1\ns2\n",
                "both good names are acted on: {out}"
            );
            let want: Vec<String> = bad
                .iter()
                .map(|b| format!("rless: no such container: {b}"))
                .collect();
            assert_eq!(stderr_lines(&out), want, "one line per bad name: {out}");
        };
        expect(&["start", "s1", "nosuch", "s2"], &["nosuch"]);
        assert_eq!(status(ctx, "s1"), "running");
        assert_eq!(status(ctx, "s2"), "running");
        expect(&["pause", "nosuch", "s1", "s2"], &["nosuch"]);
        assert_eq!(status(ctx, "s2"), "paused");
        expect(&["unpause", "s1", "s2", "nosuch"], &["nosuch"]);
        assert_eq!(status(ctx, "s1"), "running");
        let pid = |q| state_of(&inspect(ctx, q))["Pid"].as_i64().unwrap();
        let before = (pid("s1"), pid("s2"));
        expect(
            &["restart", "-t", "1", "s1", "bad1", "s2", "bad2"],
            &["bad1", "bad2"],
        );
        assert_eq!(status(ctx, "s1"), "running");
        assert_eq!(status(ctx, "s2"), "running");
        assert!(
            pid("s1") != before.0 && pid("s2") != before.1,
            "both restarted: {before:?}"
        );
        // rm without -f refuses the running ones, each with its own line.
        let out = ctx.rless(&["rm", "s1", "nosuch", "s2"]);
        assert_eq!(out.code, Some(2), "running ones and a missing one: {out}");
        assert_eq!(stderr_lines(&out).len(), 3, "{out}");
        assert!(
            stderr_lines(&out)[1].contains("no such container: nosuch"),
            "{out}"
        );
        assert_eq!(containers(ctx).len(), 2, "{out}");
        expect(&["kill", "s1", "nosuch", "s2"], &["nosuch"]);
        ctx.ok(&["wait", "s1", "s2"]);
        expect(&["start", "s1", "s2", "nosuch"], &["nosuch"]);
        expect(&["stop", "-t", "1", "s1", "nosuch", "s2"], &["nosuch"]);
        ctx.ok(&["start", "s1"]);
        // rm -a without -f: the stopped one goes, the running one is
        // refused (podman's status 2).
        let out = ctx.rless(&["rm", "-a"]);
        assert_eq!(out.code, Some(2), "{out}");
        assert_eq!(stderr_lines(&out).len(), 1, "{out}");
        assert!(stderr_lines(&out)[0].contains("running container"), "{out}");
        assert_eq!(containers(ctx).len(), 1, "{out}");
        ctx.ok(&["create", "--name", "s2", IMG, "sleep", "1000"]);
        // rm -f: the running and the stopped one go, and the unknown one is
        // passed over, as podman's and docker's `rm -f`.
        let out = ctx.ok(&["rm", "-f", "s1", "nosuch", "s2"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("s1\ns2\n", ""));
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        // rm -a with nothing to remove.
        let out = ctx.ok(&["rm", "-a"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
        assert_eq!(host_mounts_under(&ctx.root), Vec::<String>::new());
    });
}
