//! A host-side relay from one published host socket to another host
//! address: the IPv6 side of a handed-off port whose server took an IPv4
//! socket.
//!
//! **Why.** Under the handoff driver the container's server holds the host
//! socket itself, so nothing listens in the container's namespace: the
//! stack cannot forward to it. When the server is IPv4 only (it bound an
//! `AF_INET` socket, which cannot take IPv6 clients), the `[::]` host
//! socket of its port is served here instead: each IPv6 client gets a
//! connection (TCP) or a connected socket (UDP) to the address the server
//! listens on, on the host's loopback, and bytes are copied both ways. The
//! server sees those clients as 127.0.0.1 (their address is lost); IPv4
//! clients keep the fast path.
//!
//! **Threads.** One thread per relayed socket ([`Worker`]): for TCP it
//! accepts and starts a copying thread per direction of each connection;
//! for UDP it polls the host socket and one connected socket per client,
//! which is dropped after [`UDP_IDLE`] without traffic. Stopping the relay
//! closes the host socket and shuts every live TCP connection down, so
//! their copying threads end too.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::sys;
use crate::worker::Worker;
use crate::Proto;

/// How long a relayed UDP client's flow lives without traffic.
pub const UDP_IDLE: Duration = Duration::from_secs(60);

/// How long the connection to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts relaying `socket` (bound, of `proto`; a TCP one is made to
/// listen here) to `target` on the host.
pub(crate) fn start(socket: Socket, proto: Proto, target: SocketAddr) -> io::Result<Worker<()>> {
    match proto {
        Proto::Tcp => {
            socket.listen(i32::MAX)?;
            socket.set_nonblocking(true)?;
            let listener: TcpListener = socket.into();
            Worker::spawn("netrelay", move |stop| relay_tcp(stop, listener, target))
        }
        Proto::Udp => {
            socket.set_nonblocking(true)?;
            let host: UdpSocket = socket.into();
            Worker::spawn("netrelay", move |stop| relay_udp(stop, host, target))
        }
    }
}

fn relay_tcp(stop: OwnedFd, listener: TcpListener, target: SocketAddr) {
    // Live connections (client side), to shut down when the relay stops.
    let live: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
    let mut next = 0u64;
    while let Ok(ev) = sys::poll_read(&[stop.as_fd(), listener.as_fd()]) {
        if ev[0] != 0 {
            break;
        }
        while let Ok((client, _)) = listener.accept() {
            let Ok(server) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
                // Nothing listens (the server is restarting): refuse.
                let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
                continue;
            };
            next += 1;
            if let (Ok(mut live), Ok(c)) = (live.lock(), client.try_clone()) {
                live.insert(next, c);
            }
            let (id, live) = (next, live.clone());
            let _ = std::thread::Builder::new()
                .name("netrelay-conn".into())
                .spawn(move || {
                    copy_both(client, server);
                    if let Ok(mut live) = live.lock() {
                        live.remove(&id);
                    }
                });
        }
    }
    let live = live
        .lock()
        .map(|l| l.values().filter_map(|c| c.try_clone().ok()).collect());
    for c in live.unwrap_or_else(|_| Vec::new()) {
        let _ = c.shutdown(Shutdown::Both);
    }
}

/// Copies between `client` and `server` both ways, half-closing each
/// direction at its EOF.
fn copy_both(client: TcpStream, server: TcpStream) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut &c2, &mut &s2);
        let _ = s2.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut &server, &mut &client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// One UDP client: its socket connected to the server, and when it was
/// last used.
struct Flow {
    client: SocketAddr,
    socket: UdpSocket,
    used: Instant,
}

fn relay_udp(stop: OwnedFd, host: UdpSocket, target: SocketAddr) {
    let mut flows: Vec<Flow> = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let ev = {
            let mut fds: Vec<BorrowedFd<'_>> = vec![stop.as_fd(), host.as_fd()];
            fds.extend(flows.iter().map(|f| f.socket.as_fd()));
            match sys::poll_read_timeout(&fds, 1000) {
                Ok(ev) => ev,
                Err(_) => return,
            }
        };
        if ev[0] != 0 {
            return;
        }
        let now = Instant::now();
        // Answers of the server, back to each client from the host port.
        for (f, _) in flows.iter_mut().zip(&ev[2..]).filter(|(_, e)| **e != 0) {
            while let Ok(n) = f.socket.recv(&mut buf) {
                let _ = host.send_to(&buf[..n], f.client);
                f.used = now;
            }
        }
        if ev[1] != 0 {
            while let Ok((n, client)) = host.recv_from(&mut buf) {
                let i = match flows.iter().position(|f| f.client == client) {
                    Some(i) => i,
                    None => match connected_udp(target) {
                        Ok(socket) => {
                            flows.push(Flow {
                                client,
                                socket,
                                used: now,
                            });
                            flows.len() - 1
                        }
                        Err(_) => continue,
                    },
                };
                let _ = flows[i].socket.send(&buf[..n]);
                flows[i].used = now;
            }
        }
        flows.retain(|f| now.duration_since(f.used) < UDP_IDLE);
    }
}

fn connected_udp(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(local)?;
    s.connect(target)?;
    s.set_nonblocking(true)?;
    Ok(s)
}
