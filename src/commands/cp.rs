//! `rless cp [-a] [-L] [--overwrite] CTR:PATH HOSTPATH|-` and `rless cp HOSTPATH|- CTR:PATH`:
//! docker's copy rules ([`rless::container::cp::plan`]) between the host
//! and a container, running or not ([`rless::container::export`]).

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::container::cp::{self, base_name, parent_of, Kind, Owner, PackSpec, Tree};
use rless::container::export::{Access, Agent, AgentError};
use rless::image::store::LockMode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Archive mode: keep the owners recorded in a tar from stdin.
    #[arg(short, long)]
    archive: bool,
    /// Follow a symlink given as the source.
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Replace a directory with a non-directory and the reverse (podman's;
    /// without it, either is an error, as podman's and docker's).
    #[arg(long)]
    overwrite: bool,
    /// CTR:PATH, a host path, or - (a tar stream on stdin/stdout).
    src: String,
    dst: String,
}

/// One side of a copy.
enum Side {
    Container(String, String),
    Host(String),
}

/// docker's syntax: `NAME:PATH` is a container path unless the text
/// before the colon has a `/` or the whole starts with `/` or `.`.
fn side(arg: &str) -> Side {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Host(arg.into());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() && !c.contains('/') => {
            let p = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            };
            Side::Container(c.into(), p)
        }
        _ => Side::Host(arg.into()),
    }
}

/// A host path made absolute, keeping a trailing `/` or `/.`.
fn host_abs(p: &str) -> Result<String> {
    if p.starts_with('/') {
        return Ok(p.into());
    }
    let cwd = std::env::current_dir()?;
    Ok(format!("{}/{p}", cwd.display()))
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let (name, cpath, host, inward) = match (side(&a.src), side(&a.dst)) {
        (Side::Container(c, p), Side::Host(h)) => (c, p, h, false),
        (Side::Host(h), Side::Container(c, p)) => (c, p, h, true),
        (Side::Container(..), Side::Container(..)) => {
            bail!("copying between containers is not supported")
        }
        (Side::Host(_), Side::Host(_)) => {
            bail!("one of the paths must name a container: CONTAINER:PATH")
        }
    };
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &name)?;
    // A stopped container must not start while its layers are mounted here.
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let access = access_for(ctx, &dir, &c.name, inward)?;
    let agent = Agent::spawn(&access)?;
    let shown = |p: &str| format!("{}:{p}", c.name);
    if inward {
        copy_in(agent, &a, &host, &cpath, &shown(&cpath))?;
    } else {
        copy_out(agent, &a, &cpath, &host, &shown(&cpath))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Joins a running container; otherwise enters the user namespace and
/// asks for a view of the layers.
fn access_for(ctx: &Ctx, dir: &Path, name: &str, writable: bool) -> Result<Access> {
    let state = container::read_state(dir);
    if let Some(pid) = state
        .pid
        .filter(|_| state.running() && container::process_alive(state.pid, state.init_start))
    {
        return Ok(Access::Join(pid));
    }
    if writable {
        // A writable view beside another session's mount of the layer
        // would be a second overlay on it (in that session, the view is
        // its mount).
        let merged = container::read_spec(dir)?.merged;
        container::session::check_not_held_elsewhere(dir, &merged, name)?;
    }
    let mut access = view(ctx, dir, writable)?;
    if let Access::View {
        mounts,
        fill_volumes,
        ..
    } = &mut access
    {
        // As docker: the copy reaches the volumes and bind mounts, not
        // the layer under them.
        *mounts = container::read_config(dir).map_or_else(Vec::new, |c| c.mounts);
        // The layers are viewed with the default mapping: a keep-id or
        // `--uidmap` container's volume is filled by its own start instead
        // (filled here, it would hold the image's owners unshifted, and a
        // volume no longer empty is not given to the `--uidmap` root).
        let spec = container::read_spec(dir)?;
        *fill_volumes = !spec.keep_id && spec.id_maps.is_none();
    }
    Ok(access)
}

/// Enters the user namespace with the container's id mapping and
/// describes a mount of its layers (without its volumes: `export`).
pub fn view(ctx: &Ctx, dir: &Path, writable: bool) -> Result<Access> {
    // The default mapping even under keep-id: the layers are stored in
    // its layout, and a running keep-id container shows them so too.
    rless::runtime::ids::enter(&ctx.ids, false, false)?;
    view_here(dir, writable)
}

/// [`view`] for a process in the user namespace already (`commit`'s).
pub fn view_here(dir: &Path, writable: bool) -> Result<Access> {
    let spec = container::read_spec(dir)?;
    let state = container::read_state(dir);
    Ok(Access::View {
        rootfs: spec.rootfs,
        mountpoint: dir.join("merged"),
        writable,
        fuse: state.driver.as_deref() == Some("fuse-overlay"),
        mounts: Vec::new(),
        fill_volumes: false,
    })
}

/// What the copy does where it meets a directory for a non-directory or
/// the reverse.
fn clash(a: &Args) -> cp::Clash {
    match a.overwrite {
        true => cp::Clash::Replace,
        false => cp::Clash::Refuse,
    }
}

fn missing(shown: &str) -> AgentError {
    AgentError::Cp(cp::CpError::NotFound(shown.to_string()))
}

fn copy_out(mut agent: Agent, a: &Args, src: &str, host: &str, shown: &str) -> Result<()> {
    let Some(kind) = agent.stat(src, a.follow_link)? else {
        return Err(missing(shown).into());
    };
    let contents = src.ends_with("/.");
    if host == "-" {
        let spec = PackSpec {
            path: src.into(),
            name: if contents {
                None
            } else {
                Some(base_name(src).unwrap_or(".").to_string())
            },
            follow: a.follow_link,
            zero_ids: false,
            skip: Vec::new(),
        };
        let mut out = std::io::stdout().lock();
        return Ok(agent.pack(spec, |r| {
            std::io::copy(r, &mut out)
                .map(drop)
                .map_err(|e| AgentError::Sys {
                    op: "write to stdout",
                    source: e,
                })
        })?);
    }
    let tree = Tree::open(Path::new("/"))?;
    let dst = follow_links(&host_abs(host)?, |p| tree.link_target(p))?;
    let dst_kind = tree.stat(&dst, true)?;
    let parent_dir = tree.stat(&parent_of(&dst), true)? == Some(Kind::Dir);
    // The user's words in messages, unless a link led elsewhere.
    let planned = if dst == host_abs(host)? { host } else { &dst };
    let plan = cp::plan(
        src,
        kind,
        planned,
        dst_kind.map(|k| k == Kind::Dir),
        parent_dir,
    )?;
    let dir = if dst_kind == Some(Kind::Dir) {
        dst.clone()
    } else {
        parent_of(&dst)
    };
    let spec = PackSpec {
        path: src.into(),
        name: plan.name,
        follow: a.follow_link,
        zero_ids: false,
        skip: Vec::new(),
    };
    agent.pack(spec, |r| {
        Ok(tree.unpack_with(&dir, r, Owner::Caller, clash(a))?)
    })?;
    Ok(())
}

/// A destination that is a symlink, followed (as docker: the copy goes
/// where the link leads, even a missing file); at most 40 links.
fn follow_links<E>(
    dst: &str,
    mut target: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<String, E> {
    let mut dst = dst.to_string();
    for _ in 0..40 {
        match target(&dst)? {
            Some(t) => dst = t,
            None => break,
        }
    }
    Ok(dst)
}

fn copy_in(mut agent: Agent, a: &Args, host: &str, dst: &str, shown: &str) -> Result<()> {
    let owner = if a.archive { Owner::Keep } else { Owner::Root };
    let dst = &follow_links(dst, |p| agent.link_target(p))?;
    let dst_kind = agent.stat(dst, true)?;
    if host == "-" {
        match dst_kind {
            Some(Kind::Dir) => {}
            Some(_) => bail!("{shown} must be a directory to extract a tar stream into"),
            None => return Err(missing(shown).into()),
        }
        let mut stdin = std::io::stdin().lock();
        agent.unpack_with(dst, owner, clash(a), |w| {
            std::io::copy(&mut stdin, w)
                .map(drop)
                .map_err(|e| AgentError::Sys {
                    op: "send the tar stream",
                    source: e,
                })
        })?;
        return Ok(());
    }
    let src = host_abs(host)?;
    let tree = Tree::open(Path::new("/"))?;
    let Some(kind) = tree.stat(&src, a.follow_link)? else {
        bail!(
            "{}: no such file or directory",
            PathBuf::from(host).display()
        );
    };
    let parent_dir = match dst_kind {
        Some(_) => true,
        None => agent.stat(&parent_of(dst), true)? == Some(Kind::Dir),
    };
    let plan = cp::plan(
        host,
        kind,
        dst,
        dst_kind.map(|k| k == Kind::Dir),
        parent_dir,
    )?;
    let spec = PackSpec {
        path: src,
        name: plan.name,
        follow: a.follow_link,
        zero_ids: true,
        skip: Vec::new(),
    };
    agent.unpack_with(&plan.dir, owner, clash(a), |w| Ok(tree.pack(&spec, w)?))?;
    Ok(())
}
