//! `run`'s and `create`'s `--pull`, `--platform` and `-q`: getting the
//! image before the container is made.
//!
//! Theory of operation: the image is looked up in the store first. Whether
//! it is pulled then is the policy's call, as in podman: `missing` (the
//! default) pulls an image the store lacks, or holds for another platform
//! than `--platform` asks for, and says so on stderr as docker does
//! ("Unable to find image 'X' locally", unless `-q`); `always` pulls every
//! time; `never` refuses a missing image; `newer` pulls as `missing` does,
//! and for an image the store has asks the registry again: a pull fetches
//! only what differs from what is stored, so that is podman's "pull when
//! the registry's digest differs", and, as podman does, an error of that
//! pull (registry down) is a warning and the stored image runs.
//!
//! The pull is `rless pull` itself, run as a child with this store: it
//! enters the user namespace the layers are extracted in (this command is
//! still outside it here), takes `rless login`'s credentials, and prints
//! its own one-line error; this command then exits 125 with nothing made.
//! The child's stdout (the image id) is dropped: `run` prints only the
//! command's output, `create` only the container's id.

use super::*;
use rless::image::platform::Platform;
use std::process::{Command, Stdio};

/// What `--pull` says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PullPolicy {
    Always,
    Missing,
    Never,
    Newer,
}

impl PullPolicy {
    pub(super) fn parse(s: &str) -> Result<PullPolicy> {
        Ok(match s {
            "always" => PullPolicy::Always,
            "missing" => PullPolicy::Missing,
            "never" => PullPolicy::Never,
            "newer" => PullPolicy::Newer,
            other => bail!("invalid --pull {other:?}: use always, missing, never or newer"),
        })
    }
}

/// What the store has under the name.
enum Stored {
    Absent,
    /// There, for another platform than `--platform` asks for (its own).
    OtherPlatform(String),
    Present,
}

fn stored(ctx: &Ctx, name: &str, platform: Option<&Platform>) -> Result<Stored> {
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    Ok(match find_image(&index, name) {
        Err(rless::image::LookupError::NotFound(_)) => Stored::Absent,
        Err(e) => return Err(e.into()),
        Ok(img) => match platform {
            Some(p) if !p.matches(&img.os, &img.architecture, None) => {
                Stored::OtherPlatform(format!("{}/{}", img.os, img.architecture))
            }
            _ => Stored::Present,
        },
    })
}

/// Makes sure the image `name` is in the store as `--pull` says. `Some`
/// is the exit code to end with (a pull failed; its error is printed).
pub(super) fn ensure_image(
    ctx: &Ctx,
    name: &str,
    policy: PullPolicy,
    platform: Option<&str>,
    quiet: bool,
) -> Result<Option<ExitCode>> {
    let wanted = platform.map(Platform::parse).transpose()?;
    let have = stored(ctx, name, wanted.as_ref())?;
    match (policy, &have) {
        (PullPolicy::Never, Stored::Absent) => {
            bail!("{name}: image not known, and --pull never forbids pulling it")
        }
        (PullPolicy::Never, Stored::OtherPlatform(p)) => bail!(
            "{name}: the stored image is for {p}, not {}, and --pull never forbids pulling it",
            platform.unwrap_or_default()
        ),
        (PullPolicy::Never, Stored::Present) => Ok(None),
        (PullPolicy::Missing, Stored::Present) => Ok(None),
        (PullPolicy::Newer, Stored::Present) => {
            // The stored image serves when the registry cannot be asked.
            let out = pull_command(ctx, name, platform, quiet)
                .stderr(Stdio::piped())
                .output()
                .context("cannot run rless pull")?;
            if !out.status.success() {
                let why = String::from_utf8_lossy(&out.stderr);
                let why = why.lines().last().unwrap_or_default();
                let why = why.strip_prefix("rless: ").unwrap_or(why);
                eprintln!("rless: warning: cannot check {name} for a newer image ({why}); using the stored one");
            }
            Ok(None)
        }
        (PullPolicy::Always, _) | (PullPolicy::Missing | PullPolicy::Newer, _) => {
            if !quiet && policy != PullPolicy::Always {
                eprintln!("Unable to find image '{name}' locally");
            }
            let status = pull_command(ctx, name, platform, quiet)
                .status()
                .context("cannot run rless pull")?;
            if status.success() {
                return Ok(None);
            }
            // The pull printed its error (or died of a signal: say so).
            if status.code().is_none() {
                eprintln!("rless: pulling {name} was killed ({status})");
            }
            Ok(Some(ExitCode::from(125)))
        }
    }
}

/// `rless --root STORE pull [-q] [--platform P] NAME`, stdout dropped.
fn pull_command(ctx: &Ctx, name: &str, platform: Option<&str>, quiet: bool) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut c = Command::new(exe);
    c.arg("--root").arg(&ctx.root).arg("pull");
    if quiet {
        c.arg("--quiet");
    }
    if let Some(p) = platform {
        c.arg("--platform").arg(p);
    }
    c.arg("--")
        .arg(name)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert_eq!(PullPolicy::parse("always").unwrap(), PullPolicy::Always);
        assert_eq!(PullPolicy::parse("missing").unwrap(), PullPolicy::Missing);
        assert_eq!(PullPolicy::parse("never").unwrap(), PullPolicy::Never);
        assert_eq!(PullPolicy::parse("newer").unwrap(), PullPolicy::Newer);
        assert!(PullPolicy::parse("sometimes").is_err());
    }
}
