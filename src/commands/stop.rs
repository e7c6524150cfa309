//! `rless stop [-t SECS] [-s SIG] [-i] (-a | CTR…)`, `rless kill [-s SIG]
//! (-a | CTR…)`, `rless wait [--condition STATE…] CTR…`, `rless restart`: signals to the init,
//! which passes them on; the monitor records the exit. podman's `-a` acts
//! on every container the command applies to ([`Targets`]), named by full
//! id as podman prints them.

use super::Ctx;
use anyhow::{anyhow, bail, Result};
use rless::container::{self, control, ContainerState};
use rless::image::store::LockMode;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal (SIGTERM unless the container has another) before SIGKILL; default: the container's --stop-timeout, else 10.
    #[arg(short, long)]
    pub time: Option<u64>,
    /// Signal to send first instead of the container's stop signal: a
    /// name (TERM, SIGINT, RTMIN+3) or a number.
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Ignore names that do not exist.
    #[arg(short, long)]
    pub ignore: bool,
    #[command(flatten)]
    pub targets: Targets,
}

/// The containers a command acts on: the names given, or with `-a` every
/// container the command applies to.
#[derive(clap::Args)]
pub struct Targets {
    /// Every container (that the command applies to).
    #[arg(short, long)]
    pub all: bool,
    #[command(flatten)]
    pub latest: super::latest::Latest,
    #[command(flatten)]
    pub picks: super::picks::Picks,
    #[arg(required_unless_present_any = ["all", "latest", "cidfile", "filter"], conflicts_with = "all")]
    pub containers: Vec<String>,
}

impl Targets {
    /// The names given, with `-l` the latest container's full id, or with
    /// `-a` the full ids of the containers whose state `applies` accepts,
    /// in the store's order.
    pub fn names(
        &self,
        ctx: &Ctx,
        applies: impl Fn(&container::ContainerState) -> bool,
    ) -> Result<Vec<String>> {
        self.latest.check_all(self.all)?;
        if !self.all {
            let named = self.latest.or_names(ctx, &self.containers)?;
            return self.picks.add_to(ctx, named);
        }
        all_ids(ctx, applies)
    }
}

/// `ids` with the pods' infra containers moved last, the others kept in
/// their order: a stop or kill of every container ends an infra container
/// after the members that share its namespaces (ended first, its PID
/// namespace's end would SIGKILL them, and they would lose its network
/// while they stop), as `pod stop` does.
pub fn infra_last(ctx: &Ctx, ids: Vec<String>) -> Vec<String> {
    let (mut others, infra) = split_infra(ctx, ids);
    others.extend(infra);
    others
}

/// `ids` (full ids, or names as given) as (those that are no pod's infra
/// container, those that are), each in their order.
pub fn split_infra(ctx: &Ctx, ids: Vec<String>) -> (Vec<String>, Vec<String>) {
    let infra: std::collections::HashSet<String> = container::pod::list(&ctx.root)
        .into_iter()
        .filter_map(|p| p.infra)
        .collect();
    let store = ctx.store(LockMode::Shared).ok();
    let is_infra = |q: &String| {
        infra.contains(q)
            || store.as_ref().is_some_and(|s| {
                container::find(s, q).is_ok_and(|(c, _)| infra.contains(c.id.as_str()))
            })
    };
    let (infra_ids, others) = ids.into_iter().partition(is_infra);
    (others, infra_ids)
}

/// `names`, and before each that is a pod's infra container the pod's
/// other running containers that are not named (their full ids, also
/// returned apart): a stop or restart of an infra container stops them
/// first, as `pod stop` does, instead of taking its namespaces (their
/// network) from under them.
pub fn with_infra_members(ctx: &Ctx, names: Vec<String>) -> Result<(Vec<String>, Vec<String>)> {
    let store = ctx.store(LockMode::Shared)?;
    let ids: Vec<Option<String>> = names
        .iter()
        .map(|q| {
            container::find(&store, q)
                .ok()
                .map(|(c, _)| c.id.as_str().to_string())
        })
        .collect();
    let mut out = Vec::new();
    let mut added: Vec<String> = Vec::new();
    for (q, id) in names.into_iter().zip(&ids) {
        let pod = id.as_deref().and_then(|id| {
            container::pod::list(store.root())
                .into_iter()
                .find(|p| p.infra.as_deref() == Some(id))
        });
        if let Some(p) = pod {
            for c in container::pod::members(store.root(), &p) {
                let cid = c.id.as_str().to_string();
                let dir = container::containers_dir(&store).join(&cid);
                if p.infra.as_ref() != Some(&cid)
                    && !ids.contains(&Some(cid.clone()))
                    && !added.contains(&cid)
                    && container::read_state(&dir).live()
                {
                    out.push(cid.clone());
                    added.push(cid);
                }
            }
        }
        out.push(q);
    }
    Ok((out, added))
}

/// The full ids of the containers whose state `applies` accepts.
pub fn all_ids(
    ctx: &Ctx,
    applies: impl Fn(&container::ContainerState) -> bool,
) -> Result<Vec<String>> {
    let store = ctx.store(LockMode::Shared)?;
    let dir = container::containers_dir(&store);
    Ok(container::list(&store)
        .into_iter()
        .filter(|c| applies(&container::read_state(&dir.join(c.id.as_str()))))
        .map(|c| c.id.as_str().to_string())
        .collect())
}

impl StopArgs {
    /// The signal `-s` names, checked before any container is touched.
    pub fn first_signal(&self) -> Result<Option<rless::signal::Sig>> {
        self.signal
            .as_deref()
            .map(|s| rless::signal::Sig::parse(s).ok_or_else(|| anyhow!("invalid signal {s:?}")))
            .transpose()
    }
}

/// Stops the container in `dir` with `first` (else its stop signal).
pub fn stop_one(
    dir: &std::path::Path,
    first: Option<rless::signal::Sig>,
    time: Option<u64>,
) -> Result<(), rless::container::ContainerError> {
    let grace = grace(time, dir);
    match first {
        Some(sig) => control::stop_with(dir, sig, grace).map(drop),
        None => control::stop(dir, grace).map(drop),
    }
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGUSR1, RTMIN+3) or a number.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[command(flatten)]
    targets: Targets,
}

#[derive(clap::Args)]
pub struct WaitArgs {
    /// Wait until the container is in one of these states (podman's:
    /// created, running, paused, exited, stopped, healthy, unhealthy;
    /// repeatable or comma-separated) and print its exit code, -1 if it
    /// has none. Without it: until the container's run ends (docker).
    #[arg(long, value_delimiter = ',')]
    condition: Vec<String>,
    /// How often to look at the container's state with --condition (a Go
    /// duration, such as 250ms or 2s; a bare number is milliseconds).
    #[arg(short, long, default_value = "250ms")]
    interval: String,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[arg(required_unless_present = "latest")]
    containers: Vec<String>,
}

/// The states `wait --condition` takes (podman's).
const CONDITIONS: &[&str] = &[
    "created",
    "initialized",
    "running",
    "paused",
    "exited",
    "stopped",
    "healthy",
    "unhealthy",
];

/// Whether the container (config `c`, state `s`, directory `dir`) is in
/// state `cond`; `exited` and `stopped` are one state in rless.
fn holds(c: &container::ContainerConfig, s: &ContainerState, dir: &Path, cond: &str) -> bool {
    match cond {
        "created" => s.status == "created",
        "initialized" => s.status == "initialized",
        "running" => s.running() && !s.paused,
        "paused" => s.running() && s.paused,
        "exited" | "stopped" => s.status == "exited",
        health => container::health::status(c, dir) == health,
    }
}

/// `--interval`: a Go duration, or a bare number of milliseconds (podman).
fn interval(text: &str) -> Result<Duration> {
    let ns = match text.parse::<u64>() {
        Ok(ms) => Some(ms.saturating_mul(1_000_000)),
        Err(_) => container::health::parse_duration(text),
    };
    match ns {
        Some(ns) if ns > 0 => Ok(Duration::from_nanos(ns)),
        _ => bail!("invalid --interval {text:?}: use a duration such as 250ms or 2s"),
    }
}

/// Looks at the container in `dir` every `every` until one of `conds`
/// holds; its exit code then, -1 if it has not exited.
fn wait_condition(
    n: &str,
    (c, dir): (container::ContainerConfig, &Path),
    conds: &[String],
    every: Duration,
) -> Result<i64> {
    if let Some(h) = conds.iter().find(|h| h.ends_with("healthy")) {
        if container::health::status(&c, dir) == "none" {
            bail!("container {n} has no health check: condition {h} never holds");
        }
    }
    loop {
        let s = container::read_state(dir);
        if !dir.exists() {
            bail!(
                "container {n} was removed before it reached {}",
                conds.join(" or ")
            );
        }
        if conds.iter().any(|k| holds(&c, &s, dir, k)) {
            return Ok(match s.status.as_str() {
                "exited" => s.exit_code.map_or(-1, i64::from),
                _ => -1,
            });
        }
        std::thread::sleep(every);
    }
}

/// The errors of a command that acts on several names in turn, as docker
/// does: each is reported in order, one line each, and the command fails at
/// the end if any did (`main` prints the last one).
#[derive(Default)]
pub struct Failures(Option<anyhow::Error>);

impl Failures {
    pub fn add(&mut self, e: anyhow::Error) {
        if let Some(prev) = self.0.replace(e) {
            eprintln!("rless: {}", super::error_line(&prev));
        }
    }

    pub fn finish(self, code: ExitCode) -> Result<ExitCode> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(code),
        }
    }
}

/// Runs `f` on each container; reports every failure, fails if any did.
/// With `ignore`, names that do not exist are passed over.
pub fn each(
    ctx: &Ctx,
    names: &[String],
    ignore: bool,
    mut f: impl FnMut(&str, &std::path::Path) -> Result<()>,
) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let mut failed = Failures::default();
    for n in names {
        let r = match container::find(&store, n) {
            Err(container::ContainerError::NotFound(_)) if ignore => continue,
            r => r.map_err(anyhow::Error::from),
        };
        if let Err(e) = r.and_then(|(_, dir)| f(n, &dir)) {
            failed.add(e);
        }
    }
    failed.finish(ExitCode::SUCCESS)
}

/// How long `stop` waits for the container in `dir`: `-t`, else its
/// `--stop-timeout`, else 10 seconds (docker's default).
pub fn grace(time: Option<u64>, dir: &std::path::Path) -> Duration {
    let secs = time
        .or_else(|| container::read_config(dir).and_then(|c| c.stop_timeout))
        .unwrap_or(10);
    Duration::from_secs(secs)
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> Result<ExitCode> {
    let first = a.first_signal()?;
    // podman's `stop -a` names every container, stopped ones too.
    let mut names = a.targets.names(ctx, |_| true)?;
    let mut added = Vec::new();
    if !a.targets.all {
        (names, added) = with_infra_members(ctx, names)?;
    }
    names = infra_last(ctx, names);
    each(ctx, &names, a.ignore || a.targets.all, |name, dir| {
        stop_one(dir, first, a.time)?;
        if !added.iter().any(|n| n == name) {
            println!("{name}");
        }
        Ok(())
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<ExitCode> {
    let sig = rless::signal::Sig::parse(&a.signal)
        .ok_or_else(|| anyhow!("invalid signal {:?}", a.signal))?;
    let mut names = a.targets.names(ctx, |s| s.live())?;
    if a.targets.all {
        names = infra_last(ctx, names);
    }
    each(ctx, &names, a.targets.all, |name, dir| {
        control::kill(dir, sig).map_err(|e| anyhow!("cannot kill {name}: {e}"))?;
        println!("{name}");
        Ok(())
    })
}

/// Each name in turn, as docker: an unknown one is reported and the others
/// are waited for. The store lock is not held while waiting (a `created`
/// container may wait long for its start, and `rmi` must not wait too).
pub fn wait(ctx: &Ctx, a: WaitArgs) -> Result<ExitCode> {
    // Checked before any container, as podman does.
    if let Some(bad) = a
        .condition
        .iter()
        .find(|c| !CONDITIONS.contains(&c.as_str()))
    {
        bail!(
            "unknown container state {bad:?} for --condition: use {}",
            CONDITIONS.join(", ")
        );
    }
    let every = interval(&a.interval)?;
    let names = a.latest.or_names(ctx, &a.containers)?;
    let mut failed = Failures::default();
    for n in &names {
        let dir = ctx
            .store(LockMode::Shared)
            .and_then(|store| Ok(container::find(&store, n)?));
        let r = dir.and_then(|(c, dir)| {
            if !a.condition.is_empty() {
                return wait_condition(n, (c, &dir), &a.condition, every);
            }
            control::wait_exit(&dir)
                .map(|s| i64::from(s.exit_code.unwrap_or(0)))
                .ok_or_else(|| anyhow!("container {n} was removed before it exited"))
        });
        match r {
            Ok(code) => println!("{code}"),
            Err(e) => failed.add(e),
        }
    }
    failed.finish(ExitCode::SUCCESS)
}
