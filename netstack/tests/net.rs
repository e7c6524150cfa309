//! Real traffic through a TAP in a test-made network namespace. Only
//! loopback and that namespace are contacted.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use netstack::{Config, Proto};

/// Echo server on 127.0.0.1 (host side); returns its port.
fn host_echo_server(conns: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for _ in 0..conns {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(T)).unwrap();
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    (port, t)
}

/// Sends `data`, half-closes, reads everything back.
fn echo_roundtrip(mut s: TcpStream, data: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    let mut w = s.try_clone().unwrap();
    let data2 = data.to_vec();
    let writer = std::thread::spawn(move || {
        w.write_all(&data2).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

#[test]
fn outbound_tcp_to_host_loopback_with_half_close() {
    let _g = serial();
    let Some(rig) = Rig::start("outbound_tcp", config()) else {
        return;
    };
    let (port, server) = host_echo_server(1);
    let data = pattern(3 << 20, 7);
    let d2 = data.clone();
    let got = rig.ns.run(move || {
        let s = TcpStream::connect_timeout(&sa(GW, port), T).unwrap();
        echo_roundtrip(s, &d2)
    });
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echoed data differs");
    server.join().unwrap();
    rig.stop().unwrap();
}

#[test]
fn outbound_tcp_refused_and_host_loopback_blocked() {
    let _g = serial();
    let Some(rig) = Rig::start("outbound_tcp_refused", config()) else {
        return;
    };
    // A port nobody listens on: the host connect fails, the container gets RST.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let err = rig
        .ns
        .run(move || TcpStream::connect_timeout(&sa(GW, port), T).unwrap_err());
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    rig.stop().unwrap();

    // Without allow_host_loopback the gateway is not the host's loopback.
    let cfg = Config {
        allow_host_loopback: false,
        ..config()
    };
    let Some(rig) = Rig::start("outbound_tcp_refused", cfg) else {
        return;
    };
    let (port, _server) = host_echo_server(1);
    let err = rig
        .ns
        .run(move || TcpStream::connect_timeout(&sa(GW, port), T).unwrap_err());
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    rig.stop().unwrap();
    // Unblock the echo server thread.
    let _ = TcpStream::connect(("127.0.0.1", port));
}

#[test]
fn outbound_udp_echo() {
    let _g = serial();
    let Some(rig) = Rig::start("outbound_udp", config()) else {
        return;
    };
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    server.set_read_timeout(Some(T)).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    rig.ns.run(move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.connect(sa(GW, port)).unwrap();
        for i in 0..3u8 {
            let msg = pattern(100 + i as usize * 500, i as u64);
            s.send(&msg).unwrap();
            let mut buf = [0u8; 2048];
            let n = s.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &msg[..]);
        }
    });
    echo.join().unwrap();
    rig.stop().unwrap();
}

/// A tiny DNS responder: answers every A query with 192.0.2.1 (TEST-NET).
fn dns_responder() -> (SocketAddr, std::thread::JoinHandle<usize>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = std::thread::spawn(move || {
        let mut answered = 0;
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // QR
            r[7] = 1; // ANCOUNT = 1
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
            s.send_to(&r, from).unwrap();
            answered += 1;
            if answered == 2 {
                break;
            }
        }
        answered
    });
    (addr, t)
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn dns_forwarded_to_upstream() {
    let _g = serial();
    let (upstream, responder) = dns_responder();
    let cfg = Config {
        upstream_dns: vec![upstream],
        allow_host_loopback: false,
        ..config()
    };
    let Some(rig) = Rig::start("dns", cfg) else {
        return;
    };
    rig.ns.run(move || {
        for id in [0x1234u16, 0x4321] {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(T)).unwrap();
            s.send_to(&dns_query(id, "example.test"), sa(DNS, 53))
                .unwrap();
            let mut buf = [0u8; 512];
            let (n, from) = s.recv_from(&mut buf).unwrap();
            assert_eq!(from, sa(DNS, 53));
            assert_eq!(&buf[..2], &id.to_be_bytes());
            assert_eq!(buf[2] & 0x80, 0x80);
            assert_eq!(&buf[n - 4..n], &[192, 0, 2, 1]);
        }
    });
    assert_eq!(responder.join().unwrap(), 2);
    rig.stop().unwrap();
}

#[test]
fn dns_fails_over_from_dead_resolvers() {
    let _g = serial();
    let (live, responder) = dns_responder();
    // A resolver that refuses (nothing bound: ICMP port unreachable) and
    // one that swallows queries.
    let refused = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = Config {
        upstream_dns: vec![refused, silent.local_addr().unwrap(), live],
        allow_host_loopback: false,
        ..config()
    };
    let Some(rig) = Rig::start("dns_failover", cfg) else {
        return;
    };
    rig.ns.run(move || {
        for id in [0x1111u16, 0x2222] {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(T)).unwrap();
            s.send_to(&dns_query(id, "example.test"), sa(DNS, 53))
                .unwrap();
            let mut buf = [0u8; 512];
            let (n, _) = s.recv_from(&mut buf).expect("answer after failover");
            assert_eq!(&buf[..2], &id.to_be_bytes());
            assert_eq!(&buf[n - 4..n], &[192, 0, 2, 1]);
        }
    });
    // The live resolver answered both; the second query went straight to it.
    assert_eq!(responder.join().unwrap(), 2);
    let mut buf = [0u8; 512];
    silent.set_nonblocking(true).unwrap();
    assert!(
        silent.recv(&mut buf).is_ok(),
        "the silent resolver was tried"
    );
    assert!(silent.recv(&mut buf).is_err(), "and only once");
    rig.stop().unwrap();
}

#[test]
fn dns_failover_resends_every_pending_query() {
    let _g = serial();
    let (live, responder) = dns_responder();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = Config {
        upstream_dns: vec![silent.local_addr().unwrap(), live],
        allow_host_loopback: false,
        ..config()
    };
    let Some(rig) = Rig::start("dns_failover_pending", cfg) else {
        return;
    };
    rig.ns.run(move || {
        // A and AAAA at once from one socket, as resolver libraries do;
        // neither is sent again by the client.
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        for id in [0x3333u16, 0x4444] {
            s.send_to(&dns_query(id, "example.test"), sa(DNS, 53))
                .unwrap();
        }
        let mut ids = Vec::new();
        for _ in 0..2 {
            let mut buf = [0u8; 512];
            s.recv_from(&mut buf).expect("both answered after failover");
            ids.push(u16::from_be_bytes([buf[0], buf[1]]));
        }
        ids.sort();
        assert_eq!(ids, [0x3333, 0x4444]);
    });
    assert_eq!(responder.join().unwrap(), 2);
    rig.stop().unwrap();
}

#[test]
fn published_tcp_preserves_loopback_client_as_gateway() {
    let _g = serial();
    let cfg = Config {
        ports: vec![tcp(80)],
        allow_host_loopback: false,
        ..config()
    };
    let Some(rig) = Rig::start("published_tcp", cfg) else {
        return;
    };
    let hp = rig.host_port(80, Proto::Tcp);
    let server = rig.ns.run(|| TcpListener::bind("0.0.0.0:80").unwrap());
    let srv = std::thread::spawn(move || {
        let mut peers = Vec::new();
        for _ in 0..2 {
            let (mut s, peer) = server.accept().unwrap();
            peers.push(peer);
            s.set_read_timeout(Some(T)).unwrap();
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.write_all(&buf[..n]).unwrap(),
                }
            }
        }
        peers
    });
    let data = pattern(2 << 20, 3);
    for _ in 0..2 {
        let c = TcpStream::connect(("127.0.0.1", hp)).unwrap();
        let local = c.local_addr().unwrap();
        let got = echo_roundtrip(c, &data);
        assert!(got == data, "echo mismatch ({} bytes)", got.len());
        let _ = local;
    }
    let peers = srv.join().unwrap();
    for p in peers {
        assert_eq!(p.ip(), std::net::IpAddr::V4(GW), "container saw {p}");
    }
    rig.stop().unwrap();
}

#[test]
fn published_udp_preserves_source() {
    let _g = serial();
    let cfg = Config {
        ports: vec![udp(5353)],
        ..config()
    };
    let Some(rig) = Rig::start("published_udp", cfg) else {
        return;
    };
    let hp = rig.host_port(5353, Proto::Udp);
    let server = rig.ns.run(|| UdpSocket::bind("0.0.0.0:5353").unwrap());
    server.set_read_timeout(Some(T)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(T)).unwrap();
    let cport = client.local_addr().unwrap().port();
    let srv = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&buf[..n], from).unwrap();
        from
    });
    client.send_to(b"hello udp", ("127.0.0.1", hp)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello udp");
    assert_eq!(from.port(), hp);
    let seen = srv.join().unwrap();
    assert_eq!(seen, sa(GW, cport), "container saw {seen}");
    rig.stop().unwrap();
}

#[test]
fn port_in_use_is_clear_error_and_nothing_stays_bound() {
    let _g = serial();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut first = tcp(80);
    first.host_port = free_port;
    let mut second = tcp(81);
    second.host_port = busy_port;
    let cfg = Config {
        ports: vec![first, udp(53), second],
        ..config()
    };
    let err = netstack::bind_ports(&cfg).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&busy_port.to_string()), "{msg}");
    assert!(msg.contains("tcp"), "{msg}");
    // The first listener was released.
    TcpListener::bind(("127.0.0.1", free_port)).expect("first port released");
    // Random host ports are reported.
    let ok = netstack::bind_ports(&Config {
        ports: vec![tcp(80), udp(53)],
        ..config()
    })
    .unwrap();
    let ports = ok.ports();
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|p| p.host_port != 0));
}

#[test]
fn namespace_going_away_mid_transfer() {
    let _g = serial();
    let cfg = Config {
        ports: vec![tcp(80)],
        ..config()
    };
    let Some(mut rig) = Rig::start("namespace_going_away", cfg) else {
        return;
    };
    let hp = rig.host_port(80, Proto::Tcp);
    let server = rig.ns.run(|| TcpListener::bind("0.0.0.0:80").unwrap());
    // The container reads a little, then "dies": its sockets and the
    // namespace go away while the host keeps sending.
    let srv = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let _ = s.read(&mut buf);
        drop(s);
        drop(server);
    });
    let mut c = TcpStream::connect(("127.0.0.1", hp)).unwrap();
    c.set_write_timeout(Some(T)).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let chunk = pattern(1 << 20, 9);
    let start = Instant::now();
    let mut failed = false;
    for _ in 0..200 {
        if c.write_all(&chunk).is_err() {
            failed = true;
            break;
        }
        if srv.is_finished() && start.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    srv.join().unwrap();
    // Drop the last reference to the namespace: the kernel tears it down
    // with its TAP. The stack must notice (or at least stop cleanly).
    rig.drop_namespace();
    let gone = Instant::now() + Duration::from_secs(5);
    while !rig.finished() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "stack returned by itself after namespace teardown: {}",
        rig.finished()
    );
    assert!(
        !std::path::Path::new("/sys/class/net/tap0").exists(),
        "TAP leaked into the host namespace"
    );
    if !failed {
        let mut buf = [0u8; 1024];
        let r = loop {
            match c.read(&mut buf) {
                Ok(0) => break Ok(0),
                Ok(_) => continue,
                Err(e) => break Err(e),
            }
        };
        assert!(
            r.is_ok() || r.as_ref().unwrap_err().kind() != ErrorKind::WouldBlock,
            "host client not told about the dead container: {r:?}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(30));
    rig.stop().unwrap();
    TcpListener::bind(("127.0.0.1", hp)).expect("published port released on stop");
}

#[test]
fn thousand_short_connections_leak_no_fds() {
    let _g = serial();
    let before = netstack::open_fd_count().unwrap();
    let Some(rig) = Rig::start("thousand_connections", config()) else {
        return;
    };
    let n = 1000;
    let (port, server) = host_echo_server(n);
    let during = netstack::open_fd_count().unwrap();
    rig.ns.run(move || {
        for i in 0..n {
            let mut s = TcpStream::connect_timeout(&sa(GW, port), T).unwrap();
            s.set_read_timeout(Some(T)).unwrap();
            let msg = format!("hello {i}");
            s.write_all(msg.as_bytes()).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).unwrap();
            assert_eq!(got, msg);
        }
    });
    server.join().unwrap();
    // Flows close asynchronously; give the stack a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now_fds = netstack::open_fd_count().unwrap();
    while now_fds > during && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now_fds = netstack::open_fd_count().unwrap();
    }
    assert!(
        now_fds <= during,
        "fds: {during} with idle stack, {now_fds} after 1000 connections"
    );
    rig.stop().unwrap();
    let after = netstack::open_fd_count().unwrap();
    assert!(after <= before, "fds before {before}, after {after}");
}

#[test]
fn pcap_capture_written() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("netstack-pcap-{}", std::process::id()));
    let cfg = Config {
        pcap: Some(dir.clone()),
        ..config()
    };
    let Some(rig) = Rig::start("pcap", cfg) else {
        return;
    };
    let (port, server) = host_echo_server(1);
    let got = rig.ns.run(move || {
        let s = TcpStream::connect_timeout(&sa(GW, port), T).unwrap();
        echo_roundtrip(s, b"captured")
    });
    assert_eq!(got, b"captured");
    server.join().unwrap();
    rig.stop().unwrap();
    let bytes = std::fs::read(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_ne_bytes());
    // Header + at least SYN, SYN-ACK, ACK, data both ways.
    assert!(
        bytes.len() > 24 + 6 * (16 + 54),
        "pcap too small: {}",
        bytes.len()
    );
}
