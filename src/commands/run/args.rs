//! `run`'s and `create`'s command line (docker's and podman's option
//! names), and what the image contributes to a container's defaults.

use std::path::PathBuf;

#[derive(clap::Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct Args {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub(super) help: Option<bool>,
    /// Keep stdin open and pass it to the command.
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) interactive: bool,
    /// Give the command a terminal.
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) tty: bool,
    /// Remove the container when it exits.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) rm: Option<bool>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped (detached containers).
    #[arg(long, default_value = "no")]
    pub(super) restart: String,
    /// Run in the background and print the container id.
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) detach: bool,
    /// Pass the signals this process gets on to the container (true); false: a signal ends this process only, and the container runs on (with -t, as docker, the detach keys ctrl-p,ctrl-q leave it too).
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) sig_proxy: bool,
    /// The container's name.
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Where the output goes: k8s-file (the default), json-file (the same file), or none (`logs` refuses).
    #[arg(long, value_name = "DRIVER")]
    pub(super) log_driver: Option<String>,
    /// A log option: max-size=SIZE (per file, default 20m), max-file=N (files kept, default 2).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(super) log_opt: Vec<String>,
    /// Pass every variable of this environment to the container (podman's).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) env_host: bool,
    /// Pass this environment's proxy variables (http_proxy, https_proxy,
    /// ftp_proxy, no_proxy, either case) to the container, under the
    /// image's and -e's (podman's; default true).
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) http_proxy: bool,
    /// Remove a variable the image (or rless) sets by default (podman's).
    #[arg(long, value_name = "KEY")]
    pub(super) unsetenv: Vec<String>,
    /// Remove every variable set by default: only -e, --env-file and --env-host ones are left (podman's).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) unsetenv_all: bool,
    /// Keep the image's /etc/hosts instead of making one (podman's).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) no_hosts: bool,
    /// The command's file mode creation mask, octal (podman's; default: the caller's).
    #[arg(long, value_name = "MASK")]
    pub(super) umask: Option<String>,
    /// The command's OOM score adjustment (-1000 to 1000; rootless, only raising it works).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub(super) oom_score_adj: Option<i32>,
    /// An annotation KEY=VALUE, kept with the container (podman's).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(super) annotation: Vec<String>,
    /// The image's architecture, when --platform is not given (podman's).
    #[arg(long, value_name = "ARCH")]
    pub(super) arch: Option<String>,
    /// The image's operating system, when --platform is not given (podman's).
    #[arg(long, value_name = "OS")]
    pub(super) os: Option<String>,
    /// The image's architecture variant, when --platform is not given (podman's).
    #[arg(long, value_name = "VARIANT")]
    pub(super) variant: Option<String>,
    /// Remove a container that already has this --name first (podman's).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) replace: bool,
    /// Write the container's id to this file (which must not exist).
    #[arg(long, value_name = "FILE")]
    pub(super) cidfile: Option<PathBuf>,
    /// Set an environment variable (KEY=value, or KEY to take it from here).
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub(super) env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long)]
    pub(super) env_file: Vec<PathBuf>,
    /// Read KEY=VALUE entries each ended by a NUL byte, values of any
    /// lines (`kube play`'s variables from Secrets, through a pipe).
    #[arg(long, hide = true, value_name = "FILE")]
    pub(super) env_file0: Vec<PathBuf>,
    /// Set a label (KEY=value, or KEY for an empty value).
    #[arg(short, long)]
    pub(super) label: Vec<String>,
    /// Read labels from a file (KEY=value lines).
    #[arg(long)]
    pub(super) label_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub(super) workdir: Option<String>,
    /// User (name or uid, optionally :group).
    #[arg(short, long)]
    pub(super) user: Option<String>,
    /// Another supplementary group (a name from the image's /etc/group, or a gid); keep-groups keeps yours (podman's).
    #[arg(long, value_name = "GROUP")]
    pub(super) group_add: Vec<String>,
    /// Override the image's entrypoint.
    #[arg(long)]
    pub(super) entrypoint: Option<String>,
    /// The container's hostname (default: the short container id; the
    /// host's name with --network host).
    #[arg(short = 'h', long)]
    pub(super) hostname: Option<String>,
    /// The container's NIS domain name (`kernel.domainname`, as `--sysctl` sets it).
    #[arg(long)]
    pub(super) domainname: Option<String>,
    /// Bind mount or volume: /host/path:/ctr/path[:ro], NAME:/ctr/path[:ro|nocopy], or /ctr/path (anonymous volume).
    #[arg(short, long = "volume")]
    pub(super) volume: Vec<String>,
    /// Mount in docker's syntax: type=volume|bind|tmpfs,src=…,dst=…[,readonly][,volume-nocopy].
    #[arg(long)]
    pub(super) mount: Vec<String>,
    /// Mount the volumes and binds of another container (CTR[:ro|rw]).
    #[arg(long, value_name = "CTR[:ro]")]
    pub(super) volumes_from: Vec<String>,
    /// A tmpfs: /path[:size=…,mode=…].
    #[arg(long)]
    pub(super) tmpfs: Vec<String>,
    /// Make the root filesystem read-only (/tmp, /var/tmp and /run become tmpfs).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) read_only: bool,
    /// With --read-only: the tmpfs on /tmp, /var/tmp and /run (true, as podman), or none.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) read_only_tmpfs: bool,
    /// A host device (or a directory of them) in the container:
    /// /dev/host[:/dev/container][:rwm] (rwm is not enforced rootless), or
    /// a CDI device VENDOR/CLASS=NAME (nvidia.com/gpu=all).
    #[arg(long)]
    pub(super) device: Vec<String>,
    /// GPUs through CDI (docker's syntax): all, a count, or device=ID[,ID];
    /// as --device nvidia.com/gpu=….
    #[arg(long)]
    pub(super) gpus: Vec<String>,
    /// Accepted for docker compatibility: every rless container has an init
    /// (pid 1) that reaps zombies and passes signals on.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) init: bool,
    /// Union filesystem: overlay (kernel), fuse-overlay or auto; default: storage.toml's driver, else overlay where the kernel allows it.
    #[arg(long, env = "RLESS_STORAGE_DRIVER")]
    pub(super) storage_driver: Option<String>,
    /// Storage option: writeback[=true|false] (fuse-overlay, which `auto` then picks: gather writes in the kernel's page cache; a full disk then shows at close, not at write).
    #[arg(long)]
    pub(super) storage_opt: Vec<String>,
    /// Run an exploded root filesystem directory instead of an image.
    #[arg(long, value_name = "DIR")]
    pub(super) rootfs: Option<PathBuf>,
    /// Pull the image: missing (when the store lacks it), always, never, or newer (when the registry has another; the stored one if it cannot be asked).
    #[arg(long, default_value = "missing", value_name = "POLICY")]
    pub(super) pull: String,
    /// Do not show the pull's progress (nor "Unable to find image").
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) quiet: bool,
    /// Run the image for this platform (os/arch[/variant]): pulls it from a multi-platform image.
    #[arg(long)]
    pub(super) platform: Option<String>,
    /// Network: slirp[:allow_host_loopback=true] (the userspace network, default), none (loopback only), host, container:NAME|ID (another container's), or the name of a user-defined network (repeat for several).
    #[arg(long, alias = "net")]
    pub(super) network: Vec<String>,
    /// PID namespace: private (default), host, or container:NAME|ID.
    #[arg(long, value_name = "MODE")]
    pub(super) pid: Option<String>,
    /// IPC namespace: shareable (default), private, none, host, or container:NAME|ID.
    #[arg(long, value_name = "MODE")]
    pub(super) ipc: Option<String>,
    /// UTS namespace (hostname): private (default), host, or container:NAME|ID.
    #[arg(long, value_name = "MODE")]
    pub(super) uts: Option<String>,
    /// Size of /dev/shm (default 64m), e.g. 1g.
    #[arg(long, value_name = "SIZE")]
    pub(super) shm_size: Option<String>,
    /// Another name of the container on its user-defined networks.
    #[arg(long = "network-alias", value_name = "ALIAS")]
    pub(super) network_alias: Vec<String>,
    /// The container's address on its (first) user-defined network.
    #[arg(long)]
    pub(super) ip: Option<String>,
    /// The pod (`rless pod create`) the container joins, with the namespaces its infra container shares.
    #[arg(long, value_name = "NAME")]
    pub(super) pod: Option<String>,
    /// The pod whose id (the first line of) FILE holds, as --pod (podman's).
    #[arg(long, value_name = "FILE")]
    pub(super) pod_id_file: Option<PathBuf>,
    /// `pod create`'s: this container is the --pod's infra container (no
    /// image; the words after the options are its infra command).
    #[arg(long, hide = true)]
    pub(super) pod_infra: bool,
    /// Containers (CTR[,CTR]) that must exist, and that `start` starts first (podman's).
    #[arg(long, value_name = "CTR")]
    pub(super) requires: Vec<String>,
    /// Publish a port: [HOSTIP:][HOSTPORT:]CTRPORT[/tcp|udp], ranges allowed.
    #[arg(short, long)]
    pub(super) publish: Vec<String>,
    /// Publish every port the image exposes, on random host ports.
    #[arg(short = 'P', long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) publish_all: bool,
    /// Expose a port or a range (PORT[/tcp|udp]) for -P, as the image's
    /// EXPOSE does.
    #[arg(long)]
    pub(super) expose: Vec<String>,
    /// How published ports reach the container: smoltcp (default; the container sees the client's address), splice (faster TCP; it sees its own) or handoff (the server gets the host socket: loopback speed, real client address; Linux 5.9).
    #[arg(long, value_name = "smoltcp|splice|handoff")]
    pub(super) port_driver: Option<String>,
    /// Write every frame of the container's network to this pcap file.
    #[arg(long)]
    pub(super) pcap: Option<PathBuf>,
    /// DNS servers for /etc/resolv.conf (default: the userspace network's forwarder); on user-defined networks resolv.conf keeps the network's server, which asks these for the names it does not own.
    #[arg(long)]
    pub(super) dns: Vec<String>,
    /// Search domains for /etc/resolv.conf ("." for none).
    #[arg(long)]
    pub(super) dns_search: Vec<String>,
    /// Options for /etc/resolv.conf (ndots:2, …).
    #[arg(long, alias = "dns-opt")]
    pub(super) dns_option: Vec<String>,
    /// Extra /etc/hosts entries, HOST:IP.
    #[arg(long)]
    pub(super) add_host: Vec<String>,
    /// User namespace: "" (you are root inside) or keep-id (you are yourself).
    #[arg(long, default_value = "")]
    pub(super) userns: String,
    #[arg(long)]
    pub(super) cap_add: Vec<String>,
    #[arg(long)]
    pub(super) cap_drop: Vec<String>,
    /// Keep every capability of the user namespace; no seccomp, no masked paths.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) privileged: bool,
    /// seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false].
    #[arg(long)]
    pub(super) security_opt: Vec<String>,
    /// Resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, …).
    #[arg(long)]
    pub(super) ulimit: Vec<String>,
    /// Set a kernel setting of the container's own namespaces (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.domainname).
    #[arg(long, value_name = "NAME=VALUE")]
    pub(super) sysctl: Vec<String>,
    /// The cgroup limits (`--memory`, `--cpus`, …; cgroup v2 only).
    #[command(flatten)]
    pub(super) limits: super::limitargs::LimitArgs,
    /// Parent cgroup (cgroup v2 only).
    #[arg(long)]
    pub(super) cgroup_parent: Option<String>,
    /// enabled (warn when limits cannot be applied), disabled, or required.
    #[arg(long, default_value = "enabled")]
    pub(super) cgroups: String,
    /// The signal `stop` sends first (default: the image's STOPSIGNAL, else SIGTERM).
    #[arg(long, value_name = "SIGNAL")]
    pub(super) stop_signal: Option<String>,
    /// Seconds `stop` (without -t) waits after the stop signal before SIGKILL (default 10).
    #[arg(long, value_name = "SECONDS")]
    pub(super) stop_timeout: Option<u64>,
    /// Health check command, run by `sh -c` in the container (docker's CMD-SHELL).
    #[arg(long, value_name = "COMMAND")]
    pub(super) health_cmd: Option<String>,
    /// Time between health checks (a Go duration: 30s, 200ms; default 30s).
    #[arg(long, value_name = "DURATION")]
    pub(super) health_interval: Option<String>,
    /// Time after which a health check is killed and fails (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub(super) health_timeout: Option<String>,
    /// Failures in a row that make the container unhealthy (default 3).
    #[arg(long, value_name = "N")]
    pub(super) health_retries: Option<u32>,
    /// Time after the start during which failures do not count (default 0s).
    #[arg(long, value_name = "DURATION")]
    pub(super) health_start_period: Option<String>,
    /// No health check, not even the image's.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) no_healthcheck: bool,
    /// A secret of `rless secret` (podman's): NAME[,type=mount|env][,target=PATH|VAR][,uid=N][,gid=N][,mode=OCTAL]; a read-only file at /run/secrets/NAME (mode 0444) by default.
    #[arg(long, value_name = "SECRET[,OPTION=VALUE…]")]
    pub(super) secret: Vec<String>,
    // The options that act after the container is made (see
    // `container::runopts`), checked in `runopts.rs`.
    /// Attach only these streams: stdin, stdout, stderr (repeat for several; not with -d).
    #[arg(short, long, value_name = "STREAM")]
    pub(super) attach: Vec<String>,
    /// The keys that detach from a `-it` container (docker's form: ctrl-p,ctrl-q; empty for none).
    #[arg(long, value_name = "KEYS")]
    pub(super) detach_keys: Option<String>,
    /// The container's time zone: Area/City (from the host's /usr/share/zoneinfo) or local (the host's) (podman's).
    #[arg(long, value_name = "ZONE")]
    pub(super) tz: Option<String>,
    /// Write the container process's host pid to this file, removed with the container (podman's).
    #[arg(long, value_name = "FILE")]
    pub(super) pidfile: Option<PathBuf>,
    /// Remove the image once the container is removed (implies --rm); kept if another container uses it (podman's).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(super) rmi: bool,
    /// Stop the container after this many seconds (stop signal, then SIGKILL after the stop timeout); exit code 255 (podman's).
    #[arg(long, value_name = "SECONDS")]
    pub(super) timeout: Option<u64>,
    /// podman's further options (see `moreopts.rs`).
    #[command(flatten)]
    pub(super) more: super::moreopts::MoreArgs,
    /// IMAGE [COMMAND [ARG…]] (with --rootfs: COMMAND [ARG…]).
    #[arg(required = true, allow_hyphen_values = true)]
    pub(super) args: Vec<String>,
}

impl Args {
    /// Whether the container is removed when it exits (`--rm`, `--rmi`).
    pub(super) fn removes(&self) -> bool {
        self.rm.unwrap_or(false)
    }
}

/// What the image contributes.
#[derive(Default)]
pub(super) struct ImageDefaults {
    /// `80/tcp` and so on, from the image's ExposedPorts.
    pub(super) exposed: Vec<String>,
    pub(super) entrypoint: Vec<String>,
    pub(super) cmd: Vec<String>,
    pub(super) env: Vec<String>,
    pub(super) workdir: String,
    pub(super) user: String,
    /// `VOLUME` declarations (config.Volumes): anonymous volumes.
    pub(super) volumes: Vec<String>,
    /// `LABEL`s (config.Labels), under the container's own.
    pub(super) labels: std::collections::BTreeMap<String, String>,
    /// `STOPSIGNAL` (config.StopSignal), if it names a signal.
    pub(super) stop_signal: Option<rless::signal::Sig>,
    /// `HEALTHCHECK` (config.Healthcheck).
    pub(super) healthcheck: Option<rless::container::health::HealthConfig>,
}

impl ImageDefaults {
    /// What the image's config blob (`config.config`) gives.
    pub(super) fn from_config(config: &serde_json::Value) -> ImageDefaults {
        let c = config.get("config");
        let field = |k: &str| c.and_then(|c| c.get(k));
        let text = |k: &str| field(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        // The keys of an object field (`ExposedPorts`, `Volumes`).
        let keys = |k: &str| -> Vec<String> {
            field(k)
                .and_then(|v| v.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        ImageDefaults {
            entrypoint: strings(field("Entrypoint")),
            cmd: strings(field("Cmd")),
            env: strings(field("Env")),
            workdir: text("WorkingDir"),
            exposed: keys("ExposedPorts"),
            user: text("User"),
            volumes: keys("Volumes"),
            labels: field("Labels")
                .and_then(|v| v.as_object())
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            // An unknown one is SIGTERM, as docker takes it.
            stop_signal: field("StopSignal")
                .and_then(|v| v.as_str())
                .and_then(rless::signal::Sig::parse),
            healthcheck: field("Healthcheck").and_then(|h| serde_json::from_value(h.clone()).ok()),
        }
    }
}

pub(super) fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The container's health check: the image's, changed by the `--health-*`
/// options (`--health-cmd` replaces its command), or none with
/// `--no-healthcheck`, as docker.
pub(super) fn healthcheck(
    a: &Args,
    image: Option<&rless::container::health::HealthConfig>,
) -> anyhow::Result<Option<rless::container::health::HealthConfig>> {
    use rless::container::health::{parse_duration, HealthConfig};
    let options = a.health_cmd.is_some()
        || a.health_interval.is_some()
        || a.health_timeout.is_some()
        || a.health_retries.is_some()
        || a.health_start_period.is_some();
    if a.no_healthcheck {
        if options {
            anyhow::bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    let mut h = image.cloned().unwrap_or_default();
    if let Some(c) = &a.health_cmd {
        h.test = vec!["CMD-SHELL".into(), c.clone()];
    }
    let duration = |name: &str, v: &Option<String>, to: &mut u64| -> anyhow::Result<()> {
        if let Some(v) = v {
            *to = parse_duration(v).ok_or_else(|| {
                anyhow::anyhow!("invalid --{name} {v:?}: use a duration such as 30s or 200ms")
            })?;
        }
        Ok(())
    };
    duration("health-interval", &a.health_interval, &mut h.interval)?;
    duration("health-timeout", &a.health_timeout, &mut h.timeout)?;
    duration(
        "health-start-period",
        &a.health_start_period,
        &mut h.start_period,
    )?;
    if let Some(r) = a.health_retries {
        h.retries = r;
    }
    Ok((h != HealthConfig::default()).then_some(h))
}
