//! `run`'s and `create`'s `-a/--attach`, `--detach-keys`, `--tz`,
//! `--pidfile`, `--rmi` and `--timeout`: each value is checked before the
//! container is made, and what they ask is recorded in its config
//! ([`rless::container::runopts`], where the monitors act on it).
//!
//! `--tz`: the zone's file is copied into the container's directory when
//! it is made and bound over `/etc/localtime` like the other generated
//! `/etc` files (podman copies it too), so the container needs no zone
//! database of its own and `diff`/`commit` do not see it.

use super::Args;
use anyhow::{bail, Result};
use rless::container::runopts::RunOptions;
use std::path::{Component, Path, PathBuf};

/// The host's zone database, which `--tz=Area/City` names a file of.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// The checked options, and the zone file `--tz` takes.
pub(super) struct Checked {
    pub(super) options: RunOptions,
    pub(super) zone: Option<PathBuf>,
}

pub(super) fn check(a: &Args) -> Result<Checked> {
    let mut attach = Vec::new();
    for s in &a.attach {
        let s = s.to_ascii_lowercase();
        if !matches!(s.as_str(), "stdin" | "stdout" | "stderr") {
            bail!("invalid stream {s:?} for --attach: use stdin, stdout or stderr");
        }
        if !attach.contains(&s) {
            attach.push(s);
        }
    }
    if !attach.is_empty() && a.detach {
        bail!("conflicting options: -a and -d");
    }
    if let Some(k) = &a.detach_keys {
        crate::commands::attach::parse_detach_keys(k)?;
    }
    let (timezone, zone) = match a.tz.as_deref() {
        None | Some("") => (String::new(), None),
        Some(tz) => (tz.to_string(), Some(zone_file(tz)?)),
    };
    let pidfile = match &a.pidfile {
        None => None,
        Some(f) => {
            let f = std::path::absolute(f)
                .map_err(|e| anyhow::anyhow!("invalid --pidfile {}: {e}", f.display()))?;
            if !f.parent().is_some_and(Path::is_dir) || f.is_dir() {
                bail!(
                    "invalid --pidfile {}: not a file in an existing directory",
                    f.display()
                );
            }
            Some(f)
        }
    };
    if a.rmi && a.rootfs.is_some() {
        bail!("--rmi removes an image, and --rootfs runs none");
    }
    Ok(Checked {
        options: RunOptions {
            attach,
            detach_keys: a.detach_keys.clone(),
            timezone,
            pidfile,
            rmi: a.rmi,
            timeout: a.timeout.unwrap_or(0),
            health_on_failure: String::new(),
        },
        zone,
    })
}

/// The host's file for `--tz` (`local`: the host's own zone).
fn zone_file(tz: &str) -> Result<PathBuf> {
    let bad = || anyhow::anyhow!("invalid --tz {tz:?}: no such time zone in {ZONEINFO}");
    let path = if tz == "local" {
        PathBuf::from("/etc/localtime")
    } else {
        let rel = Path::new(tz);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad());
        }
        Path::new(ZONEINFO).join(rel)
    };
    // A zone file starts with "TZif" (what zoneinfo holds besides them,
    // such as zone.tab, is no zone).
    let mut magic = [0u8; 4];
    let ok = std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok();
    if !ok || &magic != b"TZif" {
        if tz == "local" {
            bail!("invalid --tz local: this host has no time zone file /etc/localtime");
        }
        return Err(bad());
    }
    Ok(path)
}

/// Copies the zone file into the container's directory `dir`; returns it
/// as (host path, container path) for the mount plan.
pub(super) fn zone_mount(dir: &Path, zone: &Path) -> Result<(PathBuf, PathBuf)> {
    let to = dir.join("localtime");
    std::fs::copy(zone, &to)
        .map_err(|e| anyhow::anyhow!("cannot copy {} to {}: {e}", zone.display(), to.display()))?;
    Ok((to, PathBuf::from("/etc/localtime")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        for bad in [
            "Nowhere/None",
            "../etc/passwd",
            "/etc/localtime",
            "zone.tab",
        ] {
            assert!(zone_file(bad).is_err(), "{bad}");
        }
        if Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
            assert_eq!(
                zone_file("Europe/Paris").unwrap(),
                Path::new("/usr/share/zoneinfo/Europe/Paris")
            );
        }
    }
}
