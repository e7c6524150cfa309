//! ICMP echo through the stack: a raw socket inside the test namespace
//! pings the gateway (host loopback allowed, so the request leaves through a
//! host ping socket to 127.0.0.1, visible in /proc/net/icmp) and must get
//! the reply with its own id, sequence number and payload; an address in
//! the container network gets nothing.

mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Protocol, Socket, Type};

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Sends one echo request to `dst` and waits up to `wait` for the reply
/// with `id`; returns (source, seq, payload).
fn ping(dst: Ipv4Addr, id: u16, seq: u16, wait: Duration) -> Option<(Ipv4Addr, u16, Vec<u8>)> {
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
    // A datagram socket API over the raw socket: recv gives IP + ICMP.
    let s: UdpSocket = raw.into();
    s.send_to(&echo_request(id, seq, PAYLOAD), (dst, 0))
        .unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(deadline - Instant::now() + Duration::from_millis(1)))
            .unwrap();
        let Ok(n) = s.recv(&mut buf) else { break };
        let pkt = &buf[..n];
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        let icmp = &pkt[ihl..];
        if icmp[0] == 0 && u16::from_be_bytes([icmp[4], icmp[5]]) == id {
            assert_eq!(checksum(icmp), 0, "reply checksum");
            let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
            return Some((
                src,
                u16::from_be_bytes([icmp[6], icmp[7]]),
                icmp[8..].to_vec(),
            ));
        }
    }
    None
}

const PAYLOAD: &[u8] = b"rless ping payload";

#[test]
fn echo_goes_through_ping_sockets_with_id_restored() {
    let _g = serial();
    if let Some(why) = netstack::ping_unavailable() {
        skip("icmp_echo", &why);
        return;
    }
    let Some(rig) = Rig::start("icmp_echo", config()) else {
        return;
    };
    rig.ns.run(|| {
        for seq in [1u16, 2, 3] {
            let got = ping(GW, 0xbeef, seq, T).expect("echo reply from the gateway");
            assert_eq!(got, (GW, seq, PAYLOAD.to_vec()));
        }
        // A neighbour in the container network: nobody to forward to.
        let silent = Ipv4Addr::new(10, 0, 2, 50);
        assert_eq!(ping(silent, 0x0b0b, 1, Duration::from_secs(1)), None);
    });
    // The replies came from the host: the stack's ping socket to 127.0.0.1
    // is listed in the host namespace (smoltcp answering would leave none).
    let table = std::fs::read_to_string("/proc/net/icmp").unwrap();
    assert!(
        table
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(2) == Some("0100007F:0000")),
        "no host ping socket to 127.0.0.1:\n{table}"
    );
    rig.stop().unwrap();
}
