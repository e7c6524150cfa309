//! `rless network create|ls|inspect|rm|prune`, and the hidden
//! `rless network-helper` (see `rless::network::helper`).
//!
//! Definitions are plain files in the store; these commands run as the
//! user and never start anything. `network reload` (podman's, which
//! re-applies a container's firewall rules) has nothing to redo: rless
//! makes no firewall rules, and the helper alone holds the networks'
//! state, which it rebuilds itself when it is restarted.

use super::filters::{self, Filters, PruneArgs, PruneFilter};
use super::format::{print_rows_headed, Format};
use super::removal::Failure;
use super::Ctx;
use anyhow::{bail, Result};
use rless::image::store::LockMode;
use rless::image::time::{format_docker, format_rfc3339};
use rless::network::{self, CreateRequest, NetworkConfig};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Show networks' details as JSON.
    Inspect(InspectArgs),
    /// Remove networks (refused while a container uses them).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove every network no container uses.
    Prune(PruneArgs),
    /// Connect a container to a network (a running one at once).
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// Exit 0 if the network exists, 1 if not.
    Exists(super::exists::Args),
    /// podman's: re-apply containers' firewall rules (rless has none:
    /// nothing to redo; prints each container's id).
    Reload(ReloadArgs),
}

#[derive(clap::Args)]
pub struct ReloadArgs {
    /// Every running container.
    #[arg(short, long)]
    all: bool,
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Another name of the container on this network.
    #[arg(long)]
    alias: Vec<String>,
    /// The container's address on this network.
    #[arg(long)]
    ip: Option<String>,
    network: String,
    container: String,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    /// Accepted for docker compatibility.
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The subnet, e.g. 10.89.5.0/24 (default: the first free /24 from 10.89.0.0).
    #[arg(long)]
    subnet: Option<String>,
    /// The gateway address (default: the subnet's first address).
    #[arg(long)]
    gateway: Option<String>,
    /// No outbound access from the network.
    #[arg(long)]
    internal: bool,
    /// Set a label (KEY=VALUE).
    #[arg(long = "label")]
    label: Vec<String>,
    /// Option: allow_host_loopback=true (10.0.2.2 reaches the host's 127.0.0.1).
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Network driver: only bridge.
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Hand out addresses from this part of the subnet only (CIDR, inside
    /// --subnet); --ip may still name any address of the subnet.
    #[arg(long, value_name = "CIDR")]
    ip_range: Option<String>,
    /// No DNS server on the network: containers get the host's resolvers
    /// (or --dns), and no names of the others.
    #[arg(long)]
    disable_dns: bool,
    /// An IPv6 subnet too: refused (user-defined networks are IPv4 only).
    #[arg(long)]
    ipv6: bool,
    name: String,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Leave out the header line (podman's).
    #[arg(long)]
    noheading: bool,
    /// Print only names.
    #[arg(short, long)]
    quiet: bool,
    /// table, json, or a Go template such as '{{.Name}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Keep only networks that match: name=PART, id=PREFIX, label=KEY or
    /// label=KEY=VALUE, driver=bridge, dangling=true|false (no container
    /// uses it) (repeatable).
    #[arg(short, long)]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// json, or a Go template run on each network, such as '{{.name}}'.
    #[arg(short, long, default_value = "json")]
    format: String,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Ignore networks that do not exist, as docker's (one a container
    /// uses is still refused).
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct HelperArgs {
    /// The caller is already in the helper's user namespace.
    #[arg(long)]
    in_userns: bool,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Create(a) => create(ctx, a),
        Cmd::Ls(a) => ls(ctx, a),
        Cmd::Inspect(a) => inspect(ctx, a),
        Cmd::Rm(a) => rm(ctx, a),
        Cmd::Prune(a) => prune(ctx, a),
        Cmd::Connect(a) => connect(ctx, a),
        Cmd::Disconnect(a) => disconnect(ctx, a),
        Cmd::Exists(a) => super::exists::run(ctx, super::exists::Kind::Network, a),
        Cmd::Reload(a) => reload(ctx, a),
    }
}

/// `rless network-helper`: the helper process (started by `run`).
pub fn helper(ctx: &Ctx, a: HelperArgs) -> Result<ExitCode> {
    let code = network::helper::main(&ctx.root, a.in_userns, &ctx.ids);
    Ok(ExitCode::from(code as u8))
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<ExitCode> {
    if a.driver != "bridge" {
        bail!("unknown network driver {:?}: use bridge", a.driver);
    }
    if a.ipv6 {
        bail!("--ipv6 is not supported: rless's user-defined networks are IPv4 only (their bridge, addresses, DNS and outbound NAT have no IPv6)");
    }
    let labels = super::filters::key_values("label", &a.label)?;
    let mut allow_host_loopback = false;
    for o in &a.opt {
        match o.split_once('=') {
            Some(("allow_host_loopback", v @ ("true" | "false"))) => {
                allow_host_loopback = v == "true"
            }
            _ => bail!("unknown network option {o:?}: use allow_host_loopback=true|false"),
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let n = network::create(
        &store,
        CreateRequest {
            name: a.name,
            subnet: a.subnet,
            gateway: a.gateway,
            internal: a.internal,
            allow_host_loopback,
            labels,
            ip_range: a.ip_range,
            disable_dns: a.disable_dns,
        },
    )?;
    println!("{}", n.name);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn describe(root: &std::path::Path, n: &NetworkConfig) -> serde_json::Value {
    let mut subnet =
        serde_json::json!({"subnet": n.subnet.to_string(), "gateway": n.gateway.to_string()});
    if let Some((start, end)) = n.lease_range() {
        // podman's: the addresses handed out.
        subnet["lease_range"] =
            serde_json::json!({"start_ip": start.to_string(), "end_ip": end.to_string()});
    }
    serde_json::json!({
        "name": n.name,
        "id": n.id.as_str(),
        "driver": n.driver,
        "created": format_rfc3339(n.created),
        "subnets": [subnet],
        "internal": n.internal,
        "options": {"allow_host_loopback": n.allow_host_loopback.to_string()},
        "dns_enabled": !n.disable_dns,
        // podman's: no IPv6 subnet; the helper's IPAM; no host bridge
        // (the network lives in the helper's namespace).
        "ipv6_enabled": false,
        "ipam_options": {"driver": "host-local"},
        "network_interface": "",
        "labels": n.labels,
        "containers": network::users(root, &n.name),
    })
}

fn ls(ctx: &Ctx, a: LsArgs) -> Result<ExitCode> {
    let filters = Filters::parse(&a.filter, &["name", "id", "label", "driver", "dangling"])?;
    let store = ctx.store(LockMode::Shared)?;
    let mut all = network::list(store.root());
    all.retain(|n| {
        filters.keeps(|key, value| match key {
            "name" => n.name.contains(value),
            "id" => n.id.as_str().starts_with(value),
            "label" => filters::has_label(&n.labels, value),
            "driver" => n.driver == value,
            "dangling" => network::users(store.root(), &n.name).is_empty() == filters::truth(value),
            _ => false,
        })
    });
    if a.quiet {
        for n in &all {
            println!("{}", n.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match Format::parse(&a.format, "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Subnet}}") {
        Format::Json => {
            let out: Vec<_> = all.iter().map(|n| describe(store.root(), n)).collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Template { template, table } => {
            let rows: Vec<serde_json::Value> = all
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "ID": n.id.short(), "Name": n.name, "Driver": n.driver,
                        "Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string(),
                        "Scope": "local", "IPv6": false, "Internal": n.internal,
                        "Labels": super::format::labels_text(&n.labels), "CreatedAt": format_docker(n.created),
                        // podman's.
                        "Created": format_docker(n.created),
                        "Options": {"allow_host_loopback": n.allow_host_loopback.to_string()},
                        "NetworkInterface": "",
                        "DNSEnabled": !n.disable_dns,
                        "Subnets": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}],
                        (super::format::LABELS_KEY): n.labels,
                    })
                })
                .collect();
            let headers = [
                ("ID", "NETWORK ID"),
                ("Name", "NAME"),
                ("Driver", "DRIVER"),
                ("Subnet", "SUBNET"),
                ("Gateway", "GATEWAY"),
                ("Scope", "SCOPE"),
                ("IPv6", "IPV6"),
                ("Internal", "INTERNAL"),
                ("Labels", "LABELS"),
                ("CreatedAt", "CREATED AT"),
            ];
            print_rows_headed(template, table, !a.noheading, &headers, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<ExitCode> {
    let formatter = super::format::Formatter::for_inspect(&a.format)?;
    let store = ctx.store(LockMode::Shared)?;
    let mut out = Vec::new();
    for n in &a.names {
        out.push(describe(store.root(), &network::read(store.root(), n)?));
    }
    super::container_inspect::print_objects(formatter.as_ref(), &out)?;
    Ok(ExitCode::SUCCESS)
}

fn rm(ctx: &Ctx, a: RmArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let _lock = network::lock(&store)?;
    // Each name on its own, as docker: an unknown (without -f) or used one
    // is reported, the others are removed; the status is podman's (see
    // `removal`).
    let mut failed = super::removal::Removals::default();
    for q in &a.names {
        let r = (|| -> Result<String> {
            let n = network::read(store.root(), q)?;
            let users = network::users(store.root(), &n.name);
            if !users.is_empty() {
                return Err(network::NetworkError::InUse {
                    name: n.name,
                    containers: users.join(", "),
                }
                .into());
            }
            network::remove_locked(store.root(), &n.name)?;
            Ok(n.name)
        })();
        match r {
            Ok(n) => println!("{n}"),
            Err(e) if a.force && Failure::of(&e) == Failure::Missing => {}
            Err(e) => failed.add(e),
        }
    }
    Ok(failed.finish())
}

/// podman's `network reload`: nothing to redo (see the top); each
/// container named must exist and run (podman's exit 125 otherwise), and
/// its id is printed, as podman's; `--all`: every running container's.
fn reload(ctx: &Ctx, a: ReloadArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    if a.all {
        for c in rless::container::list(&store) {
            let dir = store.root().join("containers").join(c.id.as_str());
            if rless::container::read_state(&dir).running() {
                println!("{}", c.id.as_str());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = super::stop::Failures::default();
    for q in &a.containers {
        match rless::container::find(&store, q) {
            Ok((c, dir)) if rless::container::read_state(&dir).running() => {
                println!("{}", c.id.as_str())
            }
            Ok((c, _)) => failed.add(anyhow::anyhow!(
                "container {} is not running: its network is not set up, nothing to reload",
                c.name
            )),
            Err(e) => failed.add(e.into()),
        }
    }
    failed.finish(ExitCode::SUCCESS)
}

fn prune(ctx: &Ctx, a: PruneArgs) -> Result<ExitCode> {
    let filter = PruneFilter::parse(&a.filter, "network")?;
    prune_networks(ctx, &filter, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Removes every network no container uses; prints each name, after
/// `header` before the first. Stops at the first that cannot be removed.
pub fn prune_networks(
    ctx: &Ctx,
    filter: &PruneFilter,
    mut header: Option<&str>,
) -> Result<super::prune::Pruned> {
    let store = ctx.store(LockMode::Shared)?;
    let _lock = network::lock(&store)?;
    let mut pruned = super::prune::Pruned::new("networks");
    for n in network::list(store.root()) {
        if network::users(store.root(), &n.name).is_empty()
            && filter.prunes(|l| filters::has_label(&n.labels, l), n.created)
        {
            network::remove_locked(store.root(), &n.name)?;
            pruned.removed(&mut header, &n.name, 0);
        }
    }
    Ok(pruned)
}

/// The container's spec, which must be on user-defined networks.
fn user_spec(
    store: &rless::image::store::Store,
    query: &str,
) -> Result<(
    rless::container::ContainerConfig,
    std::path::PathBuf,
    rless::runtime::ContainerSpec,
)> {
    let (config, dir) = rless::container::find(store, query)?;
    let spec = rless::container::read_spec(&dir)?;
    if spec.user_networks.is_none() {
        bail!(
            "container {} is not on a user-defined network: only containers started with --network NAME can be connected",
            config.name
        );
    }
    Ok((config, dir, spec))
}

fn connect(ctx: &Ctx, a: ConnectArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let _lock = network::lock(&store)?;
    // As `rename` and `update`, which rewrite the spec too: none of them
    // may put back a spec read before another's change (a rename's new
    // alias, a connect's network).
    let _containers = store.lock("containers")?;
    let net = network::read(store.root(), &a.network)?;
    let (config, dir, mut spec) = user_spec(&store, &a.container)?;
    let ip = match &a.ip {
        None => None,
        Some(s) => {
            let ip: std::net::Ipv4Addr = s
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid --ip {s:?}: not an IPv4 address"))?;
            if !net.subnet.is_host(ip) || ip == net.gateway {
                bail!(
                    "--ip {ip} is outside network {}'s subnet {} (or is its gateway)",
                    net.name,
                    net.subnet
                );
            }
            Some(ip)
        }
    };
    for alias in &a.alias {
        if !rless::container::valid_name(alias) {
            bail!("invalid --alias {alias:?}: use letters, digits, '_', '.' and '-'");
        }
    }
    let user = spec.user_networks.as_mut().expect("checked");
    if user.attachments.iter().any(|x| x.network == net.name) {
        bail!(
            "container {} is already on network {}",
            config.name,
            net.name
        );
    }
    let attachment = network::Attachment {
        network: net.name.clone(),
        aliases: [config.name.clone(), config.id.short().to_string()]
            .into_iter()
            .chain(a.alias)
            .collect(),
        ip,
    };
    let state = rless::container::read_state(&dir);
    if state.running() {
        let ip = network::client::change(
            store.root(),
            &network::helper::Request::Connect {
                container: config.id.as_str().to_string(),
                attachment: attachment.clone(),
            },
        )?;
        if let Some(ip) = ip {
            rless::container::update_state(&dir, |s| {
                s.networks.push((net.name.clone(), ip));
                s.running()
            })?;
        }
    }
    let before = gateways(store.root(), &user.attachments);
    user.attachments.push(attachment);
    follow_resolv(&dir, &before, &gateways(store.root(), &user.attachments));
    rless::container::write_spec(&dir, &spec)?;
    Ok(ExitCode::SUCCESS)
}

/// The DNS servers (gateways) of the networks attached (not those with
/// `--disable-dns`).
fn gateways(root: &std::path::Path, attached: &[network::Attachment]) -> Vec<std::net::Ipv4Addr> {
    attached
        .iter()
        .filter_map(|a| network::read(root, &a.network).ok())
        .filter(|n| !n.disable_dns)
        .map(|n| n.gateway)
        .collect()
}

/// A container's `/etc/resolv.conf` names the DNS server of each of its
/// networks (unless `--dns` named others, on a container from before
/// `--dns` went to the networks' servers): it follows a connect or a
/// disconnect, written in place (the container has the file mounted), its
/// search and options lines kept. A server of a network gone was asked
/// first and never answered again.
fn follow_resolv(dir: &std::path::Path, before: &[std::net::Ipv4Addr], now: &[std::net::Ipv4Addr]) {
    let p = dir.join("resolv.conf");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return;
    };
    let (servers, rest): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.starts_with("nameserver"));
    let ours = servers.iter().all(|l| {
        l.strip_prefix("nameserver ")
            .and_then(|s| s.trim().parse::<std::net::Ipv4Addr>().ok())
            .is_some_and(|ip| before.contains(&ip))
    });
    if ours {
        let mut out: String = rest.iter().map(|l| format!("{l}\n")).collect();
        for g in now {
            out.push_str(&format!("nameserver {g}\n"));
        }
        let _ = std::fs::write(&p, out);
    }
}

fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let _lock = network::lock(&store)?;
    // As `rename` and `update`, which rewrite the spec too: none of them
    // may put back a spec read before another's change (a rename's new
    // alias, a connect's network).
    let _containers = store.lock("containers")?;
    let net = network::read(store.root(), &a.network)?;
    let (config, dir, mut spec) = user_spec(&store, &a.container)?;
    let user = spec.user_networks.as_mut().expect("checked");
    let Some(k) = user.attachments.iter().position(|x| x.network == net.name) else {
        bail!("container {} is not on network {}", config.name, net.name);
    };
    if user.attachments.len() == 1 {
        bail!(
            "container {} is on network {} only; a container keeps at least one network",
            config.name,
            net.name
        );
    }
    let state = rless::container::read_state(&dir);
    if state.running() {
        network::client::change(
            store.root(),
            &network::helper::Request::Disconnect {
                container: config.id.as_str().to_string(),
                network: net.name.clone(),
            },
        )?;
        rless::container::update_state(&dir, |s| {
            s.networks.retain(|(n, _)| *n != net.name);
            s.running()
        })?;
    }
    let before = gateways(store.root(), &user.attachments);
    user.attachments.remove(k);
    follow_resolv(&dir, &before, &gateways(store.root(), &user.attachments));
    rless::container::write_spec(&dir, &spec)?;
    Ok(ExitCode::SUCCESS)
}
