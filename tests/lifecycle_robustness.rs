//! What survives trouble: a killed monitor (and `start` after it), a
//! container in its restart back-off, a wiped runtime dir, many containers
//! at once, `system reset` with running containers. `create` then `start`
//! (and `wait` before the start) is in `lifecycle_create.rs`.
//! Every scenario imports a busybox root filesystem (no registry).
//! Shared helpers and constants are in `common::lifecycle_helpers`.

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, run_cmd, skip, Out, CMD_TIMEOUT, ERR_EXIT};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ robustness

#[test]
fn lifecycle_killed_monitor() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_killed_monitor", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // With fuse-overlay the monitor also serves the container's root.
        for driver in ["auto", "fuse-overlay"] {
            killed_monitor(ctx, driver);
        }
    });
}

/// One container whose monitor is killed, on the storage `driver`.
fn killed_monitor(ctx: &common::Ctx, driver: &str) {
    eprintln!("--- killed monitor, storage driver {driver}");
    let mounts_before = host_mounts_under(&ctx.root);
    let mark = marker(ctx, 3);
    let id = run_sh(
        ctx,
        &["--name", "orphan", "--storage-driver", driver],
        &format!("sleep {mark} & sleep {mark} & echo ready; wait"),
    );
    wait_log(ctx, "orphan", "ready");
    let st = inspect(ctx, "orphan");
    let pid = state_of(&st)["Pid"].as_i64().unwrap_or(0);
    let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap_or(0);
    assert!(pid_alive(pid), "init must run: {st}");
    assert!(
        monitor > 0 && pid_alive(monitor),
        "State.MonitorPid must be live: {st}"
    );
    let check_sleeps = common::is_root();
    if check_sleeps {
        assert!(
            eventually(Duration::from_secs(30), || marker_sleeps(&mark).len() == 2),
            "the two sleeps must run before the kill"
        );
    } else {
        skip("not root: cannot see the container's sleeps");
    }
    kill_monitor(monitor);

    let init_gone = eventually(Duration::from_secs(30), || !pid_alive(pid));
    let sleeps_gone =
        !check_sleeps || eventually(Duration::from_secs(30), || marker_sleeps(&mark).is_empty());
    let left = if check_sleeps {
        marker_sleeps(&mark)
    } else {
        vec![]
    };
    if !init_gone || !sleeps_gone {
        kill_all(&left);
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    assert!(
        init_gone,
        "BUG ({} mode): the init {pid} outlived its killed monitor {monitor}",
        ctx.user.mode.as_str()
    );
    assert!(
        sleeps_gone,
        "BUG ({} mode): the container's processes outlived its killed monitor: {left:?}",
        ctx.user.mode.as_str()
    );

    let killed_at = Instant::now();
    // Failures noted here are asserted at the end, so the clean-up
    // checks still run.
    let mut deferred: Vec<String> = Vec::new();
    // A dead monitor may linger as a zombie until its parent (pid 1, or
    // a subreaper) reaps it; rless must already count it as gone.
    if proc_state(monitor).as_deref() == Some("Z") {
        let rows = ps_json(ctx, &["-a"]);
        if rows
            .first()
            .map(|r| r["State"] == "running")
            .unwrap_or(false)
        {
            deferred.push(format!(
                    "BUG ({} mode): the monitor {monitor} is dead (a zombie, state Z in /proc/{monitor}/stat, \
                     not yet reaped by its parent, pid {}) and the init is gone, yet ps -a still says \
                     running: {:?}; a zombie must not count as a live monitor",
                    ctx.user.mode.as_str(),
                    proc_ppid(monitor).unwrap_or(0),
                    rows[0]["Status"]
                ));
        }
    }

    // ps and inspect: exited (within a few seconds), with a reason.
    let mut rows = Vec::new();
    let exited = eventually(Duration::from_secs(30), || {
        rows = ps_json(ctx, &["-a"]);
        rows.len() == 1 && rows[0]["State"] == "exited"
    });
    assert!(
        exited,
        "ps -a must show the container exited soon after its monitor's death: {rows:?}"
    );
    assert!(
        rows[0]["Status"].as_str().unwrap().starts_with("Exited ("),
        "{rows:?}"
    );
    assert!(
        ps_json(ctx, &[]).is_empty(),
        "ps must not list it as running"
    );
    let st = inspect(ctx, "orphan");
    assert_eq!(state_of(&st)["Running"], false, "{st}");
    assert_eq!(state_of(&st)["Status"], "exited", "{st}");
    assert_eq!(state_of(&st)["Pid"], 0, "{st}");
    let reason = state_of(&st)["Error"].as_str().unwrap_or("");
    assert!(
        !reason.is_empty(),
        "inspect must say why it stopped (State.Error): {st}"
    );
    // When it stopped: some time, not "now" at every look.
    let finished = state_of(&st)["FinishedAt"].as_str().unwrap_or_default();
    if parse_time(finished).is_none_or(|t| t <= 0) {
        deferred.push(format!(
            "inspect of a container whose monitor was killed has no State.FinishedAt: {}",
            state_of(&st)
        ));
    }
    std::thread::sleep(Duration::from_secs(2).saturating_sub(killed_at.elapsed()));
    let out = ctx.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    if out.stdout.contains("Less than a second ago") {
        deferred.push(format!(
                "2 s after its monitor was killed, ps -a says the container exited \"Less than a second ago\": {}",
                out.stdout.trim()
            ));
    }
    // Commands on it behave as on any exited container.
    ctx.ok(&["logs", "orphan"]);
    ctx.ok(&["stop", "orphan"]);
    ctx.ok(&["wait", "orphan"]);
    assert_one_error(&ctx.rless(&["exec", "orphan", "true"]), ERR_EXIT);

    // rm -f cleans everything.
    ctx.ok(&["rm", "-f", "orphan"]);
    assert!(
        !container_dir(ctx, &id).exists(),
        "rm -f must remove the dir"
    );
    assert!(containers(ctx).is_empty());
    assert!(
        tmp_debris(&ctx.root).is_empty(),
        "{:?}",
        tmp_debris(&ctx.root)
    );
    assert_eq!(
        host_mounts_under(&ctx.root),
        mounts_before,
        "mounts left on the host"
    );
    if common::is_root() {
        let left = store_processes(ctx);
        kill_all(&left);
        assert!(
            left.is_empty(),
            "rless processes of the store left: {left:?}"
        );
    }
    assert!(deferred.is_empty(), "{}", deferred.join("\n"));
}

#[test]
fn lifecycle_start_after_killed_monitor() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_start_after_killed_monitor", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "again"],
            &format!("echo run >> /runs; echo ready; {FOREVER}"),
        );
        wait_log(ctx, "again", "ready");
        let st = inspect(ctx, "again");
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap();
        kill_monitor(monitor);
        assert!(
            eventually(Duration::from_secs(30), || !pid_alive(pid)),
            "init outlived the monitor"
        );
        // (A dead monitor may stay a zombie for a while; see lifecycle_killed_monitor.)
        assert!(
            eventually(Duration::from_secs(10), || state_of(&inspect(ctx, "again"))
                ["Running"]
                == false),
            "not exited 10 s after its monitor was killed: {}",
            inspect(ctx, "again")
        );
        let out = ctx.rless(&["start", "again"]);
        assert!(
            out.success(),
            "start after a killed monitor must work: {out}"
        );
        wait_log(ctx, "again", "ready\nready");
        let st = inspect(ctx, "again");
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/runs")).unwrap(),
            "run\nrun\n",
            "the layer must be kept"
        );
        ctx.ok(&["rm", "-f", "again"]);
        assert!(containers(ctx).is_empty());
    });
}

/// A container waiting out its restart back-off (`restarting`) still
/// belongs to its monitor: `ps` lists it, `rm` refuses it without -f,
/// `stop` and `kill` end it without waiting for the back-off, `rm -f`
/// removes it and its monitor, and a monitor killed in the back-off leaves
/// it exited with its last exit code (it said `restarting` for ever).
/// `wait` returns at the next exit, restarts included, as docker's does.
#[test]
fn lifecycle_restarting_container() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_restarting_container", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        for name in ["rs1", "rs2", "rs3", "rs4"] {
            run_sh(ctx, &["--name", name, "--restart", "always"], "exit 3");
        }
        run_sh(
            ctx,
            &["--name", "rw", "--restart", "always"],
            "sleep 1; exit 5",
        );
        let out = ctx.ok(&["wait", "rw"]);
        assert_eq!(out.stdout.trim(), "5", "wait returns at each exit: {out}");
        // Each run exits at once, so the back-off doubles from 0.1 s: after
        // six restarts it is 6.4 s, time enough to act within one.
        let backing_off = |name: &str| {
            let ok = eventually(Duration::from_secs(60), || {
                let st = inspect(ctx, name);
                st["State"]["Status"] == "restarting"
                    && st["RestartCount"].as_u64().unwrap_or(0) >= 6
            });
            let st = inspect(ctx, name);
            assert!(ok, "{name} never waited out a long back-off: {st}");
            assert_eq!(state_of(&st)["Restarting"], true, "{st}");
            assert_eq!(state_of(&st)["ExitCode"], 3, "{st}");
            st
        };

        backing_off("rs1");
        let listed = ps_json(ctx, &[]);
        assert!(
            listed
                .iter()
                .any(|r| r["Names"][0] == "rs1" && r["State"] == "restarting"),
            "ps without -a must list a restarting container: {listed:?}"
        );
        let out = ctx.rless(&["rm", "rs1"]);
        assert!(
            !out.success() && out.stderr.contains("restarting"),
            "rm without -f must refuse a restarting container: {out}"
        );
        ctx.ok(&["stop", "-t", "1", "rs1"]);
        let st = inspect(ctx, "rs1");
        assert_eq!(
            state_of(&st)["Status"],
            "exited",
            "stop must end a restarting container before it returns: {st}"
        );
        assert_eq!(state_of(&st)["ExitCode"], 3, "{st}");
        let count = st["RestartCount"].clone();
        std::thread::sleep(Duration::from_secs(1));
        let again = inspect(ctx, "rs1");
        assert_eq!(state_of(&again)["Status"], "exited", "{again}");
        assert_eq!(
            again["RestartCount"], count,
            "restarted after stop: {again}"
        );

        let st = backing_off("rs2");
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap();
        kill_monitor(monitor);
        assert!(
            eventually(Duration::from_secs(10), || {
                state_of(&inspect(ctx, "rs2"))["Status"] == "exited"
            }),
            "a monitor killed in the back-off must leave the container exited: {}",
            inspect(ctx, "rs2")
        );
        let st = inspect(ctx, "rs2");
        assert_eq!(state_of(&st)["ExitCode"], 3, "the last exit code: {st}");
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        ctx.ok(&["rm", "rs2"]);

        backing_off("rs3");
        ctx.ok(&["kill", "rs3"]);
        assert!(
            eventually(Duration::from_secs(10), || {
                state_of(&inspect(ctx, "rs3"))["Status"] == "exited"
            }),
            "kill must end a restarting container: {}",
            inspect(ctx, "rs3")
        );
        ctx.ok(&["rm", "rs3"]);
        ctx.ok(&["rm", "-f", "rw"]);

        let st = backing_off("rs4");
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap();
        ctx.ok(&["rm", "-f", "rs4"]);
        assert!(
            eventually(Duration::from_secs(30), || !pid_alive(monitor)),
            "rm -f must end the monitor of a restarting container"
        );
        ctx.ok(&["rm", "rs1"]);
        assert!(containers(ctx).is_empty());
    });
}

#[test]
fn lifecycle_runtime_dir_wiped() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_runtime_dir_wiped", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let xdg = ctx.work.join("xdg");
        fs::create_dir(&xdg).unwrap();
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        ctx.give(&xdg);
        let with_xdg = |args: &[&str], xdg: Option<&Path>| -> Out {
            let mut cmd = ctx.rless_cmd(args);
            match xdg {
                Some(d) => {
                    cmd.env("XDG_RUNTIME_DIR", d);
                }
                None => {
                    cmd.env_remove("XDG_RUNTIME_DIR");
                }
            }
            run_cmd(cmd, None, CMD_TIMEOUT, &ctx.user.name)
        };
        let out = with_xdg(
            &[
                "run",
                "-d",
                "--name",
                "w",
                IMG,
                "sh",
                "-c",
                &format!("echo ready; {FOREVER}"),
            ],
            Some(&xdg),
        );
        assert!(out.success(), "{out}");
        let id = out.stdout.trim().to_string();
        wait_log(ctx, "w", "ready");
        // Wipe it.
        fs::remove_dir_all(&xdg).unwrap();
        for x in [Some(xdg.as_path()), None] {
            let what = format!("XDG_RUNTIME_DIR={x:?}");
            let out = with_xdg(&["ps", "--format", "json"], x);
            assert!(out.success(), "ps with {what}: {out}");
            assert!(
                out.stdout.contains(&id),
                "ps with {what} must list the container: {out}"
            );
            let out = with_xdg(&["ps"], x);
            assert!(
                out.success() && out.stdout.contains(&id[..12]),
                "{what}: {out}"
            );
            let out = with_xdg(&["logs", "w"], x);
            assert_eq!(out.stdout, "ready\n", "{what}: {out}");
            let out = with_xdg(&["exec", "w", "echo", "hi"], x);
            assert_eq!(out.stdout, "hi\n", "exec with {what}: {out}");
            let out = with_xdg(&["inspect", "w"], x);
            assert!(out.success(), "{what}: {out}");
        }
        let out = with_xdg(&["stop", "w"], Some(&xdg));
        assert!(out.success(), "stop with a wiped runtime dir: {out}");
        let out = with_xdg(&["start", "w"], None);
        assert!(out.success(), "start without XDG_RUNTIME_DIR: {out}");
        wait_log(ctx, "w", "ready\nready");
        let out = with_xdg(&["run", "-d", IMG, "true"], Some(&xdg));
        assert!(out.success(), "run -d with a wiped runtime dir: {out}");
        let out = with_xdg(&["rm", "-f", "w", out.stdout.trim()], Some(&xdg));
        assert!(out.success(), "rm -f with a wiped runtime dir: {out}");
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
    });
}

#[test]
fn lifecycle_many_containers() {
    if !have_busybox() {
        return;
    }
    const N: usize = 50;
    for_each_user("lifecycle_many_containers", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mounts_before = host_mounts_under(&ctx.root);
        let mark = marker(ctx, 4);
        let t = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..N {
            ids.push(run_d(ctx, &[IMG, "sleep", &mark]));
        }
        let started = t.elapsed();
        let out = ctx.ok(&["ps", "-q", "--no-trunc"]);
        let listed: BTreeSet<String> = out.stdout.lines().map(String::from).collect();
        let want: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(want.len(), N, "ids must be distinct");
        assert_eq!(listed, want, "ps must list all {N} running containers");
        let out = ctx.ok(&["ps"]);
        assert_eq!(
            out.stdout.lines().filter(|l| l.contains(" Up ")).count(),
            N,
            "{out}"
        );
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(10), || marker_sleeps(&mark).len() == N),
                "expected {N} sleeps, found {}",
                marker_sleeps(&mark).len()
            );
        }
        let t2 = Instant::now();
        for id in &ids {
            let out = ctx.rless(&["rm", "-f", id]);
            assert!(out.success(), "rm -f {id}: {out}");
        }
        let removed = t2.elapsed();
        eprintln!("{N} containers: started in {started:?}, removed in {removed:?}");

        assert!(
            containers(ctx).is_empty(),
            "container dirs left: {:?}",
            containers(ctx)
        );
        let debris = tmp_debris(&ctx.root);
        assert!(
            debris.is_empty(),
            "temporary debris left in the store: {debris:?}"
        );
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "ps -a must be empty");
        let ok = eventually(Duration::from_secs(10), || {
            marker_sleeps(&mark).is_empty() && store_processes(ctx).is_empty()
        });
        let left: Vec<HostProc> = marker_sleeps(&mark)
            .into_iter()
            .chain(store_processes(ctx))
            .collect();
        kill_all(&left);
        assert!(
            ok,
            "processes left after rm -f of every container: {left:?}"
        );
        assert_eq!(
            host_mounts_under(&ctx.root),
            mounts_before,
            "mounts left on the host"
        );
        assert!(
            started + removed < Duration::from_secs(60),
            "{N} run -d + rm -f took {started:?} + {removed:?}"
        );
    });
}

#[test]
fn lifecycle_system_reset_stops_containers() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_system_reset_stops_containers", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mark = marker(ctx, 5);
        let id = run_d(ctx, &[IMG, "sleep", &mark]);
        let st = inspect(ctx, &id);
        let pid = state_of(&st)["Pid"].as_i64().unwrap_or(0);
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap_or(0);
        assert!(pid_alive(pid) && pid_alive(monitor), "{st}");
        let net_dir = on_user_network(ctx, &mark);
        ctx.ok(&["system", "reset", "-f"]);
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        let gone = eventually(Duration::from_secs(30), || {
            !pid_alive(pid) && !pid_alive(monitor) && marker_sleeps(&mark).is_empty()
        });
        let left: Vec<HostProc> = marker_sleeps(&mark)
            .into_iter()
            .chain(store_processes(ctx))
            .collect();
        let desc = format!(
            "init {pid} alive: {}, monitor {monitor} alive: {}, left: {left:?}",
            pid_alive(pid),
            pid_alive(monitor)
        );
        kill_all(&left);
        for p in [pid, monitor] {
            if pid_alive(p) {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(p as i32).unwrap(),
                    rustix::process::Signal::KILL,
                );
            }
        }
        assert!(
            gone,
            "BUG ({} mode): `system reset -f` deleted the store of a running container but \
             left its processes running ({desc}); it must stop (kill) running containers first",
            ctx.user.mode.as_str()
        );
        // The network helper and its runtime directory (outside the
        // store) went too, at once (an idle helper exits by itself, but
        // only seconds later, and leaves its directory).
        if let Some(dir) = net_dir {
            let helpers = common::usernet_helpers::helpers(ctx);
            let files: Vec<_> = fs::read_dir(&dir)
                .map(|r| r.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(
                helpers.is_empty() && !dir.exists(),
                "`system reset -f` left the network helper {helpers:?} or {} ({files:?})",
                dir.display()
            );
        }
    });
}

/// Runs `sleep MARK` on a user-defined network; the runtime directory of
/// the network helper that started for it (`None`, after a skip, without
/// /dev/net/tun).
fn on_user_network(ctx: &common::Ctx, mark: &str) -> Option<std::path::PathBuf> {
    if fs::metadata("/dev/net/tun").is_err() {
        skip("/dev/net/tun is missing: system reset is not tried with a network helper");
        return None;
    }
    ctx.ok(&["network", "create", "resetnet"]);
    ctx.ok(&["run", "-d", "--network", "resetnet", IMG, "sleep", mark]);
    let helpers = common::usernet_helpers::helpers(ctx);
    assert_eq!(helpers.len(), 1, "one network helper: {helpers:?}");
    let base = ctx.user.runtime_dir().join("rless");
    let dir = fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|d| {
            let pid = fs::read_to_string(d.join("helper.pid")).unwrap_or_default();
            pid.trim().parse::<i32>().ok() == Some(helpers[0])
        });
    assert!(
        dir.is_some(),
        "no runtime directory in {} names the helper",
        base.display()
    );
    dir
}

/// A command that re-runs itself in the user namespace (subuid mode) ends
/// with it: SIGTERM to `rless import -` while it waits for its tar takes
/// the re-executed one along (it went on, unseen, and finished the job).
#[test]
fn lifecycle_killed_command_takes_its_userns_child() {
    for_each_user("lifecycle_killed_command_takes_its_userns_child", |ctx| {
        let mut cmd = ctx.rless_cmd(&["import", "-", "never"]);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        // Running (and, in subuid mode, re-executed) before the signal.
        let two = if ctx.user.mode.as_str() == "subuid" {
            2
        } else {
            1
        };
        assert!(
            eventually(Duration::from_secs(10), || store_processes(ctx).len()
                >= two),
            "{:?}",
            store_processes(ctx)
        );
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let _ = child.wait();
        let gone = eventually(Duration::from_secs(10), || store_processes(ctx).is_empty());
        let left = store_processes(ctx);
        kill_all(&left);
        drop(stdin);
        assert!(gone, "processes outlived the killed command: {left:?}");
        assert!(ctx.image_ids().is_empty());
    });
}

/// `run -d` returns while its container runs though its caller has a pipe
/// on another descriptor (a shell's `3>&1 | cat`, bats' fd 3): the monitor
/// keeps nothing of the caller's, where it kept every descriptor and the
/// caller waited for the container's end.
#[test]
fn lifecycle_detached_keeps_no_caller_descriptors() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_detached_keeps_no_caller_descriptors", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mut sh = ctx.command(Path::new("/bin/sh"));
        sh.arg("-c").arg(format!(
            "{{ {} --root {} run -d --name held {IMG} sleep 600 9</etc/hostname; }} 3>&1 | cat",
            common::rless_bin().display(),
            ctx.root.display()
        ));
        let out = run_cmd(sh, None, Duration::from_secs(60), &ctx.user.name);
        assert!(
            out.success(),
            "run -d must return while its container runs: {out}"
        );
        let id = out.stdout.trim().to_string();
        let st: serde_json::Value =
            serde_json::from_slice(&fs::read(container_dir(ctx, &id).join("state.json")).unwrap())
                .unwrap();
        let monitor = st["monitor_pid"].as_i64().unwrap();
        let held: Vec<String> = fs::read_dir(format!("/proc/{monitor}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| fs::read_link(e.path()).ok())
            .map(|l| l.display().to_string())
            .filter(|l| l == "/etc/hostname")
            .collect();
        assert!(
            held.is_empty(),
            "the monitor keeps the caller's fd 9: {held:?}"
        );
        ctx.ok(&["rm", "-f", "held"]);
    });
}

/// Three `start`s of one stopped container at once start it once: one
/// monitor, one init (each started it, with its own monitor on the same
/// writable layer, and `rm -f` left the extra ones running).
#[test]
fn lifecycle_concurrent_starts_start_once() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_concurrent_starts_start_once", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "cc", IMG, "sleep", "60"]);
        let starts: Vec<_> = (0..3)
            .map(|_| {
                ctx.rless_cmd(&["start", "cc"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut s in starts {
            assert!(s.wait().unwrap().success());
        }
        let root = ctx.root.to_string_lossy().to_string();
        let ours = || {
            common::checks::host_processes()
                .into_iter()
                .filter(|p| p.uid == ctx.user.uid && p.args.contains(&root))
                .filter(|p| p.args.iter().any(|a| a == "start"))
                .count()
        };
        // The monitor and the init (a clone of it) carry `start`'s command
        // line: two per start that happened.
        assert_eq!(ours(), 2, "started more than once");
        ctx.ok(&["rm", "-f", "cc"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while ours() > 0 {
            assert!(Instant::now() < deadline, "processes left after rm -f");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}
