//! `rless save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`
//!
//! Writes to FILE through a temporary file in the same directory, renamed
//! into place once complete, so a failed save (or one stopped by SIGINT,
//! SIGTERM or SIGHUP: rless::interrupt) leaves no partial archive;
//! without `-o` the archive goes to standard output (never a terminal).

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::archive::save::{save, SaveItem};
use rless::image::archive::Format;
use rless::image::find_image;
use rless::image::reference::Reference;
use rless::image::store::{tmp_name, ImageRecord, Index, LockMode};
use std::fs::{self, File};
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
    /// Images by name or id; a name is kept in the archive, an id saves the
    /// image without names (as docker).
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.quiet;
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
                    digest_ref: q
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
    Ok(ExitCode::SUCCESS)
}

/// The images (and the name each is saved under) one argument names. As in
/// docker, a repository without a tag (`busybox`) means every tag of it;
/// a tag, digest or id means that one image.
fn resolve<'a>(index: &'a Index, q: &str) -> Result<Vec<(&'a ImageRecord, Option<String>)>> {
    let reference = q.parse::<Reference>().ok();
    let last = q.rsplit('/').next().unwrap_or(q);
    if let Some(r) = reference.as_ref().filter(|_| !last.contains([':', '@'])) {
        let prefix = format!("{}:", r.name());
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
    let image = find_image(index, q)?;
    let name = reference
        .and_then(|r| r.tagged_name())
        .filter(|n| image.names.contains(n));
    Ok(vec![(image, name)])
}

/// Writes `path` through a temporary file in its directory.
fn write_atomically(path: &Path, write: impl FnOnce(&File) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(file_name) = path.file_name() else {
        bail!("cannot write to {}: not a file name", path.display());
    };
    if path.is_dir() {
        bail!("cannot write to {}: it is a directory", path.display());
    }
    let tmp = dir.join(format!(
        ".{}{}",
        file_name.to_string_lossy(),
        tmp_name("save")
    ));
    let f = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    rless::interrupt::remove_at_signal(&tmp);
    let result = write(&f)
        .and_then(|()| {
            (&f).flush()?;
            Ok(f.sync_all()?)
        })
        .and_then(|()| {
            fs::rename(&tmp, path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    rless::interrupt::forget(&tmp);
    result
}
