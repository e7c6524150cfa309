//! ICMP echo translation through unprivileged "ping sockets".
//!
//! An echo request from the container to an outside address (see
//! `Core::host_target`; the gateway maps to the host's 127.0.0.1 only with
//! `allow_host_loopback`) is sent from a host `socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)` connected to the destination, one socket per (destination,
//! container echo id). The kernel replaces the echo id with the socket's
//! own and checksums the message; replies come back with that id, and the
//! stack writes them to the TAP as a frame from the pinged address with the
//! container's id restored (the sequence number and payload are untouched).
//!
//! Requests to the stack's own addresses (gateway without host loopback,
//! DNS forwarder) are left to smoltcp, which answers them itself. Requests
//! that cannot be forwarded are dropped, as a router without a route
//! would: to addresses in the container network or loopback, and every
//! request when the host's `net.ipv4.ping_group_range` does not include the
//! user's group ([`ping_unavailable`] says why), and beyond `MAX_FLOWS`
//! open flows. Flows expire after [`IDLE`] without traffic.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::Duration as StdDuration;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv4Message, Icmpv4Packet, IpProtocol, Ipv4Packet,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::flow::IdleTable;
use crate::stack::{token, Core, KIND_ICMP_FLOW, MAC};
use crate::sys::EV_IN;
use crate::Proto;

/// Most echo flows open at once (each holds a host socket); requests that
/// would open more are dropped until some expire.
const MAX_FLOWS: usize = 256;

/// Idle time after which an echo flow's socket is closed.
pub const IDLE: StdDuration = StdDuration::from_secs(30);

const ETH_HDR: usize = 14;
const IP_HDR: usize = 20;

struct EchoFlow {
    /// Destination as the container addressed it (source of the replies).
    dst: Ipv4Addr,
    container: Ipv4Addr,
    container_mac: [u8; 6],
    ident: u16,
    sock: Socket,
    readable: bool,
}

/// What to do with an echo request frame.
pub(crate) enum Verdict {
    /// smoltcp answers it (an address of the stack).
    Local,
    /// Forwarded to the host, or dropped.
    Consumed,
}

/// All translated echo flows.
#[derive(Default)]
pub(crate) struct IcmpNat {
    flows: Vec<Option<EchoFlow>>,
    free: Vec<usize>,
    by_key: HashMap<(Ipv4Addr, u16), usize>,
    idle: IdleTable<usize>,
    /// Set once ping sockets turned out to be forbidden.
    denied: bool,
    buf: Vec<u8>,
}

impl IcmpNat {
    /// An echo request in `frame` (already classified by `wire::inspect`).
    pub fn on_echo(&mut self, core: &mut Core, frame: &[u8], dst: Ipv4Addr, ident: u16) -> Verdict {
        if dst == core.config.dns
            || (dst == core.config.gateway && !core.config.allow_host_loopback)
        {
            return Verdict::Local;
        }
        if self.denied {
            return Verdict::Consumed;
        }
        let Some(SocketAddr::V4(target)) = core.host_target(SocketAddrV4::new(dst, 0), Proto::Tcp)
        else {
            return Verdict::Consumed;
        };
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Verdict::Consumed;
        };
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return Verdict::Consumed;
        };
        let idx = match self.by_key.get(&(dst, ident)) {
            Some(&i) => i,
            None => match self.open(core, &eth, &ip, target, ident) {
                Some(i) => i,
                None => return Verdict::Consumed,
            },
        };
        if let Some(Some(f)) = self.flows.get(idx) {
            let _ = f.sock.send(ip.payload());
        }
        let now = core.now();
        self.idle.touch(idx, now, idle());
        Verdict::Consumed
    }

    fn open(
        &mut self,
        core: &mut Core,
        eth: &EthernetFrame<&[u8]>,
        ip: &Ipv4Packet<&[u8]>,
        target: SocketAddrV4,
        ident: u16,
    ) -> Option<usize> {
        if self.by_key.len() >= MAX_FLOWS {
            return None;
        }
        let sock = match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
            Ok(s) => s,
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) {
                    self.denied = true;
                }
                return None;
            }
        };
        sock.set_nonblocking(true).ok()?;
        sock.connect(&SocketAddr::V4(target).into()).ok()?;
        let idx = self.free.pop().unwrap_or_else(|| {
            self.flows.push(None);
            self.flows.len() - 1
        });
        if core
            .epoll
            .add(sock.as_fd(), EV_IN, token(KIND_ICMP_FLOW, idx))
            .is_err()
        {
            self.free.push(idx);
            return None;
        }
        let dst = ip.dst_addr();
        self.by_key.insert((dst, ident), idx);
        self.flows[idx] = Some(EchoFlow {
            dst,
            container: ip.src_addr(),
            container_mac: eth.src_addr().0,
            ident,
            sock,
            readable: true,
        });
        Some(idx)
    }

    /// Epoll readiness of flow `idx`.
    pub fn mark(&mut self, idx: usize) {
        if let Some(Some(f)) = self.flows.get_mut(idx) {
            f.readable = true;
        }
    }

    /// Writes the replies waiting on host sockets to the TAP.
    pub fn host_to_container(&mut self, core: &mut Core) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; 65536];
        }
        for f in self.flows.iter_mut().flatten() {
            while f.readable {
                let n = match io::Read::read(&mut &f.sock, &mut self.buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        f.readable = false; // EAGAIN, or an ICMP error queued
                        break;
                    }
                };
                let msg = &mut self.buf[..n];
                let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut *msg) else {
                    continue;
                };
                if icmp.msg_type() != Icmpv4Message::EchoReply {
                    continue;
                }
                icmp.set_echo_ident(f.ident);
                icmp.fill_checksum();
                let (dst, container, mac) = (f.dst, f.container, f.container_mac);
                core.dev.send_frame(ETH_HDR + IP_HDR + n, |frame| {
                    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
                    eth.set_dst_addr(smoltcp::wire::EthernetAddress(mac));
                    eth.set_src_addr(smoltcp::wire::EthernetAddress(MAC));
                    eth.set_ethertype(EthernetProtocol::Ipv4);
                    let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HDR..]);
                    ip.set_version(4);
                    ip.set_header_len(IP_HDR as u8);
                    ip.set_dscp(0);
                    ip.set_ecn(0);
                    ip.set_total_len((IP_HDR + n) as u16);
                    ip.set_ident(0);
                    ip.clear_flags();
                    ip.set_dont_frag(true);
                    ip.set_frag_offset(0);
                    ip.set_hop_limit(64);
                    ip.set_next_header(IpProtocol::Icmp);
                    ip.set_src_addr(dst);
                    ip.set_dst_addr(container);
                    ip.fill_checksum();
                    frame[ETH_HDR + IP_HDR..].copy_from_slice(msg);
                });
            }
        }
    }

    /// Earliest expiry of an idle flow.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.idle.next_deadline()
    }

    /// Closes flows idle for [`IDLE`].
    pub fn expire(&mut self, core: &mut Core, now: Instant) {
        if self.idle.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        for idx in self.idle.expire(now) {
            if let Some(f) = self.flows.get_mut(idx).and_then(Option::take) {
                let _ = core.epoll.delete(f.sock.as_fd());
                self.by_key.remove(&(f.dst, f.ident));
                self.free.push(idx);
            }
        }
    }
}

fn idle() -> Duration {
    Duration::from_micros(IDLE.as_micros() as u64)
}

/// Why the host refuses unprivileged ping sockets to this process, if it
/// does (the stack then drops the container's echo requests).
pub fn ping_unavailable() -> Option<String> {
    // The range itself is not quoted: inside a user namespace the file shows
    // unmapped groups as the overflow gid, which would only mislead.
    match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "ICMP ping sockets are not allowed ({e}): the host's net.ipv4.ping_group_range \
             does not include this user's group"
        )),
    }
}
