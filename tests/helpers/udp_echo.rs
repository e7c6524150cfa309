//! UDP echo server for network tests, built statically by the test and run
//! inside a busybox container (whose nc has no UDP mode): answers every
//! datagram with "<sender address> <payload>".

use std::net::UdpSocket;

fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "5353".into());
    let s = UdpSocket::bind(("0.0.0.0", port.parse::<u16>().expect("port"))).expect("bind");
    println!("listening on {port}");
    let mut buf = [0u8; 65536];
    loop {
        let Ok((n, peer)) = s.recv_from(&mut buf) else {
            continue;
        };
        let mut reply = format!("{} ", peer.ip()).into_bytes();
        reply.extend_from_slice(&buf[..n]);
        let _ = s.send_to(&reply, peer);
    }
}
