//! TCP translation: container connections to host sockets and host
//! listeners into the container. See the crate docs for the handshake
//! trick (held SYN) and [`crate::flow::TcpHalves`] for close semantics.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration as StdDuration;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};
use socket2::{Domain, SockRef, Socket, Type};

use crate::device::Frame;
use crate::flow::{Action, Side, TcpHalves};
use crate::stack::{token, Core, KIND_TCP_FLOW};
use crate::sys::{EV_ERR, EV_IN, EV_OUT, EV_RDHUP};
use crate::{PortForward, Proto};

/// (container endpoint, remote endpoint as the container sees it)
type Key = (SocketAddrV4, SocketAddrV4);

struct TcpFlow {
    key: Key,
    host: TcpStream,
    handle: Option<SocketHandle>,
    /// The container's SYN, held while the host connect is in progress.
    syn: Option<Vec<u8>>,
    readable: bool,
    writable: bool,
    error: bool,
    halves: TcpHalves,
    /// We reset the container side; remove once the RST went out.
    aborted: bool,
}

/// All translated TCP connections.
#[derive(Default)]
pub(crate) struct TcpNat {
    flows: Vec<Option<TcpFlow>>,
    free: Vec<usize>,
    by_key: HashMap<Key, usize>,
    next_port: u16,
}

fn ep(a: SocketAddrV4) -> IpEndpoint {
    IpEndpoint::new((*a.ip()).into(), a.port())
}

fn new_socket(core: &Core) -> tcp::Socket<'static> {
    let n = core.config.tcp_buffer;
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; n]),
        tcp::SocketBuffer::new(vec![0u8; n]),
    );
    s.set_nagle_enabled(false);
    s.set_ack_delay(None);
    s.set_keep_alive(Some(Duration::from_secs(30)));
    s.set_timeout(Some(Duration::from_secs(120)));
    s
}

impl TcpNat {
    fn insert(&mut self, core: &mut Core, flow: TcpFlow) -> Option<usize> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.flows.push(None);
            self.flows.len() - 1
        });
        let interest = EV_IN | EV_OUT | EV_RDHUP | EV_ERR;
        if core
            .epoll
            .add(flow.host.as_fd(), interest, token(KIND_TCP_FLOW, idx))
            .is_err()
        {
            self.free.push(idx);
            return None;
        }
        self.by_key.insert(flow.key, idx);
        self.flows[idx] = Some(flow);
        Some(idx)
    }

    fn remove(&mut self, core: &mut Core, idx: usize) {
        let Some(flow) = self.flows[idx].take() else {
            return;
        };
        self.free.push(idx);
        self.by_key.remove(&flow.key);
        let _ = core.epoll.delete(flow.host.as_fd());
        if let Some(h) = flow.handle {
            core.sockets.remove(h);
        }
        if flow.halves.reset() == Some(Side::Container) {
            // Forward the reset: closing with a zero linger sends RST.
            let _ = SockRef::from(&flow.host).set_linger(Some(StdDuration::ZERO));
        }
    }

    /// Epoll readiness for flow `idx`.
    pub fn mark(&mut self, idx: usize, ev: u32) {
        if let Some(Some(f)) = self.flows.get_mut(idx) {
            if ev & (EV_IN | EV_RDHUP) != 0 {
                f.readable = true;
            }
            if ev & EV_OUT != 0 {
                f.writable = true;
            }
            if ev & EV_ERR != 0 {
                f.error = true;
                f.readable = true;
                f.writable = true;
            }
        }
    }

    /// A SYN from the container. Returns the frame if smoltcp should see it
    /// now; keeps it if a host connect was started.
    pub fn on_syn(
        &mut self,
        core: &mut Core,
        frame: Frame,
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Option<Frame> {
        if let Some(&idx) = self.by_key.get(&(src, dst)) {
            let pending = self.flows[idx].as_ref().is_some_and(|f| f.syn.is_some());
            if pending {
                core.dev.recycle(frame); // retransmitted SYN while connecting
                return None;
            }
            return Some(frame);
        }
        let Some(target) = core.host_target(dst, Proto::Tcp) else {
            return Some(frame); // no listener: smoltcp answers RST
        };
        let Ok(sock) = Socket::new(Domain::for_address(target), Type::STREAM, None) else {
            return Some(frame);
        };
        core.tune_host_socket(SockRef::from(&sock), true);
        if sock.set_nonblocking(true).is_err() {
            return Some(frame);
        }
        match sock.connect(&target.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(_) => return Some(frame),
        }
        let flow = TcpFlow {
            key: (src, dst),
            host: sock.into(),
            handle: None,
            syn: Some(frame.bytes().to_vec()),
            readable: false,
            writable: false,
            error: false,
            halves: TcpHalves::new(core.now()),
            aborted: false,
        };
        if self.insert(core, flow).is_none() {
            return Some(frame);
        }
        core.dev.recycle(frame);
        None
    }

    /// Accepts pending connections on published listener `i`. Returns
    /// whether the listener may have more (stopped early).
    pub fn accept(&mut self, core: &mut Core, _i: usize, l: &(PortForward, TcpListener)) -> bool {
        let (pf, listener) = l;
        for _ in 0..64 {
            let (stream, client) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return false,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            core.tune_host_socket(SockRef::from(&stream), true);
            let container = SocketAddrV4::new(core.config.addr, pf.container_port);
            let src_ip = core.client_address(client.ip());
            let mut remote = SocketAddrV4::new(src_ip, client.port());
            if self.by_key.contains_key(&(container, remote)) || remote.port() == 0 {
                remote.set_port(self.free_port(container, src_ip));
            }
            let mut sock = new_socket(core);
            if sock
                .connect(core.iface.context(), ep(container), ep(remote))
                .is_err()
            {
                continue;
            }
            let handle = core.sockets.add(sock);
            let flow = TcpFlow {
                key: (container, remote),
                host: stream,
                handle: Some(handle),
                syn: None,
                readable: true,
                writable: true,
                error: false,
                halves: TcpHalves::new(core.now()),
                aborted: false,
            };
            if self.insert(core, flow).is_none() {
                core.sockets.remove(handle);
            }
        }
        true
    }

    fn free_port(&mut self, container: SocketAddrV4, ip: std::net::Ipv4Addr) -> u16 {
        for _ in 0..20_000 {
            self.next_port = if self.next_port < 40_000 || self.next_port == u16::MAX {
                40_000
            } else {
                self.next_port + 1
            };
            let cand = SocketAddrV4::new(ip, self.next_port);
            if !self.by_key.contains_key(&(container, cand)) {
                return self.next_port;
            }
        }
        self.next_port
    }

    /// Finishes pending host connects and copies data both ways.
    pub fn pump(&mut self, core: &mut Core) {
        for idx in 0..self.flows.len() {
            let pending = match &self.flows[idx] {
                Some(f) => f.syn.is_some(),
                None => continue,
            };
            if pending {
                self.finish_connect(core, idx);
            } else {
                self.pump_one(core, idx);
            }
        }
    }

    fn finish_connect(&mut self, core: &mut Core, idx: usize) {
        let Some(f) = self.flows[idx].as_mut() else {
            return;
        };
        if !(f.writable || f.error) {
            return;
        }
        let connected = match f.host.take_error() {
            Ok(None) => f.host.peer_addr().is_ok(),
            _ => false,
        };
        let syn = f.syn.take().unwrap_or_default();
        let dst = f.key.1;
        f.error = false;
        if connected {
            let mut sock = new_socket(core);
            let listen = IpListenEndpoint {
                addr: Some((*dst.ip()).into()),
                port: dst.port(),
            };
            if sock.listen(listen).is_ok() {
                f.handle = Some(core.sockets.add(sock));
            }
        }
        let frame = core.dev.frame_from(&syn);
        core.dev.enqueue_front(frame);
        core.poll();
        let Some(f) = self.flows[idx].as_mut() else {
            return;
        };
        let ok = f
            .handle
            .is_some_and(|h| core.sockets.get::<tcp::Socket>(h).state() == State::SynReceived);
        if !ok {
            // Refused (smoltcp already answered the SYN with RST) or the
            // SYN did not land on our listener.
            f.halves.reset_by(Side::Host);
            self.remove(core, idx);
        }
    }

    fn pump_one(&mut self, core: &mut Core, idx: usize) {
        let now = core.now();
        let Some(f) = self.flows[idx].as_mut() else {
            return;
        };
        let Some(h) = f.handle else {
            return;
        };
        if f.aborted {
            return;
        }
        let sock = core.sockets.get_mut::<tcp::Socket>(h);
        let mut moved = false;
        // Container → host.
        while f.writable && sock.can_recv() {
            let host = &f.host;
            let r = sock.recv(|buf| match (&*host).write(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match r {
                Ok(Ok(0)) => break,
                Ok(Ok(_)) => moved = true,
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => f.writable = false,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(_)) => {
                    host_failed(f, sock);
                    return;
                }
                Err(_) => break,
            }
        }
        let fin_seen = matches!(
            sock.state(),
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        );
        if fin_seen && sock.recv_queue() == 0 && f.halves.container_eof() == Action::ShutdownHost {
            let _ = f.host.shutdown(Shutdown::Write);
        }
        // Host → container.
        while f.readable && !f.halves.host_done() && sock.may_send() {
            let host = &f.host;
            let r = sock.send(|buf| {
                if buf.is_empty() {
                    return (0, Ok(None));
                }
                match (&*host).read(buf) {
                    Ok(n) => (n, Ok(Some(n))),
                    Err(e) => (0, Err(e)),
                }
            });
            match r {
                Ok(Ok(None)) => break, // smoltcp buffer full
                Ok(Ok(Some(0))) => {
                    if f.halves.host_eof() == Action::CloseContainer {
                        sock.close();
                    }
                }
                Ok(Ok(Some(_))) => moved = true,
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => f.readable = false,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(_)) => {
                    host_failed(f, sock);
                    return;
                }
                Err(_) => break,
            }
        }
        if f.error && !f.halves.finished() {
            if let Ok(Some(_)) = f.host.take_error() {
                host_failed(f, sock);
                return;
            }
            f.error = false;
        }
        if moved {
            f.halves.activity(now);
        }
    }

    /// Removes finished flows.
    pub fn reap(&mut self, core: &mut Core) {
        for idx in 0..self.flows.len() {
            let Some(f) = self.flows[idx].as_mut() else {
                continue;
            };
            let Some(h) = f.handle else {
                continue;
            };
            let sock = core.sockets.get::<tcp::Socket>(h);
            let st = sock.state();
            let done = if f.aborted {
                // abort() keeps the tuple until the RST has been sent.
                sock.remote_endpoint().is_none()
            } else {
                match st {
                    State::Listen => {
                        // RST during the handshake reverts a passive
                        // socket to LISTEN.
                        f.halves.reset_by(Side::Container);
                        true
                    }
                    State::Closed => {
                        if !f.halves.finished() && sock.recv_queue() == 0 {
                            f.halves.reset_by(Side::Container);
                        }
                        f.halves.finished()
                    }
                    State::TimeWait => f.halves.finished(),
                    _ => false,
                }
            };
            if done {
                self.remove(core, idx);
            }
        }
    }

    /// Resets every connection (on stop) and drops all sockets.
    pub fn close_all(&mut self, core: &mut Core) {
        for idx in 0..self.flows.len() {
            if let Some(f) = self.flows[idx].as_mut() {
                if !f.halves.finished() {
                    f.halves.reset_by(Side::Container);
                }
                if let Some(h) = f.handle {
                    core.sockets.get_mut::<tcp::Socket>(h).abort();
                }
            }
        }
        core.egress();
        for idx in 0..self.flows.len() {
            self.remove(core, idx);
        }
    }
}

/// The host side failed (reset or hard error): reset the container side.
fn host_failed(f: &mut TcpFlow, sock: &mut tcp::Socket<'_>) {
    if let Action::Reset(Side::Container) = f.halves.reset_by(Side::Host) {
        sock.abort();
        f.aborted = true;
    }
}
