//! Pods with an infra container (podman's default): `pod create`'s infra
//! container, the start of an infra container before its members, and
//! `pod pause|unpause|top`.
//!
//! Theory of operation. `pod create` checks everything it can first (the
//! namespaces to share, the ports: each `-p` is bound once and let go, so
//! a port in use fails with one line and nothing made), writes the pod's
//! definition, then makes the infra container through a child `rless
//! create --pod-infra --pod ID …` with the pod's network options. That
//! child is `create` itself: the same checks, the same container (an empty
//! root, the empty layer, and an idle process of rless's own, see
//! `runtime::init`), recorded as the pod's infra under the `pods` lock.
//! Should it fail, the definition goes again and its one-line error is
//! `pod create`'s. Members then join the infra's namespaces
//! (`commands/run/podopts.rs`), and whatever starts a member starts the
//! infra container first ([`start_infra`], through `--requires`'s path).

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::pod::{self, PodConfig};
use rless::container::{self, ContainerConfig};
use rless::image::store::LockMode;
use std::collections::BTreeMap;

/// `pod create`'s options for its infra container.
#[derive(clap::Args)]
pub struct InfraArgs {
    /// Publish a port of the pod: [HOSTIP:][HOSTPORT:]CTRPORT[/tcp|udp].
    #[arg(short, long)]
    publish: Vec<String>,
    /// The pod's network (slirp, host, none, or user-defined networks).
    #[arg(long, alias = "net")]
    network: Vec<String>,
    /// A DNS name of the pod on its user-defined networks (besides its name and its members').
    #[arg(long)]
    network_alias: Vec<String>,
    /// The hostname of every member (default: the pod's name).
    #[arg(long)]
    hostname: Option<String>,
    /// A line HOST:IP in the pod's /etc/hosts.
    #[arg(long)]
    add_host: Vec<String>,
    /// A DNS server of the pod.
    #[arg(long)]
    dns: Vec<String>,
    /// A DNS search domain of the pod.
    #[arg(long)]
    dns_search: Vec<String>,
    /// A DNS option of the pod.
    #[arg(long)]
    dns_option: Vec<String>,
    /// What the infra container's idle process is called (default /catatonit -P; nothing is run).
    #[arg(long, value_name = "CMD")]
    infra_command: Option<String>,
    /// The infra container's name (default: the pod id's first 12 digits, then -infra).
    #[arg(long, value_name = "NAME")]
    infra_name: Option<String>,
    /// The user namespace of every member, as `run --userns`'s: "" or host (you are root inside), keep-id[:uid=N,gid=N] (you are yourself).
    #[arg(long, value_name = "MODE")]
    userns: Option<String>,
    /// Refused: a pod's members share rless's default user namespace or keep-id's.
    #[arg(long, value_name = "CTR:HOST:COUNT", hide = true)]
    uidmap: Vec<String>,
    /// Refused: a pod's members share rless's default user namespace or keep-id's.
    #[arg(long, value_name = "CTR:HOST:COUNT", hide = true)]
    gidmap: Vec<String>,
    /// `pod clone`'s: the ports are not checked (the original holds them
    /// while its clone is made; a start of the clone checks them).
    #[arg(long, hide = true)]
    no_port_check: bool,
}

impl InfraArgs {
    /// Whether anything of the infra container was asked for.
    fn any(&self) -> bool {
        !self.publish.is_empty()
            || !self.network.is_empty()
            || !self.network_alias.is_empty()
            || self.hostname.is_some()
            || !self.add_host.is_empty()
            || !self.dns.is_empty()
            || !self.dns_search.is_empty()
            || !self.dns_option.is_empty()
            || self.infra_command.is_some()
            || self.infra_name.is_some()
            || self.userns.is_some()
    }

    /// Refuses `--uidmap`/`--gidmap` (`run` takes them outside a pod).
    fn check_maps(&self) -> Result<()> {
        for (flag, given) in [
            ("--uidmap", !self.uidmap.is_empty()),
            ("--gidmap", !self.gidmap.is_empty()),
        ] {
            if given {
                bail!("{flag} is not supported for a pod: its members share one user namespace, rless's default or keep-id (run and create take {flag} for a container outside a pod)");
            }
        }
        Ok(())
    }

    /// Whether something of the network was asked for.
    fn network_set(&self) -> bool {
        !self.publish.is_empty()
            || !self.network.is_empty()
            || !self.network_alias.is_empty()
            || !self.add_host.is_empty()
            || !self.dns.is_empty()
            || !self.dns_search.is_empty()
            || !self.dns_option.is_empty()
    }
}

/// Refuses infra options for a pod without an infra container.
pub fn check_no_infra(a: &InfraArgs) -> Result<()> {
    a.check_maps()?;
    if a.any() {
        bail!("you must have an infra container to publish ports, set networks, a hostname, hosts or DNS, a user namespace, or name an infra command or container (--infra=false was given)");
    }
    Ok(())
}

/// `pod create` with an infra container; `replace` (`--replace`) runs
/// once the options are checked, before the ports are.
pub fn create(
    ctx: &Ctx,
    name: Option<String>,
    labels: BTreeMap<String, String>,
    share: Option<&str>,
    a: &InfraArgs,
    replace: &mut dyn FnMut() -> Result<()>,
) -> Result<PodConfig> {
    a.check_maps()?;
    let shared = pod::parse_share(share.unwrap_or(pod::DEFAULT_SHARE))?;
    let shares = |ns: &str| shared.iter().any(|s| s == ns);
    if !shares("net") && a.network_set() {
        bail!("cannot set the pod's ports, networks, hosts or DNS: it does not share its network namespace (--share net)");
    }
    if !shares("uts") && a.hostname.is_some() {
        bail!("cannot set the pod's hostname: it does not share its UTS namespace (--share uts)");
    }
    // A port in use fails here, before anything is made.
    let mut ports = Vec::new();
    for p in &a.publish {
        ports.extend(rless::runtime::network::parse_publish(p).map_err(|m| anyhow::anyhow!(m))?);
    }
    ports.retain(|p| p.host_port != 0 && p.host_port_last == 0);
    replace()?;
    if !a.no_port_check {
        drop(rless::network::publish::bind(&ports)?);
    }
    let store = ctx.store(LockMode::Shared)?;
    let p = pod::create(&store, name, labels, shared)?;
    drop(store);
    if let Err(e) = make_infra(ctx, &p, a) {
        let store = ctx.store(LockMode::Shared)?;
        let _lock = pod::lock(&store)?;
        if !pod::discard_locked(&ctx.root, &p) {
            return Err(e.context(format!(
                "pod {} is left without an infra container: a container joined it meanwhile",
                p.name
            )));
        }
        return Err(e);
    }
    Ok(p)
}

/// The child `rless create` of `p`'s infra container; its one error line
/// is this one's.
fn make_infra(ctx: &Ctx, p: &PodConfig, a: &InfraArgs) -> Result<()> {
    let name = a
        .infra_name
        .clone()
        .unwrap_or_else(|| format!("{}-infra", p.short_id()));
    let mut args: Vec<String> = vec![
        "create".into(),
        "--pod-infra".into(),
        "--pod".into(),
        p.id.clone(),
        "--name".into(),
        name,
    ];
    let host_net = a.network.iter().any(|n| n == "host");
    // podman's: the pod's name is its hostname (when one fits).
    let hostname = a
        .hostname
        .clone()
        .or_else(|| (!host_net && p.name.len() <= 64).then(|| p.name.clone()));
    let shares_uts = p.shared.iter().any(|s| s == "uts");
    for (flag, values) in [
        (
            "--hostname",
            hostname.iter().filter(|_| shares_uts).collect(),
        ),
        ("--publish", a.publish.iter().collect::<Vec<_>>()),
        ("--network", a.network.iter().collect()),
        ("--network-alias", a.network_alias.iter().collect()),
        ("--add-host", a.add_host.iter().collect()),
        ("--dns", a.dns.iter().collect()),
        ("--dns-search", a.dns_search.iter().collect()),
        ("--dns-option", a.dns_option.iter().collect()),
        ("--userns", a.userns.iter().collect()),
    ] {
        for v in values {
            args.push(format!("{flag}={v}"));
        }
    }
    args.push("--".into());
    match &a.infra_command {
        Some(c) if !c.trim().is_empty() => args.extend(c.split_whitespace().map(String::from)),
        _ => args.extend(["/catatonit".to_string(), "-P".to_string()]),
    }
    if let Err(e) = super::child::run(ctx, &args) {
        bail!("cannot create the pod's infra container: {e}");
    }
    Ok(())
}

/// Starts the infra container `id` when it is not running.
pub fn start_infra(ctx: &Ctx, id: &str) -> Result<()> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, id)?;
    drop(store);
    if container::read_state(&dir).live() {
        return Ok(());
    }
    super::start::start_quiet(ctx, id)
        .with_context(|| format!("cannot start the pod's infra container {}", c.name))
}

/// The infra container of `p` among `members`, and the others.
pub fn split<'a>(
    p: &PodConfig,
    members: &'a [ContainerConfig],
) -> (Option<&'a ContainerConfig>, Vec<&'a ContainerConfig>) {
    let is_infra = |c: &ContainerConfig| p.infra.as_deref() == Some(c.id.as_str());
    (
        members.iter().find(|c| is_infra(c)),
        members.iter().filter(|c| !is_infra(c)).collect(),
    )
}

/// The ids of `members` in the order a stop or kill takes them: the
/// infra container last, its namespaces kept until the others end.
pub fn stop_order(p: &PodConfig, members: &[ContainerConfig]) -> Vec<String> {
    let (infra, others) = split(p, members);
    others
        .into_iter()
        .chain(infra)
        .map(|c| c.id.as_str().to_string())
        .collect()
}

/// `pod pause` (`pause` true) or `pod unpause` of `members`: each running
/// member that is not (or is) paused.
pub fn pause(ctx: &Ctx, p: &PodConfig, members: &[ContainerConfig], pause: bool) -> Result<()> {
    let ids = stop_order(p, members);
    super::stop::each(ctx, &ids, true, |name, dir| {
        let s = container::read_state(dir);
        if !s.running() || s.paused == pause {
            return Ok(());
        }
        let r = match pause {
            true => container::control::pause(dir),
            false => container::control::unpause(dir),
        };
        r.with_context(|| format!("cannot {} {name}", if pause { "pause" } else { "unpause" }))
    })
    .map(drop)
}

/// The host pids of the processes of `members` that run.
pub fn pids(ctx: &Ctx, members: &[ContainerConfig]) -> Vec<i32> {
    let mut out = Vec::new();
    for c in members {
        let s = container::read_state(&ctx.root.join("containers").join(c.id.as_str()));
        if let Some(init) = s.pid.filter(|_| s.running()) {
            out.extend(rless::runtime::share::container_pids(init));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `pod inspect`'s `InfraConfig` (podman 4.3's object, only its `userns`
/// so far), for a pod with an infra container: the user namespace mode in
/// podman's words, `private` when the infra container has a namespace of
/// its own (`--userns keep-id`), else `host` (the user's: rootless
/// podman's default).
pub fn inspect_config(root: &std::path::Path, p: &PodConfig) -> Option<serde_json::Value> {
    let infra = p.infra.as_deref()?;
    let spec = container::read_spec(&root.join("containers").join(infra)).ok()?;
    let userns = if spec.keep_id { "private" } else { "host" };
    Some(serde_json::json!({ "userns": userns }))
}
