//! `--port-driver handoff`: the container's server gets the bound host
//! socket at its `bind(2)`. Real traffic on loopback: TCP (busybox httpd,
//! a dual-stack IPv6 server) and UDP (an IPv4 server) reach the server
//! directly and it sees the real client address; a server that exits and
//! binds again gets the same socket; binds of other ports run inside the
//! container; clients are refused until the server binds; the port is
//! released with the container; bad input fails with one line.

mod common;
mod net_support;

use common::for_each_user;
use net_support::*;

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn wait_released(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} still bound");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads what the server sends on one connection to `port` on
/// 127.0.0.1, retrying while nothing answers yet.
fn read_once(port: u16) -> String {
    read_from(std::net::Ipv4Addr::LOCALHOST.into(), port, b"")
}

#[test]
fn net_handoff_tcp_direct_with_client_address() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_handoff_tcp_direct_with_client_address", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = free_port();
        let spec = format!("127.0.0.1:{port}:80");
        // Until the server binds, a client is refused (not left hanging).
        let script = "sleep 2; exec httpd -f -v -p 80 -h /www";
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "ho",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "sh",
            "-c",
            script,
        ]);
        let early = TcpStream::connect(("127.0.0.1", port));
        assert!(
            early.is_err(),
            "a client before the server's bind should be refused"
        );
        let body = http_get(port);
        assert!(body.contains("hello from the container"), "{body}");
        // busybox httpd binds [::]:80; it logs the real client address.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = ctx.ok(&["logs", "ho"]);
            let all = format!("{}{}", logs.stdout, logs.stderr);
            if all.contains("127.0.0.1") {
                assert!(!all.contains("10.0.2."), "translated address: {all}");
                break;
            }
            assert!(Instant::now() < deadline, "no 127.0.0.1 client: {logs}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let p = ctx.ok(&["port", "ho", "80"]);
        assert_eq!(p.stdout.trim(), format!("127.0.0.1:{port}"));
        ctx.ok(&["rm", "-f", "ho"]);
        wait_released(port);
        assert_eq!(containers(ctx), 0);
    });
}

#[test]
fn net_handoff_rebind_and_other_binds() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_handoff_rebind_and_other_binds", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = free_port();
        let spec = format!("127.0.0.1:{port}:80");
        // nc serves one client and exits; httpd then binds the same port
        // again and gets the same host socket. Before that, a server on an
        // unpublished port (81) binds inside the container, as without the
        // driver: a client in the container reaches it.
        // Then clients in the container reach httpd through the published
        // port, on loopback and on the container's address.
        let script = "nc -l -p 81 -e echo eighty-one & \
                      sleep 0.5; \
                      echo \"inside: $(nc 127.0.0.1 81 </dev/null)\"; \
                      nc -l -p 80 -e echo first; \
                      httpd -f -p 80 -h /www & \
                      sleep 0.5; \
                      echo \"via-lo: $(wget -q -O - http://127.0.0.1/index.html)\"; \
                      echo \"via-addr: $(wget -q -O - http://10.0.2.100:80/index.html)\"; \
                      wait";
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "rb",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "sh",
            "-c",
            script,
        ]);
        wait_for_log(ctx, "rb", "inside: eighty-one");
        assert_eq!(read_once(port).trim(), "first");
        assert!(http_get(port).contains("hello from the container"));
        wait_for_log(ctx, "rb", "via-lo: hello from the container");
        wait_for_log(ctx, "rb", "via-addr: hello from the container");
        ctx.ok(&["rm", "-f", "rb"]);
        wait_released(port);
    });
}

#[test]
fn net_handoff_udp_and_bad_input() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_handoff_udp_and_bad_input", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = format!("127.0.0.1:{port}:5353/udp");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "hu",
            "--network",
            "slirp:port_driver=handoff",
            "-p",
            &spec,
            IMG,
            "udpecho",
            "5353",
            // Bound from a thread other than the main one.
            "thread",
        ]);
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 256];
        let reply = loop {
            c.send_to(b"ping over udp", ("127.0.0.1", port)).unwrap();
            if let Ok((n, _)) = c.recv_from(&mut buf) {
                break String::from_utf8_lossy(&buf[..n]).to_string();
            }
            assert!(Instant::now() < deadline, "no UDP answer");
        };
        // The server sees the client's own address, untranslated.
        assert_eq!(reply, "127.0.0.1 ping over udp");
        ctx.ok(&["rm", "-f", "hu"]);
        UdpSocket::bind(("127.0.0.1", port)).expect("UDP port released");

        // A host port in use fails the run with one line and leaves nothing.
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let spec = format!("127.0.0.1:{busy}:80");
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "true",
        ]);
        one_error(&out);
        assert!(out.stderr.contains(&busy.to_string()), "{out}");
        for bad in [
            &["--network", "none", "--port-driver", "handoff"][..],
            &["--network", "host", "--port-driver", "handoff"],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(bad);
            args.extend_from_slice(&[IMG, "true"]);
            one_error(&ctx.rless(&args));
        }
        // Without published ports the driver has nothing to do.
        let out = ctx.ok(&["run", "--rm", "--port-driver", "handoff", IMG, "echo", "ok"]);
        assert_eq!(out.stdout.trim(), "ok");
        assert_eq!(containers(ctx), 0);
        drop(held);
        let _ = std::io::stdout().flush();
    });
}

/// A server that never sets SO_REUSEADDR (as iperf3) and closes first:
/// its connections end in TIME-WAIT on the host port, which must not keep
/// the next container from publishing the same port.
#[test]
fn net_handoff_port_reusable_after_time_wait() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_handoff_port_reusable_after_time_wait", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = free_port();
        let spec = format!("127.0.0.1:{port}:7000");
        for round in 0..2 {
            let name = format!("tw{round}");
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--port-driver",
                "handoff",
                "-p",
                &spec,
                IMG,
                "udpecho",
                "7000",
                "tcp",
            ]);
            for _ in 0..3 {
                assert_eq!(read_once(port), "hello\n", "round {round}");
            }
            ctx.ok(&["rm", "-f", &name]);
        }
        assert_eq!(containers(ctx), 0);
    });
}

/// A restart policy with the handoff driver: each run of the container
/// gets the port again. (The monitor used to die of SIGPIPE at the first
/// restart: the handoff thread had ended with the container, and stopping
/// it wrote to a pipe nobody read.)
#[test]
fn net_handoff_survives_restarts() {
    if !needs_tun() {
        return;
    }
    for_each_user("net_handoff_survives_restarts", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let port = free_port();
        let spec = format!("127.0.0.1:{port}:80");
        // Each run serves one client, then the container exits.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "again",
            "--restart",
            "always",
            "--port-driver",
            "handoff",
            "-p",
            &spec,
            IMG,
            "nc",
            "-l",
            "-p",
            "80",
            "-e",
            "echo",
            "served",
        ]);
        for _ in 0..3 {
            assert_eq!(read_once(port).trim(), "served");
        }
        let inspect = ctx.ok(&["inspect", "again"]);
        let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert!(
            v[0]["RestartCount"].as_u64().unwrap_or(0) >= 2,
            "{}",
            inspect.stdout
        );
        // Between two runs it is "restarting"; never exited or dead.
        let status = v[0]["State"]["Status"].as_str().unwrap_or_default();
        assert!(
            status == "running" || status == "restarting",
            "{}",
            inspect.stdout
        );
        ctx.ok(&["rm", "-f", "again"]);
        wait_released(port);
    });
}
