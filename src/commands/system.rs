//! `rless system reset -f`: delete the whole store, from inside the user
//! namespace (layer files may belong to subordinate ids).

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::image::store::{remove_tree, LockMode};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ResetArgs {
    /// Really delete everything.
    #[arg(short, long)]
    force: bool,
}

pub fn reset(ctx: &Ctx, a: ResetArgs) -> Result<ExitCode> {
    if !a.force {
        bail!(
            "system reset deletes every image and container in {}; pass -f to confirm",
            ctx.root.display()
        );
    }
    if !ctx.root.exists() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Exclusive)?;
    let mut errors = Vec::new();
    // Running containers go first: their processes must not outlive the
    // store they run from.
    for c in rless::container::list(&store) {
        let dir = rless::container::containers_dir(&store).join(c.id.as_str());
        if rless::container::read_state(&dir).live()
            && rless::container::control::kill_now(&dir).is_none()
        {
            errors.push(format!("container {} did not stop", c.id.short()));
        }
    }
    let entries = std::fs::read_dir(store.root())
        .with_context(|| format!("cannot list {}", ctx.root.display()))?;
    for e in entries.flatten() {
        // The lock file stays until we are done; it is removed last.
        if e.file_name() == "store.lock" {
            continue;
        }
        if let Err(err) = remove_tree(&e.path()) {
            errors.push(err.to_string());
        }
    }
    if !errors.is_empty() {
        bail!("{} ({} errors in all)", errors[0], errors.len());
    }
    let _ = std::fs::remove_file(store.root().join("store.lock"));
    drop(store);
    let _ = std::fs::remove_dir(&ctx.root);
    Ok(ExitCode::SUCCESS)
}
