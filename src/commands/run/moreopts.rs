//! podman's further `run`/`create` options, in one group `Args` flattens
//! in, and their checks.
//!
//! Theory of operation: each option is checked before the container is
//! made; what rless can do is done, the rest is refused or warned about
//! as podman does rootless:
//! - acted on: `--health-on-failure` (recorded in the run options; the
//!   health watcher runs `rless kill|restart|stop`), `--env-merge` (see
//!   `env.rs`), `--image-volume` (how the image's `VOLUME`s are mounted:
//!   `bind`, the default, anonymous volumes as podman's; `tmpfs`; or
//!   `ignore`), `--personality` (set by the init before the command's
//!   exec), `--seccomp-policy image` (the image's
//!   `io.containers.seccomp.profile` label is the profile), `--passwd-entry`
//!   `--group-entry` and `--hostuser` (see `keepid.rs`), `--preserve-fds` (the init and a
//!   detached monitor keep those descriptors open), `--cgroupns private`
//!   (the init makes a cgroup namespace once in its cgroup);
//! - accepted with nothing to do: `--systemd=false` (and `true` when the
//!   command is no init), `--sdnotify` while `NOTIFY_SOCKET` is unset or
//!   with `ignore`, `--cgroupns host` (the default: the caller's cgroup
//!   namespace);
//! - warned about, as nothing enforces them rootless on cgroup v2:
//!   `--memory-swappiness`, `--oom-kill-disable`, `--device-cgroup-rule`,
//!   `--init-path` (rless's own init is pid 1);
//! - refused, one line: systemd mode and `--mac-address`;
//! - `--uidmap`, `--gidmap` (and the refused `--subuidname`,
//!   `--subgidname`) are checked in `idmaps.rs`.

use anyhow::{bail, Result};
use rless::container::mountspec::{self, Requested, VolumeRequest};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Default)]
pub struct MoreArgs {
    /// What to do when the health check turns the container unhealthy: none (default), kill, restart or stop (podman's).
    #[arg(long, value_name = "ACTION")]
    pub(super) health_on_failure: Option<String>,
    /// Rewrite a default (image) variable: KEY=VALUE, where $KEY or ${KEY} is its default value (podman's).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(super) env_merge: Vec<String>,
    /// How the image's VOLUMEs are mounted: bind (anonymous volumes, the default), tmpfs, or ignore (podman's).
    #[arg(long, value_name = "MODE")]
    pub(super) image_volume: Option<String>,
    /// Accepted for podman compatibility: rless's own init is the container's pid 1 (a warning with --init).
    #[arg(long, value_name = "PATH")]
    pub(super) init_path: Option<PathBuf>,
    /// podman's systemd mode: false, or true (refused when the command is init or systemd), or always (refused).
    #[arg(long, value_name = "MODE")]
    pub(super) systemd: Option<String>,
    /// systemd notification: container, conmon or ignore (accepted while NOTIFY_SOCKET is unset; rless passes no socket on).
    #[arg(long, value_name = "MODE")]
    pub(super) sdnotify: Option<String>,
    /// The command's execution domain: LINUX or LINUX32 (uname -m shows a 32-bit machine).
    #[arg(long, value_name = "DOMAIN")]
    pub(super) personality: Option<String>,
    /// The cgroup namespace: host (the caller's, the default) or private (one of the container's own, rooted at its cgroup).
    #[arg(long, value_name = "MODE")]
    pub(super) cgroupns: Option<String>,
    /// Memory swappiness, 0 to 100 (-1: the default); not applied: cgroup v2 has none.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub(super) memory_swappiness: Option<i64>,
    /// Not applied: cgroup v2 cannot turn the OOM killer off.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) oom_kill_disable: bool,
    /// A device cgroup rule, "TYPE MAJOR:MINOR PERMS"; not applied rootless (the device's own file permissions decide).
    #[arg(long, value_name = "RULE")]
    pub(super) device_cgroup_rule: Vec<String>,
    /// Where the seccomp profile comes from: default, or image (the image's io.containers.seccomp.profile label).
    #[arg(long, value_name = "POLICY")]
    pub(super) seccomp_policy: Option<String>,
    /// Pass descriptors 3 to 3+N-1 of this command on to the container's process (podman's; not with create).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(super) preserve_fds: u32,
    /// The template of the /etc/passwd line rless adds (for keep-id, a numeric -u, --hostuser): $USERNAME, $UID, $GID, $NAME, $HOME (podman's).
    #[arg(long, value_name = "TEMPLATE")]
    pub(super) passwd_entry: Option<String>,
    /// The template of the /etc/group line rless adds: $GROUPNAME, $GID, $USERNAME (podman 5's).
    #[arg(long, value_name = "TEMPLATE")]
    pub(super) group_entry: Option<String>,
    /// Add this host user's /etc/passwd entry (a name or uid) where the image has none (podman's).
    #[arg(long, value_name = "USER")]
    pub(super) hostuser: Vec<String>,
    /// The container's uid map, repeatable: CONTAINER_ID:FROM_ID:AMOUNT, FROM_ID in your namespace (0 is you, 1 to N your subordinate ids), as podman's.
    #[arg(long, value_name = "CONTAINER_ID:FROM_ID:AMOUNT")]
    pub(super) uidmap: Vec<String>,
    /// The container's gid map, as --uidmap (either alone stands for both).
    #[arg(long, value_name = "CONTAINER_ID:FROM_ID:AMOUNT")]
    pub(super) gidmap: Vec<String>,
    /// Refused: give the map itself with --uidmap and --gidmap.
    #[arg(long, value_name = "NAME", hide = true)]
    pub(super) subuidname: Option<String>,
    /// Refused: give the map itself with --uidmap and --gidmap.
    #[arg(long, value_name = "NAME", hide = true)]
    pub(super) subgidname: Option<String>,
    /// Refused: rless's networks give each container its own address, not a chosen MAC.
    #[arg(long, value_name = "MAC", hide = true)]
    pub(super) mac_address: Option<String>,
}

/// `--image-volume`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ImageVolume {
    Bind,
    Tmpfs,
    Ignore,
}

/// What the checks found.
pub(super) struct Checked {
    pub(super) image_volume: ImageVolume,
    /// `--cgroupns private`.
    pub(super) cgroupns_private: bool,
    /// `--preserve-fds`, checked: each descriptor is open.
    pub(super) preserve_fds: u32,
    /// `--personality`: the value personality(2) takes.
    pub(super) personality: Option<u32>,
    /// Printed once the container is made.
    pub(super) warnings: Vec<String>,
}

/// `--preserve-fds N` (`run`, `exec`): descriptors 3 to 3+N-1 must be open.
pub(crate) fn check_preserve_fds(n: u32) -> Result<()> {
    for fd in 3..3u64.saturating_add(n.into()) {
        let open = Path::new(&format!("/proc/self/fd/{fd}"))
            .symlink_metadata()
            .is_ok();
        if !open {
            bail!("invalid --preserve-fds {n}: descriptor {fd} is not open");
        }
    }
    Ok(())
}

/// Checks everything that depends on neither the image nor the command
/// (`init`: `--init` was given; `create_only`: this is `create`).
pub(super) fn check(m: &MoreArgs, init: bool, create_only: bool) -> Result<Checked> {
    if let Some(h) = &m.health_on_failure {
        if !matches!(h.as_str(), "none" | "kill" | "restart" | "stop") {
            bail!("invalid --health-on-failure {h:?}: use none, kill, restart or stop");
        }
    }
    let image_volume = match m.image_volume.as_deref() {
        None | Some("bind") => ImageVolume::Bind,
        Some("tmpfs") => ImageVolume::Tmpfs,
        Some("ignore") => ImageVolume::Ignore,
        Some(v) => bail!("invalid --image-volume {v:?}: use bind, tmpfs or ignore"),
    };
    if let Some(s) = &m.systemd {
        match s.to_ascii_lowercase().as_str() {
            "true" | "false" => {}
            "always" => bail!("--systemd=always is not supported: rless has no systemd mode (use --systemd=false)"),
            _ => bail!("invalid --systemd {s:?}: use true, false or always"),
        }
    }
    if let Some(s) = &m.sdnotify {
        if !matches!(s.as_str(), "container" | "conmon" | "ignore") {
            bail!("invalid --sdnotify {s:?}: use container, conmon or ignore");
        }
        if s != "ignore" && std::env::var_os("NOTIFY_SOCKET").is_some() {
            bail!("--sdnotify {s} is not supported: rless passes no NOTIFY_SOCKET on (use --sdnotify=ignore)");
        }
    }
    let personality = match m.personality.as_deref() {
        None => None,
        Some(p) if p.eq_ignore_ascii_case("linux") => Some(0),
        // PER_LINUX32.
        Some(p) if p.eq_ignore_ascii_case("linux32") => Some(8),
        Some(p) => bail!("invalid --personality {p:?}: use LINUX or LINUX32"),
    };
    let cgroupns_private = match m.cgroupns.as_deref() {
        None | Some("host") => false,
        Some("private") => true,
        Some(c) => bail!("invalid --cgroupns {c:?}: use host or private"),
    };
    if let Some(p) = &m.seccomp_policy {
        if !matches!(p.as_str(), "default" | "image") {
            bail!("invalid --seccomp-policy {p:?}: use default or image");
        }
    }
    for h in &m.hostuser {
        super::keepid::host_user_entry(h, "/", None)?;
    }
    for (flag, t) in [
        ("passwd-entry", &m.passwd_entry),
        ("group-entry", &m.group_entry),
    ] {
        if t.as_ref().is_some_and(|t| t.contains(['\n', '\r'])) {
            bail!("invalid --{flag}: one line, without a newline");
        }
    }
    let mut warnings = Vec::new();
    if let Some(s) = m.memory_swappiness {
        warnings.extend(swappiness(s)?);
    }
    if m.oom_kill_disable {
        warnings.push(
            "--oom-kill-disable not applied: cgroup v2 cannot turn the OOM killer off".into(),
        );
    }
    for r in &m.device_cgroup_rule {
        check_device_rule(r)?;
        warnings.push(format!("--device-cgroup-rule {r:?} not applied: rootless, the device's own file permissions decide its access (no device cgroup)"));
    }
    if let (Some(p), true) = (&m.init_path, init) {
        if !p.is_file() {
            bail!("invalid --init-path {}: no such file", p.display());
        }
        warnings.push(format!(
            "--init-path {} is not used: rless's own init is the container's pid 1",
            p.display()
        ));
    }
    if create_only && m.preserve_fds > 0 {
        bail!("--preserve-fds is for run: a created container's start has no descriptors of this command");
    }
    check_preserve_fds(m.preserve_fds)?;
    Ok(Checked {
        image_volume,
        preserve_fds: m.preserve_fds,
        cgroupns_private,
        personality,
        warnings,
    })
}

/// `--mac-address` is refused: on the default network with podman's words.
pub(super) fn check_mac(m: &MoreArgs, user_networks: bool) -> Result<()> {
    match (&m.mac_address, user_networks) {
        (None, _) => Ok(()),
        (Some(_), false) => bail!("invalid config provided: networks and static ip/mac address can only be used with Bridge mode networking"),
        (Some(_), true) => bail!("--mac-address is not supported: rless's networks choose each container's MAC address"),
    }
}

/// A device cgroup rule: `a|b|c MAJOR:MINOR PERMS` (numbers or `*`,
/// permissions of `rwm`).
fn check_device_rule(rule: &str) -> Result<()> {
    let bad = || {
        anyhow::anyhow!("invalid --device-cgroup-rule {rule:?}: use \"TYPE MAJOR:MINOR PERMS\", as \"c 1:3 rwm\"")
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [kind, numbers, perms] = parts[..] else {
        return Err(bad());
    };
    let number = |n: &str| n == "*" || n.parse::<u32>().is_ok();
    let ok = matches!(kind, "a" | "b" | "c")
        && numbers
            .split_once(':')
            .is_some_and(|(a, b)| number(a) && number(b))
        && !perms.is_empty()
        && perms.chars().all(|c| "rwm".contains(c));
    if !ok {
        return Err(bad());
    }
    Ok(())
}

/// `--health-on-failure`, which needs a health check: the action the run
/// options record (empty for none).
pub(super) fn health_on_failure(m: &MoreArgs, has_check: bool) -> Result<String> {
    match m.health_on_failure.as_deref() {
        None | Some("none") => Ok(String::new()),
        Some(a) if !has_check => {
            bail!("cannot set on-failure action to {a} without a health check")
        }
        Some(a) => Ok(a.to_string()),
    }
}

/// `--systemd=true` given with an init or systemd as the command: podman's
/// systemd mode, which rless does not have.
pub(super) fn check_systemd(m: &MoreArgs, args: &[String]) -> Result<()> {
    let asked = m
        .systemd
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    let Some(cmd) = args.first().filter(|_| asked) else {
        return Ok(());
    };
    let init = ["/sbin/init", "/usr/sbin/init", "/usr/local/sbin/init"].contains(&cmd.as_str())
        || Path::new(cmd).file_name().is_some_and(|n| n == "systemd");
    if init {
        bail!("--systemd=true with {cmd} as the command asks for systemd mode, which rless does not have (use --systemd=false)");
    }
    Ok(())
}

/// `--seccomp-policy image`: the image's profile (its
/// `io.containers.seccomp.profile` label), checked; `None` otherwise.
pub(super) fn image_seccomp(
    m: &MoreArgs,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<Option<String>> {
    if m.seccomp_policy.as_deref() != Some("image") {
        return Ok(None);
    }
    let Some(text) = labels.get("io.containers.seccomp.profile") else {
        bail!("no seccomp policy defined by image");
    };
    rless::runtime::seccomp::Profile::from_json(text)
        .map_err(|e| anyhow::anyhow!("the image's seccomp profile: {e}"))?;
    Ok(Some(text.clone()))
}

/// The mounts of the image's `VOLUME`s the user's mounts (`covered`) do
/// not cover: anonymous volumes (`bind`, as podman's), tmpfs, or none.
pub(super) fn image_volumes(
    mode: ImageVolume,
    volumes: &[String],
    covered: &[PathBuf],
) -> Result<Vec<Requested>> {
    let mut out: Vec<Requested> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    if mode == ImageVolume::Ignore {
        return Ok(out);
    }
    for v in volumes {
        let target = Path::new("/").join(v.trim_start_matches('/'));
        if covered.contains(&target) || seen.contains(&target) {
            continue;
        }
        seen.push(target.clone());
        out.push(match mode {
            ImageVolume::Tmpfs => {
                Requested::Mount(mountspec::parse_tmpfs(&target.display().to_string())?)
            }
            _ => Requested::Volume(VolumeRequest {
                name: None,
                target,
                readonly: false,
                copy: true,
            }),
        });
    }
    Ok(out)
}

/// `--memory-swappiness S` (run, create, update): checked, and the
/// warning that nothing applies it (cgroup v2 has no such setting).
pub(crate) fn swappiness(s: i64) -> Result<Option<String>> {
    if !(-1..=100).contains(&s) {
        bail!("invalid --memory-swappiness {s}: the range is 0 to 100 (-1: the default)");
    }
    Ok((s != -1)
        .then(|| "--memory-swappiness not applied: cgroup v2 has no swappiness setting".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules() {
        for ok in ["c 1:3 rwm", "a *:* r", "b 8:* mw"] {
            check_device_rule(ok).unwrap();
        }
        for bad in ["c 1:3", "x 1:3 r", "c 1-3 r", "c 1:3 rx", "c a:3 r"] {
            assert!(check_device_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn systemd_mode() {
        let m = |s: &str| MoreArgs {
            systemd: Some(s.into()),
            ..Default::default()
        };
        let init = ["/sbin/init".to_string()];
        assert!(check_systemd(&m("true"), &init).is_err());
        assert!(check_systemd(&m("true"), &["/lib/systemd/systemd".into()]).is_err());
        check_systemd(&m("true"), &["sh".into()]).unwrap();
        check_systemd(&m("false"), &init).unwrap();
        check_systemd(&MoreArgs::default(), &init).unwrap();
    }
}
