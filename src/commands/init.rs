//! `rless init [--all | -l | CTR…]` (podman's; also `container init`):
//! makes a created or stopped container `initialized`, ready to start.
//!
//! Theory of operation: podman's init creates the container in its OCI
//! runtime (storage mounted, network made) so that `start` only runs it.
//! rless has no runtime state that outlives a process: its mounts and
//! network live in namespaces the monitor makes at each start. What init
//! can do ahead is check everything the start would need and that may
//! have gone since creation (the spec on disk, the image's layers, the
//! writable layer, the sources of bind mounts and volumes) and record the
//! `initialized` state (podman's word, which `ps`, `inspect` and
//! `ps --filter status=initialized` show), with an `init` event. A
//! container in a state podman refuses (running, paused, already
//! initialized) is refused in podman's words; `--all` passes over those.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, ContainerState};
use rless::image::store::LockMode;
use rless::runtime::plan::MountOp;
use rless::runtime::rootfs::RootFs;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Initialize every container that can be (podman's).
    #[arg(short, long, conflicts_with = "containers")]
    all: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[arg(required_unless_present_any = ["all", "latest"])]
    containers: Vec<String>,
}

/// Why a container cannot be initialized.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// podman's words (`container state improper`).
    #[error("container {0} has already been created in runtime: container state improper")]
    AlreadyCreated(String),
    #[error("container {0} is marked for removal and cannot be initialized")]
    Removing(String),
    #[error("cannot initialize container {id}: {what} {path} is missing")]
    Missing {
        id: String,
        what: &'static str,
        path: std::path::PathBuf,
    },
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    a.latest.check_all(a.all)?;
    let names = match a.all {
        true => super::stop::all_ids(ctx, |s| s.status != "removing")?,
        false => a.latest.or_names(ctx, &a.containers)?,
    };
    let mut failed = super::stop::Failures::default();
    for q in &names {
        match init_one(ctx, q) {
            Ok(()) => println!("{q}"),
            // As podman's --all: those already past init are listed too.
            Err(e) if a.all && e.downcast_ref::<InitError>().is_some() => println!("{q}"),
            Err(e) => failed.add(e),
        }
    }
    failed.finish(ExitCode::SUCCESS)
}

fn init_one(ctx: &Ctx, q: &str) -> Result<()> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, q)?;
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let id = c.id.as_str().to_string();
    check_state(&id, &container::read_state(&dir))?;
    let spec = container::read_spec(&dir)?;
    check_paths(&id, &spec)?;
    let mut refused = None;
    container::update_state(&dir, |s| {
        // Changed since read (a start in between): as podman, refused.
        if let Err(e) = check_state(&id, s) {
            refused = Some(e);
            return false;
        }
        s.status = "initialized".into();
        true
    })?;
    if let Some(e) = refused {
        return Err(e.into());
    }
    rless::events::container(&dir, "init", &[]);
    Ok(())
}

/// podman initializes configured (`created`) and stopped containers only.
fn check_state(id: &str, s: &ContainerState) -> Result<(), InitError> {
    match s.status.as_str() {
        "created" | "exited" => Ok(()),
        "removing" => Err(InitError::Removing(id.to_string())),
        _ => Err(InitError::AlreadyCreated(id.to_string())),
    }
}

/// What the start would need and may have gone since creation.
fn check_paths(id: &str, spec: &rless::runtime::ContainerSpec) -> Result<()> {
    let missing = |what: &'static str, path: &Path| -> Result<()> {
        if path.symlink_metadata().is_err() {
            bail!(InitError::Missing {
                id: id.to_string(),
                what,
                path: path.to_path_buf(),
            });
        }
        Ok(())
    };
    match &spec.rootfs {
        RootFs::Layers(l) => {
            for layer in &l.lower {
                missing("image layer", &l.layers_dir.join(layer))?;
            }
            missing("writable layer", &l.upper)?;
        }
        RootFs::Dir(d) => missing("root filesystem", d)?,
    }
    for m in &spec.plan {
        match m {
            MountOp::Bind { source, .. } => missing("bind mount source", source)?,
            MountOp::Volume { source, .. } => missing("volume", source)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_states_for_init() {
        let s = |status: &str| ContainerState {
            status: status.into(),
            ..Default::default()
        };
        assert!(check_state("x", &s("created")).is_ok());
        assert!(check_state("x", &s("exited")).is_ok());
        for st in ["running", "initialized", "restarting"] {
            let e = check_state("abc", &s(st)).unwrap_err().to_string();
            assert_eq!(
                e,
                "container abc has already been created in runtime: container state improper"
            );
        }
        assert!(matches!(
            check_state("x", &s("removing")),
            Err(InitError::Removing(_))
        ));
    }
}
