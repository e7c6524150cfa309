//! The handoff port driver: the container's server gets the host socket.
//!
//! **Goal.** Published ports at the kernel's loopback speed, with the
//! client's real address, and no forwarding at all. Every other driver
//! relays bytes between a host socket and one in the container's namespace;
//! here the host socket *is* the server's socket.
//!
//! **How.** Before the container runs, [`crate::bind_ports`] binds each
//! published host port (not listening: until it is taken, clients are
//! refused as if nothing listened). The container's init installs a seccomp
//! filter that turns every `bind(2)` into a user notification
//! ([`install_bind_notifier`]) and sends the listener fd to the monitor,
//! where [`Handoff`] answers on its own thread. For a bind of a published
//! container port, on the wildcard address or the container's own, with a
//! socket of the right type, the thread:
//! 1. reads the `sockaddr` from the caller's memory (`process_vm_readv`)
//!    and takes a copy of its socket (`pidfd_getfd`) to learn its family,
//!    type, flags and the options it set (SO_REUSEADDR, SO_REUSEPORT,
//!    SO_KEEPALIVE, SO_BROADCAST, TCP_NODELAY);
//! 2. checks the notification is still live (the caller may have died and
//!    its pid been reused since);
//! 3. installs its bound host socket, with those options, over the
//!    caller's fd (SECCOMP_IOCTL_NOTIF_ADDFD with SETFD), and answers the
//!    bind with success.
//!
//! The server then listens and accepts on a host socket: clients connect
//! straight to it. Anything else (other ports, other addresses such as
//! 127.0.0.1, Unix sockets, a socket of the wrong type) is let through
//! unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//!
//! **Clients inside the container.** Nothing listens on a handed-off port
//! in the container's own namespace, so the filter reports `connect(2)`
//! too. A TCP connect to a handed-off port on loopback or the container's
//! address gets a host socket connected to the host side of the port
//! (non-blocking callers get EINPROGRESS, as from the kernel; blocking ones
//! wait at most [`CONNECT_TIMEOUT`]); every other connect continues.
//!
//! **Families.** A port on the IPv4 wildcard has two host sockets, as
//! under every driver: `0.0.0.0` and `[::]` (V6ONLY; see `ports`); a port
//! on one address, or on the IPv4 wildcard alone (`ipv4_only`), has one
//! socket of its family. The server's socket family
//! picks what it gets:
//! - an IPv4 server gets the IPv4 socket; the `[::]` one, which it cannot
//!   take, is then served by a host-side relay to it (see `relay`: IPv6
//!   clients work, through a copy, and appear as 127.0.0.1);
//! - an IPv6 dual-stack server (Go's and busybox's default) gets one new
//!   IPv6 socket without V6ONLY in place of both: `[::]` for 0.0.0.0, which
//!   both families reach directly; `::ffff:a.b.c.d` for a specific IPv4
//!   address, `::ffff:0.0.0.0` for an IPv4-only wildcard, IPv4 alone;
//! - an IPv6 server with V6ONLY, or any IPv6 server of a port published on
//!   an IPv6 address or whose IPv4 socket a server holds already (nginx's
//!   `listen 80; listen [::]:80`), gets the IPv6 socket (its relay stops);
//!
//! - an IPv4 server of a port published on an IPv6 address only gets a
//!   socket of its own on the host's 127.0.0.1 (a random port), and the
//!   IPv6 one is relayed to it.
//!
//! A later bind of the other family on the same port runs inside the
//! container.
//!
//! **Lifetime.** The thread keeps its copy of every host socket, so a server
//! that restarts inside the container (closes and binds again) gets the
//! same socket back, connections that arrived in between included. It
//! stops, closing its copies, with the container; the server's copies close
//! when its processes exit, and with them the host port.
//!
//! **Limits.** The server's `getsockname` shows the host address and port,
//! and a client inside the container connecting to it appears as a host
//! loopback client. UDP clients inside the container cannot reach a
//! handed-off UDP port. Processes started with `exec` are not filtered
//! (neither their binds nor their connects). Every bind and connect of the
//! container costs a round trip to the monitor. Needs Linux 5.9 (ADDFD)
//! and pidfd_getfd (5.6).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};

use socket2::{Domain, SockRef, Socket, Type};

use crate::sys;
use crate::worker::Worker;
use crate::{Error, PortForward, Proto, Result};

/// How long a blocking connect from inside the container to a handed-off
/// port may take before it fails with ETIMEDOUT.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Init side: makes every later `bind(2)` of this process and its children
/// a notification on the returned fd, which goes to [`Handoff::start`].
pub fn install_bind_notifier() -> io::Result<OwnedFd> {
    sys::seccomp_notify(&[libc::SYS_bind, libc::SYS_connect])
}

/// Why this kernel cannot run the driver, if it cannot.
pub fn unsupported() -> Option<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = release.trim().split(['.', '-']);
    let major: u32 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let minor: u32 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    if (major, minor) < (5, 9) {
        return Some(format!(
            "the handoff port driver needs Linux 5.9 or later (this is {})",
            release.trim()
        ));
    }
    None
}

/// What a bind asked for, from its `sockaddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BindAddr {
    pub ip: IpAddr,
    pub port: u16,
}

/// Parses a `sockaddr_in` or `sockaddr_in6` as laid out in memory.
pub(crate) fn parse_sockaddr(b: &[u8]) -> Option<BindAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    let ip = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(4..8)?).ok()?)),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?)),
        _ => return None,
    };
    Some(BindAddr { ip, port })
}

/// Whether a bind to `ip` is one a published port serves: the wildcard or
/// the container's own address (in either family).
pub(crate) fn serves(ip: IpAddr, container: Ipv4Addr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_unspecified() || a == container,
        IpAddr::V6(a) => a.is_unspecified() || a.to_ipv4_mapped() == Some(container),
    }
}

/// One published port and its host socket.
struct Port {
    fwd: PortForward,
    socket: Socket,
    /// Whether a server in the container has been given the socket.
    claimed: bool,
    /// The relay serving it, to the IPv4 socket of its port, until an IPv6
    /// server takes it.
    relay: Option<Worker<()>>,
}

/// The answer to one notification.
enum Answer {
    /// Let the kernel run the bind.
    Continue,
    /// The bind succeeded (the socket was replaced).
    Done,
    /// The bind fails with this errno.
    Fail(i32),
    /// The caller is gone; nothing to answer.
    Gone,
}

/// The running handoff thread; stopping it (or dropping this) closes the
/// host sockets it holds.
pub struct Handoff {
    worker: Worker<()>,
}

impl Handoff {
    /// Starts answering the binds notified on `notifier`, handing out
    /// `ports` (from [`crate::BoundPorts::take_handoff`]); `container` is the
    /// container's address.
    pub fn start(
        notifier: OwnedFd,
        ports: Vec<(PortForward, Socket)>,
        container: Ipv4Addr,
    ) -> Result<Handoff> {
        let mut ports: Vec<Port> = ports
            .into_iter()
            .map(|(fwd, socket)| Port {
                fwd,
                socket,
                claimed: false,
                relay: None,
            })
            .collect();
        let worker = Worker::spawn("nethandoff", move |stop| {
            while let Ok(ev) = sys::poll_read(&[stop.as_fd(), notifier.as_fd()]) {
                if ev[0] != 0 {
                    break;
                }
                if ev[1] & libc::POLLIN != 0 {
                    serve_one(&notifier, &mut ports, container);
                } else if ev[1] != 0 {
                    // POLLHUP: every filtered process is gone.
                    break;
                }
            }
        })
        .map_err(|e| Error::io("start the handoff thread", e))?;
        Ok(Handoff { worker })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        let _ = self.worker.stop();
    }
}

/// Reads one notification and answers it.
fn serve_one(notifier: &OwnedFd, ports: &mut Vec<Port>, container: Ipv4Addr) {
    let n = match sys::notif_recv(notifier.as_fd()) {
        Ok(n) => n,
        // ENOENT: the caller died before we read it.
        Err(_) => return,
    };
    let answer = match read_sockaddr(&n) {
        Some(want) if n.nr == libc::SYS_bind as i32 => {
            decide_bind(notifier, &n, want, ports, container)
        }
        Some(want) if n.nr == libc::SYS_connect as i32 => {
            decide_connect(notifier, &n, want, ports, container)
        }
        _ => Answer::Continue,
    };
    let fd = notifier.as_fd();
    let _ = match answer {
        Answer::Continue => sys::notif_send(fd, n.id, true, 0, 0),
        Answer::Done => sys::notif_send(fd, n.id, false, 0, 0),
        Answer::Fail(errno) => sys::notif_send(fd, n.id, false, 0, errno),
        Answer::Gone => Ok(()),
    };
}

/// The `sockaddr` argument (the second) of a bind or connect.
fn read_sockaddr(n: &sys::Notification) -> Option<BindAddr> {
    let (ptr, len) = (n.args[1], n.args[2] as usize);
    if !(8..=128).contains(&len) {
        return None;
    }
    let mut buf = [0u8; 128];
    match sys::read_process_memory(n.pid, ptr, &mut buf[..len]) {
        Ok(got) if got == len => parse_sockaddr(&buf[..len]),
        _ => None,
    }
}

/// The caller's socket (fd `args[0]` of the notifying thread's process),
/// with its family and type; `None` when it is not a socket we can read.
fn caller_socket(n: &sys::Notification) -> Option<(OwnedFd, Domain, Type)> {
    let fd = sys::fd_of_process(process_of(n.pid), n.args[0] as i32).ok()?;
    let s = SockRef::from(&fd);
    let (domain, ty) = (s.domain().ok()?, s.r#type().ok()?);
    Some((fd, domain, ty))
}

/// Installs `src` over the caller's fd and gives `done` as the answer.
fn install(notifier: &OwnedFd, n: &sys::Notification, src: &Socket, done: Answer) -> Answer {
    let fd = n.args[0] as i32;
    let cloexec = fd_cloexec(n.pid, fd);
    match sys::notif_addfd(notifier.as_fd(), n.id, src.as_fd(), fd, cloexec) {
        Ok(()) => done,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Answer::Gone,
        Err(_) => Answer::Continue,
    }
}

fn decide_bind(
    notifier: &OwnedFd,
    n: &sys::Notification,
    want: BindAddr,
    ports: &mut Vec<Port>,
    container: Ipv4Addr,
) -> Answer {
    if !serves(want.ip, container) {
        return Answer::Continue;
    }
    let Some((theirs, domain, ty)) = caller_socket(n) else {
        return Answer::Continue;
    };
    let theirs = SockRef::from(&theirs);
    let proto = if ty == Type::STREAM {
        Proto::Tcp
    } else if ty == Type::DGRAM {
        Proto::Udp
    } else {
        return Answer::Continue;
    };
    if !ports
        .iter()
        .any(|p| p.fwd.proto == proto && p.fwd.container_port == want.port)
    {
        return Answer::Continue;
    }
    // The caller may have died, and its pid been reused, while we read.
    if !sys::notif_id_valid(notifier.as_fd(), n.id) {
        return Answer::Gone;
    }
    let only_v6 = domain == Domain::IPV6 && theirs.only_v6().unwrap_or(false);
    let (i, relay) = match pick(ports, proto, want.port, domain, only_v6, ty) {
        Ok(x) => x,
        Err(a) => return a,
    };
    let port = &mut ports[i];
    copy_options(&theirs, &SockRef::from(&port.socket), proto);
    let answer = install(notifier, n, &port.socket, Answer::Done);
    if !matches!(answer, Answer::Done) {
        return answer;
    }
    port.claimed = true;
    let target = match port.fwd.host_ip {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(target, port.fwd.host_port);
    if let Some(j) = relay {
        let started = ports[j]
            .socket
            .try_clone()
            .and_then(|s| crate::relay::start(s, proto, target));
        ports[j].relay = started.ok();
    }
    answer
}

/// Which host socket a bind of `domain` gets (see the module header), made
/// that family when needed, and the IPv6 socket to relay to it, if any; or
/// what to answer when none fits.
fn pick(
    ports: &mut Vec<Port>,
    proto: Proto,
    container_port: u16,
    domain: Domain,
    only_v6: bool,
    ty: Type,
) -> std::result::Result<(usize, Option<usize>), Answer> {
    let of_port = |p: &Port| p.fwd.proto == proto && p.fwd.container_port == container_port;
    let v4 = ports
        .iter()
        .position(|p| of_port(p) && p.socket.domain().ok() == Some(Domain::IPV4));
    let v6 = ports
        .iter()
        .position(|p| of_port(p) && p.socket.domain().ok() == Some(Domain::IPV6));
    if domain == Domain::IPV4 {
        if let Some(i) = v4 {
            // Its `[::]` sibling, which an IPv4 server cannot take.
            let relay = v6.filter(|&j| {
                let p = &ports[j];
                !p.claimed && p.relay.is_none() && p.fwd.host_port == ports[i].fwd.host_port
            });
            return Ok((i, relay));
        }
        // Published on IPv6 only: the server gets a socket of its own on the
        // host's 127.0.0.1, and the IPv6 one is relayed to it.
        let j = v6
            .filter(|&j| !ports[j].claimed && ports[j].relay.is_none())
            .ok_or(Answer::Continue)?;
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let socket = crate::ports::bind_only(proto, local).map_err(|_| Answer::Continue)?;
        let host_port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or(Answer::Continue)?
            .port();
        let fwd = PortForward {
            host_ip: local.ip(),
            host_port,
            ..ports[j].fwd
        };
        ports.push(Port {
            fwd,
            socket,
            claimed: false,
            relay: None,
        });
        return Ok((ports.len() - 1, Some(j)));
    }
    if domain != Domain::IPV6 {
        return Err(Answer::Continue);
    }
    match (v4, v6) {
        (Some(i), Some(j)) if !only_v6 && !ports[i].claimed && !ports[j].claimed => {
            // A dual-stack server: one socket in place of both.
            let sibling = ports.remove(j);
            let i = if j < i { i - 1 } else { i };
            match match_family(&mut ports[i], domain, ty) {
                Ok(()) => Ok((i, None)),
                Err(a) => {
                    // Put the IPv6 socket back if the port is still free.
                    let addr = SocketAddr::new(sibling.fwd.host_ip, sibling.fwd.host_port);
                    drop(sibling.socket);
                    if let Ok(socket) = crate::ports::bind_only(proto, addr) {
                        ports.push(Port {
                            socket,
                            claimed: false,
                            relay: None,
                            ..sibling
                        });
                    }
                    Err(a)
                }
            }
        }
        (_, Some(j)) => {
            // An IPv6 server beside an IPv4 one (nginx's `listen 80; listen
            // [::]:80`): it takes the IPv6 socket from the relay.
            ports[j].relay = None;
            Ok((j, None))
        }
        (Some(i), None) => match_family(&mut ports[i], domain, ty).map(|()| (i, None)),
        (None, None) => Err(Answer::Continue),
    }
}

/// A connection from inside the container to a published TCP port whose
/// server holds the host socket: nothing listens on it in the container's
/// namespace, so the caller's socket is replaced by a host socket connected
/// to the host side of the port.
fn decide_connect(
    notifier: &OwnedFd,
    n: &sys::Notification,
    want: BindAddr,
    ports: &mut [Port],
    container: Ipv4Addr,
) -> Answer {
    let local = match want.ip {
        IpAddr::V4(a) => a.is_loopback() || a == container,
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped() == Some(container),
    };
    let Some(port) = ports
        .iter()
        .find(|p| p.claimed && p.fwd.proto == Proto::Tcp && p.fwd.container_port == want.port)
    else {
        return Answer::Continue;
    };
    if !local {
        return Answer::Continue;
    }
    let Some((theirs, domain, Type::STREAM)) = caller_socket(n) else {
        return Answer::Continue;
    };
    let theirs = SockRef::from(&theirs);
    // Where the server listens on the host.
    let host = match (port.fwd.host_ip, domain) {
        (IpAddr::V4(a), d) => {
            let a = if a.is_unspecified() {
                Ipv4Addr::LOCALHOST
            } else {
                a
            };
            if d == Domain::IPV6 {
                IpAddr::V6(a.to_ipv6_mapped())
            } else {
                IpAddr::V4(a)
            }
        }
        (IpAddr::V6(a), d) if d == Domain::IPV6 => IpAddr::V6(if a.is_unspecified() {
            Ipv6Addr::LOCALHOST
        } else {
            a
        }),
        _ => return Answer::Continue,
    };
    let target = SocketAddr::new(host, port.fwd.host_port);
    if !sys::notif_id_valid(notifier.as_fd(), n.id) {
        return Answer::Gone;
    }
    let Ok(ours) = Socket::new(domain, Type::STREAM, None) else {
        return Answer::Continue;
    };
    copy_options(&theirs, &SockRef::from(&ours), Proto::Tcp);
    // A blocking caller waits here, but never long: this thread serves
    // every bind and connect of the container.
    let result = if theirs.nonblocking().unwrap_or(false) {
        match ours.connect(&target.into()) {
            Ok(()) => Answer::Done,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                Answer::Fail(libc::EINPROGRESS)
            }
            Err(e) => return Answer::Fail(e.raw_os_error().unwrap_or(libc::ECONNREFUSED)),
        }
    } else {
        match ours.connect_timeout(&target.into(), CONNECT_TIMEOUT) {
            Ok(()) => Answer::Done,
            Err(e) => return Answer::Fail(e.raw_os_error().unwrap_or(libc::ETIMEDOUT)),
        }
    };
    install(notifier, n, &ours, result)
}

/// Makes `port`'s host socket the caller's family, or says what to answer
/// when it cannot be.
fn match_family(port: &mut Port, domain: Domain, ty: Type) -> std::result::Result<(), Answer> {
    let current = port.socket.domain().map_err(|_| Answer::Continue)?;
    if current == domain {
        return Ok(());
    }
    // Only an IPv4 host socket is ever replaced, by a dual-stack IPv6 one.
    if current != Domain::IPV4 || domain != Domain::IPV6 {
        return Err(Answer::Continue);
    }
    let v4 = match port.fwd.host_ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => return Err(Answer::Continue),
    };
    // `::ffff:0.0.0.0` is the IPv4 wildcard alone: IPv6 clients of a port
    // published on it are refused.
    let v6 = if v4.is_unspecified() && !port.fwd.ipv4_only {
        Ipv6Addr::UNSPECIFIED
    } else {
        v4.to_ipv6_mapped()
    };
    let addr = SocketAddr::new(IpAddr::V6(v6), port.fwd.host_port);
    let fresh = Socket::new(Domain::IPV6, ty, None).map_err(|_| Answer::Continue)?;
    let _ = fresh.set_only_v6(false);
    if ty == Type::STREAM {
        let _ = fresh.set_reuse_address(true);
    }
    // Close the IPv4 socket first: both cannot hold the port.
    let old = std::mem::replace(&mut port.socket, fresh);
    let old_addr = old.local_addr();
    drop(old);
    if port.socket.bind(&addr.into()).is_ok() {
        return Ok(());
    }
    // Someone took the port in between: put the IPv4 socket back if we can.
    if let Ok(a) = old_addr {
        if let Ok(s) = Socket::new(Domain::IPV4, ty, None) {
            if ty == Type::STREAM {
                let _ = s.set_reuse_address(true);
            }
            if s.bind(&a).is_ok() {
                port.socket = s;
            }
        }
    }
    Err(Answer::Fail(libc::EADDRINUSE))
}

/// Carries the options a server sets before `bind` over to our socket, and
/// its blocking mode (a file status flag of the socket).
fn copy_options(theirs: &SockRef<'_>, ours: &SockRef<'_>, proto: Proto) {
    // A TCP host socket keeps SO_REUSEADDR whatever the server asked for:
    // its connections inherit it, and without it their TIME-WAIT would
    // hold the host port against the next run for a minute.
    if proto == Proto::Udp {
        if let Ok(v) = theirs.reuse_address() {
            let _ = ours.set_reuse_address(v);
        }
    }
    if let Ok(v) = theirs.reuse_port() {
        let _ = ours.set_reuse_port(v);
    }
    if let Ok(v) = theirs.keepalive() {
        let _ = ours.set_keepalive(v);
    }
    match proto {
        Proto::Tcp => {
            if let Ok(v) = theirs.tcp_nodelay() {
                let _ = ours.set_tcp_nodelay(v);
            }
        }
        Proto::Udp => {
            if let Ok(v) = theirs.broadcast() {
                let _ = ours.set_broadcast(v);
            }
        }
    }
    if let Ok(v) = theirs.nonblocking() {
        let _ = ours.set_nonblocking(v);
    }
}

/// The process (thread group) of thread `tid`: notifications name the
/// calling thread, and pidfds are for processes (a Go server binds from
/// whichever thread its goroutine runs on).
fn process_of(tid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid)
}

/// Whether fd `fd` of `pid` is close-on-exec (from its fdinfo).
fn fd_cloexec(pid: u32, fd: i32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|f| f & libc::O_CLOEXEC as u32 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(ip);
        b.extend([0u8; 8]);
        b
    }

    fn sin6(ip: Ipv6Addr, port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend([0u8; 4]);
        b.extend(ip.octets());
        b.extend([0u8; 4]);
        b
    }

    #[test]
    fn sockaddrs() {
        assert_eq!(
            parse_sockaddr(&sin([0, 0, 0, 0], 80)),
            Some(BindAddr {
                ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 80
            })
        );
        let a = parse_sockaddr(&sin6(Ipv6Addr::UNSPECIFIED, 8080)).unwrap();
        assert_eq!((a.ip, a.port), (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8080));
        // Too short, or another family (AF_UNIX).
        assert_eq!(parse_sockaddr(&sin([1, 2, 3, 4], 1)[..6]), None);
        assert_eq!(parse_sockaddr(&sin6(Ipv6Addr::LOCALHOST, 1)[..20]), None);
        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend(b"/tmp/x\0");
        assert_eq!(parse_sockaddr(&unix), None);
        assert_eq!(parse_sockaddr(&[]), None);
    }

    #[test]
    fn which_addresses_are_served() {
        let c = Ipv4Addr::new(10, 0, 2, 100);
        assert!(serves(IpAddr::V4(Ipv4Addr::UNSPECIFIED), c));
        assert!(serves(IpAddr::V4(c), c));
        assert!(serves(IpAddr::V6(Ipv6Addr::UNSPECIFIED), c));
        assert!(serves(IpAddr::V6(c.to_ipv6_mapped()), c));
        assert!(!serves(IpAddr::V4(Ipv4Addr::LOCALHOST), c));
        assert!(!serves(IpAddr::V6(Ipv6Addr::LOCALHOST), c));
        assert!(!serves(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 5)), c));
    }
}
