//! Configuration of a [`crate::Stack`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One published port: host `host_ip:host_port` → container `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortForward {
    /// TCP or UDP.
    pub proto: Proto,
    /// Host address to listen on (0.0.0.0 for all).
    pub host_ip: IpAddr,
    /// With `host_ip` 0.0.0.0: that IPv4 wildcard alone, without `[::]`
    /// beside it (docker's `-p 0.0.0.0:8080:80`, written out). Otherwise
    /// unused.
    pub ipv4_only: bool,
    /// Host port; 0 picks a free one (reported by [`crate::BoundPorts`]).
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
}

/// How published TCP ports reach the container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PortDriver {
    /// Through the userspace stack: the container sees the client's address.
    #[default]
    Smoltcp,
    /// A socket inside the container's namespace, spliced to the host
    /// connection: faster, but the container sees its own address as the
    /// client. UDP ports stay on the stack.
    Splice,
    /// The bound host socket itself is handed to the container's `bind(2)`
    /// of the port (seccomp user notification), so clients reach the
    /// server without any forwarding, and it sees their real addresses.
    /// TCP and UDP. Linux 5.9. See `handoff`.
    Handoff,
}

impl std::str::FromStr for PortDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "smoltcp" => Ok(PortDriver::Smoltcp),
            "splice" => Ok(PortDriver::Splice),
            "handoff" => Ok(PortDriver::Handoff),
            _ => Err(format!(
                "unknown port driver {s:?}: use smoltcp, splice or handoff"
            )),
        }
    }
}

/// Everything a [`crate::Stack`] needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Link MTU of the TAP (IP packet size).
    pub mtu: usize,
    /// Container address.
    pub addr: Ipv4Addr,
    /// Prefix length of the container network.
    pub prefix_len: u8,
    /// Gateway address answered by the stack.
    pub gateway: Ipv4Addr,
    /// DNS forwarder address answered by the stack.
    pub dns: Ipv4Addr,
    /// Where DNS queries are forwarded (first one used).
    pub upstream_dns: Vec<SocketAddr>,
    /// Whether connections to the gateway reach the host's 127.0.0.1.
    pub allow_host_loopback: bool,
    /// Published ports.
    pub ports: Vec<PortForward>,
    /// How published TCP ports are forwarded.
    pub port_driver: PortDriver,
    /// Capture every frame crossing the TAP to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Size of each smoltcp TCP socket buffer (receive and send).
    pub tcp_buffer: usize,
    /// Host socket buffer size requested with SO_SNDBUF/SO_RCVBUF.
    pub host_buffer: usize,
    /// Idle timeout of UDP flows.
    pub udp_timeout: Duration,
    /// Further networks (address, prefix) behind the container address,
    /// which routes for them (a user-defined network's subnet): their
    /// packets are accepted and answers go back through `addr`.
    pub routed: Vec<(Ipv4Addr, u8)>,
    /// Networks (address, prefix) never reached through the host: the
    /// container's connections to them are refused.
    pub refused: Vec<(Ipv4Addr, u8)>,
}

impl Default for Config {
    fn default() -> Self {
        let upstream_dns = std::fs::read_to_string("/etc/resolv.conf")
            .map(|s| parse_resolv_conf(&s))
            .unwrap_or_default();
        Self {
            mtu: crate::DEFAULT_MTU,
            addr: crate::DEFAULT_ADDR,
            prefix_len: crate::DEFAULT_PREFIX,
            gateway: crate::DEFAULT_GATEWAY,
            dns: crate::DEFAULT_DNS,
            upstream_dns,
            allow_host_loopback: false,
            ports: Vec::new(),
            port_driver: PortDriver::default(),
            pcap: None,
            tcp_buffer: 4 << 20,
            host_buffer: 4 << 20,
            udp_timeout: Duration::from_secs(60),
            routed: Vec::new(),
            refused: Vec::new(),
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_string()));
        if !(1280..=65521).contains(&self.mtu) {
            return bad("mtu must be between 1280 and 65521");
        }
        if self.prefix_len == 0 || self.prefix_len > 30 {
            return bad("prefix length must be between 1 and 30");
        }
        let net = |a: Ipv4Addr| u32::from(a) >> (32 - self.prefix_len as u32);
        if net(self.gateway) != net(self.addr) || net(self.dns) != net(self.addr) {
            return bad("gateway and dns must be in the container's network");
        }
        if self.gateway == self.addr || self.dns == self.addr || self.gateway == self.dns {
            return bad("addr, gateway and dns must differ");
        }
        if self.tcp_buffer < 4096 {
            return bad("tcp_buffer too small");
        }
        Ok(())
    }
}

/// Nameservers of a resolv.conf text, as port-53 socket addresses (IPv4 and
/// IPv6, loopback stubs such as 127.0.0.53 included; zone ids dropped).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let addr = words.next()?;
            let addr = addr.split('%').next().unwrap_or(addr);
            addr.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let s = "# comment\nnameserver 127.0.0.53\nsearch x\n nameserver  1.2.3.4 # c\nnameserver fe80::1%eth0\nnameserver bogus\noptions edns0\n";
        let got = parse_resolv_conf(s);
        assert_eq!(
            got,
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "1.2.3.4:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap(),
            ]
        );
    }

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
        let c = Config {
            gateway: Ipv4Addr::new(10, 0, 3, 2),
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
