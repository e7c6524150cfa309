//! `rless commit [-c CHANGE] [-m MSG] [-a AUTHOR] [-s] [--include-volumes] CTR [IMAGE]`:
//! the writable layer as a new layer over the image's, or with `--squash`
//! (podman's) the merged tree, as `export` reads it, as the only one.

use super::Ctx;
use anyhow::{Context, Result};
use rless::container;
use rless::container::cp::PackSpec;
use rless::container::export::{Agent, AgentError};
use rless::image::commit::{commit, commit_with, CommitRequest};
use rless::image::find_image;
use rless::image::import::ImportError;
use rless::image::store::LockMode;
use rless::image::union::{Found, Union};
use rless::runtime::rootfs::RootFs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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
    /// Make the whole image one layer, with one history entry (podman's).
    #[arg(short, long)]
    squash: bool,
    /// Add every volume's and bind mount's path to the image's volumes
    /// (podman's; anonymous volumes' are added without it, as docker's
    /// and podman's).
    #[arg(long)]
    include_volumes: bool,
    container: String,
    image: Option<String>,
}

/// The paths the image gets as volumes: the container's anonymous
/// volumes', and with `--include-volumes` every volume's and bind mount's.
fn volumes(c: &container::ContainerConfig, all: bool) -> Vec<String> {
    use rless::runtime::plan::MountOp;
    c.mounts
        .iter()
        .filter_map(|m| match m {
            MountOp::Volume {
                target, anonymous, ..
            } if *anonymous || all => Some(target),
            MountOp::Bind { target, .. } if all => Some(target),
            _ => None,
        })
        .map(|t| t.display().to_string())
        .collect()
}

/// The ports the image gets as exposed (podman 4's commit, docker's):
/// the container's exposed ports (the image's `EXPOSE`s and `--expose`)
/// and its published container ports (`-p`), as `80/tcp`.
fn exposed(c: &container::ContainerConfig, spec: &rless::runtime::ContainerSpec) -> Vec<String> {
    let published = spec.slirp.iter().flat_map(|s| &s.ports);
    let published = published.chain(spec.user_networks.iter().flat_map(|u| &u.ports));
    let mut out = c.exposed_ports.clone();
    for p in published {
        let port = format!("{}/{}", p.container_port, p.proto_name());
        if !out.contains(&port) {
            out.push(port);
        }
    }
    out
}

/// The bare mount points (`etc/hosts`) that the image's layers `lower`
/// (topmost first) do not have: what rless made, which the merged tree
/// shows and `--squash` leaves out (the others are the image's own).
fn not_in_image(bare: &BTreeSet<PathBuf>, lower: &[PathBuf]) -> Vec<String> {
    let image = Union { layers: lower };
    let missing = |rel: &Path| {
        let mut layers = image.root();
        let mut dir = PathBuf::new();
        let names: Vec<&std::ffi::OsStr> = rel.iter().collect();
        for (i, name) in names.iter().enumerate() {
            match image.lookup(&layers, &dir, name) {
                Ok(Found::Dir(l)) => layers = l,
                // The image's own file, or a path below one (not the image's).
                Ok(Found::NonDir(_)) => return i + 1 < names.len(),
                Ok(Found::Missing) => return true,
                Err(_) => return false,
            }
            dir.push(name);
        }
        false
    };
    bare.iter()
        .filter(|p| missing(p))
        .map(|p| p.display().to_string())
        .collect()
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let name = a
        .image
        .as_deref()
        .map(rless::image::shortnames::local_name)
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
    let spec = container::read_spec(&dir)?;
    let bare = container::mountpoints::bare_mount_points(&upper, &spec.plan);
    let req = CommitRequest {
        upper: &upper,
        skip: &bare,
        kernel_upper: container::read_state(&dir).driver.as_deref() == Some("overlay"),
        parent,
        changes: &a.change,
        message: a.message.as_deref(),
        author: a.author.as_deref(),
        name: name.as_ref(),
        format: a.format,
        squash: a.squash,
        volumes: volumes(&c, a.include_volumes),
        exposed: exposed(&c, &spec),
    };
    let opts = super::extract_options(ctx);
    let image = match a.squash {
        false => commit(&store, &req, &opts)?,
        // The merged tree, as `export` reads it: a read-only view of the
        // image's layers under the writable one, packed by an agent.
        true => {
            let agent = Agent::spawn(&super::cp::view_here(&dir, false)?)?;
            let lower: Vec<PathBuf> = match &spec.rootfs {
                RootFs::Layers(l) => l.lower.iter().map(|x| l.layers_dir.join(x)).collect(),
                RootFs::Dir(_) => vec![],
            };
            let spec = PackSpec {
                path: "/".into(),
                name: None,
                follow: true,
                zero_ids: false,
                skip: not_in_image(&bare, &lower),
            };
            let shown = dir.clone();
            commit_with(&store, &req, &opts, move |w| {
                agent
                    .pack(spec, |r| {
                        std::io::copy(r, w)
                            .map(drop)
                            .map_err(|source| AgentError::Sys {
                                op: "write the squashed layer",
                                source,
                            })
                    })
                    .map_err(|e| ImportError::Source {
                        path: shown,
                        source: std::io::Error::other(e),
                    })
            })?
        }
    };
    rless::events::container_after(&dir, &c, "commit", &[]);
    // For a build: written down while the store lock keeps `image prune`
    // out (see `build::record`).
    super::build::commit_made(image.id.hex())?;
    drop(store);
    println!("{}", image.id.hex());
    Ok(ExitCode::SUCCESS)
}
