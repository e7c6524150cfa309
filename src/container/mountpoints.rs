//! The mount points rless itself makes in a container's writable layer:
//! `/proc`, `/sys`, `/dev`, the empty `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf` it binds its generated files on, and the targets of
//! `-v`/`--mount`/`--tmpfs` (with the parents it had to create), when the
//! image lacks them. `diff` hides them and `commit` leaves them out, as
//! docker (whose init layer holds them) and podman do.
//!
//! A path counts only while it is still a bare mount point: an empty
//! regular file at a target, or a directory that holds nothing but such
//! mount points. Anything the container wrote itself is kept.

use crate::runtime::plan::MountOp;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The container paths a plan step mounts on.
fn target(op: &MountOp) -> Option<PathBuf> {
    match op {
        MountOp::Proc => Some("/proc".into()),
        MountOp::Sys => Some("/sys".into()),
        MountOp::Dev => Some("/dev".into()),
        other => other.target().cloned(),
    }
}

/// The bare mount points in the writable layer `upper`, as paths relative
/// to it (`etc/hosts`), for a container with mount plan `plan`.
pub fn bare_mount_points(upper: &Path, plan: &[MountOp]) -> BTreeSet<PathBuf> {
    let targets: BTreeSet<PathBuf> = plan
        .iter()
        .filter_map(target)
        .filter_map(|t| t.strip_prefix("/").ok().map(Path::to_path_buf))
        .collect();
    let mut candidates: Vec<&Path> = targets
        .iter()
        .flat_map(|t| t.ancestors())
        .filter(|p| !p.as_os_str().is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // The deepest first: a directory is judged after what is in it.
    candidates.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let mut bare = BTreeSet::new();
    for rel in candidates {
        let path = upper.join(rel);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let is_bare = if meta.is_dir() {
            fs::read_dir(&path).is_ok_and(|entries| {
                entries
                    .into_iter()
                    .all(|e| e.is_ok_and(|e| bare.contains(&rel.join(e.file_name()))))
            })
        } else {
            meta.is_file() && meta.len() == 0 && targets.contains(rel)
        };
        if is_bare {
            bare.insert(rel.to_path_buf());
        }
    }
    bare
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_mount_points() {
        let tmp = std::env::temp_dir().join(format!("rless-mountpoints-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        for d in ["proc", "sys", "dev", "etc", "a/b/data", "keep/mnt", "full"] {
            fs::create_dir_all(tmp.join(d)).unwrap();
        }
        fs::write(tmp.join("etc/hosts"), "").unwrap();
        fs::write(tmp.join("etc/hostname"), "").unwrap();
        fs::write(tmp.join("keep/mine"), "x").unwrap();
        fs::write(tmp.join("full/f"), "x").unwrap();
        fs::write(tmp.join("f"), "").unwrap();
        let bind = |t: &str| MountOp::Bind {
            source: "/x".into(),
            target: t.into(),
            readonly: false,
        };
        let plan = [
            MountOp::Proc,
            MountOp::Sys,
            MountOp::Dev,
            bind("/etc/hosts"),
            bind("/etc/hostname"),
            bind("/etc/resolv.conf"),
            bind("/a/b/data"),
            bind("/keep/mnt"),
            bind("/full"),
        ];
        let got: Vec<String> = bare_mount_points(&tmp, &plan)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "a",
                "a/b",
                "a/b/data",
                "dev",
                "etc",
                "etc/hostname",
                "etc/hosts",
                "keep/mnt",
                "proc",
                "sys"
            ]
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
