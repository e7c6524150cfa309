//! `rless untag IMAGE [NAME…]` (podman's; also `image untag`): removes the
//! names given (without any, every name and repo digest) from an image;
//! with the last name of a repository go its repo digests (as podman's),
//! but not a `repo@sha256:…` the image was pulled by.
//! The image itself stays, dangling once it has no name left, until
//! `rmi` or `image prune` takes it; nothing else changes. Every NAME is
//! checked before any goes: one the image does not have is an error.

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use rless::image::{find_image, shortnames};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    image: String,
    names: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    // Each NAME with the names it may stand for (a short name: `localhost/`
    // first, as `tag` gives it; see `shortnames`).
    let mut asked = Vec::new();
    for n in &a.names {
        let r: Reference = n.parse()?;
        if r.digest.is_some() {
            bail!("untag {n:?}: give a name with an optional tag, not a digest");
        }
        let candidates: Vec<String> = shortnames::configured()
            .local_candidates(n)
            .iter()
            .filter_map(Reference::tagged_name)
            .collect();
        asked.push((n.as_str(), candidates));
    }
    let store = ctx.store(LockMode::Exclusive)?;
    store.update_index(|index| -> Result<()> {
        let id = find_image(index, &a.image)?.id.clone();
        let img = index
            .images
            .iter_mut()
            .find(|i| i.id == id)
            .expect("found above");
        if asked.is_empty() {
            img.names.clear();
            img.digests.clear();
            img.pulled_by_digest.clear();
            return Ok(());
        }
        let mut wanted = Vec::new();
        for (given, candidates) in &asked {
            match candidates.iter().find(|c| img.names.contains(c)) {
                Some(name) => wanted.push(name.clone()),
                None => bail!("image {} has no name {given}", a.image),
            }
        }
        img.names.retain(|n| !wanted.contains(n));
        // podman's: a repository's repo digests go with its last name
        // (those it was pulled by stay: they are references of their own).
        let repo_of = |n: &str| n.parse::<Reference>().map(|r| r.name()).ok();
        let left: Vec<String> = img.names.iter().filter_map(|n| repo_of(n)).collect();
        let gone: Vec<String> = wanted
            .iter()
            .filter_map(|w| repo_of(w))
            .filter(|r| !left.contains(r))
            .collect();
        let kept = img.pulled_by_digest.clone();
        img.digests.retain(|d| {
            kept.contains(d)
                || !d
                    .split_once('@')
                    .is_some_and(|(r, _)| gone.iter().any(|g| g == r))
        });
        Ok(())
    })??;
    Ok(ExitCode::SUCCESS)
}
