//! The TCP side of a network's DNS server (gateway, port 53).
//!
//! Theory of operation: the listening socket and every accepted connection
//! are non-blocking and polled by the server's one loop
//! ([`super::dns::serve`]), with its UDP socket and the upstream ones, so a
//! client that connects and sends nothing, or half a message, holds only
//! its own connection. Each connection carries messages with a 2-byte
//! length first (RFC 1035 4.2.2, RFC 7766), possibly several at once
//! (pipelined): [`TcpClients::read`] returns every whole one read, and
//! the answers go back in the order they are ready, each with its length
//! ([`TcpClients::reply`]), through a buffer written as the client reads.
//!
//! Bounds, so a flood costs bounded memory and descriptors:
//! - at most [`MAX_CLIENTS`] connections; one more drops the connection
//!   idle the longest (nothing waiting upstream, nothing to write), or is
//!   closed at once if every one is busy;
//! - a connection without progress (a byte read or written) for [`IDLE`]
//!   closes, whatever it holds; one whose client has closed its side
//!   closes once its answers are written;
//! - a message is at most 65535 bytes (the framing's limit), so a
//!   connection buffers at most that much of a query;
//! - a connection with more than [`MAX_UNSENT`] bytes of answers its
//!   client does not read is not read any further until it does;
//! - its forwarded queries count against the per-client bounds of
//!   [`super::forward`] (by address, with its UDP queries), and are
//!   forgotten when it closes.
//!
//! An accept that fails (descriptors exhausted) pauses the listener for
//! [`PAUSE`], so the loop does not spin on a connection it cannot take.

use super::forward::{Client, InFlight};
use rustix::event::PollFlags;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Connections served at once, per network.
pub const MAX_CLIENTS: usize = 64;
/// How long a connection may make no progress.
pub const IDLE: Duration = Duration::from_secs(10);
/// Unsent answer bytes beyond which a connection is not read.
pub const MAX_UNSENT: usize = 128 * 1024;
/// How long the listener rests after a failed accept.
const PAUSE: Duration = Duration::from_millis(100);
/// Connections accepted per pass of the loop.
const ACCEPT_BATCH: usize = 16;
/// Bytes read from one connection per pass.
const READ_CHUNK: usize = 16 * 1024;

/// The listener and the connections of one network's server.
pub struct TcpClients {
    listener: TcpListener,
    conns: BTreeMap<u64, Conn>,
    next: u64,
    paused_until: Option<Instant>,
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    ip: IpAddr,
    /// Bytes read that do not make a whole message yet.
    got: Vec<u8>,
    /// Answers not written yet.
    out: Vec<u8>,
    /// The last byte read or written (or the accept).
    last: Instant,
    /// The client closed its side.
    eof: bool,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.out.len()
    }

    /// Writes what it can (and drops it from `out`, so that `out` holds
    /// only what is unsent); false when the connection is broken.
    fn flush(&mut self, now: Instant) -> bool {
        let mut sent = 0;
        let ok = loop {
            if sent == self.out.len() {
                break true;
            }
            match self.stream.write(&self.out[sent..]) {
                Ok(0) => break false,
                Ok(n) => {
                    sent += n;
                    self.last = now;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        self.out.drain(..sent);
        ok
    }
}

/// What a ready connection gave.
pub enum Readiness {
    /// The whole messages read (perhaps none).
    Messages(Client, Vec<Vec<u8>>),
    /// It closed (an error): its client, for [`InFlight::forget`].
    Closed(Client),
}

/// What to poll: the listener, or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Listener,
    Conn(u64),
}

impl TcpClients {
    /// Serves `listener` (made non-blocking).
    pub fn new(listener: TcpListener) -> std::io::Result<TcpClients> {
        listener.set_nonblocking(true)?;
        Ok(TcpClients {
            listener,
            conns: BTreeMap::new(),
            next: 0,
            paused_until: None,
        })
    }

    /// Connections open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// The client of connection `conn`, for [`InFlight`].
    fn client(conn: u64, c: &Conn) -> Client {
        Client::Tcp { conn, ip: c.ip }
    }

    /// What to poll, with what to wait for.
    pub fn interests(&self, now: Instant) -> Vec<(Source, BorrowedFd<'_>, PollFlags)> {
        let mut v = Vec::with_capacity(self.conns.len() + 1);
        if self.paused_until.is_none_or(|t| t <= now) {
            v.push((Source::Listener, self.listener.as_fd(), PollFlags::IN));
        }
        for (&id, c) in &self.conns {
            let mut f = PollFlags::empty();
            if !c.eof && c.unsent() <= MAX_UNSENT {
                f |= PollFlags::IN;
            }
            if c.unsent() > 0 {
                f |= PollFlags::OUT;
            }
            // Nothing to wait for (its client closed its side, its answers
            // are upstream): not polled, as a hang-up would be reported
            // at every pass.
            if !f.is_empty() {
                v.push((Source::Conn(id), c.stream.as_fd(), f));
            }
        }
        v
    }

    /// The earliest moment a connection falls idle, or the listener
    /// resumes.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .values()
            .map(|c| c.last + IDLE)
            .chain(self.paused_until)
            .min()
    }

    /// Takes the connections waiting; returns the clients of those it
    /// dropped to make room.
    pub fn accept(&mut self, flight: &InFlight, now: Instant) -> Vec<Client> {
        let mut dropped = Vec::new();
        for _ in 0..ACCEPT_BATCH {
            let (stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.paused_until = Some(now + PAUSE);
                    break;
                }
            };
            self.paused_until = None;
            if self.conns.len() >= MAX_CLIENTS {
                let idle = self
                    .conns
                    .iter()
                    .filter(|(&id, c)| c.unsent() == 0 && !flight.waiting(Self::client(id, c)))
                    .min_by_key(|(_, c)| c.last)
                    .map(|(&id, _)| id);
                match idle {
                    Some(id) => dropped.extend(self.close(id)),
                    // Every one busy: this one is refused (closed).
                    None => continue,
                }
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let id = self.next;
            self.next += 1;
            self.conns.insert(
                id,
                Conn {
                    stream,
                    ip: peer.ip(),
                    got: Vec::new(),
                    out: Vec::new(),
                    last: now,
                    eof: false,
                },
            );
        }
        dropped
    }

    /// Closes connection `conn`; its client, for [`InFlight::forget`].
    fn close(&mut self, conn: u64) -> Option<Client> {
        self.conns.remove(&conn).map(|c| Self::client(conn, &c))
    }

    /// Connection `conn` is ready: writes what waits, reads what came.
    pub fn ready(&mut self, conn: u64, buf: &mut [u8], now: Instant) -> Option<Readiness> {
        let c = self.conns.get_mut(&conn)?;
        let client = Self::client(conn, c);
        if !c.flush(now) {
            self.close(conn);
            return Some(Readiness::Closed(client));
        }
        if c.eof || c.unsent() > MAX_UNSENT {
            return None;
        }
        let cap = READ_CHUNK.min(buf.len());
        match c.stream.read(&mut buf[..cap]) {
            Ok(0) => c.eof = true,
            Ok(n) => {
                c.got.extend_from_slice(&buf[..n]);
                c.last = now;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => {
                self.close(conn);
                return Some(Readiness::Closed(client));
            }
        }
        Some(Readiness::Messages(client, messages(&mut c.got)))
    }

    /// Queues `packet` for connection `conn` (gone: nothing) and writes
    /// what it can.
    pub fn reply(&mut self, conn: u64, packet: &[u8], now: Instant) -> Option<Client> {
        let c = self.conns.get_mut(&conn)?;
        // Answers are at most 65535 bytes (built so, or read so upstream).
        let len = u16::try_from(packet.len()).ok()?;
        c.out.extend_from_slice(&len.to_be_bytes());
        c.out.extend_from_slice(packet);
        if c.flush(now) {
            None
        } else {
            self.close(conn)
        }
    }

    /// Closes the connections idle too long, and those whose client is
    /// done (closed its side, every answer written); returns their
    /// clients. Ends a pause of the listener that is over.
    pub fn expire(&mut self, flight: &InFlight, now: Instant) -> Vec<Client> {
        if self.paused_until.is_some_and(|t| t <= now) {
            self.paused_until = None;
        }
        let done: Vec<u64> = self
            .conns
            .iter()
            .filter(|(&id, c)| {
                now >= c.last + IDLE
                    || (c.eof && c.unsent() == 0 && !flight.waiting(Self::client(id, c)))
            })
            .map(|(&id, _)| id)
            .collect();
        done.into_iter().filter_map(|id| self.close(id)).collect()
    }
}

/// Takes the whole messages at the front of `got` (each after its
/// length); what remains is the start of the next one.
pub fn messages(got: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(l) = got.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
        let Some(m) = got.get(at + 2..at + 2 + len) else {
            break;
        };
        out.push(m.to_vec());
        at += 2 + len;
    }
    got.drain(..at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn messages_split_pipelined_and_partial() {
        let mut got = vec![0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'x'];
        assert_eq!(messages(&mut got), vec![b"abc".to_vec(), vec![]]);
        assert_eq!(got, [0, 2, b'x']);
        got.push(b'y');
        got.push(0);
        assert_eq!(messages(&mut got), vec![b"xy".to_vec()]);
        assert_eq!(got, [0]);
        assert!(messages(&mut got).is_empty());
        assert_eq!(got, [0]);
    }

    fn pair(t: &mut TcpClients, now: Instant) -> (TcpStream, Vec<Client>) {
        let addr = t.listener.local_addr().unwrap();
        let s = TcpStream::connect(addr).unwrap();
        let mut dropped = Vec::new();
        let n = t.len();
        for _ in 0..1000 {
            dropped.extend(t.accept(&InFlight::default(), now));
            if t.len() > n || !dropped.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        (s, dropped)
    }

    #[test]
    fn full_drops_the_idlest_and_idle_ones_close() {
        let mut t = TcpClients::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let t0 = Instant::now();
        let mut keep = Vec::new();
        for i in 0..MAX_CLIENTS {
            let (s, d) = pair(&mut t, t0 + Duration::from_millis(i as u64));
            assert!(d.is_empty());
            keep.push(s);
        }
        assert_eq!(t.len(), MAX_CLIENTS);
        // One more: the first (idle longest) goes.
        let (_s, d) = pair(&mut t, t0 + Duration::from_secs(1));
        assert_eq!(t.len(), MAX_CLIENTS);
        let first = match d.as_slice() {
            [Client::Tcp { conn: 0, ip }] => *ip,
            d => panic!("{d:?}"),
        };
        assert_eq!(first, SocketAddr::from(([127, 0, 0, 1], 0)).ip());
        let mut b = [0u8; 4];
        keep[0]
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(keep[0].read(&mut b).unwrap(), 0, "not closed");
        // No progress for IDLE: all of them close.
        let f = InFlight::default();
        assert!(t.expire(&f, t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(t.expire(&f, t0 + IDLE + Duration::from_secs(1)).len(), 64);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn unread_answers_stop_reading_until_read() {
        let mut t = TcpClients::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let now = Instant::now();
        let (mut s, _) = pair(&mut t, now);
        let id = *t.conns.keys().next().unwrap();
        let flags = |t: &TcpClients| {
            t.interests(now)
                .into_iter()
                .find(|(src, _, _)| *src == Source::Conn(id))
                .map(|(_, _, f)| f)
        };
        assert_eq!(flags(&t), Some(PollFlags::IN));
        // Answers the client does not read, until the kernel's buffers
        // are full and more than MAX_UNSENT waits here.
        let big = vec![7u8; 60000];
        let mut queued = 0;
        while t.conns[&id].unsent() <= MAX_UNSENT {
            assert_eq!(t.reply(id, &big, now), None);
            queued += big.len() + 2;
            assert!(queued < 256 << 20, "the kernel took {queued} bytes");
        }
        assert_eq!(flags(&t), Some(PollFlags::OUT), "still read");
        let mut buf = vec![0u8; 65536];
        assert!(t.ready(id, &mut buf, now).is_none());
        // The client reads it all: the connection is read again.
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; queued];
            s.read_exact(&mut got).unwrap();
            (s, got)
        });
        while t.conns[&id].unsent() > 0 {
            let _ = t.ready(id, &mut buf, now);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (_s, got) = reader.join().unwrap();
        assert_eq!(&got[..2], &[0xea, 0x60]);
        assert_eq!(flags(&t), Some(PollFlags::IN));
    }
}
