//! UDP echo server for network tests, built statically by the test and run
//! inside a busybox container (whose nc has no UDP mode): answers every
//! datagram with "<sender address> <payload>". `udpecho PORT thread` binds
//! and serves from a second thread (a server whose bind does not come from
//! the main thread, as Go's do).

use std::net::UdpSocket;

fn serve(port: u16) {
    let s = UdpSocket::bind(("0.0.0.0", port)).expect("bind");
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

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .unwrap_or_else(|| "5353".into())
        .parse()
        .expect("port");
    if args.next().as_deref() == Some("thread") {
        std::thread::spawn(move || serve(port)).join().unwrap();
    } else {
        serve(port);
    }
}
