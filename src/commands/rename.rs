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
    let old = container::rename(&store, &a.container, &a.name)?;
    // On user networks, a running container's DNS name changes now.
    let (c, dir) = container::find(&store, &a.name)?;
    let on_user_networks = container::read_spec(&dir).is_ok_and(|s| s.user_networks.is_some());
    if on_user_networks && container::read_state(&dir).running() {
        let req = rless::network::helper::Request::Rename {
            container: c.id.as_str().to_string(),
            from: old.clone(),
            to: a.name.clone(),
        };
        if let Err(e) = rless::network::client::change(&ctx.root, &req) {
            tracing::warn!("the network helper did not take the new name: {e}");
        }
    }
    // A pod member's name is its infra container's too.
    rless::network::podnames::member_renamed(&ctx.root, &c, &old);
    Ok(ExitCode::SUCCESS)
}
