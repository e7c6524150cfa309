//! Binding published host ports before the container starts.
//!
//! **Families (docker's model).** A port published on the IPv4 wildcard
//! (`-p 8080:80`, host address 0.0.0.0) gets two host sockets on the same
//! port: `0.0.0.0` and `[::]` with IPV6_V6ONLY, so IPv6 clients are served
//! too and the two sockets never overlap ([`bind_both`]). The wildcard
//! written out (`-p 0.0.0.0:8080:80`, [`PortForward::ipv4_only`]) gets the
//! IPv4 socket alone. Every IPv6 socket
//! is V6ONLY, so an explicit `[::]` or `[::1]` serves IPv6 only. A host
//! without IPv6 (EAFNOSUPPORT or EADDRNOTAVAIL on `[::]`) gets the IPv4
//! socket alone, quietly, as from docker. A port in use on either family
//! fails the port with nothing of it left bound; a random port (0) is the
//! one the IPv4 bind picked, tried again on a fresh one while IPv6 has it
//! taken. The container side stays IPv4: an IPv6 client is forwarded to the
//! container's IPv4 address like any other (it appears as the gateway).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, SockRef, Socket, Type};

use crate::{Config, Error, PortDriver, PortForward, Proto, Result};

/// Host listeners for every published port, bound by [`bind_ports`].
/// Dropping it closes them all.
#[derive(Debug, Default)]
pub struct BoundPorts {
    pub(crate) tcp: Vec<(PortForward, TcpListener)>,
    pub(crate) udp: Vec<(PortForward, UdpSocket)>,
    /// Under [`crate::PortDriver::Handoff`]: every port, bound but not
    /// listening, for [`crate::Handoff`] to give to the container.
    pub(crate) handoff: Vec<(PortForward, Socket)>,
}

impl BoundPorts {
    /// The published ports with the host ports actually bound (a requested
    /// port 0 is replaced by the one the kernel chose), in config order
    /// within each protocol, TCP first.
    pub fn ports(&self) -> Vec<PortForward> {
        self.tcp
            .iter()
            .map(|(p, _)| *p)
            .chain(self.udp.iter().map(|(p, _)| *p))
            .chain(self.handoff.iter().map(|(p, _)| *p))
            .collect()
    }

    /// The sockets of the handoff driver, which the stack does not serve.
    pub fn take_handoff(&mut self) -> Vec<(PortForward, Socket)> {
        std::mem::take(&mut self.handoff)
    }
}

/// A socket of `proto` bound to `addr` with SO_REUSEADDR (as std's
/// listeners are; TCP only), IPV6_V6ONLY for an IPv6 address, not
/// listening: until the container takes it, a client is refused as if
/// nothing listened.
pub(crate) fn bind_only(proto: Proto, addr: SocketAddr) -> io::Result<Socket> {
    let ty = match proto {
        Proto::Tcp => Type::STREAM,
        Proto::Udp => Type::DGRAM,
    };
    let s = Socket::new(Domain::for_address(addr), ty, None)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if proto == Proto::Tcp {
        s.set_reuse_address(true)?;
    }
    s.bind(&addr.into())?;
    Ok(s)
}

/// A TCP listener on `addr` with the longest accept queue the host allows
/// (`net.core.somaxconn`, 4096 by default): std's listeners ask for 128,
/// so a burst of connections to a published port had SYNs dropped, each
/// drop a one-second stall for its client (docker's proxy gets somaxconn).
/// An IPv6 `addr` is IPv6 only (IPV6_V6ONLY).
pub fn listen_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = bind_only(Proto::Tcp, addr)?;
    // The kernel caps the backlog at somaxconn.
    s.listen(i32::MAX)?;
    Ok(s.into())
}

/// A UDP socket bound to `addr`; an IPv6 `addr` is IPv6 only (IPV6_V6ONLY).
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    Ok(bind_only(Proto::Udp, addr)?.into())
}

/// Whether binding the IPv6 wildcard failed because the host has no IPv6.
fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

/// How often a random port (0) is picked again while its IPv6 side is taken.
const RANDOM_TRIES: usize = 16;

/// The host addresses a port published on `addr` binds: `addr` itself, and
/// for the IPv4 wildcard also `[::]` on the same port unless `ipv4_only`
/// (see the module header). `bind` binds one address (IPv6 ones V6ONLY),
/// `port_of` reads the port it got. On failure nothing stays bound, and
/// the error names the address that failed.
pub fn bind_both<T>(
    addr: SocketAddr,
    ipv4_only: bool,
    mut bind: impl FnMut(SocketAddr) -> io::Result<T>,
    port_of: impl Fn(&T) -> io::Result<u16>,
) -> Result<Vec<(SocketAddr, T)>, (SocketAddr, io::Error)> {
    let mut tries = 0;
    loop {
        let first = bind(addr).map_err(|e| (addr, e))?;
        let port = port_of(&first).map_err(|e| (addr, e))?;
        let first = (SocketAddr::new(addr.ip(), port), first);
        if ipv4_only || addr.ip() != IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            return Ok(vec![first]);
        }
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        match bind(v6) {
            Ok(s) => return Ok(vec![first, (v6, s)]),
            Err(e) if no_ipv6(&e) => return Ok(vec![first]),
            Err(e)
                if addr.port() == 0
                    && e.kind() == io::ErrorKind::AddrInUse
                    && tries + 1 < RANDOM_TRIES =>
            {
                // `first` is closed here; the next round picks anew.
                tries += 1;
            }
            Err(e) => return Err((v6, e)),
        }
    }
}

/// Binds every published port of `config` (both families for the IPv4
/// wildcard unless [`PortForward::ipv4_only`], see [`bind_both`]). On the first failure every socket bound so
/// far is closed and the error names the address.
pub fn bind_ports(config: &Config) -> Result<BoundPorts> {
    let mut bound = BoundPorts::default();
    for p in &config.ports {
        let addr = SocketAddr::new(p.host_ip, p.host_port);
        let err = |(addr, source)| Error::Bind {
            proto: p.proto,
            addr,
            source,
        };
        let fwd = |a: SocketAddr| PortForward {
            host_ip: a.ip(),
            host_port: a.port(),
            ..*p
        };
        if config.port_driver == PortDriver::Handoff {
            let port_of = |s: &Socket| {
                let a = s.local_addr()?.as_socket();
                Ok(a.map_or(p.host_port, |a| a.port()))
            };
            let socks =
                bind_both(addr, p.ipv4_only, |a| bind_only(p.proto, a), port_of).map_err(err)?;
            bound
                .handoff
                .extend(socks.into_iter().map(|(a, s)| (fwd(a), s)));
            continue;
        }
        match p.proto {
            Proto::Tcp => {
                let listen = |a| {
                    let l = listen_tcp(a)?;
                    l.set_nonblocking(true)?;
                    let _ = SockRef::from(&l).set_tcp_nodelay(true);
                    Ok(l)
                };
                let port_of = |l: &TcpListener| Ok(l.local_addr()?.port());
                let socks = bind_both(addr, p.ipv4_only, listen, port_of).map_err(err)?;
                bound
                    .tcp
                    .extend(socks.into_iter().map(|(a, l)| (fwd(a), l)));
            }
            Proto::Udp => {
                let bind = |a| {
                    let s = bind_udp(a)?;
                    s.set_nonblocking(true)?;
                    Ok(s)
                };
                let port_of = |s: &UdpSocket| Ok(s.local_addr()?.port());
                let socks = bind_both(addr, p.ipv4_only, bind, port_of).map_err(err)?;
                bound
                    .udp
                    .extend(socks.into_iter().map(|(a, s)| (fwd(a), s)));
            }
        }
    }
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_of(l: &TcpListener) -> io::Result<u16> {
        Ok(l.local_addr()?.port())
    }

    fn has_ipv6() -> bool {
        TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
    }

    #[test]
    fn wildcard_binds_both_families_on_one_port() {
        if !has_ipv6() {
            eprintln!("skipped: no IPv6 on this host");
            return;
        }
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let got = bind_both(any, false, listen_tcp, port_of).unwrap();
        assert_eq!(got.len(), 2);
        let port = got[0].0.port();
        assert_ne!(port, 0);
        assert_eq!(
            got[1].0,
            SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)
        );
        assert!(SockRef::from(&got[1].1).only_v6().unwrap());
        // One address binds only itself.
        let one = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        assert_eq!(bind_both(one, false, listen_tcp, port_of).unwrap().len(), 1);
    }

    #[test]
    fn ipv4_only_wildcard_leaves_ipv6_free() {
        if !has_ipv6() {
            eprintln!("skipped: no IPv6 on this host");
            return;
        }
        // Held on [::] (V6ONLY): the IPv4 wildcard alone still binds.
        let held = listen_tcp(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let got = bind_both(v4, true, listen_tcp, port_of).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, v4);
        drop(held);
        // And leaves `[::]` free.
        listen_tcp(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)).unwrap();
    }

    #[test]
    fn taken_on_ipv6_fails_and_frees_ipv4() {
        if !has_ipv6() {
            eprintln!("skipped: no IPv6 on this host");
            return;
        }
        let held = listen_tcp(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let (addr, e) = bind_both(v4, false, listen_tcp, port_of).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(addr.is_ipv6());
        // The IPv4 socket was closed.
        listen_tcp(v4).unwrap();
    }
}
