//! Stage 4: the container's network through the `netstack` crate.
//!
//! Theory of operation: published ports are bound on the host before the
//! container starts ([`Network::prepare`]), so a port in use fails `run`
//! with nothing left behind. The init, inside the new network namespace
//! (where it holds CAP_NET_ADMIN), creates the TAP device, gives it the
//! address 10.0.2.100/24 and a default route via 10.0.2.2, and sends its fd
//! to the monitor over a socket pair ([`create_in_container`]). The monitor,
//! in the host's network namespace, runs the smoltcp stack on that fd on one
//! thread ([`Network::start`]), started after the clone so the monitor is
//! single-threaded when it clones. The stack stops, and releases every host
//! port, when the container exits ([`Running::stop`]). With
//! `--port-driver splice` the stack also runs a second thread that enters
//! the container's namespace and splices published TCP connections to
//! sockets there (see `netstack/src/splice.rs`). With `--port-driver
//! handoff` the init also installs a seccomp filter that reports every
//! `bind(2)` and sends its listener after the TAP (tag `B`); the monitor
//! answers on a thread that hands the bound host sockets to the
//! container's server (see `netstack/src/handoff.rs`).
//!
//! A port on the IPv4 wildcard is bound on `[::]` too, as docker (see
//! `netstack/src/ports.rs`); the range picker checks both are free. The
//! wildcard written out (`-p 0.0.0.0:8080:80`) is IPv4 only, as docker
//! ([`Publish::ipv4_only`]; a spec stored before it had both).
//!
//! Where the TAP cannot be made (no /dev/net/tun access), a container that
//! publishes no port runs with loopback only, after one warning; one that
//! publishes ports fails to start.

use super::sys;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// A published port, as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub udp: bool,
    pub host_ip: IpAddr,
    /// 0: any free port.
    pub host_port: u16,
    pub container_port: u16,
    /// `-p 8000-8010:80`: any free port from `host_port` to this one,
    /// picked by [`pick_host_ports`] before the container is made.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_port_last: u16,
    /// `-p 0.0.0.0:8080:80`, the IPv4 wildcard written out: bound on it
    /// alone, where `-p 8080:80` (and a spec stored before this field, so
    /// `false` by default) gets `[::]` too. Only set with `host_ip` 0.0.0.0.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ipv4_only: bool,
}

impl Publish {
    /// `tcp` or `udp`, as `80/tcp` names a container port.
    pub fn proto_name(&self) -> &'static str {
        if self.udp {
            "udp"
        } else {
            "tcp"
        }
    }
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Gives each port published with a host range (`-p 8000-8010:80`) the
/// first port of its range that is free now, as docker does at each start
/// (the spec keeps the range). A port taken between this and the bind
/// fails the start as any port in use does.
pub fn pick_host_ports(ports: &mut [Publish]) -> Result<(), String> {
    // Ports this call gave out: free on the host until the container binds
    // them, but not free for the next range (`-p R:80 -p R:81`).
    let mut taken: Vec<(bool, IpAddr, u16)> = ports
        .iter()
        .filter(|p| p.host_port_last <= p.host_port && p.host_port != 0)
        .map(|p| (p.udp, p.host_ip, p.host_port))
        .collect();
    for p in ports.iter_mut().filter(|p| p.host_port_last > p.host_port) {
        let free = (p.host_port..=p.host_port_last).find(|&port| {
            if taken.contains(&(p.udp, p.host_ip, port)) {
                return false;
            }
            // Free on every family the start will bind (the IPv4
            // wildcard is bound on `[::]` too, unless IPv4 only).
            let addr = std::net::SocketAddr::new(p.host_ip, port);
            let v4 = p.ipv4_only;
            if p.udp {
                netstack::bind_both(addr, v4, netstack::bind_udp, |_| Ok(port)).is_ok()
            } else {
                netstack::bind_both(addr, v4, netstack::listen_tcp, |_| Ok(port)).is_ok()
            }
        });
        let Some(port) = free else {
            return Err(format!(
                "no free host port in {}-{} for container port {}/{}",
                p.host_port,
                p.host_port_last,
                p.container_port,
                p.proto_name()
            ));
        };
        p.host_port = port;
        p.host_port_last = 0;
        taken.push((p.udp, p.host_ip, port));
    }
    Ok(())
}

/// How published TCP ports reach the container (`--port-driver`): netstack's
/// [`netstack::PortDriver`], in a form the container spec can store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortDriver {
    #[default]
    Smoltcp,
    Splice,
    Handoff,
}

impl From<PortDriver> for netstack::PortDriver {
    fn from(d: PortDriver) -> Self {
        match d {
            PortDriver::Smoltcp => netstack::PortDriver::Smoltcp,
            PortDriver::Splice => netstack::PortDriver::Splice,
            PortDriver::Handoff => netstack::PortDriver::Handoff,
        }
    }
}

impl std::str::FromStr for PortDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.parse::<netstack::PortDriver>()? {
            netstack::PortDriver::Smoltcp => PortDriver::Smoltcp,
            netstack::PortDriver::Splice => PortDriver::Splice,
            netstack::PortDriver::Handoff => PortDriver::Handoff,
        })
    }
}

/// `--network NAME…`: the user-defined networks a container joins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserNetSpec {
    /// The store the networks are defined in (it names the helper).
    pub store: PathBuf,
    /// The container's id (its attachments' key in the helper).
    pub container: String,
    pub attachments: Vec<crate::network::Attachment>,
    /// Published ports (TCP), forwarded to the first network's address.
    #[serde(default)]
    pub ports: Vec<Publish>,
    /// `--dns`: the servers the networks' DNS servers ask for this
    /// container's other names (its resolv.conf keeps the networks').
    #[serde(default)]
    pub dns: Vec<std::net::IpAddr>,
}

/// `--network slirp` and its options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlirpSpec {
    pub ports: Vec<Publish>,
    pub allow_host_loopback: bool,
    pub pcap: Option<PathBuf>,
    #[serde(default)]
    pub port_driver: PortDriver,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Stack(#[from] netstack::Error),
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot {op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
    #[error("{0}")]
    NoFreePort(String),
}

/// Host ports bound, waiting for the container's TAP.
pub struct Network {
    config: netstack::Config,
    bound: netstack::BoundPorts,
}

/// The stack running on its thread.
pub struct Running {
    stack: netstack::Worker<Result<(), netstack::Error>>,
    /// Under the handoff driver: the thread answering the container's binds.
    handoff: Option<netstack::Handoff>,
    /// The published ports with the host ports actually bound.
    pub ports: Vec<Publish>,
}

impl Network {
    /// Binds every published port (before the container starts).
    pub fn prepare(spec: &SlirpSpec) -> Result<Network, NetworkError> {
        let mut config = netstack::Config {
            upstream_dns: upstream_dns(),
            allow_host_loopback: spec.allow_host_loopback,
            pcap: spec.pcap.clone(),
            port_driver: spec.port_driver.into(),
            ..Default::default()
        };
        // A host range gives the first port of it free now, at each start.
        let mut ports = spec.ports.clone();
        pick_host_ports(&mut ports).map_err(NetworkError::NoFreePort)?;
        config.ports = ports
            .iter()
            .map(|p| netstack::PortForward {
                proto: if p.udp {
                    netstack::Proto::Udp
                } else {
                    netstack::Proto::Tcp
                },
                host_ip: p.host_ip,
                host_port: p.host_port,
                container_port: p.container_port,
                ipv4_only: p.ipv4_only,
            })
            .collect();
        if config.port_driver == netstack::PortDriver::Handoff {
            if let Some(why) = netstack::handoff::unsupported() {
                return Err(NetworkError::Unsupported(why));
            }
        }
        let bound = netstack::bind_ports(&config)?;
        Ok(Network { config, bound })
    }

    /// Whether the init must send a bind notifier after the TAP: the
    /// handoff driver with at least one published port.
    pub fn wants_notifier(spec: &SlirpSpec) -> bool {
        spec.port_driver == PortDriver::Handoff && !spec.ports.is_empty()
    }

    /// Runs the stack on the container's TAP, and with the handoff driver
    /// the thread answering binds on `notifier`.
    pub fn start(
        mut self,
        tap: OwnedFd,
        notifier: Option<OwnedFd>,
    ) -> Result<Running, NetworkError> {
        let sys_err = |op| move |source| NetworkError::Sys { op, source };
        let ports = self
            .bound
            .ports()
            .iter()
            .map(|p| Publish {
                udp: p.proto == netstack::Proto::Udp,
                host_ip: p.host_ip,
                host_port: p.host_port,
                container_port: p.container_port,
                host_port_last: 0,
                ipv4_only: p.ipv4_only,
            })
            .collect();
        if let Some(why) = netstack::ping_unavailable() {
            tracing::debug!("network: {why}; the container's pings are dropped");
        }
        let handoff = match notifier {
            Some(n) => Some(netstack::Handoff::start(
                n,
                self.bound.take_handoff(),
                self.config.addr,
            )?),
            None => None,
        };
        let stack = netstack::Stack::new(tap, self.config, self.bound)?;
        let stack = netstack::Worker::spawn("netstack", move |stop| stack.run(stop))
            .map_err(sys_err("start the network thread"))?;
        Ok(Running {
            stack,
            handoff,
            ports,
        })
    }
}

impl Running {
    /// Stops the stack and waits for its thread; every host port is closed.
    /// How the stack ended, if not well.
    pub fn stop(mut self) -> Result<(), NetworkError> {
        if let Some(mut h) = self.handoff.take() {
            h.stop();
        }
        match self.stack.stop() {
            Some(Ok(Err(e))) => Err(e.into()),
            Some(Err(_)) => Err(NetworkError::Panicked("network")),
            Some(Ok(Ok(()))) | None => Ok(()),
        }
    }
}

/// The host's resolvers, from /etc/resolv.conf or, for tests and
/// debugging only, the file named by `RLESS_RESOLV_CONF`.
fn upstream_dns() -> Vec<std::net::SocketAddr> {
    let path = std::env::var_os("RLESS_RESOLV_CONF").unwrap_or_else(|| "/etc/resolv.conf".into());
    std::fs::read_to_string(path)
        .map(|s| netstack::parse_resolv_conf(&s))
        .unwrap_or_default()
}

/// Init side: makes the TAP and sends it to the monitor (tag `N`), or
/// reports that it could not (tag `X`). Returns the error, if any.
pub fn create_in_container(socket: &OwnedFd) -> Result<(), netstack::Error> {
    match netstack::tap::create("tap0", netstack::DEFAULT_MTU as u32) {
        Ok(tap) => {
            let _ = sys::send_msg(socket, b'N', Some(tap.as_fd()));
            Ok(())
        }
        Err(e) => {
            let _ = sys::send_msg(socket, b'X', None);
            Err(e)
        }
    }
}

/// Init side, handoff driver: installs the filter that reports every
/// `bind(2)` of the container and sends its listener (tag `B`), or tells
/// the monitor it could not (tag `X`).
pub fn send_bind_notifier(socket: &OwnedFd) -> std::io::Result<()> {
    match netstack::handoff::install_bind_notifier() {
        Ok(listener) => sys::send_msg(socket, b'B', Some(listener.as_fd())),
        Err(e) => {
            let _ = sys::send_msg(socket, b'X', None);
            Err(e)
        }
    }
}

/// Monitor side, handoff driver: the listener the init sent, if any.
pub fn receive_notifier(socket: &OwnedFd) -> std::io::Result<Option<OwnedFd>> {
    Ok(sys::recv_msg(socket)?.and_then(|(tag, fd)| if tag == b'B' { fd } else { None }))
}

/// Init side, user networks: waits until the monitor has attached the
/// container to its networks (tag `G`).
pub fn wait_attached(socket: &OwnedFd) -> bool {
    matches!(sys::recv_msg(socket), Ok(Some((b'G', _))))
}

/// Monitor side, user networks: attaches the container whose init is
/// `init`, adds its address to its /etc/hosts (`hosts`, the file the
/// container has bind-mounted) and lets the init go on. On failure the
/// init is told to stop (tag `X`) and the reason is returned.
pub fn attach_user_networks(
    socket: &OwnedFd,
    spec: &UserNetSpec,
    init: i32,
    hostname: &str,
    hosts: Option<&std::path::Path>,
) -> Result<
    (Vec<std::net::Ipv4Addr>, crate::network::client::Tie),
    crate::network::client::ClientError,
> {
    let attached = crate::network::client::attach(
        &spec.store,
        &spec.container,
        init,
        &spec.attachments,
        &spec.dns,
        &crate::network::podnames::of_infra(&spec.store, &spec.container),
    );
    let (ips, tie) = match attached {
        Ok(a) => a,
        Err(e) => {
            let _ = sys::send_msg(socket, b'X', None);
            return Err(e);
        }
    };
    if let (Some(hosts), Some(ip)) = (hosts, ips.first()) {
        let mut names: Vec<&str> = vec![hostname];
        for alias in &spec.attachments[0].aliases {
            // The hostname is the short id unless set: once each.
            if !names.contains(&alias.as_str()) {
                names.push(alias);
            }
        }
        // In place: the container has this inode mounted.
        let text = std::fs::read_to_string(hosts).unwrap_or_default();
        let _ = std::fs::write(hosts, with_own_entry(&text, *ip, &names.join(" ")));
    }
    let _ = sys::send_msg(socket, b'G', None);
    Ok((ips, tie))
}

/// `hosts` with the container's line `IP<TAB>names` for `ip` at the end,
/// in place of the ones earlier starts wrote: the file outlives a start,
/// and each restart (each failed one too) would add a line, whose stale
/// address could come first. (An `--add-host` line naming exactly the
/// container's own names, tab and all, goes too: it could not be told
/// from one of ours.)
fn with_own_entry(hosts: &str, ip: std::net::Ipv4Addr, names: &str) -> String {
    let ours = |line: &str| {
        line.split_once('\t')
            .is_some_and(|(addr, rest)| rest == names && addr.parse::<std::net::Ipv4Addr>().is_ok())
    };
    let mut text: String = hosts
        .lines()
        .filter(|l| !ours(l))
        .flat_map(|l| [l, "\n"])
        .collect();
    text.push_str(&format!("{ip}\t{names}\n"));
    text
}

/// Monitor side: the TAP the init sent, if it made one.
pub fn receive_tap(socket: &OwnedFd) -> std::io::Result<Option<OwnedFd>> {
    Ok(sys::recv_msg(socket)?.and_then(|(tag, fd)| if tag == b'N' { fd } else { None }))
}

/// Parses `-p`: `[HOSTIP:]HOSTPORT:CTRPORT[/PROTO]`, `HOSTIP::CTRPORT`,
/// `CTRPORT` (any free host port), with ranges `8000-8010:8000-8010`, and
/// `8000-8010:80` (any free port of the host range).
pub fn parse_publish(spec: &str) -> Result<Vec<Publish>, String> {
    let bad = |why: &str| format!("invalid port specification {spec:?}: {why}");
    let (body, proto) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, false),
        Some((b, "udp")) => (b, true),
        Some(_) => return Err(bad("the protocol must be tcp or udp")),
        None => (spec, false),
    };
    // An IPv6 host address is written in brackets.
    let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, rest) = r
            .split_once("]:")
            .ok_or_else(|| bad("unclosed IPv6 address"))?;
        (Some(ip), rest)
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts[..] {
            [c] => (None, c),
            [_, _] => (None, body),
            [ip, _, _] => (Some(ip), &body[ip.len() + 1..]),
            _ => return Err(bad("too many ':'")),
        }
    };
    let host_ip: IpAddr = match ip {
        None | Some("") => IpAddr::from([0, 0, 0, 0]),
        Some(ip) => ip.parse().map_err(|_| bad("bad host address"))?,
    };
    // An address written out is bound alone, the IPv4 wildcard too (as
    // docker); none, or an empty one (`:8080:80`), is the wildcard of both.
    let ipv4_only = matches!(ip, Some(a) if !a.is_empty()) && host_ip == IpAddr::from([0, 0, 0, 0]);
    let (host, ctr) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    let range = |s: &str| -> Result<(u16, u16), String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a
            .parse()
            .map_err(|_| bad("ports are numbers from 1 to 65535"))?;
        let b: u16 = b
            .parse()
            .map_err(|_| bad("ports are numbers from 1 to 65535"))?;
        if a == 0 || b < a {
            return Err(bad("bad port range"));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(ctr)?;
    // One container port from a host range: any free port of the range.
    let mut last = 0;
    let hosts: Vec<u16> = if host.is_empty() {
        vec![0; usize::from(c1 - c0) + 1]
    } else {
        let (h0, h1) = range(host)?;
        if c0 == c1 && h1 > h0 {
            last = h1;
            vec![h0]
        } else if h1 - h0 != c1 - c0 {
            return Err(bad("the host and container ranges differ in size"));
        } else {
            (h0..=h1).collect()
        }
    };
    Ok((c0..=c1)
        .zip(hosts)
        .map(|(c, h)| Publish {
            udp: proto,
            host_ip,
            host_port: h,
            container_port: c,
            host_port_last: last,
            ipv4_only,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_hosts_entry_replaces_the_last_start_s() {
        let base = "127.0.0.1\tlocalhost\n10.0.0.9\tweb db\n";
        let once = with_own_entry(base, "10.89.0.2".parse().unwrap(), "web db");
        assert_eq!(once, "127.0.0.1\tlocalhost\n10.89.0.2\tweb db\n");
        let again = with_own_entry(&once, "10.89.0.3".parse().unwrap(), "web db");
        assert_eq!(again, "127.0.0.1\tlocalhost\n10.89.0.3\tweb db\n");
        // Other names, or a line the user wrote with spaces, stay.
        let user = "10.1.1.1 web db\n10.1.1.2\tweb\n";
        let kept = with_own_entry(user, "10.89.0.2".parse().unwrap(), "web db");
        assert_eq!(kept, format!("{user}10.89.0.2\tweb db\n"));
    }

    #[test]
    fn publish_forms() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            p,
            vec![Publish {
                udp: false,
                host_ip: "0.0.0.0".parse().unwrap(),
                host_port: 8080,
                container_port: 80,
                host_port_last: 0,
                ipv4_only: false,
            }]
        );
        let p = parse_publish("127.0.0.1:5353:53/udp").unwrap();
        assert!(
            p[0].udp
                && p[0].host_ip == "127.0.0.1".parse::<IpAddr>().unwrap()
                && p[0].host_port == 5353
        );
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!((p[0].host_port, p[0].container_port), (0, 80));
        assert_eq!(parse_publish("80").unwrap()[0].host_port, 0);
        let p = parse_publish("8000-8002:9000-9002").unwrap();
        assert_eq!(
            p.iter()
                .map(|x| (x.host_port, x.container_port))
                .collect::<Vec<_>>(),
            vec![(8000, 9000), (8001, 9001), (8002, 9002)]
        );
        let p = parse_publish("8000-8010:80").unwrap();
        assert_eq!(
            (
                p.len(),
                p[0].host_port,
                p[0].host_port_last,
                p[0].container_port
            ),
            (1, 8000, 8010, 80)
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap()[0].host_ip,
            "::1".parse::<IpAddr>().unwrap()
        );
        let p = parse_publish("[::]:8080:80").unwrap();
        assert!(p[0].host_ip == "::".parse::<IpAddr>().unwrap() && !p[0].ipv4_only);
        for bad in [
            "",
            "x:80",
            "80/sctp",
            "8000-8001:80-82",
            "0:80",
            "1:2:3:4",
            "70000:80",
            "9-8:9-8",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn written_out_ipv4_wildcard_is_ipv4_only() {
        let only = |spec: &str| {
            let p = parse_publish(spec).unwrap();
            assert!(p.iter().all(|x| x.ipv4_only == p[0].ipv4_only), "{spec}");
            assert_eq!(p[0].host_ip, IpAddr::from([0, 0, 0, 0]), "{spec}");
            p[0].ipv4_only
        };
        for spec in [
            "0.0.0.0:8080:80",
            "0.0.0.0::80",
            "0.0.0.0:8000-8001:80-81/udp",
            "0.0.0.0:8000-8010:80",
        ] {
            assert!(only(spec), "{spec}");
        }
        // No address, or an empty one: both families, as docker.
        for spec in ["8080:80", "80", ":8080:80", "8000-8010:80", "53/udp"] {
            assert!(!only(spec), "{spec}");
        }
        // Another address is bound alone anyway; the flag stays unset.
        assert!(!parse_publish("127.0.0.1:8080:80").unwrap()[0].ipv4_only);
    }

    #[test]
    fn stored_publish_without_ipv4_only_keeps_both_families() {
        // As an older rless stored it.
        let old = r#"{"udp":false,"host_ip":"0.0.0.0","host_port":8080,"container_port":80}"#;
        let p: Publish = serde_json::from_str(old).unwrap();
        assert!(!p.ipv4_only);
        assert_eq!(p, parse_publish("8080:80").unwrap()[0]);
        // The common case is stored as before; the new one round-trips.
        assert_eq!(serde_json::to_string(&p).unwrap(), old);
        let new = parse_publish("0.0.0.0:8080:80").unwrap().remove(0);
        let text = serde_json::to_string(&new).unwrap();
        assert!(text.contains(r#""ipv4_only":true"#), "{text}");
        assert_eq!(serde_json::from_str::<Publish>(&text).unwrap(), new);
    }
}
