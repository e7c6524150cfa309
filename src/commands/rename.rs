//! `rless rename CTR NEW_NAME`

use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    container: String,
    name: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    container::rename(&store, &a.container, &a.name)?;
    Ok(ExitCode::SUCCESS)
}
