//! `rless update [LIMIT FLAGS] CTR...` (docker's and podman's): changes
//! containers' cgroup limits.
//!
//! Theory of operation: the flags given are laid over the limits the
//! container records (its HostConfig), and every cgroup setting is
//! recomputed from the result with the same checks `run` makes, so a bad
//! value or combination changes nothing. A running container's cgroup
//! files are rewritten at once (a limit dropped is lifted), which needs its
//! cgroup: one started without one (no delegated cgroup v2, a controller
//! missing, `--cgroups=disabled`) is refused with the reason. Then the
//! container's config (what `inspect` shows) and spec (what the next start
//! uses) record the new limits; a stopped container's only change there.

use super::run::limitargs::LimitArgs;
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::{self, host_limits};
use rless::image::store::LockMode;
use rless::runtime::cgroups::{self, limits};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    limits: LimitArgs,
    /// Accepted with a warning, as `run`'s: cgroup v2 has no swappiness.
    #[arg(long, value_name = "0-100", allow_negative_numbers = true)]
    memory_swappiness: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let given = a.limits.flags();
    if let Some(w) = a
        .memory_swappiness
        .map(super::run::moreopts::swappiness)
        .transpose()?
        .flatten()
    {
        eprintln!("rless: warning: {w}");
    }
    if given == limits::LimitFlags::default() && a.memory_swappiness.is_none() {
        bail!("give one or more limits to change (--memory, --cpus, --pids-limit, …)");
    }
    let store = ctx.store(LockMode::Shared)?;
    let mut failures = super::stop::Failures::default();
    for name in &a.containers {
        match update_one(&store, name, &given) {
            Ok(()) => println!("{name}"),
            Err(e) => failures.add(e),
        }
    }
    failures.finish(ExitCode::SUCCESS)
}

fn update_one(
    store: &rless::image::store::Store,
    name: &str,
    given: &limits::LimitFlags,
) -> Result<()> {
    let _lock = store.lock("containers")?;
    let (mut config, dir) = container::find(store, name)?;
    let merged = host_limits::overlay(host_limits::flags_of(&config.host_config), given);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings = limits::settings(&merged, cpus)?;
    let mut spec = container::read_spec(&dir)?;
    let old = std::mem::replace(&mut spec.cgroup.settings, settings);
    let plan = cgroups::plan(&spec.cgroup)?;
    let state = container::read_state(&dir);
    if state.running() {
        let Some(cg) = state.cgroup.as_deref() else {
            let why = match (spec.cgroup.mode, cgroups::detect()) {
                (cgroups::Mode::Disabled, _) => {
                    "it was created with --cgroups=disabled".to_string()
                }
                (_, Err(why)) => why,
                (_, Ok(_)) => "its cgroup could not be made when it started".to_string(),
            };
            bail!("cannot update {name}: it runs without a cgroup: {why}");
        };
        if let Some(w) = plan.warning {
            bail!("cannot update {name}: {w}");
        }
        // A controller the container did not need at its start (cpuset)
        // is enabled on the way down to its cgroup now.
        if let Some(w) = cgroups::prepare(&spec.cgroup)? {
            bail!("cannot update {name}: {w}");
        }
        cgroups::update_live(cg, &old, &spec.cgroup.settings)
            .with_context(|| format!("cannot update {name}"))?;
    }
    host_limits::apply(&mut config.host_config, &merged);
    container::write_spec(&dir, &spec)?;
    container::write_config(&dir, &config)?;
    rless::events::container_of(store.root(), &config, "update", &[]);
    Ok(())
}
