//! Network failure paths and extras through `rless run`: the container
//! exiting mid-transfer, 1,000 connections leaving the monitor's fds and
//! threads as they were, DNS failover from a dead resolver, and ping through
//! the NAT to a namespace the test creates, and a foreground restart that
//! finds its published port taken. Each runs under both port drivers where
//! that matters. Detached restarts that fail are in `network_restart.rs`.

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
