//! `rless diff CTR`: what the container changed, from its writable layer:
//! `A` added, `C` changed (exists in the image), `D` deleted (whiteout).
//! The mount points rless made itself are not changes
//! ([`rless::container::mountpoints`]).

use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;
use rless::runtime::rootfs::RootFs;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    container: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (_, dir) = container::find(&store, &a.container)?;
    drop(store);
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
    let mut out = Vec::new();
    walk(
        &upper,
        (Path::new("/"), Path::new("/")),
        (&lower, &hide, kernel),
        &mut out,
    )?;
    for line in out {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn in_lower(lower: &[PathBuf], rel: &Path) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lower.iter().any(|l| l.join(rel).symlink_metadata().is_ok())
}

/// Lists the changes under `stored` (a path in the upper layer), shown as
/// `shown`: the two differ where fuse-overlay stored a name that starts
/// with `.wh.` escaped (`fuse_overlay::layout::escape`). What is in `hide`
/// (stored paths relative to the layer) is left out.
fn walk(
    upper: &Path,
    (stored, shown): (&Path, &Path),
    (lower, hide, kernel): (&[PathBuf], &BTreeSet<PathBuf>, bool),
    out: &mut Vec<String>,
) -> Result<()> {
    let dir = upper.join(stored.strip_prefix("/").unwrap_or(stored));
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        if hide.contains(
            stored
                .join(&name)
                .strip_prefix("/")
                .unwrap_or(Path::new("")),
        ) {
            continue;
        }
        let meta = e.metadata()?;
        let escaped = fuse_overlay::layout::unescape(name.as_bytes());
        let path = shown.join(escaped.map_or(name.as_os_str(), OsStr::from_bytes));
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            out.push(format!("D {}", path.display()));
            continue;
        }
        if escaped.is_none() && !kernel {
            if let Some(target) = name_s.strip_prefix(fuse_overlay::layout::WHITEOUT_PREFIX) {
                if name_s != fuse_overlay::layout::OPAQUE_MARKER {
                    let target = fuse_overlay::layout::shown(target.as_bytes());
                    out.push(format!(
                        "D {}",
                        shown.join(OsStr::from_bytes(target)).display()
                    ));
                }
                continue;
            }
        }
        // The layers hold names in their stored form, as the upper layer does.
        let kind = if in_lower(lower, &stored.join(&name)) {
            'C'
        } else {
            'A'
        };
        out.push(format!("{kind} {}", path.display()));
        if meta.is_dir() {
            walk(
                upper,
                (&stored.join(&name), &path),
                (lower, hide, kernel),
                out,
            )?;
        }
    }
    Ok(())
}
