//! Binding published host ports before the container starts.

use std::net::{SocketAddr, TcpListener, UdpSocket};

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
/// listeners are), not listening: until the container takes it, a client
/// is refused as if nothing listened.
fn bind_only(proto: Proto, addr: SocketAddr) -> std::io::Result<Socket> {
    let ty = match proto {
        Proto::Tcp => Type::STREAM,
        Proto::Udp => Type::DGRAM,
    };
    let s = Socket::new(Domain::for_address(addr), ty, None)?;
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
pub fn listen_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = bind_only(Proto::Tcp, addr)?;
    // The kernel caps the backlog at somaxconn.
    s.listen(i32::MAX)?;
    Ok(s.into())
}

/// Binds every published port of `config`. On the first failure every
/// listener bound so far is closed and the error names the port.
pub fn bind_ports(config: &Config) -> Result<BoundPorts> {
    let mut bound = BoundPorts::default();
    for p in &config.ports {
        let addr = SocketAddr::new(p.host_ip, p.host_port);
        let err = |source| Error::Bind {
            proto: p.proto,
            addr,
            source,
        };
        if config.port_driver == PortDriver::Handoff {
            let s = bind_only(p.proto, addr).map_err(err)?;
            let port = s
                .local_addr()
                .map_err(err)?
                .as_socket()
                .map_or(p.host_port, |a| a.port());
            bound.handoff.push((
                PortForward {
                    host_port: port,
                    ..*p
                },
                s,
            ));
            continue;
        }
        match p.proto {
            Proto::Tcp => {
                let l = listen_tcp(addr).map_err(err)?;
                l.set_nonblocking(true).map_err(err)?;
                let port = l.local_addr().map_err(err)?.port();
                let _ = SockRef::from(&l).set_tcp_nodelay(true);
                bound.tcp.push((
                    PortForward {
                        host_port: port,
                        ..*p
                    },
                    l,
                ));
            }
            Proto::Udp => {
                let s = UdpSocket::bind(addr).map_err(err)?;
                s.set_nonblocking(true).map_err(err)?;
                let port = s.local_addr().map_err(err)?.port();
                bound.udp.push((
                    PortForward {
                        host_port: port,
                        ..*p
                    },
                    s,
                ));
            }
        }
    }
    Ok(bound)
}
