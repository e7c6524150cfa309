//! `COPY --from=SRC /dir/*.txt`: the names a wildcard matches in the
//! source image, read from its stored layers as the union shows them.
//!
//! Theory of operation: the layers are read where the build runs, as the
//! host user. In subuid mode a directory of the image may belong to
//! another container user and be closed to everyone else (`chmod 700` of
//! a user's files in a RUN): reading it then fails with EACCES, and the
//! listing is done again by a child, `rless build-glob`, which enters the
//! user namespace first (where the container's root reads any file of the
//! layers) and prints the matches, NUL-separated. The build itself never
//! enters the namespace: its steps are children that each enter it.

use super::super::Ctx;
use anyhow::{anyhow, Context as _, Result};
use rless::image::find_image;
use rless::image::store::{LockMode, Store};
use std::io::{self, Write};
use std::process::{ExitCode, Stdio};

/// The paths of `image`'s directory `dir` whose names `pattern` matches,
/// in name order (whiteouts hide; a symlink on the way is not followed,
/// and then nothing matches).
fn matches(store: &Store, image: &str, dir: &[String], pattern: &str) -> Result<Vec<String>> {
    use rless::image::union::{Found, Union};
    use std::os::unix::ffi::OsStrExt;
    let index = store.index()?;
    let img = find_image(&index, image)?;
    let layers: Vec<std::path::PathBuf> = img
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_dir(&l.diff_id).join("diff"))
        .collect();
    let union = Union { layers: &layers };
    let mut at = union.root();
    let mut here = std::path::PathBuf::new();
    for c in dir {
        match union.lookup(&at, &here, std::ffi::OsStr::new(c))? {
            Found::Dir(l) => at = l,
            _ => return Ok(Vec::new()),
        }
        here.push(c);
    }
    let prefix = dir.iter().map(|c| format!("/{c}")).collect::<String>();
    Ok(union
        .list(&at, &here)?
        .iter()
        .filter(|n| super::ignore::glob(pattern.as_bytes(), n.as_bytes()))
        .map(|n| format!("{prefix}/{}", n.to_string_lossy()))
        .collect())
}

/// Whether `e` is a permission error of reading the layers.
fn denied(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::PermissionDenied)
}

/// The matches, read here, or by `rless build-glob` in the user namespace
/// where the layers are closed to the host user.
pub(super) fn matches_in(
    ctx: &Ctx,
    image: &str,
    dir: &[&str],
    pattern: &str,
) -> Result<Vec<String>> {
    let dir: Vec<String> = dir.iter().map(|c| c.to_string()).collect();
    let here = {
        let store = super::steps::store(ctx, LockMode::Shared)?;
        matches(&store, image, &dir, pattern)
    };
    match here {
        Err(e) if denied(&e) => {}
        other => return other,
    }
    let exe = std::env::current_exe().context("cannot find the rless binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root")
        .arg(&ctx.root)
        .arg("build-glob")
        .arg(image)
        .arg(pattern);
    for c in &dir {
        cmd.arg("--dir").arg(c);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run rless build-glob")?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim().trim_start_matches("rless: ");
        return Err(anyhow!("{why}"));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// `rless build-glob IMAGE PATTERN [--dir C]…` (hidden).
#[derive(clap::Args)]
pub struct GlobArgs {
    image: String,
    pattern: String,
    /// The directory's components, from the image's root.
    #[arg(long)]
    dir: Vec<String>,
}

/// The child's side: in the user namespace, the matches on stdout.
pub fn helper(ctx: &Ctx, a: GlobArgs) -> Result<ExitCode> {
    rless::runtime::ids::enter(&ctx.ids, false, false)?;
    let store = ctx.store(LockMode::Shared)?;
    let found = matches(&store, &a.image, &a.dir, &a.pattern)?;
    let mut out = io::stdout().lock();
    for p in found {
        out.write_all(p.as_bytes())?;
        out.write_all(b"\0")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
