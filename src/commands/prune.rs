//! `rless image prune [-a] [-f]`: remove dangling images (with `-a`, every
//! image no container uses), then unreferenced layers and blobs. The
//! intermediate images of a build that runs are left to it
//! (`build::record`).

use super::Ctx;
use anyhow::Result;
use rless::image::store::LockMode;
use rless::image::time::human_size;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all images not used by a container, not only untagged ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask (accepted for docker compatibility; rless never asks).
    #[arg(short, long)]
    force: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.force;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Exclusive)?;
    // The intermediate images of running builds are theirs.
    let building = super::build::live_images(&ctx.root);
    let removed = store.update_index(|index| {
        let mut removed = Vec::new();
        index.images.retain(|i| {
            let unused = (a.all || i.dangling())
                && !building.contains(i.id.hex())
                && super::rmi::containers_using(&store, i.id.hex()).is_empty();
            if unused {
                removed.push(i.id.clone());
            }
            !unused
        });
        removed
    })?;
    if !removed.is_empty() {
        println!("Deleted Images:");
        for id in &removed {
            println!("{}", id.hex());
        }
    }
    let freed = super::rmi::collect(&store)?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(ExitCode::SUCCESS)
}
