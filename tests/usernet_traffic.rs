//! User-defined networks (issue 9), real traffic between containers on the
//! kernel bridge: TCP and UDP by name and alias, internal networks and
//! outbound, a published port, `network connect`/`disconnect`. The only
//! host side is a server on loopback and a UDP socket the test opens in a
//! container's network namespace (the test runs as root).
//! Shared helpers and constants are in `common::usernet_helpers`.

mod common;

use common::checks::{assert_one_error, containers};
use common::for_each_user;
use common::usernet_helpers::*;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

#[test]
fn usernet_tcp_and_udp_by_name_and_alias() {
    for_each_user("usernet_tcp_and_udp_by_name_and_alias", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "app"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "app",
            "--network-alias",
            "www",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        // Straight after `run -d` returns: the name must already resolve.
        let out = sh(
            ctx,
            "app",
            "wget -q -O - http://web/index.html && wget -q -O - http://www/index.html \
             && cat /etc/resolv.conf /etc/hosts && ip -4 addr show eth0",
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.matches("hello from web").count(), 2, "{out}");
        assert!(out.stdout.contains("nameserver 10.89.0.1"), "{out}");
        assert!(out.stdout.contains("inet 10.89.0."), "{out}");
        // The container's own /etc/hosts names it with its address.
        let h = ctx.ok(&["exec", "web", "cat", "/etc/hosts"]);
        assert!(
            h.stdout.contains("10.89.0.2\t") && h.stdout.contains("web"),
            "{h}"
        );

        // UDP: a datagram to the container by name, and by alias, arrives
        // in its namespace (nslookup sends its query to web:53).
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "sink",
            "--network",
            "app",
            "--network-alias",
            "drain",
            IMG,
            "sleep",
            "120",
        ]);
        let pid = init_pid(ctx, "sink");
        for target in ["sink", "drain"] {
            let Some(rx) = udp_receiver(pid) else {
                break;
            };
            let probe = format!("probe-{target}");
            let _ = sh(ctx, "app", &format!("timeout 3 nslookup {probe} {target}"));
            let got = rx.join().unwrap();
            assert!(
                String::from_utf8_lossy(&got).contains(&probe),
                "no UDP datagram reached {target}: {got:?}"
            );
        }
        // TCP with nc, both ways of naming.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "talk",
            "--network",
            "app",
            IMG,
            "sh",
            "-c",
            "echo pong | nc -l -p 7000",
        ]);
        let out = sh(
            ctx,
            "app",
            "for i in 1 2 3 4 5 6 7 8 9 10; do nc talk 7000 && break; sleep 0.2; done",
        );
        assert!(out.stdout.contains("pong"), "{out}");

        // A container with web's name as its alias, come and gone, leaves
        // web reachable by its name (its exit deleted the name).
        ctx.ok(&[
            "run",
            "--rm",
            "--network",
            "app",
            "--network-alias",
            "web",
            IMG,
            "true",
        ]);
        let out = sh(ctx, "app", "wget -q -O - http://web/index.html");
        assert!(out.stdout.contains("hello from web"), "{out}");

        // rename: the new name resolves at once, the old one no more (it
        // kept resolving, and the new one never did).
        ctx.ok(&["rename", "web", "web2"]);
        let out = sh(
            ctx,
            "app",
            "wget -q -O - http://web2/index.html; nslookup web2 10.89.0.1 && echo new-found; \
             nslookup web 10.89.0.1 || echo old-gone",
        );
        assert!(out.stdout.contains("hello from web"), "{out}");
        assert!(
            out.stdout.contains("new-found") && out.stdout.contains("old-gone"),
            "{out}"
        );
        ctx.ok(&["restart", "-t", "1", "web2"]);
        let out = sh(ctx, "app", "wget -q -O - http://web2/index.html");
        assert!(
            out.stdout.contains("hello from web"),
            "after a restart: {out}"
        );
        ctx.ok(&["rename", "web2", "web"]);

        ctx.ok(&["rm", "-f", "web", "sink", "talk"]);
        ctx.ok(&["network", "rm", "app"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

#[test]
fn usernet_isolation_internal_and_outbound() {
    for_each_user("usernet_isolation_internal_and_outbound", |ctx| {
        if !setup(ctx) {
            return;
        }
        let host = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = host.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in host.incoming().flatten() {
                use std::io::Write;
                let _ = (&c).write_all(b"host-says-hi\n");
            }
        });
        ctx.ok(&["network", "create", "-o", "allow_host_loopback=true", "red"]);
        ctx.ok(&["network", "create", "blue"]);
        ctx.ok(&[
            "network",
            "create",
            "--internal",
            "-o",
            "allow_host_loopback=true",
            "vault",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "r1",
            "--network",
            "red",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let same = sh(ctx, "red", "timeout 10 wget -q -O - http://r1/index.html");
        assert!(same.stdout.contains("hello from web"), "{same}");
        // From another network: neither the name nor the address.
        let other = sh(
            ctx,
            "blue",
            "nslookup r1 >/dev/null 2>&1 && echo RESOLVED; nc -w 2 10.89.0.2 80 </dev/null && echo CONNECTED; echo done",
        );
        assert!(other.stdout.contains("done"), "{other}");
        assert!(!other.stdout.contains("RESOLVED"), "{other}");
        assert!(!other.stdout.contains("CONNECTED"), "{other}");
        // Outbound through the network's netstack: the host's loopback.
        let out = sh(ctx, "red", &format!("nc -w 5 10.0.2.2 {port} </dev/null"));
        assert!(out.stdout.contains("host-says-hi"), "{out}");
        // docker's names for the host, host-gateway and host.docker.internal,
        // reach a service on all of its addresses from any network (they
        // were refused on user networks, then were 10.0.2.2, which reaches
        // only the host's loopback and only with allow_host_loopback).
        let all = TcpListener::bind("0.0.0.0:0").unwrap();
        let any_port = all.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in all.incoming().flatten() {
                use std::io::Write;
                let _ = (&c).write_all(b"host-says-hi\n");
            }
        });
        // Without a route out, rless falls back to 10.0.2.2.
        let net = if common::host_gateway() == "10.0.2.2" {
            "red"
        } else {
            "blue"
        };
        let script = format!(
            "nc -w 5 gw {any_port} </dev/null; nc -w 5 host.docker.internal {any_port} </dev/null"
        );
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "--add-host",
            "gw:host-gateway",
            IMG,
            "sh",
            "-c",
            &script,
        ]);
        assert_eq!(out.stdout.matches("host-says-hi").count(), 2, "{out}");
        // --internal: no way out, though the option is the same.
        let out = sh(
            ctx,
            "vault",
            &format!("nc -w 3 10.0.2.2 {port} </dev/null; echo rc=$?"),
        );
        assert!(!out.stdout.contains("host-says-hi"), "{out}");
        assert!(out.stdout.contains("rc=1"), "{out}");
        // A container on two networks reaches both.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "b1",
            "--network",
            "blue",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let both = ctx.rless(&[
            "run",
            "--rm",
            "--network",
            "red",
            "--network",
            "blue",
            IMG,
            "sh",
            "-c",
            "wget -q -O - http://r1/index.html && wget -q -O - http://b1/index.html",
        ]);
        assert_eq!(both.stdout.matches("hello from web").count(), 2, "{both}");
        ctx.ok(&["rm", "-f", "r1", "b1"]);
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}

#[test]
fn usernet_published_port() {
    for_each_user("usernet_published_port", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "pub"]);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = format!("127.0.0.1:{port}:80");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "pw",
            "-p",
            &spec,
            "--network",
            "pub",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let p = ctx.ok(&["port", "pw"]);
        assert!(
            p.stdout.contains(&format!("80/tcp -> 127.0.0.1:{port}")),
            "{p}"
        );
        let body = http_get(port);
        assert!(body.contains("hello from web"), "{body}");
        // The port is taken: the next run fails at once and leaves nothing.
        let out = ctx.rless(&[
            "run",
            "-d",
            "--name",
            "pw2",
            "-p",
            &spec,
            "--network",
            "pub",
            IMG,
            "true",
        ]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("already in use"), "{out}");
        assert_eq!(containers(ctx).len(), 1);
        // UDP: a datagram to the published port arrives in the container
        // (at a socket the test opens in its namespace), and the answer
        // comes back to the client.
        let uport = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uspec = format!("127.0.0.1:{uport}:53/udp");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "pu",
            "-p",
            &uspec,
            "--network",
            "pub",
            IMG,
            "sleep",
            "60",
        ]);
        if let Some(rx) = udp_echo(init_pid(ctx, "pu")) {
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 64];
            let mut answer = None;
            for _ in 0..20 {
                client.send_to(b"udp-ping", ("127.0.0.1", uport)).unwrap();
                if let Ok((n, _)) = client.recv_from(&mut buf) {
                    answer = Some(buf[..n].to_vec());
                    break;
                }
            }
            assert_eq!(answer.as_deref(), Some(&b"echo:udp-ping"[..]));
            rx.join().unwrap();
        }
        ctx.ok(&["rm", "-f", "pw", "pu"]);
        // The host port is free again.
        TcpListener::bind(("127.0.0.1", port)).expect("the host port was released");
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

/// GET /index.html on 127.0.0.1:port, retrying while the server starts.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains("200") || Instant::now() > deadline {
                return body;
            }
        } else if Instant::now() > deadline {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn usernet_connect_and_disconnect() {
    for_each_user("usernet_connect_and_disconnect", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "front"]);
        ctx.ok(&["network", "create", "back"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "back",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "app",
            "--network",
            "front",
            IMG,
            "sleep",
            "120",
        ]);
        let get = "timeout 10 wget -q -O - http://db/index.html; echo rc=$?";
        let before = ctx.ok(&["exec", "app", "sh", "-c", get]);
        assert!(!before.stdout.contains("hello from web"), "{before}");
        ctx.ok(&["network", "connect", "--alias", "api", "back", "app"]);
        let v: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["inspect", "app"]).stdout).unwrap();
        let nets = &v[0]["NetworkSettings"]["Networks"];
        assert!(
            nets["front"]["IPAddress"]
                .as_str()
                .unwrap()
                .starts_with("10.89.0."),
            "{v}"
        );
        assert!(
            nets["back"]["IPAddress"]
                .as_str()
                .unwrap()
                .starts_with("10.89.1."),
            "{v}"
        );
        let after = ctx.ok(&["exec", "app", "sh", "-c", get]);
        assert!(after.stdout.contains("hello from web"), "{after}");
        // The new alias resolves for the others on that network.
        let alias = ctx.ok(&["exec", "db", "nslookup", "api"]);
        assert!(alias.stdout.contains("10.89.1."), "{alias}");
        // Bad input: unknown network or container, twice, the last network.
        for args in [
            vec!["network", "connect", "nosuch", "app"],
            vec!["network", "connect", "back", "nosuch"],
            vec!["network", "connect", "back", "app"],
            vec!["network", "connect", "--ip", "10.99.0.5", "front", "db"],
            vec!["network", "disconnect", "back", "db"],
        ] {
            assert_one_error(&ctx.rless(&args), 125);
        }
        ctx.ok(&["network", "disconnect", "back", "app"]);
        let gone = ctx.ok(&[
            "exec",
            "app",
            "sh",
            "-c",
            "ip -4 addr; nslookup db; echo done",
        ]);
        assert!(!gone.stdout.contains("10.89.1."), "{gone}");
        // Connected again, its resolv.conf names both networks' servers;
        // the first network (with the default route) disconnected, the
        // route and the DNS server move to the other (resolv.conf kept
        // the gone server first, and the route was lost).
        ctx.ok(&["network", "connect", "back", "app"]);
        let resolv = ctx.ok(&["exec", "app", "cat", "/etc/resolv.conf"]).stdout;
        assert_eq!(resolv, "nameserver 10.89.0.1\nnameserver 10.89.1.1\n");
        ctx.ok(&["network", "disconnect", "front", "app"]);
        let moved = ctx.ok(&[
            "exec",
            "app",
            "sh",
            "-c",
            "cat /etc/resolv.conf; ip route; timeout 10 wget -q -O - http://db/index.html",
        ]);
        assert!(
            moved.stdout.starts_with("nameserver 10.89.1.1\n")
                && !moved.stdout.contains("10.89.0.1"),
            "{moved}"
        );
        assert!(moved.stdout.contains("default via 10.89.1.1"), "{moved}");
        assert!(moved.stdout.contains("hello from web"), "{moved}");
        ctx.ok(&["rm", "-f", "db", "app"]);
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}
