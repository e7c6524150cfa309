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
//! network they get NXDOMAIN. Queries are served one at a time; a
//! forwarded one waits at most [`UPSTREAM_TIMEOUT`] (each of several
//! servers its share, at least a second).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a forwarded query may take.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

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
const RCODE_SERVFAIL: u8 = 2;

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

/// Where a network's DNS server sends the names it does not own: sockets
/// of the host's namespace (opened before the worker leaves it), and the
/// host's first IPv4 resolver, for containers without `--dns`.
pub struct Upstream {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    host: Option<SocketAddr>,
}

impl Upstream {
    /// Opens the sockets; call in the host's network namespace. The host's
    /// resolvers are those of /etc/resolv.conf or, for tests only, of the
    /// file `RLESS_RESOLV_CONF` names (as for `--network slirp`).
    pub fn open() -> Upstream {
        let path =
            std::env::var_os("RLESS_RESOLV_CONF").unwrap_or_else(|| "/etc/resolv.conf".into());
        let host = std::fs::read_to_string(path)
            .map(|t| netstack::parse_resolv_conf(&t))
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.is_ipv4());
        Upstream {
            v4: UdpSocket::bind("0.0.0.0:0").ok(),
            v6: UdpSocket::bind("[::]:0").ok(),
            host,
        }
    }

    /// Asks `servers` in turn, each for its share of [`UPSTREAM_TIMEOUT`]
    /// (at least a second), until one answers; the answer's length in
    /// `reply`.
    fn forward(&self, servers: &[SocketAddr], query: &[u8], reply: &mut [u8]) -> Option<usize> {
        let n = u32::try_from(servers.len()).unwrap_or(u32::MAX).max(1);
        let share = (UPSTREAM_TIMEOUT / n).max(Duration::from_secs(1));
        servers.iter().find_map(|server| {
            let u = if server.is_ipv4() { &self.v4 } else { &self.v6 };
            ask(u.as_ref()?, *server, query, reply, share)
        })
    }
}

/// Serves `sock` until `stop` is set (checked at least every 500 ms);
/// `upstream` is `None` on an internal network.
pub fn serve(
    network: String,
    sock: UdpSocket,
    upstream: Option<Upstream>,
    records: Records,
    stop: Arc<AtomicBool>,
) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = vec![0u8; 4096];
    let mut reply = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let query = &buf[..n];
        let Some(qn) = parse_query(query) else {
            continue;
        };
        let from_ip = match from.ip() {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let (known, servers) = match records.read() {
            Ok(r) => (
                r.lookup(&network, from_ip, &qn.name),
                r.servers(&network, from_ip).map(<[_]>::to_vec),
            ),
            Err(_) => (None, None),
        };
        let servers = servers
            .or_else(|| Some(vec![upstream.as_ref()?.host?]))
            .unwrap_or_default();
        let out = match (known, qn.qtype, &upstream) {
            (Some(ip), TYPE_A, _) => answer(query, &qn, Some(ip), 0),
            (Some(_), _, _) => answer(query, &qn, None, 0),
            (None, _, Some(up)) if !servers.is_empty() => {
                match up.forward(&servers, query, &mut reply) {
                    Some(len) => reply[..len].to_vec(),
                    None => answer(query, &qn, None, RCODE_SERVFAIL),
                }
            }
            (None, _, _) => answer(query, &qn, None, RCODE_NXDOMAIN),
        };
        let _ = sock.send_to(&out, from);
    }
}

/// Sends `query` to `server` and waits up to `wait` for the reply with the
/// same id.
fn ask(
    u: &UdpSocket,
    server: SocketAddr,
    query: &[u8],
    reply: &mut [u8],
    wait: Duration,
) -> Option<usize> {
    u.send_to(query, server).ok()?;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())?;
        u.set_read_timeout(Some(left)).ok()?;
        let (n, from) = u.recv_from(reply).ok()?;
        if from == server && n >= 2 && reply[..2] == query[..2] {
            return Some(n);
        }
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
    fn forward_to_the_first_server_that_answers() {
        // Loopback only: a server that never answers, then one that does.
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let live = UdpSocket::bind("127.0.0.1:0").unwrap();
        let servers = [dead.local_addr().unwrap(), live.local_addr().unwrap()];
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 512];
            let (n, from) = live.recv_from(&mut b).unwrap();
            // A stale reply (another id) first, then the answer.
            live.send_to(&[0xff, 0xff, 0x81, 0x80], from).unwrap();
            b[2] |= 0x80;
            live.send_to(&b[..n], from).unwrap();
        });
        let up = Upstream {
            v4: UdpSocket::bind("127.0.0.1:0").ok(),
            v6: None,
            host: None,
        };
        let q = query("example.test", TYPE_A);
        let mut reply = vec![0u8; 512];
        let n = up.forward(&servers, &q, &mut reply).expect("an answer");
        assert_eq!(&reply[..2], &q[..2]);
        assert_eq!(n, q.len());
        t.join().unwrap();
        // No IPv6 socket: an IPv6 server is skipped, not an error.
        assert!(up
            .forward(&["[::1]:53".parse().unwrap()], &q, &mut reply)
            .is_none());
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
