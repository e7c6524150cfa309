//! `rless pause (-a | CTR…)` / `rless unpause (-a | CTR…)`: SIGSTOP / SIGCONT to every
//! process of the container ([`rless::container::control::pause`]; there
//! is no cgroup freezer for a rootless user on cgroup v1).

use super::Ctx;
use anyhow::{anyhow, Result};
use rless::container::control;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    targets: super::stop::Targets,
}

pub fn pause(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let names = a.targets.names(ctx, |s| s.running() && !s.paused)?;
    super::stop::each(ctx, &names, a.targets.all, |name, dir| {
        control::pause(dir).map_err(|e| anyhow!("cannot pause {name}: {e}"))?;
        println!("{name}");
        Ok(())
    })
}

pub fn unpause(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let names = a.targets.names(ctx, |s| s.running() && s.paused)?;
    super::stop::each(ctx, &names, a.targets.all, |name, dir| {
        control::unpause(dir).map_err(|e| anyhow!("cannot unpause {name}: {e}"))?;
        println!("{name}");
        Ok(())
    })
}
