//! `rless import [-c CHANGE] [-m MESSAGE] SOURCE [NAME[:TAG]]`: SOURCE is a
//! tar file (plain, gzip, zstd, xz or bzip2), `-` for standard input, or a
//! directory; without NAME the image has none, as docker's. Prints the
//! image id as `sha256:…`, as docker and podman do.

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::image::import::{import_dir, import_tar, ImportMeta};
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print only the image id (the default output is the id too).
    #[arg(short, long)]
    quiet: bool,
    /// A Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.
    #[arg(short, long)]
    change: Vec<String>,
    /// The image's comment (and its history entry's).
    #[arg(short, long)]
    message: Option<String>,
    /// The OS the image is for (podman's; default: this host's).
    #[arg(long, value_name = "OS")]
    os: Option<String>,
    /// The architecture the image is for (default: this host's).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// The architecture's variant.
    #[arg(long, value_name = "VARIANT")]
    variant: Option<String>,
    /// A tar file, `-` for standard input, or a directory.
    source: PathBuf,
    /// The new image's name (none: an image without a name).
    name: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.quiet;
    // A short name is `localhost/NAME`, as podman's.
    let name: Option<Reference> = a
        .name
        .as_deref()
        .map(rless::image::shortnames::local_name)
        .transpose()?;
    if name.as_ref().is_some_and(|n| n.digest.is_some()) {
        bail!(
            "import target {:?} must be a name with an optional tag, not a digest",
            a.name.as_deref().unwrap_or_default()
        );
    }
    // The changes are checked before anything is read or stored.
    let mut probe = serde_json::Map::new();
    for ch in &a.change {
        rless::image::change::apply(&mut probe, ch)?;
    }
    let platform = rless::image::platform::Platform::from_parts(
        a.os.as_deref(),
        a.arch.as_deref(),
        a.variant.as_deref(),
    )?;
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
    let meta = ImportMeta {
        name: name.as_ref(),
        changes: &a.change,
        message: a.message.as_deref(),
        platform: platform.as_ref(),
    };
    let image = if stdin {
        import_tar(
            &store,
            std::io::stdin().lock(),
            Path::new("standard input"),
            &meta,
            &opts,
        )?
    } else if a.source.is_dir() {
        import_dir(&store, &a.source, &meta, &opts)?
    } else {
        let f = std::fs::File::open(&a.source)
            .with_context(|| format!("cannot open {}", a.source.display()))?;
        import_tar(&store, f, &a.source, &meta, &opts)?
    };
    let shown = name.as_ref().map(ToString::to_string).unwrap_or_default();
    rless::events::image(store.root(), "import", image.id.hex(), &shown);
    println!("sha256:{}", image.id.hex());
    Ok(ExitCode::SUCCESS)
}
