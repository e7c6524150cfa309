//! Parsing and preparing `run`'s options: security, limits, cgroups,
//! volumes-from, environment files, network, generated /etc files.

use super::*;
use rless::container::host_config::{cap_name, HostOptions, Ulimit};
use rless::runtime::cgroups::{self, CgroupSpec};
use std::collections::BTreeMap;

/// `--security-opt`: the seccomp mode and no_new_privs.
pub(super) fn security_options(opts: &[String], privileged: bool) -> Result<(SeccompMode, bool)> {
    let mut seccomp = if privileged {
        SeccompMode::Unconfined
    } else {
        SeccompMode::Default
    };
    let mut nnp = !privileged;
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match (k, v) {
            ("seccomp", "unconfined") => seccomp = SeccompMode::Unconfined,
            ("seccomp", "") => bail!("--security-opt seccomp needs a value: unconfined or a profile file"),
            ("seccomp", path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read seccomp profile {path}"))?;
                // Parse now, so a bad profile fails before anything is made.
                rless::runtime::seccomp::Profile::from_json(&text).with_context(|| format!("seccomp profile {path}"))?;
                seccomp = SeccompMode::Profile(text);
            }
            ("no-new-privileges", "" | "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("label" | "apparmor" | "mask" | "unmask", _) => {
                tracing::warn!("--security-opt {o} is not supported by rless and is ignored");
            }
            _ => bail!("invalid --security-opt {o:?}: use seccomp=unconfined|FILE or no-new-privileges[=true|false]"),
        }
    }
    Ok((seccomp, nnp))
}

/// `--storage-opt`: whether fuse-overlay uses the kernel's writeback cache,
/// and the driver to use: writeback is a fuse-overlay feature, so `auto`
/// takes fuse-overlay with it (as with keep-id), and `overlay` refuses it.
pub(super) fn storage_options(opts: &[String], driver: Driver) -> Result<(bool, Driver)> {
    let mut writeback = false;
    for o in opts {
        match o.split_once('=').unwrap_or((o.as_str(), "")) {
            ("writeback", "" | "true") => writeback = true,
            ("writeback", "false") => writeback = false,
            _ => bail!("invalid --storage-opt {o:?}: use writeback[=true|false]"),
        }
    }
    match driver {
        Driver::Overlay if writeback => {
            bail!("--storage-opt writeback needs --storage-driver fuse-overlay (or auto)")
        }
        Driver::Auto if writeback => Ok((true, Driver::FuseOverlay)),
        d => Ok((writeback, d)),
    }
}

/// `--ulimit NAME=SOFT[:HARD]`; -1 or "unlimited" means no limit.
pub(super) fn parse_ulimit(spec: &str) -> Result<(String, u64, u64)> {
    let bad = || {
        anyhow::anyhow!("invalid --ulimit {spec:?}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    };
    let (name, values) = spec.split_once('=').ok_or_else(bad)?;
    if rless::runtime::init::rlimit_resource(name).is_none() {
        bail!("invalid --ulimit {spec:?}: unknown resource {name:?}");
    }
    let num = |v: &str| -> Result<u64> {
        match v {
            "-1" | "unlimited" => Ok(u64::MAX),
            v => v.parse().map_err(|_| bad()),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(values)?, num(values)?),
    };
    if soft > hard {
        bail!("invalid --ulimit {spec:?}: the soft limit is above the hard one");
    }
    Ok((name.to_string(), soft, hard))
}

/// The limit flags and `--cgroups`: the container's cgroup spec, and the
/// one warning line to print once the container is made, naming the
/// limits this host cannot apply (an error with `--cgroups=required`).
/// Values are checked here, before anything is made.
pub(super) fn check_cgroups(a: &Args, id: &ContainerId) -> Result<(CgroupSpec, Option<String>)> {
    let mode = cgroups::Mode::parse(&a.cgroups)?;
    let flags = cgroups::limits::LimitFlags {
        memory: a.memory.clone(),
        memory_swap: a.memory_swap.clone(),
        cpus: a.cpus.clone(),
        cpu_shares: a.cpu_shares.clone(),
        pids_limit: a.pids_limit.clone(),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spec = CgroupSpec {
        mode,
        parent: a.cgroup_parent.clone(),
        settings: cgroups::limits::settings(&flags, cpus)?,
        name: format!("rless-{id}"),
    };
    let warning = cgroups::plan(&spec)?.warning;
    Ok((spec, warning))
}

/// Readies the parent of the container's cgroup (in the command, before
/// it forks or enters the user namespace). When that fails under
/// `--cgroups=enabled`, one warning is printed and this start goes without
/// a cgroup (the returned spec).
pub(super) fn prepare_cgroups(spec: &ContainerSpec) -> Result<ContainerSpec> {
    let mut spec = spec.clone();
    if let Some(w) = cgroups::prepare(&spec.cgroup)? {
        tracing::warn!("{w}");
        spec.cgroup.mode = cgroups::Mode::Disabled;
    }
    Ok(spec)
}

pub(super) fn volume_name(m: &MountOp) -> String {
    match m {
        MountOp::Volume { name, .. } => name.clone(),
        _ => String::new(),
    }
}

/// `--volumes-from CTR[:ro|rw]`: the binds and volumes `CTR` was created
/// with (not its tmpfs), read-only with `:ro`. Its anonymous volumes stay
/// its own: removing this container does not remove them.
pub(super) fn volumes_from(store: &rless::image::store::Store, spec: &str) -> Result<Vec<MountOp>> {
    let (query, ro) = match spec.rsplit_once(':') {
        Some((q, "ro")) => (q, true),
        Some((q, "rw")) => (q, false),
        Some(_) => bail!("invalid --volumes-from {spec:?}: expected CONTAINER[:ro|rw]"),
        None => (spec, false),
    };
    let (c, _) = container::find(store, query)?;
    Ok(c.mounts
        .into_iter()
        .filter_map(|m| match m {
            MountOp::Bind {
                source,
                target,
                readonly,
            } => Some(MountOp::Bind {
                source,
                target,
                readonly: readonly || ro,
            }),
            MountOp::Volume {
                name,
                source,
                target,
                readonly,
                ..
            } => Some(MountOp::Volume {
                name,
                source,
                target,
                readonly: readonly || ro,
                copy: false,
                anonymous: false,
            }),
            _ => None,
        })
        .collect())
}

/// Later definitions of a variable replace earlier ones, in place.
pub(super) fn dedup_env(env: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string();
        match out
            .iter_mut()
            .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    out
}

/// The container's labels: the image's, then `--label-file`s, then
/// `--label`s, each over the ones before (docker's order).
pub(super) fn labels(
    image: &BTreeMap<String, String>,
    labels: &[String],
    files: &[PathBuf],
) -> Result<BTreeMap<String, String>> {
    let mut out = image.clone();
    let mut add = |kv: &str, whence: &dyn Fn() -> String| -> Result<()> {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!("invalid label {kv:?}{}: use KEY=value", whence());
        }
        out.insert(k.to_string(), v.to_string());
        Ok(())
    };
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read label file {}", f.display()))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            add(line, &|| format!(" in label file {}", f.display()))?;
        }
    }
    for l in labels {
        add(l, &String::new)?;
    }
    Ok(out)
}

/// docker's --env-file: KEY=value lines, KEY alone takes the caller's
/// value, `#` comments and blank lines are skipped.
pub(crate) fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, _)) if k.is_empty() || k.contains(char::is_whitespace) => {
                bail!("invalid line {line:?} in env file {}", path.display())
            }
            Some(_) => out.push(line.to_string()),
            None => out.extend(std::env::var(line).ok().map(|v| format!("{line}={v}"))),
        }
    }
    Ok(out)
}

/// `--network` and `-p`: a namespace of its own, and the userspace network.
pub(super) fn parse_network(
    mode: &str,
    publish: &[String],
    pcap: Option<PathBuf>,
    port_driver: Option<&str>,
) -> Result<(bool, Option<SlirpSpec>)> {
    let (name, opts) = mode.split_once(':').unwrap_or((mode, ""));
    let mut ports = Vec::new();
    for p in publish {
        ports.extend(parse_publish(p).map_err(|m| anyhow::anyhow!(m))?);
    }
    match name {
        "slirp" | "slirp4netns" | "pasta" | "bridge" | "default" | "private" => {
            let mut spec = SlirpSpec {
                ports,
                allow_host_loopback: false,
                pcap,
                port_driver: Default::default(),
            };
            let driver = |v: &str| v.parse().map_err(|m: String| anyhow::anyhow!(m));
            for o in opts.split(',').filter(|o| !o.is_empty()) {
                match o.split_once('=') {
                    Some(("allow_host_loopback", v)) => spec.allow_host_loopback = v == "true",
                    Some(("port_driver", v)) => spec.port_driver = driver(v)?,
                    // slirp4netns options rless has no use for are accepted.
                    Some((
                        "mtu" | "enable_ipv6" | "port_handler" | "cidr" | "outbound_addr",
                        _,
                    )) => {}
                    _ => bail!(
                        "unknown --network option {o:?}: use allow_host_loopback=true or port_driver=smoltcp|splice|handoff"
                    ),
                }
            }
            if let Some(d) = port_driver {
                spec.port_driver = driver(d)?;
            }
            Ok((true, Some(spec)))
        }
        "none" | "host" if port_driver.is_some() => {
            bail!(
                "--port-driver needs the userspace network (--network slirp), not --network {name}"
            )
        }
        // docker and podman run the container and say so.
        "none" | "host" if !ports.is_empty() => {
            eprintln!("rless: warning: published ports are discarded with --network {name}");
            Ok((name == "none", None))
        }
        "none" => Ok((true, None)),
        "host" => Ok((false, None)),
        other => bail!("unknown --network {other:?}: use slirp, none or host"),
    }
}

/// `--network NAME…` of user-defined networks, checked: the networks
/// (empty for the other modes).
pub(super) fn user_networks(
    ctx: &Ctx,
    a: &Args,
    keep_id: bool,
) -> Result<Vec<rless::network::NetworkConfig>> {
    let builtin = |n: &str| {
        let mode = n.split_once(':').map_or(n, |(m, _)| m);
        rless::network::RESERVED.contains(&mode)
    };
    if a.network.iter().all(|n| builtin(n)) {
        if a.network.len() > 1 {
            bail!(
                "--network {} cannot be combined with other networks",
                a.network[0]
            );
        }
        if !a.network_alias.is_empty() {
            bail!("--network-alias needs a user-defined network (--network NAME)");
        }
        return Ok(Vec::new());
    }
    if let Some(b) = a.network.iter().find(|n| builtin(n)) {
        bail!("--network {b} cannot be combined with user-defined networks");
    }
    if keep_id {
        bail!("--userns keep-id cannot be used with user-defined networks (their containers share one user namespace)");
    }
    if a.pcap.is_some() {
        bail!("--pcap needs the userspace network (--network slirp)");
    }
    for alias in &a.network_alias {
        if !container::valid_name(alias) {
            bail!("invalid --network-alias {alias:?}: use letters, digits, '_', '.' and '-'");
        }
    }
    let mut out: Vec<rless::network::NetworkConfig> = Vec::new();
    for n in &a.network {
        let net = rless::network::read(&ctx.root, n)?;
        if !out.iter().any(|o| o.name == net.name) {
            out.push(net);
        }
    }
    Ok(out)
}

/// The host's own address as a container on a userspace network reaches
/// it: the source address of the host's default route, as podman's
/// host.containers.internal (a service listening on all of the host's
/// addresses answers there; netstack's 10.0.2.2 reaches the host's
/// loopback only with allow_host_loopback). 10.0.2.2 on a host with no
/// route out. No packet is sent: connecting a UDP socket only picks the
/// route.
fn host_address() -> String {
    let out = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|()| s.local_addr()));
    match out {
        Ok(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => a.ip().to_string(),
        _ => "10.0.2.2".to_string(),
    }
}

/// `--dns`, `--dns-search` and `--dns-option`, checked.
#[derive(Debug, Default)]
pub(super) struct Dns {
    pub servers: Vec<std::net::IpAddr>,
    /// Replaces the host's search domains (`.`: none).
    pub search: Option<Vec<String>>,
    /// Replaces the host's options.
    pub options: Option<Vec<String>>,
}

impl Dns {
    pub fn parse(servers: &[String], search: &[String], options: &[String]) -> Result<Dns> {
        let servers = servers
            .iter()
            .map(|d| {
                d.parse()
                    .map_err(|_| anyhow::anyhow!("invalid --dns {d:?}: not an IP address"))
            })
            .collect::<Result<_>>()?;
        // One word each: a blank would split it, a newline add a line.
        let word = |flag: &str, w: &String| {
            if w.is_empty()
                || w.len() > 253
                || w.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                bail!("invalid {flag} {w:?}: use one word without blanks");
            }
            Ok(())
        };
        for d in search {
            word("--dns-search", d)?;
        }
        for o in options {
            word("--dns-option", o)?;
        }
        let given = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
        Ok(Dns {
            servers,
            search: given(search).map(|s| s.into_iter().filter(|d| d != ".").collect()),
            options: given(options),
        })
    }

    /// The resolv.conf with `servers`; search domains and options as
    /// asked, else the host's (`host`) unless `own` (a user network's
    /// server, whose names must be asked for first).
    fn resolv_conf(&self, host: &str, servers: &[String], own: bool) -> String {
        let line = |key: &str, asked: &Option<Vec<String>>| match asked {
            Some(v) if v.is_empty() => String::new(),
            Some(v) => format!("{key} {}\n", v.join(" ")),
            None if own => String::new(),
            None => host
                .lines()
                .filter(|l| l.starts_with(key))
                .map(|l| format!("{l}\n"))
                .collect(),
        };
        let mut out = line("search", &self.search) + &line("options", &self.options);
        for s in servers {
            out.push_str(&format!("nameserver {s}\n"));
        }
        out
    }
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf for the container.
pub(super) fn write_generated_files(
    dir: &Path,
    hostname: &str,
    private_network: bool,
    slirp: bool,
    dns: &Dns,
    add_host: &[String],
    user_nets: &[rless::network::NetworkConfig],
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut hosts = if private_network {
        // On user networks the monitor adds the address once it has one.
        let own = if slirp {
            format!("10.0.2.100\t{hostname}\n")
        } else if user_nets.is_empty() {
            format!("127.0.1.1\t{hostname}\n")
        } else {
            String::new()
        };
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}")
    } else {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    };
    // docker's host-gateway: the address the container reaches the host at.
    let gateway = if slirp || !user_nets.is_empty() {
        Some(host_address())
    } else if !private_network {
        Some("127.0.0.1".to_string())
    } else {
        None
    };
    for entry in add_host {
        // HOST:IP, or HOST=IP (docker 25); an IPv6 address may be in
        // brackets.
        let (host, ip) = entry
            .split_once('=')
            .or_else(|| entry.split_once(':'))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| anyhow::anyhow!("invalid --add-host {entry:?}: use HOST:IP"))?;
        let ip = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip);
        // docker's name for the address the host has for the container.
        let ip = match (ip, &gateway) {
            ("host-gateway", Some(g)) => g.as_str(),
            ("host-gateway", None) => bail!(
                "--add-host {entry:?}: host-gateway needs a network (slirp, the default, a user-defined one, or host)"
            ),
            (ip, _) => ip,
        };
        ip.parse::<std::net::IpAddr>().map_err(|_| {
            anyhow::anyhow!("invalid --add-host {entry:?}: {ip:?} is not an IP address")
        })?;
        hosts.push_str(&format!("{ip}\t{host}\n"));
    }
    // The host's names after the user's entries, which win (the first
    // match is taken).
    if let (Some(g), true) = (&gateway, slirp || !user_nets.is_empty()) {
        hosts.push_str(&format!(
            "{g}\thost.containers.internal host.docker.internal\n"
        ));
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<String> = if !user_nets.is_empty() {
        // Each network's DNS server knows its containers, and asks the
        // --dns servers (else the host's) for other names, as docker's
        // 127.0.0.11 does.
        user_nets.iter().map(|n| n.gateway.to_string()).collect()
    } else if !dns.servers.is_empty() {
        dns.servers.iter().map(|d| d.to_string()).collect()
    } else if slirp {
        // Queries go to the network's forwarder, which asks the host's resolvers.
        vec!["10.0.2.3".into()]
    } else {
        host_resolv
            .lines()
            .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
                ["nameserver", ip, ..] => Some(ip.to_string()),
                _ => None,
            })
            .collect()
    };
    let asked = !dns.servers.is_empty() || dns.search.is_some() || dns.options.is_some();
    let resolv = if !slirp && user_nets.is_empty() && !asked {
        host_resolv
    } else {
        dns.resolv_conf(&host_resolv, &servers, !user_nets.is_empty())
    };
    let files = [
        ("hosts", hosts),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv),
    ];
    let mut out = Vec::new();
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))?;
        out.push((p, PathBuf::from("/etc").join(name)));
    }
    Ok(out)
}

/// The options as docker's `inspect` shows them in HostConfig (the limit
/// values were checked by [`check_cgroups`] already).
pub(super) fn host_options(a: &Args, rlimits: &[(String, u64, u64)]) -> HostOptions {
    use rless::runtime::cgroups::limits::parse_size;
    let bytes = |v: &Option<String>| {
        v.as_deref()
            .and_then(parse_size)
            .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
    };
    let memory = bytes(&a.memory);
    let memory_swap = match a.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => match bytes(&a.memory_swap) {
            0 => memory.saturating_mul(2),
            n => n,
        },
    };
    HostOptions {
        readonly_rootfs: a.read_only,
        tmpfs: a
            .tmpfs
            .iter()
            .map(|t| {
                let (path, opts) = t.split_once(':').unwrap_or((t, ""));
                (path.to_string(), opts.to_string())
            })
            .collect(),
        extra_hosts: a.add_host.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        cap_add: a.cap_add.iter().map(|c| cap_name(c)).collect(),
        cap_drop: a.cap_drop.iter().map(|c| cap_name(c)).collect(),
        ulimits: rlimits
            .iter()
            .map(|(n, soft, hard)| Ulimit::new(n, *soft, *hard))
            .collect(),
        memory,
        memory_swap,
        nano_cpus: a
            .cpus
            .as_deref()
            .and_then(|c| c.trim().parse::<f64>().ok())
            .map_or(0, |c| (c * 1e9).round() as i64),
        cpu_shares: a
            .cpu_shares
            .as_deref()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0),
        pids_limit: a
            .pids_limit
            .as_deref()
            .and_then(|p| p.trim().parse::<i64>().ok())
            .map(|p| p.max(0)),
        cgroup_parent: a.cgroup_parent.clone().unwrap_or_default(),
        security_opt: a.security_opt.clone(),
        publish_all_ports: a.publish_all,
        volumes_from: a.volumes_from.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rless::runtime::network::PortDriver;

    #[test]
    fn storage_opt_writeback() {
        let with = |v: &[&str], d| {
            storage_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), d)
        };
        let opts = |v: &[&str]| with(v, Driver::Auto);
        assert_eq!(opts(&[]).unwrap(), (false, Driver::Auto));
        // Writeback is fuse-overlay's: `auto` takes it.
        assert_eq!(opts(&["writeback"]).unwrap(), (true, Driver::FuseOverlay));
        assert_eq!(
            opts(&["writeback=true"]).unwrap(),
            (true, Driver::FuseOverlay)
        );
        assert_eq!(
            opts(&["writeback", "writeback=false"]).unwrap(),
            (false, Driver::Auto)
        );
        for bad in ["size=10G", "writeback=yes", ""] {
            let e = opts(&[bad]).unwrap_err().to_string();
            assert!(e.contains("--storage-opt"), "{bad}: {e}");
        }
        assert_eq!(
            with(&["writeback"], Driver::FuseOverlay).unwrap(),
            (true, Driver::FuseOverlay)
        );
        assert!(with(&["writeback"], Driver::Overlay).is_err());
        assert_eq!(
            with(&["writeback=false"], Driver::Overlay).unwrap(),
            (false, Driver::Overlay)
        );
    }

    #[test]
    fn port_driver_flag_and_option() {
        let driver = |mode: &str, flag: Option<&str>| {
            parse_network(mode, &[], None, flag).map(|(_, s)| s.map(|s| s.port_driver))
        };
        assert_eq!(driver("slirp", None).unwrap(), Some(PortDriver::Smoltcp));
        assert_eq!(
            driver("slirp", Some("splice")).unwrap(),
            Some(PortDriver::Splice)
        );
        assert_eq!(
            driver("slirp:port_driver=splice", None).unwrap(),
            Some(PortDriver::Splice)
        );
        // The flag wins over the option.
        assert_eq!(
            driver("slirp:port_driver=splice", Some("smoltcp")).unwrap(),
            Some(PortDriver::Smoltcp)
        );
        for (mode, flag) in [
            ("slirp", Some("fast")),
            ("slirp:port_driver=", None),
            ("none", Some("splice")),
            ("host", Some("smoltcp")),
        ] {
            assert!(driver(mode, flag).is_err(), "{mode} {flag:?}");
        }
    }

    #[test]
    fn env_precedence() {
        let e = dedup_env(vec!["A=1".into(), "B=2".into(), "A=3".into()]);
        assert_eq!(e, vec!["A=3".to_string(), "B=2".to_string()]);
    }

    #[test]
    fn plan_has_user_mounts() {
        let p = plan::plan(&PlanInput {
            user: vec![MountOp::Tmpfs {
                target: "/x".into(),
                options: String::new(),
                readonly: false,
            }],
            ..Default::default()
        });
        assert!(p.iter().any(|m| matches!(m, MountOp::Tmpfs { .. })));
    }

    #[test]
    fn resolv_conf_from_dns_flags() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let host = "# hosts\nsearch lan\noptions edns0\nnameserver 192.0.2.1\n";
        let gw = v(&["10.89.0.1"]);
        let none = Dns::parse(&[], &[], &[]).unwrap();
        // A user network's server: no host search domains.
        assert_eq!(none.resolv_conf(host, &gw, true), "nameserver 10.89.0.1\n");
        assert_eq!(
            none.resolv_conf(host, &v(&["10.0.2.3"]), false),
            "search lan\noptions edns0\nnameserver 10.0.2.3\n"
        );
        let asked = Dns::parse(
            &v(&["192.0.2.53"]),
            &v(&["a.example", "b"]),
            &v(&["ndots:2"]),
        )
        .unwrap();
        assert_eq!(
            asked.servers,
            vec!["192.0.2.53".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            asked.resolv_conf(host, &gw, true),
            "search a.example b\noptions ndots:2\nnameserver 10.89.0.1\n"
        );
        // "." drops the host's search domains.
        let dot = Dns::parse(&[], &v(&["."]), &[]).unwrap();
        assert_eq!(
            dot.resolv_conf(host, &v(&["10.0.2.3"]), false),
            "options edns0\nnameserver 10.0.2.3\n"
        );
        for (servers, search, options) in [
            (v(&["not-an-ip"]), vec![], vec![]),
            (vec![], v(&["a b"]), vec![]),
            (vec![], v(&["a\nnameserver 1.2.3.4"]), vec![]),
            (vec![], vec![], v(&[""])),
        ] {
            let e = Dns::parse(&servers, &search, &options)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("invalid --dns"), "{e}");
        }
    }
}
