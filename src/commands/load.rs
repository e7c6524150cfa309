//! `rless load [-i FILE] [-q]`: images from a docker-archive or oci-archive
//! (file, or standard input), as `docker load`.

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::archive::{load::load, open_input};
use rless::image::familiar;
use rless::image::store::LockMode;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Read from this file instead of standard input.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Print only the image ids.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        bail!("no archive: use -i FILE or send one on standard input");
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    let members = open_input(a.input.as_deref(), &store.root().join("blobs/sha256"))?;
    let images = load(&store, &members, &super::extract_options(ctx))?;
    for img in images {
        let name = img.names.first().map_or("", String::as_str);
        rless::events::image(store.root(), "loadfromarchive", img.id.hex(), name);
        if a.quiet {
            println!("{}", img.id);
        } else if img.names.is_empty() {
            println!("Loaded image ID: {}", img.id);
        } else {
            for n in &img.names {
                println!("Loaded image: {}", familiar(n));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
