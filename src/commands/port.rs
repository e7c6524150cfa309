//! `rless port CTR`: published ports. Containers have a private network with
//! loopback only until the userspace network lands, so there are none yet.

use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    container: String,
    /// A container port to look up (PORT[/PROTO]).
    port: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, _) = container::find(&store, &a.container)?;
    if let Some(p) = a.port {
        anyhow::bail!("no public port {p} published for {}", c.name);
    }
    Ok(ExitCode::SUCCESS)
}
