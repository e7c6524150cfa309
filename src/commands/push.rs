//! `rless push [-q] [--tls-verify=false] [--creds U:P] [--digestfile FILE] IMAGE [DEST]`
//!
//! DEST defaults to IMAGE's own name (as docker; a short name, the name
//! of the image it finds, see `image::shortnames`); an image named only by
//! its id needs a DEST. Prints the pushed manifest digest, and records it as a
//! repository digest of the image; podman's `--digestfile` also writes it
//! (`sha256:…`, no newline, as podman) to FILE.

use super::registry_opts::RegistryOpts;
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::image::commit::ManifestFormat;
use rless::image::find_image_as_pulled;
use rless::image::push::{push, PushRequest};
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print only the digest.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryOpts,
    /// The manifest's format at the destination: oci, v2s2 (docker's);
    /// default: as stored.
    #[arg(short, long, value_name = "oci|v2s2")]
    format: Option<String>,
    /// Layer compression: gzip (rless's only).
    #[arg(long = "compression-format", value_name = "gzip")]
    compression_format: Option<String>,
    /// Compress layers (they are anyway).
    #[arg(long)]
    compress: bool,
    /// Send no signatures (rless sends none).
    #[arg(long = "remove-signatures")]
    remove_signatures: bool,
    /// docker's image signing switch (no effect).
    #[arg(long = "disable-content-trust", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    disable_content_trust: Option<bool>,
    /// Refused: rless does not sign images.
    #[arg(long = "sign-by", value_name = "FINGERPRINT")]
    sign_by: Option<String>,
    /// Refused: rless does not sign images.
    #[arg(long = "sign-by-sigstore-private-key", value_name = "PATH")]
    sign_by_sigstore_private_key: Option<PathBuf>,
    /// Refused: rless does not sign images.
    #[arg(long = "sign-passphrase-file", value_name = "PATH")]
    sign_passphrase_file: Option<PathBuf>,
    /// Write the pushed manifest's digest to this file.
    #[arg(long, value_name = "FILE")]
    digestfile: Option<PathBuf>,
    /// The local image: name[:tag] or id.
    image: String,
    /// Where to push: host[:port]/path/name[:tag] (default: IMAGE's name).
    dest: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let format = manifest_format(a.format.as_deref())?;
    if let Some(c) = a.compression_format.as_deref().filter(|c| *c != "gzip") {
        bail!("--compression-format {c}: rless pushes gzip layers (and zstd ones as stored)");
    }
    if a.sign_by.is_some()
        || a.sign_by_sigstore_private_key.is_some()
        || a.sign_passphrase_file.is_some()
    {
        bail!("rless does not sign images (--sign-by…)");
    }
    let dest: Option<Reference> = a.dest.as_deref().map(str::parse).transpose()?;
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    let image = find_image_as_pulled(&index, &a.image)?;
    let dest = match dest {
        Some(d) => d,
        // A short name goes where the image it found is named after.
        None => match rless::image::stored_reference(&index, &a.image).parse::<Reference>() {
            Ok(r) if r.tagged_name().is_some_and(|n| image.names.contains(&n)) => r,
            _ => bail!(
                "{:?} is not an image name; give a destination: rless push IMAGE HOST/NAME[:TAG]",
                a.image
            ),
        },
    };
    if dest.digest.is_some() {
        bail!("cannot push to {dest}: a push destination needs a tag, not a digest");
    }
    let client = a.registry.connect_for(&dest)?;
    let progress = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if progress {
        eprintln!("Pushing {dest}");
    }
    let digest = push(
        &store,
        &client,
        &PushRequest {
            image: &image,
            label: &a.image,
            dest: &dest,
            progress,
            format,
        },
    )?;
    let repo_digest = format!("{}@{digest}", dest.name());
    store.update_index(|index| {
        if let Some(i) = index.images.iter_mut().find(|i| i.id == image.id) {
            if !i.digests.contains(&repo_digest) {
                i.digests.push(repo_digest.clone());
            }
        }
    })?;
    rless::events::image(store.root(), "push", image.id.hex(), &dest.to_string());
    if let Some(path) = &a.digestfile {
        let out = super::outfile::OutFile::create(path, "digestfile")?;
        std::io::Write::write_all(&mut out.file(), digest.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.commit()?;
    }
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// podman's `--format oci|v2s2` of push and manifest push (`None`: as
/// stored).
pub(super) fn manifest_format(f: Option<&str>) -> Result<Option<ManifestFormat>> {
    Ok(match f {
        None => None,
        Some("oci") => Some(ManifestFormat::Oci),
        Some("v2s2" | "docker") => Some(ManifestFormat::Docker),
        Some("v2s1") => bail!("--format v2s1: docker's schema 1 is not supported; use v2s2 or oci"),
        Some(f) => bail!("invalid --format {f:?}: use oci or v2s2"),
    })
}
