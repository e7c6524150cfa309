//! `rless start [-a] [-i] CTR…` and `rless restart`: run a created or
//! stopped container again with the spec it was created with (its writable
//! layer is kept).

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, control};
use rless::image::store::LockMode;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Attach: run in the foreground, with the container's output here.
    #[arg(short, long)]
    attach: bool,
    /// Pass stdin on (with -a).
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    if a.attach && a.containers.len() > 1 {
        bail!("you cannot attach to more than one container");
    }
    let mut code = ExitCode::SUCCESS;
    for q in &a.containers {
        let store = ctx.store(LockMode::Shared)?;
        let (c, dir) = container::find(&store, q)?;
        let lock = store.lock(&format!("ctr-{}", c.id))?;
        let state = container::read_state(&dir);
        if state.status == "removing" {
            bail!("container {q} is marked for removal and cannot be started");
        }
        if state.live() {
            if a.attach {
                bail!("container {q} is already running");
            }
            println!("{q}");
            continue;
        }
        let mut spec = container::read_spec(&dir)?;
        container::mark_stopped(&dir, false);
        container::mark_restart_requested(&dir, false);
        // Ids are decided now: a range granted since creation applies.
        spec.ids = ctx.ids.clone();
        drop(lock);
        drop(store);
        if a.attach {
            spec.process.stdin = a.interactive;
            return super::run::attach(&spec, &dir, &c, super::run::Fresh::No);
        }
        code = super::run::detach(&spec, &dir, &c, super::run::Fresh::No)?;
    }
    Ok(code)
}

pub fn restart(ctx: &Ctx, a: super::stop::StopArgs) -> Result<ExitCode> {
    let names = a.containers.clone();
    {
        let store = ctx.store(LockMode::Shared)?;
        for q in &names {
            let (_, dir) = container::find(&store, q)?;
            // A --rm container is kept through its restart, as docker.
            container::mark_restart_requested(&dir, true);
            if let Err(e) = control::stop(&dir, Duration::from_secs(a.time)) {
                container::mark_restart_requested(&dir, false);
                return Err(e.into());
            }
        }
    }
    run(
        ctx,
        Args {
            attach: false,
            interactive: false,
            containers: names,
        },
    )
}
