//! The mount plan: every mount a container gets, computed as plain data
//! before any system call, so it can be unit-tested without privileges.
//!
//! Order matters and is fixed here: the root filesystem first, then the
//! kernel filesystems, then /dev, then generated files and user mounts
//! (a user mount may cover anything before it, as in docker), and the
//! read-only remount of the root last.

use std::path::PathBuf;

/// Host device nodes bind-mounted into the container's /dev.
pub const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The token in a [`MountOp::Tmpfs`]'s options that mounts it `noexec`
/// (taken out of the data the kernel's tmpfs reads).
pub const TMPFS_NOEXEC: &str = "noexec";

/// One step of the plan. Targets are absolute paths inside the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MountOp {
    /// A fresh procfs for the container's pid namespace.
    Proc,
    /// sysfs, read-only (falls back to a read-only bind of the host's /sys
    /// where the network namespace is not the container's own).
    Sys,
    /// A tmpfs /dev with the host's harmless device nodes bound in,
    /// /dev/pts (newinstance), /dev/shm, /dev/mqueue and the usual links.
    Dev,
    /// A tmpfs; `options` are passed to the kernel (`size=…`, `mode=…`).
    Tmpfs {
        target: PathBuf,
        options: String,
        readonly: bool,
    },
    /// A host file or directory bound in.
    Bind {
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
    },
    /// A volume (`STORE/volumes/NAME/_data`) bound in. With `copy`, an
    /// empty volume is first filled with what the image has at `target`
    /// ([`super::copyup`]). `anonymous` volumes belong to the container
    /// that made them (`rm -v`, `--rm`).
    Volume {
        name: String,
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
        copy: bool,
        anonymous: bool,
    },
    /// A secret's copy in the container's directory (`--secret`), bound in
    /// read-only; the runtime first gives the copy `uid`, `gid` (container
    /// ids) and `mode`.
    Secret {
        source: PathBuf,
        target: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// Remount the root read-only (`--read-only`).
    RootReadOnly,
    /// Hide kernel interfaces: /dev/null over files, an empty read-only
    /// tmpfs over directories (runc's masked paths).
    Mask(Vec<PathBuf>),
    /// Make kernel interfaces read-only (runc's read-only paths).
    ReadOnlyPaths(Vec<PathBuf>),
}

/// runc's masked paths.
pub const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's read-only paths.
pub const READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

impl MountOp {
    /// Where a user mount lands in the container.
    pub fn target(&self) -> Option<&PathBuf> {
        match self {
            MountOp::Tmpfs { target, .. }
            | MountOp::Bind { target, .. }
            | MountOp::Volume { target, .. }
            | MountOp::Secret { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// What the plan is computed from.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    pub readonly_root: bool,
    /// With `readonly_root`: tmpfs on /tmp, /var/tmp and /run, as
    /// podman's `--read-only-tmpfs` (on by default).
    pub readonly_tmpfs: bool,
    /// Generated files (hosts, hostname, resolv.conf): host path, container path.
    pub generated: Vec<(PathBuf, PathBuf)>,
    /// User mounts from `-v`, `--mount`, `--tmpfs`, `--volumes-from` and
    /// the image's `VOLUME`s (those first), in command-line order.
    pub user: Vec<MountOp>,
    /// `--privileged`: no masked or read-only kernel paths.
    pub privileged: bool,
}

/// Builds the ordered plan.
pub fn plan(input: &PlanInput) -> Vec<MountOp> {
    let mut ops = vec![MountOp::Proc, MountOp::Sys, MountOp::Dev];
    if !input.privileged {
        ops.push(MountOp::Mask(
            MASKED_PATHS.iter().map(PathBuf::from).collect(),
        ));
        ops.push(MountOp::ReadOnlyPaths(
            READONLY_PATHS.iter().map(PathBuf::from).collect(),
        ));
    }
    let user_targets: Vec<&PathBuf> = input.user.iter().filter_map(MountOp::target).collect();
    if input.readonly_root && input.readonly_tmpfs {
        // Writable scratch space, unless the user mounts something there.
        for dir in ["/tmp", "/var/tmp", "/run"] {
            let target = PathBuf::from(dir);
            if !user_targets.contains(&&target) {
                ops.push(MountOp::Tmpfs {
                    target,
                    options: "mode=1777".into(),
                    readonly: false,
                });
            }
        }
    }
    for (source, target) in &input.generated {
        if !user_targets.contains(&target) {
            ops.push(MountOp::Bind {
                source: source.clone(),
                target: target.clone(),
                readonly: false,
            });
        }
    }
    ops.extend(input.user.iter().cloned());
    if input.readonly_root {
        ops.push(MountOp::RootReadOnly);
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(s: &str, t: &str) -> MountOp {
        MountOp::Bind {
            source: s.into(),
            target: t.into(),
            readonly: false,
        }
    }

    #[test]
    fn order_and_readonly() {
        let input = PlanInput {
            privileged: false,
            readonly_root: true,
            readonly_tmpfs: true,
            generated: vec![("/c/hosts".into(), "/etc/hosts".into())],
            user: vec![
                bind("/data", "/data"),
                MountOp::Tmpfs {
                    target: "/run".into(),
                    options: "size=1m".into(),
                    readonly: false,
                },
            ],
        };
        let p = plan(&input);
        assert_eq!(p[..3], [MountOp::Proc, MountOp::Sys, MountOp::Dev]);
        assert!(matches!(&p[3], MountOp::Mask(m) if m.contains(&PathBuf::from("/proc/kcore"))));
        assert!(
            matches!(&p[4], MountOp::ReadOnlyPaths(r) if r.contains(&PathBuf::from("/proc/sys")))
        );
        assert_eq!(p.last(), Some(&MountOp::RootReadOnly));
        // /tmp and /var/tmp get a tmpfs, /run is the user's own.
        for dir in ["/tmp", "/var/tmp"] {
            assert!(p.contains(&MountOp::Tmpfs {
                target: dir.into(),
                options: "mode=1777".into(),
                readonly: false
            }));
        }
        // --read-only-tmpfs=false: none.
        let p = plan(&PlanInput {
            readonly_tmpfs: false,
            ..input.clone()
        });
        assert!(!p.iter().any(
            |m| matches!(m, MountOp::Tmpfs { target, .. } if target != &PathBuf::from("/run"))
        ));
        assert_eq!(p.iter().filter(|m| matches!(m, MountOp::Tmpfs { target, .. } if target == &PathBuf::from("/run"))).count(), 1);
        // Generated files come before user mounts, which can override them.
        let hosts = p
            .iter()
            .position(|m| *m == bind("/c/hosts", "/etc/hosts"))
            .unwrap();
        let data = p.iter().position(|m| *m == bind("/data", "/data")).unwrap();
        assert!(hosts < data);
    }

    #[test]
    fn user_mount_replaces_generated_file() {
        let input = PlanInput {
            privileged: true,
            readonly_root: false,
            readonly_tmpfs: true,
            generated: vec![("/c/resolv.conf".into(), "/etc/resolv.conf".into())],
            user: vec![bind("/mine", "/etc/resolv.conf")],
        };
        let p = plan(&input);
        assert!(!p.contains(&bind("/c/resolv.conf", "/etc/resolv.conf")));
        assert!(p.contains(&bind("/mine", "/etc/resolv.conf")));
        assert!(!p.contains(&MountOp::RootReadOnly));
        assert!(
            !p.iter().any(|m| matches!(m, MountOp::Mask(_))),
            "privileged: nothing masked"
        );
    }
}
