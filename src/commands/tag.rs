//! `rless tag SOURCE TARGET`

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use rless::image::{add_image, find_image};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    source: String,
    target: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let target: Reference = a.target.parse()?;
    let Some(name) = target.tagged_name().filter(|_| target.digest.is_none()) else {
        bail!(
            "tag target {:?} must be a name with an optional tag, not a digest",
            a.target
        );
    };
    let store = ctx.store(LockMode::Shared)?;
    let mut record = find_image(&store.index()?, &a.source)?.clone();
    record.names = vec![name];
    record.digests.clear();
    record.pulled_by_digest.clear();
    add_image(&store, record)?;
    Ok(ExitCode::SUCCESS)
}
