//! `run`'s namespace options: `--network container:X`, `--pid`, `--ipc`,
//! `--uts` and `--shm-size`, checked against each other and the other
//! options as docker checks them ("conflicting options: …"), and the other
//! containers they name looked up ([`rless::runtime::share`] says how they
//! are joined).

use super::*;
use rless::runtime::share::{Donor, Ipc, Namespaces, Share};

/// What a container takes from the containers whose namespaces it joins.
#[derive(Default)]
pub(super) struct Shared {
    pub ns: Namespaces,
    /// The hostname it gets (`--uts host|container:X`, `--network
    /// container:X`); `None`: its own.
    pub hostname: Option<String>,
    /// With `--network container:X`: X's /etc/hosts, /etc/hostname and
    /// /etc/resolv.conf (source, target), bound in instead of its own.
    pub etc_files: Option<Vec<(PathBuf, PathBuf)>>,
}

/// `--network container:X`'s X, checked against the options docker refuses
/// with it; `None` for the other network modes.
pub(super) fn network_donor(a: &Args) -> Result<Option<String>> {
    let Some(q) = a.network.iter().find_map(|n| n.strip_prefix("container:")) else {
        return Ok(None);
    };
    if a.network.len() > 1 {
        bail!("--network container:{q} cannot be combined with other networks");
    }
    if q.is_empty() {
        bail!("invalid --network container: name the container (container:NAME|ID)");
    }
    let conflicts: [(bool, &str); 8] = [
        (a.hostname.is_some(), "hostname and the network mode"),
        (
            !a.publish.is_empty() || a.publish_all,
            "port publishing and the container type network mode",
        ),
        (
            !a.expose.is_empty(),
            "port exposing and the container type network mode",
        ),
        (
            !a.dns.is_empty() || !a.dns_search.is_empty() || !a.dns_option.is_empty(),
            "dns and the network mode",
        ),
        (
            !a.add_host.is_empty(),
            "custom host-to-IP mapping and the network mode",
        ),
        (
            !a.network_alias.is_empty(),
            "network-scoped aliases and the container type network mode",
        ),
        (a.ip.is_some(), "ip and the container type network mode"),
        (
            a.pcap.is_some() || a.port_driver.is_some(),
            "--pcap/--port-driver and the container type network mode",
        ),
    ];
    if let Some((_, what)) = conflicts.iter().find(|(c, _)| *c) {
        bail!("conflicting options: {what}");
    }
    Ok(Some(q.to_string()))
}

/// A `--pid`/`--uts` value as given.
enum Asked<'a> {
    Own,
    Host,
    Container(&'a str),
}

/// "" or private (its own), host, container:NAME|ID.
fn parse_share<'a>(flag: &str, v: &'a str) -> Result<Asked<'a>> {
    Ok(match v {
        "" | "private" => Asked::Own,
        "host" => Asked::Host,
        _ => match v.strip_prefix("container:").filter(|q| !q.is_empty()) {
            Some(q) => Asked::Container(q),
            None => bail!("invalid --{flag} {v:?}: use host or container:NAME|ID"),
        },
    })
}

/// The other container `query` names, and its spec.
fn donor(
    store: &rless::image::store::Store,
    query: &str,
    must_run: bool,
) -> Result<(Donor, ContainerSpec)> {
    let (c, dir) = container::find(store, query)?;
    let spec = container::read_spec(&dir)?;
    let name = if c.name.is_empty() {
        c.id.short().to_string()
    } else {
        c.name.clone()
    };
    let d = Donor {
        id: c.id.as_str().to_string(),
        name,
        dir,
    };
    if must_run {
        rless::runtime::share::donor_init(&d)?;
    }
    Ok((d, spec))
}

/// `--network container:X`, `--pid`, `--ipc`, `--uts` and `--shm-size`,
/// checked, with the containers they name (which must run, unless the
/// container is only created: each start checks again).
pub(super) fn namespaces(
    store: &rless::image::store::Store,
    a: &Args,
    net_donor: Option<&str>,
    (keep_id, keep_id_as): (bool, Option<(u32, u32)>),
    on_user_networks: bool,
    must_run: bool,
) -> Result<Shared> {
    let mut out = Shared::default();
    // Each donor once, with its spec.
    let mut seen: Vec<(Donor, ContainerSpec)> = Vec::new();
    let mut look = |q: &str| -> Result<(Donor, ContainerSpec)> {
        let (d, spec) = donor(store, q, must_run)?;
        if let Some(hit) = seen.iter().find(|(s, _)| s.id == d.id) {
            return Ok(hit.clone());
        }
        if spec.keep_id != keep_id || (keep_id && spec.keep_id_as != keep_id_as) {
            bail!(
                "--userns must be as container {}'s ({}): the container joins its user namespace",
                d.name,
                if spec.keep_id {
                    "keep-id"
                } else {
                    "the default"
                }
            );
        }
        if on_user_networks && spec.user_networks.is_none() {
            bail!(
                "cannot share container {}'s namespaces on user-defined networks: their containers share the network helper's user namespace, which {} is not in",
                d.name,
                d.name
            );
        }
        seen.push((d.clone(), spec.clone()));
        Ok((d, spec))
    };
    if let Some(q) = net_donor {
        let (d, spec) = look(q)?;
        out.hostname = Some(spec.hostname.clone());
        let etc: Vec<(PathBuf, PathBuf)> = spec
            .plan
            .iter()
            .filter_map(|m| match m {
                MountOp::Bind { source, target, .. }
                    if ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
                        .iter()
                        .any(|t| target == Path::new(t)) =>
                {
                    Some((source.clone(), target.clone()))
                }
                _ => None,
            })
            .collect();
        out.etc_files = Some(etc);
        // A donor on the host's network gives the host's (each start
        // finds it is the monitor's own, and enters nothing).
        out.ns.net = Some(d);
    }
    let mut share = |flag: &str,
                     v: &Option<String>,
                     theirs: fn(&ContainerSpec) -> bool|
     -> Result<(Share, Option<ContainerSpec>)> {
        match parse_share(flag, v.as_deref().unwrap_or(""))? {
            Asked::Own => Ok((Share::Private, None)),
            Asked::Host => Ok((Share::Host, None)),
            Asked::Container(q) => {
                let (d, spec) = look(q)?;
                // Joining a container that has the host's: the host's.
                Ok(if theirs(&spec) {
                    (Share::Host, Some(spec))
                } else {
                    (Share::Container(d), Some(spec))
                })
            }
        }
    };
    let (pid, _) = share("pid", &a.pid, |s| s.namespaces.pid == Share::Host)?;
    let (uts, uts_spec) = share("uts", &a.uts, |s| s.namespaces.uts == Share::Host)?;
    out.ns.pid = pid;
    match (&uts, uts_spec) {
        (Share::Host, _) => {
            out.hostname = Some(
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned(),
            )
        }
        (Share::Container(_), Some(spec)) => out.hostname = Some(spec.hostname),
        _ => {}
    }
    if uts != Share::Private && a.hostname.is_some() {
        bail!("conflicting options: hostname and the UTS mode");
    }
    out.ns.uts = uts;
    out.ns.ipc = match a.ipc.as_deref().unwrap_or("") {
        "" | "shareable" => Ipc::Shareable,
        "private" => Ipc::Private,
        "none" => Ipc::None,
        "host" => Ipc::Host,
        v => match v.strip_prefix("container:").filter(|q| !q.is_empty()) {
            Some(q) => {
                let (d, spec) = look(q)?;
                match spec.namespaces.ipc {
                    Ipc::Host => Ipc::Host,
                    Ipc::Private | Ipc::None => bail!(
                        "container {}: non-shareable IPC (hint: use --ipc shareable for the donor container)",
                        d.name
                    ),
                    _ => Ipc::Container(d),
                }
            }
            None => bail!(
                "invalid --ipc {v:?}: use shareable, private, none, host or container:NAME|ID"
            ),
        },
    };
    if let Some(v) = &a.shm_size {
        let size = rless::runtime::cgroups::limits::parse_size(v)
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                anyhow::anyhow!("invalid --shm-size {v:?}: use a size such as 64m or 1g")
            })?;
        if matches!(out.ns.ipc, Ipc::Shareable | Ipc::Private) {
            out.ns.shm_size = Some(size);
        } else {
            // docker sizes only a /dev/shm of the container's own.
            eprintln!(
                "rless: warning: --shm-size is ignored with --ipc {}",
                a.ipc.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(out)
}

/// `--sysctl`s, checked against the namespaces the container has of its
/// own (a shared one would change the host or another container).
pub(super) fn sysctls(
    a: &Args,
    ns: &Namespaces,
    private_network: bool,
    net_donor: Option<&str>,
) -> Result<std::collections::BTreeMap<String, String>> {
    use rless::runtime::sysctl::{check, Private};
    let share = |s: &Share| match s {
        Share::Private => Ok(()),
        other => Err(other.mode()),
    };
    let private = Private {
        ipc: if ns.ipc.own() {
            Ok(())
        } else {
            Err(ns.ipc.mode())
        },
        net: match (net_donor, private_network) {
            (Some(d), _) => Err(format!("container:{d}")),
            (None, true) => Ok(()),
            (None, false) => Err("host".into()),
        },
        uts: share(&ns.uts),
    };
    // `--domainname X` is docker's name for `--sysctl kernel.domainname=X`.
    let domain = a
        .domainname
        .iter()
        .map(|d| format!("kernel.domainname={d}"));
    let all: Vec<String> = domain.chain(a.sysctl.iter().cloned()).collect();
    Ok(check(&all, &private)?)
}
