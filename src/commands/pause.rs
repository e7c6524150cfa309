//! `rless pause CTR…` / `rless unpause CTR…`: SIGSTOP / SIGCONT to every
//! process of the container ([`rless::container::control::pause`]; there
//! is no cgroup freezer for a rootless user on cgroup v1).

use super::Ctx;
use anyhow::{anyhow, Result};
use rless::container::control;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn pause(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    super::stop::each(ctx, &a.containers, |name, dir| {
        control::pause(dir).map_err(|e| anyhow!("cannot pause {name}: {e}"))?;
        println!("{name}");
        Ok(())
    })
}

pub fn unpause(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    super::stop::each(ctx, &a.containers, |name, dir| {
        control::unpause(dir).map_err(|e| anyhow!("cannot unpause {name}: {e}"))?;
        println!("{name}");
        Ok(())
    })
}
