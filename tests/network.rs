//! `rless run` with the userspace network: published ports (the container
//! sees the client's address), `rless port`, ports already in use, outbound
//! connections to the host's loopback when allowed, `--network none`, and
//! the generated /etc/resolv.conf and /etc/hosts. Real traffic on loopback
//! only; every port is picked free at run time.

mod common;

use common::oci::busybox;
use common::{for_each_user, skip, Ctx, Out, ERR_EXIT};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;

use std::time::{Duration, Instant};

const IMG: &str = "netbb";
const APPLETS: &[&str] = &[
    "sh", "httpd", "nc", "cat", "echo", "sleep", "ip", "wget", "grep", "true", "ping", "nslookup",
    "head",
];

/// The UDP echo helper (tests/helpers/udp_echo.rs) built statically once,
/// so it runs in the busybox image.
fn udp_echo() -> &'static [u8] {
    static BIN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/udp_echo.rs");
        let out = common::base_dir().join("udp_echo");
        let st = std::process::Command::new("rustc")
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                src,
                "-o",
            ])
            .arg(&out)
            .status()
            .expect("run rustc");
        assert!(st.success(), "building the UDP echo helper failed");
        fs::read(&out).unwrap()
    })
}

fn setup_image(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else {
        skip("busybox-static is not installed");
        return false;
    };
    let dir = ctx.work.join("netroot");
    for sub in ["bin", "etc", "www", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("bin/busybox"), bb).unwrap();
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
    fs::write(dir.join("bin/udpecho"), udp_echo()).unwrap();
    fs::set_permissions(dir.join("bin/udpecho"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("www/index.html"), "hello from the container\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn one_error(out: &Out) {
    assert_eq!(out.code, Some(ERR_EXIT), "expected exit {ERR_EXIT}: {out}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("rless: "))
        .collect();
    assert_eq!(lines.len(), 1, "one `rless:` line: {out}");
}

fn containers(ctx: &Ctx) -> usize {
    fs::read_dir(ctx.root.join("containers"))
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// GET / on 127.0.0.1:port, retrying while the server starts.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains("200") {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "no HTTP answer on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn needs_tun() -> bool {
    if fs::metadata("/dev/net/tun").is_err() {
        skip("/dev/net/tun is missing");
        return false;
    }
    true
}

#[test]
fn net_published_port_keeps_client_address() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_published_port_keeps_client_address", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = free_port();
        let spec = format!("127.0.0.1:{port}:80");
        let out = ctx.ok(&[
            "run", "-d", "--name", "web", "-p", &spec, IMG, "httpd", "-f", "-v", "-p", "80", "-h",
            "/www",
        ]);
        assert!(!out.stdout.trim().is_empty());
        let body = http_get(port);
        assert!(body.contains("hello from the container"), "{body}");
        // httpd -v logs the peer: a loopback client shows as the gateway.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = ctx.ok(&["logs", "web"]);
            if logs.stderr.contains("10.0.2.2") || logs.stdout.contains("10.0.2.2") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the container did not see 10.0.2.2 as the client: {logs}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let p = ctx.ok(&["port", "web"]);
        assert_eq!(
            p.stdout.trim(),
            format!("80/tcp -> 127.0.0.1:{port}"),
            "{p}"
        );
        let p = ctx.ok(&["port", "web", "80"]);
        assert_eq!(p.stdout.trim(), format!("127.0.0.1:{port}"));
        one_error(&ctx.rless(&["port", "web", "81"]));
        // The port is released when the container stops.
        ctx.ok(&["rm", "-f", "web"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "port {port} still bound after rm -f"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

#[test]
fn net_random_host_port() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_random_host_port", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "rnd",
            "-p",
            "127.0.0.1::80",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let p = ctx.ok(&["port", "rnd", "80"]);
        let port: u16 = p
            .stdout
            .trim()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{p}"));
        assert_ne!(port, 0);
        assert!(http_get(port).contains("hello from the container"));
        ctx.ok(&["rm", "-f", "rnd"]);
    });
}

#[test]
fn net_port_in_use_fails_cleanly() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_port_in_use_fails_cleanly", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let spec = format!("127.0.0.1:{port}:80");
        for detach in [false, true] {
            let mut args = vec!["run"];
            if detach {
                args.push("-d");
            }
            args.extend_from_slice(&["-p", &spec, IMG, "true"]);
            let out = ctx.rless(&args);
            one_error(&out);
            assert!(
                out.stderr.contains(&port.to_string()),
                "the error names the port: {out}"
            );
            assert_eq!(containers(ctx), 0, "nothing left behind: {out}");
        }
        // Our listener still works.
        drop(TcpStream::connect(("127.0.0.1", port)).expect("listener intact"));
        for bad in ["x:80", "80/sctp", "1-2:80", "70000:80"] {
            one_error(&ctx.rless(&["run", "--rm", "-p", bad, IMG, "true"]));
        }
        one_error(&ctx.rless(&["run", "--rm", "--network", "none", "-p", "80", IMG, "true"]));
    });
}

#[test]
fn net_outbound_to_host_loopback_only_when_allowed() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_outbound_to_host_loopback_only_when_allowed", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            if let Ok((mut s, _)) = server.accept() {
                let _ = s.write_all(b"pong from the host\n");
            }
        });
        let script = format!("nc 10.0.2.2 {port} </dev/null");
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--network",
            "slirp:allow_host_loopback=true",
            IMG,
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.stdout.contains("pong from the host"), "{out}");
        t.join().unwrap();
        // Not allowed by default: the connection is refused.
        let out = ctx.rless(&[
            "run",
            "--rm",
            IMG,
            "sh",
            "-c",
            &format!("nc -w 2 10.0.2.2 {port} </dev/null; echo rc=$?"),
        ]);
        assert!(
            !out.stdout.contains("pong"),
            "host loopback reached without allow_host_loopback: {out}"
        );
    });
}

#[test]
fn net_modes_and_generated_files() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_modes_and_generated_files", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let out = ctx.ok(&[
            "run",
            "--rm",
            IMG,
            "cat",
            "/proc/net/dev",
            "/etc/resolv.conf",
            "/etc/hosts",
        ]);
        assert!(
            out.stdout.contains("tap0"),
            "default network has a TAP: {out}"
        );
        assert!(out.stdout.contains("nameserver 10.0.2.3"), "{out}");
        assert!(out.stdout.contains("host.containers.internal"), "{out}");
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMG,
            "cat",
            "/proc/net/dev",
        ]);
        assert!(
            !out.stdout.contains("tap0") && out.stdout.contains("lo:"),
            "--network none is loopback only: {out}"
        );
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--dns",
            "192.0.2.53",
            "--add-host",
            "db:192.0.2.7",
            IMG,
            "cat",
            "/etc/resolv.conf",
            "/etc/hosts",
        ]);
        assert!(
            out.stdout.contains("nameserver 192.0.2.53") && out.stdout.contains("192.0.2.7\tdb"),
            "{out}"
        );
        one_error(&ctx.rless(&["run", "--rm", "--dns", "not-an-ip", IMG, "true"]));
        one_error(&ctx.rless(&["run", "--rm", "--add-host", "nocolon", IMG, "true"]));
        one_error(&ctx.rless(&["run", "--rm", "--network", "bogus", IMG, "true"]));
        assert_eq!(containers(ctx), 0);
    });
}

#[test]
fn net_splice_port_driver() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_splice_port_driver", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = free_port();
        let spec = format!("127.0.0.1:{port}:80");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "spl",
            "--port-driver",
            "splice",
            "-p",
            &spec,
            IMG,
            "httpd",
            "-f",
            "-v",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        assert!(http_get(port).contains("hello from the container"));
        // The connection is local to the container: it sees its own address.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = ctx.ok(&["logs", "spl"]);
            if logs.stderr.contains("10.0.2.100") || logs.stdout.contains("10.0.2.100") {
                break;
            }
            assert!(Instant::now() < deadline, "no 10.0.2.100 client: {logs}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let p = ctx.ok(&["port", "spl", "80"]);
        assert_eq!(p.stdout.trim(), format!("127.0.0.1:{port}"));
        ctx.ok(&["rm", "-f", "spl"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} still bound");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The network option spells it too; bad values fail cleanly.
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--network",
            "slirp:port_driver=splice",
            "-p",
            &spec,
            IMG,
            "true",
        ]);
        assert_eq!(out.code, Some(0));
        for bad in [
            &["--port-driver", "bogus"][..],
            &["--network", "slirp:port_driver=nope"],
            &["--network", "none", "--port-driver", "splice"],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(bad);
            args.extend_from_slice(&[IMG, "true"]);
            one_error(&ctx.rless(&args));
        }
        assert_eq!(containers(ctx), 0);
    });
}

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

/// Both port drivers, as `run` arguments.
const DRIVERS: [&str; 2] = ["smoltcp", "splice"];

#[test]
fn net_published_udp_port_end_to_end() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_published_udp_port_end_to_end", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        // UDP stays on the stack under either driver: the source is kept.
        for driver in DRIVERS {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let spec = format!("127.0.0.1:{port}:5353/udp");
            let name = format!("udp-{driver}");
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--port-driver",
                driver,
                "-p",
                &spec,
                IMG,
                "udpecho",
                "5353",
            ]);
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut buf = [0u8; 256];
            let reply = loop {
                c.send_to(b"ping over udp", ("127.0.0.1", port)).unwrap();
                if let Ok((n, _)) = c.recv_from(&mut buf) {
                    break String::from_utf8_lossy(&buf[..n]).to_string();
                }
                assert!(Instant::now() < deadline, "no UDP answer ({driver})");
            };
            assert_eq!(reply, "10.0.2.2 ping over udp", "{driver}");
            ctx.ok(&["rm", "-f", &name]);
            std::net::UdpSocket::bind(("127.0.0.1", port)).expect("UDP port released");
        }
    });
}

fn state_json(ctx: &Ctx, id: &str) -> serde_json::Value {
    let p = ctx.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

fn wait_for_log(ctx: &Ctx, name: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = ctx.ok(&["logs", name]);
        if logs.stdout.contains(what) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what:?} in the logs: {logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let now = (proc_count(monitor, "fd"), proc_count(monitor, "task"));
                    if now.0 <= fds && now.1 <= tasks {
                        break;
                    }
                    assert!(
                    Instant::now() < deadline,
                    "{driver}: monitor fds/tasks {fds}/{tasks} before, {now:?} after 1000 connections"
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
