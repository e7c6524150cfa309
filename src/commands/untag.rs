//! `rless untag IMAGE [NAME…]` (podman's; also `image untag`): removes the
//! names given (without any, every name and repo digest) from an image;
//! with the last name of a repository go its repo digests (as podman's),
//! but not a `repo@sha256:…` the image was pulled by.
//! The image itself stays, dangling once it has no name left, until
//! `rmi` or `image prune` takes it; nothing else changes. Every NAME is
//! checked before any goes: one the image does not have is an error.

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::find_image;
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    image: String,
    names: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let mut wanted = Vec::new();
    for n in &a.names {
        let r: Reference = n.parse()?;
        match r.tagged_name().filter(|_| r.digest.is_none()) {
            Some(name) => wanted.push((n.as_str(), name)),
            None => bail!("untag {n:?}: give a name with an optional tag, not a digest"),
        }
    }
    let store = ctx.store(LockMode::Exclusive)?;
    store.update_index(|index| -> Result<()> {
        let id = find_image(index, &a.image)?.id.clone();
        let img = index
            .images
            .iter_mut()
            .find(|i| i.id == id)
            .expect("found above");
        if wanted.is_empty() {
            img.names.clear();
            img.digests.clear();
            img.pulled_by_digest.clear();
            return Ok(());
        }
        if let Some((given, _)) = wanted.iter().find(|(_, w)| !img.names.contains(w)) {
            bail!("image {} has no name {given}", a.image);
        }
        img.names.retain(|n| !wanted.iter().any(|(_, w)| w == n));
        // podman's: a repository's repo digests go with its last name
        // (those it was pulled by stay: they are references of their own).
        let repo_of = |n: &str| n.parse::<Reference>().map(|r| r.name()).ok();
        let left: Vec<String> = img.names.iter().filter_map(|n| repo_of(n)).collect();
        let gone: Vec<String> = wanted
            .iter()
            .filter_map(|(_, w)| repo_of(w))
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
