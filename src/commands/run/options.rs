//! Parsing and preparing `run`'s options: security, limits, cgroups,
//! volumes-from, environment files, labels, what `inspect` shows of them
//! (network options are in `netopts.rs`).

use super::*;
use rless::container::host_config::{cap_name, HostOptions, Ulimit};
use rless::runtime::cgroups::{self, CgroupSpec};
use std::collections::BTreeMap;

/// `--security-opt`: the seccomp mode and no_new_privs.
pub(super) fn security_options(opts: &[String], privileged: bool) -> Result<(SeccompMode, bool)> {
    let mut seccomp = if privileged {
        SeccompMode::Unconfined
    } else {
        SeccompMode::Default
    };
    let mut nnp = !privileged;
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match (k, v) {
            ("seccomp", "unconfined") => seccomp = SeccompMode::Unconfined,
            ("seccomp", "") => bail!("--security-opt seccomp needs a value: unconfined or a profile file"),
            ("seccomp", path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read seccomp profile {path}"))?;
                // Parse now, so a bad profile fails before anything is made.
                rless::runtime::seccomp::Profile::from_json(&text).with_context(|| format!("seccomp profile {path}"))?;
                seccomp = SeccompMode::Profile(text);
            }
            ("no-new-privileges", "" | "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("label" | "apparmor" | "mask" | "unmask", _) => {
                tracing::warn!("--security-opt {o} is not supported by rless and is ignored");
            }
            _ => bail!("invalid --security-opt {o:?}: use seccomp=unconfined|FILE or no-new-privileges[=true|false]"),
        }
    }
    Ok((seccomp, nnp))
}

/// `--storage-opt`: whether fuse-overlay uses the kernel's writeback cache,
/// and the driver to use: writeback is a fuse-overlay feature, so `auto`
/// takes fuse-overlay with it (as with keep-id), and `overlay` refuses it.
pub(super) fn storage_options(opts: &[String], driver: Driver) -> Result<(bool, Driver)> {
    let mut writeback = false;
    for o in opts {
        match o.split_once('=').unwrap_or((o.as_str(), "")) {
            ("writeback", "" | "true") => writeback = true,
            ("writeback", "false") => writeback = false,
            _ => bail!("invalid --storage-opt {o:?}: use writeback[=true|false]"),
        }
    }
    match driver {
        Driver::Overlay if writeback => {
            bail!("--storage-opt writeback needs --storage-driver fuse-overlay (or auto)")
        }
        Driver::Auto if writeback => Ok((true, Driver::FuseOverlay)),
        d => Ok((writeback, d)),
    }
}

/// `--ulimit NAME=SOFT[:HARD]`; -1 or "unlimited" means no limit.
pub(super) fn parse_ulimit(spec: &str) -> Result<(String, u64, u64)> {
    let bad = || {
        anyhow::anyhow!("invalid --ulimit {spec:?}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    };
    let (name, values) = spec.split_once('=').ok_or_else(bad)?;
    if rless::runtime::launch::rlimit_resource(name).is_none() {
        bail!("invalid --ulimit {spec:?}: unknown resource {name:?}");
    }
    let num = |v: &str| -> Result<u64> {
        match v {
            "-1" | "unlimited" => Ok(u64::MAX),
            v => v.parse().map_err(|_| bad()),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(values)?, num(values)?),
    };
    if soft > hard {
        bail!("invalid --ulimit {spec:?}: the soft limit is above the hard one");
    }
    Ok((name.to_string(), soft, hard))
}

/// The limit flags and `--cgroups`: the container's cgroup spec, and the
/// one warning line to print once the container is made, naming the
/// limits this host cannot apply (an error with `--cgroups=required`).
/// Values are checked here, before anything is made.
pub(super) fn check_cgroups(a: &Args, id: &ContainerId) -> Result<(CgroupSpec, Option<String>)> {
    let mode = cgroups::Mode::parse(&a.cgroups)?;
    let flags = a.limits.flags();
    // Only `--cpus` is checked against the host's CPUs, and counting them
    // reads cgroup files (a dozen calls): only for it.
    let cpus = match flags.cpus {
        Some(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        None => 1,
    };
    let spec = CgroupSpec {
        mode,
        parent: a.cgroup_parent.clone(),
        settings: cgroups::limits::settings(&flags, cpus)?,
        name: format!("rless-{id}"),
    };
    let warning = cgroups::plan(&spec)?.warning;
    Ok((spec, warning))
}

/// Readies the parent of the container's cgroup (in the command, before
/// it forks or enters the user namespace). When that fails under
/// `--cgroups=enabled`, one warning is printed and this start goes without
/// a cgroup (the returned spec).
pub(super) fn prepare_cgroups(spec: &ContainerSpec) -> Result<ContainerSpec> {
    let mut spec = spec.clone();
    if let Some(w) = cgroups::prepare(&spec.cgroup)? {
        tracing::warn!("{w}");
        spec.cgroup.mode = cgroups::Mode::Disabled;
    }
    Ok(spec)
}

pub(super) fn volume_name(m: &MountOp) -> String {
    match m {
        MountOp::Volume { name, .. } => name.clone(),
        _ => String::new(),
    }
}

/// `--volumes-from CTR[:ro|rw]`: the binds and volumes `CTR` was created
/// with (not its tmpfs), read-only with `:ro`. Its anonymous volumes stay
/// its own: removing this container does not remove them.
pub(super) fn volumes_from(store: &rless::image::store::Store, spec: &str) -> Result<Vec<MountOp>> {
    let (query, ro) = match spec.rsplit_once(':') {
        Some((q, "ro")) => (q, true),
        Some((q, "rw")) => (q, false),
        Some(_) => bail!("invalid --volumes-from {spec:?}: expected CONTAINER[:ro|rw]"),
        None => (spec, false),
    };
    let (c, _) = container::find(store, query)?;
    Ok(c.mounts
        .into_iter()
        .filter_map(|m| match m {
            MountOp::Bind {
                source,
                target,
                readonly,
            } => Some(MountOp::Bind {
                source,
                target,
                readonly: readonly || ro,
            }),
            MountOp::Volume {
                name,
                source,
                target,
                readonly,
                ..
            } => Some(MountOp::Volume {
                name,
                source,
                target,
                readonly: readonly || ro,
                copy: false,
                anonymous: false,
            }),
            _ => None,
        })
        .collect())
}

/// `--group-add`: keep-groups stands alone (podman's rule); other groups
/// need gids the user namespace maps, which single-id mode has not (its
/// one gid is the caller's, root inside).
pub(super) fn check_group_add(groups: &[String], ids: &rless::userns::IdMode) -> Result<()> {
    let keep = groups
        .iter()
        .any(|g| g == rless::runtime::user::KEEP_GROUPS);
    if keep && groups.len() > 1 {
        bail!("--group-add keep-groups cannot be combined with other groups");
    }
    if let (false, Some(g), rless::userns::IdMode::Single { reason }) = (keep, groups.first(), ids)
    {
        bail!("--group-add {g}: single-id mode maps one group only, so a process cannot have others ({reason})");
    }
    Ok(())
}

/// `--cidfile`: the id (without a newline, as docker writes it), in a
/// file made here; one that exists was refused up front and is never
/// written over.
pub(super) fn write_cidfile(path: &Path, id: &ContainerId) -> Result<()> {
    use std::io::Write;
    let what = || format!("failed to create the container ID file {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(what)?;
    if let Err(e) = f.write_all(id.as_str().as_bytes()) {
        let _ = std::fs::remove_file(path);
        return Err(anyhow::Error::from(e).context(what()));
    }
    Ok(())
}

/// A container this command made that cannot go on: removed, and the
/// `--cidfile` written for it with it.
pub(super) fn abandon(dir: &Path, cidfile: Option<&Path>) {
    let _ = container::remove(dir, true);
    if let Some(f) = cidfile {
        let _ = std::fs::remove_file(f);
    }
}

/// The proxy variables podman's `--http-proxy` (on by default) passes from
/// the caller's environment: the container's defaults, under the image's
/// and the user's. A site behind a proxy (HPC centres often are) then
/// reaches out from containers as from the login shell.
pub(super) fn proxy_env(on: bool) -> Vec<String> {
    const PROXY_VARS: [&str; 8] = [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ftp_proxy",
        "FTP_PROXY",
        "no_proxy",
        "NO_PROXY",
    ];
    if !on {
        return Vec::new();
    }
    PROXY_VARS
        .iter()
        .filter_map(|k| Some(format!("{k}={}", std::env::var(k).ok()?)))
        .collect()
}

/// Later definitions of a variable replace earlier ones, in place.
pub(super) fn dedup_env(env: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string();
        match out
            .iter_mut()
            .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    out
}

/// The container's labels: the image's, then `--label-file`s, then
/// `--label`s, each over the ones before (docker's order).
pub(super) fn labels(
    image: &BTreeMap<String, String>,
    labels: &[String],
    files: &[PathBuf],
) -> Result<BTreeMap<String, String>> {
    let mut out = image.clone();
    let mut add = |kv: &str, whence: &dyn Fn() -> String| -> Result<()> {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!("invalid label {kv:?}{}: use KEY=value", whence());
        }
        out.insert(k.to_string(), v.to_string());
        Ok(())
    };
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read label file {}", f.display()))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            add(line, &|| format!(" in label file {}", f.display()))?;
        }
    }
    for l in labels {
        add(l, &String::new)?;
    }
    Ok(out)
}

/// `KEY=value` entries for `-e NAME` (or an env-file line `NAME`) without
/// a value: the caller's variable NAME, nothing when it is unset; podman's
/// `-e 'PREFIX*'` gives every variable of the caller whose name starts with
/// PREFIX (`-e 'SLURM_*'` in a batch job). A variable whose name or value
/// is not UTF-8 is left out.
pub(crate) fn host_env(name: &str) -> Vec<String> {
    match name.strip_suffix('*') {
        Some(prefix) => std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        None => std::env::var(name)
            .ok()
            .map(|v| format!("{name}={v}"))
            .into_iter()
            .collect(),
    }
}

/// docker's --env-file: KEY=value lines, KEY alone takes the caller's
/// value (podman's `PREFIX*` the caller's variables of that prefix), `#`
/// comments and blank lines are skipped.
pub(crate) fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            // The name alone, as docker's: the value may be a secret.
            Some((k, _)) if k.is_empty() || k.contains(char::is_whitespace) => {
                bail!(
                    "invalid variable name {k:?} in env file {}: no whitespace, not empty",
                    path.display()
                )
            }
            Some(_) => out.push(line.to_string()),
            None => out.extend(host_env(line)),
        }
    }
    Ok(out)
}

/// The options as docker's `inspect` shows them in HostConfig (the limit
/// values were checked by [`check_cgroups`] already).
pub(super) fn host_options(a: &Args, rlimits: &[(String, u64, u64)]) -> HostOptions {
    let mut h = HostOptions {
        // Checked when run began (`log_config`).
        log_config: log_config(a).unwrap_or_default(),
        readonly_rootfs: a.read_only,
        tmpfs: a
            .tmpfs
            .iter()
            .map(|t| {
                let (path, opts) = t.split_once(':').unwrap_or((t, ""));
                (path.to_string(), opts.to_string())
            })
            .collect(),
        extra_hosts: a.add_host.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        cap_add: a.cap_add.iter().map(|c| cap_name(c)).collect(),
        cap_drop: a.cap_drop.iter().map(|c| cap_name(c)).collect(),
        ulimits: rlimits
            .iter()
            .map(|(n, soft, hard)| Ulimit::new(n, *soft, *hard))
            .collect(),
        cgroup_parent: a.cgroup_parent.clone().unwrap_or_default(),
        security_opt: a.security_opt.clone(),
        publish_all_ports: a.publish_all,
        // The CDI names (with --gpus's) are added once resolved.
        devices: a
            .device
            .iter()
            .filter(|d| !rless::cdi::is_qualified(d))
            .map(|d| rless::container::host_config::DeviceMapping::from_option(d))
            .collect(),
        volumes_from: a.volumes_from.clone(),
        ..Default::default()
    };
    rless::container::host_limits::apply(&mut h, &a.limits.flags());
    h
}

/// `--log-driver` and `--log-opt`, checked.
pub(super) fn log_config(a: &Args) -> anyhow::Result<rless::container::logconfig::LogConfig> {
    rless::container::logconfig::LogConfig::parse(a.log_driver.as_deref(), &a.log_opt)
        .map_err(anyhow::Error::msg)
}

/// `--platform`, or podman's `--os`/`--arch`/`--variant` made into one
/// (each defaulting to this machine's), checked.
pub(super) fn platform_of(a: &Args) -> anyhow::Result<Option<String>> {
    let parts = [&a.os, &a.arch, &a.variant];
    if parts.iter().all(|p| p.is_none()) {
        if let Some(p) = &a.platform {
            rless::image::platform::Platform::parse(p)?;
        }
        return Ok(a.platform.clone());
    }
    if a.platform.is_some() {
        anyhow::bail!("--platform conflicts with --os, --arch and --variant");
    }
    let here = rless::image::platform::Platform::host();
    let mut p = format!(
        "{}/{}",
        a.os.as_deref().unwrap_or(&here.os),
        a.arch.as_deref().unwrap_or(&here.arch)
    );
    if let Some(v) = &a.variant {
        p = format!("{p}/{v}");
    }
    rless::image::platform::Platform::parse(&p)?;
    Ok(Some(p))
}

/// `--umask`: octal, at most 0777.
pub(super) fn umask_of(a: &Args) -> anyhow::Result<Option<u32>> {
    match &a.umask {
        None => Ok(None),
        Some(m) => u32::from_str_radix(m, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("invalid --umask {m:?}: an octal mask such as 0022")),
    }
}

/// `--annotation KEY=VALUE`s.
pub(super) fn annotations_of(
    a: &Args,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    a.annotation
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(anyhow::anyhow!(
                "invalid --annotation {kv:?}: expected KEY=VALUE"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_opt_writeback() {
        let with = |v: &[&str], d| {
            storage_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), d)
        };
        let opts = |v: &[&str]| with(v, Driver::Auto);
        assert_eq!(opts(&[]).unwrap(), (false, Driver::Auto));
        // Writeback is fuse-overlay's: `auto` takes it.
        assert_eq!(opts(&["writeback"]).unwrap(), (true, Driver::FuseOverlay));
        assert_eq!(
            opts(&["writeback=true"]).unwrap(),
            (true, Driver::FuseOverlay)
        );
        assert_eq!(
            opts(&["writeback", "writeback=false"]).unwrap(),
            (false, Driver::Auto)
        );
        for bad in ["size=10G", "writeback=yes", ""] {
            let e = opts(&[bad]).unwrap_err().to_string();
            assert!(e.contains("--storage-opt"), "{bad}: {e}");
        }
        assert_eq!(
            with(&["writeback"], Driver::FuseOverlay).unwrap(),
            (true, Driver::FuseOverlay)
        );
        assert!(with(&["writeback"], Driver::Overlay).is_err());
        assert_eq!(
            with(&["writeback=false"], Driver::Overlay).unwrap(),
            (false, Driver::Overlay)
        );
    }

    #[test]
    fn env_file_errors_show_no_value() {
        let dir = std::env::temp_dir().join(format!("rless-envfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("env");
        for (text, name) in [("my key=hunter2\n", "\"my key\""), ("=hunter2\n", "\"\"")] {
            std::fs::write(&f, text).unwrap();
            let e = read_env_file(&f).unwrap_err().to_string();
            assert!(e.contains(name) && !e.contains("hunter2"), "{e}");
        }
        std::fs::write(&f, "# c\n  A=x y\n").unwrap();
        assert_eq!(read_env_file(&f).unwrap(), ["A=x y"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn env_precedence() {
        let e = dedup_env(vec!["A=1".into(), "B=2".into(), "A=3".into()]);
        assert_eq!(e, vec!["A=3".to_string(), "B=2".to_string()]);
    }

    #[test]
    fn plan_has_user_mounts() {
        let p = plan::plan(&PlanInput {
            user: vec![MountOp::Tmpfs {
                target: "/x".into(),
                options: String::new(),
                readonly: false,
            }],
            ..Default::default()
        });
        assert!(p.iter().any(|m| matches!(m, MountOp::Tmpfs { .. })));
    }
}
