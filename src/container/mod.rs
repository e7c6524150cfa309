//! Containers on disk: ids, names, configuration and state.
//!
//! Theory of operation: `containers/<id>/` in the store holds `config.json`
//! (written once, at creation), `state.json` (replaced atomically at each
//! change), the writable layer (`upper/`, `work/`), the mount point
//! `merged/` and the generated `hosts`, `hostname` and `resolv.conf`.
//! `config.json` lists the container's user mounts, among them the
//! volumes it uses ([`volume`]). The state and its marks are in
//! [`state`].
//! Creation takes the `containers` lock so two containers cannot take one
//! name; the directory is made under a temporary name and renamed into
//! place last, so a half-made container never shows.

pub mod attach;
pub mod control;
pub mod cp;
pub mod export;
mod filecache;
pub mod health;
pub mod host_config;
pub mod host_limits;
pub mod logconfig;
pub mod logs;
pub mod monitor;
pub mod mountpoints;
pub mod mountspec;
pub mod pod;
pub mod runopts;
pub mod secret;
pub mod secret_journal;
pub mod session;
pub mod since;
pub mod state;
pub mod volume;

pub use state::*;

use crate::image::digest::Digest;
use crate::image::store::{remove_tree, tmp_name, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// A container id: 64 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContainerId(String);

impl ContainerId {
    /// A fresh random id.
    pub fn random() -> ContainerId {
        let mut bytes = [0u8; 32];
        let mut filled = 0;
        while filled < bytes.len() {
            match rustix::rand::getrandom(
                &mut bytes[filled..],
                rustix::rand::GetRandomFlags::empty(),
            ) {
                Ok(n) => filled += n,
                Err(_) => {
                    // No getrandom (very old kernels): time and pid still make collisions unlikely.
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    let seed = Digest::of(format!("{t:?}{}", std::process::id()).as_bytes());
                    return ContainerId(seed.hex().to_string());
                }
            }
        }
        ContainerId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-digit form docker shows.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(
        "the container name {0:?} is already in use; remove that container or choose another name"
    )]
    NameInUse(String),
    #[error("renaming a container with the same name as its current name ({0})")]
    SameName(String),
    #[error("container is not running")]
    NotRunning,
    #[error("container is already paused")]
    Paused,
    #[error("container is not paused")]
    NotPaused,
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container id prefix {0} is ambiguous; give more of it or the name")]
    Ambiguous(String),
    #[error("invalid container name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Volume(#[from] volume::VolumeError),
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a container was created with (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub id: ContainerId,
    pub name: String,
    /// The image id; empty for `--rootfs`.
    pub image_id: String,
    pub image_name: String,
    pub command: Vec<String>,
    /// Seconds since the epoch, and the nanoseconds within that second
    /// (containers made in one second keep their order).
    pub created: i64,
    #[serde(default)]
    pub created_ns: u32,
    pub auto_remove: bool,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The user mounts (binds, tmpfs, volumes) it was created with: which
    /// volumes it uses, and what `--volumes-from` copies.
    #[serde(default)]
    pub mounts: Vec<crate::runtime::plan::MountOp>,
    /// `--label`s over the image's `LABEL`s.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// What `stop` sends first (`--stop-signal`, else the image's
    /// `STOPSIGNAL`), by its canonical name; none: SIGTERM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `--stop-timeout`: the seconds `stop` (without `-t`) waits after the
    /// stop signal before SIGKILL; none: 10, as docker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// Its health check (`--health-*`, else the image's `HEALTHCHECK`),
    /// in docker's form (`["NONE"]`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<health::HealthConfig>,
    /// The options it was created with, as docker's HostConfig shows them.
    #[serde(default)]
    pub host_config: host_config::HostOptions,
    /// `--annotation`s (podman's).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The command line that made it (podman's `CreateCommand`), for
    /// `generate systemd --new`; empty for containers of older versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_command: Vec<String>,
    /// The directory that command ran in, which its relative paths
    /// (`-v ./data:/d`, `--env-file`) are relative to: `container clone`
    /// runs it there again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_dir: Option<PathBuf>,
    /// `--secret`s (podman's `Config.Secrets` in `inspect`): which secret,
    /// and how it is given, never its data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<secret::ContainerSecret>,
    /// `-a`, `--detach-keys`, `--tz`, `--pidfile`, `--rmi`, `--timeout`.
    #[serde(default, skip_serializing_if = "runopts::RunOptions::is_unset")]
    pub run_options: runopts::RunOptions,
    /// `--pod`: the id of the pod it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// `--requires`: the containers (as given) that `start` starts first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Its exposed ports (`80/tcp`): the image's `EXPOSE`s and `--expose`,
    /// as podman records them (what `-P` publishes, `ps --filter expose=`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
}

/// `--restart`, carried out by the monitor of a detached container while it
/// lives (nothing restarts containers after a reboot: see `generate systemd`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most this many times (0: no limit).
    OnFailure(u32),
    Always,
    UnlessStopped,
}

impl ContainerConfig {
    /// The signal `stop` and `restart` send first.
    pub fn stop_signal(&self) -> crate::signal::Sig {
        self.stop_signal
            .as_deref()
            .and_then(crate::signal::Sig::parse)
            .unwrap_or(crate::signal::Sig::TERM)
    }

    /// When it was made, to order containers (`ps`, `before=`, `since=`).
    pub fn created_at(&self) -> (i64, u32) {
        (self.created, self.created_ns)
    }
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Option<RestartPolicy> {
        match s.split_once(':') {
            None if s == "no" || s.is_empty() => Some(RestartPolicy::No),
            None if s == "always" => Some(RestartPolicy::Always),
            None if s == "unless-stopped" => Some(RestartPolicy::UnlessStopped),
            None if s == "on-failure" => Some(RestartPolicy::OnFailure(0)),
            Some(("on-failure", n)) => n.parse().ok().map(RestartPolicy::OnFailure),
            _ => None,
        }
    }

    /// Whether to start again after exit `code`, having restarted `done`
    /// times; `stopped` when the user stopped it (`rless stop`).
    pub fn should_restart(self, code: i32, done: u32, stopped: bool) -> bool {
        if stopped {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => code != 0 && (max == 0 || done < max),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

/// Sends what a running container wrote, but its FUSE root still holds in
/// the kernel's writeback cache (`--storage-opt writeback`), on to the
/// writable layer, for commands that read the layer from outside (`commit`,
/// `diff`). Kernel overlay writes straight to the layer's own files, and a
/// stopped container sent everything when its files were closed: nothing
/// to do for either. Only a process in the container's user namespace may
/// use its FUSE mount, so an agent joins the init's namespaces and syncs
/// `/` there. The caller must be single-threaded. In the command's
/// re-executed child (subuid mode) it does nothing: the parent flushed
/// already, and the init's namespaces may be out of the child's reach.
pub fn flush_writes(dir: &Path) -> Result<(), export::AgentError> {
    if crate::userns::in_userns() {
        return Ok(());
    }
    let cached = read_spec(dir).is_ok_and(
        |s| matches!(s.rootfs, crate::runtime::rootfs::RootFs::Layers(l) if l.writeback),
    );
    let state = read_state(dir);
    if !cached || state.driver.as_deref() != Some("fuse-overlay") || !state.running() {
        return Ok(());
    }
    let Some(pid) = state
        .pid
        .filter(|_| process_alive(state.pid, state.init_start))
    else {
        return Ok(());
    };
    match export::Agent::spawn(&export::Access::Join(pid)).and_then(|a| a.sync()) {
        // It ended while we joined: its files were closed, so sent.
        Err(_) if !process_alive(state.pid, state.init_start) => Ok(()),
        r => r,
    }
}

/// Finds a container by full id, name, or unique id prefix.
pub fn find(store: &Store, query: &str) -> Result<(ContainerConfig, PathBuf), ContainerError> {
    let all = list(store);
    let hit = all
        .iter()
        .find(|c| c.id.as_str() == query || c.name == query)
        .cloned()
        .map(Ok)
        .unwrap_or_else(|| {
            let hits: Vec<_> = if query.is_empty() {
                vec![]
            } else {
                all.iter()
                    .filter(|c| c.id.as_str().starts_with(query))
                    .collect()
            };
            match hits[..] {
                [one] => Ok(one.clone()),
                [] => Err(ContainerError::NotFound(query.to_string())),
                _ => Err(ContainerError::Ambiguous(query.to_string())),
            }
        })?;
    let dir = containers_dir(store).join(hit.id.as_str());
    Ok((hit, dir))
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, as docker requires.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// A docker-style generated name, `adjective_noun`.
pub fn generated_name(id: &ContainerId) -> String {
    const ADJ: [&str; 16] = [
        "brave", "calm", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "quiet", "sharp", "tender", "vivid", "witty",
    ];
    const NOUN: [&str; 16] = [
        "babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lovelace",
        "meitner", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak",
    ];
    let b = id.as_str().as_bytes();
    let n = |i: usize| (b[i] as char).to_digit(16).unwrap_or(0) as usize;
    format!("{}_{}{}", ADJ[n(0)], NOUN[n(1)], &id.as_str()[2..4])
}

pub fn containers_dir(store: &Store) -> PathBuf {
    store.root().join("containers")
}

/// Reads every container's configuration (unreadable ones are skipped).
/// An auto-remove container its monitor left behind is removed on the way
/// ([`reap_abandoned`]), so that no command sees it.
pub fn list(store: &Store) -> Vec<ContainerConfig> {
    let mut all = list_at(store.root());
    all.retain(|c| !(c.auto_remove && reap_abandoned(store, c)));
    all
}

/// Whether `dir` is a `--rm` container that has exited and that no
/// monitor will remove: the monitor recorded its pid (running, or
/// removing) and is gone (killed, or the machine restarted). A monitor
/// that is alive removes it itself; a `restart` under way keeps it.
fn abandoned(dir: &Path) -> bool {
    let state = read_state(dir);
    matches!(state.status.as_str(), "exited" | "removing")
        && state.monitor_pid.is_some()
        && !process_alive(state.monitor_pid, state.monitor_start)
        && removes_on_exit(dir, true)
}

/// Removes container `c` if its `--rm` was never carried out
/// ([`abandoned`]), as a daemon would have when it exited. Under the
/// container's lock (skipped, not waited for, while another command holds
/// it). The directory (and its anonymous volumes) are renamed away at
/// once, so the name is free; their trees are deleted only where files of
/// subordinate ids can be (outside the user namespace they cannot): else
/// the renamed trees are debris that the next exclusive holder of the
/// store lock deletes. Returns whether the container is gone.
fn reap_abandoned(store: &Store, c: &ContainerConfig) -> bool {
    let dir = containers_dir(store).join(c.id.as_str());
    if !abandoned(&dir) {
        return false;
    }
    let Ok(Some(_lock)) = store.try_lock(&format!("ctr-{}", c.id)) else {
        return false;
    };
    if !abandoned(&dir) {
        return !dir.exists();
    }
    // The store's mode, as the command's (a store that cannot keep
    // subordinate owners is single-id: every file is the user's).
    let ids = crate::runtime::owners::recorded(store.root(), crate::userns::IdMode::current());
    let able = crate::userns::in_userns() || !matches!(ids, crate::userns::IdMode::SubUid { .. });
    let r = if able {
        remove(&dir, true)
    } else {
        // Its anonymous volumes go too, as its monitor would have removed
        // them: each is renamed away before its files are deleted, so what
        // this process cannot delete is volume debris for the sweep.
        rename_away(&dir).map(|moved| {
            if moved.is_some() {
                for e in volume::remove_anonymous(store.root(), c) {
                    tracing::debug!("anonymous volume of {} left as debris: {e}", c.id);
                }
            }
        })
    };
    match r {
        Ok(()) => {
            tracing::info!("removed --rm container {} left by its monitor", c.id);
            true
        }
        Err(e) => {
            tracing::warn!("cannot remove --rm container {}: {e}", c.id);
            !dir.exists()
        }
    }
}

/// [`list`] for the store at `root`, without opening it.
pub fn list_at(root: &Path) -> Vec<ContainerConfig> {
    let Ok(rd) = fs::read_dir(root.join("containers")) else {
        return vec![];
    };
    rd.flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| fs::read(e.path().join("config.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// Creates the container's directory with its config; the name must be free.
pub fn create(
    store: &Store,
    mut config: ContainerConfig,
) -> Result<(ContainerConfig, PathBuf), ContainerError> {
    let dir = containers_dir(store);
    fs::create_dir_all(&dir).map_err(|source| ContainerError::Io {
        op: "create",
        path: dir.clone(),
        source,
    })?;
    let _lock = store.lock("containers")?;
    let taken: std::collections::HashSet<String> =
        list(store).into_iter().map(|c| c.name).collect();
    if config.name.is_empty() {
        // Generated names can collide (65,536 of them); take the next free
        // one, as docker retries.
        let base = generated_name(&config.id);
        config.name = std::iter::once(base.clone())
            .chain((2..).map(|n| format!("{base}_{n}")))
            .find(|n| !taken.contains(n))
            .expect("an unbounded sequence has a free name");
    } else if !valid_name(&config.name) {
        return Err(ContainerError::BadName(config.name));
    }
    if taken.contains(&config.name) {
        return Err(ContainerError::NameInUse(config.name));
    }
    let tmp = dir.join(tmp_name("ctr"));
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ContainerError::Io { op, path, source }
    };
    for sub in ["upper", "work", "merged"] {
        fs::create_dir_all(tmp.join(sub)).map_err(io("create", &tmp.join(sub)))?;
    }
    let config_file = fs::File::create(tmp.join("config.json"))
        .and_then(|mut f| {
            use std::io::Write as _;
            f.write_all(&serde_json::to_vec_pretty(&config).expect("json"))
                .map(|()| f)
        })
        .map_err(io("write", &tmp))?;
    let state = ContainerState {
        status: "created".into(),
        ..Default::default()
    };
    let state_file = fs::File::create(tmp.join("state.json"))
        .and_then(|mut f| {
            use std::io::Write as _;
            f.write_all(&serde_json::to_vec(&state).expect("json"))
                .map(|()| f)
        })
        .map_err(io("write", &tmp))?;
    let final_dir = dir.join(config.id.as_str());
    fs::rename(&tmp, &final_dir).map_err(io("rename into place", &final_dir))?;
    filecache::keep_config(&final_dir.join("config.json"), config_file, &config);
    filecache::keep_state(&final_dir.join("state.json"), state_file, state);
    crate::events::container_of(store.root(), &config, "create", &[]);
    Ok((config, final_dir))
}

/// Writes `dir/name` as JSON under a temporary name, then renames it into
/// place, so readers see the old file or the new one, never a part.
pub(super) fn write_json_atomically(
    dir: &Path,
    name: &str,
    value: &impl Serialize,
) -> Result<(), ContainerError> {
    write_json_with_mode(dir, name, value, 0o666)
}

/// [`write_json_atomically`], the file made with `mode` (less the umask).
fn write_json_with_mode(
    dir: &Path,
    name: &str,
    value: &impl Serialize,
    mode: u32,
) -> Result<(), ContainerError> {
    write_json_file(dir, name, value, mode).map(drop)
}

/// [`write_json_with_mode`], returning the file written (now at its name).
fn write_json_file(
    dir: &Path,
    name: &str,
    value: &impl Serialize,
    mode: u32,
) -> Result<fs::File, ContainerError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = dir.join(tmp_name(name));
    let dst = dir.join(name);
    let body = serde_json::to_vec_pretty(value).expect("json");
    let written = fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&body).map(|()| f));
    let file = match written {
        Ok(f) => f,
        Err(source) => {
            // Half-written (a full disk): nothing of it stays behind.
            let _ = fs::remove_file(&tmp);
            return Err(ContainerError::Io {
                op: "write",
                path: tmp,
                source,
            });
        }
    };
    fs::rename(&tmp, &dst).map_err(|source| ContainerError::Io {
        op: "rename into place",
        path: dst,
        source,
    })?;
    Ok(file)
}

/// Renames a container; the new name must be valid and free. Returns its
/// old name.
pub fn rename(store: &Store, query: &str, new_name: &str) -> Result<String, ContainerError> {
    if !valid_name(new_name) {
        return Err(ContainerError::BadName(new_name.to_string()));
    }
    let _lock = store.lock("containers")?;
    let (mut config, dir) = find(store, query)?;
    // docker's rule: nothing to do is an error.
    if config.name == new_name {
        return Err(ContainerError::SameName(new_name.to_string()));
    }
    if list(store)
        .iter()
        .any(|c| c.name == new_name && c.id != config.id)
    {
        return Err(ContainerError::NameInUse(new_name.to_string()));
    }
    let old = std::mem::replace(&mut config.name, new_name.to_string());
    let was = old.clone();
    write_config(&dir, &config)?;
    crate::events::container_of(store.root(), &config, "rename", &[]);
    // On user networks the name is also a DNS name, in the spec's
    // attachments: the next start (and, for a running container, the
    // caller's word to the network helper) uses the new one.
    if let Ok(mut spec) = read_spec(&dir) {
        if let Some(u) = spec.user_networks.as_mut() {
            for a in &mut u.attachments {
                for alias in a.aliases.iter_mut().filter(|x| **x == old) {
                    *alias = new_name.to_string();
                }
            }
            write_spec(&dir, &spec)?;
        }
    }
    Ok(was)
}

/// Rewrites the container's `config.json` (`rless update`'s limits).
pub fn write_config(dir: &Path, config: &ContainerConfig) -> Result<(), ContainerError> {
    let file = write_json_file(dir, "config.json", config, 0o666)?;
    filecache::keep_config(&dir.join("config.json"), file, config);
    Ok(())
}

/// Stores the resolved spec the container runs with (`spec.json`), for
/// `start`, `exec` and `inspect`.
pub fn write_spec(dir: &Path, spec: &crate::runtime::ContainerSpec) -> Result<(), ContainerError> {
    // The user's alone: it holds `--secret type=env` values (and `-e`'s),
    // and the store's root may be open to others when the user made it.
    write_json_with_mode(dir, "spec.json", spec, 0o600)
}

/// Lets go, without closing them, of the container files this thread
/// keeps open (see `filecache`), before every inherited descriptor is
/// closed.
pub fn disown_kept_files() {
    filecache::disown();
}

/// The container's `config.json`, if it reads.
pub fn read_config(dir: &Path) -> Option<ContainerConfig> {
    filecache::config(dir)
}

/// Reads `spec.json`.
pub fn read_spec(dir: &Path) -> Result<crate::runtime::ContainerSpec, ContainerError> {
    let p = dir.join("spec.json");
    let b = fs::read(&p).map_err(|source| ContainerError::Io {
        op: "read",
        path: p.clone(),
        source,
    })?;
    serde_json::from_slice(&b).map_err(|e| ContainerError::Io {
        op: "parse",
        path: p,
        source: std::io::Error::other(e),
    })
}

/// Deletes a container's directory, then, with `volumes`, its anonymous
/// volumes no other container uses (`rm -v`, `--rm`). Must run inside the
/// user namespace when volumes may hold subordinate ids' files.
pub fn remove(dir: &Path, volumes: bool) -> Result<(), ContainerError> {
    let config = read_config(dir);
    // Renamed away first (the name is free at once), then the volumes,
    // then the tree, which can take long: a removal killed while deleting
    // the tree has removed the volumes already; one killed between the
    // rename and the volumes leaves them to the debris sweep, for a `--rm`
    // container ([`remove_debris_volumes`]).
    let moved = rename_away(dir)?;
    if let Some(c) = &config {
        runopts::remove_pidfile(&c.run_options);
    }
    let mut volume_error = None;
    // containers/<id> -> the store root.
    if let (Some(c), Some(root)) = (config, dir.parent().and_then(Path::parent)) {
        if moved.is_some() {
            crate::events::container_of(root, &c, "remove", &[]);
            // A pod member's name goes from its infra container's networks.
            crate::network::podnames::member_removed(root, &c);
        }
        if volumes {
            volume_error = volume::remove_anonymous(root, &c).into_iter().next();
        }
    }
    if let Some(tmp) = moved {
        remove_moved(&tmp)?;
    }
    volume_error.map_or(Ok(()), |e| Err(ContainerError::Volume(e)))
}

/// The records kept one per `NAME.json` file in `dir` (networks, pods),
/// in no order; temporary (dot) files and files that do not parse are
/// left out (a half-written record never shows: records are renamed into
/// place).
pub fn json_records<T: serde::de::DeserializeOwned>(dir: &Path) -> Vec<T> {
    let Ok(rd) = fs::read_dir(dir) else {
        return vec![];
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with('.') && n.ends_with(".json")
        })
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// Deletes a container directory renamed away. On NFS a file another
/// process still holds open (a `logs -f`, a health watcher, a monitor on
/// its way out: see [`filecache`]) is renamed to `.nfsXXXX` instead of
/// going, and the directory cannot go until it is closed; the container is
/// gone all the same (its name is free), so such leftovers are left to the
/// debris sweep of a later command, not reported as a failure.
fn remove_moved(tmp: &Path) -> Result<(), ContainerError> {
    session::umount_all_under(tmp);
    match remove_tree(tmp) {
        Err(_) if only_nfs_leftovers(tmp) => {
            tracing::debug!("{}: NFS leftovers, swept later", tmp.display());
            Ok(())
        }
        r => Ok(r?),
    }
}

/// Whether everything left under `dir` is NFS's silly-renamed files
/// (`.nfs` and hex digits) and the directories holding them.
fn only_nfs_leftovers(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let mut any = false;
    for e in entries {
        let Ok(e) = e else { return false };
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ok = match e.file_type() {
            Ok(t) if t.is_dir() => only_nfs_leftovers(&e.path()),
            Ok(_) => name
                .strip_prefix(".nfs")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())),
            Err(_) => false,
        };
        if !ok {
            return false;
        }
        any = true;
    }
    any
}

/// Before the sweep deletes `debris` (a container directory renamed away
/// by a removal that was killed): a `--rm` container's anonymous volumes
/// that no other container uses, which that removal was to remove too.
/// (`rm` without `-v` of another container keeps them, as docker's.)
pub fn remove_debris_volumes(root: &Path, debris: &Path) {
    let Some(c) = fs::read(debris.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<ContainerConfig>(&b).ok())
    else {
        return;
    };
    if c.auto_remove {
        for e in volume::remove_anonymous(root, &c) {
            tracing::debug!("anonymous volume of removed container {}: {e}", c.id);
        }
    }
}

/// Deletes a container's directory (renamed away first, then removed),
/// and the cgroup a killed monitor left behind.
pub fn remove_dir(dir: &Path) -> Result<(), ContainerError> {
    match rename_away(dir)? {
        Some(tmp) => remove_moved(&tmp),
        None => Ok(()),
    }
}

/// Renames a container's directory to a `.tmp-*` name beside it (after
/// removing the cgroup a killed monitor left), so that it is gone at once;
/// `None` if another command removed it first.
fn rename_away(dir: &Path) -> Result<Option<PathBuf>, ContainerError> {
    let leftover = filecache::state(dir).and_then(|s| s.cgroup);
    // No descriptor of this thread's keeps a file of it alive.
    filecache::forget(dir);
    if let Some(cg) = leftover {
        if let Err(e) = crate::runtime::cgroups::remove(&cg) {
            eprintln!(
                "rless: warning: {}",
                crate::message::printable(&e.to_string())
            );
        }
    }
    let parent = dir.parent().unwrap_or(dir);
    let tmp = parent.join(tmp_name("del"));
    match fs::rename(dir, &tmp) {
        Ok(()) => Ok(Some(tmp)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ContainerError::Io {
            op: "remove",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
