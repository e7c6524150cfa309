//! podman's `--replace`: a container that already has the new one's name
//! is removed first (`rless rm -f`, run as a child with this store, so it
//! stops and removes exactly as `rm -f` does, in its user namespace), once
//! everything else about the new container has been checked, so that a
//! bad option or a missing image leaves the old one alone.

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::store::Store;

/// `--replace` needs a name to replace, as podman says.
pub(super) fn check(replace: bool, name: Option<&str>) -> Result<()> {
    if replace && name.is_none() {
        bail!("cannot replace a container without --name being set");
    }
    Ok(())
}

/// Removes the container called `name`, if there is one.
pub(super) fn remove_named(ctx: &Ctx, store: &Store, name: &str) -> Result<()> {
    if !rless::container::list(store).iter().any(|c| c.name == name) {
        return Ok(());
    }
    let status = crate::commands::rm::force_remove_child(ctx, &[name], false, None)?;
    if !status.success() {
        // rm said why on stderr.
        bail!("cannot replace container {name:?}: its removal failed ({status})");
    }
    Ok(())
}
