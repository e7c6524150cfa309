//! `rless commit [-c CHANGE] [-m MSG] [-a AUTHOR] CTR [IMAGE]`

use super::Ctx;
use anyhow::{Context, Result};
use rless::container;
use rless::image::commit::{commit, CommitRequest};
use rless::image::find_image;
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// Author.
    #[arg(short, long)]
    author: Option<String>,
    /// Pause the container while committing (docker's flag, `-p` or
    /// `--pause[=true|false]`; accepted, rless never pauses).
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pause: Option<bool>,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// The manifest's format: oci (default) or docker (podman's).
    #[arg(short, long, default_value = "oci")]
    format: rless::image::commit::ManifestFormat,
    container: String,
    image: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let name = a
        .image
        .as_deref()
        .map(str::parse::<Reference>)
        .transpose()?;
    if let (Some(r), Some(t)) = (&name, &a.image) {
        // As `tag`: it would make an image without any name.
        if r.digest.is_some() {
            anyhow::bail!("commit target {t:?} must be a name with an optional tag, not a digest");
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.container)?;
    // Validate the changes before entering the namespace.
    let mut probe = serde_json::Map::new();
    for ch in &a.change {
        rless::image::commit::apply_change(&mut probe, ch)?;
    }
    drop(store);
    let _ = (a.pause, a.quiet);
    container::flush_writes(&dir)?;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    if matches!(ctx.ids, rless::userns::IdMode::Single { .. }) {
        // As the namespace's root the writable layer is read whatever its
        // modes: a file the container made unreadable (`chmod 000`, a
        // directory without x) is still committed, as in subuid mode.
        rless::runtime::ids::enter(&ctx.ids, false, false)?;
        // Only now: unshare refuses a process with threads.
        rless::interrupt::install();
    }
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    let parent = if c.image_id.is_empty() {
        None
    } else {
        Some(find_image(&index, &c.image_id).context("the container's image is gone")?)
    };
    // Left out as docker does: the mount points rless made itself.
    let upper = dir.join("upper");
    let plan = container::read_spec(&dir)?.plan;
    let req = CommitRequest {
        upper: &upper,
        skip: &container::mountpoints::bare_mount_points(&upper, &plan),
        kernel_upper: container::read_state(&dir).driver.as_deref() == Some("overlay"),
        parent,
        changes: &a.change,
        message: a.message.as_deref(),
        author: a.author.as_deref(),
        name: name.as_ref(),
        format: a.format,
    };
    let image = commit(&store, &req, &super::extract_options(ctx))?;
    rless::events::container_after(&dir, &c, "commit", &[]);
    // For a build: written down while the store lock keeps `image prune`
    // out (see `build::record`).
    super::build::commit_made(image.id.hex())?;
    drop(store);
    println!("{}", image.id.hex());
    Ok(ExitCode::SUCCESS)
}
