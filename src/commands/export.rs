//! `rless export [-o FILE] CTR`: the container's root filesystem as one
//! tar (image layers and writable layer merged, deletions applied), from a
//! read-only view of its layers ([`rless::container::export`]); volumes
//! are not included, as in docker. `-o` writes a temporary file next to a
//! regular FILE and renames it into place, so FILE is whole or untouched,
//! also when SIGINT, SIGTERM or SIGHUP stop it (its temporary file goes);
//! any other FILE (a FIFO, `/dev/null`, `/dev/stdout`) is written in place
//! and never removed ([`super::outfile`]).

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::container::cp::PackSpec;
use rless::container::export::{Agent, AgentError};
use rless::image::store::LockMode;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    container: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write a tar to a terminal: use -o FILE or redirect stdout");
    }
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.container)?;
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let access = super::cp::view(ctx, &dir, false)?;
    let agent = Agent::spawn(&access)?;
    let spec = PackSpec {
        path: "/".into(),
        name: None,
        follow: true,
        zero_ids: false,
        skip: Vec::new(),
    };
    let write_err = |op| move |e| AgentError::Sys { op, source: e };
    match a.output {
        None => {
            let mut out = std::io::stdout().lock();
            agent.pack(spec, |r| {
                std::io::copy(r, &mut out)
                    .and_then(|_| out.flush())
                    .map_err(write_err("write to stdout"))
            })?;
        }
        Some(path) => {
            let mut out = super::outfile::OutFile::create(&path, "export")?;
            // SIGINT, SIGTERM or SIGHUP stop the writing and remove a
            // temporary file (see rless::interrupt); taken over only now,
            // once the agent is forked (a fork of a process that blocks
            // them would block them too, with no thread to take them).
            rless::interrupt::install();
            agent.pack(spec, |r| {
                let mut w = rless::interrupt::Checked(&mut out);
                std::io::copy(r, &mut w)
                    .map(drop)
                    .map_err(write_err("write the export"))
            })?;
            out.commit()?;
        }
    }
    rless::events::container_after(&dir, &c, "export", &[]);
    Ok(ExitCode::SUCCESS)
}
