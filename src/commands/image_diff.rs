//! `rless image diff IMAGE [IMAGE2]` (and `rless diff IMAGE [IMAGE2]` when
//! no container has the name, as podman): what IMAGE's filesystem changed
//! against its parent (the image without its top layer), or against IMAGE2.
//!
//! # Theory of operation
//!
//! Both sides are unions of stored layers ([`Union`]), read as the union
//! reads them without mounting: whiteouts and opaque directories hide
//! what is below them, nothing is followed. The two trees are walked
//! together, in name order:
//! - a name only IMAGE has is `A`, and so is everything under it;
//! - a name only the other side has is `D` (only the name itself, as
//!   docker's and podman's change lists have it);
//! - a name both have is `C` when its type, mode, owner, device, size,
//!   modification time or link target differ, and a directory also when
//!   anything under it changed (as `diff` of a container shows the
//!   directories its changes are in).
//!
//! Where both sides reach the very same layers for a directory (the
//! common base of an image and its parent), the whole subtree is the same
//! and is not read, so comparing an image with its parent costs about as
//! much as reading its top layer. Layers may hold files of subordinate
//! ids in directories the user cannot read: this runs in the user
//! namespace, as container `diff` does.

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::find_image;
use rless::image::store::{LockMode, Store};
use rless::image::union::{Found, Union};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The image whose changes are listed.
    image: String,
    /// What it is compared with (default: its parent, the image without its top layer).
    other: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    show(ctx, &a.image, a.other.as_deref())
}

/// Prints IMAGE's changes against `other` (else its parent), one
/// `KIND /path` line each.
pub fn show(ctx: &Ctx, image: &str, other: Option<&str>) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    // Names are checked before the namespace is entered, for a plain error.
    let (mine, theirs) = layer_sets(&store, image, other)?;
    drop(store);
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let (a, b) = (Union { layers: &mine }, Union { layers: &theirs });
    let mut out = Vec::new();
    compare(
        (&a, &b),
        Path::new(""),
        (a.root(), b.root()),
        Path::new("/"),
        &mut out,
    )?;
    for line in out {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The layer directories (topmost first) of `image`, and of `other` or
/// of `image`'s parent.
fn layer_sets(
    store: &Store,
    image: &str,
    other: Option<&str>,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let index = store.index()?;
    let dirs = |name: &str| -> Result<Vec<PathBuf>> {
        let img = find_image(&index, name)?;
        Ok(img
            .layers
            .iter()
            .rev()
            .map(|l| store.layer_dir(&l.diff_id).join("diff"))
            .collect())
    };
    let mine = dirs(image)?;
    let theirs = match other {
        Some(o) => dirs(o)?,
        None => mine.iter().skip(1).cloned().collect(),
    };
    if mine.is_empty() {
        bail!("image {image} has no layers");
    }
    Ok((mine, theirs))
}

/// Compares directory `dir` (relative) of `a` (merged from `la`) with
/// that of `b` (from `lb`; empty: `b` has no such directory), adding the
/// lines of what is under it to `out`; `true` if anything changed.
fn compare(
    (a, b): (&Union, &Union),
    dir: &Path,
    (la, lb): (Vec<usize>, Vec<usize>),
    shown: &Path,
    out: &mut Vec<String>,
) -> Result<bool> {
    let same = |x: &[usize], y: &[usize]| {
        x.len() == y.len() && x.iter().zip(y).all(|(&i, &j)| a.layers[i] == b.layers[j])
    };
    if !la.is_empty() && same(&la, &lb) {
        return Ok(false);
    }
    let mut names = if la.is_empty() {
        Default::default()
    } else {
        a.list(&la, dir)?
    };
    if !lb.is_empty() {
        names.extend(b.list(&lb, dir)?);
    }
    let mut changed = false;
    for name in names {
        let fa = match la.is_empty() {
            true => Found::Missing,
            false => a.lookup(&la, dir, &name)?,
        };
        let fb = match lb.is_empty() {
            true => Found::Missing,
            false => b.lookup(&lb, dir, &name)?,
        };
        let path = shown.join(OsStr::from_bytes(fuse_overlay::layout::shown(
            name.as_bytes(),
        )));
        let rel = dir.join(&name);
        let line = |kind: char| format!("{kind} {}", path.display());
        match (fa, fb) {
            (Found::Missing, Found::Missing) => {}
            (Found::Missing, _) => {
                out.push(line('D'));
                changed = true;
            }
            (found, Found::Missing) => {
                out.push(line('A'));
                changed = true;
                if let Found::Dir(l) = found {
                    compare((a, b), &rel, (l, Vec::new()), &path, out)?;
                }
            }
            (Found::Dir(x), Found::Dir(y)) => {
                let differs = meta_differs(&a.layers[x[0]].join(&rel), &b.layers[y[0]].join(&rel))?;
                let at = out.len();
                let inner = compare((a, b), &rel, (x, y), &path, out)?;
                if differs || inner {
                    out.insert(at, line('C'));
                    changed = true;
                }
            }
            // A directory where a file was: its content is all new.
            (Found::Dir(x), Found::NonDir(_)) => {
                out.push(line('C'));
                changed = true;
                compare((a, b), &rel, (x, Vec::new()), &path, out)?;
            }
            // A file where a directory was: the directory's names are gone
            // (its own, not deeper ones, as docker lists them).
            (Found::NonDir(_), Found::Dir(y)) => {
                out.push(line('C'));
                changed = true;
                for gone in b.list(&y, &rel)? {
                    let g = OsStr::from_bytes(fuse_overlay::layout::shown(gone.as_bytes()));
                    out.push(format!("D {}", path.join(g).display()));
                }
            }
            (x, y) => {
                let (pa, pb) = (object(a, &x, &rel), object(b, &y, &rel));
                if pa != pb && meta_differs(&pa, &pb)? {
                    out.push(line('C'));
                    changed = true;
                }
            }
        }
    }
    Ok(changed)
}

/// The stored path of what `found` is at `rel`.
fn object(u: &Union, found: &Found, rel: &Path) -> PathBuf {
    match found {
        Found::NonDir(l) => u.layers[*l].join(rel),
        Found::Dir(l) => u.layers[l[0]].join(rel),
        Found::Missing => PathBuf::new(),
    }
}

/// Whether two stored objects differ as docker's change lists compare
/// them: type and mode, owner, device; for non-directories also size,
/// modification time and a symlink's target.
fn meta_differs(x: &Path, y: &Path) -> Result<bool> {
    let (mx, my) = (x.symlink_metadata()?, y.symlink_metadata()?);
    if mx.mode() != my.mode()
        || mx.uid() != my.uid()
        || mx.gid() != my.gid()
        || mx.rdev() != my.rdev()
    {
        return Ok(true);
    }
    if mx.is_dir() {
        return Ok(false);
    }
    if mx.size() != my.size() || mx.mtime() != my.mtime() || mx.mtime_nsec() != my.mtime_nsec() {
        return Ok(true);
    }
    Ok(mx.file_type().is_symlink() && std::fs::read_link(x)? != std::fs::read_link(y)?)
}

/// `diff NAME [OTHER]` for a name no container has: the image's changes
/// (podman's `diff` takes either).
pub fn is_image(ctx: &Ctx, name: &str) -> bool {
    ctx.store(LockMode::Shared)
        .ok()
        .and_then(|s| s.index().ok())
        .is_some_and(|index| find_image(&index, name).is_ok())
}
