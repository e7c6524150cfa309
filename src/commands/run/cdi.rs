//! `--device VENDOR/CLASS=NAME` and `--gpus`: CDI devices
//! ([`rless::cdi`]) resolved into the container's binds, environment,
//! groups and OCI hooks, all checked before anything is made.

use super::Args;
use anyhow::Result;
use rless::cdi::{self, Registry, Resolved};
use rless::container::mountspec::Requested;
use rless::runtime::hooks::{self, OciHooks};
use rless::runtime::plan::MountOp;
use std::collections::BTreeMap;
use std::path::Path;

/// The CDI devices `a` asks for, resolved; `None` without any (no spec
/// file is read then).
pub(super) fn resolve(a: &Args) -> Result<Option<Resolved>> {
    let mut names: Vec<String> = a
        .device
        .iter()
        .filter(|d| cdi::is_qualified(d))
        .cloned()
        .collect();
    if names.is_empty() && a.gpus.is_empty() {
        return Ok(None);
    }
    let reg = Registry::load(&cdi::spec_dirs())?;
    for g in &a.gpus {
        names.extend(cdi::gpus_to_names(g, &reg)?);
    }
    let resolved = reg.resolve(&names)?;
    Ok(Some(resolved))
}

/// The binds of the devices' nodes and mounts.
pub(super) fn binds(r: &Resolved) -> Vec<Requested> {
    let nodes = r.devices.iter().map(|(host, target)| MountOp::Bind {
        source: host.clone(),
        target: target.clone(),
        readonly: false,
    });
    let mounts = r.mounts.iter().map(|(host, target, ro)| MountOp::Bind {
        source: host.clone(),
        target: target.clone(),
        readonly: *ro,
    });
    nodes.chain(mounts).map(Requested::Mount).collect()
}

/// The additional group ids, as `--group-add` takes them; in single-id
/// mode (one group mapped) they are left out with a warning, and with
/// `--group-add keep-groups` (the caller's groups, which cannot be
/// combined with others) too.
pub(super) fn groups(r: &Resolved, a: &Args, ids: &rless::userns::IdMode) -> Vec<String> {
    if r.gids.is_empty() {
        return Vec::new();
    }
    if a.group_add
        .iter()
        .any(|g| g == rless::runtime::user::KEEP_GROUPS)
    {
        eprintln!(
            "rless: warning: CDI additionalGIDs {:?} left out: --group-add keep-groups keeps the caller's groups only",
            r.gids
        );
        return Vec::new();
    }
    if matches!(ids, rless::userns::IdMode::Single { .. }) {
        eprintln!(
            "rless: warning: CDI additionalGIDs {:?} left out: single-id mode maps one group only",
            r.gids
        );
        return Vec::new();
    }
    r.gids.iter().map(u32::to_string).collect()
}

/// The devices' hooks, kept in the container's `spec` with its bundle
/// written in `dir` (none without hooks).
pub(super) fn add_hooks(
    r: Option<&Resolved>,
    id: &str,
    dir: &Path,
    spec: &mut rless::runtime::ContainerSpec,
    annotations: &BTreeMap<String, String>,
) -> Result<()> {
    let Some(r) = r.filter(|r| !r.hooks.is_empty()) else {
        return Ok(());
    };
    let p = &spec.process;
    let bundle = hooks::write_bundle(
        dir,
        &spec.merged,
        (&p.args, &p.env, &p.cwd),
        &spec.hostname,
        annotations,
    )?;
    spec.hooks = Some(OciHooks {
        id: id.to_string(),
        bundle,
        annotations: annotations.clone(),
        hooks: r.hooks.clone(),
    });
    Ok(())
}
