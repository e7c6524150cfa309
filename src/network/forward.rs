//! Forwarded DNS queries of one network's DNS server, in flight together.
//!
//! Theory of operation: a query the server does not answer itself gets a
//! fresh random transaction id and waits in [`InFlight`], keyed by that id,
//! with its client ([`Client`]: a datagram's source, or one of the server's
//! TCP connections) and the client's own id, its servers and a deadline;
//! [`super::upstream`] asks the first server, over UDP or TCP as the client
//! asked, from a socket of that query alone. A reply is taken when it
//! carries the query's id and question and comes from the server asked
//! now; it goes back to the client with the client's id. A query whose
//! deadline passes (or whose exchange fails) goes to the next server, with
//! its share of [`UPSTREAM_TIMEOUT`] (at least a second); after the last
//! one the client gets SERVFAIL. At most [`MAX_IN_FLIGHT`] queries wait, at
//! most [`MAX_PER_CLIENT`] of one client address (whatever its ports or
//! connections); beyond that a query gets SERVFAIL at once (as does a
//! query longer than [`MAX_QUERY`]), so a flood costs bounded descriptors
//! and memory, and one container with a dead server leaves room to the
//! others. The table is plain data driven by the caller's clock; [`Out`]
//! says what to send, [`super::upstream::Upstream::send`] sends it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a forwarded query may take, all its servers together.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// Forwarded queries waiting at once, per network.
pub const MAX_IN_FLIGHT: usize = 256;
/// Of those, from one client address (whatever its ports).
pub const MAX_PER_CLIENT: usize = 64;
/// The longest query forwarded (EDNS's usual buffer size), so the table
/// holds at most a megabyte.
pub const MAX_QUERY: usize = 4096;

const RCODE_SERVFAIL: u8 = 2;

/// Who asked the network's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// A datagram's source.
    Udp(SocketAddr),
    /// One of the server's TCP connections ([`super::dns_tcp`]), from `ip`.
    Tcp { conn: u64, ip: IpAddr },
}

impl Client {
    /// The client's address (what the per-client bound counts by).
    pub fn ip(&self) -> IpAddr {
        match self {
            Client::Udp(a) => a.ip(),
            Client::Tcp { ip, .. } => *ip,
        }
    }
}

/// One query in flight.
struct Pending {
    client: Client,
    /// The client's transaction id.
    id: [u8; 2],
    /// The query as sent upstream (with the table's id).
    query: Vec<u8>,
    /// Where its question section ends.
    end: usize,
    servers: Vec<SocketAddr>,
    /// The server asked now.
    at: usize,
    share: Duration,
    deadline: Instant,
}

impl Pending {
    /// SERVFAIL for the client.
    fn servfail(&self) -> Out {
        let mut q = self.query[..self.end].to_vec();
        q[..2].copy_from_slice(&self.id);
        let qn = super::dns::Question {
            name: String::new(),
            qtype: 0,
            end: self.end,
        };
        Out::Reply {
            to: self.client,
            packet: super::dns::answer(&q, &qn, &[], 0, RCODE_SERVFAIL, super::dns::UDP_SIZE),
        }
    }
}

/// What to send next.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    /// The query in flight `id` ([`InFlight::packet`]) to `server`.
    Ask { id: u16, server: SocketAddr },
    /// `packet` to a client.
    Reply { to: Client, packet: Vec<u8> },
}

/// The forwarded queries of one server, by upstream transaction id.
#[derive(Default)]
pub struct InFlight {
    table: HashMap<u16, Pending>,
}

impl InFlight {
    /// Queries waiting.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the query `id` is still waiting.
    pub fn contains(&self, id: u16) -> bool {
        self.table.contains_key(&id)
    }

    /// Whether `client` has a query waiting.
    pub fn waiting(&self, client: Client) -> bool {
        self.table.values().any(|p| p.client == client)
    }

    /// Whether the query `id` goes upstream over TCP (its client asked so).
    pub fn over_tcp(&self, id: u16) -> bool {
        self.table
            .get(&id)
            .is_some_and(|p| matches!(p.client, Client::Tcp { .. }))
    }

    /// Forgets the queries of `client` (a TCP connection that closed).
    pub fn forget(&mut self, client: Client) {
        self.table.retain(|_, p| p.client != client);
    }

    /// Takes `query` (its question ending at `end`) from `client` for
    /// `servers` (not empty): asks the first, or SERVFAIL when full.
    pub fn begin(
        &mut self,
        client: Client,
        query: &[u8],
        end: usize,
        servers: Vec<SocketAddr>,
        now: Instant,
    ) -> Out {
        let mine = self
            .table
            .values()
            .filter(|p| p.client.ip() == client.ip())
            .count();
        let n = u32::try_from(servers.len()).unwrap_or(u32::MAX).max(1);
        let share = (UPSTREAM_TIMEOUT / n).max(Duration::from_secs(1));
        let mut p = Pending {
            client,
            id: [query[0], query[1]],
            query: query.to_vec(),
            end,
            servers,
            at: 0,
            share,
            deadline: now + share,
        };
        if self.table.len() >= MAX_IN_FLIGHT
            || mine >= MAX_PER_CLIENT
            || p.servers.is_empty()
            || query.len() > MAX_QUERY
        {
            return p.servfail();
        }
        let id = self.fresh_id();
        p.query[..2].copy_from_slice(&id.to_be_bytes());
        let server = p.servers[0];
        self.table.insert(id, p);
        Out::Ask { id, server }
    }

    /// A random id not in flight.
    fn fresh_id(&self) -> u16 {
        let mut seq = 0u16;
        loop {
            let mut b = [0u8; 2];
            let id = match rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()) {
                Ok(2) => u16::from_be_bytes(b),
                // No getrandom (very old kernels): the clock's low bits.
                _ => {
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    (t.subsec_nanos() as u16).wrapping_add(seq)
                }
            };
            if !self.table.contains_key(&id) {
                return id;
            }
            seq = seq.wrapping_add(1);
        }
    }

    /// The query in flight `id`, as sent upstream.
    pub fn packet(&self, id: u16) -> Option<&[u8]> {
        self.table.get(&id).map(|p| p.query.as_slice())
    }

    /// The query `id` could not be sent, or its server did not answer in
    /// time: its next server, else SERVFAIL (and it is gone).
    pub fn next(&mut self, id: u16, now: Instant) -> Option<Out> {
        let p = self.table.get_mut(&id)?;
        p.at += 1;
        if let Some(&server) = p.servers.get(p.at) {
            p.deadline = now + p.share;
            return Some(Out::Ask { id, server });
        }
        self.table.remove(&id).map(|p| p.servfail())
    }

    /// Every query whose deadline is past: [`Self::next`] of each.
    pub fn expire(&mut self, now: Instant) -> Vec<Out> {
        let late: Vec<u16> = self
            .table
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        late.into_iter()
            .filter_map(|id| self.next(id, now))
            .collect()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.table.values().map(|p| p.deadline).min()
    }

    /// A message from `from` on the socket of query `id`: the answer for
    /// its client when it is the reply to that query (which is then
    /// done): a response with the query's id and question, from the
    /// server asked now. `None` for anything else.
    pub fn reply(&mut self, id: u16, from: SocketAddr, packet: &[u8]) -> Option<Out> {
        if packet.len() < 12 || packet[2] & 0x80 == 0 || packet[..2] != id.to_be_bytes() {
            return None;
        }
        let p = self.table.get(&id)?;
        let same = packet
            .get(12..p.end)
            .is_some_and(|q| q.eq_ignore_ascii_case(&p.query[12..p.end]));
        if !same || p.servers.get(p.at) != Some(&from) {
            return None;
        }
        let p = self.table.remove(&id)?;
        let mut answer = packet.to_vec();
        answer[..2].copy_from_slice(&p.id);
        Some(Out::Reply {
            to: p.client,
            packet: answer,
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A query for the A record of `name` with id `id`, and where its
    /// question ends (also used by `upstream`'s tests).
    pub(in crate::network) fn query(id: u16, name: &str) -> (Vec<u8>, usize) {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let end = q.len();
        (q, end)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn udp(s: &str) -> Client {
        Client::Udp(addr(s))
    }

    fn ask(o: Out) -> (u16, SocketAddr) {
        match o {
            Out::Ask { id, server } => (id, server),
            o => panic!("not a question upstream: {o:?}"),
        }
    }

    fn rcode(o: &Out) -> (Client, u16, u8) {
        match o {
            Out::Reply { to, packet } => (
                *to,
                u16::from_be_bytes([packet[0], packet[1]]),
                packet[3] & 0x0f,
            ),
            o => panic!("not a reply: {o:?}"),
        }
    }

    #[test]
    fn reply_goes_back_to_its_client_with_its_id() {
        let mut f = InFlight::default();
        let t0 = Instant::now();
        let (c1, c2) = (udp("10.89.0.2:4000"), udp("10.89.0.3:4000"));
        let up = addr("192.0.2.53:53");
        let (q1, end) = query(7, "a.test");
        let (q2, _) = query(7, "b.test");
        let (id1, s1) = ask(f.begin(c1, &q1, end, vec![up], t0));
        let (id2, _) = ask(f.begin(c2, &q2, end, vec![up], t0));
        assert_eq!(s1, up);
        assert_ne!(
            id1, id2,
            "two clients' equal ids get distinct ones upstream"
        );
        assert_eq!(&f.packet(id1).unwrap()[..2], &id1.to_be_bytes());
        let mut r = f.packet(id2).unwrap().to_vec();
        r[2] |= 0x80;
        r[3] = 0x80;
        // Not from the server asked, not a response, another question,
        // another query's id (on this one's socket): ignored.
        assert_eq!(f.reply(id2, addr("192.0.2.54:53"), &r), None);
        let asked = f.packet(id2).unwrap().to_vec();
        assert_eq!(f.reply(id2, up, &asked), None);
        let mut wrong = f.packet(id1).unwrap().to_vec();
        wrong[2] |= 0x80;
        wrong[..2].copy_from_slice(&id2.to_be_bytes());
        assert_eq!(f.reply(id2, up, &wrong), None);
        assert_eq!(f.reply(id1, up, &r), None);
        assert_eq!(f.reply(id2, up, &r[..5]), None);
        // The answer, in upper case (0x20 mixing), to c2 with its id 7.
        r[13..19].make_ascii_uppercase();
        match f.reply(id2, up, &r) {
            Some(Out::Reply { to, packet }) => {
                assert_eq!(to, c2);
                assert_eq!(&packet[..2], &[0, 7]);
                assert_eq!(&packet[2..], &r[2..]);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(f.len(), 1);
        // Once answered, a duplicate is nothing.
        assert_eq!(f.reply(id2, up, &r), None);
    }

    #[test]
    fn deadline_moves_to_the_next_server_then_servfail() {
        let mut f = InFlight::default();
        let t0 = Instant::now();
        let c = udp("10.89.0.2:4000");
        let servers = vec![addr("127.0.0.1:53"), addr("[::1]:53"), addr("127.0.0.2:53")];
        let (q, end) = query(0x1234, "x.test");
        let (id, s) = ask(f.begin(c, &q, end, servers.clone(), t0));
        assert_eq!(s, servers[0]);
        // Three servers: a second each.
        assert_eq!(f.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert!(f.expire(t0 + Duration::from_millis(999)).is_empty());
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            f.expire(t1),
            vec![Out::Ask {
                id,
                server: servers[1]
            }]
        );
        assert_eq!(f.next_deadline(), Some(t1 + Duration::from_secs(1)));
        // A late answer from the first server does not count (its socket
        // is closed); the second's does.
        let mut r = f.packet(id).unwrap().to_vec();
        r[2] |= 0x80;
        assert_eq!(f.reply(id, servers[0], &r), None);
        assert!(f.reply(id, servers[1], &r).is_some());
        // ...and a send that fails moves on at once.
        let (id, _) = ask(f.begin(c, &q, end, servers.clone(), t0));
        assert_eq!(
            f.next(id, t0),
            Some(Out::Ask {
                id,
                server: servers[1]
            })
        );
        assert_eq!(
            f.next(id, t0),
            Some(Out::Ask {
                id,
                server: servers[2]
            })
        );
        // The third did not answer by its deadline: SERVFAIL, its id 0x1234.
        let t2 = t0 + Duration::from_secs(1);
        let out = f.expire(t2);
        assert_eq!(out.len(), 1);
        assert_eq!(rcode(&out[0]), (c, 0x1234, RCODE_SERVFAIL));
        assert_eq!(f.len(), 0);
        assert_eq!(f.next_deadline(), None);
        // One server: all of UPSTREAM_TIMEOUT.
        let (_, _) = ask(f.begin(c, &q, end, vec![servers[0]], t0));
        assert_eq!(f.next_deadline(), Some(t0 + UPSTREAM_TIMEOUT));
    }

    #[test]
    fn bounded_per_client_and_in_all() {
        let mut f = InFlight::default();
        let t0 = Instant::now();
        let up = vec![addr("192.0.2.53:53")];
        let (q, end) = query(9, "flood.test");
        let one = udp("10.89.0.2:4000");
        for _ in 0..MAX_PER_CLIENT {
            ask(f.begin(one, &q, end, up.clone(), t0));
        }
        assert_eq!(
            rcode(&f.begin(one, &q, end, up.clone(), t0)),
            (one, 9, RCODE_SERVFAIL)
        );
        // Not from another port either.
        let port = udp("10.89.0.2:4001");
        assert_eq!(
            rcode(&f.begin(port, &q, end, up.clone(), t0)).2,
            RCODE_SERVFAIL
        );
        // Nor from a TCP connection of the same address.
        let tcp = Client::Tcp {
            conn: 1,
            ip: one.ip(),
        };
        assert_eq!(
            rcode(&f.begin(tcp, &q, end, up.clone(), t0)),
            (tcp, 9, RCODE_SERVFAIL)
        );
        // Other clients still get through, until the table is full.
        let mut n = 0u8;
        while f.len() < MAX_IN_FLIGHT {
            n += 1;
            let c = Client::Udp(SocketAddr::new([10, 89, 1, n / 32].into(), 4000));
            ask(f.begin(c, &q, end, up.clone(), t0));
        }
        let c = udp("10.89.0.9:53000");
        assert_eq!(
            rcode(&f.begin(c, &q, end, up.clone(), t0)),
            (c, 9, RCODE_SERVFAIL)
        );
        // Expiry frees the room.
        assert_eq!(f.expire(t0 + UPSTREAM_TIMEOUT).len(), MAX_IN_FLIGHT);
        assert_eq!(f.len(), 0);
        ask(f.begin(c, &q, end, up.clone(), t0));
        // No server at all: SERVFAIL.
        assert_eq!(
            rcode(&f.begin(c, &q, end, vec![], t0)),
            (c, 9, RCODE_SERVFAIL)
        );
    }

    #[test]
    fn tcp_clients_go_over_tcp_and_are_forgotten() {
        let mut f = InFlight::default();
        let t0 = Instant::now();
        let up = vec![addr("192.0.2.53:53")];
        let (q, end) = query(5, "t.test");
        let conn = |n| Client::Tcp {
            conn: n,
            ip: "10.89.0.2".parse().unwrap(),
        };
        let (a, _) = ask(f.begin(conn(1), &q, end, up.clone(), t0));
        let (b, _) = ask(f.begin(conn(2), &q, end, up.clone(), t0));
        let (u, _) = ask(f.begin(udp("10.89.0.2:4000"), &q, end, up.clone(), t0));
        assert!(f.over_tcp(a) && f.over_tcp(b) && !f.over_tcp(u));
        assert!(f.waiting(conn(1)) && !f.waiting(conn(3)));
        // Connection 1 closed: its query is gone, the others wait.
        f.forget(conn(1));
        assert!(!f.contains(a) && f.contains(b) && f.contains(u));
        assert!(!f.waiting(conn(1)));
        let mut r = f.packet(b).unwrap().to_vec();
        r[2] |= 0x80;
        assert_eq!(rcode(&f.reply(b, up[0], &r).unwrap()), (conn(2), 5, 0));
    }
}
