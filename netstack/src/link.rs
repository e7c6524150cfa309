//! Links of user-defined networks: a bridge and veth pairs, over rtnetlink.
//!
//! Every function acts in the network namespace of the calling thread (the
//! netlink socket and interface names are that namespace's), and needs
//! CAP_NET_ADMIN there. [`Netlink`] is one socket, bound to the namespace
//! it was opened in, so it keeps acting there after the thread moves.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::netlink::{self, Reply};
use crate::{sys, Error, Result};

/// A rtnetlink socket in the namespace it was opened in.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let fd = sys::netlink_route_socket().map_err(|e| Error::io("open netlink socket", e))?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// Sends the message `build` makes with the next sequence number and
    /// waits for its acknowledgement; `op` names it in errors.
    pub(crate) fn request(&mut self, op: &str, build: impl FnOnce(u32) -> Vec<u8>) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = build(seq);
        sys::write(self.fd.as_fd(), &msg).map_err(|e| Error::io(op, e))?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = sys::read(self.fd.as_fd(), &mut buf).map_err(|e| Error::io(op, e))?;
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

    /// Deletes link `name`.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        let index = index_of(name)?;
        self.request(&format!("delete {name}"), |s| netlink::del_link(s, index))
    }

    /// Sets link `name` up with `mtu`.
    pub fn set_up(&mut self, name: &str, mtu: u32) -> Result<()> {
        let index = index_of(name)?;
        self.request(&format!("set {name} up"), |s| {
            netlink::link_up(s, index, mtu)
        })
    }

    /// Creates bridge `name` with `addr/prefix`, up. Its MAC address is
    /// fixed, made of `addr` (locally administered `02:52:` + the four
    /// octets): a bridge left to itself takes the lowest of its ports'
    /// MACs, so a port coming or going would change it under its
    /// neighbours' ARP caches (seconds without the gateway); and a bridge
    /// made again for the same address keeps the one they know.
    pub fn create_bridge(
        &mut self,
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
        mtu: u32,
    ) -> Result<u32> {
        self.request(&format!("create bridge {name}"), |s| {
            let [a, b, c, d] = addr.octets();
            netlink::new_bridge(s, name, mtu, [0x02, 0x52, a, b, c, d])
        })?;
        let index = index_of(name)?;
        self.request("set the bridge up", |s| netlink::link_up(s, index, mtu))?;
        self.request("add the bridge address", |s| {
            netlink::add_addr(s, index, addr, prefix)
        })?;
        Ok(index)
    }

    /// Creates veth `name` here, enslaved to `bridge` and up, and its peer
    /// `peer` in the namespace `peer_ns`.
    pub fn create_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
        bridge: u32,
        mtu: u32,
    ) -> Result<()> {
        let ns = peer_ns.as_raw_fd() as u32;
        self.request(&format!("create veth {name}"), |s| {
            netlink::new_veth(s, name, peer, ns, mtu)
        })?;
        let index = index_of(name)?;
        self.request("attach the veth to the bridge", |s| {
            netlink::set_master_up(s, index, bridge)
        })
    }

    /// Sets link `name` up with `addr/prefix` and, with `gateway`, a
    /// default route through it.
    pub fn configure(
        &mut self,
        name: &str,
        mtu: u32,
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let index = index_of(name)?;
        self.request(&format!("set {name} up"), |s| {
            netlink::link_up(s, index, mtu)
        })?;
        self.request(&format!("add an address to {name}"), |s| {
            netlink::add_addr(s, index, addr, prefix)
        })?;
        if let Some(gw) = gateway {
            self.request("add the default route", |s| {
                netlink::add_default_route(s, index, gw)
            })?;
        }
        Ok(())
    }

    /// Adds the default route through `gateway` on link `name` (one that
    /// is up with an address: the route moves to it from a link removed).
    pub fn add_default_route(&mut self, name: &str, gateway: Ipv4Addr) -> Result<()> {
        let index = index_of(name)?;
        self.request("add the default route", |s| {
            netlink::add_default_route(s, index, gateway)
        })
    }
}

/// Index of link `name` in the calling thread's network namespace.
pub fn index_of(name: &str) -> Result<u32> {
    sys::if_index(name).map_err(|e| Error::io(format!("find link {name}"), e))
}
