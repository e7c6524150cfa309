//! Whose network a container shows. A container that joins another's
//! network namespace (`--network container:X`, or a member of a pod that
//! shares its network, which joins the infra container's) has no ports or
//! addresses of its own: podman shows the owner's in `ps`, `port` and
//! `inspect` (its `PortMappings` follow the namespace's container). The
//! owner is read from the joiner's spec (the donor it recorded at create),
//! following a chain of joiners (X itself on Y's network) to the
//! container that made the namespace; a pod member whose spec does not
//! read falls back to its pod's infra container.
//!
//! [`podman_ports`] gives `ps --format json`'s `Ports`: podman's list of
//! `{host_ip, container_port, host_port, range, protocol}`, one entry per
//! mapping as asked (consecutive ports merged into a range), whether or
//! not the container runs.

use rless::container::{self, ContainerConfig};
use rless::runtime::network::Publish;
use std::path::{Path, PathBuf};

/// How many joiners of joiners are followed (a loop cannot be made, as a
/// donor exists before its joiner; this only bounds a damaged store).
const MAX_CHAIN: usize = 8;

/// The id of the container whose network namespace `c` uses, when it is
/// not its own.
pub fn owner(root: &Path, c: &ContainerConfig) -> Option<String> {
    let dir_of = |id: &str| root.join("containers").join(id);
    let donor_of = |id: &str| {
        container::read_spec(&dir_of(id))
            .ok()
            .and_then(|sp| sp.namespaces.net.map(|d| d.id))
    };
    let mut found = match donor_of(c.id.as_str()) {
        Some(d) => d,
        None => return container::pod::network_infra(root, c),
    };
    for _ in 0..MAX_CHAIN {
        match donor_of(&found) {
            Some(next) if next != found => found = next,
            _ => break,
        }
    }
    (found != c.id.as_str()).then_some(found)
}

/// The directory whose state and spec tell `c`'s network: its owner's
/// ([`owner`]) or its own (`dir`).
pub fn owner_dir(root: &Path, c: &ContainerConfig, dir: &Path) -> PathBuf {
    match owner(root, c) {
        Some(id) => root.join("containers").join(id),
        None => dir.to_path_buf(),
    }
}

/// podman's `Ports` of `ps --format json` for `c` (in `dir`): the
/// mappings its network's owner asked for, with the host ports bound
/// where they were left to pick (`-p 80`, `-p 8000-8010:80`) and the
/// container has run; `null` when there are none, as podman's nil list.
pub fn podman_ports(root: &Path, c: &ContainerConfig, dir: &Path) -> serde_json::Value {
    let dir = owner_dir(root, c, dir);
    let Ok(sp) = container::read_spec(&dir) else {
        return serde_json::Value::Null;
    };
    let state = container::read_state(&dir);
    let asked = sp
        .slirp
        .iter()
        .flat_map(|s| &s.ports)
        .chain(sp.user_networks.iter().flat_map(|u| &u.ports));
    let mut out: Vec<Mapping> = Vec::new();
    for p in asked {
        let picked = p.host_port == 0 || p.host_port_last > p.host_port;
        let host_port = match picked {
            true => bound(&state.ports, p).unwrap_or(p.host_port),
            false => p.host_port,
        };
        let m = Mapping {
            host_ip: shown_ip(p),
            container_port: p.container_port,
            host_port,
            range: 1,
            protocol: p.proto_name(),
        };
        match out.last_mut() {
            Some(last) if last.continued_by(&m) => last.range += 1,
            _ => out.push(m),
        }
    }
    if out.is_empty() {
        return serde_json::Value::Null;
    }
    out.iter()
        .map(|m| {
            serde_json::json!({
                "host_ip": m.host_ip, "container_port": m.container_port,
                "host_port": m.host_port, "range": m.range, "protocol": m.protocol,
            })
        })
        .collect()
}

/// One entry of podman's list.
struct Mapping {
    host_ip: String,
    container_port: u16,
    host_port: u16,
    range: u16,
    protocol: &'static str,
}

impl Mapping {
    /// `m` is the next port of this range (same address and protocol,
    /// both ports one further), as podman keeps `-p 8080-8082:80-82`.
    fn continued_by(&self, m: &Mapping) -> bool {
        self.host_ip == m.host_ip
            && self.protocol == m.protocol
            && self.host_port != 0
            && u32::from(self.container_port) + u32::from(self.range) == u32::from(m.container_port)
            && u32::from(self.host_port) + u32::from(self.range) == u32::from(m.host_port)
    }
}

/// The host address as asked: "" for none (both families' wildcards).
fn shown_ip(p: &Publish) -> String {
    if p.host_ip.is_unspecified() && p.host_ip.is_ipv4() && !p.ipv4_only {
        String::new()
    } else {
        p.host_ip.to_string()
    }
}

/// The host port the last run bound for `asked`'s container port.
fn bound(ports: &[Publish], asked: &Publish) -> Option<u16> {
    ports
        .iter()
        .find(|b| b.container_port == asked.container_port && b.udp == asked.udp)
        .map(|b| b.host_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(container_port: u16, host_port: u16) -> Mapping {
        Mapping {
            host_ip: String::new(),
            container_port,
            host_port,
            range: 1,
            protocol: "tcp",
        }
    }

    #[test]
    fn consecutive_ports_make_a_range() {
        let mut a = m(80, 8080);
        assert!(a.continued_by(&m(81, 8081)));
        a.range = 2;
        assert!(a.continued_by(&m(82, 8082)));
        assert!(!a.continued_by(&m(82, 9000)));
        assert!(!a.continued_by(&m(90, 8082)));
        // Ports left to pick (0) stay one entry each.
        assert!(!m(80, 0).continued_by(&m(81, 0)));
    }
}
