//! `rless save [-o FILE] [-m] [--format docker-archive|oci-archive] IMAGE...`
//!
//! Several images go into one archive, each with its names, as docker's
//! `save` and podman's `save -m` (`--multi-image-archive`) write them; `-m`
//! is accepted for podman's scripts and changes nothing (podman without it
//! would take the other names as tags of the first image).
//!
//! Writes a regular FILE through a temporary file in the same directory,
//! renamed into place once complete, so a failed save (or one stopped by
//! SIGINT, SIGTERM or SIGHUP: rless::interrupt) leaves no partial archive
//! and FILE as it was; any other FILE (a FIFO, `/dev/null`, `/dev/stdout`)
//! is written in place and never removed ([`super::outfile`]). Without
//! `-o` the archive goes to standard output (never a terminal).

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::archive::save::{save, SaveItem};
use rless::image::archive::Format;
use rless::image::find_image;
use rless::image::reference::Reference;
use rless::image::store::{ImageRecord, Index, LockMode};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// docker-archive (default, as docker) or oci-archive.
    #[arg(long, default_value = "docker-archive")]
    format: Format,
    /// Print nothing (accepted for podman compatibility).
    #[arg(short, long)]
    quiet: bool,
    /// Several images in one archive (podman's; always so in rless, as in
    /// docker).
    #[arg(short, long)]
    multi_image_archive: bool,
    /// podman's, for its directory formats: compress the layers (the
    /// archives keep layers as stored; accepted, no effect).
    #[arg(long, conflicts_with = "uncompressed")]
    compress: bool,
    /// podman's, for its directory formats: uncompressed layers
    /// (docker-archive's are; oci-archive keeps them as stored).
    #[arg(long)]
    uncompressed: bool,
    /// Images by name or id; a name is kept in the archive, an id saves the
    /// image without names (as docker).
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = (a.quiet, a.multi_image_archive, a.compress, a.uncompressed);
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!(
            "refusing to write an image archive to a terminal: use -o FILE or redirect the output"
        );
    }
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    let mut items: Vec<SaveItem> = Vec::new();
    for q in &a.images {
        for (image, name) in resolve(&index, q)? {
            match items.iter_mut().find(|i| i.image.id == image.id) {
                Some(item) => item.names.extend(name.filter(|n| !item.names.contains(n))),
                None => items.push(SaveItem {
                    image,
                    names: name.into_iter().collect(),
                    // The stored name a short one found (`localhost/app@…`),
                    // not Docker Hub's.
                    digest_ref: rless::image::stored_reference(&index, q)
                        .parse::<Reference>()
                        .ok()
                        .and_then(|r| Some(format!("{}@{}", r.name(), r.digest?))),
                }),
            }
        }
    }
    match &a.output {
        Some(path) => write_atomically(path, |f| {
            Ok(save(
                &store,
                &items,
                a.format,
                // A signal stops the writing; the temporary file goes.
                BufWriter::with_capacity(1 << 20, rless::interrupt::Checked(f)),
                path,
            )?)
        })?,
        None => {
            let out = std::io::stdout().lock();
            save(
                &store,
                &items,
                a.format,
                BufWriter::with_capacity(1 << 20, out),
                Path::new("standard output"),
            )?;
        }
    }
    for i in &items {
        let name = i.names.first().map_or("", String::as_str);
        rless::events::image(store.root(), "save", i.image.id.hex(), name);
    }
    Ok(ExitCode::SUCCESS)
}

/// The images (and the name each is saved under) one argument names. As in
/// docker, a repository without a tag (`busybox`) means every tag of it;
/// a tag, digest or id means that one image.
fn resolve<'a>(index: &'a Index, q: &str) -> Result<Vec<(&'a ImageRecord, Option<String>)>> {
    // A short name: under the name of the image it finds.
    let named = rless::image::stored_reference(index, q);
    let reference = named.parse::<Reference>().ok();
    let last = q.rsplit('/').next().unwrap_or(q);
    if let Some(r) = reference.as_ref().filter(|_| !last.contains([':', '@'])) {
        // The repository of the name found, else each one a short name may
        // stand for, in look-up order (`app` when only `localhost/app:1`
        // is stored, no `:latest` naming the repository).
        let candidates = rless::image::shortnames::configured().local_candidates(q);
        let repos = std::iter::once(r.name()).chain(candidates.iter().map(Reference::name));
        for repo in repos {
            let prefix = format!("{repo}:");
            let mut all = Vec::new();
            for image in &index.images {
                for n in image.names.iter().filter(|n| n.starts_with(&prefix)) {
                    all.push((image, Some(n.clone())));
                }
            }
            if !all.is_empty() {
                return Ok(all);
            }
        }
    }
    let image = find_image(index, q)?;
    let name = reference
        .and_then(|r| r.tagged_name())
        .filter(|n| image.names.contains(n));
    Ok(vec![(image, name)])
}

/// Writes `path` (see [`super::outfile`]: a regular file through a
/// temporary file renamed into place, anything else in place).
fn write_atomically(path: &Path, write: impl FnOnce(&File) -> Result<()>) -> Result<()> {
    let out = super::outfile::OutFile::create(path, "save")?;
    write(out.file())?;
    out.file().flush()?;
    out.commit()
}
