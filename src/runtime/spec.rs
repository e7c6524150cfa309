//! What a container is started from: the process ([`ProcessSpec`]) and the
//! whole container ([`ContainerSpec`]), resolved by `run`/`create` before
//! anything starts and stored as the container's `spec.json`, which
//! `start`, `exec` and `inspect` read back.

use super::caps::CapSet;
use super::plan::MountOp;
use super::rootfs::RootFs;
use super::{cgroups, hooks, network, seccomp, share};
use crate::userns::IdMode;
use std::path::PathBuf;

/// The process to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    /// `KEY=value`, image first, then the user's; later wins.
    pub env: Vec<String>,
    pub cwd: String,
    /// `user[:group]` as given, resolved inside the container.
    pub user: String,
    pub tty: bool,
    pub stdin: bool,
    pub caps: CapSet,
    pub no_new_privs: bool,
    #[serde(default)]
    pub seccomp: SeccompMode,
    /// `--ulimit`: resource name, soft and hard limit (`u64::MAX` = unlimited).
    #[serde(default)]
    pub rlimits: Vec<(String, u64, u64)>,
    /// `--group-add`: group names or numbers, or `keep-groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `--umask` (podman's); none: rless's own, 0022 (see `commands::run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// `--oom-score-adj`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// `--unsetenv`: defaults the runtime does not add (PATH, HOSTNAME,
    /// HOME, TERM); `*` for every one (`--unsetenv-all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset_defaults: Vec<String>,
    /// `--secret NAME,type=env`: `KEY=value`, over `env`; kept apart so
    /// `inspect` (which shows `env`) never shows a secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
    /// `--personality`: the execution domain personality(2) sets before
    /// the exec (0: PER_LINUX, 8: PER_LINUX32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<u32>,
    /// `--preserve-fds N` (podman's): descriptors 3 to 3+N-1 of `run` are
    /// passed on to the command. Never in the spec on disk: a later
    /// `start` passes nothing on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub preserve_fds: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The seccomp filter a process gets.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub enum SeccompMode {
    /// docker's default profile, for the process's capabilities.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`, `--privileged`).
    Unconfined,
    /// A docker/OCI JSON profile (its text, read when the container was made).
    Profile(String),
}

impl ProcessSpec {
    /// Compiles the process's seccomp filter (in the parent: it allocates).
    pub fn seccomp_program(&self) -> Result<Option<seccomp::Program>, seccomp::SeccompError> {
        let caps = self.caps.names();
        let profile = match &self.seccomp {
            SeccompMode::Unconfined => return Ok(None),
            SeccompMode::Default => seccomp::Profile::docker_default_with_caps(&caps),
            SeccompMode::Profile(text) => seccomp::Profile::from_json_with_caps(text, &caps)?,
        };
        seccomp::compile(&profile).map(Some)
    }
}

/// Everything needed to start a container, resolved in advance.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerSpec {
    pub rootfs: RootFs,
    /// Where the root filesystem is assembled (an empty directory).
    pub merged: PathBuf,
    pub plan: Vec<MountOp>,
    pub hostname: String,
    /// A network namespace of its own, else the host's.
    pub private_network: bool,
    /// The userspace network in that namespace; `None`: loopback only.
    #[serde(default)]
    pub slirp: Option<network::SlirpSpec>,
    /// User-defined networks (the container joins the helper's user
    /// namespace instead of making its own).
    #[serde(default)]
    pub user_networks: Option<network::UserNetSpec>,
    pub process: ProcessSpec,
    pub ids: IdMode,
    pub keep_id: bool,
    /// keep-id's (uid, gid) for the user inside, when not their own
    /// (podman's `--userns keep-id:uid=N,gid=N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_id_as: Option<(u32, u32)>,
    /// podman's `--uidmap`/`--gidmap`: a user namespace of the container's
    /// own, nested in the default one ([`super::idmap`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_maps: Option<super::idmap::IdMaps>,
    /// The container's cgroup and limits.
    #[serde(default)]
    pub cgroup: cgroups::CgroupSpec,
    /// The namespaces it shares with the host or other containers, and
    /// its /dev/shm size.
    #[serde(default)]
    pub namespaces: share::Namespaces,
    /// `--sysctl`: settings of its own namespaces, written by the init.
    #[serde(default)]
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// The OCI hooks of its CDI devices ([`hooks`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<hooks::OciHooks>,
    /// `--cgroupns private`: a cgroup namespace of its own, made by the
    /// init once it is in its cgroup (default: the caller's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cgroupns_private: bool,
    /// A pod's infra container: its command is not executed; the init's
    /// child idles instead, holding the namespaces for the pod's members
    /// (`process.args[0]` only names it, see `init::infra_idle`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub infra: bool,
}

impl ContainerSpec {
    /// The networks it is on, as `ps` and `inspect` name them: its
    /// user-defined networks, else `slirp`, `host`, `none` or
    /// `container:ID`.
    pub fn network_names(&self) -> Vec<String> {
        if let Some(d) = &self.namespaces.net {
            return vec![format!("container:{}", d.id)];
        }
        match (&self.user_networks, self.private_network, &self.slirp) {
            (Some(u), _, _) => u.attachments.iter().map(|a| a.network.clone()).collect(),
            (None, false, _) => vec!["host".into()],
            (None, true, Some(_)) => vec!["slirp".into()],
            (None, true, None) => vec!["none".into()],
        }
    }
}
