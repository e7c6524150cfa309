//! Network failure paths and extras through `rless run`: the container
//! exiting mid-transfer, 1,000 connections leaving the monitor's fds and
//! threads as they were, DNS failover from a dead resolver, and ping through
//! the NAT to a namespace the test creates, a foreground restart that finds
//! its published port taken, and detached restarts that fail (the port
//! taken, or the exec failing after the clone) and go on, leaving nothing
//! of the failed start. Each runs under both port drivers where that
//! matters, and on the default and a user-defined network where the port
//! is held differently.

mod common;
mod net_support;

use common::{for_each_user, skip};
use net_support::*;
use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A namespace made by the test with a veth pair: the host end has
/// 198.18.N.1/29, the namespace end 198.18.N.2; 198.18.N.3 answers nothing.
/// Removed (with the pair) on drop.
struct PeerNs {
    name: String,
    net: String,
}

impl PeerNs {
    fn create() -> Option<PeerNs> {
        if !common::is_root() {
            skip("creating a peer namespace needs root");
            return None;
        }
        let n = std::process::id() % 200 + 20;
        let p = PeerNs {
            name: format!("rless-ping-{n}"),
            net: format!("198.18.{n}"),
        };
        let host_if = format!("rlp{n}h");
        let ns_if = format!("rlp{n}c");
        let (ns, net) = (&p.name, &p.net);
        let _ = ip(&["netns", "del", ns]);
        for args in [
            vec!["netns", "add", ns],
            vec![
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
            vec!["link", "set", &ns_if, "netns", ns],
            vec!["addr", "add", &format!("{net}.1/29"), "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            vec![
                "-n",
                ns,
                "addr",
                "add",
                &format!("{net}.2/29"),
                "dev",
                &ns_if,
            ],
            vec!["-n", ns, "link", "set", &ns_if, "up"],
        ] {
            assert!(ip(&args), "ip {args:?} failed");
        }
        Some(p)
    }
}

impl Drop for PeerNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn net_ping_goes_through_ping_sockets() {
    if !needs_tun() {
        return;
    }
    let range = fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let bounds: Vec<u64> = range
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if bounds.len() != 2 || bounds[0] > bounds[1] {
        skip("net.ipv4.ping_group_range allows no group (tests/run.sh widens it)");
        return;
    }
    let Some(peer) = PeerNs::create() else {
        return;
    };
    for_each_user("net_ping_goes_through_ping_sockets", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        // Through the NAT to an address only the host can reach: the
        // reply comes back with the container's id and sequence number.
        let target = format!("{}.2", peer.net);
        let out = ctx.rless(&["run", "--rm", IMG, "ping", "-c", "2", "-W", "5", &target]);
        assert!(
            out.success() && out.stdout.contains("2 packets received"),
            "ping {target}: {out}"
        );
        assert!(out.stdout.contains("seq=1"), "{out}");
        // Nothing answers .3: no reply is made up.
        let silent = format!("{}.3", peer.net);
        let out = ctx.rless(&["run", "--rm", IMG, "ping", "-c", "1", "-W", "2", &silent]);
        assert!(
            !out.success() && out.stdout.contains("0 packets received"),
            "ping {silent} must go unanswered: {out}"
        );
    });
}

#[test]
fn net_container_exits_mid_transfer() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_container_exits_mid_transfer", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        for driver in DRIVERS {
            let port = free_port();
            let spec = format!("127.0.0.1:{port}:80");
            let name = format!("mid-{driver}");
            let id = ctx.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--port-driver",
                driver,
                "-p",
                &spec,
                IMG,
                "sh",
                "-c",
                "nc -l -p 80 >/dev/null & sleep 0.5; echo ready; sleep 2",
            ]);
            wait_for_log(ctx, &name, "ready");
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
            let chunk = vec![7u8; 1 << 20];
            let mut sent = 0usize;
            // The container exits after ~2 s while this keeps sending; the
            // client must be told (reset), not left hanging.
            let err = loop {
                match c.write_all(&chunk) {
                    Ok(()) => sent += chunk.len(),
                    Err(e) => break e,
                }
            };
            assert!(
                sent > 1 << 20,
                "{driver}: the transfer never ran ({sent} bytes)"
            );
            assert!(
                matches!(
                    err.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ),
                "{driver}: {err:?}"
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            let id = id.stdout.trim();
            while state_json(ctx, id)["status"] != "exited" {
                assert!(
                    Instant::now() < deadline,
                    "{driver}: container still running"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            TcpListener::bind(("127.0.0.1", port)).expect("port released after exit");
            ctx.ok(&["rm", &name]);
        }
        assert_eq!(containers(ctx), 0);
    });
}

fn proc_count(pid: i64, what: &str) -> usize {
    fs::read_dir(format!("/proc/{pid}/{what}")).unwrap().count()
}

/// What each open fd of `pid` refers to, for a failure message.
fn fd_targets(pid: i64) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let t = fs::read_link(e.path()).unwrap_or_default();
                    format!("{}={}", e.file_name().to_string_lossy(), t.display())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn net_thousand_connections_leak_nothing_in_the_monitor() {
    if !needs_tun() {
        return;
    }
    for_each_user(
        "net_thousand_connections_leak_nothing_in_the_monitor",
        |ctx| {
            if !setup_image(ctx) {
                return;
            }
            for driver in DRIVERS {
                let port = free_port();
                let spec = format!("127.0.0.1:{port}:80");
                let name = format!("many-{driver}");
                let id = ctx.ok(&[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--port-driver",
                    driver,
                    "-p",
                    &spec,
                    IMG,
                    "httpd",
                    "-f",
                    "-p",
                    "80",
                    "-h",
                    "/www",
                ]);
                http_get(port);
                let monitor = state_json(ctx, id.stdout.trim())["monitor_pid"]
                    .as_i64()
                    .expect("monitor pid");
                let (fds, tasks) = (proc_count(monitor, "fd"), proc_count(monitor, "task"));
                for _ in 0..1000 {
                    assert!(http_get(port).contains("hello from the container"));
                }
                // A flow whose stack socket ended in TIME-WAIT keeps its
                // host socket for smoltcp's 10 s close delay (more under
                // load, with retransmissions): wait past that.
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let now = (proc_count(monitor, "fd"), proc_count(monitor, "task"));
                    if now.0 <= fds && now.1 <= tasks {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{driver}: monitor fds/tasks {fds}/{tasks} before, {now:?} after 1000 connections; fds now: {:?}",
                        fd_targets(monitor)
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                ctx.ok(&["rm", "-f", &name]);
            }
        },
    );
}

/// A DNS server on `addr` (port 53) answering A queries with 192.0.2.1 and
/// anything else with no records, until `stop` is set.
fn dns_server(
    addr: std::net::Ipv4Addr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let s = std::net::UdpSocket::bind((addr, 53)).expect("bind port 53");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut answered = 0;
        let mut buf = [0u8; 512];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                continue;
            };
            if n < 17 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // QR
            r[3] = 0x80; // RA, NOERROR
            if buf[n - 4..n] == [0, 1, 0, 1] {
                r[7] = 1; // ANCOUNT
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
            }
            let _ = s.send_to(&r, from);
            answered += 1;
        }
        answered
    })
}

#[test]
fn net_dns_fails_over_when_the_first_resolver_is_dead() {
    if !needs_tun() {
        return;
    }
    if !common::is_root() {
        skip("binding port 53 for the test resolver needs root");
        return;
    }
    let n = (std::process::id() % 200 + 20) as u8;
    let dead = std::net::Ipv4Addr::new(127, 77, n, 1);
    let live = std::net::Ipv4Addr::new(127, 77, n, 2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = dns_server(live, stop.clone());
    for_each_user(
        "net_dns_fails_over_when_the_first_resolver_is_dead",
        |ctx| {
            if !setup_image(ctx) {
                return;
            }
            let conf = ctx.write_file(
                "resolv.conf",
                format!("nameserver {dead}\nnameserver {live}\n").as_bytes(),
            );
            let mut cmd = ctx.rless_cmd(&["run", "--rm", IMG, "nslookup", "example.test"]);
            cmd.env("RLESS_RESOLV_CONF", &conf);
            let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(
                out.success() && out.stdout.contains("192.0.2.1"),
                "resolution through the second resolver: {out}"
            );
        },
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(server.join().unwrap() > 0);
}

/// A foreground `run --restart always` whose restart cannot start (its
/// published port was taken during the back-off) ends with the failed
/// start's code and keeps the container, which ran before (it was
/// removed, history and all, as if `run` had never started it).
#[test]
fn net_foreground_restart_on_a_taken_port_keeps_the_container() {
    if !needs_tun() {
        return;
    }
    for_each_user(
        "net_foreground_restart_on_a_taken_port_keeps_the_container",
        |ctx| {
            if !setup_image(ctx) {
                return;
            }
            let port = free_port();
            let spec = format!("127.0.0.1:{port}:80");
            let args = ["run", "--name", "rf", "--restart", "always", "-p", &spec];
            let mut run = ctx
                .rless_cmd(&[&args[..], &[IMG, "sh", "-c", "sleep 0.5; exit 3"]].concat())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Once it has run, take the port in a back-off, when it is free.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !ctx.rless(&["inspect", "rf"]).stdout.contains("\"running\"") {
                assert!(Instant::now() < deadline, "rf never ran");
                std::thread::sleep(Duration::from_millis(10));
            }
            let _taken = loop {
                if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                    break l;
                }
                assert!(Instant::now() < deadline, "port {port} never free");
                std::thread::sleep(Duration::from_millis(5));
            };
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
            assert_eq!(status.code(), Some(125), "the failed start's code: {err}");
            let out = ctx.rless(&["inspect", "rf"]);
            assert!(out.success(), "{err}\n{out}");
            assert!(out.stdout.contains("\"exited\""), "{out}");
            ctx.ok(&["rm", "rf"]);
        },
    );
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
                // The port is free only in a back-off: take it then.
                let deadline = Instant::now() + Duration::from_secs(60);
                let taken = loop {
                    if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                        break l;
                    }
                    assert!(Instant::now() < deadline, "{what}: port {port} never free");
                    std::thread::sleep(Duration::from_millis(2));
                };
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
