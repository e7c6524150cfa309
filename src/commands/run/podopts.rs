//! `run`/`create --pod NAME` and `--requires CTR[,CTR]` (podman's).
//!
//! Theory of operation: both are checked before anything is made (an
//! unknown pod or required container is an error then). The container
//! records the pod's id and the required names in its `config.json`; `start`
//! (and `run`, just before the container starts) starts every required
//! container that is not running first, as podman does
//! ([`crate::commands::pod::start_required`]). The pod is looked up again
//! under the `pods` lock ([`lock_pod`]), held until the container is
//! recorded, so a concurrent `pod rm` sees the new member or the create
//! fails.

use super::{Args, Ctx};
use anyhow::{bail, Result};

/// What `--pod` and `--requires` asked for, checked.
#[derive(Debug, Default)]
pub(super) struct PodOpts {
    /// The pod's id.
    pub pod: Option<String>,
    pub requires: Vec<String>,
}

pub(super) fn check(ctx: &Ctx, a: &Args) -> Result<PodOpts> {
    let pod = match a.pod.as_deref() {
        None | Some("") => None,
        Some(p) if p.starts_with("new:") => {
            bail!("--pod new:NAME is not supported: make the pod first (rless pod create --name NAME)")
        }
        Some(p) => Some(rless::container::pod::read(&ctx.root, p)?.id),
    };
    let mut requires = Vec::new();
    for r in a.requires.iter().flat_map(|r| r.split(',')) {
        if r.is_empty() {
            bail!(
                "invalid --requires {:?}: name containers, separated by ','",
                a.requires.join(",")
            );
        }
        if !crate::commands::pod::container_exists(&ctx.root, r) {
            bail!("--requires {r}: no such container");
        }
        if !requires.iter().any(|q| q == r) {
            requires.push(r.to_string());
        }
    }
    Ok(PodOpts { pod, requires })
}

/// Takes the `pods` lock and checks that the pod with id `pod` (`given`
/// on the command line) still exists under it.
pub(super) fn lock_pod(
    store: &rless::image::store::Store,
    pod: &str,
    given: &str,
) -> Result<std::fs::File> {
    let lock = rless::container::pod::lock(store)?;
    if rless::container::pod::by_id(store.root(), pod).is_none() {
        bail!(rless::container::pod::PodError::NotFound(given.to_string()));
    }
    Ok(lock)
}
