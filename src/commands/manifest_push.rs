//! `rless manifest push [--all=false] [-f oci|v2s2] [--digestfile F]
//! [--rm] [-q] LIST [DEST]`: a list and its images to a registry.
//!
//! Theory of operation: with `--all` (podman 4's default) each entry's
//! image is pushed to DEST's repository under its manifest's digest, as
//! `push` sends an image (blobs first, then the manifest); what the
//! registry got may differ from what is stored (a plain layer is gzipped
//! on the way, `--format` converts), so the index is made from what each
//! push returned. Without `--all` only the index goes, and the registry
//! refuses it unless the repository has the images already. The index
//! goes last, under DEST's tag, so a failed push never leaves a tag on an
//! incomplete list. Prints the index's digest.

use super::registry_opts::RegistryOpts;
use super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use rless::image::commit::ManifestFormat;
use rless::image::digest::Digest;
use rless::image::lists::{self, ListError, DOCKER_LIST, OCI_INDEX};
use rless::image::push::{push_as, put_manifest, PushRequest};
use rless::image::reference::Reference;
use rless::image::store::LockMode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Push the list's images too (podman 4's default: true).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    all: bool,
    /// The format at the destination: oci, v2s2 (docker's); default: as stored.
    #[arg(short, long, value_name = "oci|v2s2")]
    format: Option<String>,
    /// Write the index's digest to this file.
    #[arg(long, value_name = "FILE")]
    digestfile: Option<PathBuf>,
    /// Remove the local list once pushed.
    #[arg(long)]
    rm: bool,
    /// Print nothing on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryOpts,
    list: String,
    /// Where to: host[:port]/path/name[:tag] (default: the list's name).
    dest: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let format = super::push::manifest_format(a.format.as_deref())?;
    let store = ctx.store(LockMode::Shared)?;
    let list = lists::read(&store)?
        .find(&a.list)
        .cloned()
        .ok_or_else(|| ListError::NotFound(a.list.clone()))?;
    let dest: Reference = a.dest.as_deref().unwrap_or(&list.name).parse()?;
    if dest.digest.is_some() {
        bail!("cannot push to {dest}: a push destination needs a tag, not a digest");
    }
    let index = store.index()?;
    // Every image is checked before anything is sent.
    let mut images = Vec::new();
    if a.all {
        for e in &list.entries {
            let img = index
                .images
                .iter()
                .find(|i| i.id == e.image)
                .ok_or_else(|| {
                    anyhow!(
                        "image {} of manifest list {} is no longer in the store",
                        e.image.short(),
                        list.name
                    )
                })?;
            images.push(img.as_pulled(&format!("{}@{}", dest.name(), e.digest)));
        }
    }
    let client = a.registry.connect_for(&dest)?;
    let progress = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut pushed = Vec::new();
    for img in &images {
        let p = push_as(
            &store,
            &client,
            &PushRequest {
                image: img,
                label: &list.name,
                dest: &dest,
                progress,
                format,
            },
            true,
        )?;
        pushed.push((p.digest, p.size, p.media_type));
    }
    let mut list = list;
    match format {
        Some(ManifestFormat::Oci) => list.media_type = OCI_INDEX.into(),
        Some(ManifestFormat::Docker) => list.media_type = DOCKER_LIST.into(),
        None => {}
    }
    let body = serde_json::to_vec_pretty(&list.index_json(&pushed)).expect("json");
    put_manifest(
        &client,
        &dest.repository,
        &dest.manifest_ref(),
        &list.media_type,
        &body,
    )?;
    let digest = Digest::of(&body);
    if let Some(path) = &a.digestfile {
        let out = super::outfile::OutFile::create(path, "digestfile")?;
        std::io::Write::write_all(&mut out.file(), digest.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.commit()?;
    }
    if a.rm {
        let name = list.name.clone();
        lists::update(&store, |all| {
            all.lists.retain(|l| l.name != name);
            Ok(())
        })?;
    }
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}
