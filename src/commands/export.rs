//! `rless export [-o FILE] CTR`: the container's root filesystem as one
//! tar (image layers and writable layer merged, deletions applied), from a
//! read-only view of its layers ([`rless::container::export`]); volumes
//! are not included, as in docker. `-o` writes a temporary file next to
//! FILE and renames it into place, so FILE is whole or untouched, also
//! when SIGINT, SIGTERM or SIGHUP stop it (its temporary file goes).

use super::Ctx;
use anyhow::{bail, Context, Result};
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
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let tmp = parent.join(rless::image::store::tmp_name("export"));
            let mut file = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .with_context(|| format!("cannot create a file in {}", parent.display()))?;
            // SIGINT, SIGTERM or SIGHUP stop the writing and remove the
            // temporary file (see rless::interrupt); taken over only now,
            // once the agent is forked (a fork of a process that blocks
            // them would block them too, with no thread to take them).
            rless::interrupt::install();
            rless::interrupt::remove_at_signal(&tmp);
            let r = agent
                .pack(spec, |r| {
                    std::io::copy(r, &mut rless::interrupt::Checked(&mut file))
                        .and_then(|_| file.sync_all())
                        .map(drop)
                        .map_err(write_err("write the export"))
                })
                .map_err(anyhow::Error::from)
                .and_then(|()| {
                    std::fs::rename(&tmp, &path)
                        .with_context(|| format!("cannot write {}", path.display()))
                });
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            rless::interrupt::forget(&tmp);
            r?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
