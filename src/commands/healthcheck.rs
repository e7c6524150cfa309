//! `rless healthcheck run CTR` (podman's): runs the container's health
//! check once now and records it; prints nothing, exits 0 when it passed,
//! 1 when it failed, 125 when it could not run (no such container, not
//! running, no check). `rless healthcheck watch` is the monitor's watcher
//! ([`rless::container::health`]), and `rless healthcheck timeout` its
//! `--timeout` watcher ([`rless::container::runopts`]), not for users.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, health};
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Run a container's health check now: exit 0 healthy, 1 unhealthy.
    Run { container: String },
    /// (internal) The health checks of a container under its monitor.
    #[command(hide = true)]
    Watch {
        #[arg(long)]
        monitor: i32,
        dir: std::path::PathBuf,
    },
    /// (internal) The `--timeout` of a container under its monitor.
    #[command(hide = true)]
    Timeout {
        #[arg(long)]
        monitor: i32,
        dir: std::path::PathBuf,
    },
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Watch { monitor, dir } => {
            health::watch(&dir, monitor);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Timeout { monitor, dir } => {
            container::runopts::watch_timeout(&dir, monitor);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run { container } => {
            let store = ctx.store(LockMode::Shared)?;
            let (c, dir) = container::find(&store, &container)?;
            drop(store);
            let Some(check) = c.healthcheck.as_ref().filter(|h| h.command().is_some()) else {
                bail!("container {} has no defined healthcheck", c.name);
            };
            let state = container::read_state(&dir);
            if !state.running() || state.paused {
                bail!("container {} is not running", c.name);
            }
            let cmd = check.command().unwrap_or_default();
            let probe = health::probe(&dir, &cmd, check.timeout());
            let passed = probe.exit_code == 0;
            let in_start = state.started.is_some_and(|s| {
                let since = rless::image::time::now().saturating_sub(s).max(0) as u64;
                std::time::Duration::from_secs(since) < check.start_period()
            });
            health::record(&dir, check, probe, in_start)?;
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
