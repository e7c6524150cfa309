//! Creating and configuring the TAP device inside the container's network
//! namespace.
//!
//! [`create`] must run in a thread or process that is inside the target
//! namespace and holds CAP_NET_ADMIN there. It opens `/dev/net/tun`, brings
//! the link up with the MTU, assigns the container address and installs the
//! default route via the gateway, all over one rtnetlink socket. The
//! returned fd is non-blocking and may be passed to the host side (for
//! example with [`crate::fdpass::send_fd`]) to drive a [`crate::Stack`].

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};

use crate::netlink::{self, Reply};
use crate::{sys, Error, Result};

/// Addressing applied by [`create_with`].
#[derive(Debug, Clone)]
pub struct TapSetup {
    /// Link MTU.
    pub mtu: u32,
    /// Container address.
    pub addr: Ipv4Addr,
    /// Prefix length of `addr`.
    pub prefix: u8,
    /// Default gateway (the stack's address).
    pub gateway: Ipv4Addr,
}

impl Default for TapSetup {
    fn default() -> Self {
        Self {
            mtu: crate::DEFAULT_MTU as u32,
            addr: crate::DEFAULT_ADDR,
            prefix: crate::DEFAULT_PREFIX,
            gateway: crate::DEFAULT_GATEWAY,
        }
    }
}

/// Creates TAP `name` with the default addressing (10.0.2.100/24 via
/// 10.0.2.2) and `mtu`. See the module docs.
pub fn create(name: &str, mtu: u32) -> Result<OwnedFd> {
    create_with(
        name,
        &TapSetup {
            mtu,
            ..TapSetup::default()
        },
    )
}

/// Creates TAP `name` and configures it as `setup` says.
pub fn create_with(name: &str, setup: &TapSetup) -> Result<OwnedFd> {
    let (fd, ifname) = sys::tap_open(name).map_err(|e| Error::io(format!("open TAP {name}"), e))?;
    let index = sys::if_index(&ifname).map_err(|e| Error::io(format!("find {ifname}"), e))?;
    let nl = sys::netlink_route_socket().map_err(|e| Error::io("open netlink socket", e))?;
    request(&nl, "set link up", netlink::link_up(1, index, setup.mtu))?;
    request(
        &nl,
        "add address",
        netlink::add_addr(2, index, setup.addr, setup.prefix),
    )?;
    request(
        &nl,
        "add default route",
        netlink::add_default_route(3, index, setup.gateway),
    )?;
    Ok(fd)
}

/// Brings the loopback interface of the calling thread's namespace up
/// (connections to the namespace's own addresses go through it).
pub(crate) fn loopback_up() -> Result<()> {
    let index = sys::if_index("lo").map_err(|e| Error::io("find lo", e))?;
    let nl = sys::netlink_route_socket().map_err(|e| Error::io("open netlink socket", e))?;
    request(&nl, "set lo up", netlink::link_up(1, index, 65536))
}

fn request(nl: &OwnedFd, op: &'static str, msg: Vec<u8>) -> Result<()> {
    let seq = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
    sys::write(nl.as_fd(), &msg).map_err(|e| Error::io(op, e))?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = sys::read(nl.as_fd(), &mut buf).map_err(|e| Error::io(op, e))?;
        match netlink::parse_reply(&buf[..n], seq) {
            Ok(Some(Reply::Ack)) => return Ok(()),
            Ok(Some(Reply::Errno(e))) => {
                return Err(Error::io(op, std::io::Error::from_raw_os_error(e)))
            }
            Ok(None) => continue,
            Err(e) => return Err(Error::io(op, std::io::Error::other(e))),
        }
    }
}
