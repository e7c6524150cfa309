//! The DNS server of one network, on its gateway address, port 53 (UDP).
//!
//! Theory of operation: a thread of the helper serves a UDP socket bound
//! inside the network's namespace. A query for the A record of a container
//! name or alias on the network is answered from [`Records`], which the
//! helper updates at attach and detach (so a name resolves as soon as its
//! container's `run` returns); AAAA queries for those names get an empty
//! answer, so resolvers do not wait. Other queries go, unchanged, through
//! sockets opened in the host's namespace ([`Upstream`]) to the asking
//! container's own servers (`run --dns`, found by the query's source
//! address, as docker's embedded server does), else to the host's first
//! IPv4 resolver; the answer comes back as it is. On an `--internal`
//! network they get NXDOMAIN. Forwarded queries are in flight together
//! ([`super::forward`]): one loop polls this socket and the upstream ones,
//! so a name the server owns is answered at once whatever upstream is slow
//! or dead, and each forwarded query has its own deadline.

use super::forward::InFlight;
pub use super::forward::Upstream;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What every network's DNS server knows, shared with the helper.
pub type Records = Arc<RwLock<Directory>>;

/// Names and memberships of the attached containers.
#[derive(Debug, Default)]
pub struct Directory {
    /// Network → name (lower case) → address.
    pub names: HashMap<String, HashMap<String, Ipv4Addr>>,
    /// Container → its (network, address) pairs.
    pub members: HashMap<String, Vec<(String, Ipv4Addr)>>,
    /// Container → the servers its other names go to (`run --dns`).
    pub dns: HashMap<String, Vec<SocketAddr>>,
}

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

    /// The address of `name` for a client at `from` on `network`: a name
    /// on that network, else on another network the client is also on
    /// (a container on several networks asks only the first one's server).
    pub fn lookup(&self, network: &str, from: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
        if let Some(ip) = self.names.get(network).and_then(|m| m.get(name)) {
            return Some(*ip);
        }
        let mine = &self.members[self.member(network, from)?];
        mine.iter()
            .filter(|(n, _)| n != network)
            .find_map(|(n, _)| self.names.get(n)?.get(name).copied())
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

/// The answer to `query` (whose question is `qn`) with `ip` (or no
/// record), or an error `rcode`.
pub fn answer(query: &[u8], qn: &Question, ip: Option<Ipv4Addr>, rcode: u8) -> Vec<u8> {
    let mut r = Vec::with_capacity(qn.end + 16);
    r.extend_from_slice(&query[..2]);
    // QR, the query's opcode and RD; AA and RA.
    r.push(0x80 | (query[2] & 0x79) | 0x04);
    r.push(0x80 | rcode);
    r.extend_from_slice(&[0, 1, 0, u8::from(ip.is_some()), 0, 0, 0, 0]);
    r.extend_from_slice(&query[12..qn.end]);
    if let Some(ip) = ip {
        // A pointer to the question's name, type A, class IN, TTL 0.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    r
}

/// Serves `sock` until `stop` is set (checked at least every 500 ms);
/// `upstream` is `None` on an internal network. One loop polls the
/// server's socket and the upstream ones: names it owns are answered at
/// once, others wait in [`InFlight`] however many are pending.
pub fn serve(
    network: String,
    sock: UdpSocket,
    upstream: Option<Upstream>,
    records: Records,
    stop: Arc<AtomicBool>,
) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let mut flight = InFlight::default();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = flight
            .next_deadline()
            .map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(wait.subsec_nanos()).max(1_000_000),
        };
        let mut fds = vec![PollFd::new(&sock, PollFlags::IN)];
        fds.extend(
            upstream
                .iter()
                .flat_map(Upstream::sockets)
                .map(|s| PollFd::new(s, PollFlags::IN)),
        );
        let _ = poll(&mut fds, Some(&timeout));
        drop(fds);
        if let Some(up) = &upstream {
            up.receive(&sock, &mut flight, &mut buf);
        }
        // A bounded batch, so replies and deadlines get their turn.
        for _ in 0..64 {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                break;
            };
            query(
                &network,
                &sock,
                &records,
                upstream.as_ref(),
                &mut flight,
                &buf[..n],
                from,
            );
        }
        if let Some(up) = &upstream {
            let now = Instant::now();
            for out in flight.expire(now) {
                up.send(&sock, &mut flight, out, now);
            }
        }
    }
}

/// How long the server's loop sleeps at most.
const TICK: Duration = Duration::from_millis(500);

/// One query from a client at `from`: answered, or forwarded.
fn query(
    network: &str,
    sock: &UdpSocket,
    records: &Records,
    upstream: Option<&Upstream>,
    flight: &mut InFlight,
    query: &[u8],
    from: SocketAddr,
) {
    let Some(qn) = parse_query(query) else {
        return;
    };
    let from_ip = match from.ip() {
        std::net::IpAddr::V4(v4) => v4,
        std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    let (known, servers) = match records.read() {
        Ok(r) => (
            r.lookup(network, from_ip, &qn.name),
            r.servers(network, from_ip).map(<[_]>::to_vec),
        ),
        Err(_) => (None, None),
    };
    let servers = servers
        .or_else(|| Some(vec![upstream?.host?]))
        .unwrap_or_default();
    let out = match (known, qn.qtype, upstream) {
        (Some(ip), TYPE_A, _) => answer(query, &qn, Some(ip), 0),
        (Some(_), _, _) => answer(query, &qn, None, 0),
        (None, _, Some(up)) if !servers.is_empty() => {
            let now = Instant::now();
            let first = flight.begin(from, query, qn.end, servers, now);
            up.send(sock, flight, first, now);
            return;
        }
        (None, _, _) => answer(query, &qn, None, RCODE_NXDOMAIN),
    };
    let _ = sock.send_to(&out, from);
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
        let a = answer(&q, &qn, Some(Ipv4Addr::new(10, 89, 0, 2)), 0);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[10, 89, 0, 2]);
        let nx = answer(&q, &qn, None, RCODE_NXDOMAIN);
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        assert_eq!(u16::from_be_bytes([nx[6], nx[7]]), 0);
    }

    #[test]
    fn lookup_across_networks() {
        let mut d = Directory::default();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        d.names
            .entry("a".into())
            .or_default()
            .insert("x".into(), ip("10.89.0.2"));
        d.names
            .entry("b".into())
            .or_default()
            .insert("y".into(), ip("10.89.1.2"));
        d.members.insert(
            "c1".into(),
            vec![("a".into(), ip("10.89.0.3")), ("b".into(), ip("10.89.1.3"))],
        );
        assert_eq!(d.lookup("a", ip("10.89.0.9"), "x"), Some(ip("10.89.0.2")));
        assert_eq!(d.lookup("a", ip("10.89.0.3"), "y"), Some(ip("10.89.1.2")));
        assert_eq!(d.lookup("a", ip("10.89.0.9"), "y"), None);
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
