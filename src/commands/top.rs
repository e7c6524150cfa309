//! `rless top CTR`: the processes in a container (host pids, as docker
//! shows them), found by their pid namespace.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    container: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.container)?;
    let state = container::read_state(&dir);
    let Some(init) = state.pid.filter(|_| state.running()) else {
        bail!("container {} is not running", c.name);
    };
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid"))?;
    let mut rows = vec![["UID".to_string(), "PID".into(), "PPID".into(), "CMD".into()]];
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort();
    for pid in pids {
        if std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .as_ref()
            != Some(&ns)
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(1))
            .unwrap_or("?")
            .to_string();
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Uid:")
                        .map(|u| u.split_whitespace().next().unwrap_or("?").to_string())
                })
            })
            .unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        rows.push([uid, pid.to_string(), ppid, cmd]);
    }
    super::format::print_table(&rows);
    Ok(ExitCode::SUCCESS)
}
