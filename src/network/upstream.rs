//! The sockets through which a network's DNS server asks other servers.
//!
//! Theory of operation: every forwarded query ([`super::forward`]) has a
//! socket of its own, opened when a server is asked and closed when the
//! query is answered, moves on to its next server, or is given up (the
//! server's loop prunes the sockets of queries no longer in flight after
//! each pass). The DNS thread runs in the host's network namespace (its
//! listening sockets were opened in the network's), so these sockets are
//! the host's. The loop of [`super::dns::serve`] polls them with its own
//! ([`Upstream::interests`]) and hands each ready one to
//! [`Upstream::ready`].
//! - UDP: a socket bound to port 0, so that the kernel picks a random
//!   ephemeral port for each query (RFC 5452: an off-path spoofer must
//!   guess the port as well as the id), and connected to the server, so
//!   that the kernel drops datagrams from anyone else. An ICMP error (port
//!   unreachable) moves the query on to its next server at once.
//! - TCP, for a client that asked over TCP: a non-blocking connection per
//!   query, the query written with its 2-byte length, the answer read the
//!   same way (at most 65535 bytes). A refused connection, an error, an
//!   end before the whole answer or an answer that is not the query's
//!   moves on to the next server.
//!
//! A fresh socket per query rather than a rotating pool: the ports are as
//! random as the kernel makes them and never shared by two queries, a
//! reply can only be taken for the query of its socket, and the
//! descriptors stay bounded by the in-flight table (256 per network, one
//! each). A socket that cannot be opened (no address of that family,
//! descriptors exhausted) moves the query on as a failed send does: the
//! next server, else SERVFAIL.

use super::forward::{Client, InFlight, Out};
use rustix::event::PollFlags;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

/// Datagrams read from one query's socket per call (any but its answer
/// are dropped), so a flood cannot keep the loop from the others.
const RECEIVE_BATCH: usize = 16;

/// Answers for clients, to be sent by the server's loop.
pub type Replies = Vec<(Client, Vec<u8>)>;

/// Where a network's DNS server sends the names it does not own: the
/// host's first IPv4 resolver, for containers without `--dns`, and the
/// socket of each query in flight.
pub struct Upstream {
    pub host: Option<SocketAddr>,
    links: HashMap<u16, Link>,
}

/// One query's socket.
enum Link {
    Udp(UdpSocket),
    Tcp(TcpLink),
}

/// A query's TCP connection and how far its exchange went.
struct TcpLink {
    stream: TcpStream,
    server: SocketAddr,
    /// The query with its length, and how much of it is written.
    out: Vec<u8>,
    sent: usize,
    /// The answer read so far, its length first.
    got: Vec<u8>,
}

/// What a ready socket gave.
enum Event {
    Nothing,
    Answer(Out),
    Failed,
}

impl Upstream {
    /// The host's resolvers are those of /etc/resolv.conf or, for tests
    /// only, of the file `RLESS_RESOLV_CONF` names (as for `--network
    /// slirp`).
    pub fn open() -> Upstream {
        let path =
            std::env::var_os("RLESS_RESOLV_CONF").unwrap_or_else(|| "/etc/resolv.conf".into());
        let host = std::fs::read_to_string(path)
            .map(|t| netstack::parse_resolv_conf(&t))
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.is_ipv4());
        Upstream::with(host)
    }

    /// Upstream with `host` as the host's resolver.
    pub fn with(host: Option<SocketAddr>) -> Upstream {
        Upstream {
            host,
            links: HashMap::new(),
        }
    }

    /// The sockets open (one per query asked and not done).
    pub fn open_sockets(&self) -> usize {
        self.links.len()
    }

    /// Sends `first` and what follows from it: a question goes out on a
    /// new socket of its query (closing the one it had); a query that
    /// cannot be sent goes to its next server. Answers go to `replies`.
    pub fn send(&mut self, flight: &mut InFlight, first: Out, now: Instant, replies: &mut Replies) {
        let mut todo = vec![first];
        while let Some(out) = todo.pop() {
            match out {
                Out::Reply { to, packet } => replies.push((to, packet)),
                Out::Ask { id, server } => {
                    self.links.remove(&id);
                    let tcp = flight.over_tcp(id);
                    match flight.packet(id).map(|q| open(q, server, tcp)) {
                        Some(Ok(link)) => {
                            self.links.insert(id, link);
                        }
                        _ => todo.extend(flight.next(id, now)),
                    }
                }
            }
        }
    }

    /// The sockets to poll, by query, with what to wait for.
    pub fn interests(&self) -> impl Iterator<Item = (u16, BorrowedFd<'_>, PollFlags)> {
        self.links.iter().map(|(&id, l)| match l {
            Link::Udp(s) => (id, s.as_fd(), PollFlags::IN),
            Link::Tcp(t) if t.sent < t.out.len() => (id, t.stream.as_fd(), PollFlags::OUT),
            Link::Tcp(t) => (id, t.stream.as_fd(), PollFlags::IN),
        })
    }

    /// The socket of query `id` is ready: what it has, taken (an answer,
    /// or a failure that moves the query on).
    pub fn ready(
        &mut self,
        id: u16,
        flight: &mut InFlight,
        buf: &mut [u8],
        now: Instant,
        replies: &mut Replies,
    ) {
        let event = match self.links.get_mut(&id) {
            None => return,
            Some(Link::Udp(s)) => datagrams(s, id, flight, buf),
            Some(Link::Tcp(t)) => t.progress(id, flight, buf),
        };
        match event {
            Event::Nothing => {}
            Event::Answer(out) => {
                self.links.remove(&id);
                self.send(flight, out, now, replies);
            }
            Event::Failed => {
                self.links.remove(&id);
                if let Some(out) = flight.next(id, now) {
                    self.send(flight, out, now, replies);
                }
            }
        }
    }

    /// Closes the sockets of queries no longer in flight (expired, or of a
    /// TCP client gone).
    pub fn prune(&mut self, flight: &InFlight) {
        self.links.retain(|id, _| flight.contains(*id));
    }
}

/// A new socket of the host's namespace for `query` to `server`, the
/// query sent (UDP) or the connection begun (TCP).
fn open(query: &[u8], server: SocketAddr, tcp: bool) -> std::io::Result<Link> {
    if !tcp {
        let any: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let s = UdpSocket::bind(any)?;
        s.connect(server)?;
        s.set_nonblocking(true)?;
        s.send(query)?;
        return Ok(Link::Udp(s));
    }
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = match server {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &server) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    // Queries are at most MAX_QUERY bytes.
    let len = u16::try_from(query.len()).map_err(|_| ErrorKind::InvalidInput)?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(query);
    Ok(Link::Tcp(TcpLink {
        stream: TcpStream::from(fd),
        server,
        out,
        sent: 0,
        got: Vec::new(),
    }))
}

/// Reads the datagrams waiting on the UDP socket of query `id`.
fn datagrams(s: &UdpSocket, id: u16, flight: &mut InFlight, buf: &mut [u8]) -> Event {
    for _ in 0..RECEIVE_BATCH {
        match s.recv_from(buf) {
            Ok((n, from)) => {
                if let Some(out) = flight.reply(id, from, &buf[..n]) {
                    return Event::Answer(out);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Event::Nothing,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // The server's port is closed (an ICMP error), or worse.
            Err(_) => return Event::Failed,
        }
    }
    Event::Nothing
}

impl TcpLink {
    /// Writes what is left of the query, then reads what there is of the
    /// answer; the whole answer is taken if it is the query's.
    fn progress(&mut self, id: u16, flight: &mut InFlight, buf: &mut [u8]) -> Event {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Event::Failed,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Event::Nothing,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Event::Failed,
            }
        }
        loop {
            let want = match self.got.get(..2) {
                Some(l) => 2 + usize::from(u16::from_be_bytes([l[0], l[1]])) - self.got.len(),
                None => 2 - self.got.len(),
            };
            if want == 0 {
                return match flight.reply(id, self.server, &self.got[2..]) {
                    Some(out) => Event::Answer(out),
                    None => Event::Failed,
                };
            }
            let cap = want.min(buf.len());
            match self.stream.read(&mut buf[..cap]) {
                Ok(0) => return Event::Failed,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Event::Nothing,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Event::Failed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::forward::tests::query;
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    fn udp(s: &UdpSocket) -> Client {
        Client::Udp(s.local_addr().unwrap())
    }

    /// Runs every socket's `ready` until `done` or `ms` milliseconds pass
    /// (about).
    fn pump(
        up: &mut Upstream,
        f: &mut InFlight,
        replies: &mut Replies,
        ms: u32,
        done: impl Fn(&Replies) -> bool,
    ) {
        let mut buf = vec![0u8; 65536];
        for _ in 0..ms {
            let ids: Vec<u16> = up.interests().map(|(id, _, _)| id).collect();
            for id in ids {
                up.ready(id, f, &mut buf, Instant::now(), replies);
            }
            up.prune(f);
            if done(replies) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn each_query_asks_from_a_port_of_its_own() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut up = Upstream::with(None);
        let mut f = InFlight::default();
        let (c1, c2) = (
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        let t0 = Instant::now();
        let mut replies = Vec::new();
        let (q, end) = query(0x0101, "a.test");
        for c in [&c1, &c2] {
            let first = f.begin(udp(c), &q, end, vec![server.local_addr().unwrap()], t0);
            up.send(&mut f, first, t0, &mut replies);
        }
        assert_eq!(up.open_sockets(), 2);
        let mut b = [0u8; 512];
        let mut froms = Vec::new();
        for _ in 0..2 {
            let (n, from) = server.recv_from(&mut b).unwrap();
            froms.push((from, b[..n].to_vec()));
        }
        assert_ne!(froms[0].0.port(), froms[1].0.port(), "one source port");
        // Each answer sent to the other's port is not taken...
        for (i, (_, q)) in froms.iter().enumerate() {
            let mut r = q.clone();
            r[2] |= 0x80;
            server.send_to(&r, froms[1 - i].0).unwrap();
        }
        pump(&mut up, &mut f, &mut replies, 100, |_| false);
        assert!(replies.is_empty(), "{replies:?}");
        assert_eq!(f.len(), 2);
        // ...its own is, and its socket is closed.
        for (from, q) in &froms {
            let mut r = q.clone();
            r[2] |= 0x80;
            server.send_to(&r, from).unwrap();
        }
        pump(&mut up, &mut f, &mut replies, 5000, |r| r.len() == 2);
        let mut to: Vec<Client> = replies.iter().map(|(c, _)| *c).collect();
        to.sort_by_key(|c| c.ip().to_string() + &format!("{c:?}"));
        let mut want = vec![udp(&c1), udp(&c2)];
        want.sort_by_key(|c| c.ip().to_string() + &format!("{c:?}"));
        assert_eq!(to, want);
        assert!(replies.iter().all(|(_, p)| p[..2] == [1, 1]));
        assert_eq!((f.len(), up.open_sockets()), (0, 0));
    }

    #[test]
    fn udp_falls_back_over_real_sockets() {
        // Loopback only: a server that never answers, one of a family the
        // host may lack or that refuses, then one that does.
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let live = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut up = Upstream::with(None);
        let mut f = InFlight::default();
        let servers = vec![
            dead.local_addr().unwrap(),
            "[::1]:9".parse().unwrap(),
            live.local_addr().unwrap(),
        ];
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (q, end) = query(0x4242, "example.test");
        let t0 = Instant::now();
        let mut replies = Vec::new();
        let first = f.begin(udp(&client), &q, end, servers, t0);
        up.send(&mut f, first, t0, &mut replies);
        let mut b = [0u8; 512];
        let (n, _) = dead.recv_from(&mut b).unwrap();
        assert_eq!(&b[12..n], &q[12..]);
        for o in f.expire(t0 + Duration::from_secs(1)) {
            up.send(&mut f, o, t0, &mut replies);
        }
        // [::1]:9 refuses (or there is no IPv6): at once, or at its deadline.
        for o in f.expire(t0 + Duration::from_secs(2)) {
            up.send(&mut f, o, t0, &mut replies);
        }
        let (n, from) = live.recv_from(&mut b).unwrap();
        // A stale reply (another id) first, then the answer.
        live.send_to(&[0xff, 0xff, 0x81, 0x80], from).unwrap();
        b[2] |= 0x80;
        live.send_to(&b[..n], from).unwrap();
        pump(&mut up, &mut f, &mut replies, 5000, |r| !r.is_empty());
        assert_eq!(replies.len(), 1);
        let (to, p) = &replies[0];
        assert_eq!(*to, udp(&client));
        assert_eq!(&p[..2], &[0x42, 0x42]);
        assert_eq!(&p[12..], &q[12..]);
        assert_eq!(up.open_sockets(), 0);
    }

    #[test]
    fn tcp_asks_over_tcp_and_falls_back() {
        // A refused port, then a server that closes before answering, then
        // one that answers in two pieces.
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let rude = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = TcpListener::bind("127.0.0.1:0").unwrap();
        let servers = vec![
            refused,
            rude.local_addr().unwrap(),
            good.local_addr().unwrap(),
        ];
        let rude_t = std::thread::spawn(move || {
            let (mut s, _) = rude.accept().unwrap();
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
        });
        let good_t = std::thread::spawn(move || {
            let (mut s, _) = good.accept().unwrap();
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(l))];
            s.read_exact(&mut q).unwrap();
            q[2] |= 0x80;
            // A big answer: 600 bytes of padding after the question.
            q.extend_from_slice(&[0u8; 600]);
            let mut a = (q.len() as u16).to_be_bytes().to_vec();
            a.extend_from_slice(&q);
            s.write_all(&a[..5]).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            s.write_all(&a[5..]).unwrap();
            q
        });
        let mut up = Upstream::with(None);
        let mut f = InFlight::default();
        let client = Client::Tcp {
            conn: 7,
            ip: "10.89.0.2".parse().unwrap(),
        };
        let (q, end) = query(0x0707, "big.test");
        let t0 = Instant::now();
        let mut replies = Vec::new();
        let first = f.begin(client, &q, end, servers, t0);
        up.send(&mut f, first, t0, &mut replies);
        pump(&mut up, &mut f, &mut replies, 5000, |r| !r.is_empty());
        rude_t.join().unwrap();
        let sent = good_t.join().unwrap();
        assert_eq!(replies.len(), 1, "{replies:?}");
        let (to, p) = &replies[0];
        assert_eq!(*to, client);
        assert_eq!(&p[..2], &[7, 7]);
        assert_eq!(&p[2..], &sent[2..]);
        assert_eq!(p.len(), q.len() + 600);
        assert_eq!((f.len(), up.open_sockets()), (0, 0));
    }
}
