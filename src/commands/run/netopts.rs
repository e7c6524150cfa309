//! `run`'s network options: `--network` and `-p`, the user networks a
//! container joins, `--dns*`, and the files it gets from them (`/etc/hosts`,
//! `/etc/resolv.conf`, `/etc/hostname`).

use super::*;

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

/// One --add-host: HOST:IP, or HOST=IP (docker 25); an IPv6 address may
/// be in brackets; docker's `host-gateway` is `gateway`, the address the
/// container reaches the host at (`None`: it has none).
pub(super) fn parse_add_host<'a>(
    entry: &'a str,
    gateway: Option<&'a str>,
) -> Result<(&'a str, &'a str)> {
    let (host, ip) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("invalid --add-host {entry:?}: use HOST:IP"))?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    let ip = match (ip, gateway) {
        ("host-gateway", Some(g)) => g,
        ("host-gateway", None) => bail!(
            "--add-host {entry:?}: host-gateway needs a network (slirp, the default, a user-defined one, or host)"
        ),
        (ip, _) => ip,
    };
    ip.parse::<std::net::IpAddr>().map_err(|_| {
        anyhow::anyhow!("invalid --add-host {entry:?}: {ip:?} is not an IP address")
    })?;
    Ok((host, ip))
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
        let (host, ip) = parse_add_host(entry, gateway.as_deref())?;
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
    // The user networks with a DNS server (not `--disable-dns`).
    let dns_nets: Vec<String> = user_nets
        .iter()
        .filter(|n| !n.disable_dns)
        .map(|n| n.gateway.to_string())
        .collect();
    let servers: Vec<String> = if !dns_nets.is_empty() {
        // Each network's DNS server knows its containers, and asks the
        // --dns servers (else the host's) for other names, as docker's
        // 127.0.0.11 does.
        dns_nets.clone()
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
    let resolv = if !slirp && dns_nets.is_empty() && !asked {
        host_resolv
    } else {
        dns.resolv_conf(&host_resolv, &servers, !dns_nets.is_empty())
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

/// The container's exposed ports, as podman records them: the image's
/// `EXPOSE`s, then `--expose` (a range is each of its ports), each once, as
/// `PORT/PROTO` (the protocol lowercased, as podman's). `-P` publishes
/// them; `ps --filter expose=` matches them.
pub(super) fn exposed_ports(image: &[String], user: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for e in image.iter().chain(user) {
        let ports = rless::image::change::expose(e).ok_or_else(|| {
            anyhow::anyhow!("invalid exposed port {e:?}: use PORT[-PORT][/tcp|udp|sctp]")
        })?;
        for port in ports {
            if !out.contains(&port) {
                out.push(port);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rless::runtime::network::PortDriver;

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
