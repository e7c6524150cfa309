//! Starts that fail on networked containers, and what they leave: detached
//! restarts that fail (the published port taken during the back-off, the
//! exec failing after the clone) go on and leave nothing of the failed
//! start; a port forwarder killed while the container runs is replaced; an
//! init that fails before its root is mounted is reported, not mistaken
//! for a network failure. On the default network (the monitor's userspace
//! stack holds the published ports) and on a user-defined one (a forwarder
//! process, the monitor's child, holds them), for both test users.

mod common;
mod net_support;

use common::for_each_user;
use net_support::*;
use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn proc_count(pid: i64, what: &str) -> usize {
    fs::read_dir(format!("/proc/{pid}/{what}")).unwrap().count()
}

/// The networks a restart test runs on: the default one (the monitor's
/// userspace stack holds the published ports) and a user-defined one (a
/// forwarder process the monitor forks holds them). `--network` options.
fn restart_networks(ctx: &common::Ctx) -> Vec<Vec<String>> {
    ctx.ok(&["network", "create", "rnet"]);
    vec![vec![], vec!["--network".into(), "rnet".into()]]
}

/// A directory of the test's bind-mounted at /ctl, through which the test
/// tells the container what to do on its next start.
fn control_dir(ctx: &common::Ctx, name: &str) -> std::path::PathBuf {
    let dir = ctx.work.join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ctx.give(&dir);
    dir
}

/// The pids whose parent is `pid`.
fn children(pid: i64) -> Vec<i64> {
    let mut kids = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces and parens.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        if after.split_whitespace().nth(1) == Some(&pid.to_string()) {
            kids.extend(e.file_name().to_string_lossy().parse::<i64>().ok());
        }
    }
    kids
}

/// Polls the state of `id` until `done` says yes (bounded); panics at once
/// when it is `exited`, which a restart policy that gives up would leave.
/// Binds 127.0.0.1:`port` as soon as it is free, which is only while its
/// container waits out a restart back-off.
fn take_in_back_off(port: u16, what: &str) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l;
        }
        assert!(Instant::now() < deadline, "{what}: port {port} never free");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_state(
    ctx: &common::Ctx,
    id: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = state_json(ctx, id);
        if done(&s) {
            return s;
        }
        assert_ne!(s["status"], "exited", "gave up instead of {what}: {s}");
        assert!(Instant::now() < deadline, "never {what}: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// After `rm -f` of the container that ran as `init` under `monitor`: no
/// process of it (the init was pid 1 of its namespace, so nothing of the
/// container outlives it), no rless process of this store, the port free.
fn assert_all_gone(ctx: &common::Ctx, monitor: i64, init: i64, port: u16, what: &str) {
    let alive = |p: i64| std::path::Path::new(&format!("/proc/{p}")).exists();
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(monitor) || alive(init) {
        assert!(Instant::now() < deadline, "{what}: monitor or init left");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        common::usernet_helpers::helper_gone(ctx),
        "{what}: the network helper did not exit"
    );
    let left = common::usernet_helpers::leftovers(ctx);
    assert!(left.is_empty(), "{what}: processes left: {left:?}");
    TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("{what}: port {port} still held: {e}"));
}

/// A detached `run --restart always -p` whose restart finds its published
/// port taken (the test binds it during a back-off) stays `restarting`,
/// retrying with the back-off, instead of giving up `exited` with 125; once
/// the port is free it runs again and serves it. `rm -f` leaves nothing.
/// On the default network and on a user-defined one.
#[test]
fn net_detached_restart_outlasts_a_port_taken_meanwhile() {
    if !needs_tun() {
        return;
    }
    for_each_user(
        "net_detached_restart_outlasts_a_port_taken_meanwhile",
        |ctx| {
            if !setup_image(ctx) {
                return;
            }
            for (i, net) in restart_networks(ctx).iter().enumerate() {
                let what = format!("network {net:?}");
                let ctl = control_dir(ctx, &format!("ctl{i}"));
                let port = free_port();
                let spec = format!("127.0.0.1:{port}:80");
                let vol = format!("{}:/ctl", ctl.display());
                let name = format!("rp{i}");
                let mut args = vec![
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--restart",
                    "always",
                    "-p",
                    &spec,
                    "-v",
                    &vol,
                ];
                args.extend(net.iter().map(String::as_str));
                // Exits at once until /ctl/serve exists, then serves.
                let script = "[ -e /ctl/serve ] && httpd -f -p 80 -h /www; exit 1";
                args.extend([IMG, "sh", "-c", script]);
                let id = ctx.ok(&args).last_line().to_string();
                let taken = take_in_back_off(port, &what);
                // Restarts fail (125) and go on: two of them in a row.
                let failed = wait_state(ctx, &id, "failed a restart", |s| {
                    s["status"] == "restarting" && s["exit_code"] == 125
                });
                let count = failed["restart_count"].as_u64().unwrap();
                let again = wait_state(ctx, &id, "retried", |s| {
                    s["restart_count"].as_u64().unwrap() > count
                });
                assert_eq!(again["status"], "restarting", "{what}: {again}");
                assert_eq!(again["exit_code"], 125, "{what}: {again}");
                // Why, for inspect's State.Error.
                let reason = again["reason"].as_str().unwrap_or_default();
                assert!(reason.contains(&port.to_string()), "{what}: {again}");
                let log =
                    fs::read_to_string(ctx.root.join("containers").join(&id).join("monitor.log"))
                        .unwrap_or_default();
                assert!(log.contains("restart failed"), "{what}: monitor.log: {log}");
                fs::write(ctl.join("serve"), "").unwrap();
                drop(taken);
                let up = wait_state(ctx, &id, "running again", |s| s["status"] == "running");
                assert!(up["reason"].is_null(), "{what}: running again: {up}");
                assert!(
                    http_get(port).contains("hello from the container"),
                    "{what}: not served"
                );
                let (monitor, init) = (
                    up["monitor_pid"].as_i64().unwrap(),
                    up["pid"].as_i64().unwrap(),
                );
                ctx.ok(&["rm", "-f", &name]);
                assert_all_gone(ctx, monitor, init, port, &what);
            }
        },
    );
}

/// A foreground `run --restart always` whose restart cannot start (its
/// published port was taken during the back-off) goes on as a detached
/// one does: the failed start counts as an exit with 125 and its reason,
/// the run keeps trying, and once the port is free the container serves
/// again. `stop` ends the run and keeps the container. (It used to end the
/// run with 125 at the first failed restart.)
#[test]
fn net_foreground_restart_outlasts_a_port_taken_meanwhile() {
    if !needs_tun() {
        return;
    }
    for_each_user(
        "net_foreground_restart_outlasts_a_port_taken_meanwhile",
        |ctx| {
            if !setup_image(ctx) {
                return;
            }
            let ctl = control_dir(ctx, "ctl");
            let port = free_port();
            let spec = format!("127.0.0.1:{port}:80");
            let vol = format!("{}:/ctl", ctl.display());
            let script = "[ -e /ctl/serve ] && httpd -f -p 80 -h /www; exit 1";
            let args = [
                "run",
                "--name",
                "rf",
                "--restart",
                "always",
                "-p",
                &spec,
                "-v",
                &vol,
            ];
            let mut run = ctx
                .rless_cmd(&[&args[..], &[IMG, "sh", "-c", script]].concat())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            // Started once: its port is bound (taken before, it would fail
            // the first start, which removes the container).
            let id = loop {
                let out = ctx.rless(&["inspect", "--format", "{{.Id}} {{.State.Status}}", "rf"]);
                let line = out.last_line().to_string();
                if let Some((id, "running" | "restarting")) = line.split_once(' ') {
                    break id.to_string();
                }
                assert!(Instant::now() < deadline, "rf never started");
                std::thread::sleep(Duration::from_millis(10));
            };
            let taken = take_in_back_off(port, "foreground");
            let failed = wait_state(ctx, &id, "failed a restart", |s| {
                s["status"] == "restarting" && s["exit_code"] == 125
            });
            let reason = failed["reason"].as_str().unwrap_or_default();
            assert!(reason.contains(&port.to_string()), "{failed}");
            assert!(
                run.try_wait().unwrap().is_none(),
                "the run gave up: {failed}"
            );
            fs::write(ctl.join("serve"), "").unwrap();
            drop(taken);
            let up = wait_state(ctx, &id, "running again", |s| s["status"] == "running");
            assert!(
                http_get(port).contains("hello from the container"),
                "not served: {up}"
            );
            ctx.ok(&["stop", "rf"]);
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Some(s) = run.try_wait().unwrap() {
                    break s;
                }
                if Instant::now() > deadline {
                    let _ = run.kill();
                    panic!("the foreground run did not end");
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut err);
            assert!(err.contains("rless: warning: restart failed"), "{err}");
            assert!(status.code().is_some(), "{err}");
            let out = ctx.rless(&["inspect", "rf"]);
            assert!(out.stdout.contains("\"exited\""), "{err}\n{out}");
            ctx.ok(&["rm", "rf"]);
            TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("port {port} still held: {e}"));
        },
    );
}

/// A detached restart that fails after the init was cloned (its command,
/// a script on a bind mount, is gone: exec fails with 127, after the
/// forwarder of a user network has started) leaves nothing of that start:
/// in the back-off the monitor has no child and the published port is
/// free, and the next restarts fail the same way (not with 125 for a port
/// that a leftover forwarder holds). With the script back it serves again.
#[test]
fn net_restart_failing_after_the_clone_leaves_nothing() {
    if !needs_tun() {
        return;
    }
    for_each_user(
        "net_restart_failing_after_the_clone_leaves_nothing",
        |ctx| {
            if !setup_image(ctx) {
                return;
            }
            let nets = restart_networks(ctx);
            // With fuse-overlay the monitor also serves the root, from
            // threads the teardown must join.
            let runs = nets
                .iter()
                .flat_map(|n| ["auto", "fuse-overlay"].map(|d| (n, d)));
            for (i, (net, driver)) in runs.enumerate() {
                let what = format!("network {net:?}, storage driver {driver}");
                let ctl = control_dir(ctx, &format!("ctl{i}"));
                let script = ctl.join("run");
                fs::write(&script, "#!/bin/sh\nexit 1\n").unwrap();
                fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .unwrap();
                ctx.give(&script);
                let port = free_port();
                let spec = format!("127.0.0.1:{port}:80");
                let vol = format!("{}:/ctl", ctl.display());
                let name = format!("rc{i}");
                let mut args = vec![
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--restart",
                    "always",
                    "-p",
                    &spec,
                    "-v",
                    &vol,
                    "--storage-driver",
                    driver,
                ];
                args.extend(net.iter().map(String::as_str));
                args.extend([IMG, "/ctl/run"]);
                let id = ctx.ok(&args).last_line().to_string();
                // `run -d` returned after the exec: every later start fails.
                fs::remove_file(&script).unwrap();
                let failed = wait_state(ctx, &id, "failed a restart", |s| {
                    s["status"] == "restarting" && s["exit_code"] == 127
                });
                if driver != "auto" {
                    assert_eq!(failed["driver"], driver, "{what}: {failed}");
                }
                let monitor = failed["monitor_pid"].as_i64().unwrap();
                let count = failed["restart_count"].as_u64().unwrap();
                // Between the attempts nothing of them is left: no child,
                // no thread but the monitor's own, the port free.
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let kids = children(monitor);
                    let threads = proc_count(monitor, "task");
                    let free = TcpListener::bind(("127.0.0.1", port)).is_ok();
                    if kids.is_empty() && threads == 1 && free {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{what}: in the back-off the monitor still has children {kids:?}, \
                         {threads} threads, port free: {free}; {}",
                        state_json(ctx, &id)
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                let again = wait_state(ctx, &id, "retried", |s| {
                    s["restart_count"].as_u64().unwrap() > count + 1
                });
                assert_eq!(again["status"], "restarting", "{what}: {again}");
                assert_eq!(again["exit_code"], 127, "{what}: the same failure: {again}");
                let reason = again["reason"].as_str().unwrap_or_default();
                assert!(reason.contains("/ctl/run"), "{what}: {again}");
                fs::write(&script, "#!/bin/sh\nexec httpd -f -p 80 -h /www\n").unwrap();
                fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .unwrap();
                ctx.give(&script);
                let up = wait_state(ctx, &id, "running again", |s| s["status"] == "running");
                assert!(
                    http_get(port).contains("hello from the container"),
                    "{what}: not served"
                );
                let init = up["pid"].as_i64().unwrap();
                if !net.is_empty() {
                    // Each start (failed ones too) writes the container's
                    // address into its /etc/hosts: one line, not one each.
                    let hosts = ctx.ok(&["exec", &name, "cat", "/etc/hosts"]).stdout;
                    let own = hosts.lines().filter(|l| l.starts_with("10.89.")).count();
                    assert_eq!(own, 1, "{what}: /etc/hosts: {hosts}");
                }
                ctx.ok(&["rm", "-f", &name]);
                assert_all_gone(ctx, monitor, init, port, &what);
            }
        },
    );
}

/// A container on a user-defined network whose port forwarder (the
/// monitor's child that serves its published ports) is killed gets a new
/// one: the port serves again, the container runs on with the same init
/// (it stayed up with dead ports). Detached (the monitor's log says so)
/// and in the foreground (a warning on stderr).
#[test]
fn net_killed_port_forwarder_is_replaced() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_killed_port_forwarder_is_replaced", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "fnet"]);
        for detached in [true, false] {
            let what = if detached { "detached" } else { "foreground" };
            let port = free_port();
            let spec = format!("127.0.0.1:{port}:80");
            let name = format!("fw-{what}");
            let mut args = vec!["run", "--name", &name, "--network", "fnet", "-p", &spec];
            if detached {
                args.push("-d");
            }
            args.extend([IMG, "httpd", "-f", "-p", "80", "-h", "/www"]);
            let foreground = if detached {
                ctx.ok(&args);
                None
            } else {
                let child = ctx
                    .rless_cmd(&args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                Some(child)
            };
            assert!(
                http_get(port).contains("hello from the container"),
                "{what}"
            );
            let v: serde_json::Value =
                serde_json::from_str(&ctx.ok(&["inspect", &name]).stdout).unwrap();
            let id = v[0]["Id"].as_str().unwrap().to_string();
            let st = state_json(ctx, &id);
            let (monitor, init) = (
                st["monitor_pid"].as_i64().unwrap(),
                st["pid"].as_i64().unwrap(),
            );
            let forwarders = || -> Vec<i64> {
                children(monitor)
                    .into_iter()
                    .filter(|p| *p != init)
                    .collect()
            };
            let old = forwarders();
            assert_eq!(old.len(), 1, "{what}: one forwarder: {old:?}");
            // It holds nothing of the monitor's but its sockets (it kept
            // every descriptor: /dev/fuse, the container's log and pty).
            let fds: Vec<String> = fs::read_dir(format!("/proc/{}/fd", old[0]))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) > Some(2))
                .filter_map(|e| fs::read_link(e.path()).ok())
                .map(|l| l.display().to_string())
                .filter(|l| !l.starts_with("socket:"))
                .collect();
            assert!(fds.is_empty(), "{what}: the forwarder holds {fds:?}");
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(old[0] as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while forwarders().iter().all(|p| *p == old[0]) {
                assert!(
                    Instant::now() < deadline,
                    "{what}: no new forwarder: {:?}",
                    forwarders()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                http_get(port).contains("hello from the container"),
                "{what}: not served after the forwarder was killed"
            );
            let st = state_json(ctx, &id);
            assert_eq!(st["status"], "running", "{what}: {st}");
            assert_eq!(st["pid"].as_i64(), Some(init), "{what}: {st}");
            if detached {
                let log = ctx.root.join("containers").join(&id).join("monitor.log");
                let log = fs::read_to_string(log).unwrap_or_default();
                assert!(log.contains("port forwarder"), "{what}: monitor.log: {log}");
            }
            if detached {
                // One that dies at once, again and again, is not forked for
                // ever: the fifth quick death in a row ends the container,
                // saying why (it was a busy loop of forks).
                // The one running now started long ago; five more follow.
                let mut last = old.clone();
                for round in 0..6 {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let pid = loop {
                        if let Some(p) = forwarders().into_iter().find(|p| !last.contains(p)) {
                            break p;
                        }
                        if round > 0 && state_json(ctx, &id)["status"] != "running" {
                            break 0;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "{what}: no forwarder in round {round}"
                        );
                        std::thread::sleep(Duration::from_millis(5));
                    };
                    if pid == 0 {
                        break;
                    }
                    last.push(pid);
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                while state_json(ctx, &id)["status"] == "running" {
                    assert!(
                        Instant::now() < deadline,
                        "{what}: still running after 5 quick deaths"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                let st = state_json(ctx, &id);
                let reason = st["reason"].as_str().unwrap_or_default();
                assert!(reason.contains("died 5 times"), "{what}: {st}");
            }
            ctx.ok(&["rm", "-f", &name]);
            if let Some(mut child) = foreground {
                assert!(
                    common::checks::wait_timeout(&mut child, Duration::from_secs(60)).is_some(),
                    "{what}: run did not end"
                );
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
                assert!(err.contains("port forwarder"), "{what}: stderr: {err}");
            }
            assert_all_gone(ctx, monitor, init, port, what);
        }
    });
}

/// A container whose init fails before its root is mounted (its image's
/// layers are gone, on the kernel overlay driver) fails to start with the
/// init's reason, on a user-defined network too, where the monitor went on
/// to attach the dead init and died of SIGPIPE telling it to stop: no
/// message, no exit code. Foreground and detached `start`.
#[test]
fn net_start_failing_before_the_mount_says_why() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_start_failing_before_the_mount_says_why", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let nets = restart_networks(ctx);
        for net in &nets {
            for attach in [true, false] {
                let what = format!("network {net:?}, attached {attach}");
                let mut args = vec!["create", "--name", "mf", "--storage-driver", "overlay"];
                args.extend(net.iter().map(String::as_str));
                args.extend([IMG, "true"]);
                ctx.ok(&args);
                let layers = ctx.root.join("layers");
                let moved = |from: &str, to: &str| {
                    for l in ctx.layer_dirs() {
                        fs::rename(layers.join(&l).join(from), layers.join(&l).join(to)).unwrap();
                    }
                };
                moved("diff", "gone");
                let start: &[&str] = if attach {
                    &["start", "-a", "mf"]
                } else {
                    &["start", "mf"]
                };
                let out = ctx.rless(start);
                moved("gone", "diff");
                assert_eq!(out.code, Some(125), "{what}: {out}");
                assert!(out.stderr.contains("overlayfs"), "{what}: {out}");
                ctx.ok(&["rm", "-f", "mf"]);
            }
        }
        assert!(
            common::usernet_helpers::helper_gone(ctx),
            "the network helper did not exit"
        );
        let left = common::usernet_helpers::leftovers(ctx);
        assert!(left.is_empty(), "processes left: {left:?}");
    });
}

/// The names of the networks a container's state records.
fn state_networks(s: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = s["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n[0].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// A restart by the restart policy keeps what `network connect` and
/// `disconnect` changed while the container ran, as docker's: the
/// `restarting` state (held by a port taken during the back-off, so the
/// restart fails until it is let go) and the restarted container are on
/// the networks recorded then, not on those the monitor started with.
#[test]
fn net_restart_keeps_networks_connected_meanwhile() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_restart_keeps_networks_connected_meanwhile", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        for n in ["ra", "rb", "rc"] {
            ctx.ok(&["network", "create", n]);
        }
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        let script = "while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go; exit 1";
        let id = ctx
            .ok(&[
                "run",
                "-d",
                "--name",
                "rn",
                "--restart",
                "always",
                "--network",
                "ra",
                "-p",
                &publish,
                IMG,
                "sh",
                "-c",
                script,
            ])
            .stdout
            .trim()
            .to_string();
        ctx.ok(&["network", "connect", "rb", "rn"]);
        ctx.ok(&["network", "connect", "rc", "rn"]);
        ctx.ok(&["network", "disconnect", "ra", "rn"]);
        let now = state_json(ctx, &id);
        assert_eq!(state_networks(&now), ["rb", "rc"], "{now}");
        ctx.ok(&["exec", "rn", "sh", "-c", ": > /tmp/go"]);
        let taken = take_in_back_off(port, "connected");
        let failed = wait_state(ctx, &id, "failed a restart", |s| {
            s["status"] == "restarting" && s["exit_code"] == 125
        });
        assert_eq!(
            state_networks(&failed),
            ["rb", "rc"],
            "restarting: {failed}"
        );
        drop(taken);
        let up = wait_state(ctx, &id, "running again", |s| s["status"] == "running");
        assert_eq!(state_networks(&up), ["rb", "rc"], "restarted: {up}");
        let count = "n=0; while read i rest; do case $i in eth*) n=$((n+1));; esac; \
                     done < /proc/net/dev; echo $n";
        let out = ctx.ok(&["exec", "rn", "sh", "-c", count]);
        assert_eq!(
            out.stdout.trim(),
            "2",
            "two interfaces after the restart: {out}"
        );
        ctx.ok(&["rm", "-f", "rn"]);
    });
}
