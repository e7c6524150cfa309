//! Network test server, built statically by the test and run inside a
//! busybox container (whose nc has no UDP mode):
//! - `udpecho PORT`: UDP echo, answering every datagram with
//!   "<sender address> <payload>";
//! - `udpecho PORT thread`: the same, bound and served from a second thread
//!   (a server whose bind does not come from the main thread, as Go's do);
//! - `udpecho PORT tcp`: a TCP server on 0.0.0.0:PORT that writes "hello\n"
//!   to each client and closes first, made with raw socket calls so that,
//!   unlike std's listeners, it never sets SO_REUSEADDR (as iperf3);
//! - `udpecho PORT tcp2`: two TCP servers, as nginx's `listen 80; listen
//!   [::]:80`: 0.0.0.0:PORT writes "hello v4\n", [::]:PORT (IPV6_V6ONLY)
//!   "hello v6\n".

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
    fn bind(fd: i32, addr: *const u8, len: u32) -> i32;
    fn setsockopt(fd: i32, level: i32, name: i32, val: *const i32, len: u32) -> i32;
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
        let len = std::mem::size_of::<SockaddrIn>() as u32;
        assert_eq!(bind(fd, &sa as *const SockaddrIn as *const u8, len), 0, "bind");
        serve_fd(fd, port, b"hello\n");
    }
}

/// Listens on `fd` and writes `hello` to each client.
fn serve_fd(fd: i32, port: u16, hello: &[u8]) {
    // SAFETY: plain socket calls on fds we own; `hello` outlives the write.
    unsafe {
        assert_eq!(listen(fd, 16), 0, "listen");
        println!("listening on {port}/tcp");
        loop {
            let c = accept(fd, std::ptr::null_mut(), std::ptr::null_mut());
            if c < 0 {
                continue;
            }
            let _ = write(c, hello.as_ptr(), hello.len());
            close(c);
        }
    }
}

/// `[::]:port` with IPV6_V6ONLY beside `0.0.0.0:port`, each its own server.
fn serve_tcp2(port: u16) {
    const AF_INET6: i32 = 10;
    const SOCK_STREAM: i32 = 1;
    const IPPROTO_IPV6: i32 = 41;
    const IPV6_V6ONLY: i32 = 26;
    let v4 = std::thread::spawn(move || {
        // SAFETY: as in serve_tcp.
        unsafe {
            let fd = socket(2, SOCK_STREAM, 0);
            assert!(fd >= 0, "socket");
            let sa = SockaddrIn {
                family: 2,
                port: port.to_be(),
                addr: 0,
                zero: [0; 8],
            };
            let len = std::mem::size_of::<SockaddrIn>() as u32;
            assert_eq!(bind(fd, &sa as *const SockaddrIn as *const u8, len), 0, "bind v4");
            serve_fd(fd, port, b"hello v4\n");
        }
    });
    // The IPv6 one binds second, as nginx does.
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: plain socket calls; `sa6` and `one` live across them.
    unsafe {
        let fd = socket(AF_INET6, SOCK_STREAM, 0);
        assert!(fd >= 0, "socket6");
        let one = 1i32;
        assert_eq!(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, 4), 0, "v6only");
        // sockaddr_in6: family, port, flowinfo, 16-byte address, scope id.
        let mut sa6 = [0u8; 28];
        sa6[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
        sa6[2..4].copy_from_slice(&port.to_be_bytes());
        assert_eq!(bind(fd, sa6.as_ptr(), 28), 0, "bind v6");
        serve_fd(fd, port, b"hello v6\n");
    }
    let _ = v4.join();
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
        Some("tcp2") => serve_tcp2(port),
        _ => serve(port),
    }
}
