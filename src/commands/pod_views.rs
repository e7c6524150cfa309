//! `rless pod logs` and `rless pod stats` (podman's): `logs` and `stats`
//! of a pod's containers.
//!
//! Theory of operation: nothing of their own. `pod logs` hands the pod's
//! containers (the infra container, whose log is empty, too, as podman
//! lists it), or the one `-c` names, to `logs`, which prefixes each line
//! with its container's short id (its name with `-n`) when there are
//! several; `pod stats` hands `stats` the pods' containers with their pod's
//! short id, and `stats` keeps the running ones among them and shows them
//! in podman's pod columns.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, pod};
use rless::image::store::LockMode;
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
