//! `rless build-copy CTR DEST [--file NAME]` (hidden): the part of a build's
//! COPY, ADD or WORKDIR that works inside a step container, run by `build`
//! as a child process.
//!
//! Theory of operation: it enters the user namespace and mounts a view of
//! the created (never started) container's layers, as `cp` into a stopped
//! container does ([`super::super::cp::view`]), and asks the agent in it
//! what the destination is. The tar stream the build packed arrives on
//! stdin; it is unpacked, keeping the owners it records, at the deepest
//! directory of the destination that exists, its entries prefixed with the
//! missing directories, which are created first (root's, mode 0755, with
//! the build's time, as docker makes them). With `--file NAME` the stream holds one file, the
//! entry `NAME`: it lands inside DEST if that is a directory, and is
//! otherwise renamed to DEST's last component. It prints `created` when it
//! had to make a directory (WORKDIR then adds a layer).

use crate::commands::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::container::cp::{base_name, parent_of, Kind, Owner};
use rless::container::export::{Agent, AgentError};
use rless::image::store::LockMode;
use std::io::Read;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct HelperArgs {
    container: String,
    dest: String,
    /// The stream's one file, named so.
    #[arg(long)]
    file: Option<String>,
}

pub fn run(ctx: &Ctx, a: HelperArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.container)?;
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let access = super::super::cp::view(ctx, &dir, true)?;
    let mut agent = Agent::spawn(&access)?;
    let dest = format!("/{}", a.dest.trim_matches('/'));
    let (target, rename) = match &a.file {
        Some(_) if agent.stat(&dest, true)? == Some(Kind::Dir) => (dest.clone(), None),
        Some(_) => (parent_of(&dest), base_name(&dest).map(str::to_string)),
        None => (dest.clone(), None),
    };
    let mut missing = Vec::new();
    let mut at = target.clone();
    loop {
        match agent.stat(&at, true)? {
            Some(Kind::Dir) => break,
            Some(_) => bail!("{at} is not a directory in the image"),
            None => {
                let Some(b) = base_name(&at) else {
                    bail!("{at}: no root directory");
                };
                missing.push(b.to_string());
                at = parent_of(&at);
            }
        }
    }
    missing.reverse();
    let prefix = missing.join("/");
    let stdin = std::io::stdin().lock();
    agent.unpack(&at, Owner::Keep, |w| {
        relay(
            w,
            stdin,
            &missing,
            &prefix,
            a.file.as_deref(),
            rename.as_deref(),
        )
        .map_err(|source| AgentError::Sys {
            op: "relay the build's files",
            source,
        })
    })?;
    if !missing.is_empty() {
        println!("created");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the missing directories, then the stream's entries below them.
fn relay(
    w: &mut dyn std::io::Write,
    input: impl Read,
    missing: &[String],
    prefix: &str,
    file: Option<&str>,
    rename: Option<&str>,
) -> std::io::Result<()> {
    let mut b = tar::Builder::new(w);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for k in 1..=missing.len() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(now);
        b.append_data(
            &mut h,
            format!("{}/", missing[..k].join("/")),
            std::io::empty(),
        )?;
    }
    let under = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}/{p}")
        }
    };
    let mut ar = tar::Archive::new(input);
    for e in ar.entries()? {
        let mut e = e?;
        let mut h = e.header().clone();
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let name = match (file, rename) {
            (Some(f), Some(r)) if raw == f => r.to_string(),
            _ => raw,
        };
        let path = under(&name);
        match h.entry_type() {
            tar::EntryType::Symlink => {
                let t = e
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                b.append_link(&mut h, &path, t)?;
            }
            tar::EntryType::Link => {
                let t = e
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                b.append_link(&mut h, &path, under(&t))?;
            }
            _ => b.append_data(&mut h, &path, &mut e)?,
        }
    }
    b.finish()
}
