//! `rless diff CTR`: what the container changed, from its writable layer:
//! `A` added, `C` changed (exists in the image), `D` deleted (whiteout).
//! The mount points rless made itself are not changes
//! ([`rless::container::mountpoints`]).
//!
//! "Exists in the image" is decided as the union shows the image: the
//! layers are looked at topmost first, and a whiteout or an opaque
//! directory in a layer hides what is below it. Both forms of the layout
//! are read in every layer ([`fuse_overlay::layout`]), as fuse-overlay
//! does. A directory the container removed and made again is opaque in the
//! writable layer: each image entry it hides is listed as `D` (not what is
//! under it), and so are those under its subdirectories, which no longer
//! merge with the image either.

use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;
use rless::image::union::{self, Found, Union};
use rless::runtime::rootfs::RootFs;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    latest: super::latest::Latest,
    /// A container, or an image (podman's `diff` takes either).
    #[arg(required_unless_present = "latest")]
    container: Option<String>,
    /// For an image: what it is compared with (default: its parent).
    other: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let name = a.latest.or_name(ctx, a.container.as_deref())?;
    let store = ctx.store(LockMode::Shared)?;
    let found = container::find(&store, &name);
    drop(store);
    let dir = match found {
        Ok((_, dir)) if a.other.is_none() => dir,
        // No container of that name: an image's changes, as podman's.
        Err(container::ContainerError::NotFound(_))
            if !a.latest.latest && super::image_diff::is_image(ctx, &name) =>
        {
            return super::image_diff::show(ctx, &name, a.other.as_deref());
        }
        Ok(_) => anyhow::bail!("diff of a container takes no second name"),
        Err(e) => return Err(e.into()),
    };
    container::flush_writes(&dir)?;
    // The writable layer holds files of subordinate ids: read it inside the namespace.
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let spec = container::read_spec(&dir)?;
    let lower: Vec<PathBuf> = match &spec.rootfs {
        RootFs::Layers(l) => l.lower.iter().map(|x| l.layers_dir.join(x)).collect(),
        RootFs::Dir(_) => vec![],
    };
    let upper = dir.join("upper");
    let hide = container::mountpoints::bare_mount_points(&upper, &spec.plan);
    // Kernel overlayfs stores a `.wh.` name of the container's as it is;
    // fuse-overlay escapes it, and may write `.wh.` marker whiteouts.
    let kernel = container::read_state(&dir).driver.as_deref() == Some("overlay");
    let image = Union { layers: &lower };
    let mut out = Vec::new();
    walk(
        &upper,
        (Path::new("/"), Path::new("/")),
        &Dir {
            image: image.root(),
            opaque: false,
        },
        (&image, &hide, kernel),
        &mut out,
    )?;
    for line in out {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A directory of the writable layer, as `walk` sees it.
struct Dir {
    /// The layers the image's directory at the same path merges (empty if
    /// the image has none there).
    image: Vec<usize>,
    /// The container's directory hides the image's (opaque, or under one).
    opaque: bool,
}

/// Whether the directory `p` of the writable layer is opaque. Kernel
/// overlayfs marks it with the xattr only (`.wh..wh..opq` is then a file of
/// the container's); fuse-overlay may write the marker.
fn upper_opaque(p: &Path, kernel: bool) -> bool {
    rless::image::import::is_opaque(p)
        || (!kernel
            && p.join(fuse_overlay::layout::OPAQUE_MARKER)
                .symlink_metadata()
                .is_ok())
}

/// Lists the changes under `stored` (a path in the upper layer, the
/// directory `d`), shown as `shown`: the two differ where fuse-overlay
/// stored a name that starts with `.wh.` escaped
/// (`fuse_overlay::layout::escape`). What is in `hide` (stored paths
/// relative to the layer) is left out. Lines come in name order.
fn walk(
    upper: &Path,
    (stored, shown): (&Path, &Path),
    d: &Dir,
    (image, hide, kernel): (&Union, &BTreeSet<PathBuf>, bool),
    out: &mut Vec<String>,
) -> Result<()> {
    let rel = stored.strip_prefix("/").unwrap_or(stored);
    let mut entries: Vec<_> = std::fs::read_dir(upper.join(rel))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    // By the (stored) name they are about: whiteouts and what they hide
    // fall in the same place.
    let mut lines: BTreeMap<OsString, Vec<String>> = BTreeMap::new();
    for e in entries {
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        if hide.contains(&rel.join(&name)) {
            continue;
        }
        let meta = e.metadata()?;
        let escaped = fuse_overlay::layout::unescape(name.as_bytes());
        let path = shown.join(escaped.map_or(name.as_os_str(), OsStr::from_bytes));
        if union::is_whiteout(&meta) {
            lines
                .entry(name)
                .or_default()
                .push(format!("D {}", path.display()));
            continue;
        }
        if escaped.is_none() && !kernel {
            if let Some(target) = name_s.strip_prefix(fuse_overlay::layout::WHITEOUT_PREFIX) {
                if name_s != fuse_overlay::layout::OPAQUE_MARKER {
                    // Keyed by the stored name, as the image's listing is.
                    let stored_target = OsStr::from_bytes(
                        &name.as_bytes()[fuse_overlay::layout::WHITEOUT_PREFIX.len()..],
                    )
                    .to_owned();
                    let target = OsStr::from_bytes(fuse_overlay::layout::shown(target.as_bytes()));
                    lines
                        .entry(stored_target)
                        .or_default()
                        .push(format!("D {}", shown.join(target).display()));
                }
                continue;
            }
        }
        // The layers hold names in their stored form, as the upper layer does.
        let found = image.lookup(&d.image, rel, &name)?;
        let kind = if matches!(found, Found::Missing) {
            'A'
        } else {
            'C'
        };
        let mine = lines.entry(name.clone()).or_default();
        mine.push(format!("{kind} {}", path.display()));
        if meta.is_dir() {
            let sub = Dir {
                image: match found {
                    Found::Dir(l) => l,
                    _ => Vec::new(),
                },
                opaque: d.opaque || upper_opaque(&e.path(), kernel),
            };
            walk(
                upper,
                (&stored.join(&name), &path),
                &sub,
                (image, hide, kernel),
                mine,
            )?;
        }
    }
    if d.opaque && !d.image.is_empty() {
        for name in image.list(&d.image, rel)? {
            if let std::collections::btree_map::Entry::Vacant(v) = lines.entry(name) {
                let shown_name = OsStr::from_bytes(fuse_overlay::layout::shown(v.key().as_bytes()));
                let line = format!("D {}", shown.join(shown_name).display());
                v.insert(vec![line]);
            }
        }
    }
    out.extend(lines.into_values().flatten());
    Ok(())
}
