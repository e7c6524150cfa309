//! The TCP side of a network's DNS server (gateway, port 53).
//!
//! Theory of operation: the listening socket and every accepted connection
//! are non-blocking and polled by the server's one loop
//! ([`super::dns::serve`]), with its UDP socket and the upstream ones, so a
//! client that connects and sends nothing, or half a message, holds only
//! its own connection. Each connection carries messages with a 2-byte
//! length first (RFC 1035 4.2.2, RFC 7766), possibly several at once
//! (pipelined): [`TcpClients::ready`] reads, [`TcpClients::message`]
//! takes the whole ones one at a time (the loop answers each before it
//! takes the next, [`TcpClients::backlog`] says which connections have
//! one), and the answers go back in the order they are ready, each with
//! its length ([`TcpClients::reply`]), through a buffer written as the
//! client reads.
//!
//! Bounds, so a flood costs bounded memory and descriptors, and one
//! container cannot shut the others out:
//! - at most [`MAX_PER_IP`] connections of one client address: one more
//!   drops that address's idlest (nothing waiting upstream or to write
//!   first, then the one without progress the longest);
//! - at most [`MAX_CLIENTS`] connections; one more drops the idlest
//!   connection of the address holding the most (so never one of an
//!   address holding fewer), and is always taken;
//! - a connection without progress (a byte read or written, an answer
//!   queued) for [`IDLE`] closes, whatever it holds, unless a query of it
//!   is upstream (those are bounded by [`super::forward`]'s deadlines);
//!   one whose client has closed its side closes once its answers are
//!   written;
//! - a message is at most 65535 bytes (the framing's limit), and a
//!   connection is not read while it holds a whole message not taken, so
//!   it buffers at most that much and one read;
//! - no message is taken from a connection with more than [`MAX_UNSENT`]
//!   bytes of answers its client does not read (checked before each, so
//!   at most one answer more is queued), nor is it read, until it does;
//! - its forwarded queries count against the per-client bounds of
//!   [`super::forward`] (by address, with its UDP queries), and are
//!   forgotten when it closes.
//!
//! An accept that fails for want of descriptors or memory pauses the
//! listener for [`PAUSE`], so the loop does not spin on a connection it
//! cannot take; any other failure (the peer gave up first) is skipped.

use super::forward::{Client, InFlight};
use rustix::event::PollFlags;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Connections served at once, per network.
pub const MAX_CLIENTS: usize = 64;
/// Of those, from one client address.
pub const MAX_PER_IP: usize = 16;
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

    /// Whether `got` holds a whole message.
    fn has_message(&self) -> bool {
        whole(&self.got).is_some()
    }

    /// Whether it should be read: its client has not closed its side,
    /// its messages are taken, its unsent answers within bounds.
    fn readable(&self) -> bool {
        !self.eof && !self.has_message() && self.unsent() <= MAX_UNSENT
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

/// Whether an accept failed for want of resources (then the listener
/// rests), not for one connection (skipped).
fn accept_starved(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    e.raw_os_error().is_some_and(|n| {
        [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
            .iter()
            .any(|x| x.raw_os_error() == n)
    })
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
            if c.readable() {
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

    /// The earliest moment a connection falls idle (one with a query
    /// upstream does not), or the listener resumes.
    pub fn next_deadline(&self, flight: &InFlight) -> Option<Instant> {
        self.conns
            .iter()
            .filter(|(&id, c)| !flight.waiting(Self::client(id, c)))
            .map(|(_, c)| c.last + IDLE)
            .chain(self.paused_until)
            .min()
    }

    /// The connection to drop for one more from `ip`: at [`MAX_PER_IP`]
    /// of `ip`'s, else at [`MAX_CLIENTS`] of those of the address holding
    /// the most (of equals, the one whose idlest is idlest); of those,
    /// the idlest (nothing waiting first, then the oldest progress).
    fn victim(&self, ip: IpAddr, flight: &InFlight) -> Option<u64> {
        let mut count: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for c in self.conns.values() {
            *count.entry(c.ip).or_default() += 1;
        }
        let idleness = |(&id, c): (&u64, &Conn)| {
            let busy = c.unsent() > 0 || flight.waiting(Self::client(id, c));
            ((busy, c.last), id)
        };
        let from = if count.get(&ip).copied().unwrap_or(0) >= MAX_PER_IP {
            ip
        } else if self.conns.len() >= MAX_CLIENTS {
            let most = count.values().copied().max()?;
            self.conns
                .iter()
                .filter(|(_, c)| count[&c.ip] == most)
                .map(idleness)
                .min()
                .map(|(_, id)| self.conns[&id].ip)?
        } else {
            return None;
        };
        self.conns
            .iter()
            .filter(|(_, c)| c.ip == from)
            .map(idleness)
            .min()
            .map(|(_, id)| id)
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
                Err(e) if accept_starved(&e) => {
                    self.paused_until = Some(now + PAUSE);
                    break;
                }
                // This connection failed (aborted by its peer...): the
                // next one.
                Err(_) => continue,
            };
            self.paused_until = None;
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if let Some(id) = self.victim(peer.ip(), flight) {
                dropped.extend(self.close(id));
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

    /// Connection `conn` is ready: writes what waits, reads what came
    /// (for [`Self::message`]). Its client when it closed (an error), for
    /// [`InFlight::forget`].
    pub fn ready(&mut self, conn: u64, buf: &mut [u8], now: Instant) -> Option<Client> {
        let c = self.conns.get_mut(&conn)?;
        if !c.flush(now) {
            return self.close(conn);
        }
        if !c.readable() {
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
            Err(_) => return self.close(conn),
        }
        None
    }

    /// The connections with a whole message to take now.
    pub fn backlog(&self) -> Vec<u64> {
        self.conns
            .iter()
            .filter(|(_, c)| c.has_message() && c.unsent() <= MAX_UNSENT)
            .map(|(&id, _)| id)
            .collect()
    }

    /// The next whole message of connection `conn`, with its client;
    /// none while more than [`MAX_UNSENT`] bytes of answers wait (the
    /// caller answers each before it asks for the next).
    pub fn message(&mut self, conn: u64) -> Option<(Client, Vec<u8>)> {
        let c = self.conns.get_mut(&conn)?;
        if c.unsent() > MAX_UNSENT {
            return None;
        }
        let m = take(&mut c.got)?;
        Some((Self::client(conn, c), m))
    }

    /// Queues `packet` for connection `conn` (gone: nothing) and writes
    /// what it can.
    pub fn reply(&mut self, conn: u64, packet: &[u8], now: Instant) -> Option<Client> {
        let c = self.conns.get_mut(&conn)?;
        // Answers are at most 65535 bytes (built so, or read so upstream).
        let len = u16::try_from(packet.len()).ok()?;
        c.out.extend_from_slice(&len.to_be_bytes());
        c.out.extend_from_slice(packet);
        // An answer is progress (one from upstream may come after IDLE).
        c.last = now;
        if c.flush(now) {
            None
        } else {
            self.close(conn)
        }
    }

    /// Closes the connections idle too long (none with a query upstream),
    /// and those whose client is done (closed its side, every answer
    /// written); returns their clients. Ends a pause of the listener that
    /// is over.
    pub fn expire(&mut self, flight: &InFlight, now: Instant) -> Vec<Client> {
        if self.paused_until.is_some_and(|t| t <= now) {
            self.paused_until = None;
        }
        let done: Vec<u64> = self
            .conns
            .iter()
            .filter(|(&id, c)| {
                let waiting = flight.waiting(Self::client(id, c));
                !waiting && (now >= c.last + IDLE || (c.eof && c.unsent() == 0 && !c.has_message()))
            })
            .map(|(&id, _)| id)
            .collect();
        done.into_iter().filter_map(|id| self.close(id)).collect()
    }
}

/// The length of the whole message at the front of `got` (after its
/// own 2 bytes), if it is all there.
fn whole(got: &[u8]) -> Option<usize> {
    let l = got.get(..2)?;
    let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
    (got.len() >= 2 + len).then_some(len)
}

/// Takes the whole message at the front of `got`, if it is all there;
/// what remains is the rest.
fn take(got: &mut Vec<u8>) -> Option<Vec<u8>> {
    let len = whole(got)?;
    let m = got[2..2 + len].to_vec();
    got.drain(..2 + len);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn messages_split_pipelined_and_partial() {
        let mut got = vec![0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'x'];
        assert_eq!(take(&mut got), Some(b"abc".to_vec()));
        assert_eq!(take(&mut got), Some(vec![]));
        assert_eq!(take(&mut got), None);
        assert_eq!(got, [0, 2, b'x']);
        got.push(b'y');
        got.push(0);
        assert_eq!(take(&mut got), Some(b"xy".to_vec()));
        assert_eq!(got, [0]);
        assert_eq!(take(&mut got), None);
        assert_eq!(got, [0]);
    }

    /// A connection to `t` from `ip` (a loopback address), accepted at
    /// `now`; the clients dropped to make room.
    fn pair_from(
        t: &mut TcpClients,
        f: &InFlight,
        ip: [u8; 4],
        now: Instant,
    ) -> (TcpStream, Vec<Client>) {
        use socket2::{Domain, Socket, Type};
        let addr = t.listener.local_addr().unwrap();
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
        s.connect(&addr.into()).unwrap();
        let mut dropped = Vec::new();
        let n = t.next;
        for _ in 0..1000 {
            dropped.extend(t.accept(f, now));
            if t.next > n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(t.next, n + 1, "not accepted");
        (s.into(), dropped)
    }

    fn pair(t: &mut TcpClients, now: Instant) -> (TcpStream, Vec<Client>) {
        pair_from(t, &InFlight::default(), [127, 0, 0, 1], now)
    }

    /// Whether the server closed `s`.
    fn closed(s: &mut TcpStream) -> bool {
        let mut b = [0u8; 4];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        matches!(s.read(&mut b), Ok(0))
    }

    fn dropped_conn(d: &[Client]) -> u64 {
        match d {
            [Client::Tcp { conn, .. }] => *conn,
            d => panic!("{d:?}"),
        }
    }

    /// A query (for [`InFlight::begin`]).
    fn query() -> (Vec<u8>, usize) {
        let q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'x', 0, 0, 1, 0, 1];
        let end = q.len();
        (q, end)
    }

    #[test]
    fn one_address_cannot_take_every_connection() {
        let mut t = TcpClients::new(TcpListener::bind("0.0.0.0:0").unwrap()).unwrap();
        let mut f = InFlight::default();
        let t0 = Instant::now();
        let ms = |i: usize| t0 + Duration::from_millis(i as u64);
        let (a, b, c, d, e) = (
            [127, 0, 0, 1],
            [127, 0, 0, 2],
            [127, 0, 0, 3],
            [127, 0, 0, 4],
            [127, 0, 0, 5],
        );
        let mut keep = Vec::new();
        // D's 15 first (idle the longest), then A's 16.
        for i in 0..15 {
            let (s, dr) = pair_from(&mut t, &f, d, ms(i));
            assert!(dr.is_empty());
            keep.push(s);
        }
        let mut of_a = Vec::new();
        for i in 0..MAX_PER_IP {
            let (s, dr) = pair_from(&mut t, &f, a, ms(100 + i));
            assert!(dr.is_empty());
            of_a.push((t.next - 1, s));
        }
        // A 17th of A's drops A's idlest, though D's are idler.
        let (s, dr) = pair_from(&mut t, &f, a, ms(200));
        assert_eq!(dropped_conn(&dr), of_a[0].0);
        assert!(closed(&mut of_a[0].1), "A's idlest was not closed");
        assert_eq!(t.len(), 15 + MAX_PER_IP);
        of_a.push((t.next - 1, s));
        // Every connection of A has a query upstream.
        let (q, end) = query();
        let up = vec![SocketAddr::from(([192, 0, 2, 1], 53))];
        for (id, _) in &of_a[1..] {
            let client = Client::Tcp {
                conn: *id,
                ip: IpAddr::from(a),
            };
            assert!(matches!(
                f.begin(client, &q, end, up.clone(), t0),
                crate::network::forward::Out::Ask { .. }
            ));
        }
        // B's 16, C's 16, E's 1: the table is full.
        let mut of_b = Vec::new();
        for i in 0..MAX_PER_IP {
            let (s, dr) = pair_from(&mut t, &f, b, ms(300 + i));
            assert!(dr.is_empty());
            of_b.push((t.next - 1, s));
        }
        for i in 0..MAX_PER_IP {
            let (s, dr) = pair_from(&mut t, &f, c, ms(400 + i));
            assert!(dr.is_empty());
            keep.push(s);
        }
        let (s, dr) = pair_from(&mut t, &f, e, ms(500));
        assert!(dr.is_empty());
        keep.push(s);
        assert_eq!(t.len(), MAX_CLIENTS);
        // One more of E's: taken, and the connection dropped is the
        // idlest of an address holding 16 with nothing upstream (B's
        // first), not one of D's (idler, but D holds 15), nor A's (busy).
        let (_s, dr) = pair_from(&mut t, &f, e, ms(600));
        assert_eq!(dropped_conn(&dr), of_b[0].0);
        assert!(closed(&mut of_b[0].1), "B's idlest was not closed");
        assert_eq!(t.len(), MAX_CLIENTS);
        // No progress for IDLE: all close but A's, whose queries are
        // upstream (and which set no deadline of the loop).
        assert!(t.expire(&f, ms(999)).is_empty());
        assert_eq!(t.next_deadline(&f), Some(ms(0) + IDLE));
        let gone = t.expire(&f, t0 + IDLE + Duration::from_secs(1));
        assert_eq!(gone.len(), MAX_CLIENTS - MAX_PER_IP);
        assert_eq!(t.len(), MAX_PER_IP);
        assert_eq!(t.next_deadline(&f), None);
        // Their queries done, they go too.
        for (id, _) in &of_a[1..] {
            f.forget(Client::Tcp {
                conn: *id,
                ip: IpAddr::from(a),
            });
        }
        let late = t0 + IDLE + Duration::from_secs(1);
        assert_eq!(t.next_deadline(&f), Some(ms(101) + IDLE));
        assert_eq!(t.expire(&f, late).len(), MAX_PER_IP);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_starved_accept_pauses_another_failure_does_not() {
        use rustix::io::Errno;
        let err = |e: Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
        for e in [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM] {
            assert!(accept_starved(&err(e)), "{e:?}");
        }
        for e in [
            Errno::CONNABORTED,
            Errno::PROTO,
            Errno::PERM,
            Errno::NETDOWN,
        ] {
            assert!(!accept_starved(&err(e)), "{e:?}");
        }
    }

    #[test]
    fn pipelined_queries_stop_at_the_unsent_bound() {
        use socket2::SockRef;
        let mut t = TcpClients::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let now = Instant::now();
        let (mut s, _) = pair(&mut t, now);
        let id = *t.conns.keys().next().unwrap();
        SockRef::from(&t.conns[&id].stream)
            .set_send_buffer_size(4096)
            .unwrap();
        // 400 minimal queries in a row, answered 1000 bytes each (400 KB,
        // more than the kernel's buffers and MAX_UNSENT), which the client
        // does not read yet.
        const N: usize = 400;
        let mut flood = Vec::new();
        for _ in 0..N {
            flood.extend_from_slice(&[0, 1, 0x5a]);
        }
        s.write_all(&flood).unwrap();
        let answer = vec![7u8; 1000];
        let mut buf = vec![0u8; 65536];
        let mut answered = 0;
        let mut serve = |t: &mut TcpClients, answered: &mut usize| {
            assert_eq!(t.ready(id, &mut buf, now), None);
            while let Some((_, m)) = t.message(id) {
                assert_eq!(m, [0x5a]);
                assert_eq!(t.reply(id, &answer, now), None);
                *answered += 1;
                let unsent = t.conns[&id].unsent();
                assert!(unsent <= MAX_UNSENT + 1002, "{unsent} bytes unsent");
            }
        };
        for _ in 0..100 {
            serve(&mut t, &mut answered);
        }
        assert!(answered < N, "every query answered, into the buffer");
        assert!(t.conns[&id].has_message(), "the rest were not kept");
        assert!(t.backlog().is_empty());
        // The client reads: the rest are answered.
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; N * 1002];
            s.read_exact(&mut got).unwrap();
            got
        });
        while answered < N || t.conns[&id].unsent() > 0 {
            serve(&mut t, &mut answered);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let got = reader.join().unwrap();
        assert!(got
            .chunks(1002)
            .all(|a| a[..2] == [3, 0xe8] && a[2..] == answer[..]));
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
