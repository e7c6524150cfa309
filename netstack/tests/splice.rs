//! The splice port driver with real traffic: a host client on loopback, a
//! server inside a test-made namespace. Checks data integrity both ways with
//! half-close, what address the container sees, resets for a port nobody
//! listens on and for a server that dies mid-transfer, fd hygiene over
//! 1,000 connections, and that UDP ports still go through the stack.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use netstack::{Config, PortDriver, Proto};

fn splice_config(ports: Vec<netstack::PortForward>) -> Config {
    Config {
        ports,
        port_driver: PortDriver::Splice,
        ..config()
    }
}

/// Echo server inside the namespace for `conns` connections; returns the
/// peers it saw.
fn ns_echo_server(rig: &Rig, port: u16, conns: usize) -> std::thread::JoinHandle<Vec<IpAddr>> {
    let server = rig
        .ns
        .run(move || TcpListener::bind(("0.0.0.0", port)).unwrap());
    std::thread::spawn(move || {
        let mut peers = Vec::new();
        for _ in 0..conns {
            let (mut s, peer) = server.accept().unwrap();
            peers.push(peer.ip());
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
            // Our FIN follows the client's: both half-closes crossed.
        }
        peers
    })
}

/// Writes `data` and half-closes on one thread, reads to EOF on this one.
fn roundtrip(s: TcpStream, data: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    let mut w = s.try_clone().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

#[test]
fn splice_echo_with_half_close_loses_source_address() {
    let _g = serial();
    let Some(rig) = Rig::start("splice_echo", splice_config(vec![tcp(80)])) else {
        return;
    };
    let hp = rig.host_port(80, Proto::Tcp);
    let srv = ns_echo_server(&rig, 80, 2);
    let data = pattern(8 << 20, 5);
    for _ in 0..2 {
        let c = TcpStream::connect(("127.0.0.1", hp)).unwrap();
        let got = roundtrip(c, &data);
        assert!(got == data, "echo mismatch ({} bytes)", got.len());
    }
    // The connection is local to the container's namespace.
    for p in srv.join().unwrap() {
        assert_eq!(p, IpAddr::V4(ADDR), "container saw {p}");
    }
    rig.stop().unwrap();
    TcpListener::bind(("127.0.0.1", hp)).expect("port released on stop");
}

#[test]
fn splice_port_without_listener_resets_client() {
    let _g = serial();
    let Some(rig) = Rig::start("splice_refused", splice_config(vec![tcp(81)])) else {
        return;
    };
    let hp = rig.host_port(81, Proto::Tcp);
    let mut c = TcpStream::connect(("127.0.0.1", hp)).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 16];
    let r = c.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "expected a reset, got {r:?}"
    );
    rig.stop().unwrap();
}

#[test]
fn splice_server_dying_mid_transfer_resets_client() {
    let _g = serial();
    let Some(rig) = Rig::start("splice_dies", splice_config(vec![tcp(80)])) else {
        return;
    };
    let hp = rig.host_port(80, Proto::Tcp);
    let server = rig.ns.run(|| TcpListener::bind("0.0.0.0:80").unwrap());
    let srv = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let _ = s.read(&mut buf);
        // Closing with unread data sends RST.
    });
    let mut c = TcpStream::connect(("127.0.0.1", hp)).unwrap();
    c.set_write_timeout(Some(T)).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let chunk = pattern(1 << 20, 9);
    let mut err = None;
    for _ in 0..1000 {
        if let Err(e) = c.write_all(&chunk) {
            err = Some(e);
            break;
        }
    }
    srv.join().unwrap();
    let err = err.unwrap_or_else(|| c.read(&mut [0u8; 64]).map(|_| ()).unwrap_err());
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "client not reset: {err:?}"
    );
    rig.stop().unwrap();
}

#[test]
fn splice_thousand_connections_leak_no_fds_and_udp_keeps_source() {
    let _g = serial();
    let before = netstack::open_fd_count().unwrap();
    let Some(rig) = Rig::start("splice_thousand", splice_config(vec![tcp(80), udp(5353)])) else {
        return;
    };
    let during = netstack::open_fd_count().unwrap();
    let hp = rig.host_port(80, Proto::Tcp);
    let n = 1000;
    let srv = ns_echo_server(&rig, 80, n);
    for i in 0..n {
        let c = TcpStream::connect(("127.0.0.1", hp)).unwrap();
        let msg = format!("hello {i}");
        assert_eq!(roundtrip(c, msg.as_bytes()), msg.as_bytes());
    }
    assert_eq!(srv.join().unwrap().len(), n);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now_fds = netstack::open_fd_count().unwrap();
    while now_fds > during && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now_fds = netstack::open_fd_count().unwrap();
    }
    assert!(
        now_fds <= during,
        "fds: {during} with idle forwarder, {now_fds} after {n} connections"
    );
    // UDP is still translated by the stack, source address kept.
    let up = rig.host_port(5353, Proto::Udp);
    let usrv = rig.ns.run(|| UdpSocket::bind("0.0.0.0:5353").unwrap());
    usrv.set_read_timeout(Some(T)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"ping", ("127.0.0.1", up)).unwrap();
    let mut buf = [0u8; 16];
    let (len, peer) = usrv.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"ping");
    assert_eq!(
        peer.ip(),
        IpAddr::V4(GW),
        "loopback client shows as gateway"
    );
    drop((usrv, client));
    rig.stop().unwrap();
    let after = netstack::open_fd_count().unwrap();
    assert!(after <= before, "fds before {before}, after {after}");
}
