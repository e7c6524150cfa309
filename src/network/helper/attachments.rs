//! The network helper's attachments: which container is on which
//! network, with which address, interface and DNS names.
//!
//! Theory of operation. Each attached container has a [`Record`]: per
//! network its address (the asked one, or the lowest free one the
//! network leases), its interface in the container (eth0, eth1, ... in
//! order) and the bridge-side end of its veth pair, and the names it
//! answers to. `attach` (at the container's start), `connect` and
//! `disconnect` change the records and have the network's [`NetWorker`]
//! make or remove the interfaces ([`Helper::plug`]); the first attachment
//! to a network starts its worker. Every change puts the names where the
//! networks' DNS servers read them ([`crate::network::dns::Records`]),
//! and is saved to `attachments.json`, from which a new helper plugs the
//! containers of a killed one in again ([`Helper::reattach`]). A
//! container that exits is released: its names go (those it shares stay
//! with the others that hold them), and a network with no container left
//! is torn down.
//!
//! The helper's process, its socket and its requests are in the parent
//! module.

use super::{sys, watch, Helper, HelperError, Live, Net, STATE};
use crate::network::links::{AttachJob, NetWorker};
use crate::network::{Attachment, NetworkConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;

/// One container's attachments (`attachments.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) container: String,
    pub(super) init_pid: i32,
    pub(super) init_start: u64,
    nets: Vec<RecNet>,
    /// Its own DNS servers (`run --dns`), which its network's DNS server
    /// asks for the names it does not own.
    #[serde(default)]
    dns: Vec<IpAddr>,
    /// More names of its own on each of its networks (lower case): an
    /// infra container's pod's name and its members' names.
    #[serde(default)]
    pod_names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecNet {
    network: String,
    ip: Ipv4Addr,
    names: Vec<String>,
    ifname: String,
    default_route: bool,
    /// The bridge-side end of its veth pair.
    #[serde(default)]
    veth: String,
}

/// Whether network `name` has a DNS server (no `--disable-dns`).
fn dns_on(nets: &HashMap<String, Net>, name: &str) -> bool {
    nets.get(name).is_none_or(|n| !n.config.disable_dns)
}

impl Helper {
    fn used(&self, network: &str) -> Vec<Ipv4Addr> {
        self.live
            .iter()
            .flat_map(|l| l.rec.nets.iter())
            .filter(|n| n.network == network)
            .map(|n| n.ip)
            .collect()
    }

    /// The network's worker, started if needed.
    fn net(&mut self, name: &str) -> Result<&Net, HelperError> {
        if !self.nets.contains_key(name) {
            let config = crate::network::read(&self.root, name)?;
            let upstream =
                (!config.internal && !config.disable_dns).then(crate::network::dns::Upstream::open);
            let others = crate::network::list(&self.root)
                .into_iter()
                .filter(|n| n.name != config.name)
                .map(|n| n.subnet)
                .collect();
            let worker = NetWorker::start(&config, self.records.clone(), upstream, others)?;
            self.nets.insert(name.to_string(), Net { config, worker });
        }
        Ok(&self.nets[name])
    }

    pub(super) fn attach(
        &mut self,
        container: String,
        init_pid: i32,
        networks: &[Attachment],
        dns: Vec<IpAddr>,
        pod_names: Vec<String>,
        ns: OwnedFd,
    ) -> Result<Vec<Ipv4Addr>, HelperError> {
        let pidfd = watch(init_pid)?;
        let init_start = crate::container::process_start(init_pid)
            .ok_or_else(|| HelperError::Refused("the container's init is gone".into()))?;
        self.reap();
        // A restarted container replaces its old attachment.
        if let Some(i) = self.live.iter().position(|l| l.rec.container == container) {
            let old = self.live.remove(i);
            self.release(&old.rec);
        }
        let mut nets = Vec::new();
        let mut routed = false;
        for (i, a) in networks.iter().enumerate() {
            let config = self.net(&a.network)?.config.clone();
            let ip = self.allocate(&config, a.ip)?;
            let default_route = !routed && !config.internal;
            routed |= default_route;
            nets.push(RecNet {
                network: a.network.clone(),
                ip,
                names: a.aliases.iter().map(|n| n.to_ascii_lowercase()).collect(),
                ifname: format!("eth{i}"),
                default_route,
                veth: String::new(),
            });
        }
        let mut rec = Record {
            container,
            init_pid,
            init_start,
            nets,
            dns,
            pod_names: pod_names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        };
        self.plug(&mut rec, &ns)?;
        let ips = rec.nets.iter().map(|n| n.ip).collect();
        self.live.push(Live {
            rec,
            pidfd,
            tie: None,
        });
        self.save();
        Ok(ips)
    }

    /// An address on `config`'s network: `want` if free, else the lowest
    /// free one (inside its `--ip-range`, if it has one).
    fn allocate(
        &self,
        config: &NetworkConfig,
        want: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, HelperError> {
        let used = self.used(&config.name);
        match want {
            Some(ip) if !config.subnet.is_host(ip) || ip == config.gateway => {
                Err(HelperError::Refused(format!(
                    "address {ip} is not a free host address of network {} ({})",
                    config.name, config.subnet
                )))
            }
            Some(ip) if used.contains(&ip) => Err(HelperError::Refused(format!(
                "address {ip} is already in use on network {}",
                config.name
            ))),
            Some(ip) => Ok(ip),
            // From the subnet's first host address, the gateway aside (a
            // --gateway elsewhere leaves it free, and a range may hold it).
            None => (1..=config.subnet.hosts())
                .filter_map(|n| config.subnet.nth(n))
                .find(|ip| *ip != config.gateway && config.leases(*ip) && !used.contains(ip))
                .ok_or_else(|| {
                    HelperError::Refused(format!(
                        "network {} has no free address left",
                        config.name
                    ))
                }),
        }
    }

    /// `network connect`: one more interface for a running container.
    pub(super) fn connect(
        &mut self,
        container: &str,
        a: &Attachment,
    ) -> Result<Ipv4Addr, HelperError> {
        self.reap();
        let Some(i) = self.live.iter().position(|l| l.rec.container == container) else {
            return Err(HelperError::Refused("the container is not running on a user-defined network (only those can be connected)".into()));
        };
        if self.live[i].rec.nets.iter().any(|n| n.network == a.network) {
            return Err(HelperError::Refused(format!(
                "the container is already on network {}",
                a.network
            )));
        }
        let config = self.net(&a.network)?.config.clone();
        let ip = self.allocate(&config, a.ip)?;
        let rec = &self.live[i].rec;
        let ifname = (0..)
            .map(|k| format!("eth{k}"))
            .find(|n| !rec.nets.iter().any(|x| &x.ifname == n))
            .expect("a free name");
        let default_route = !config.internal && !rec.nets.iter().any(|n| n.default_route);
        let p = format!("/proc/{}/ns/net", rec.init_pid);
        let ns: OwnedFd = std::fs::File::open(&p)
            .map_err(sys(format!("open {p}")))?
            .into();
        let mut one = Record {
            nets: vec![RecNet {
                network: a.network.clone(),
                ip,
                names: a.aliases.iter().map(|n| n.to_ascii_lowercase()).collect(),
                ifname,
                default_route,
                veth: String::new(),
            }],
            ..rec.clone()
        };
        self.plug(&mut one, &ns)?;
        self.live[i].rec.nets.append(&mut one.nets);
        self.publish_names(&self.live[i].rec.clone());
        self.save();
        Ok(ip)
    }

    /// `network disconnect`: removes the container's interface on `network`.
    pub(super) fn disconnect(&mut self, container: &str, network: &str) -> Result<(), HelperError> {
        self.reap();
        let Some(i) = self.live.iter().position(|l| l.rec.container == container) else {
            return Err(HelperError::Refused(
                "the container is not running on a user-defined network".into(),
            ));
        };
        let Some(k) = self.live[i]
            .rec
            .nets
            .iter()
            .position(|n| n.network == network)
        else {
            return Err(HelperError::Refused(format!(
                "the container is not on network {network}"
            )));
        };
        let gone = self.live[i].rec.nets.remove(k);
        if let Some(net) = self.nets.get(network) {
            net.worker.detach(&gone.veth)?;
        }
        // The default route went with it: the next network that routes
        // (not internal) takes it, as with docker.
        if gone.default_route {
            let init = self.live[i].rec.init_pid;
            let next = self.live[i].rec.nets.iter().position(|n| {
                self.nets
                    .get(&n.network)
                    .is_some_and(|net| !net.config.internal)
            });
            if let Some(j) = next {
                let n = &self.live[i].rec.nets[j];
                let p = format!("/proc/{init}/ns/net");
                let ns: OwnedFd = std::fs::File::open(&p)
                    .map_err(sys(format!("open {p}")))?
                    .into();
                self.nets[&n.network].worker.route(ns, &n.ifname)?;
                self.live[i].rec.nets[j].default_route = true;
            }
        }
        let only = Record {
            nets: vec![gone],
            ..self.live[i].rec.clone()
        };
        self.release(&only);
        self.publish_names(&self.live[i].rec.clone());
        self.save();
        Ok(())
    }

    /// Creates the record's interfaces and publishes its names.
    fn plug(&mut self, rec: &mut Record, ns: &OwnedFd) -> Result<(), HelperError> {
        for n in rec.nets.iter_mut() {
            self.veths += 1;
            let veth = format!("veth{}", self.veths);
            n.veth = veth.clone();
            let netns = ns.try_clone().map_err(sys("duplicate a descriptor"))?;
            let net = self.net(&n.network)?;
            net.worker.attach(AttachJob {
                netns,
                veth,
                ifname: n.ifname.clone(),
                ip: n.ip,
                default_route: n.default_route,
            })?;
        }
        self.publish_names(rec);
        Ok(())
    }

    /// Gives an attached container's name `from` up for `to` (a container
    /// not attached has nothing to change).
    pub(super) fn rename(&mut self, container: &str, from: &str, to: &str) {
        let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
        let Some(l) = self.live.iter_mut().find(|l| l.rec.container == container) else {
            return;
        };
        let Ok(mut d) = self.records.write() else {
            return;
        };
        // Its own names only: a member's of its pod change by
        // [`Request::PodName`] (one of them may be the same as an alias).
        for n in l.rec.nets.iter_mut() {
            d.unpublish(&n.network, n.ip, &n.names);
            for name in n.names.iter_mut().filter(|x| **x == from) {
                name.clone_from(&to);
            }
        }
        let rec = l.rec.clone();
        drop(d);
        self.publish_names(&rec);
        self.save();
    }

    /// Gives a pod member's name to its infra container `container` on
    /// its networks, or takes it back (a container not attached has
    /// nothing to change).
    pub(super) fn pod_name(&mut self, container: &str, name: &str, add: bool) {
        let name = name.to_ascii_lowercase();
        let Some(l) = self.live.iter_mut().find(|l| l.rec.container == container) else {
            return;
        };
        // A list with repeats: the pod and a member, or two members, may
        // bear one name, which stays while one of them does.
        if add {
            l.rec.pod_names.push(name.clone());
        } else if let Some(i) = l.rec.pod_names.iter().position(|n| *n == name) {
            l.rec.pod_names.remove(i);
            if !l.rec.pod_names.contains(&name) {
                if let Ok(mut d) = self.records.write() {
                    for n in &l.rec.nets {
                        d.unpublish(&n.network, n.ip, std::slice::from_ref(&name));
                    }
                }
            }
        }
        // Again: a name it holds otherwise too (an alias) stays.
        let rec = l.rec.clone();
        self.publish_names(&rec);
        self.save();
    }

    /// Puts the record's names and memberships in the directory: its own
    /// name and short id answer with it alone, an alias with every
    /// container that took it ([`crate::network::dns::Holders`]).
    fn publish_names(&self, rec: &Record) {
        if let Ok(mut d) = self.records.write() {
            // None on a `--disable-dns` network: no server there, and the
            // other networks' servers do not answer for it either.
            for n in rec.nets.iter().filter(|n| dns_on(&self.nets, &n.network)) {
                d.publish(&n.network, n.ip, &n.names);
                d.publish_own(&n.network, n.ip, &rec.pod_names);
            }
            let member = rec.nets.iter().map(|n| (n.network.clone(), n.ip)).collect();
            d.members.insert(rec.container.clone(), member);
            let dns = rec.dns.iter().map(|ip| SocketAddr::new(*ip, 53)).collect();
            d.dns.insert(rec.container.clone(), dns);
        }
    }

    /// A container of a killed helper: its interfaces again.
    pub(super) fn reattach(&mut self, mut rec: Record) -> Result<(), HelperError> {
        let p = format!("/proc/{}/ns/net", rec.init_pid);
        let ns: OwnedFd = std::fs::File::open(&p)
            .map_err(sys(format!("open {p}")))?
            .into();
        let pidfd = watch(rec.init_pid)?;
        self.plug(&mut rec, &ns)?;
        self.live.push(Live {
            rec,
            pidfd,
            tie: None,
        });
        Ok(())
    }

    /// Forgets a container's names; tears down networks left empty.
    pub(super) fn release(&mut self, rec: &Record) {
        if let Ok(mut d) = self.records.write() {
            d.members.remove(&rec.container);
            d.dns.remove(&rec.container);
            // The names it shared stay with the others that hold them.
            for n in &rec.nets {
                d.unpublish(&n.network, n.ip, &n.names);
                d.unpublish(&n.network, n.ip, &rec.pod_names);
            }
        }
        for n in &rec.nets {
            if self.used(&n.network).is_empty() {
                self.nets.remove(&n.network);
                if let Ok(mut d) = self.records.write() {
                    d.names.remove(&n.network);
                }
            }
        }
    }

    pub(super) fn save(&self) {
        let recs: Vec<&Record> = self.live.iter().map(|l| &l.rec).collect();
        let tmp = self.rundir.join(format!(".{STATE}.tmp"));
        if std::fs::write(&tmp, serde_json::to_vec(&recs).expect("json")).is_ok() {
            let _ = std::fs::rename(&tmp, self.rundir.join(STATE));
        }
    }
}
