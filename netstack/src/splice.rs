//! The splice port driver: published TCP ports without the userspace stack.
//!
//! **Goal.** Move bytes between a host client and the container at the
//! speed of the kernel's loopback. Each accepted host connection gets a
//! second TCP socket opened *inside the container's network namespace* and
//! connected to `container address:port` there; bytes then go socket →
//! pipe → socket with `splice(2)` in both directions, so the payload pages
//! are never copied through user space.
//!
//! **How the socket gets into the namespace.** The namespace comes from the
//! TAP fd itself (TUNGETDEVNETNS). One thread, `netsplice`, enters it with
//! `setns` when it starts (a network namespace switch is per thread) and
//! runs the forwarding loop there: sockets it creates belong to the
//! container's namespace, while the host listeners and accepted
//! connections, made earlier in the host namespace, stay there. The thread
//! brings the namespace's loopback up (a container runtime does anyway):
//! connections to the namespace's own address go through it.
//!
//! **Semantics.** The container sees every client as coming from its own
//! address (the connection is local to its namespace): the client's source
//! address is lost, which is why the smoltcp driver stays the default. A
//! port nobody listens on in the container resets the client. EOF on one
//! side becomes `shutdown(SHUT_WR)` on the other once the pipe of that
//! direction is empty (half-close); a reset or error on either side resets
//! the other (`SO_LINGER` 0) and ends the connection. UDP ports stay on the
//! smoltcp path.
//!
//! **Event loop.** One edge-triggered epoll set over the listeners, the
//! stop pipe and both sockets of each connection. Any event on a
//! connection pumps both directions until neither can make progress, so no
//! readiness has to be remembered. A socket is watched for EPOLLOUT only
//! while data waits for it (or while it connects), so ACKs do not wake the
//! loop. Per connection: two sockets and two
//! pipes (six fds), released together. SIGPIPE is blocked on the thread:
//! splicing into a reset socket raises it.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

use crate::sys::{self, Epoll, EV_ERR, EV_IN, EV_OUT, EV_RDHUP};
use crate::worker::Worker;
use crate::{Error, PortForward, Result};

/// Requested size of each pipe (the kernel's default cap for users).
const PIPE_SIZE: usize = 1 << 20;

const KIND_CTL: u64 = 0;
const KIND_LISTEN: u64 = 1;
const KIND_CONN: u64 = 2;

fn token(kind: u64, idx: usize) -> u64 {
    (kind << 32) | idx as u64
}

/// One direction of a connection: `src` → pipe → `dst`.
struct Half {
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    /// Bytes in the pipe.
    queued: usize,
    /// `src` reached EOF.
    eof: bool,
    /// EOF forwarded (`dst` shut for writing).
    shut: bool,
}

impl Half {
    fn new() -> io::Result<Self> {
        let (pipe_r, pipe_w) = sys::pipe(PIPE_SIZE)?;
        Ok(Self {
            pipe_r,
            pipe_w,
            queued: 0,
            eof: false,
            shut: false,
        })
    }

    /// Moves what it can from `src` to `dst`; `Err` on a reset or hard error.
    fn pump(&mut self, src: &TcpStream, dst: &TcpStream, cap: usize) -> io::Result<()> {
        loop {
            let mut progress = false;
            if !self.eof && self.queued < cap {
                match sys::splice(src.as_fd(), self.pipe_w.as_fd(), cap - self.queued) {
                    Ok(0) => {
                        self.eof = true;
                        progress = true;
                    }
                    Ok(n) => {
                        self.queued += n;
                        progress = true;
                    }
                    Err(e) if retry_later(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            if self.queued > 0 {
                match sys::splice(self.pipe_r.as_fd(), dst.as_fd(), self.queued) {
                    Ok(n) => {
                        self.queued -= n;
                        progress |= n > 0;
                    }
                    Err(e) if retry_later(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            if !progress {
                break;
            }
        }
        if self.eof && self.queued == 0 && !self.shut {
            self.shut = true;
            dst.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }
}

fn retry_later(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// One spliced connection.
struct Conn {
    /// The accepted host connection.
    client: TcpStream,
    /// The socket inside the container's namespace.
    ctr: TcpStream,
    connected: bool,
    /// Whether EPOLLOUT is in the interest of `client` / `ctr`.
    out: [bool; 2],
    /// client → container.
    up: Half,
    /// container → client.
    down: Half,
}

/// What happened to a connection after pumping it.
enum Outcome {
    Open,
    Done,
    Reset,
}

impl Conn {
    fn pump(&mut self, cap: usize) -> Outcome {
        if !self.connected {
            match self.ctr.take_error() {
                Ok(None) if self.ctr.peer_addr().is_ok() => self.connected = true,
                Ok(None) => return Outcome::Open, // still connecting
                _ => return Outcome::Reset,       // refused: nobody listens
            }
        }
        if self.up.pump(&self.client, &self.ctr, cap).is_err()
            || self.down.pump(&self.ctr, &self.client, cap).is_err()
        {
            return Outcome::Reset;
        }
        if self.up.shut && self.down.shut {
            Outcome::Done
        } else {
            Outcome::Open
        }
    }

    /// Asks for EPOLLOUT only on a side that is blocked on writing (or
    /// still connecting): otherwise every ACK would wake the loop.
    fn update_interest(&mut self, epoll: &Epoll, tok: u64) {
        let want = [self.down.queued > 0, !self.connected || self.up.queued > 0];
        for (i, s) in [&self.client, &self.ctr].into_iter().enumerate() {
            if want[i] != self.out[i] {
                let interest = if want[i] { INTEREST | EV_OUT } else { INTEREST };
                if epoll.modify(s.as_fd(), interest, tok).is_ok() {
                    self.out[i] = want[i];
                }
            }
        }
    }
}

/// What every connection socket is watched for, EPOLLOUT aside.
const INTEREST: u32 = EV_IN | EV_RDHUP | EV_ERR;

/// The forwarding loop's state (lives on the `netsplice` thread).
struct Splicer {
    epoll: Epoll,
    listeners: Vec<(PortForward, TcpListener)>,
    target: Ipv4Addr,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Bytes each pipe holds.
    cap: usize,
    host_buffer: usize,
}

/// The running `netsplice` thread; stopping it (or dropping this) closes
/// every spliced connection and listener.
pub(crate) struct SpliceThread {
    worker: Worker<()>,
}

impl SpliceThread {
    /// Starts forwarding `listeners` to `target` inside the namespace of
    /// `tap`. Returns once the thread has entered that namespace.
    pub fn start(
        tap: &OwnedFd,
        listeners: Vec<(PortForward, TcpListener)>,
        target: Ipv4Addr,
        host_buffer: usize,
    ) -> Result<SpliceThread> {
        let netns = sys::tap_netns(tap.as_fd())
            .map_err(|e| Error::io("find the container's network namespace", e))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let worker = Worker::spawn("netsplice", move |stop| {
            let splicer = match sys::block_sigpipe()
                .map_err(|e| Error::io("block SIGPIPE", e))
                .and_then(|()| {
                    sys::setns_net(netns.as_fd())
                        .map_err(|e| Error::io("enter the container's network namespace", e))
                })
                .and_then(|()| crate::tap::loopback_up())
                .and_then(|()| Splicer::new(listeners, target, host_buffer, &stop))
            {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            drop(netns);
            let _ = tx.send(Ok(()));
            splicer.run();
        })
        .map_err(|e| Error::io("start the splice thread", e))?;
        let started = rx.recv().unwrap_or_else(|_| {
            Err(Error::io(
                "start the splice thread",
                io::Error::other("thread died"),
            ))
        });
        let mut handle = SpliceThread { worker };
        match started {
            Ok(()) => Ok(handle),
            Err(e) => {
                handle.stop();
                Err(e)
            }
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        let _ = self.worker.stop();
    }
}

impl Splicer {
    fn new(
        listeners: Vec<(PortForward, TcpListener)>,
        target: Ipv4Addr,
        host_buffer: usize,
        stop: &OwnedFd,
    ) -> Result<Splicer> {
        let epoll = Epoll::new(256).map_err(|e| Error::io("create epoll", e))?;
        epoll
            .add(stop.as_fd(), EV_IN, token(KIND_CTL, 0))
            .map_err(|e| Error::io("register stop fd", e))?;
        for (i, (_, l)) in listeners.iter().enumerate() {
            epoll
                .add(l.as_fd(), EV_IN, token(KIND_LISTEN, i))
                .map_err(|e| Error::io("register TCP listener", e))?;
        }
        // The pipe size the kernel granted bounds what one splice queues.
        let cap = Half::new()
            .ok()
            .and_then(|h| sys::pipe_size(h.pipe_w.as_fd()).ok())
            .unwrap_or(65536);
        Ok(Splicer {
            epoll,
            listeners,
            target,
            conns: Vec::new(),
            free: Vec::new(),
            cap,
            host_buffer,
        })
    }

    fn run(mut self) {
        // The stop pipe stays open for the thread's life (owned by the
        // caller's closure), so a stop byte is always seen.
        let mut ready = Vec::new();
        let mut accept = vec![true; self.listeners.len()];
        // Listeners whose accept ran out of fds or memory: their queued
        // connections raise no new edge, so they are retried on a timer.
        let mut starved = vec![false; self.listeners.len()];
        loop {
            let mut stopped = false;
            ready.clear();
            let timeout = if starved.contains(&true) { 100 } else { -1 };
            let r = self.epoll.wait(timeout, |tok, _| match tok >> 32 {
                KIND_CTL => stopped = true,
                KIND_LISTEN => {
                    if let Some(a) = accept.get_mut((tok & 0xffff_ffff) as usize) {
                        *a = true;
                    }
                }
                _ => ready.push((tok & 0xffff_ffff) as usize),
            });
            if r.is_err() || stopped {
                break;
            }
            for (i, a) in accept.iter_mut().enumerate() {
                if std::mem::take(a) || starved[i] {
                    starved[i] = self.accept(i);
                }
            }
            for &idx in &ready {
                self.pump(idx);
            }
        }
        for idx in 0..self.conns.len() {
            self.remove(idx, true);
        }
    }

    /// Accepts every queued connection of listener `i`. True when it had to
    /// stop short of the queue's end (out of fds or memory): retry later.
    fn accept(&mut self, i: usize) -> bool {
        loop {
            let (client, _) = match self.listeners[i].1.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            };
            let port = self.listeners[i].0.container_port;
            match self.connect(client, port) {
                Ok(idx) => self.pump(idx),
                Err(client) => reset(&client),
            }
        }
    }

    /// Opens the container-side socket and registers the pair.
    fn connect(&mut self, client: TcpStream, port: u16) -> std::result::Result<usize, TcpStream> {
        let tune = |s: SockRef<'_>| {
            let _ = s.set_tcp_nodelay(true);
            let _ = s.set_send_buffer_size(self.host_buffer);
            let _ = s.set_recv_buffer_size(self.host_buffer);
        };
        if client.set_nonblocking(true).is_err() {
            return Err(client);
        }
        tune(SockRef::from(&client));
        let Ok(sock) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
            return Err(client);
        };
        tune(SockRef::from(&sock));
        if sock.set_nonblocking(true).is_err() {
            return Err(client);
        }
        let addr = SocketAddrV4::new(self.target, port);
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(_) => return Err(client),
        }
        let (Ok(up), Ok(down)) = (Half::new(), Half::new()) else {
            return Err(client);
        };
        let conn = Conn {
            client,
            ctr: sock.into(),
            connected: false,
            out: [false, true],
            up,
            down,
        };
        let idx = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let tok = token(KIND_CONN, idx);
        let registered = self.epoll.add(conn.client.as_fd(), INTEREST, tok).is_ok()
            && self
                .epoll
                .add(conn.ctr.as_fd(), INTEREST | EV_OUT, tok)
                .is_ok();
        if !registered {
            let _ = self.epoll.delete(conn.client.as_fd());
            self.free.push(idx);
            return Err(conn.client);
        }
        self.conns[idx] = Some(conn);
        Ok(idx)
    }

    fn pump(&mut self, idx: usize) {
        let cap = self.cap;
        let outcome = match self.conns.get_mut(idx) {
            Some(Some(c)) => {
                let o = c.pump(cap);
                if matches!(o, Outcome::Open) {
                    c.update_interest(&self.epoll, token(KIND_CONN, idx));
                }
                o
            }
            _ => return,
        };
        match outcome {
            Outcome::Open => {}
            Outcome::Done => self.remove(idx, false),
            Outcome::Reset => self.remove(idx, true),
        }
    }

    /// Closes connection `idx`; with `abort`, both sides see a reset.
    fn remove(&mut self, idx: usize, abort: bool) {
        let Some(conn) = self.conns.get_mut(idx).and_then(Option::take) else {
            return;
        };
        let _ = self.epoll.delete(conn.client.as_fd());
        let _ = self.epoll.delete(conn.ctr.as_fd());
        if abort {
            reset(&conn.client);
            reset(&conn.ctr);
        }
        self.free.push(idx);
    }
}

/// Makes the coming close send RST instead of FIN.
fn reset(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}
