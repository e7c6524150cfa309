//! `rless tag SOURCE TARGET…`: one name or more (podman takes several),
//! each checked before any is added. A short name is `localhost/NAME`,
//! as podman's (`shortnames::local_name`).

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::shortnames::local_name;
use rless::image::store::LockMode;
use rless::image::{add_image, find_image};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    source: String,
    #[arg(required = true)]
    targets: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let mut names = Vec::new();
    for t in &a.targets {
        let target = local_name(t)?;
        let Some(name) = target.tagged_name().filter(|_| target.digest.is_none()) else {
            bail!("tag target {t:?} must be a name with an optional tag, not a digest");
        };
        names.push(name);
    }
    let store = ctx.store(LockMode::Shared)?;
    let record = find_image(&store.index()?, &a.source)?.clone();
    for name in names {
        let mut record = record.clone();
        record.names = vec![name];
        record.digests.clear();
        record.pulled_by_digest.clear();
        add_image(&store, record)?;
    }
    Ok(ExitCode::SUCCESS)
}
