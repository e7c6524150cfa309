//! Network test server, built statically by the test and run inside a
//! busybox container (whose nc has no UDP mode):
//! - `udpecho PORT`: UDP echo, answering every datagram with
//!   "<sender address> <payload>";
//! - `udpecho PORT thread`: the same, bound and served from a second thread
//!   (a server whose bind does not come from the main thread, as Go's do);
//! - `udpecho PORT tcp`: a TCP server on 0.0.0.0:PORT that writes "hello\n"
//!   to each client and closes first, made with raw socket calls so that,
//!   unlike std's listeners, it never sets SO_REUSEADDR (as iperf3).

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

#[repr(C)]
struct SockaddrIn {
    family: u16,
    port: u16,
    addr: u32,
    zero: [u8; 8],
}

extern "C" {
    fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
    fn bind(fd: i32, addr: *const SockaddrIn, len: u32) -> i32;
    fn listen(fd: i32, backlog: i32) -> i32;
    fn accept(fd: i32, addr: *mut u8, len: *mut u32) -> i32;
    fn write(fd: i32, buf: *const u8, n: usize) -> isize;
    fn close(fd: i32) -> i32;
}

fn serve_tcp(port: u16) {
    const AF_INET: i32 = 2;
    const SOCK_STREAM: i32 = 1;
    // SAFETY: plain socket calls on integers and on `sa`, which lives
    // across the calls; fds are closed by us only.
    unsafe {
        let fd = socket(AF_INET, SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let sa = SockaddrIn {
            family: AF_INET as u16,
            port: port.to_be(),
            addr: 0,
            zero: [0; 8],
        };
        assert_eq!(bind(fd, &sa, std::mem::size_of::<SockaddrIn>() as u32), 0, "bind");
        assert_eq!(listen(fd, 16), 0, "listen");
        println!("listening on {port}/tcp");
        loop {
            let c = accept(fd, std::ptr::null_mut(), std::ptr::null_mut());
            if c < 0 {
                continue;
            }
            let _ = write(c, b"hello\n".as_ptr(), 6);
            close(c);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .unwrap_or_else(|| "5353".into())
        .parse()
        .expect("port");
    match args.next().as_deref() {
        Some("thread") => std::thread::spawn(move || serve(port)).join().unwrap(),
        Some("tcp") => serve_tcp(port),
        _ => serve(port),
    }
}
