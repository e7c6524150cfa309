//! podman's per-network options: `--network NAME:alias=A,alias=B,ip=IP`.
//!
//! Theory of operation: before `--network` is read, the options after a
//! user-defined network's name are taken off (the name is left), checked,
//! and kept here by network; the container's attachment to that network
//! gets the aliases (after its `--network-alias`es' place) and the address.
//! The built-in modes (`slirp:…`, `container:NAME`) keep their own options.

use anyhow::{bail, Result};
use std::net::Ipv4Addr;

/// One user-defined network's options.
#[derive(Debug, Default)]
struct NetOpts {
    network: String,
    aliases: Vec<String>,
    ip: Option<Ipv4Addr>,
}

#[derive(Debug, Default)]
pub(super) struct PerNetwork(Vec<NetOpts>);

/// Takes the options off every user-defined network in `networks`.
pub(super) fn split(networks: &mut [String]) -> Result<PerNetwork> {
    let mut out = PerNetwork::default();
    for n in networks.iter_mut() {
        let Some((name, opts)) = n.split_once(':') else {
            continue;
        };
        if name == "container" || rless::network::RESERVED.contains(&name) {
            continue;
        }
        let mut o = NetOpts {
            network: name.to_string(),
            ..Default::default()
        };
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            match opt.split_once('=') {
                Some(("alias", a)) if rless::container::valid_name(a) => {
                    o.aliases.push(a.to_string())
                }
                Some(("alias", a)) => {
                    bail!("invalid alias {a:?} in --network {n}: use letters, digits, '_', '.' and '-'")
                }
                Some(("ip", ip)) => match ip.parse::<Ipv4Addr>() {
                    Ok(ip) if o.ip.is_none() => o.ip = Some(ip),
                    Ok(_) => bail!("--network {n}: only one ip= per network"),
                    Err(_) => bail!("invalid ip {ip:?} in --network {n}: not an IPv4 address"),
                },
                _ => bail!("unknown option {opt:?} in --network {n}: use alias=NAME or ip=IPV4"),
            }
        }
        *n = name.to_string();
        out.0.push(o);
    }
    Ok(out)
}

impl PerNetwork {
    /// Refuses an `ip=` outside its network's subnet (or its gateway).
    pub(super) fn check(&self, nets: &[rless::network::NetworkConfig]) -> Result<()> {
        for o in &self.0 {
            let (Some(ip), Some(net)) = (o.ip, nets.iter().find(|n| n.name == o.network)) else {
                continue;
            };
            if !net.subnet.is_host(ip) || ip == net.gateway {
                bail!(
                    "ip {ip} of --network {} is outside its subnet {} (or is its gateway)",
                    net.name,
                    net.subnet
                );
            }
        }
        Ok(())
    }

    /// The aliases given for network `name`.
    pub(super) fn aliases<'a>(&'a self, name: &'a str) -> impl Iterator<Item = String> + 'a {
        self.0
            .iter()
            .filter(move |o| o.network == name)
            .flat_map(|o| o.aliases.iter().cloned())
    }

    /// The address given for network `name`.
    pub(super) fn ip(&self, name: &str) -> Option<Ipv4Addr> {
        self.0.iter().find(|o| o.network == name).and_then(|o| o.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_off_user_networks_only() {
        let mut n = vec![
            "comp_default:alias=web,alias=w2,ip=10.89.0.5".to_string(),
            "slirp:allow_host_loopback=true".to_string(),
            "plain".to_string(),
        ];
        let p = split(&mut n).unwrap();
        assert_eq!(
            n,
            ["comp_default", "slirp:allow_host_loopback=true", "plain"]
        );
        assert_eq!(p.aliases("comp_default").collect::<Vec<_>>(), ["web", "w2"]);
        assert_eq!(p.ip("comp_default"), Some(Ipv4Addr::new(10, 89, 0, 5)));
        assert_eq!(p.ip("plain"), None);
        for bad in [
            "n:mac=aa:bb",
            "n:alias=a b",
            "n:ip=x",
            "n:ip=1.2.3.4,ip=1.2.3.5",
        ] {
            assert!(split(&mut [bad.to_string()]).is_err(), "{bad}");
        }
    }
}
