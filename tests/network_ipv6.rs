//! Published ports on IPv6 as well as IPv4, as docker: `-p H:P` answers on
//! 127.0.0.1 and on [::1] (TCP and UDP; the slirp network under every port
//! driver, and a user-defined network), an explicit `-p [::1]:H:P` answers
//! on IPv6 only, a port taken on IPv6 only fails `run` with one line and
//! leaves the IPv4 side free, a host range skips such a port, under the
//! handoff driver IPv4-only servers are reached from IPv6 through the relay
//! and nginx-style IPv4 + IPv6-only servers each get their socket, and `port`,
//! `ps` and `inspect` show both bindings (`-P` too). The IPv4 wildcard written
//! out (`-p 0.0.0.0:H:P`) is IPv4 only, as docker: [::1] is refused, [::] is
//! left free, one binding is shown. Real traffic on loopback; every
//! port is picked free on both families at run time. A host without IPv6 on
//! its loopback skips (and fails under RLESS_MUST_WORK=1).

mod common;
mod net_support;

use common::checks::assert_one_error;
use common::{for_each_user, skip, Ctx};
use net_support::*;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// Whether the loopback has IPv6 (skips with the reason if not).
fn has_ipv6() -> bool {
    if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        skip("the loopback has no IPv6 (::1)");
        return false;
    }
    true
}

/// A socket on `[::]:port` with IPV6_V6ONLY (so 0.0.0.0 stays free), TCP
/// listening or UDP.
fn v6only(port: u16, udp: bool) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let ty = if udp { Type::DGRAM } else { Type::STREAM };
    let s = Socket::new(Domain::IPV6, ty, None)?;
    s.set_only_v6(true)?;
    if !udp {
        s.set_reuse_address(true)?;
    }
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    s.bind(&addr.into())?;
    if !udp {
        s.listen(128)?;
    }
    Ok(s)
}

/// A port free for TCP and UDP on both wildcards right now.
fn free_both() -> u16 {
    loop {
        let l = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        if v6only(port, false).is_ok() && UdpSocket::bind(v4).is_ok() && v6only(port, true).is_ok()
        {
            return port;
        }
    }
}

/// Whether nothing holds `port` (TCP and UDP) on either wildcard.
fn released(port: u16) -> bool {
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    // Together: a dual-stack [::] left bound would fail the 0.0.0.0 one.
    let (t4, u4) = (TcpListener::bind(v4), UdpSocket::bind(v4));
    t4.is_ok() && u4.is_ok() && v6only(port, false).is_ok() && v6only(port, true).is_ok()
}

fn wait_released(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !released(port) {
        assert!(Instant::now() < deadline, "port {port} still bound");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http(ip: IpAddr, port: u16) -> String {
    read_from(ip, port, b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
}

/// The answer of the UDP echo server behind `ip:port` to one datagram.
fn udp_echo_at(ip: IpAddr, port: u16) -> String {
    let c = UdpSocket::bind((ip, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 256];
    loop {
        c.send_to(b"ping6", (ip, port)).unwrap();
        if let Ok((n, _)) = c.recv_from(&mut buf) {
            return String::from_utf8_lossy(&buf[..n]).to_string();
        }
        assert!(Instant::now() < deadline, "no UDP answer on {ip} {port}");
    }
}

fn refused(ip: IpAddr, port: u16) -> bool {
    matches!(TcpStream::connect((ip, port)), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// `port`, `ps` and `inspect` show both bindings of `port` for container
/// port 80/tcp.
fn assert_both_shown(ctx: &Ctx, name: &str, port: u16) {
    let p = ctx.ok(&["port", name, "80"]);
    let lines: Vec<&str> = p.stdout.lines().collect();
    assert_eq!(
        lines,
        [format!("0.0.0.0:{port}"), format!("[::]:{port}")],
        "{p}"
    );
    let p = ctx.ok(&["port", name]);
    assert!(
        p.stdout.contains(&format!("80/tcp -> [::]:{port}"))
            && p.stdout.contains(&format!("80/tcp -> 0.0.0.0:{port}")),
        "{p}"
    );
    let ps = ctx.ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    let want = format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp");
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.starts_with(&format!("{name} ")) && l.contains(&want)),
        "{ps}"
    );
    let out = ctx.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", name]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let got: Vec<(String, String)> = v["80/tcp"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|b| {
            (
                b["HostIp"].as_str().unwrap_or_default().to_string(),
                b["HostPort"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("0.0.0.0".to_string(), port.to_string()),
            ("::".to_string(), port.to_string())
        ],
        "{out}"
    );
}

#[test]
fn net_ipv6_published_port_answers_on_both_families() {
    if !needs_tun() || !has_ipv6() {
        return;
    }
    for_each_user("net_ipv6_published_port_answers_on_both_families", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        for driver in ["smoltcp", "splice", "handoff"] {
            let (port, uport) = (free_both(), free_both());
            let name = format!("v6-{driver}");
            let (tcp, udp) = (format!("{port}:80"), format!("{uport}:5353/udp"));
            // busybox httpd binds [::] (dual-stack), udpecho 0.0.0.0.
            let script = "udpecho 5353 & exec httpd -f -p 80 -h /www";
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--port-driver",
                driver,
                "-p",
                &tcp,
                "-p",
                &udp,
                IMG,
                "sh",
                "-c",
                script,
            ]);
            for ip in [V4, V6] {
                let body = http(ip, port);
                assert!(
                    body.contains("hello from the container"),
                    "{driver} {ip}: {body}"
                );
                let echo = udp_echo_at(ip, uport);
                assert!(echo.ends_with(" ping6"), "{driver} {ip}: {echo}");
            }
            assert_both_shown(ctx, &name, port);
            ctx.ok(&["rm", "-f", &name]);
            wait_released(port);
            wait_released(uport);
        }
        // Handoff with an IPv4-only server: IPv4 clients reach its socket,
        // IPv6 ones through the relay to it.
        let port = free_both();
        let spec = format!("{port}:7000");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "v4srv",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "udpecho",
            "7000",
            "tcp",
        ]);
        for ip in [V4, V6] {
            assert_eq!(read_from(ip, port, b""), "hello\n", "{ip}");
        }
        ctx.ok(&["rm", "-f", "v4srv"]);
        wait_released(port);
        // Handoff with two servers, as nginx's `listen 80; listen [::]:80`
        // (IPv6 with V6ONLY, bound second): each gets its family's socket
        // (the second bind failed with EADDRINUSE).
        let port = free_both();
        let spec = format!("{port}:7000");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "two",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "udpecho",
            "7000",
            "tcp2",
        ]);
        wait_for_log(ctx, "two", "listening on 7000/tcp\nlistening on 7000/tcp");
        assert_eq!(read_from(V4, port, b""), "hello v4\n");
        assert_eq!(read_from(V6, port, b""), "hello v6\n");
        ctx.ok(&["rm", "-f", "two"]);
        wait_released(port);
    });
}

#[test]
fn net_ipv6_explicit_ipv6_host_address() {
    if !needs_tun() || !has_ipv6() {
        return;
    }
    for_each_user("net_ipv6_explicit_ipv6_host_address", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "six"]);
        let web = ["httpd", "-f", "-p", "80", "-h", "/www"];
        for (host, net) in [
            ("[::1]", "slirp"),
            ("[::]", "slirp"),
            ("[::1]", "six"),
            ("[::]", "six"),
        ] {
            let port = free_both();
            let spec = format!("{host}:{port}:80");
            let args = [
                "run",
                "-d",
                "--name",
                "ex",
                "--network",
                net,
                "-p",
                &spec,
                IMG,
            ];
            ctx.ok(&[&args[..], &web].concat());
            let body = http(V6, port);
            assert!(body.contains("hello from the container"), "{spec}: {body}");
            assert!(refused(V4, port), "{spec} {net}: 127.0.0.1 answered");
            let p = ctx.ok(&["port", "ex", "80"]);
            assert_eq!(p.stdout.trim(), format!("{host}:{port}"), "{p}");
            ctx.ok(&["rm", "-f", "ex"]);
            wait_released(port);
        }
        // Handoff: an IPv4 server of an IPv6-only port is reached through
        // a relay, from IPv6 only.
        let port = free_both();
        let spec = format!("[::1]:{port}:7000");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "ho6",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "udpecho",
            "7000",
            "tcp",
        ]);
        assert_eq!(read_from(V6, port, b""), "hello\n");
        assert!(refused(V4, port), "{spec}: 127.0.0.1 answered");
        ctx.ok(&["rm", "-f", "ho6"]);
        wait_released(port);
    });
}

/// `inspect`'s bindings of 80/tcp in `what` (`NetworkSettings.Ports` or
/// `HostConfig.PortBindings`).
fn bindings(ctx: &Ctx, name: &str, what: &str) -> serde_json::Value {
    let f = format!("{{{{json .{what}}}}}");
    let out = ctx.ok(&["inspect", "-f", &f, name]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    v["80/tcp"].clone()
}

/// `port`, `ps` and `inspect` show `0.0.0.0:port` alone for 80/tcp, and
/// `inspect` the host ports `asked` (a range as written) on 0.0.0.0.
fn assert_ipv4_only_shown(ctx: &Ctx, name: &str, port: u16, asked: &str) {
    let p = ctx.ok(&["port", name, "80"]);
    assert_eq!(p.stdout, format!("0.0.0.0:{port}\n"), "{p}");
    let ps = ctx.ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    let line = ps
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")));
    assert!(
        line.is_some_and(|l| l.contains(&format!("0.0.0.0:{port}->80/tcp")) && !l.contains("[::]")),
        "{ps}"
    );
    let bound = bindings(ctx, name, "NetworkSettings.Ports");
    let want = serde_json::json!([{"HostIp": "0.0.0.0", "HostPort": port.to_string()}]);
    assert_eq!(bound, want);
    let spec = bindings(ctx, name, "HostConfig.PortBindings");
    assert_eq!(
        spec,
        serde_json::json!([{"HostIp": "0.0.0.0", "HostPort": asked}])
    );
}

#[test]
fn net_ipv6_written_out_ipv4_wildcard_is_ipv4_only() {
    if !needs_tun() || !has_ipv6() {
        return;
    }
    for_each_user("net_ipv6_written_out_ipv4_wildcard_is_ipv4_only", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "four"]);
        // busybox httpd binds [::] dual-stack: under handoff it gets the
        // port's socket made IPv6, which must stay IPv4 only.
        let script = "udpecho 5353 & exec httpd -f -p 80 -h /www";
        for (net, driver) in [
            ("slirp", "smoltcp"),
            ("slirp", "splice"),
            ("slirp", "handoff"),
            ("four", "smoltcp"),
        ] {
            let (port, uport) = (free_both(), free_both());
            let tcp = format!("0.0.0.0:{port}:80");
            let udp = format!("0.0.0.0:{uport}:5353/udp");
            let mut args = vec!["run", "-d", "--name", "v4", "--network", net];
            if net == "slirp" {
                args.extend(["--port-driver", driver]);
            }
            args.extend(["-p", &tcp, "-p", &udp, IMG, "sh", "-c", script]);
            ctx.ok(&args);
            let body = http(V4, port);
            assert!(
                body.contains("hello from the container"),
                "{net} {driver}: {body}"
            );
            let echo = udp_echo_at(V4, uport);
            assert!(echo.ends_with(" ping6"), "{net} {driver}: {echo}");
            // Nothing else listens on the port (it was free on both).
            assert!(refused(V6, port), "{net} {driver}: [::1] answered");
            // Nothing holds [::] on either port.
            assert!(
                v6only(port, false).is_ok(),
                "{net} {driver}: [::] tcp bound"
            );
            assert!(
                v6only(uport, true).is_ok(),
                "{net} {driver}: [::] udp bound"
            );
            assert_ipv4_only_shown(ctx, "v4", port, &port.to_string());
            ctx.ok(&["rm", "-f", "v4"]);
            wait_released(port);
            wait_released(uport);
        }
        // A port held on [::] does not stop it, nor a range's first port.
        let (base, held) = loop {
            let base = free_both();
            if base < 65000 && released(base + 1) {
                break (base, v6only(base, false).unwrap());
            }
        };
        let spec = format!("0.0.0.0:{base}-{}:80", base + 1);
        let web = ["httpd", "-f", "-p", "80", "-h", "/www"];
        ctx.ok(&[&["run", "-d", "--name", "held", "-p", &spec, IMG][..], &web].concat());
        let range = format!("{base}-{}", base + 1);
        assert_ipv4_only_shown(ctx, "held", base, &range);
        assert!(http(V4, base).contains("hello from the container"));
        ctx.ok(&["rm", "-f", "held"]);
        drop(held);
        wait_released(base);
        // -P, as `-p 80` (no address): both families.
        let args = ["run", "-d", "--name", "all", "--expose", "80", "-P", IMG];
        ctx.ok(&[&args[..], &web].concat());
        let p = ctx.ok(&["port", "all", "80"]);
        let port: u16 = p
            .stdout
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("0.0.0.0:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{p}"));
        assert_both_shown(ctx, "all", port);
        // Asked for with no address, as docker shows it.
        let spec = bindings(ctx, "all", "HostConfig.PortBindings");
        assert_eq!(spec, serde_json::json!([{"HostIp": "", "HostPort": ""}]));
        for ip in [V4, V6] {
            assert!(
                http(ip, port).contains("hello from the container"),
                "-P {ip}"
            );
        }
        ctx.ok(&["rm", "-f", "all"]);
        wait_released(port);
    });
}

#[test]
fn net_ipv6_user_network_both_families() {
    if !needs_tun() || !has_ipv6() {
        return;
    }
    for_each_user("net_ipv6_user_network_both_families", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "dual"]);
        let (port, uport) = (free_both(), free_both());
        let (tcp, udp) = (format!("{port}:80"), format!("{uport}:5353/udp"));
        let script = "udpecho 5353 & exec httpd -f -p 80 -h /www";
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "un",
            "--network",
            "dual",
            "-p",
            &tcp,
            "-p",
            &udp,
            IMG,
            "sh",
            "-c",
            script,
        ]);
        for ip in [V4, V6] {
            let body = http(ip, port);
            assert!(body.contains("hello from the container"), "{ip}: {body}");
            let echo = udp_echo_at(ip, uport);
            assert!(echo.ends_with(" ping6"), "{ip}: {echo}");
        }
        assert_both_shown(ctx, "un", port);
        ctx.ok(&["rm", "-f", "un"]);
        wait_released(port);
        wait_released(uport);
    });
}

#[test]
fn net_ipv6_port_in_use_on_ipv6_only() {
    if !needs_tun() || !has_ipv6() {
        return;
    }
    for_each_user("net_ipv6_port_in_use_on_ipv6_only", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "busy"]);
        for (net, udp) in [
            ("slirp", false),
            ("slirp", true),
            ("busy", false),
            ("busy", true),
        ] {
            let port = free_both();
            // Held on [::] with V6ONLY: 0.0.0.0 is free, IPv6 is not.
            let _held = v6only(port, udp).unwrap();
            let spec = if udp {
                format!("{port}:53/udp")
            } else {
                format!("{port}:80")
            };
            let out = ctx.rless(&[
                "run",
                "-d",
                "--name",
                "taken",
                "--network",
                net,
                "-p",
                &spec,
                IMG,
                "true",
            ]);
            assert_one_error(&out, 125);
            assert!(out.stderr.contains("[::]"), "{out}");
            assert_eq!(containers(ctx), 0, "{out}");
            // The IPv4 side was not left bound.
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
            if udp {
                UdpSocket::bind(v4).expect("the IPv4 UDP port was left bound");
            } else {
                TcpListener::bind(v4).expect("the IPv4 TCP port was left bound");
            }
        }
        // A host range skips a port taken on IPv6 only.
        let (base, _held) = loop {
            let base = free_both();
            if base < 65000 && released(base + 1) {
                break (base, v6only(base, false).unwrap());
            }
        };
        let spec = format!("{base}-{}:80", base + 1);
        let web = ["httpd", "-f", "-p", "80", "-h", "/www"];
        ctx.ok(&[&["run", "-d", "--name", "rng", "-p", &spec, IMG][..], &web].concat());
        let p = ctx.ok(&["port", "rng", "80"]);
        assert!(
            p.stdout.lines().next() == Some(&format!("0.0.0.0:{}", base + 1)),
            "{p}"
        );
        assert!(http(V6, base + 1).contains("hello from the container"));
        ctx.ok(&["rm", "-f", "rng"]);
    });
}
