//! podman's `build` options for the RUN steps' containers, the pulls of
//! base images and the final image, and the ones that change nothing here.
//!
//! Theory of operation: as in `flags.rs`, everything is checked before the
//! build starts. The RUN options (`--cap-add`, `-v`, `--memory`, `--ipc`,
//! `--no-hosts`, …) become arguments of every RUN's `rless run`, which checks
//! them as `run` does; they do not enter the build cache's keys (docker's
//! and buildah's rule: they shape how a step runs, not what it is).
//! `--creds`, `--authfile`, `--cert-dir` and `--tls-verify` go to the
//! pulls of base images, `--retry N` tries a failed one N more times. `--env` and `--unsetenv` change the final image's environment
//! only, `--omit-history` leaves its history out. Options whose result
//! rless already gives (`--rm`, `--force-rm`: step containers are always
//! removed; `--jobs`, `--isolation`, `--compress`, …) are accepted
//! silently; one whose request rless cannot honour is accepted with a
//! warning when the image is the same without it, and refused otherwise
//! (`--squash`, `--output`, `--timestamp`, …). `--manifest LIST` adds the
//! image to a manifest list (`commands::manifest`), made if missing.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// Most `--retry` attempts after the first (a bound on a typo's wait).
const MAX_RETRIES: u32 = 10;

#[derive(clap::Args, Debug, Default)]
pub struct More {
    /// RUN steps: add a capability.
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// RUN steps: drop a capability.
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// RUN steps: a device (as `run --device`).
    #[arg(long, value_name = "DEVICE")]
    device: Vec<String>,
    /// RUN steps: a bind mount (as `run -v`; not kept in the image).
    #[arg(short, long, value_name = "SRC:DST[:OPTS]")]
    volume: Vec<String>,
    /// RUN steps: memory limit.
    #[arg(short, long, value_name = "SIZE")]
    memory: Option<String>,
    /// RUN steps: memory plus swap limit.
    #[arg(long = "memory-swap", value_name = "SIZE")]
    memory_swap: Option<String>,
    /// RUN steps: CPU CFS period.
    #[arg(long = "cpu-period", value_name = "US")]
    cpu_period: Option<String>,
    /// RUN steps: CPU CFS quota.
    #[arg(long = "cpu-quota", value_name = "US")]
    cpu_quota: Option<String>,
    /// RUN steps: CPU shares.
    #[arg(short = 'c', long = "cpu-shares", value_name = "N")]
    cpu_shares: Option<String>,
    /// RUN steps: CPUs allowed.
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// RUN steps: memory nodes allowed.
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// RUN steps: the parent cgroup.
    #[arg(long = "cgroup-parent", value_name = "PATH")]
    cgroup_parent: Option<String>,
    /// RUN steps: cgroup namespace (host or private).
    #[arg(long, value_name = "MODE")]
    cgroupns: Option<String>,
    /// RUN steps: IPC namespace (as `run --ipc`).
    #[arg(long, value_name = "MODE")]
    ipc: Option<String>,
    /// RUN steps: PID namespace (as `run --pid`).
    #[arg(long, value_name = "MODE")]
    pid: Option<String>,
    /// RUN steps: UTS namespace (as `run --uts`).
    #[arg(long, value_name = "MODE")]
    uts: Option<String>,
    /// RUN steps: user namespace (as `run --userns`).
    #[arg(long, value_name = "MODE")]
    userns: Option<String>,
    /// RUN steps: no /etc/hosts of rless's making.
    #[arg(long = "no-hosts")]
    no_hosts: bool,
    /// RUN steps: a resolver option.
    #[arg(long = "dns-option", value_name = "OPT")]
    dns_option: Vec<String>,
    /// RUN steps: a DNS search domain.
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    dns_search: Vec<String>,
    /// RUN steps: the caller's proxy variables (default true).
    #[arg(long = "http-proxy", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    http_proxy: bool,
    /// RUN steps: read standard input.
    #[arg(long)]
    pub stdin: bool,
    /// Base image pulls: credentials, USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    creds: Option<String>,
    /// Base image pulls: the credentials file.
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Base image pulls: the registries' certificates (as `pull --cert-dir`).
    #[arg(long = "cert-dir", value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Base image pulls: verify TLS (false also allows plain HTTP).
    #[arg(long = "tls-verify", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Base image pulls: attempts after a failure (at most 10; default
    /// none, where podman's is 3).
    #[arg(long, value_name = "N")]
    retry: Option<u32>,
    /// Base image pulls: wait between attempts.
    #[arg(long = "retry-delay", value_name = "DURATION")]
    retry_delay: Option<String>,
    /// The final image: a variable (NAME=VALUE, or NAME for the caller's).
    #[arg(long, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The final image: remove a variable.
    #[arg(long, value_name = "NAME")]
    unsetenv: Vec<String>,
    /// The final image: no history.
    #[arg(long = "omit-history", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    omit_history: bool,
    /// Alternative ignore file (instead of CONTEXT/.containerignore or
    /// .dockerignore).
    #[arg(long, value_name = "FILE")]
    pub ignorefile: Option<PathBuf>,
    /// Image of the first FROM, instead of the one the file names.
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// The OS to build for: this host's only.
    #[arg(long, value_name = "OS")]
    os: Option<String>,
    /// The architecture to build for: this host's only.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// The variant to build for: this host's only.
    #[arg(long, value_name = "VARIANT")]
    variant: Option<String>,
    /// Remove step containers after a successful build (always done).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    rm: bool,
    /// Remove step containers after a failed build too (always done).
    #[arg(long = "force-rm", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    force_rm: Option<bool>,
    /// Build only the stages the target needs (always done).
    #[arg(long = "skip-unused-stages", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    skip_unused_stages: bool,
    /// Stages built at once (rless builds one at a time; same image).
    #[arg(long, value_name = "N")]
    jobs: Option<u32>,
    /// How RUN steps are isolated (rless's namespaces, always).
    #[arg(long, value_name = "TYPE")]
    isolation: Option<String>,
    /// Compress layers (rless's layers are compressed anyway).
    #[arg(long)]
    compress: bool,
    /// Keep layers uncompressed (accepted; no effect on the image's content).
    #[arg(long = "disable-compression", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    disable_compression: Option<bool>,
    /// docker's image signing switch (no effect, as docker's default).
    #[arg(long = "disable-content-trust", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    disable_content_trust: Option<bool>,
    /// buildah's io.buildah.version label (rless adds none).
    #[arg(long = "identity-label", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    identity_label: Option<bool>,
    /// Cached steps older than this are not used (accepted; see the
    /// warning).
    #[arg(long = "cache-ttl", value_name = "DURATION")]
    cache_ttl: Option<String>,
    /// OCI hooks of RUN steps (rless runs none from a directory).
    #[arg(long = "hooks-dir", value_name = "DIR")]
    hooks_dir: Vec<String>,
    /// Options for the OCI runtime (rless has none).
    #[arg(long = "runtime-flag", value_name = "FLAG")]
    runtime_flag: Vec<String>,
    /// Refused: rless keeps each step's layer.
    #[arg(long)]
    squash: bool,
    /// Refused: rless keeps each layer.
    #[arg(long = "squash-all")]
    squash_all: bool,
    /// Refused: rless builds images into its store only.
    #[arg(short, long, value_name = "DEST")]
    output: Option<String>,
    /// Refused: rless stamps images with the time of their last step.
    #[arg(long, value_name = "SECONDS")]
    timestamp: Option<String>,
    /// Add the image to this manifest list, made if missing (podman's).
    #[arg(long, value_name = "NAME")]
    pub manifest: Option<String>,
    /// Refused: rless builds for this host's platform only.
    #[arg(long = "all-platforms")]
    all_platforms: bool,
    /// Refused: rless does not sign images.
    #[arg(long = "sign-by", value_name = "FINGERPRINT")]
    sign_by: Option<String>,
    /// Refused: no SSH agent forwarding.
    #[arg(long, value_name = "ID[=SOCKET]")]
    ssh: Vec<String>,
    /// Refused: encrypted images are not supported.
    #[arg(long = "decryption-key", value_name = "KEY")]
    decryption_key: Vec<String>,
    /// Refused: Containerfile.in preprocessing is not supported.
    #[arg(long = "cpp-flag", value_name = "FLAG")]
    cpp_flag: Vec<String>,
    /// Refused: no named build contexts.
    #[arg(long = "build-context", value_name = "NAME=PATH")]
    build_context: Vec<String>,
}

/// What the checked options ask of the build.
#[derive(Debug, Default)]
pub struct Asked {
    /// Options for every RUN's `rless run`.
    pub run_args: Vec<String>,
    /// Options for every `rless pull` of a base image.
    pub pull_args: Vec<String>,
    /// Attempts of a base image pull, and the wait between them.
    pub pull_attempts: u32,
    pub retry_delay: std::time::Duration,
    /// RUN steps read the build's standard input.
    pub stdin: bool,
    /// Variables set in the final image.
    pub env: Vec<(String, String)>,
    pub unset_env: Vec<String>,
    pub omit_history: bool,
}

impl More {
    /// Checks every option; prints the warnings.
    pub fn check(&self) -> Result<Asked> {
        let refused: [(&str, bool); 10] = [
            ("--squash (rless keeps each step's layer)", self.squash),
            ("--squash-all (rless keeps each layer)", self.squash_all),
            (
                "--output (rless builds into its store; `rless save` or `rless export` a container of the image)",
                self.output.is_some(),
            ),
            (
                "--timestamp (rless stamps an image with the time of its last step)",
                self.timestamp.is_some(),
            ),
            (
                "--all-platforms (rless builds for this host's platform only)",
                self.all_platforms,
            ),
            ("--sign-by (rless does not sign images)", self.sign_by.is_some()),
            ("--ssh (no SSH agent forwarding)", !self.ssh.is_empty()),
            (
                "--decryption-key (encrypted images are not supported)",
                !self.decryption_key.is_empty(),
            ),
            (
                "--cpp-flag (Containerfile.in is not preprocessed)",
                !self.cpp_flag.is_empty(),
            ),
            (
                "--build-context (no named build contexts)",
                !self.build_context.is_empty(),
            ),
        ];
        if let Some((what, _)) = refused.iter().find(|(_, given)| *given) {
            bail!("build {what}");
        }
        self.check_platform()?;
        if let Some(i) = &self.isolation {
            if !matches!(i.as_str(), "oci" | "rootless" | "chroot" | "default") {
                bail!("invalid --isolation {i:?}: use oci, rootless or chroot");
            }
        }
        let warn = |what: &str| eprintln!("rless: warning: {what}");
        if !self.rm {
            warn("--rm=false: rless removes every step container");
        }
        if !self.skip_unused_stages {
            warn("--skip-unused-stages=false: rless builds only the stages the target needs");
        }
        if self.cache_ttl.is_some() {
            warn("--cache-ttl is ignored: every cached step is used (--no-cache uses none)");
        }
        if !self.hooks_dir.is_empty() || !self.runtime_flag.is_empty() {
            warn("--hooks-dir and --runtime-flag are ignored: rless has no OCI runtime to pass them to");
        }
        let mut asked = Asked {
            omit_history: self.omit_history,
            pull_attempts: 1 + self.retry.unwrap_or(0).min(MAX_RETRIES),
            retry_delay: match &self.retry_delay {
                None => std::time::Duration::from_secs(2),
                Some(d) => rless::container::health::parse_duration(d)
                    .map(std::time::Duration::from_nanos)
                    .ok_or_else(|| {
                        anyhow::anyhow!("invalid --retry-delay {d:?}: use a duration such as 2s")
                    })?,
            },
            stdin: self.stdin,
            ..Default::default()
        };
        let run = &mut asked.run_args;
        super::flags::pass_on(
            run,
            &[
                ("--cap-add", &self.cap_add),
                ("--cap-drop", &self.cap_drop),
                ("--device", &self.device),
                ("-v", &self.volume),
                ("--memory", self.memory.as_slice()),
                ("--memory-swap", self.memory_swap.as_slice()),
                ("--cpu-period", self.cpu_period.as_slice()),
                ("--cpu-quota", self.cpu_quota.as_slice()),
                ("--cpu-shares", self.cpu_shares.as_slice()),
                ("--cpuset-cpus", self.cpuset_cpus.as_slice()),
                ("--cpuset-mems", self.cpuset_mems.as_slice()),
                ("--cgroup-parent", self.cgroup_parent.as_slice()),
                ("--cgroupns", self.cgroupns.as_slice()),
                ("--ipc", self.ipc.as_slice()),
                ("--pid", self.pid.as_slice()),
                ("--uts", self.uts.as_slice()),
                ("--userns", self.userns.as_slice()),
                ("--dns-option", &self.dns_option),
                ("--dns-search", &self.dns_search),
            ],
        );
        if self.no_hosts {
            run.push("--no-hosts".into());
        }
        if !self.http_proxy {
            run.push("--http-proxy=false".into());
        }
        if self.stdin {
            run.push("-i".into());
        }
        if let Some(c) = &self.creds {
            asked.pull_args.extend(["--creds".into(), c.clone()]);
        }
        if let Some(f) = &self.authfile {
            asked
                .pull_args
                .extend(["--authfile".into(), f.display().to_string()]);
        }
        if let Some(d) = &self.cert_dir {
            asked
                .pull_args
                .extend(["--cert-dir".into(), d.display().to_string()]);
        }
        if !self.tls_verify {
            asked.pull_args.push("--tls-verify=false".into());
        }
        for e in &self.env {
            match e.split_once('=') {
                Some(("", _)) => bail!("invalid --env {e:?}: use NAME=VALUE"),
                Some((k, v)) => asked.env.push((k.to_string(), v.to_string())),
                // NAME alone: the caller's value, if it has one (podman's).
                None => asked
                    .env
                    .extend(std::env::var(e).ok().map(|v| (e.clone(), v))),
            }
        }
        asked.unset_env = self.unsetenv.clone();
        Ok(asked)
    }

    /// `--os`, `--arch`, `--variant`: this host's only, as `--platform`.
    fn check_platform(&self) -> Result<()> {
        let host = rless::image::platform::Platform::host();
        let os = self.os.as_deref().unwrap_or(&host.os);
        let arch = self.arch.as_deref().unwrap_or(&host.arch);
        if !host.matches(os, arch, self.variant.as_deref()) {
            let v = self
                .variant
                .as_deref()
                .map(|v| format!("/{v}"))
                .unwrap_or_default();
            bail!("--os/--arch/--variant {os}/{arch}{v}: rless builds for this host's platform ({host}) only");
        }
        Ok(())
    }
}

/// Applies `--env`, `--unsetenv` and `--omit-history` to the final image
/// config `config`.
pub fn apply_to_image(config: &mut serde_json::Value, asked: &Asked) {
    let env = &mut config["config"]["Env"];
    let mut list: Vec<String> = env
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let key = |s: &str| s.split('=').next().unwrap_or("").to_string();
    for (k, v) in &asked.env {
        list.retain(|e| key(e) != *k);
        list.push(format!("{k}={v}"));
    }
    list.retain(|e| !asked.unset_env.contains(&key(e)));
    if !asked.env.is_empty() || !asked.unset_env.is_empty() {
        *env = list.into();
    }
    if asked.omit_history {
        if let Some(obj) = config.as_object_mut() {
            obj.remove("history");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn more(args: &[&str]) -> Result<Asked> {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            more: More,
        }
        let p = <P as clap::Parser>::try_parse_from(
            std::iter::once("build").chain(args.iter().copied()),
        )?;
        p.more.check()
    }

    #[test]
    fn run_and_pull_options_are_passed_on() {
        let a = more(&[
            "--cap-add",
            "NET_ADMIN",
            "-v",
            "/a:/b",
            "--memory",
            "1g",
            "--no-hosts",
            "--http-proxy=false",
            "--creds",
            "u:p",
            "--tls-verify=false",
            "--ipc",
            "host",
        ])
        .unwrap();
        assert_eq!(
            a.run_args,
            [
                "--cap-add",
                "NET_ADMIN",
                "-v",
                "/a:/b",
                "--memory",
                "1g",
                "--ipc",
                "host",
                "--no-hosts",
                "--http-proxy=false"
            ]
        );
        assert_eq!(a.pull_args, ["--creds", "u:p", "--tls-verify=false"]);
        assert_eq!(a.pull_attempts, 1);
        assert_eq!(more(&["--retry", "3"]).unwrap().pull_attempts, 4);
        assert_eq!(more(&["--retry", "1000"]).unwrap().pull_attempts, 11);
    }

    #[test]
    fn refused_and_accepted() {
        for bad in [
            &["--squash"][..],
            &["--output", "type=local,dest=out"],
            &["--timestamp", "0"],
            &["--build-context", "a=b"],
            &["--isolation", "vm"],
            &["--arch", "sparc"],
            &["--env", "=x"],
            &["--retry-delay", "soon"],
        ] {
            assert!(more(bad).is_err(), "{bad:?} must be refused");
        }
        for fine in [
            &["--rm"][..],
            &["--force-rm"],
            &["--force-rm=false"],
            &["--jobs", "4"],
            &["--isolation", "chroot"],
            &["--compress"],
            &["--disable-compression"],
            &["--identity-label=false"],
            &["--retry-delay", "500ms"],
        ] {
            assert!(more(fine).is_ok(), "{fine:?} must be accepted");
        }
    }

    #[test]
    fn env_and_history_of_the_final_image() {
        let mut config = serde_json::json!({
            "config": {"Env": ["PATH=/bin", "A=1", "B=2"]},
            "history": [{"created_by": "x"}],
        });
        let asked = more(&[
            "--env",
            "A=9",
            "--env",
            "C=3",
            "--unsetenv",
            "B",
            "--omit-history",
        ])
        .unwrap();
        apply_to_image(&mut config, &asked);
        assert_eq!(
            config["config"]["Env"],
            serde_json::json!(["PATH=/bin", "A=9", "C=3"])
        );
        assert!(config.get("history").is_none());
    }
}
