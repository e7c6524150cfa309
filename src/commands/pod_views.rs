//! `rless pod ps`, `pod inspect`, `pod logs` and `pod stats` (podman's):
//! the pod commands that show and change nothing.
//!
//! Theory of operation: `pod inspect` and `pod ps` read each pod's
//! definition and its members' states into one JSON description
//! ([`describe`]): `inspect` prints it, `ps` filters those and prints
//! podman's rows or JSON of them. `pod logs` and `pod stats` have nothing
//! of their own. `pod logs` hands the pod's containers (the infra
//! container, whose log is empty, too, as podman lists it), or the one
//! `-c` names, to `logs`, which prefixes each line with its container's
//! short id (its name with `-n`) when there are several; `pod stats` hands
//! `stats` the pods' containers with their pod's short id, and `stats`
//! keeps the running ones among them and shows them in podman's pod
//! columns.

use super::filters::{self, Filters};
use super::format::{print_rows_headed, Format, Formatter};
use super::Ctx;
use anyhow::{bail, Result};
use rless::container::pod::{self, PodConfig};
use rless::container::{self, ContainerState};
use rless::image::store::LockMode;
use rless::image::time::{ago, format_rfc3339};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// `logs`'s options, their help worded for a pod (and no `-n` for
/// `--tail`: it is `--names` here, as podman's), then the pod's own.
#[derive(clap::Args)]
#[command(
    mut_arg("follow", |a| a.help("Keep printing new output until the pod's containers stop")),
    mut_arg("tail", |a| a
        .short(None)
        .help("Only the last N lines of each container (\"all\" for every line)")),
    mut_arg("since", |a| a.help("Only lines since a time (as `logs --since`)")),
    mut_arg("until", |a| a.help("Only lines up to a time (as `logs --until`)")),
)]
pub struct LogsArgs {
    #[command(flatten)]
    lines: super::logs::Lines,
    /// Only this container of the pod (podman's).
    #[arg(short, long)]
    container: Option<String>,
    /// Prefix lines with the container's name instead of its id (podman's).
    #[arg(short, long)]
    names: bool,
    /// Accepted, as podman's (one container's lines have no prefix to colour).
    #[arg(long)]
    color: bool,
    pod: String,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Print only ids.
    #[arg(short, long)]
    quiet: bool,
    /// Leave out the table's heading line (podman's).
    #[arg(long)]
    noheading: bool,
    /// Show full ids.
    #[arg(long)]
    no_trunc: bool,
    /// table, json, or a Go template such as '{{.Name}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Keep only pods that match: name=PART, id=PREFIX, label=KEY[=VALUE],
    /// status=created|running|degraded|exited|stopped (repeatable).
    #[arg(short, long)]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// A Go template run on each pod, or json (the default).
    #[arg(short, long, default_value = "json")]
    format: String,
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Print one reading and exit.
    #[arg(long)]
    no_stream: bool,
    /// table, json, or a Go template such as '{{.Pod}} {{.Name}} {{.CPU}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Every pod (the default without names).
    #[arg(short, long, conflicts_with = "pods")]
    all: bool,
    pods: Vec<String>,
}

/// `pod logs`: its containers' logs (the infra container's, empty,
/// too, as podman's), or one's.
pub fn logs(ctx: &Ctx, a: LogsArgs) -> Result<ExitCode> {
    let _ = a.color;
    let p = pod::read(&ctx.root, &a.pod)?;
    let members = pod::members(&ctx.root, &p);
    let ids = match &a.container {
        Some(q) => {
            let store = ctx.store(LockMode::Shared)?;
            let (c, _) = container::find(&store, q)?;
            if c.pod.as_deref() != Some(p.id.as_str()) {
                bail!("container {q} is not in pod {}", p.name);
            }
            vec![c.id.as_str().to_string()]
        }
        None => super::pod::names_of(&members),
    };
    if ids.is_empty() {
        bail!("pod {} has no containers", p.name);
    }
    super::logs::run(ctx, super::logs::Args::of_pod(ids, a.lines, a.names))
}

/// `pod stats`: `stats` of the pods' running containers, with their pod.
pub fn stats(ctx: &Ctx, a: StatsArgs) -> Result<ExitCode> {
    let pods = match a.pods.is_empty() {
        true => pod::list(&ctx.root),
        false => a
            .pods
            .iter()
            .map(|q| pod::read(&ctx.root, q))
            .collect::<Result<_, _>>()?,
    };
    let members = pods
        .iter()
        .flat_map(|p| {
            pod::members(&ctx.root, p)
                .into_iter()
                .map(|c| (c.id.as_str().to_string(), p.short_id().to_string()))
        })
        .collect();
    super::stats::run(
        ctx,
        super::stats::Args::of_pods(a.no_stream, a.format, members),
    )
}

/// Pod `p` as `pod inspect` shows it (podman's fields), its members'
/// states read now.
fn describe(root: &Path, p: &PodConfig) -> serde_json::Value {
    let members = pod::members(root, p);
    let states: Vec<ContainerState> = members
        .iter()
        .map(|c| super::pod::state_of(root, c))
        .collect();
    let mut v = serde_json::json!({
        "Id": p.id,
        "Name": p.name,
        "Created": format_rfc3339(p.created),
        "State": pod::status(&states),
        "Labels": p.labels,
        "CreateInfra": p.infra.is_some(),
        "InfraContainerID": p.infra.clone().unwrap_or_default(),
        "SharedNamespaces": p.shared,
        "NumContainers": members.len(),
        "Containers": members.iter().zip(&states).map(|(c, s)| serde_json::json!({
            "Id": c.id.as_str(), "Name": c.name, "State": s.shown_status(),
        })).collect::<Vec<_>>(),
    });
    // podman's: only with an infra container.
    if let Some(infra) = super::pod_infra::inspect_config(root, p) {
        v["InfraConfig"] = infra;
    }
    v
}

/// `pod inspect`: each pod's description, or the template run on it.
pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<ExitCode> {
    let formatter = Formatter::for_inspect(&a.format)?;
    let mut out = Vec::new();
    let mut failed = super::stop::Failures::default();
    for q in &a.pods {
        match pod::read(&ctx.root, q) {
            Ok(p) => out.push(describe(&ctx.root, &p)),
            Err(e) => failed.add(e.into()),
        }
    }
    if !out.is_empty() {
        super::container_inspect::print_objects(formatter.as_ref(), &out)?;
    }
    failed.finish(ExitCode::SUCCESS)
}

/// `pod ps`: the pods that pass the filters, as podman's rows or JSON.
pub fn ps(ctx: &Ctx, a: PsArgs) -> Result<ExitCode> {
    let filters = Filters::parse(&a.filter, &["name", "id", "label", "status"])?;
    let root = ctx.root.clone();
    let mut rows: Vec<serde_json::Value> = pod::list(&root)
        .iter()
        .map(|p| describe(&root, p))
        .collect();
    rows.retain(|d| {
        filters.keeps(|key, value| match key {
            "name" => d["Name"].as_str().is_some_and(|n| n.contains(value)),
            "id" => d["Id"].as_str().is_some_and(|i| i.starts_with(value)),
            "label" => serde_json::from_value::<BTreeMap<String, String>>(d["Labels"].clone())
                .is_ok_and(|l| filters::has_label(&l, value)),
            "status" => d["State"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(value)),
            _ => false,
        })
    });
    let trunc = |id: &serde_json::Value| {
        let id = id.as_str().unwrap_or_default().to_string();
        if a.no_trunc {
            id
        } else {
            id[..12.min(id.len())].to_string()
        }
    };
    let short = |d: &serde_json::Value| trunc(&d["Id"]);
    if a.quiet {
        for d in &rows {
            println!("{}", short(d));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pods = pod::list(&root);
    let created_of = |d: &serde_json::Value| {
        pods.iter()
            .find(|p| Some(p.id.as_str()) == d["Id"].as_str())
            .map_or(0, |p| p.created)
    };
    match Format::parse(
        &a.format,
        "{{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t{{.NumberOfContainers}}",
    ) {
        Format::Json => {
            // podman's `pod ps --format json` fields.
            let out: Vec<_> = rows
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "Id": d["Id"], "Name": d["Name"], "Status": d["State"],
                        "Created": d["Created"], "InfraId": d["InfraContainerID"], "Labels": d["Labels"],
                        "Networks": [], "Containers": d["Containers"].as_array().map(|cs| cs.iter().map(|c| serde_json::json!({
                            "Id": c["Id"], "Names": c["Name"], "Status": c["State"],
                        })).collect::<Vec<_>>()),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Template { template, table } => {
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|d| {
                    let cs = d["Containers"].as_array().cloned().unwrap_or_default();
                    let join = |k: &str| {
                        cs.iter()
                            .filter_map(|c| c[k].as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    let labels: BTreeMap<String, String> =
                        serde_json::from_value(d["Labels"].clone()).unwrap_or_default();
                    serde_json::json!({
                        "ID": short(d), "Id": d["Id"], "Name": d["Name"], "Status": d["State"],
                        "Created": ago(created_of(d)),
                        "InfraID": trunc(&d["InfraContainerID"]),
                        "NumberOfContainers": cs.len().to_string(),
                        "ContainerNames": join("Name"), "ContainerIds": join("Id"),
                        "ContainerStatuses": join("State"),
                        "Labels": super::format::labels_text(&labels), "Networks": "",
                    })
                })
                .collect();
            let headers = [
                ("ID", "POD ID"),
                ("Id", "POD ID"),
                ("Name", "NAME"),
                ("Status", "STATUS"),
                ("Created", "CREATED"),
                ("InfraID", "INFRA ID"),
                ("NumberOfContainers", "# OF CONTAINERS"),
                ("ContainerNames", "NAMES"),
                ("ContainerIds", "IDS"),
                ("ContainerStatuses", "STATUS"),
                ("Labels", "LABELS"),
                ("Networks", "NETWORKS"),
            ];
            print_rows_headed(template, table, !a.noheading, &headers, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
