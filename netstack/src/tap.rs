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
use std::os::fd::OwnedFd;

use crate::link::Netlink;
use crate::netlink;
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
    let mut nl = Netlink::open()?;
    nl.request("set link up", |s| netlink::link_up(s, index, setup.mtu))?;
    nl.request("add address", |s| {
        netlink::add_addr(s, index, setup.addr, setup.prefix)
    })?;
    nl.request("add default route", |s| {
        netlink::add_default_route(s, index, setup.gateway)
    })?;
    Ok(fd)
}

/// Brings the loopback interface of the calling thread's namespace up
/// (connections to the namespace's own addresses go through it).
pub(crate) fn loopback_up() -> Result<()> {
    let index = sys::if_index("lo").map_err(|e| Error::io("find lo", e))?;
    Netlink::open()?.request("set lo up", |s| netlink::link_up(s, index, 65536))
}
