//! `rless import SOURCE NAME[:TAG]`: SOURCE is a tar file (plain, gzip,
//! zstd, xz or bzip2), `-` for standard input, or a directory.

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::image::import::{import_dir, import_tar};
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print only the image id (the default output is the id too).
    #[arg(short, long)]
    quiet: bool,
    /// A tar file, `-` for standard input, or a directory.
    source: PathBuf,
    /// The new image's name.
    name: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.quiet;
    let name: Reference = a.name.parse()?;
    if name.digest.is_some() {
        bail!(
            "import target {:?} must be a name with an optional tag, not a digest",
            a.name
        );
    }
    let stdin = a.source == Path::new("-");
    if !stdin {
        std::fs::metadata(&a.source)
            .with_context(|| format!("cannot read {}", a.source.display()))?;
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    let opts = super::extract_options(ctx);
    let image = if stdin {
        import_tar(
            &store,
            std::io::stdin().lock(),
            Path::new("standard input"),
            &name,
            &opts,
        )?
    } else if a.source.is_dir() {
        import_dir(&store, &a.source, &name, &opts)?
    } else {
        let f = std::fs::File::open(&a.source)
            .with_context(|| format!("cannot open {}", a.source.display()))?;
        import_tar(&store, f, &a.source, &name, &opts)?
    };
    rless::events::image(store.root(), "import", image.id.hex(), &name.to_string());
    println!("{}", image.id.hex());
    Ok(ExitCode::SUCCESS)
}
