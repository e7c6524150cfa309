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
//! missing directories, which are created first (mode 0755, with the
//! build's time, as docker makes them; root's, or `--dirs-owner`'s or
//! `--owner`'s: a `COPY --chown` or a WORKDIR under a USER). With `--file NAME` the stream holds one file, the
//! entry `NAME`: it lands inside DEST if that is a directory (or `--dir`
//! says it will be), and is otherwise renamed to DEST's last component.
//! With `--source NAME` the stream is `rless cp CTR:PATH -`'s (COPY
//! --from): a directory `NAME/` gives its contents, a file is as with
//! `--file`. `--owner` sets every entry's owner, `--mode` every entry's
//! permission bits but a symlink's (`--chmod`). It prints `created` when
//! it had to make a directory (WORKDIR then adds a layer). A name with a
//! component that starts with `.wh.` is refused: committed, it would be a
//! whiteout.

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
    /// The stream is `cp CTR:PATH -`'s: one entry NAME, a directory
    /// (whose contents go into DEST) or a file (as with --file).
    #[arg(long, conflicts_with = "file")]
    source: Option<String>,
    /// DEST is a directory even when missing (a file goes inside it).
    #[arg(long)]
    dir: bool,
    /// Every entry's owner, UID:GID, whatever the stream says (and the
    /// owner of the directories made for DEST).
    #[arg(long)]
    owner: Option<String>,
    /// Every file's and directory's permission bits, in octal (`--chmod`).
    #[arg(long)]
    mode: Option<String>,
    /// The owner of the directories made for DEST, UID:GID (default:
    /// --owner's, else root).
    #[arg(long)]
    dirs_owner: Option<String>,
}

/// How the stream's entries are placed.
struct Placing {
    /// The entry renamed (`--file`/`--source` of a file): from, to.
    rename: Option<(String, String)>,
    /// The leading `NAME/` dropped (`--source` of a directory).
    strip: Option<String>,
    owner: Option<(u64, u64)>,
    /// The owner of the missing directories of DEST.
    dirs_owner: (u64, u64),
    /// `--mode`: the stream's files' and directories' permission bits.
    mode: Option<u32>,
}

/// `UID:GID`.
fn ids(flag: &str, v: &Option<String>) -> Result<Option<(u64, u64)>> {
    let Some(o) = v else {
        return Ok(None);
    };
    let (u, g) = o
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("invalid --{flag} {o:?}: use UID:GID"))?;
    Ok(Some((u, g)))
}

pub fn run(ctx: &Ctx, a: HelperArgs) -> Result<ExitCode> {
    let owner = ids("owner", &a.owner)?;
    let dirs_owner = ids("dirs-owner", &a.dirs_owner)?
        .or(owner)
        .unwrap_or((0, 0));
    let mode = match &a.mode {
        Some(m) => Some(
            u32::from_str_radix(m, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| anyhow::anyhow!("invalid --mode {m:?}: use octal"))?,
        ),
        None => None,
    };
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.container)?;
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let access = super::super::cp::view(ctx, &dir, true)?;
    let mut agent = Agent::spawn(&access)?;
    let dest = format!("/{}", a.dest.trim_matches('/'));
    let mut ar = tar::Archive::new(std::io::stdin().lock());
    let mut entries = ar.entries()?.peekable();
    // A `--source` stream says by its first entry what it holds.
    let mut file = a.file.clone();
    let mut strip = None;
    if let Some(name) = &a.source {
        let first_is_dir = match entries.peek() {
            Some(Ok(e)) => {
                e.header().entry_type().is_dir()
                    && String::from_utf8_lossy(&e.path_bytes()).trim_end_matches('/') == name
            }
            _ => false,
        };
        if first_is_dir {
            entries.next();
            strip = Some(format!("{name}/"));
        } else {
            file = Some(name.clone());
        }
    }
    let (target, rename) = match &file {
        Some(_) if a.dir || agent.stat(&dest, true)? == Some(Kind::Dir) => (dest.clone(), None),
        Some(f) => (
            parent_of(&dest),
            base_name(&dest).map(|b| (f.clone(), b.to_string())),
        ),
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
    let placing = Placing {
        rename,
        strip,
        owner,
        dirs_owner,
        mode,
    };
    agent.unpack(&at, Owner::Keep, |w| {
        relay(w, entries, &missing, &placing).map_err(|source| AgentError::Sys {
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
fn relay<'a, R: Read + 'a>(
    w: &mut dyn std::io::Write,
    entries: impl Iterator<Item = std::io::Result<tar::Entry<'a, R>>>,
    missing: &[String],
    placing: &Placing,
) -> std::io::Result<()> {
    let mut b = tar::Builder::new(w);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for k in 1..=missing.len() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(placing.dirs_owner.0);
        h.set_gid(placing.dirs_owner.1);
        h.set_size(0);
        h.set_mtime(now);
        b.append_data(
            &mut h,
            format!("{}/", missing[..k].join("/")),
            std::io::empty(),
        )?;
    }
    let prefix = missing.join("/");
    // An entry's name where it lands (`None`: not sent).
    let place = |raw: &str| -> Option<String> {
        let raw = match &placing.strip {
            Some(s) => raw.strip_prefix(s.as_str())?,
            None => raw,
        };
        let name = match &placing.rename {
            Some((from, to)) if raw.trim_end_matches('/') == from => to.clone(),
            _ => raw.to_string(),
        };
        if name.is_empty() {
            return None;
        }
        Some(if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        })
    };
    for e in entries {
        let mut e = e?;
        let mut h = e.header().clone();
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let Some(path) = place(&raw) else {
            continue;
        };
        // Docker copies such a name as a file; in an image layer it would
        // delete the image's file of the name after `.wh.` (ADD leaves an
        // archive's out with a warning before it gets here).
        if path.split('/').any(|c| c.starts_with(".wh.")) {
            return Err(std::io::Error::other(format!(
                "{path}: an image layer cannot hold a name that starts with .wh."
            )));
        }
        if let Some((u, g)) = placing.owner {
            h.set_uid(u);
            h.set_gid(g);
        }
        if let (Some(m), false) = (placing.mode, h.entry_type().is_symlink()) {
            h.set_mode(m);
        }
        let link = || {
            e.link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        match h.entry_type() {
            tar::EntryType::Symlink => {
                let t = link();
                b.append_link(&mut h, &path, t)?;
            }
            tar::EntryType::Link => {
                let t = link();
                let Some(t) = place(&t) else {
                    continue;
                };
                b.append_link(&mut h, &path, t)?;
            }
            _ => b.append_data(&mut h, &path, &mut e)?,
        }
    }
    b.finish()
}
