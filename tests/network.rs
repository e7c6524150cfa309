//! `rless run` with the userspace network: published ports (the container
//! sees the client's address), `rless port`, ports already in use, outbound
//! connections to the host's loopback when allowed, `--network none`, the
//! generated /etc/resolv.conf and /etc/hosts, ports in `ps` and `inspect`, the splice port driver and a
//! published UDP port end to end. Real traffic on loopback only; every port
//! is picked free at run time. Failure paths are in network_failures.rs.

mod common;
mod net_support;

use common::for_each_user;
use net_support::*;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

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
        let deadline = Instant::now() + Duration::from_secs(30);
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
        // ps and inspect show it, as docker does.
        let want = format!("127.0.0.1:{port}->80/tcp");
        assert_eq!(
            ctx.ok(&["ps", "--format", "{{.Ports}}"]).stdout.trim(),
            want
        );
        let ps = ctx.ok(&["ps"]);
        let header = ps.stdout.lines().next().unwrap_or_default();
        assert!(header.contains("PORTS"), "{ps}");
        assert!(ps.stdout.lines().any(|l| l.contains(&want)), "{ps}");
        let host_port = r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#;
        let p = ctx.ok(&["inspect", "-f", host_port, "web"]);
        assert_eq!(p.stdout.trim(), port.to_string(), "{p}");
        let asked = r#"{{(index (index .HostConfig.PortBindings "80/tcp") 0).HostPort}}"#;
        let p = ctx.ok(&["inspect", "-f", asked, "web"]);
        assert_eq!(p.stdout.trim(), port.to_string(), "{p}");
        for (filter, found) in [
            ("publish=80", true),
            ("publish=80/tcp", true),
            ("publish=80/udp", false),
            ("publish=81", false),
            ("publish=79-81", true),
            ("publish=81-90", false),
            ("network=slirp", true),
            ("network=host", false),
        ] {
            let out = ctx.ok(&["ps", "-q", "--filter", filter]);
            assert_eq!(!out.stdout.trim().is_empty(), found, "{filter}: {out}");
        }
        // Stopped, it has no ports or address, as docker (the last run's
        // showed), and still asks for its port.
        ctx.ok(&["stop", "-t", "1", "web"]);
        let now = "{{json .NetworkSettings.Ports}}|{{.NetworkSettings.IPAddress}}|{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}";
        let p = ctx.ok(&["inspect", "-f", now, "web"]);
        assert_eq!(p.stdout.trim(), "{}||", "{p}");
        let p = ctx.ok(&["inspect", "-f", asked, "web"]);
        assert_eq!(p.stdout.trim(), port.to_string(), "{p}");
        // The port is released when the container stops.
        ctx.ok(&["rm", "-f", "web"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpListener::bind(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "port {port} still bound after rm -f"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// The host listener of a published port takes bursts: its accept queue is
/// the host's longest (`ss` shows it as Send-Q), not std's 128, under which
/// a burst of 1000 connections had hundreds wait a second for a SYN resent.
fn assert_long_accept_queue(port: u16) {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    let queue: u32 = text
        .split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no listener on {port} in `ss`: {text:?}"));
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    assert_eq!(queue, somaxconn, "accept queue of port {port}: {text}");
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
        assert_long_accept_queue(port);
        ctx.ok(&["rm", "-f", "rnd"]);
        // A host range for one container port: the first free one of it
        // (it was refused as ranges of different sizes).
        let (base, blocker) = loop {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let base = l.local_addr().unwrap().port();
            if base < 65000 && (1..3).all(|k| TcpListener::bind(("127.0.0.1", base + k)).is_ok()) {
                break (base, l);
            }
        };
        let spec = format!("127.0.0.1:{base}-{}:80", base + 2);
        let web = ["httpd", "-f", "-p", "80", "-h", "/www"];
        ctx.ok(&[&["run", "-d", "--name", "rng", "-p", &spec, IMG][..], &web].concat());
        let p = ctx.ok(&["port", "rng", "80"]);
        assert_eq!(p.stdout.trim(), format!("127.0.0.1:{}", base + 1), "{p}");
        assert!(http_get(base + 1).contains("hello from the container"));
        // A range with nothing free: one error, no container.
        let taken = format!("127.0.0.1:{base}-{}:80", base + 1);
        let out = ctx.rless(
            &[
                &["run", "-d", "--name", "none-free", "-p", &taken, IMG][..],
                &web,
            ]
            .concat(),
        );
        one_error(&out);
        assert!(out.stderr.contains("no free host port"), "{out}");
        one_error(&ctx.rless(&["inspect", "none-free"]));
        ctx.ok(&["rm", "-f", "rng"]);
        // Two ports from one range get two ports of it (both got the first).
        let spec2 = format!("127.0.0.1:{base}-{}:81", base + 2);
        let two = [
            "run", "-d", "--name", "rng2", "-p", &spec, "-p", &spec2, IMG,
        ];
        ctx.ok(&[&two[..], &web].concat());
        let mut p: Vec<String> = ctx
            .ok(&["port", "rng2"])
            .stdout
            .lines()
            .map(String::from)
            .collect();
        p.sort();
        assert_eq!(
            p,
            [
                format!("80/tcp -> 127.0.0.1:{}", base + 1),
                format!("81/tcp -> 127.0.0.1:{}", base + 2)
            ]
        );
        ctx.ok(&["rm", "-f", "rng2"]);
        // The port is picked at each start, as docker does: two containers
        // made with one range both run (both were given its first port when
        // made, and the second could not start), and the range is kept.
        for name in ["made1", "made2"] {
            ctx.ok(&[&["create", "--name", name, "-p", &spec, IMG][..], &web].concat());
        }
        let mut got = Vec::new();
        for name in ["made1", "made2"] {
            ctx.ok(&["start", name]);
            got.push(ctx.ok(&["port", name, "80"]).stdout.trim().to_string());
        }
        got.sort();
        assert_eq!(
            got,
            [
                format!("127.0.0.1:{}", base + 1),
                format!("127.0.0.1:{}", base + 2)
            ]
        );
        let asked = r#"{{(index (index .HostConfig.PortBindings "80/tcp") 0).HostPort}}"#;
        let out = ctx.ok(&["inspect", "-f", asked, "made1"]);
        assert_eq!(out.stdout.trim(), format!("{base}-{}", base + 2), "{out}");
        ctx.ok(&["rm", "-f", "made1", "made2"]);
        drop(blocker);
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
            "--add-host",
            "gw:host-gateway",
            "--add-host",
            "eq=192.0.2.8",
            "--add-host",
            "six:[2001:db8::1]",
            "--add-host",
            "sixbare:2001:db8::2",
            IMG,
            "cat",
            "/etc/resolv.conf",
            "/etc/hosts",
        ]);
        assert!(
            out.stdout.contains("nameserver 192.0.2.53") && out.stdout.contains("192.0.2.7\tdb"),
            "{out}"
        );
        for line in ["192.0.2.8\teq", "2001:db8::1\tsix", "2001:db8::2\tsixbare"] {
            assert!(out.stdout.contains(line), "--add-host as {line:?}: {out}");
        }
        let gw = common::host_gateway();
        assert!(
            out.stdout.contains(&format!("{gw}\tgw")),
            "host-gateway: {out}"
        );
        // The user's entry for a name of the host wins over rless's own.
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--add-host",
            "host.docker.internal:192.0.2.9",
            IMG,
            "cat",
            "/etc/hosts",
        ]);
        let first = out
            .stdout
            .lines()
            .find(|l| l.contains("host.docker.internal"));
        assert_eq!(first, Some("192.0.2.9\thost.docker.internal"), "{out}");
        // With the host's network, the host's name, which resolves.
        let name = ["cat", "/proc/sys/kernel/hostname"];
        let out = ctx.ok(&[&["run", "--rm", "--network", "host", IMG][..], &name].concat());
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        assert_eq!(out.stdout.trim(), host, "{out}");
        // As docker and podman: ports are dropped with a warning, not an
        // error, without a network of the container's own.
        let out = ctx.ok(&["run", "--rm", "--network", "none", "-p", "80", IMG, "true"]);
        assert!(out.stderr.contains("discarded"), "{out}");
        // An unknown option is not taken for the image.
        let out = ctx.rless(&["run", "--rm", "--no-such-option", IMG, "true"]);
        one_error(&out);
        assert!(
            out.stderr.contains("unknown flag: --no-such-option"),
            "{out}"
        );
        one_error(&ctx.rless(&["run", "--rm", "--dns", "not-an-ip", IMG, "true"]));
        one_error(&ctx.rless(&["run", "--rm", "--add-host", "nocolon", IMG, "true"]));
        one_error(&ctx.rless(&["run", "--rm", "--add-host", "=192.0.2.1", IMG, "true"]));
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
        let deadline = Instant::now() + Duration::from_secs(30);
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
        assert_long_accept_queue(port);
        ctx.ok(&["rm", "-f", "spl"]);
        let deadline = Instant::now() + Duration::from_secs(30);
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
