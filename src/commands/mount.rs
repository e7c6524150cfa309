//! `rless mount [CTR…]` and `rless umount|unmount [-a] [-f] CTR…`
//! (podman's, also under `container`): a container's root filesystem at a
//! path the user's own tools can read and change, for scripts that fill or
//! inspect a container from outside (`cp` into it, then `commit`).
//!
//! As rootless podman's, they work inside `rless unshare` only, whose
//! mount namespace holds the mounts until its command ends
//! ([`rless::container::session`]); real root mounts where it runs. With
//! no container, `mount` lists what is mounted in this session.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, session};
use rless::image::store::LockMode;
use rless::runtime::rootfs::RootFs;
use rless::userns::IdMode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MountArgs {
    /// Print full container ids in the listing.
    #[arg(long, alias = "no-trunc")]
    notruncate: bool,
    /// Containers to mount (none: list the mounted ones).
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct UmountArgs {
    /// Unmount every container mounted in this session.
    #[arg(short, long)]
    all: bool,
    /// Unmount even while a process uses the mount (lazily).
    #[arg(short, long)]
    force: bool,
    /// Containers to unmount.
    #[arg(required_unless_present = "all")]
    containers: Vec<String>,
}

/// Mounting needs the mount namespace of an `rless unshare` (or real root).
fn check_session(ctx: &Ctx, command: &str) -> Result<()> {
    if matches!(ctx.ids, IdMode::Root) || rless::userns::in_mount_session() {
        return Ok(());
    }
    bail!(
        "cannot run \"rless {command}\" in rootless mode, must run it in \"rless unshare\" first \
         (its mounts last as long as that command)"
    )
}

pub fn mount(ctx: &Ctx, a: MountArgs) -> Result<ExitCode> {
    check_session(ctx, "mount")?;
    let store = ctx.store(LockMode::Shared)?;
    if a.containers.is_empty() {
        for c in container::list(&store) {
            let dir = container::containers_dir(&store).join(c.id.as_str());
            let Ok(spec) = container::read_spec(&dir) else {
                continue;
            };
            if session::is_mounted(&spec.merged) {
                let id = if a.notruncate {
                    c.id.as_str()
                } else {
                    c.id.short()
                };
                // podman's columns: its table pads the id by two.
                println!("{id}  {}", spec.merged.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for name in &a.containers {
        match mount_one(&store, name) {
            Ok(path) => println!("{}", path.display()),
            Err(e) => {
                eprintln!("rless: {}", super::error_line(&e));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(125)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where `name`'s root filesystem is reachable, mounted if need be.
fn mount_one(store: &rless::image::store::Store, name: &str) -> Result<PathBuf> {
    let (c, dir) = container::find(store, name)?;
    // No start (nor another mount) between the checks and the record.
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let state = container::read_state(&dir);
    let spec = container::read_spec(&dir)?;
    // Mounted by another session: a second mount here is refused.
    session::check_not_held_elsewhere(&dir, &spec.merged, name)?;
    // Started in this session while mounted here, it runs on this mount.
    if state.running() && session::is_mounted(&spec.merged) {
        return Ok(spec.merged.clone());
    }
    if state.running() {
        // Its root is mounted in its own namespaces, which an `rless
        // unshare` (a sibling user namespace) may not enter; a second
        // mount of the same writable layer would be undefined behaviour.
        bail!(
            "container {name} is running: stop it to mount it (\"rless exec\" and \"rless cp\" reach its files)"
        );
    }
    match &spec.rootfs {
        RootFs::Dir(d) => Ok(d.clone()),
        RootFs::Layers(layers) => {
            let made = session::mount(layers, &spec.merged)?;
            // Other sessions and the host learn of it (their `start` and
            // `mount` refuse it while it lasts).
            if let Err(e) = session::record_holder(&dir) {
                if made {
                    let _ = session::umount(&spec.merged, true);
                }
                return Err(e.into());
            }
            Ok(spec.merged.clone())
        }
    }
}

pub fn umount(ctx: &Ctx, a: UmountArgs) -> Result<ExitCode> {
    check_session(ctx, "umount")?;
    let store = ctx.store(LockMode::Shared)?;
    let mut targets = Vec::new();
    let mut failed = false;
    if a.all {
        for c in container::list(&store) {
            let dir = container::containers_dir(&store).join(c.id.as_str());
            if let Ok(spec) = container::read_spec(&dir) {
                if session::is_mounted(&spec.merged) {
                    targets.push((c.id.to_string(), dir, spec.merged));
                }
            }
        }
    } else {
        // One that is missing is named, and the others still unmounted.
        for name in &a.containers {
            let found = container::find(&store, name)
                .map_err(anyhow::Error::from)
                .and_then(|(_, dir)| {
                    let merged = container::read_spec(&dir)?.merged;
                    // Another session's mount is not reachable from here.
                    session::check_not_held_elsewhere(&dir, &merged, name)?;
                    Ok((name.clone(), dir, merged))
                });
            match found {
                Ok(t) => targets.push(t),
                Err(e) => {
                    eprintln!("rless: {}", super::error_line(&e));
                    failed = true;
                }
            }
        }
    }
    for (name, dir, merged) in targets {
        // As podman 4.3's: the name as given (with `-a`, the full id),
        // also of a container that was not mounted.
        match session::umount(&merged, a.force) {
            Ok(_) => {
                session::forget_holder(&dir, &merged);
                println!("{name}");
            }
            Err(e) => {
                eprintln!("rless: {name}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(125)
    } else {
        ExitCode::SUCCESS
    })
}
