//! The event loop: one thread, one epoll set, one smoltcp interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, OwnedFd};

use smoltcp::iface::{Interface, PollResult, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use crate::device::TapDevice;
use crate::icmp::{IcmpNat, Verdict};
use crate::pcap::Pcap;
use crate::splice::SpliceThread;
use crate::sys::{Epoll, EV_IN};
use crate::tcp::TcpNat;
use crate::udp::UdpNat;
use crate::wire::{inspect, Inspect};
use crate::{BoundPorts, Config, Error, PortDriver, Proto, Result};

/// The stack's own MAC address on the TAP link.
pub(crate) const MAC: [u8; 6] = [0x02, 0x72, 0x6c, 0x65, 0x73, 0x73];
/// Frames read from the TAP per round before smoltcp runs.
const RX_BATCH: usize = 64;
/// Rounds per wake-up while the TAP keeps having frames.
const MAX_ROUNDS: usize = 16;
/// Bound on egress passes per round (each sends one segment per socket).
const MAX_EGRESS: usize = 512;

pub(crate) const KIND_CTL: u64 = 0;
pub(crate) const KIND_TCP_LISTEN: u64 = 1;
pub(crate) const KIND_UDP_LISTEN: u64 = 2;
pub(crate) const KIND_TCP_FLOW: u64 = 3;
pub(crate) const KIND_UDP_FLOW: u64 = 4;
pub(crate) const KIND_ICMP_FLOW: u64 = 5;
const TOKEN_TAP: u64 = 0;
const TOKEN_STOP: u64 = 1;

/// Epoll token of `(kind, index)`.
pub(crate) fn token(kind: u64, idx: usize) -> u64 {
    (kind << 32) | idx as u64
}

/// State shared by the TCP and UDP translators.
pub(crate) struct Core {
    pub iface: Interface,
    pub dev: TapDevice,
    pub sockets: SocketSet<'static>,
    pub epoll: Epoll,
    pub config: Config,
    /// Index in `config.upstream_dns` of the resolver queries go to.
    pub dns_upstream: usize,
    start: std::time::Instant,
}

impl Core {
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Runs smoltcp ingress over every queued frame, then egress.
    pub fn poll(&mut self) {
        let now = self.now();
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
    }

    /// Transmits until no socket has anything more to send (bounded).
    pub fn egress(&mut self) {
        let now = self.now();
        for _ in 0..MAX_EGRESS {
            if self
                .iface
                .poll_egress(now, &mut self.dev, &mut self.sockets)
                == PollResult::None
            {
                break;
            }
        }
    }

    /// Where a container connection to `dst` goes on the host, if allowed.
    pub fn host_target(&self, dst: SocketAddrV4, proto: Proto) -> Option<SocketAddr> {
        let ip = *dst.ip();
        if ip == self.config.gateway {
            return self
                .config
                .allow_host_loopback
                .then(|| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), dst.port()));
        }
        if ip == self.config.dns {
            return (dst.port() == 53)
                .then(|| self.config.upstream_dns.get(self.dns_upstream).copied())
                .flatten();
        }
        let _ = proto;
        let bits = 32 - self.config.prefix_len as u32;
        let same_net = (u32::from(ip) >> bits) == (u32::from(self.config.addr) >> bits);
        let routed = self
            .config
            .routed
            .iter()
            .chain(&self.config.refused)
            .any(|&(net, len)| {
                let b = 32 - len as u32;
                len > 0 && (u32::from(ip) >> b) == (u32::from(net) >> b)
            });
        if same_net
            || routed
            || ip.is_loopback()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
        {
            return None;
        }
        Some(SocketAddr::V4(dst))
    }

    /// Address the container sees for a host client at `ip`.
    pub fn client_address(&self, ip: IpAddr) -> Ipv4Addr {
        match ip {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => v4,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if !v4.is_loopback() => v4,
                _ => self.config.gateway,
            },
            _ => self.config.gateway,
        }
    }

    /// Applies performance options to a host socket.
    pub fn tune_host_socket(&self, s: socket2::SockRef<'_>, tcp: bool) {
        let _ = s.set_send_buffer_size(self.config.host_buffer);
        let _ = s.set_recv_buffer_size(self.config.host_buffer);
        if tcp {
            let _ = s.set_tcp_nodelay(true);
            let _ = s.set_keepalive(true);
        }
    }
}

/// A running userspace network stack for one container. See the crate docs.
pub struct Stack {
    core: Core,
    tcp: TcpNat,
    udp: UdpNat,
    icmp: IcmpNat,
    ports: BoundPorts,
    /// Published TCP ports under the splice driver (the TCP listeners then
    /// live on its thread, and `ports` only holds the UDP ones).
    splice: Option<SpliceThread>,
    /// What [`Stack::ports`] reports (every published port).
    published: Vec<crate::PortForward>,
}

impl Stack {
    /// Builds a stack over `tap` (a non-blocking TAP fd from
    /// [`crate::tap::create`]) with the listeners from [`crate::bind_ports`].
    pub fn new(tap: OwnedFd, config: Config, mut bound: BoundPorts) -> Result<Stack> {
        config.validate()?;
        let published = bound.ports();
        let splice = match config.port_driver {
            PortDriver::Splice if !bound.tcp.is_empty() => Some(SpliceThread::start(
                &tap,
                std::mem::take(&mut bound.tcp),
                config.addr,
                config.host_buffer,
            )?),
            _ => None,
        };
        let pcap = match &config.pcap {
            Some(p) => {
                Some(Pcap::create(p).map_err(|e| Error::io(format!("create {}", p.display()), e))?)
            }
            None => None,
        };
        let mut dev = TapDevice::new(tap, config.mtu, pcap);
        let mut icfg = smoltcp::iface::Config::new(HardwareAddress::Ethernet(EthernetAddress(MAC)));
        icfg.random_seed = random_seed();
        let start = std::time::Instant::now();
        let mut iface = Interface::new(icfg, &mut dev, Instant::from_micros(0));
        let prefix = config.prefix_len;
        let (gw, dns) = (config.gateway, config.dns);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(gw), prefix));
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(dns), prefix));
        });
        iface
            .routes_mut()
            .add_default_ipv4_route(gw)
            .map_err(|_| Error::Config("cannot add default route".into()))?;
        for &(net, len) in &config.routed {
            let via = config.addr;
            let mut full = false;
            iface.routes_mut().update(|r| {
                full = r
                    .push(smoltcp::iface::Route {
                        cidr: IpCidr::new(IpAddress::Ipv4(net), len),
                        via_router: IpAddress::Ipv4(via),
                        preferred_until: None,
                        expires_at: None,
                    })
                    .is_err();
            });
            if full {
                return Err(Error::Config("too many routed subnets".into()));
            }
        }
        iface.set_any_ip(true);
        let epoll = Epoll::new(256).map_err(|e| Error::io("create epoll", e))?;
        epoll
            .add(dev.fd().as_fd(), EV_IN, token(KIND_CTL, TOKEN_TAP as usize))
            .map_err(|e| Error::io("register TAP", e))?;
        for (i, (_, l)) in bound.tcp.iter().enumerate() {
            epoll
                .add(l.as_fd(), EV_IN, token(KIND_TCP_LISTEN, i))
                .map_err(|e| Error::io("register TCP listener", e))?;
        }
        for (i, (_, s)) in bound.udp.iter().enumerate() {
            epoll
                .add(s.as_fd(), EV_IN, token(KIND_UDP_LISTEN, i))
                .map_err(|e| Error::io("register UDP listener", e))?;
        }
        let udp = UdpNat::new(bound.udp.len());
        Ok(Stack {
            core: Core {
                iface,
                dev,
                sockets: SocketSet::new(Vec::new()),
                epoll,
                config,
                dns_upstream: 0,
                start,
            },
            tcp: TcpNat::default(),
            udp,
            icmp: IcmpNat::default(),
            ports: bound,
            splice,
            published,
        })
    }

    /// The published ports as bound.
    pub fn ports(&self) -> Vec<crate::PortForward> {
        self.published.clone()
    }

    /// Runs until `stop` becomes readable (or the TAP goes away, which
    /// also returns `Ok`). Every host socket and listener is closed when
    /// this returns.
    pub fn run(mut self, stop: OwnedFd) -> Result<()> {
        self.core
            .epoll
            .add(stop.as_fd(), EV_IN, token(KIND_CTL, TOKEN_STOP as usize))
            .map_err(|e| Error::io("register stop fd", e))?;
        let mut tap_ready = true;
        let mut tcp_listen_ready = vec![true; self.ports.tcp.len()];
        let result = loop {
            let timeout = if tap_ready { 0 } else { self.timeout_ms() };
            let mut stopped = false;
            let (tcp, udp, icmp) = (&mut self.tcp, &mut self.udp, &mut self.icmp);
            let waited = self.core.epoll.wait(timeout, |tok, ev| {
                let (kind, idx) = (tok >> 32, (tok & 0xffff_ffff) as usize);
                match kind {
                    KIND_CTL if tok == TOKEN_TAP => tap_ready = true,
                    KIND_CTL => stopped = true,
                    KIND_TCP_LISTEN => {
                        if let Some(r) = tcp_listen_ready.get_mut(idx) {
                            *r = true;
                        }
                    }
                    KIND_UDP_LISTEN => udp.listener_ready(idx),
                    KIND_TCP_FLOW => tcp.mark(idx, ev),
                    KIND_UDP_FLOW => udp.mark(idx),
                    KIND_ICMP_FLOW => icmp.mark(idx),
                    _ => {}
                }
            });
            if let Err(e) = waited {
                break Err(Error::io("epoll wait", e));
            }
            if stopped {
                break Ok(());
            }
            for (i, ready) in tcp_listen_ready.iter_mut().enumerate() {
                if *ready {
                    *ready = self.tcp.accept(&mut self.core, i, &self.ports.tcp[i]);
                }
            }
            self.udp
                .listeners_to_container(&mut self.core, &self.ports.udp);
            let mut tap_gone = false;
            for _ in 0..MAX_ROUNDS {
                if tap_ready {
                    match self.read_tap() {
                        Ok(more) => tap_ready = more,
                        Err(e) if tap_detached(&e) => {
                            tap_gone = true;
                            tap_ready = false;
                        }
                        Err(e) => return Err(Error::io("read TAP", e)),
                    }
                }
                self.cycle();
                if !tap_ready {
                    break;
                }
            }
            if tap_gone {
                break Ok(());
            }
        };
        self.core.dev.flush_pcap();
        if let Some(mut s) = self.splice.take() {
            s.stop();
        }
        self.tcp.close_all(&mut self.core);
        result
    }

    /// Reads up to a batch of frames; returns whether the TAP may have more.
    fn read_tap(&mut self) -> io::Result<bool> {
        for _ in 0..RX_BATCH {
            let Some(frame) = self.core.dev.read_frame()? else {
                return Ok(false);
            };
            match inspect(frame.bytes()) {
                Inspect::TcpSyn { src, dst } => {
                    if let Some(frame) = self.tcp.on_syn(&mut self.core, frame, src, dst) {
                        self.core.dev.enqueue(frame);
                    }
                }
                Inspect::Udp { src, dst } => {
                    self.udp.on_datagram(&mut self.core, src, dst);
                    self.core.dev.enqueue(frame);
                }
                Inspect::IcmpEcho { dst, ident, .. } => {
                    match self.icmp.on_echo(&mut self.core, frame.bytes(), dst, ident) {
                        Verdict::Local => self.core.dev.enqueue(frame),
                        Verdict::Consumed => self.core.dev.recycle(frame),
                    }
                }
                Inspect::Other => self.core.dev.enqueue(frame),
            }
        }
        Ok(true)
    }

    /// smoltcp ingress, then moving data both ways, then egress and cleanup.
    fn cycle(&mut self) {
        self.core.poll();
        self.udp.container_to_host(&mut self.core, &self.ports.udp);
        self.tcp.pump(&mut self.core);
        self.udp.host_to_container(&mut self.core);
        self.icmp.host_to_container(&mut self.core);
        self.core.egress();
        // Data moved to the host freed window space; pump again so the
        // window update and any new host data go out in this round.
        self.tcp.pump(&mut self.core);
        self.core.egress();
        self.tcp.reap(&mut self.core);
        let now = self.core.now();
        self.udp.expire(&mut self.core, now);
        self.icmp.expire(&mut self.core, now);
    }

    fn timeout_ms(&mut self) -> i32 {
        let now = self.core.now();
        let mut next = self.core.iface.poll_at(now, &self.core.sockets);
        for d in [self.udp.next_deadline(), self.icmp.next_deadline()]
            .into_iter()
            .flatten()
        {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        match next {
            None => -1,
            Some(t) if t <= now => 0,
            Some(t) => ((t - now).total_micros().div_ceil(1000)).min(60_000) as i32,
        }
    }
}

fn tap_detached(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
        || matches!(
            e.raw_os_error(),
            Some(libc::EBADFD) | Some(libc::EIO) | Some(libc::ENXIO)
        )
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut b);
    }
    u64::from_ne_bytes(b)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
}
