//! `rless rm [-f] [-v] CTR…` and `rless container prune`: removal happens
//! inside the user namespace, because a container's writable layer (and,
//! with `-v`, its anonymous volumes) holds files owned by subordinate ids.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, control};
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Kill running containers first.
    #[arg(short, long)]
    force: bool,
    /// Remove the container's anonymous volumes too (unless another container uses them).
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask (rless never asks).
    #[arg(short, long)]
    force: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    // Check everything first, kill what -f allows, then remove.
    let mut dirs = Vec::new();
    for q in &a.containers {
        let (c, dir) = container::find(&store, q)?;
        let _lock = store.lock(&format!("ctr-{}", c.id))?;
        let state = container::read_state(&dir);
        if state.live() {
            if !a.force {
                bail!(
                    "cannot remove {} container {q}: stop it first or use -f",
                    state.status
                );
            }
            if control::kill_now(&dir).is_none() {
                bail!("container {q} did not stop after SIGKILL");
            }
        }
        dirs.push((q.clone(), dir));
    }
    drop(store);
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let mut failed = None;
    for (q, dir) in dirs {
        match container::remove(&dir, a.volumes) {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("rless: cannot remove {q}: {e}");
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

pub fn prune(ctx: &Ctx, a: PruneArgs) -> Result<ExitCode> {
    let _ = a.force;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    let mut errors = 0;
    println!("Deleted Containers:");
    for c in container::list(&store) {
        let dir = container::containers_dir(&store).join(c.id.as_str());
        if container::read_state(&dir).live() {
            continue;
        }
        match container::remove_dir(&dir) {
            Ok(()) => println!("{}", c.id),
            Err(e) => {
                eprintln!("rless: cannot remove {}: {e}", c.id.short());
                errors += 1;
            }
        }
    }
    if errors > 0 {
        bail!("{errors} containers could not be removed");
    }
    Ok(ExitCode::SUCCESS)
}
