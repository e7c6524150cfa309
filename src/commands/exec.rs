//! `rless exec [-d] [-i] [-t] [-e K=V] [-w DIR] [-u USER] CTR CMD…`

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::image::store::LockMode;
use rless::runtime::exec::exec_in;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// Start the command and return at once.
    #[arg(short, long)]
    detach: bool,
    /// Pass stdin on.
    #[arg(short, long)]
    interactive: bool,
    /// Give the command a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (KEY=value, or KEY to take it from here).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User (name or uid, optionally :group).
    #[arg(short, long)]
    user: Option<String>,
    /// CONTAINER COMMAND [ARG…]
    #[arg(required = true, num_args = 2.., allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.args[0])?;
    drop(store);
    let state = container::read_state(&dir);
    let Some(pid) = state
        .pid
        .filter(|_| state.running() && container::process_alive(state.pid, state.init_start))
    else {
        bail!("container {} is not running", c.name);
    };
    if state.paused {
        bail!("container {} is paused; unpause it first", c.name);
    }
    let spec = container::read_spec(&dir)?;
    let mut process = spec.process.clone();
    process.args = a.args[1..].to_vec();
    for e in &a.env {
        match e.split_once('=') {
            Some(("", _)) => bail!("invalid environment variable {e:?}"),
            Some((k, _)) => {
                process
                    .env
                    .retain(|x| x.split_once('=').map_or(x.as_str(), |(n, _)| n) != k);
                process.env.push(e.clone());
            }
            None => {
                if let Ok(v) = std::env::var(e) {
                    process
                        .env
                        .retain(|x| x.split_once('=').map_or(x.as_str(), |(n, _)| n) != e.as_str());
                    process.env.push(format!("{e}={v}"));
                }
            }
        }
    }
    if let Some(w) = a.workdir {
        process.cwd = w;
    }
    if let Some(u) = a.user {
        process.user = u;
    }
    if let Some(code) = super::refuse_non_tty_input(a.interactive, a.tty, a.detach) {
        return Ok(code);
    }
    process.tty = a.tty;
    process.stdin = a.interactive;
    // The container's cgroup, opened before its namespaces hide it.
    let cgroup = state.cgroup.and_then(|d| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(d.join("cgroup.procs"))
            .ok()
    });
    let code = exec_in(
        pid,
        &process,
        &spec.hostname,
        a.detach,
        cgroup.map(Into::into),
    )?;
    Ok(ExitCode::from(code as u8))
}
