//! `rless ps [-a] [-q] [-s] [--filter K=V] [--format table|json|[table ]TEMPLATE]`
//!
//! With `-s` (or a template using `.Size`, as docker) the command first
//! enters the user namespace, where every file of a writable layer can be
//! counted, whatever subordinate id owns it.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, ContainerConfig, ContainerState};
use rless::image::store::LockMode;
use rless::image::time;
use rless::runtime::plan::MountOp;
use std::process::ExitCode;

use super::format::{print_rows, Format};

/// `ps`'s columns, as docker prints them.
const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Template field to column title.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Names", "NAMES"),
    ("Networks", "NETWORKS"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Size", "SIZE"),
    ("Pod", "POD ID"),
    ("PodName", "PODNAME"),
    ("Pid", "PID"),
    ("Cgroupns", "CGROUPNS"),
    ("IPC", "IPC"),
    ("MNT", "MNT"),
    ("NET", "NET"),
    ("PIDNS", "PIDNS"),
    ("UserNS", "USERNS"),
    ("UTS", "UTS"),
];

/// podman's `ps --ns` table: the namespaces of each running container.
const NS_TABLE: &str = "{{.ID}}\t{{.Names}}\t{{.Pid}}\t{{.Cgroupns}}\t{{.IPC}}\t{{.MNT}}\t{{.NET}}\t{{.PIDNS}}\t{{.UserNS}}\t{{.UTS}}";

/// The pid of a running container's first process.
fn running_pid(s: &ContainerState) -> Option<i32> {
    s.pid.filter(|_| s.running())
}

/// The namespace `kind` (a name under /proc/PID/ns) of process `pid`: its
/// inode number, as podman shows it; empty when it cannot be read.
fn ns_inode(pid: Option<i32>, kind: &str) -> String {
    let Some(pid) = pid else {
        return String::new();
    };
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .and_then(|l| {
            let l = l.to_string_lossy().into_owned();
            l.split_once('[')
                .and_then(|(_, r)| r.strip_suffix(']'))
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// docker's MOUNTS: volume names and bind sources, comma-separated.
fn mounts_text(c: &ContainerConfig) -> String {
    let names: Vec<String> = c
        .mounts
        .iter()
        .filter_map(|m| match m {
            MountOp::Volume { name, .. } => Some(name.clone()),
            MountOp::Bind { source, .. } => Some(source.display().to_string()),
            _ => None,
        })
        .collect();
    names.join(",")
}

/// The networks of a container (from its spec, so a stopped container's
/// show too). One on another's network (`--network container:X`, a pod
/// member sharing its pod's) is on none of its own: podman lists only the
/// networks a container joined itself (`ps --filter network=container:X`
/// finds those).
fn network_list(dir: &std::path::Path) -> Vec<String> {
    container::read_spec(dir)
        .ok()
        .filter(|sp| sp.namespaces.net.is_none())
        .map(|sp| sp.network_names())
        .unwrap_or_default()
}

/// [`network_list`], comma-separated, as `{{.Networks}}` shows it.
fn networks(dir: &std::path::Path) -> String {
    network_list(dir).join(",")
}

/// `0.0.0.0:8080->80/tcp, [::1]:8081->81/tcp` while the container runs.
pub fn ports_text(s: &ContainerState) -> String {
    if !s.running() {
        return String::new();
    }
    s.ports
        .iter()
        .map(|p| {
            let host = std::net::SocketAddr::new(p.host_ip, p.host_port);
            format!("{host}->{}/{}", p.container_port, p.proto_name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ports of `c`'s row: a container on another's network (a pod
/// member sharing its pod's, or `--network container:X`) shows that
/// container's while it runs, as podman's.
fn shown_ports(root: &std::path::Path, c: &ContainerConfig, s: &ContainerState) -> String {
    match super::netowner::owner(root, c) {
        Some(owner) if s.running() => {
            ports_text(&container::read_state(&root.join("containers").join(owner)))
        }
        Some(_) => String::new(),
        None => ports_text(s),
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Leave out the header line (podman's).
    #[arg(long)]
    noheading: bool,
    /// Show all containers, not only running ones.
    #[arg(short, long)]
    all: bool,
    /// Print only container ids.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate ids and commands.
    #[arg(long)]
    no_trunc: bool,
    /// Filter: id=, name=, status=, ancestor=, label=KEY[=VALUE], exited=,
    /// before=CTR, since=CTR, volume=, network=, publish=PORT[/PROTO],
    /// expose=PORT[-PORT][/PROTO] (the image's EXPOSE and --expose)
    /// (repeatable; the same key twice means either).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Show the last N created containers, in any state.
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container, in any state.
    #[arg(short, long)]
    latest: bool,
    /// table, json, or a Go template such as '{{.ID}} {{.Names}}' ('table
    /// TEMPLATE' adds a header and columns).
    #[arg(long, default_value = "table")]
    format: String,
    /// Show each container's size: its writable layer, and with its image
    /// ("12B (virtual 1.98MB)"); also when the template uses `.Size`.
    #[arg(short, long)]
    size: bool,
    /// Order of the rows (podman's): created (oldest first), id, image,
    /// names, status, runningfor (started longest ago first), command or
    /// size (of the writable layer, smallest first); without it, newest
    /// first (docker).
    #[arg(long, value_parser = ["created", "id", "image", "names", "status", "runningfor", "command", "size"])]
    sort: Option<String>,
    /// Add the pod's id and name (podman's).
    #[arg(short, long)]
    pod: bool,
    /// Show the namespaces of each container (podman's).
    #[arg(long)]
    ns: bool,
    /// Print again every SECONDS (podman's; until interrupted).
    #[arg(short, long, value_name = "SECONDS")]
    watch: Option<u64>,
    /// podman's: containers of other tools in its storage (rless lists
    /// every container of its store anyway).
    #[arg(long)]
    external: bool,
    /// podman's: sync with the OCI runtime (rless's state is its own).
    #[arg(long)]
    sync: bool,
}

/// Go's zero time in Unix seconds: podman's `.ExitedAt` before an exit.
const GO_ZERO_UNIX: i64 = -62135596800;

/// docker's "Up 3 minutes" / "Exited (0) 2 seconds ago" / "Created";
/// a running container with a health check adds its `health`: "Up 3
/// minutes (healthy)", "(unhealthy)", "(health: starting)".
pub fn status_text(state: &ContainerState, health: &str) -> String {
    match state.status.as_str() {
        "running" => format!(
            "Up {}{}{}",
            time::duration_text(time::now() - state.started.unwrap_or_else(time::now)),
            if state.paused { " (Paused)" } else { "" },
            match health {
                "none" => String::new(),
                "starting" => " (health: starting)".into(),
                h => format!(" ({h})"),
            }
        ),
        "exited" => format!(
            "Exited ({}) {}",
            state.exit_code.unwrap_or(0),
            time::ago(state.finished.unwrap_or_else(time::now))
        ),
        "restarting" => format!(
            "Restarting ({}) {}",
            state.exit_code.unwrap_or(0),
            time::ago(state.finished.unwrap_or_else(time::now))
        ),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// What `matches` looks up beyond the container itself.
struct Lookups<'a> {
    /// Every container (`before=`/`since=` name one).
    all: &'a [ContainerConfig],
    /// The image index, when an `ancestor=` filter needs it.
    index: Option<rless::image::store::Index>,
    /// The store, for `pod=` by name.
    root: &'a std::path::Path,
}

impl<'a> Lookups<'a> {
    fn new(
        store: &'a rless::image::store::Store,
        all: &'a [ContainerConfig],
        filters: &[(String, String)],
    ) -> Result<Lookups<'a>> {
        // An ancestor= value is resolved to an image id (the index read once).
        let index = match filters.iter().any(|(k, _)| k == "ancestor") {
            true => Some(store.index()?),
            false => None,
        };
        Ok(Lookups {
            all,
            index,
            root: store.root(),
        })
    }

    /// The creation time of the container a `before=`/`since=` names.
    fn created(&self, q: &str) -> Result<(i64, u32)> {
        self.all
            .iter()
            .find(|c| c.name == q || c.id.as_str().starts_with(q))
            .map(|c| c.created_at())
            .ok_or_else(|| anyhow::anyhow!("no such container: {q}"))
    }

    /// The id of the image an `ancestor=` names, if the store has it.
    fn image_id(&self, q: &str) -> Option<String> {
        let index = self.index.as_ref()?;
        rless::image::find_image(index, q)
            .ok()
            .map(|i| i.id.hex().to_string())
    }
}

/// `--filter KEY=VALUE` arguments, checked.
fn parse_filters(args: &[String]) -> Result<Vec<(String, String)>> {
    let filters: Vec<(String, String)> = args
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("bad filter {f:?}: use KEY=VALUE"))
        })
        .collect::<Result<_>>()?;
    for (k, v) in &filters {
        check_filter(k, v)?;
    }
    Ok(filters)
}

/// Whether container `c` passes every filter. As docker: filters with the
/// same key are alternatives, different keys must all hold, and every
/// label filter must hold.
fn passes(
    c: &ContainerConfig,
    s: &ContainerState,
    dir: &std::path::Path,
    filters: &[(String, String)],
    look: &Lookups,
) -> Result<bool> {
    let mut keep = true;
    for key in filters.iter().map(|(k, _)| k.as_str()) {
        let mut hits = Vec::new();
        for (_, v) in filters.iter().filter(|(k, _)| k == key) {
            hits.push(matches(c, s, dir, (key, v), look)?);
        }
        keep &= if key == "label" {
            hits.iter().all(|h| *h)
        } else {
            hits.iter().any(|h| *h)
        };
    }
    Ok(keep)
}

/// The full ids of the containers, in any state, that `--filter`s keep
/// (podman's `--filter` of stop, start, rm, … picks containers as `ps -a
/// --filter` lists them).
pub fn filtered_ids(ctx: &Ctx, args: &[String]) -> Result<Vec<String>> {
    let filters = parse_filters(args)?;
    let store = ctx.store(LockMode::Shared)?;
    let all = container::list(&store);
    let look = Lookups::new(&store, &all, &filters)?;
    let mut ids = Vec::new();
    for c in &all {
        let dir = container::containers_dir(&store).join(c.id.as_str());
        let s = container::read_state(&dir);
        if passes(c, &s, &dir, &filters, &look)? {
            ids.push(c.id.as_str().to_string());
        }
    }
    Ok(ids)
}

/// One `--filter KEY=VALUE`: whether container `c` passes it. `dir` is the
/// container's directory (its spec, for networks).
fn matches(
    c: &ContainerConfig,
    s: &ContainerState,
    dir: &std::path::Path,
    (k, v): (&str, &str),
    look: &Lookups,
) -> Result<bool> {
    Ok(match k {
        "id" => c.id.as_str().starts_with(v),
        "name" => c.name.contains(v),
        "status" => s.shown_status() == v,
        "health" => rless::container::health::status(c, dir) == v,
        // As docker: the value is resolved to an image (name[:tag], id, id
        // prefix or NAME@DIGEST), and the containers of that image match; an
        // image the store does not know matches nothing. Only a `--rootfs`
        // container, which has no image id, matches by what it recorded
        // (its directory).
        "ancestor" => match look.image_id(v) {
            Some(id) => c.image_id == id,
            None => c.image_id.is_empty() && c.image_name == v,
        },
        // `label=KEY` or `label=KEY=VALUE`.
        "label" => match v.split_once('=') {
            Some((k, want)) => c.labels.get(k).is_some_and(|x| x == want),
            None => c.labels.contains_key(v),
        },
        "exited" => {
            s.status == "exited" && s.exit_code.map(|x| x.to_string()).as_deref() == Some(v)
        }
        "before" => c.created_at() < look.created(v)?,
        "since" => c.created_at() > look.created(v)?,
        // A volume by name, or any mount by its path in the container.
        "volume" => c.mounts.iter().any(|m| match m {
            MountOp::Volume { name, target, .. } => name == v || target.as_os_str() == v,
            MountOp::Bind { source, target, .. } => {
                source.as_os_str() == v || target.as_os_str() == v
            }
            MountOp::Tmpfs { target, .. } => target.as_os_str() == v,
            _ => false,
        }),
        // podman's: the pod by name, full id or id prefix.
        "pod" => c.pod.as_deref().is_some_and(|id| {
            id.starts_with(v)
                || rless::container::pod::by_id(look.root, id).is_some_and(|p| p.name == v)
        }),
        // `network=container:X` (podman's): the containers on X's
        // network, X by name, full id or id prefix.
        "network" => match v.strip_prefix("container:") {
            Some(q) => {
                let x = (look.all.iter().find(|x| x.name == q))
                    .or_else(|| look.all.iter().find(|x| x.id.as_str().starts_with(q)));
                x.is_some_and(|x| {
                    container::read_spec(dir)
                        .is_ok_and(|sp| sp.namespaces.net.is_some_and(|d| d.id == x.id.as_str()))
                })
            }
            None => {
                container::read_spec(dir).is_ok_and(|sp| sp.network_names().iter().any(|n| n == v))
            }
        },
        // `publish=80`, `publish=8080/tcp`, `publish=80-90`: a published
        // container port.
        // `expose=80`, `expose=53/udp`, `expose=80-90`: an exposed port
        // (the image's EXPOSE or --expose), as podman's.
        "expose" => {
            let (first, last, proto) = port_filter(k, v)?;
            c.exposed_ports.iter().any(|e| {
                let (port, p) = e.split_once('/').unwrap_or((e, "tcp"));
                p == proto && port.parse().is_ok_and(|n: u16| (first..=last).contains(&n))
            })
        }
        "publish" => {
            let (first, last, proto) = port_filter(k, v)?;
            // A container on another's network matches by that one's
            // ports, as its row shows them.
            let owner = super::netowner::owner(look.root, c)
                .map(|id| container::read_state(&look.root.join("containers").join(id)));
            owner
                .as_ref()
                .unwrap_or(s)
                .ports
                .iter()
                .any(|p| (first..=last).contains(&p.container_port) && p.proto_name() == proto)
        }
        // check_filter refused every other key before any container.
        other => unreachable!("filter {other:?} passed check_filter"),
    })
}

/// The ports and protocol of a `publish=`/`expose=` filter value:
/// PORT[-PORT][/PROTO], tcp by default.
fn port_filter<'a>(key: &str, v: &'a str) -> Result<(u16, u16, &'a str)> {
    let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
    match (first.parse::<u16>(), last.parse::<u16>()) {
        (Ok(first), Ok(last)) => Ok((first, last, proto)),
        _ => bail!("bad filter {key}={v}: use PORT[-PORT][/PROTO]"),
    }
}

/// `--sort KEY`, as podman orders: every key ascending, ties in creation
/// order (a stable sort of the rows oldest first).
fn sort_rows(
    rows: &mut [(ContainerConfig, ContainerState)],
    key: &str,
    rw_size: impl Fn(&ContainerConfig) -> u64,
) {
    rows.sort_by_key(|(c, _)| c.created_at());
    match key {
        "id" => rows.sort_by(|x, y| x.0.id.as_str().cmp(y.0.id.as_str())),
        "image" => rows.sort_by(|x, y| x.0.image_name.cmp(&y.0.image_name)),
        "names" => rows.sort_by(|x, y| x.0.name.cmp(&y.0.name)),
        "status" => rows.sort_by_key(|(_, s)| s.shown_status().to_string()),
        // Never started first (0), then the one started longest ago.
        "runningfor" => rows.sort_by_key(|(_, s)| s.started.unwrap_or(0)),
        "command" => rows.sort_by_key(|(c, _)| c.command.join(" ")),
        "size" => rows.sort_by_cached_key(|(c, _)| rw_size(c)),
        _ => {}
    }
}

/// The filters `matches` knows.
const FILTERS: &[&str] = &[
    "id", "name", "status", "ancestor", "label", "exited", "before", "since", "volume", "network",
    "publish", "expose", "health", "pod",
];

/// The states `status=` takes (docker's, and podman's `initialized`).
const STATUSES: &[&str] = &[
    "created",
    "initialized",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Refuses a filter value no container could match for its form, as
/// docker does, whether or not there are containers to try it on.
fn check_filter(k: &str, v: &str) -> Result<()> {
    match k {
        "status" if !STATUSES.contains(&v) => {
            bail!(
                "invalid filter status={v:?}: use one of {}",
                STATUSES.join(", ")
            )
        }
        "health" if !["starting", "healthy", "unhealthy", "none"].contains(&v) => {
            bail!("invalid filter health={v:?}: use starting, healthy, unhealthy or none")
        }
        "exited" if v.parse::<i32>().is_err() => {
            bail!("invalid filter exited={v:?}: an exit code is a number")
        }
        k if FILTERS.contains(&k) => Ok(()),
        other => {
            let (last, rest) = FILTERS.split_last().expect("filters");
            bail!(
                "unknown filter {other:?}: use {} or {last}",
                rest.join(", ")
            )
        }
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = (a.external, a.sync);
    let Some(every) = a.watch.filter(|&n| n > 0) else {
        return once(ctx, &a);
    };
    if a.format.trim() == "json" || a.quiet {
        bail!("--watch shows a table: not with --format json or -q");
    }
    loop {
        // Clear the terminal and home the cursor, as `watch` does.
        print!("\x1b[H\x1b[2J");
        once(ctx, &a)?;
        std::io::Write::flush(&mut std::io::stdout())?;
        std::thread::sleep(std::time::Duration::from_secs(every));
    }
}

/// One listing.
fn once(ctx: &Ctx, a: &Args) -> Result<ExitCode> {
    // As docker: a template that shows the size computes it.
    let size = a.size
        || (a.format.contains(".Size") && a.format.trim() != "json")
        || a.sort.as_deref() == Some("size");
    if size {
        // Files of subordinate ids may be unreadable outside the namespace.
        if let Some(code) = ctx.enter_userns()? {
            return Ok(code);
        }
    }
    let filters = parse_filters(&a.filter)?;
    let store = ctx.store(LockMode::Shared)?;
    let all = container::list(&store);
    let look = Lookups::new(&store, &all, &filters)?;
    let last = if a.latest { Some(1) } else { a.last };
    let mut rows: Vec<(ContainerConfig, ContainerState)> = Vec::new();
    for c in all.iter().cloned() {
        let dir = container::containers_dir(&store).join(c.id.as_str());
        let s = container::read_state(&dir);
        // As docker: stopped ones only with -a, -n/-l, or a status filter.
        let status_filter = filters.iter().any(|(k, _)| k == "status");
        if !(a.all || s.live() || status_filter || last.is_some()) {
            continue;
        }
        if passes(&c, &s, &dir, &filters, &look)? {
            rows.push((c, s));
        }
    }
    rows.sort_by_key(|(c, _)| std::cmp::Reverse(c.created_at()));
    if let Some(n) = last {
        rows.truncate(n);
    }
    if let Some(key) = a.sort.as_deref() {
        sort_rows(&mut rows, key, |c| {
            let dir = container::containers_dir(&store).join(c.id.as_str());
            super::system::tree_size(&dir.join("upper"), &mut Default::default())
        });
    }
    if a.quiet {
        for (c, _) in &rows {
            println!(
                "{}",
                if a.no_trunc {
                    c.id.as_str()
                } else {
                    c.id.short()
                }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cmd = |c: &ContainerConfig| {
        let full = c.command.join(" ");
        if a.no_trunc || full.chars().count() <= 20 {
            format!("\"{full}\"")
        } else {
            format!("\"{}…\"", full.chars().take(19).collect::<String>())
        }
    };
    let pods = rless::container::pod::list(store.root());
    let pod_name = |c: &ContainerConfig| -> String {
        c.pod.as_deref().map_or(String::new(), |id| {
            pods.iter()
                .find(|p| p.id == id)
                .map_or(String::new(), |p| p.name.clone())
        })
    };
    let is_infra = |c: &ContainerConfig| {
        pods.iter()
            .any(|p| p.infra.as_deref() == Some(c.id.as_str()))
    };
    let health = |c: &ContainerConfig| {
        rless::container::health::status(c, &container::containers_dir(&store).join(c.id.as_str()))
    };
    let mut default = DEFAULT_TABLE.to_string();
    if a.ns {
        default = NS_TABLE.to_string();
    }
    if a.pod {
        default.push_str("\t{{.Pod}}\t{{.PodName}}");
    }
    if a.size {
        default.push_str("\t{{.Size}}");
    }
    let default = default.as_str();
    let format = Format::parse(&a.format, default);
    // docker's "12B (virtual 1.98MB)": the writable layer, and it with the image.
    let index = match size || matches!(format, Format::Template { .. }) {
        true => Some(store.index()?),
        false => None,
    };
    // As docker: the name the container was made from while it still names
    // the container's image; once it names another (or none), the id.
    let image_shown = |c: &ContainerConfig| -> String {
        let hex = c.image_id.trim_start_matches("sha256:");
        let current = index
            .as_ref()
            .and_then(|ix| rless::image::find_image(ix, &c.image_name).ok())
            .is_some_and(|i| i.id.hex() == hex);
        if hex.is_empty() || current {
            rless::image::familiar(&c.image_name).to_string()
        } else if a.no_trunc {
            format!("sha256:{hex}")
        } else {
            hex.chars().take(12).collect()
        }
    };
    let size_text = |c: &ContainerConfig| -> String {
        let Some(index) = index.as_ref().filter(|_| size) else {
            return String::new();
        };
        let dir = container::containers_dir(&store).join(c.id.as_str());
        let rw = super::system::tree_size(&dir.join("upper"), &mut Default::default());
        let image = index
            .images
            .iter()
            .find(|i| i.id.hex() == c.image_id.trim_start_matches("sha256:"))
            .map_or(0, |i| i.size);
        format!(
            "{} (virtual {})",
            time::human_size(rw),
            time::human_size(rw + image)
        )
    };
    match format {
        Format::Json => {
            let out: Vec<_> = rows
                .iter()
                .map(|(c, s)| {
                    serde_json::json!({
                        "Id": c.id, "Names": [c.name], "Image": c.image_name, "ImageID": c.image_id,
                        "Command": c.command, "Created": c.created, "State": s.shown_status(),
                        "Status": status_text(s, &health(c)), "ExitCode": s.exit_code, "Pid": s.pid,
                        "StartedAt": s.started, "ExitedAt": s.finished, "Labels": c.labels,
                        "Pod": c.pod.clone().unwrap_or_default(), "PodName": pod_name(c),
                        "IsInfra": is_infra(c),
                        "Ports": super::netowner::podman_ports(
                            store.root(), c, &container::containers_dir(&store).join(c.id.as_str()),
                        ),
                        "Networks": network_list(&container::containers_dir(&store).join(c.id.as_str())),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        _ => {
            let Format::Template { template, table } = format else {
                unreachable!("json is handled above")
            };
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|(c, s)| {
                    serde_json::json!({
                        "ID": if a.no_trunc { c.id.as_str() } else { c.id.short() },
                        "Image": image_shown(c),
                        "Command": cmd(c),
                        "CreatedAt": time::format_docker(c.created),
                        "RunningFor": time::ago(c.created),
                        "Ports": shown_ports(store.root(), c, s),
                        "Status": status_text(s, &health(c)),
                        "State": s.shown_status(),
                        "Names": c.name,
                        "Networks": networks(&container::containers_dir(&store).join(c.id.as_str())),
                        "Labels": super::format::labels_text(&c.labels),
                        "Mounts": mounts_text(c),
                        "LocalVolumes": c.mounts.iter().filter(|m| matches!(m, MountOp::Volume { .. })).count().to_string(),
                        "Size": size_text(c),
                        // podman's: the image's id, the times and the
                        // exit as values, --rm.
                        "ImageID": c.image_id.trim_start_matches("sha256:").get(..12).unwrap_or_default(),
                        "Created": time::format_docker(c.created),
                        "CreatedHuman": time::ago(c.created),
                        "Pid": s.pid.filter(|_| s.running()).unwrap_or(0),
                        "ExitCode": s.exit_code.unwrap_or(0),
                        "Exited": s.shown_status() == "exited",
                        "StartedAt": s.started.unwrap_or(GO_ZERO_UNIX),
                        "ExitedAt": s.finished.unwrap_or(GO_ZERO_UNIX),
                        "AutoRemove": c.auto_remove,
                        "IsInfra": is_infra(c),
                        (super::format::LABELS_KEY): c.labels,
                        "Pod": c.pod.as_deref().map_or("", |p| &p[..12.min(p.len())]),
                        "PodName": pod_name(c),
                        // podman's `--ns` fields.
                        "Cgroupns": ns_inode(running_pid(s), "cgroup"),
                        "IPC": ns_inode(running_pid(s), "ipc"),
                        "MNT": ns_inode(running_pid(s), "mnt"),
                        "NET": ns_inode(running_pid(s), "net"),
                        "PIDNS": ns_inode(running_pid(s), "pid"),
                        "UserNS": ns_inode(running_pid(s), "user"),
                        "UTS": ns_inode(running_pid(s), "uts"),
                    })
                })
                .collect();
            print_rows(
                template,
                table,
                if a.noheading { &[] } else { HEADERS },
                &rows,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
