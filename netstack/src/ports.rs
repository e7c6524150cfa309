//! Binding published host ports before the container starts.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::SockRef;

use crate::{Config, Error, PortForward, Proto, Result};

/// Host listeners for every published port, bound by [`bind_ports`].
/// Dropping it closes them all.
#[derive(Debug, Default)]
pub struct BoundPorts {
    pub(crate) tcp: Vec<(PortForward, TcpListener)>,
    pub(crate) udp: Vec<(PortForward, UdpSocket)>,
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
            .collect()
    }
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
        match p.proto {
            Proto::Tcp => {
                let l = TcpListener::bind(addr).map_err(err)?;
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
