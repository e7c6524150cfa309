//! netstack: userspace networking for rootless containers, on smoltcp.
//!
//! # Theory of operation
//!
//! **Goal.** A rootless container has its own network namespace but may not
//! create a veth pair to the host. Instead a TAP device is created inside
//! the container's namespace ([`tap::create`]) and its fd is handed to the
//! host side, where [`Stack`] drives it with a smoltcp `Interface`
//! (Ethernet medium). Everything the container sends to the default gateway
//! is terminated by smoltcp and re-originated from ordinary host sockets
//! (NAT); host listeners for published ports are forwarded into the
//! container.
//!
//! **Addresses.** The container is `10.0.2.100/24`, the stack answers as
//! the gateway `10.0.2.2` and the DNS forwarder `10.0.2.3` (both smoltcp
//! interface addresses, so the container can ARP them). The interface runs
//! in *any-IP* mode with a default route via its own address, so it accepts
//! packets for every destination.
//!
//! **Outbound TCP.** [`wire::inspect`] looks at each frame read from the TAP
//! before smoltcp does. A SYN for an unknown 4-tuple is held back and a
//! non-blocking host `connect` is started to the translated destination
//! (`10.0.2.2` → `127.0.0.1` only with [`Config::allow_host_loopback`];
//! `10.0.2.3:53` → the first upstream resolver). When the connect succeeds a
//! smoltcp socket listening on exactly the original destination is created
//! and the held SYN is injected, so the container's handshake completes
//! only once the host side is connected; when it fails the SYN is injected
//! with no listener and smoltcp answers with RST. Data is then copied
//! directly between the smoltcp socket buffers and the host socket; FIN
//! maps to `shutdown(SHUT_WR)` and back, RST maps to RST (`SO_LINGER` 0)
//! and back. See [`flow`] for the half-close state machine.
//!
//! **Outbound UDP / DNS.** A UDP datagram to an endpoint with no smoltcp
//! socket creates one bound to that endpoint; every container source
//! endpoint talking to it gets its own connected host UDP socket. Flows
//! expire after [`Config::udp_timeout`] of idleness (DNS flows after
//! [`DNS_TIMEOUT`]).
//!
//! **Published ports.** [`bind_ports`] binds every host listener before
//! the container starts; the IPv4 wildcard gets `[::]` (IPV6_V6ONLY) too
//! unless [`PortForward::ipv4_only`], as docker (see `ports`). An accepted TCP connection becomes a smoltcp
//! active open to `10.0.2.100:container_port` *from the client's own
//! address and port*, so the container sees the real peer; loopback (and
//! IPv6) clients appear as `10.0.2.2`. UDP works the same way per client.
//! With [`PortDriver::Splice`] published TCP ports skip the stack instead:
//! a thread inside the container's namespace splices each host connection
//! to a socket there (faster; the client's address is lost; see `splice`).
//! With [`PortDriver::Handoff`] nothing is forwarded: the bound host socket
//! replaces the container server's own at its `bind(2)`, through a seccomp
//! user notification (see `handoff`).
//!
//! **Event loop.** One thread, one edge-triggered epoll set over the TAP fd,
//! the stop fd, the listeners and every host socket. Readiness is kept in
//! per-socket flags that are cleared only on `EAGAIN`, so the loop can stop
//! reading a source when the other side has no buffer space and resume
//! later without spinning.
//!
//! **Invariants.** Each smoltcp socket belongs to exactly one flow, and a
//! flow owns its host socket, so removing the flow closes both. All unsafe
//! code is in `sys`. Frames are read into a pool of reusable MTU-sized
//! buffers; transmission reuses one buffer; no allocation per packet on the
//! hot path (allocation happens per connection or per UDP flow).
//!
//! **Performance.** Checksums are offloaded to the kernel through
//! virtio-net headers (see `device`); smoltcp sockets have Nagle and
//! delayed ACKs off (a 10 ms delayed ACK halves throughput) and 4 MiB
//! buffers; host sockets have TCP_NODELAY and large buffers.
//!
//! **Lifetime.** The TAP fd pins the container's network namespace (the
//! tun file holds a reference to the namespace it was opened in), so the
//! namespace cannot vanish under the stack: the caller must make `stop`
//! readable when the container exits. When the container's sockets die
//! mid-transfer, their RSTs are forwarded to the host clients.
//!
//! **ICMP echo.** Pings to outside addresses go out through unprivileged
//! ping sockets where `net.ipv4.ping_group_range` allows them, and are
//! dropped otherwise ([`ping_unavailable`] says why); see `icmp`.
//!
//! **Limits.** IPv4 only (container side); no IP fragments; ICMP errors
//! are not translated (only echo); DNS is
//! forwarded to one upstream at a time (the next one takes over when a
//! query is refused or unanswered for [`DNS_RETRY`]); TCP and UDP idle timeouts are not
//! configurable per flow.

mod config;
mod device;
pub mod fdpass;
pub mod flow;
pub mod handoff;
mod icmp;
pub mod link;
pub mod netlink;
mod pcap;
mod ports;
mod relay;
mod splice;
mod stack;
mod sys;
pub mod tap;
mod tcp;
mod udp;
pub mod wire;
mod worker;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

pub use config::{parse_resolv_conf, Config, PortDriver, PortForward, Proto};
pub use handoff::Handoff;
pub use icmp::ping_unavailable;
pub use ports::{bind_both, bind_ports, bind_udp, listen_tcp, BoundPorts};
pub use stack::Stack;
pub use worker::Worker;

#[doc(hidden)]
pub use sys::{open_fd_count, setns_net, unshare_netns};

/// Default link MTU.
pub const DEFAULT_MTU: usize = 65520;
/// Default container address.
pub const DEFAULT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
/// Default prefix length of the container network.
pub const DEFAULT_PREFIX: u8 = 24;
/// Default gateway (the stack).
pub const DEFAULT_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// Default DNS forwarder address (the stack).
pub const DEFAULT_DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// How long a DNS query waits for its upstream's answer before it is
/// sent to the next resolver (which then serves later queries too).
pub const DNS_RETRY: std::time::Duration = std::time::Duration::from_millis(1500);
/// Idle timeout of DNS flows.
pub const DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Errors, each naming the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A published port could not be bound.
    #[error("bind {proto} port {addr}: {source}")]
    Bind {
        /// TCP or UDP.
        proto: Proto,
        /// Host address and port.
        addr: SocketAddr,
        /// The OS error (EADDRINUSE for a port in use).
        #[source]
        source: io::Error,
    },
    /// The configuration is inconsistent.
    #[error("invalid netstack config: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            op: op.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
