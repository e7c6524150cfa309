//! A minimal hand-written rtnetlink encoder/decoder: just enough to bring a
//! link up with an MTU, add an IPv4 address and add a default route, and
//! (for user-defined networks) create bridges and veth pairs.
//!
//! Messages are built into a `Vec<u8>` in native byte order (netlink is
//! host-endian). Replies are parsed defensively: any length field that
//! points outside the buffer ends parsing with an error, never a panic.

use std::net::Ipv4Addr;

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const IFF_UP: u32 = 0x1;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builder for one netlink request message.
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(ty: u16, flags: u16, seq: u32) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: kernel fills
        Self { buf }
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        std::mem::take(&mut self.buf)
    }
}

/// RTM_NEWLINK: set the link up with `mtu`.
pub fn link_up(seq: u32, index: u32, mtu: u32) -> Vec<u8> {
    let mut ifinfo = [0u8; 16];
    ifinfo[0] = AF_UNSPEC;
    ifinfo[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    ifinfo[8..12].copy_from_slice(&IFF_UP.to_ne_bytes()); // flags
    ifinfo[12..16].copy_from_slice(&IFF_UP.to_ne_bytes()); // change mask
    Msg::new(RTM_NEWLINK, 0, seq)
        .bytes(&ifinfo)
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .finish()
}

/// RTM_NEWADDR: add `addr/prefix` to interface `index`.
pub fn add_addr(seq: u32, index: u32, addr: Ipv4Addr, prefix: u8) -> Vec<u8> {
    let mut ifa = [0u8; 8];
    ifa[0] = AF_INET;
    ifa[1] = prefix;
    ifa[3] = RT_SCOPE_UNIVERSE;
    ifa[4..8].copy_from_slice(&index.to_ne_bytes());
    Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, seq)
        .bytes(&ifa)
        .attr(IFA_LOCAL, &addr.octets())
        .attr(IFA_ADDRESS, &addr.octets())
        .finish()
}

/// RTM_NEWROUTE: default route via `gateway` out of interface `index`.
pub fn add_default_route(seq: u32, index: u32, gateway: Ipv4Addr) -> Vec<u8> {
    let rtm = [
        AF_INET,
        0, // dst_len: default route
        0, // src_len
        0, // tos
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0, // flags
    ];
    Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq)
        .bytes(&rtm)
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr(RTA_OIF, &index.to_ne_bytes())
        .finish()
}

const NLM_F_EXCL: u16 = 0x200;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

/// One attribute, padded, as bytes (for nesting).
fn attr_bytes(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(align4(4 + data.len()));
    v.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(align4(v.len()), 0);
    v
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// RTM_NEWLINK: create bridge `name` with `mtu` and MAC address `mac`
/// (fails if it exists).
pub fn new_bridge(seq: u32, name: &str, mtu: u32, mac: [u8; 6]) -> Vec<u8> {
    let info = attr_bytes(IFLA_INFO_KIND, b"bridge");
    Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, seq)
        .bytes(&[0u8; 16])
        .attr(IFLA_IFNAME, &name_bytes(name))
        .attr(IFLA_ADDRESS, &mac)
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .attr(IFLA_LINKINFO, &info)
        .finish()
}

/// RTM_NEWLINK: create veth pair `name` (here) and `peer`, the peer moved
/// into the network namespace `peer_netns_fd` refers to; both with `mtu`.
pub fn new_veth(seq: u32, name: &str, peer: &str, peer_netns_fd: u32, mtu: u32) -> Vec<u8> {
    let mut peer_body = vec![0u8; 16]; // the peer's ifinfomsg
    peer_body.extend(attr_bytes(IFLA_IFNAME, &name_bytes(peer)));
    peer_body.extend(attr_bytes(IFLA_MTU, &mtu.to_ne_bytes()));
    peer_body.extend(attr_bytes(IFLA_NET_NS_FD, &peer_netns_fd.to_ne_bytes()));
    let data = attr_bytes(VETH_INFO_PEER, &peer_body);
    let mut info = attr_bytes(IFLA_INFO_KIND, b"veth");
    info.extend(attr_bytes(IFLA_INFO_DATA, &data));
    Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, seq)
        .bytes(&[0u8; 16])
        .attr(IFLA_IFNAME, &name_bytes(name))
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .attr(IFLA_LINKINFO, &info)
        .finish()
}

/// RTM_DELLINK: delete link `index` (a veth takes its peer with it).
pub fn del_link(seq: u32, index: u32) -> Vec<u8> {
    let mut ifinfo = [0u8; 16];
    ifinfo[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    Msg::new(RTM_DELLINK, 0, seq).bytes(&ifinfo).finish()
}

/// RTM_NEWLINK: enslave link `index` to bridge `master` and set it up.
pub fn set_master_up(seq: u32, index: u32, master: u32) -> Vec<u8> {
    let mut ifinfo = [0u8; 16];
    ifinfo[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    ifinfo[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
    ifinfo[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
    Msg::new(RTM_NEWLINK, 0, seq)
        .bytes(&ifinfo)
        .attr(IFLA_MASTER, &master.to_ne_bytes())
        .finish()
}

/// What one reply message said about request `seq`.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The kernel acknowledged it (NLMSG_ERROR with error 0).
    Ack,
    /// The kernel rejected it with this positive errno.
    Errno(i32),
}

/// Malformed netlink reply.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed netlink reply: {0}")]
pub struct ParseError(&'static str);

/// Finds the acknowledgement for `seq` in a datagram of reply messages.
/// Returns `Ok(None)` if the datagram holds no answer for `seq`.
pub fn parse_reply(mut buf: &[u8], seq: u32) -> Result<Option<Reply>, ParseError> {
    while !buf.is_empty() {
        if buf.len() < NLMSG_HDR {
            return Err(ParseError("truncated header"));
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        let got_seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if len < NLMSG_HDR || len > buf.len() {
            return Err(ParseError("bad message length"));
        }
        let body = &buf[NLMSG_HDR..len];
        if got_seq == seq {
            match ty {
                NLMSG_ERROR => {
                    if body.len() < 4 {
                        return Err(ParseError("truncated error message"));
                    }
                    let err = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                    return Ok(Some(if err == 0 {
                        Reply::Ack
                    } else {
                        Reply::Errno(err.checked_neg().unwrap_or(i32::MAX))
                    }));
                }
                NLMSG_DONE => return Ok(Some(Reply::Ack)),
                _ => {}
            }
        }
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u32, err: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&36u32.to_ne_bytes());
        v.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&err.to_ne_bytes());
        v.extend_from_slice(&[0u8; 16]);
        v
    }

    #[test]
    fn builds_aligned_messages_with_correct_length() {
        for m in [
            link_up(1, 7, 65520),
            add_addr(2, 7, Ipv4Addr::new(10, 0, 2, 100), 24),
            add_default_route(3, 7, Ipv4Addr::new(10, 0, 2, 2)),
            new_bridge(4, "br0", 1500, [2, 0x52, 10, 0, 2, 1]),
            new_veth(5, "ve0", "eth0", 9, 1500),
            set_master_up(6, 7, 8),
        ] {
            let len = u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize;
            assert_eq!(len, m.len());
            assert_eq!(m.len() % 4, 0);
        }
        let m = add_addr(2, 7, Ipv4Addr::new(10, 0, 2, 100), 24);
        // header, ifaddrmsg, then IFA_LOCAL attr: len 8, type 2, address.
        assert_eq!(&m[24..26], &8u16.to_ne_bytes());
        assert_eq!(&m[26..28], &IFA_LOCAL.to_ne_bytes());
        assert_eq!(&m[28..32], &[10, 0, 2, 100]);
    }

    #[test]
    fn parses_ack_and_errno() {
        assert_eq!(parse_reply(&ack(5, 0), 5), Ok(Some(Reply::Ack)));
        assert_eq!(parse_reply(&ack(5, -17), 5), Ok(Some(Reply::Errno(17))));
        assert_eq!(parse_reply(&ack(4, 0), 5), Ok(None));
        let mut two = ack(4, 0);
        two.extend(ack(5, -1));
        assert_eq!(parse_reply(&two, 5), Ok(Some(Reply::Errno(1))));
        assert!(parse_reply(&ack(5, 0)[..20], 5).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = vec![0u8; 256];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 256) as usize;
            for b in buf.iter_mut().take(n) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            // Bias some lengths to look plausible.
            if n >= 4 && x.is_multiple_of(3) {
                buf[..4].copy_from_slice(&((x as u32) % 64).to_ne_bytes());
            }
            let _ = parse_reply(&buf[..n], (x >> 32) as u32);
        }
    }
}
