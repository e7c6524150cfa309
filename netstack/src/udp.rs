//! UDP translation. A *binding* is a smoltcp UDP socket bound to one
//! endpoint `E` as the container addresses it (a destination of outbound
//! traffic, or the address a published-port client appears as). A *flow*
//! is one (E, container endpoint) pair with its host side: a connected host
//! UDP socket for outbound traffic, or a (listener, client) pair for a
//! published port. Flows expire when idle; a binding goes with its last
//! flow.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::storage::PacketMetadata;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use socket2::SockRef;

use crate::flow::IdleTable;
use crate::stack::{token, Core, KIND_UDP_FLOW};
use crate::sys::EV_IN;
use crate::{PortForward, Proto};

const META_SLOTS: usize = 256;
const PAYLOAD_BYTES: usize = 1 << 20;

struct Binding {
    handle: SocketHandle,
    flows: usize,
}

enum Host {
    Outbound(UdpSocket),
    Published { listener: usize, client: SocketAddr },
}

struct UdpFlow {
    e: SocketAddrV4,
    container: SocketAddrV4,
    host: Host,
    readable: bool,
    /// For flows to the DNS forwarder: the query awaiting an answer.
    dns: Option<DnsQuery>,
}

/// The unanswered queries of a DNS flow (a resolver library sends A and
/// AAAA at once from one socket), kept to resend them to the next resolver.
#[derive(Default)]
struct DnsQuery {
    /// At most [`MAX_PENDING_DNS`], one per DNS id, oldest first.
    pending: Vec<Vec<u8>>,
    /// When the last was sent; `None` once all are answered (or given up).
    sent_at: Option<Instant>,
    /// Resolvers tried for it.
    tries: usize,
    /// Index of the resolver the flow's socket talks to.
    upstream: usize,
}

/// All translated UDP flows.
pub(crate) struct UdpNat {
    bindings: HashMap<SocketAddrV4, Binding>,
    flows: Vec<Option<UdpFlow>>,
    free: Vec<usize>,
    by_key: HashMap<(SocketAddrV4, SocketAddrV4), usize>,
    published: HashMap<(usize, SocketAddr), usize>,
    idle: IdleTable<usize>,
    listener_ready: Vec<bool>,
    scratch: Vec<u8>,
}

fn v4(e: IpEndpoint) -> Option<SocketAddrV4> {
    match e.addr {
        IpAddress::Ipv4(a) => Some(SocketAddrV4::new(a, e.port)),
    }
}

impl UdpNat {
    pub fn new(listeners: usize) -> Self {
        Self {
            bindings: HashMap::new(),
            flows: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            published: HashMap::new(),
            idle: IdleTable::default(),
            listener_ready: vec![true; listeners],
            scratch: vec![0u8; 65536],
        }
    }

    pub fn listener_ready(&mut self, i: usize) {
        if let Some(r) = self.listener_ready.get_mut(i) {
            *r = true;
        }
    }

    pub fn mark(&mut self, idx: usize) {
        if let Some(Some(f)) = self.flows.get_mut(idx) {
            f.readable = true;
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.idle.next_deadline(), self.dns_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn timeout(core: &Core, e: SocketAddrV4) -> Duration {
        if *e.ip() == core.config.dns && e.port() == 53 {
            Duration::from_micros(crate::DNS_TIMEOUT.as_micros() as u64)
        } else {
            Duration::from_micros(core.config.udp_timeout.as_micros() as u64)
        }
    }

    fn ensure_binding(&mut self, core: &mut Core, e: SocketAddrV4) -> Option<SocketHandle> {
        if let Some(b) = self.bindings.get(&e) {
            return Some(b.handle);
        }
        let buf = || {
            udp::PacketBuffer::new(
                vec![PacketMetadata::EMPTY; META_SLOTS],
                vec![0u8; PAYLOAD_BYTES],
            )
        };
        let mut s = udp::Socket::new(buf(), buf());
        s.bind(IpListenEndpoint {
            addr: Some((*e.ip()).into()),
            port: e.port(),
        })
        .ok()?;
        let handle = core.sockets.add(s);
        self.bindings.insert(e, Binding { handle, flows: 0 });
        Some(handle)
    }

    fn insert(&mut self, core: &mut Core, flow: UdpFlow) -> Option<usize> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.flows.push(None);
            self.flows.len() - 1
        });
        if let Host::Outbound(s) = &flow.host {
            if core
                .epoll
                .add(s.as_fd(), EV_IN, token(KIND_UDP_FLOW, idx))
                .is_err()
            {
                self.free.push(idx);
                return None;
            }
        }
        if let Host::Published { listener, client } = flow.host {
            self.published.insert((listener, client), idx);
        }
        self.by_key.insert((flow.e, flow.container), idx);
        if let Some(b) = self.bindings.get_mut(&flow.e) {
            b.flows += 1;
        }
        self.idle
            .touch(idx, core.now(), Self::timeout(core, flow.e));
        self.flows[idx] = Some(flow);
        Some(idx)
    }

    fn remove(&mut self, core: &mut Core, idx: usize) {
        let Some(flow) = self.flows[idx].take() else {
            return;
        };
        self.free.push(idx);
        self.idle.remove(&idx);
        self.by_key.remove(&(flow.e, flow.container));
        match &flow.host {
            Host::Outbound(s) => {
                let _ = core.epoll.delete(s.as_fd());
            }
            Host::Published { listener, client } => {
                self.published.remove(&(*listener, *client));
            }
        }
        if let Some(b) = self.bindings.get_mut(&flow.e) {
            b.flows = b.flows.saturating_sub(1);
            if b.flows == 0 {
                let h = b.handle;
                self.bindings.remove(&flow.e);
                core.sockets.remove(h);
            }
        }
    }

    /// A datagram from the container to `dst` is about to reach smoltcp:
    /// make sure a socket is bound there if the destination is allowed.
    pub fn on_datagram(&mut self, core: &mut Core, _src: SocketAddrV4, dst: SocketAddrV4) {
        if !self.bindings.contains_key(&dst) && core.host_target(dst, Proto::Udp).is_some() {
            self.ensure_binding(core, dst);
        }
    }

    /// Moves datagrams received by smoltcp to the host.
    pub fn container_to_host(&mut self, core: &mut Core, listeners: &[(PortForward, UdpSocket)]) {
        let now = core.now();
        let es: Vec<(SocketAddrV4, SocketHandle)> =
            self.bindings.iter().map(|(e, b)| (*e, b.handle)).collect();
        for (e, handle) in es {
            loop {
                let sock = core.sockets.get_mut::<udp::Socket>(handle);
                let Ok((data, meta)) = sock.recv() else {
                    break;
                };
                let Some(container) = v4(meta.endpoint) else {
                    continue;
                };
                let idx = match self.by_key.get(&(e, container)) {
                    Some(&i) => Some(i),
                    None => {
                        // New outbound flow: copy the datagram out first so
                        // the socket set can be borrowed again.
                        let n = data.len().min(self.scratch.len());
                        self.scratch[..n].copy_from_slice(&data[..n]);
                        let i = self.new_outbound(core, e, container);
                        if let Some(i) = i {
                            if let Some(Some(f)) = self.flows.get(i) {
                                send_host(&f.host, &self.scratch[..n], listeners);
                            }
                            let query = self.scratch[..n].to_vec();
                            self.dns_sent(i, &query, now);
                            self.idle.touch(i, now, Self::timeout(core, e));
                        }
                        continue;
                    }
                };
                if let Some(i) = idx {
                    if let Some(Some(f)) = self.flows.get(i) {
                        send_host(&f.host, data, listeners);
                    }
                    self.dns_sent(i, data, now);
                    self.idle.touch(i, now, Self::timeout(core, e));
                }
            }
        }
    }

    fn new_outbound(
        &mut self,
        core: &mut Core,
        e: SocketAddrV4,
        container: SocketAddrV4,
    ) -> Option<usize> {
        let target = core.host_target(e, Proto::Udp)?;
        let s = connected_socket(core, target)?;
        let dns = (*e.ip() == core.config.dns && e.port() == 53).then(|| DnsQuery {
            upstream: core.dns_upstream,
            ..DnsQuery::default()
        });
        self.insert(
            core,
            UdpFlow {
                e,
                container,
                host: Host::Outbound(s),
                readable: true,
                dns,
            },
        )
    }

    /// Remembers a query sent on DNS flow `idx`.
    fn dns_sent(&mut self, idx: usize, data: &[u8], now: Instant) {
        if let Some(Some(UdpFlow { dns: Some(q), .. })) = self.flows.get_mut(idx) {
            if data.len() < 2 {
                return;
            }
            q.pending.retain(|p| p[..2] != data[..2]);
            if q.pending.len() >= MAX_PENDING_DNS {
                q.pending.remove(0);
            }
            q.pending.push(data.to_vec());
            q.sent_at = Some(now);
            q.tries = 1;
        }
    }

    /// Sends the pending query of DNS flow `idx` to the next resolver,
    /// which becomes the one every new query uses.
    fn dns_failover(&mut self, core: &mut Core, idx: usize, now: Instant) {
        let n = core.config.upstream_dns.len();
        let Some(Some(f)) = self.flows.get_mut(idx) else {
            return;
        };
        let Some(q) = f.dns.as_mut() else {
            return;
        };
        if q.sent_at.is_none() || q.tries >= n {
            q.sent_at = None; // every resolver tried: the client retries
            return;
        }
        if core.dns_upstream == q.upstream {
            core.dns_upstream = (q.upstream + 1) % n;
        }
        q.upstream = core.dns_upstream;
        q.tries += 1;
        q.sent_at = Some(now);
        let Some(target) = core.config.upstream_dns.get(q.upstream).copied() else {
            return;
        };
        let Some(s) = connected_socket(core, target) else {
            return;
        };
        for p in &q.pending {
            let _ = s.send(p);
        }
        if let Host::Outbound(old) = &f.host {
            let _ = core.epoll.delete(old.as_fd());
        }
        let _ = core.epoll.add(s.as_fd(), EV_IN, token(KIND_UDP_FLOW, idx));
        f.host = Host::Outbound(s);
        f.readable = true;
    }

    /// Fails over DNS queries unanswered for [`crate::DNS_RETRY`].
    fn dns_retry(&mut self, core: &mut Core, now: Instant) {
        let due: Vec<usize> = (0..self.flows.len())
            .filter(|&i| {
                matches!(&self.flows[i], Some(UdpFlow { dns: Some(DnsQuery { sent_at: Some(t), .. }), .. }) if *t + dns_retry() <= now)
            })
            .collect();
        for idx in due {
            self.dns_failover(core, idx, now);
        }
    }

    fn dns_deadline(&self) -> Option<Instant> {
        self.flows
            .iter()
            .flatten()
            .filter_map(|f| f.dns.as_ref()?.sent_at)
            .min()
            .map(|t| t + dns_retry())
    }

    /// Moves datagrams from connected host sockets into the container.
    pub fn host_to_container(&mut self, core: &mut Core) {
        let now = core.now();
        let mut refused = Vec::new();
        for idx in 0..self.flows.len() {
            let Some(f) = self.flows[idx].as_mut() else {
                continue;
            };
            let Host::Outbound(s) = &f.host else {
                continue;
            };
            let Some(b) = self.bindings.get(&f.e) else {
                continue;
            };
            let sock = core.sockets.get_mut::<udp::Socket>(b.handle);
            let mut any = false;
            while f.readable {
                if !sock.can_send() {
                    break; // keep `readable`; retry after egress
                }
                match s.recv(&mut self.scratch) {
                    Ok(n) => {
                        any = true;
                        if let Some(q) = f.dns.as_mut() {
                            let id = &self.scratch[..n.min(2)];
                            q.pending.retain(|p| p[..2] != *id);
                            if q.pending.is_empty() {
                                q.sent_at = None;
                            }
                        }
                        let meta = udp::UdpMetadata {
                            endpoint: IpEndpoint::new(
                                (*f.container.ip()).into(),
                                f.container.port(),
                            ),
                            local_address: Some((*f.e.ip()).into()),
                            meta: Default::default(),
                        };
                        let _ = sock.send_slice(&self.scratch[..n], meta);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => f.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // ICMP errors: a refused DNS query goes to the next resolver.
                        f.readable = false;
                        if f.dns.is_some() && e.kind() == io::ErrorKind::ConnectionRefused {
                            refused.push(idx);
                        }
                    }
                }
            }
            if any {
                let t = Self::timeout(core, f.e);
                self.idle.touch(idx, now, t);
            }
        }
        for idx in refused {
            self.dns_failover(core, idx, now);
        }
    }

    /// Reads published UDP listeners and forwards into the container.
    pub fn listeners_to_container(
        &mut self,
        core: &mut Core,
        listeners: &[(PortForward, UdpSocket)],
    ) {
        let now = core.now();
        for (li, (pf, l)) in listeners.iter().enumerate() {
            if !self.listener_ready.get(li).copied().unwrap_or(false) {
                continue;
            }
            loop {
                let (n, client) = match l.recv_from(&mut self.scratch) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.listener_ready[li] = false;
                        break;
                    }
                };
                let container = SocketAddrV4::new(core.config.addr, pf.container_port);
                let idx = match self.published.get(&(li, client)) {
                    Some(&i) => i,
                    None => {
                        let ip = core.client_address(client.ip());
                        let mut e = SocketAddrV4::new(ip, client.port());
                        let mut port = 40_000u16;
                        while self.by_key.contains_key(&(e, container)) && port < u16::MAX {
                            e.set_port(port);
                            port += 1;
                        }
                        if self.ensure_binding(core, e).is_none() {
                            continue;
                        }
                        let flow = UdpFlow {
                            e,
                            container,
                            host: Host::Published {
                                listener: li,
                                client,
                            },
                            readable: false,
                            dns: None,
                        };
                        match self.insert(core, flow) {
                            Some(i) => i,
                            None => continue,
                        }
                    }
                };
                let Some(Some(f)) = self.flows.get(idx) else {
                    continue;
                };
                let Some(b) = self.bindings.get(&f.e) else {
                    continue;
                };
                let meta = udp::UdpMetadata {
                    endpoint: IpEndpoint::new((*container.ip()).into(), container.port()),
                    local_address: Some((*f.e.ip()).into()),
                    meta: Default::default(),
                };
                let sock = core.sockets.get_mut::<udp::Socket>(b.handle);
                let _ = sock.send_slice(&self.scratch[..n], meta);
                let t = Self::timeout(core, f.e);
                self.idle.touch(idx, now, t);
            }
        }
    }

    /// Drops idle flows.
    pub fn expire(&mut self, core: &mut Core, now: Instant) {
        if self.dns_deadline().is_some_and(|d| d <= now) {
            self.dns_retry(core, now);
        }
        if self.idle.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        for idx in self.idle.expire(now) {
            self.remove(core, idx);
        }
    }
}

/// Unanswered queries a DNS flow keeps for failover.
const MAX_PENDING_DNS: usize = 8;

fn dns_retry() -> Duration {
    Duration::from_micros(crate::DNS_RETRY.as_micros() as u64)
}

/// A non-blocking host UDP socket connected to `target`.
fn connected_socket(core: &Core, target: SocketAddr) -> Option<UdpSocket> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let s = UdpSocket::bind(local).ok()?;
    s.connect(target).ok()?;
    s.set_nonblocking(true).ok()?;
    core.tune_host_socket(SockRef::from(&s), false);
    Some(s)
}

fn send_host(host: &Host, data: &[u8], listeners: &[(PortForward, UdpSocket)]) {
    match host {
        Host::Outbound(s) => {
            let _ = s.send(data);
        }
        Host::Published { listener, client } => {
            if let Some((_, l)) = listeners.get(*listener) {
                let _ = l.send_to(data, client);
            }
        }
    }
}
