//! Looking at a frame from the TAP before smoltcp does, to spot the first
//! packet of a new outbound TCP connection (a SYN) or UDP flow, and ICMP
//! echo requests.
//!
//! Parsing uses smoltcp's checked wire views; checksums are not verified
//! (the TAP is fed by the local kernel). Anything unusual (not IPv4, IP
//! fragments, truncated headers) is reported as [`Inspect::Other`] and left
//! to smoltcp.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv4Message, Icmpv4Packet, IpProtocol, Ipv4Packet,
    TcpPacket, UdpPacket,
};

/// What a frame is, as far as NAT cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspect {
    /// A TCP SYN without ACK (a connection attempt).
    TcpSyn {
        /// Container endpoint.
        src: SocketAddrV4,
        /// Destination as the container addressed it.
        dst: SocketAddrV4,
    },
    /// A UDP datagram.
    Udp {
        /// Container endpoint.
        src: SocketAddrV4,
        /// Destination as the container addressed it.
        dst: SocketAddrV4,
    },
    /// An ICMP echo request.
    IcmpEcho {
        /// Container address.
        src: Ipv4Addr,
        /// Destination as the container addressed it.
        dst: Ipv4Addr,
        /// Echo identifier.
        ident: u16,
    },
    /// Anything else.
    Other,
}

/// Classifies an Ethernet frame.
pub fn inspect(frame: &[u8]) -> Inspect {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Inspect::Other;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Inspect::Other;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return Inspect::Other;
    };
    // smoltcp's length check accepts a header length below 20 and any
    // version (found by fuzzing); smoltcp itself drops such packets later.
    if ip.version() != 4 || ip.header_len() < 20 {
        return Inspect::Other;
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Inspect::Other;
    }
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        IpProtocol::Tcp => {
            let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
                return Inspect::Other;
            };
            if tcp.syn() && !tcp.ack() && !tcp.rst() {
                Inspect::TcpSyn {
                    src: SocketAddrV4::new(s, tcp.src_port()),
                    dst: SocketAddrV4::new(d, tcp.dst_port()),
                }
            } else {
                Inspect::Other
            }
        }
        IpProtocol::Udp => {
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
                return Inspect::Other;
            };
            Inspect::Udp {
                src: SocketAddrV4::new(s, udp.src_port()),
                dst: SocketAddrV4::new(d, udp.dst_port()),
            }
        }
        IpProtocol::Icmp => {
            let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
                return Inspect::Other;
            };
            if icmp.msg_type() == Icmpv4Message::EchoRequest && icmp.msg_code() == 0 {
                Inspect::IcmpEcho {
                    src: s,
                    dst: d,
                    ident: icmp.echo_ident(),
                }
            } else {
                Inspect::Other
            }
        }
        _ => Inspect::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Builds eth + ipv4 + 20-byte transport header by hand.
    fn frame(proto: u8, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08; // ethertype IPv4
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[10, 0, 2, 100]);
        ip[16..20].copy_from_slice(&[1, 2, 3, 4]);
        let t = &mut f[34..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        if proto == 6 {
            t[12] = 5 << 4;
            t[13] = flags;
        } else {
            t[4..6].copy_from_slice(&20u16.to_be_bytes());
        }
        f
    }

    #[test]
    fn classifies() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 100), 40000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 80);
        assert_eq!(inspect(&frame(6, 0x02)), Inspect::TcpSyn { src, dst });
        assert_eq!(inspect(&frame(6, 0x12)), Inspect::Other); // SYN-ACK
        assert_eq!(inspect(&frame(6, 0x10)), Inspect::Other); // ACK
        assert_eq!(inspect(&frame(17, 0)), Inspect::Udp { src, dst });
        let mut frag = frame(17, 0);
        frag[14 + 6] = 0x20; // more fragments
        assert_eq!(inspect(&frag), Inspect::Other);
        assert_eq!(inspect(&frame(6, 0x02)[..40]), Inspect::Other);
        let mut ping = frame(1, 0);
        ping[34] = 8; // echo request
        ping[35] = 0;
        ping[38..40].copy_from_slice(&0x1234u16.to_be_bytes());
        assert_eq!(
            inspect(&ping),
            Inspect::IcmpEcho {
                src: *src.ip(),
                dst: *dst.ip(),
                ident: 0x1234
            }
        );
        ping[34] = 0; // echo reply: not ours
        assert_eq!(inspect(&ping), Inspect::Other);
        // IHL 0 with a tiny total length: the "payload" would be the IP
        // header itself.
        let mut bad = frame(17, 0);
        bad[14] = 0x40;
        bad[16..18].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(inspect(&bad), Inspect::Other);
        let mut v6 = frame(17, 0);
        v6[14] = 0x65;
        assert_eq!(inspect(&v6), Inspect::Other);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let base = frame(6, 0x02);
        let mut buf = [0u8; 128];
        for i in 0..50_000 {
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let n = (next() % 128) as usize;
            if i % 2 == 0 {
                // Mutate a valid frame in a few places.
                buf[..base.len()].copy_from_slice(&base);
                for _ in 0..4 {
                    let at = (next() % base.len() as u64) as usize;
                    buf[at] = next() as u8;
                }
            } else {
                for b in buf.iter_mut() {
                    *b = next() as u8;
                }
            }
            let _ = inspect(&buf[..n]);
        }
    }
}
