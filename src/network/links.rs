//! One network's namespace, bridge, uplink and DNS: a worker thread of the
//! helper that lives inside the network's namespace.
//!
//! Theory of operation: [`NetWorker::start`] spawns a thread that unshares
//! a new network namespace (owned by the helper's user namespace U), brings
//! loopback up, creates the bridge `rless0` with the gateway address, and
//! for a network that is not `--internal` a TAP `uplink` with 10.0.2.100/24
//! and a default route to netstack's 10.0.2.2, plus `ip_forward=1`. The TAP
//! fd goes back to the helper, which runs netstack on it in the host's
//! namespace with the network's subnet as a routed subnet: outbound NAT is
//! netstack's. The thread binds the DNS sockets (UDP and TCP) on the
//! gateway (not on a `--disable-dns` network: no server there) and hands
//! them to [`NetWorker::start`], which starts the DNS thread from the
//! helper's own thread: so the DNS thread is in the host's
//! namespace, where the sockets it opens to forward queries belong, while
//! it serves sockets of the network's. The worker thread then takes
//! attach jobs: a veth pair, one end on the
//! bridge, the other created directly in the container's namespace and
//! configured there (the thread moves into that namespace for the moment it
//! takes to open a netlink socket, then back). The namespace lives as long
//! as this thread and the stack's TAP; dropping [`NetWorker`] ends both.

use super::dns::{self, Records};
use super::NetworkConfig;
use netstack::link::Netlink;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

const BRIDGE: &str = "rless0";

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("network {network}: {source}")]
    Link {
        network: String,
        source: netstack::Error,
    },
    #[error("network {network}: cannot {op}: {source}")]
    Sys {
        network: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("the thread of network {0} is gone")]
    Gone(String),
}

fn link_err(network: &str) -> impl FnOnce(netstack::Error) -> LinkError + use<> {
    let network = network.to_string();
    move |source| LinkError::Link { network, source }
}

fn sys_err(network: &str, op: &'static str) -> impl FnOnce(std::io::Error) -> LinkError + use<> {
    let network = network.to_string();
    move |source| LinkError::Sys {
        network,
        op,
        source,
    }
}
const MTU: u32 = netstack::DEFAULT_MTU as u32;

/// One interface to give a container.
pub struct AttachJob {
    /// The container's network namespace.
    pub netns: OwnedFd,
    /// The bridge-side name (unique in the network's namespace).
    pub veth: String,
    /// The name inside the container (`eth0`, …).
    pub ifname: String,
    pub ip: Ipv4Addr,
    /// Whether the default route goes through this network.
    pub default_route: bool,
}

enum Job {
    Attach(AttachJob, mpsc::Sender<Result<(), LinkError>>),
    /// Deletes a bridge-side veth (its peer in the container goes too).
    Detach(String, mpsc::Sender<Result<(), LinkError>>),
    /// The default route of a container (its namespace, the interface)
    /// through this network's gateway.
    Route(OwnedFd, String, mpsc::Sender<Result<(), LinkError>>),
}

/// A running network.
pub struct NetWorker {
    name: String,
    jobs: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
    dns_stop: Arc<AtomicBool>,
    uplink: Option<netstack::Worker<Result<(), netstack::Error>>>,
}

impl NetWorker {
    /// Sets the network up; `upstream`: the DNS server's way to other
    /// resolvers (`None` on an internal network).
    /// `others`: the other networks' subnets, which the uplink refuses to
    /// reach (isolation between networks, whatever the host routes).
    pub fn start(
        config: &NetworkConfig,
        records: Records,
        upstream: Option<dns::Upstream>,
        others: Vec<super::Subnet>,
    ) -> Result<NetWorker, LinkError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Ready, LinkError>>();
        let dns_stop = Arc::new(AtomicBool::new(false));
        let cfg = config.clone();
        let thread = std::thread::Builder::new()
            .name(format!("net-{}", config.name))
            .spawn(move || {
                let setup = setup_namespace(&cfg);
                let (own_ns, bridge) = match setup {
                    Ok((ns, bridge, ready)) => {
                        let _ = ready_tx.send(Ok(ready));
                        (ns, bridge)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                for job in rx {
                    match job {
                        Job::Attach(j, reply) => {
                            let _ = reply.send(attach(&own_ns, bridge, &cfg, j));
                        }
                        Job::Detach(veth, reply) => {
                            let r = Netlink::open()
                                .and_then(|mut n| n.delete(&veth))
                                .map_err(link_err(&cfg.name));
                            let _ = reply.send(r);
                        }
                        Job::Route(netns, ifname, reply) => {
                            let _ = reply.send(route(&own_ns, &cfg, &netns, &ifname));
                        }
                    }
                }
            })
            .map_err(sys_err(&config.name, "start the network thread"))?;
        let Ready { tap, dns } = ready_rx
            .recv()
            .map_err(|_| LinkError::Gone(config.name.clone()))??;
        let mut worker = NetWorker {
            name: config.name.clone(),
            jobs,
            thread: Some(thread),
            dns_stop: dns_stop.clone(),
            uplink: None,
        };
        // From this thread, in the host's namespace (see the top).
        if let Some((udp, tcp)) = dns {
            std::thread::Builder::new()
                .name(format!("dns-{}", config.name))
                .spawn({
                    let name = config.name.clone();
                    move || dns::serve(name, udp, tcp, upstream, records, dns_stop)
                })
                .map_err(sys_err(&config.name, "start the DNS thread"))?;
        }
        if let Some(tap) = tap {
            worker.uplink = Some(start_uplink(tap, config, &others)?);
        }
        Ok(worker)
    }

    /// Gives a container an interface on this network.
    pub fn attach(&self, job: AttachJob) -> Result<(), LinkError> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Job::Attach(job, tx))
            .map_err(|_| LinkError::Gone(self.name.clone()))?;
        rx.recv().map_err(|_| LinkError::Gone(self.name.clone()))?
    }
}

impl NetWorker {
    /// Removes a container's interface from this network.
    pub fn detach(&self, veth: &str) -> Result<(), LinkError> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Job::Detach(veth.to_string(), tx))
            .map_err(|_| LinkError::Gone(self.name.clone()))?;
        rx.recv().map_err(|_| LinkError::Gone(self.name.clone()))?
    }
}

impl NetWorker {
    /// Routes a container's default traffic through this network, on its
    /// interface `ifname` (the network that had the route was removed).
    pub fn route(&self, netns: OwnedFd, ifname: &str) -> Result<(), LinkError> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Job::Route(netns, ifname.to_string(), tx))
            .map_err(|_| LinkError::Gone(self.name.clone()))?;
        rx.recv().map_err(|_| LinkError::Gone(self.name.clone()))?
    }
}

/// In the worker thread: [`NetWorker::route`].
fn route(
    own_ns: &OwnedFd,
    cfg: &NetworkConfig,
    netns: &OwnedFd,
    ifname: &str,
) -> Result<(), LinkError> {
    netstack::setns_net(netns.as_fd()).map_err(sys_err(
        &cfg.name,
        "enter the container's network namespace",
    ))?;
    let routed = Netlink::open().and_then(|mut n| n.add_default_route(ifname, cfg.gateway));
    netstack::setns_net(own_ns.as_fd())
        .map_err(sys_err(&cfg.name, "return to the network's namespace"))?;
    routed.map_err(link_err(&cfg.name))
}

impl Drop for NetWorker {
    fn drop(&mut self) {
        self.dns_stop.store(true, Ordering::Relaxed);
        if let Some(mut u) = self.uplink.take() {
            let _ = u.stop();
        }
        // Closing the job channel ends the thread, and with it the namespace.
        let (dead, _) = mpsc::channel();
        self.jobs = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the worker thread hands to [`NetWorker::start`]: the uplink TAP
/// (not internal) and the DNS server's sockets, of the network's namespace.
struct Ready {
    tap: Option<OwnedFd>,
    /// The DNS server's sockets (none with `--disable-dns`).
    dns: Option<(UdpSocket, TcpListener)>,
}

/// In the worker thread: a new namespace with loopback, the bridge, the
/// DNS sockets and (not internal) the uplink TAP. Returns the namespace,
/// the bridge's index, the TAP and the sockets.
fn setup_namespace(cfg: &NetworkConfig) -> Result<(OwnedFd, u32, Ready), LinkError> {
    netstack::unshare_netns().map_err(sys_err(&cfg.name, "create the namespace"))?;
    let ns = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(sys_err(&cfg.name, "open the namespace"))?;
    let mut nl = Netlink::open().map_err(link_err(&cfg.name))?;
    nl.set_up("lo", 65536).map_err(link_err(&cfg.name))?;
    let bridge = nl
        .create_bridge(BRIDGE, cfg.gateway, cfg.subnet.prefix, MTU)
        .map_err(link_err(&cfg.name))?;
    // Bridged frames need no firewall here (br_netfilter, where the host
    // loaded it, would otherwise hook every one of them); best effort.
    for f in ["iptables", "ip6tables", "arptables"] {
        let _ = std::fs::write(format!("/proc/sys/net/bridge/bridge-nf-call-{f}"), "0");
    }
    let tap = if cfg.internal {
        None
    } else {
        let setup = netstack::tap::TapSetup {
            mtu: MTU,
            ..Default::default()
        };
        let tap = netstack::tap::create_with("uplink", &setup).map_err(link_err(&cfg.name))?;
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(sys_err(&cfg.name, "enable forwarding"))?;
        Some(tap)
    };
    if cfg.disable_dns {
        return Ok((ns.into(), bridge, Ready { tap, dns: None }));
    }
    let udp = UdpSocket::bind((cfg.gateway, 53)).map_err(sys_err(
        &cfg.name,
        "bind the DNS server on the gateway, UDP port 53",
    ))?;
    let tcp = TcpListener::bind((cfg.gateway, 53)).map_err(sys_err(
        &cfg.name,
        "bind the DNS server on the gateway, TCP port 53",
    ))?;
    let dns = Some((udp, tcp));
    Ok((ns.into(), bridge, Ready { tap, dns }))
}

/// In the worker thread: the veth pair and the container side's address.
fn attach(
    own_ns: &OwnedFd,
    bridge: u32,
    cfg: &NetworkConfig,
    j: AttachJob,
) -> Result<(), LinkError> {
    let mut nl = Netlink::open().map_err(link_err(&cfg.name))?;
    // A namespace that just died (a restart, a killed helper) frees its
    // links in the background: retry a name that is still taken.
    let mut tries = 0;
    loop {
        match nl.create_veth(&j.veth, &j.ifname, j.netns.as_fd(), bridge, MTU) {
            Ok(()) => break,
            Err(netstack::Error::Io { source, .. })
                if source.raw_os_error() == Some(nix::libc::EEXIST) && tries < 50 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(link_err(&cfg.name)(e)),
        }
    }
    netstack::setns_net(j.netns.as_fd()).map_err(sys_err(
        &cfg.name,
        "enter the container's network namespace",
    ))?;
    // Names are looked up in the thread's namespace: configure from inside.
    let gw = j.default_route.then_some(cfg.gateway);
    let configured =
        Netlink::open().and_then(|mut n| n.configure(&j.ifname, MTU, j.ip, cfg.subnet.prefix, gw));
    netstack::setns_net(own_ns.as_fd())
        .map_err(sys_err(&cfg.name, "return to the network's namespace"))?;
    configured.map_err(link_err(&cfg.name))
}

/// netstack on the uplink TAP, in the host's namespace (the caller's).
fn start_uplink(
    tap: OwnedFd,
    cfg: &NetworkConfig,
    others: &[super::Subnet],
) -> Result<netstack::Worker<Result<(), netstack::Error>>, LinkError> {
    // The network's own subnet is routed back through the TAP; the other
    // networks' are refused.
    let config = netstack::Config {
        routed: vec![(cfg.subnet.addr, cfg.subnet.prefix)],
        refused: others.iter().map(|s| (s.addr, s.prefix)).collect(),
        allow_host_loopback: cfg.allow_host_loopback,
        ..Default::default()
    };
    let bound = netstack::bind_ports(&config).map_err(link_err(&cfg.name))?;
    let stack = netstack::Stack::new(tap, config, bound).map_err(link_err(&cfg.name))?;
    netstack::Worker::spawn(&format!("uplink-{}", cfg.name), move |stop| stack.run(stop))
        .map_err(sys_err(&cfg.name, "start the uplink thread"))
}
