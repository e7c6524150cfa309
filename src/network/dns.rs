//! The DNS server of one network, on its gateway address, port 53, over
//! UDP and TCP.
//!
//! Theory of operation: a thread of the helper serves a UDP socket and a
//! TCP listener bound inside the network's namespace; the thread itself
//! runs in the host's namespace, so the sockets it opens to ask other
//! servers are the host's ([`super::upstream`]). A query for the A record
//! of a container name or alias on the network is answered from
//! [`Records`], which the helper updates at attach and detach (so a name
//! resolves as soon as its container's `run` returns): a container's own
//! name with its address, an alias with every holder's ([`Holders`]),
//! rotated from answer to answer; over UDP cut to what fits in 512 bytes
//! with the truncation bit set (the client may ask again over TCP), over
//! TCP all of them. AAAA queries for those names get an empty answer, so
//! resolvers do not wait. Other queries go, unchanged but for their id,
//! to the asking container's own servers (`run --dns`, found by the
//! query's source address, as docker's embedded server does), else to the
//! host's first IPv4 resolver, over the transport the client used; the
//! answer comes back as it is. On an `--internal` network they get
//! NXDOMAIN. One loop polls the UDP socket, the TCP listener and
//! connections ([`super::dns_tcp`]) and the sockets of the forwarded
//! queries in flight ([`super::forward`]), all non-blocking: a name the
//! server owns is answered at once whatever upstream is slow or dead or
//! whatever TCP client stalls, and each forwarded query has its own
//! deadline.

use super::dns_tcp::{Source as TcpSource, TcpClients};
use super::forward::{Client, InFlight};
use super::upstream::Replies;
pub use super::upstream::Upstream;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What every network's DNS server knows, shared with the helper.
pub type Records = Arc<RwLock<Directory>>;

/// Names and memberships of the attached containers.
#[derive(Debug, Default)]
pub struct Directory {
    /// Network → name (lower case) → who holds it there.
    pub names: HashMap<String, HashMap<String, Holders>>,
    /// Container → its (network, address) pairs.
    pub members: HashMap<String, Vec<(String, Ipv4Addr)>>,
    /// Container → the servers its other names go to (`run --dns`).
    pub dns: HashMap<String, Vec<SocketAddr>>,
}

/// The containers that hold one name on one network, by address, in the
/// order they came. A container's own name (or short id) answers with
/// that container alone, whoever also took it as an alias (as docker
/// does); an alias shared by several answers with them all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Holders {
    /// Whose own name it is: one, or, should a name be both a container's
    /// name and another's short id, the first.
    own: Vec<Ipv4Addr>,
    /// Who took it as an alias (`--network-alias`, `connect --alias`).
    alias: Vec<Ipv4Addr>,
}

impl Holders {
    /// The addresses the name answers with.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        match self.own.first() {
            Some(_) => &self.own[..1],
            None => &self.alias,
        }
    }

    fn is_empty(&self) -> bool {
        self.own.is_empty() && self.alias.is_empty()
    }
}

/// How many of an attachment's names are the container's own: its name
/// and short id come first ([`super::Attachment::aliases`]).
pub const OWN_NAMES: usize = 2;

impl Directory {
    /// The container at `from` on `network`.
    fn member(&self, network: &str, from: Ipv4Addr) -> Option<&str> {
        self.members
            .iter()
            .find(|(_, m)| m.iter().any(|(n, ip)| n == network && *ip == from))
            .map(|(c, _)| c.as_str())
    }

    /// The servers of the container at `from` on `network` (its `--dns`),
    /// if it named any.
    pub fn servers(&self, network: &str, from: Ipv4Addr) -> Option<&[SocketAddr]> {
        let c = self.member(network, from)?;
        self.dns.get(c).map(Vec::as_slice).filter(|s| !s.is_empty())
    }

    /// Gives the container at `ip` on `network` its `names` (lower case;
    /// the first [`OWN_NAMES`] its own, the others aliases). Adding again
    /// what it holds changes nothing.
    pub fn publish(&mut self, network: &str, ip: Ipv4Addr, names: &[String]) {
        self.publish_owning(network, ip, names, OWN_NAMES);
    }

    /// Gives the container at `ip` on `network` `names` that are all its
    /// own (lower case): a pod's infra container answers for its pod's
    /// name and its members' ([`super::podnames`]).
    pub fn publish_own(&mut self, network: &str, ip: Ipv4Addr, names: &[String]) {
        self.publish_owning(network, ip, names, names.len());
    }

    /// [`Self::publish`] with the first `own` of `names` its own.
    fn publish_owning(&mut self, network: &str, ip: Ipv4Addr, names: &[String], own: usize) {
        let table = self.names.entry(network.to_string()).or_default();
        for (i, name) in names.iter().enumerate() {
            let h = table.entry(name.clone()).or_default();
            let list = if i < own { &mut h.own } else { &mut h.alias };
            if !list.contains(&ip) {
                list.push(ip);
            }
        }
    }

    /// Takes `names` from the container at `ip` on `network`; a name
    /// nobody holds any more is gone.
    pub fn unpublish(&mut self, network: &str, ip: Ipv4Addr, names: &[String]) {
        let Some(table) = self.names.get_mut(network) else {
            return;
        };
        for name in names {
            if let Some(h) = table.get_mut(name) {
                h.own.retain(|x| *x != ip);
                h.alias.retain(|x| *x != ip);
                if h.is_empty() {
                    table.remove(name);
                }
            }
        }
    }

    /// The addresses of `name` for a client at `from` on `network`: the
    /// name on that network, else on another network the client is also
    /// on (a container on several networks asks only the first one's
    /// server). Empty for a name nobody holds.
    pub fn lookup(&self, network: &str, from: Ipv4Addr, name: &str) -> &[Ipv4Addr] {
        if let Some(h) = self.names.get(network).and_then(|m| m.get(name)) {
            return h.addresses();
        }
        let Some(c) = self.member(network, from) else {
            return &[];
        };
        self.members[c]
            .iter()
            .filter(|(n, _)| n != network)
            .find_map(|(n, _)| self.names.get(n)?.get(name))
            .map_or(&[], Holders::addresses)
    }
}

const TYPE_A: u16 = 1;
const RCODE_NXDOMAIN: u8 = 3;

/// A question: the lower-case name without the final dot, its type, and
/// where the question section ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub end: usize,
}

/// Parses the first question of a query; `None` for anything malformed
/// (including compression pointers, which queries do not use).
pub fn parse_query(q: &[u8]) -> Option<Question> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = q.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let t = q.get(i..i + 4)?;
    Some(Question {
        name: labels.join("."),
        qtype: u16::from_be_bytes([t[0], t[1]]),
        end: i + 4,
    })
}

/// The size a UDP answer keeps within (RFC 1035's, for clients that
/// offer no more; the query's EDNS record is not read).
pub const UDP_SIZE: usize = 512;
/// The size a TCP answer keeps within (its 2-byte length).
pub const TCP_SIZE: usize = 65535;

/// The answer to `query` (whose question is `qn`) with the A records of
/// `ips` from the `turn`th on, round (or no record), or an error `rcode`,
/// within `size` bytes: what does not fit is left out, with the
/// truncation bit set (a client may ask again over TCP, where `size` is
/// [`TCP_SIZE`]; the addresses it has are as good as the others, and the
/// next turn starts elsewhere).
pub fn answer(
    query: &[u8],
    qn: &Question,
    ips: &[Ipv4Addr],
    turn: usize,
    rcode: u8,
    size: usize,
) -> Vec<u8> {
    let room = size.saturating_sub(qn.end) / RECORD;
    let count = ips.len().min(room).min(usize::from(u16::MAX));
    let mut r = Vec::with_capacity(qn.end + count * RECORD);
    r.extend_from_slice(&query[..2]);
    // QR, the query's opcode and RD; AA and RA; TC when cut.
    let tc = if count < ips.len() { 0x02 } else { 0 };
    r.push(0x80 | (query[2] & 0x79) | 0x04 | tc);
    r.push(0x80 | rcode);
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(count as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..qn.end]);
    let start = if ips.is_empty() { 0 } else { turn % ips.len() };
    for ip in ips.iter().cycle().skip(start).take(count) {
        // A pointer to the question's name, type A, class IN, TTL 0.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    r
}

/// The bytes of one A record in an answer.
const RECORD: usize = 16;

/// What a polled descriptor is.
#[derive(Clone, Copy)]
enum Polled {
    Udp,
    Tcp(TcpSource),
    /// The socket of the forwarded query with this id.
    Upstream(u16),
}

/// Serves `sock` and `listener` until `stop` is set (checked at least
/// every 500 ms); `upstream` is `None` on an internal network. One loop
/// polls them, the TCP connections and the upstream sockets: names it
/// owns are answered at once, others wait in [`InFlight`] however many
/// are pending.
pub fn serve(
    network: String,
    sock: UdpSocket,
    listener: TcpListener,
    mut upstream: Option<Upstream>,
    records: Records,
    stop: Arc<AtomicBool>,
) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let tcp = sock
        .set_nonblocking(true)
        .and_then(|()| TcpClients::new(listener));
    let mut tcp = match tcp {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rless network helper: no DNS server on network {network}: {e}");
            return;
        }
    };
    let server = Server {
        network: &network,
        records: &records,
    };
    let mut flight = InFlight::default();
    // Which holder of a shared name comes first: one more each answer.
    let mut turn = 0usize;
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = flight
            .next_deadline()
            .into_iter()
            .chain(tcp.next_deadline(&flight))
            .min()
            .map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(wait.subsec_nanos()).max(1_000_000),
        };
        let mut what = vec![Polled::Udp];
        let mut fds = vec![PollFd::new(&sock, PollFlags::IN)];
        for (src, fd, flags) in tcp.interests(now) {
            what.push(Polled::Tcp(src));
            fds.push(PollFd::from_borrowed_fd(fd, flags));
        }
        for (id, fd, flags) in upstream.iter().flat_map(Upstream::interests) {
            what.push(Polled::Upstream(id));
            fds.push(PollFd::from_borrowed_fd(fd, flags));
        }
        let _ = poll(&mut fds, Some(&timeout));
        let ready: Vec<Polled> = fds
            .iter()
            .zip(&what)
            .filter(|(f, _)| !f.revents().is_empty())
            .map(|(_, w)| *w)
            .collect();
        drop(fds);
        let now = Instant::now();
        let mut replies = Replies::new();
        let mut closed = Vec::new();
        for src in ready {
            match src {
                Polled::Upstream(id) => {
                    if let Some(up) = upstream.as_mut() {
                        up.ready(id, &mut flight, &mut buf, now, &mut replies);
                    }
                }
                Polled::Tcp(TcpSource::Listener) => closed.extend(tcp.accept(&flight, now)),
                // Its messages are taken below.
                Polled::Tcp(TcpSource::Conn(c)) => closed.extend(tcp.ready(c, &mut buf, now)),
                // A bounded batch, so replies and deadlines get their turn.
                Polled::Udp => {
                    for _ in 0..64 {
                        let Ok((n, from)) = sock.recv_from(&mut buf) else {
                            break;
                        };
                        let (q, up) = (&buf[..n], upstream.as_mut());
                        let from = Client::Udp(from);
                        server.query(&mut flight, &mut turn, q, from, up, &mut replies);
                    }
                }
            }
        }
        if let Some(up) = upstream.as_mut() {
            for out in flight.expire(now) {
                up.send(&mut flight, out, now, &mut replies);
            }
        }
        let send = |replies: &mut Replies, tcp: &mut TcpClients, closed: &mut Vec<Client>| {
            for (to, packet) in replies.drain(..) {
                match to {
                    Client::Udp(a) => {
                        let _ = sock.send_to(&packet, a);
                    }
                    Client::Tcp { conn, .. } => closed.extend(tcp.reply(conn, &packet, now)),
                }
            }
        };
        send(&mut replies, &mut tcp, &mut closed);
        // The TCP messages, one at a time, each answered (queued) before
        // the next is taken, so a connection's unread answers stay
        // within bounds however many queries one read brought.
        for c in tcp.backlog() {
            while let Some((client, m)) = tcp.message(c) {
                let up = upstream.as_mut();
                server.query(&mut flight, &mut turn, &m, client, up, &mut replies);
                send(&mut replies, &mut tcp, &mut closed);
            }
        }
        closed.extend(tcp.expire(&flight, now));
        for c in closed {
            flight.forget(c);
        }
        if let Some(up) = upstream.as_mut() {
            up.prune(&flight);
        }
    }
}

/// How long the server's loop sleeps at most.
const TICK: Duration = Duration::from_millis(500);

/// What a network's server answers from, for [`Server::query`].
struct Server<'a> {
    network: &'a str,
    records: &'a Records,
}

impl Server<'_> {
    /// One query from `from`: answered (into `replies`), or forwarded;
    /// `turn` counts the answers, for which holder of a shared name comes
    /// first.
    fn query(
        &self,
        flight: &mut InFlight,
        turn: &mut usize,
        query: &[u8],
        from: Client,
        upstream: Option<&mut Upstream>,
        replies: &mut Replies,
    ) {
        let Some(qn) = parse_query(query) else {
            return;
        };
        let from_ip = match from.ip() {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let (known, servers) = match self.records.read() {
            Ok(r) => (
                r.lookup(self.network, from_ip, &qn.name).to_vec(),
                r.servers(self.network, from_ip).map(<[_]>::to_vec),
            ),
            Err(_) => (Vec::new(), None),
        };
        let host = upstream.as_ref().and_then(|u| u.host);
        let servers = servers.or_else(|| Some(vec![host?])).unwrap_or_default();
        let size = match from {
            Client::Udp(_) => UDP_SIZE,
            Client::Tcp { .. } => TCP_SIZE,
        };
        let out = match (known.is_empty(), qn.qtype, upstream) {
            (false, TYPE_A, _) => {
                *turn = turn.wrapping_add(1);
                answer(query, &qn, &known, *turn, 0, size)
            }
            (false, _, _) => answer(query, &qn, &[], 0, 0, size),
            (true, _, Some(up)) if !servers.is_empty() => {
                let now = Instant::now();
                let first = flight.begin(from, query, qn.end, servers, now);
                up.send(flight, first, now, replies);
                return;
            }
            (true, _, _) => answer(query, &qn, &[], 0, RCODE_NXDOMAIN, size),
        };
        replies.push((from, out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn parse_and_answer() {
        let q = query("Web.Local", TYPE_A);
        let qn = parse_query(&q).unwrap();
        assert_eq!(qn.name, "web.local");
        assert_eq!(qn.qtype, TYPE_A);
        let a = answer(&q, &qn, &[Ipv4Addr::new(10, 89, 0, 2)], 7, 0, UDP_SIZE);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[10, 89, 0, 2]);
        let nx = answer(&q, &qn, &[], 0, RCODE_NXDOMAIN, UDP_SIZE);
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        assert_eq!(u16::from_be_bytes([nx[6], nx[7]]), 0);
    }

    /// The addresses of an answer, in order.
    fn records(a: &[u8], qn: &Question) -> Vec<Ipv4Addr> {
        let n = usize::from(u16::from_be_bytes([a[6], a[7]]));
        assert_eq!(a.len(), qn.end + n * RECORD);
        a[qn.end..]
            .chunks(RECORD)
            .map(|r| Ipv4Addr::new(r[12], r[13], r[14], r[15]))
            .collect()
    }

    #[test]
    fn answer_rotates_and_fits() {
        let q = query("web", TYPE_A);
        let qn = parse_query(&q).unwrap();
        let ips: Vec<Ipv4Addr> = (2..5).map(|i| Ipv4Addr::new(10, 89, 0, i)).collect();
        assert_eq!(records(&answer(&q, &qn, &ips, 0, 0, UDP_SIZE), &qn), ips);
        let second = records(&answer(&q, &qn, &ips, 4, 0, UDP_SIZE), &qn);
        assert_eq!(second, [ips[1], ips[2], ips[0]]);
        // 300 holders: as many as 512 bytes hold, each once, the turn's first.
        let many: Vec<Ipv4Addr> = (0..300u32)
            .map(|i| Ipv4Addr::from(0x0a59_0000 + i))
            .collect();
        let a = answer(&q, &qn, &many, 299, 0, UDP_SIZE);
        assert!(
            a.len() <= UDP_SIZE && a.len() + RECORD > UDP_SIZE,
            "{}",
            a.len()
        );
        let got = records(&a, &qn);
        assert_eq!(got.len(), (UDP_SIZE - qn.end) / RECORD);
        assert_eq!(got[0], many[299]);
        assert_eq!(got[1], many[0]);
        assert_eq!(a[2] & 0x02, 0x02, "cut without the truncation bit");
        // Over TCP: all 300, once each, no truncation bit.
        let a = answer(&q, &qn, &many, 299, 0, TCP_SIZE);
        assert_eq!(a[2] & 0x02, 0);
        let got = records(&a, &qn);
        assert_eq!(got.len(), 300);
        assert_eq!(got[0], many[299]);
        assert_eq!(got[1..], many[..299]);
        // Whole answers have no truncation bit.
        assert_eq!(answer(&q, &qn, &ips, 0, 0, UDP_SIZE)[2] & 0x02, 0);
        // A question too long for any record: the answer has none.
        let long = query(&vec!["a".repeat(63); 8].join("."), TYPE_A);
        let lq = parse_query(&long).unwrap();
        assert!(records(&answer(&long, &lq, &many, 0, 0, UDP_SIZE), &lq).is_empty());
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shared_alias_answers_every_holder() {
        let mut d = Directory::default();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let (a, b, c) = (ip("10.89.0.2"), ip("10.89.0.3"), ip("10.89.0.4"));
        d.publish("n", a, &names(&["w1", "aaaa", "web"]));
        d.publish("n", b, &names(&["w2", "bbbb", "web"]));
        d.publish("n", c, &names(&["w3", "cccc", "web", "w1"]));
        // Again, as `connect` republishes: nothing doubles.
        d.publish("n", b, &names(&["w2", "bbbb", "web"]));
        let any = ip("10.89.0.9");
        assert_eq!(d.lookup("n", any, "web"), [a, b, c]);
        // w1 is a's name and c's alias: a's name answers with a alone.
        assert_eq!(d.lookup("n", any, "w1"), [a]);
        assert_eq!(d.lookup("n", any, "cccc"), [c]);
        d.unpublish("n", b, &names(&["w2", "bbbb", "web"]));
        assert_eq!(d.lookup("n", any, "web"), [a, c]);
        assert!(d.lookup("n", any, "w2").is_empty());
        // a leaves: its name passes to the alias holder c.
        d.unpublish("n", a, &names(&["w1", "aaaa", "web"]));
        assert_eq!(d.lookup("n", any, "w1"), [c]);
        assert_eq!(d.lookup("n", any, "web"), [c]);
        d.unpublish("n", c, &names(&["w3", "cccc", "web", "w1"]));
        assert!(d.names["n"].is_empty(), "{:?}", d.names);
        // Unknown networks and names change nothing.
        d.unpublish("x", c, &names(&["web"]));
        assert!(d.lookup("x", any, "web").is_empty());
    }

    #[test]
    fn names_published_own_beat_aliases() {
        let mut d = Directory::default();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let (infra, other) = (ip("10.89.0.2"), ip("10.89.0.3"));
        // Another container took a pod member's name as its alias first.
        d.publish("n", other, &names(&["o", "oooo", "m1"]));
        // The infra container's names, and its pod's and members' (all
        // its own, the third too).
        d.publish("n", infra, &names(&["inf", "iiii", "palias"]));
        d.publish_own("n", infra, &names(&["pod", "m2", "m1"]));
        let any = ip("10.89.0.9");
        for name in ["pod", "m1", "m2", "palias"] {
            assert_eq!(d.lookup("n", any, name), [infra], "{name}");
        }
        d.unpublish("n", infra, &names(&["m1"]));
        assert_eq!(d.lookup("n", any, "m1"), [other]);
        assert_eq!(d.lookup("n", any, "m2"), [infra]);
    }

    #[test]
    fn lookup_across_networks() {
        let mut d = Directory::default();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        d.publish("a", ip("10.89.0.2"), &names(&["x"]));
        d.publish("b", ip("10.89.1.2"), &names(&["y"]));
        d.members.insert(
            "c1".into(),
            vec![("a".into(), ip("10.89.0.3")), ("b".into(), ip("10.89.1.3"))],
        );
        assert_eq!(d.lookup("a", ip("10.89.0.9"), "x"), [ip("10.89.0.2")]);
        assert_eq!(d.lookup("a", ip("10.89.0.3"), "y"), [ip("10.89.1.2")]);
        assert!(d.lookup("a", ip("10.89.0.9"), "y").is_empty());
        // Its own servers, on either of its networks; none for others.
        let mine: SocketAddr = "192.0.2.53:53".parse().unwrap();
        d.dns.insert("c1".into(), vec![mine]);
        assert_eq!(d.servers("b", ip("10.89.1.3")), Some(&[mine][..]));
        assert_eq!(d.servers("a", ip("10.89.0.3")), Some(&[mine][..]));
        assert_eq!(d.servers("a", ip("10.89.1.3")), None);
        assert_eq!(d.servers("a", ip("10.89.0.9")), None);
    }

    #[test]
    fn malformed_queries() {
        assert!(parse_query(&[]).is_none());
        let mut q = query("a", TYPE_A);
        q.truncate(q.len() - 1);
        assert!(parse_query(&q).is_none());
        let mut r = query("a", TYPE_A);
        r[2] |= 0x80; // a response, not a query
        assert!(parse_query(&r).is_none());
        let mut x: u32 = 7;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let n = (x % 40) as usize;
            let b: Vec<u8> = (0..n).map(|i| (x >> (i % 24)) as u8).collect();
            let _ = parse_query(&b);
        }
    }
}
