//! `run`/`create --uidmap/--gidmap` (podman's): the checks.
//!
//! The maps are parsed and checked against the ids the user has
//! ([`rless::runtime::idmap::parse`]) before anything is made. The
//! container's own user namespace is nested in the default one, so it
//! cannot join another container's namespaces (pods, `--network
//! container:X`, user-defined networks, which join the network helper's
//! namespace), and its root must be served by fuse-overlay (kernel
//! overlayfs, mounted inside, would show the image's owners shifted).

use anyhow::{bail, Result};
use rless::runtime::idmap::{self, IdMaps};
use rless::runtime::storage::Driver;

/// The maps `--uidmap`/`--gidmap` give (`None`: the default namespace),
/// checked against everything else asked for; the storage driver becomes
/// fuse-overlay.
pub(super) fn check(
    ctx: &super::Ctx,
    a: &super::Args,
    shares: bool,
    driver: &mut Driver,
) -> Result<Option<IdMaps>> {
    let m = &a.more;
    if let Some(flag) = [
        ("--subuidname", m.subuidname.is_some()),
        ("--subgidname", m.subgidname.is_some()),
    ]
    .into_iter()
    .find_map(|(f, given)| given.then_some(f))
    {
        bail!("{flag} is not supported: give the map itself with --uidmap and --gidmap");
    }
    let userns_given = !a.userns.is_empty();
    let Some(maps) = idmap::parse(&m.uidmap, &m.gidmap, idmap::parent_max(&ctx.ids))? else {
        return Ok(None);
    };
    // A pod's member takes the pod's --userns: the pod is the conflict.
    check_shares(Some(&maps), a.pod.is_some() || shares)?;
    if userns_given {
        bail!("--userns and --uidmap/--gidmap/--subuidname/--subgidname are mutually exclusive");
    }
    if a.rootfs.is_some() {
        bail!("--uidmap/--gidmap cannot be used with --rootfs: only an image's layers can be shown with their owners through the map");
    }
    match *driver {
        Driver::Overlay => bail!("--uidmap/--gidmap need the fuse-overlay storage driver (the overlay driver was chosen): kernel overlayfs cannot show the image's file owners through the container's map"),
        _ if std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse").is_err() => {
            bail!("--uidmap/--gidmap need /dev/fuse (fuse-overlay), which cannot be opened here")
        }
        _ => *driver = Driver::FuseOverlay,
    }
    Ok(Some(maps))
}

/// A container with its own map (`maps`) cannot share another's
/// namespaces (`shares`), which belong to another user namespace.
pub(super) fn check_shares(maps: Option<&IdMaps>, shares: bool) -> Result<()> {
    if maps.is_some() && shares {
        bail!("--uidmap/--gidmap cannot be used with a pod, another container's namespaces or user-defined networks: the container has a user namespace of its own");
    }
    Ok(())
}
