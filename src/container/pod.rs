//! Pods (podman's `pod create|ps|rm|…`, `run --pod NAME`).
//!
//! Theory of operation. A pod is a group of containers. By default (as
//! podman's) it has an infra container, made by `pod create`, that holds
//! the namespaces its members share (`shared`: podman's `ipc`, `net`,
//! `uts`, and `pid` when asked); the members join them as `--network
//! container:INFRA` and the like do (see `commands/run/podopts.rs`). With
//! `--infra=false` (what podman-compose asks for) it is a name for a group
//! and nothing more. It is a definition in the store, `pods/<name>.json`
//! (id, name, labels, creation time, infra container id, namespaces
//! shared), written under the `pods` lock to a temporary name and renamed
//! into place, as networks are. The infra container is a member like the
//! others (it names the pod); the pod records its id under the `pods` lock
//! when the container is made ([`set_infra_locked`]). A container records the
//! pod's id in its `config.json` (`pod`); the pod's members are the
//! containers that name it, so nothing has to be updated when a member
//! goes. The pod's state is derived from its members' states. A container
//! joins under the `pods` lock too (`create --pod` looks the pod up again
//! under it and holds it until the container is recorded), and
//! [`remove_locked`] looks for members under it, so no container can end up
//! naming a pod that is gone.

use crate::image::store::{tmp_name, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("invalid pod name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("pod {0} already exists")]
    Exists(String),
    #[error("no such pod: {0}")]
    NotFound(String),
    #[error("pod {name} has containers {containers}: remove them first (or use -f)")]
    InUse { name: String, containers: String },
    #[error("invalid kernel namespace to share: {0}. Options are: ipc, net, pid, uts or none")]
    BadShare(String),
    #[error("pod {0} has an infra container already")]
    HasInfra(String),
    #[error("container {id} is the infra container of pod {pod} and cannot be removed without removing the pod")]
    IsInfra { id: String, pod: String },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PodError {
    let path = path.to_path_buf();
    move |source| PodError::Io { op, path, source }
}

/// `pods/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodConfig {
    /// 64 lowercase hex digits, as a container's.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created: i64,
    /// The infra container's full id; `None`: a pod without one
    /// (`--infra=false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra: Option<String>,
    /// The namespaces its members take from the infra container, in
    /// podman's names (`ipc`, `net`, `pid`, `uts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<String>,
}

/// podman's default `--share`.
pub const DEFAULT_SHARE: &str = "ipc,net,uts";

/// `--share`: namespaces separated by ',' (`none` or "" for none; podman's
/// `+NS[,NS]` adds them to the default); `cgroup` and `user` are taken and
/// ignored (every member has its own cgroup namespace, and the infra's user
/// namespace anyway). Sorted, each once.
pub fn parse_share(v: &str) -> Result<Vec<String>, PodError> {
    let mut out: Vec<String> = Vec::new();
    let v = match v.strip_prefix('+') {
        Some(more) => {
            out.extend(DEFAULT_SHARE.split(',').map(String::from));
            more
        }
        None => v,
    };
    for ns in v.split(',') {
        match ns {
            "ipc" | "net" | "pid" | "uts" => out.push(ns.to_string()),
            "" | "cgroup" | "user" => {}
            "none" => return Ok(Vec::new()),
            other => return Err(PodError::BadShare(other.to_string())),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl PodConfig {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

pub fn pods_dir(root: &Path) -> PathBuf {
    root.join("pods")
}

fn config_path(root: &Path, name: &str) -> PathBuf {
    pods_dir(root).join(format!("{name}.json"))
}

/// Takes the `pods` lock (definitions, and containers joining them).
pub fn lock(store: &Store) -> Result<fs::File, PodError> {
    Ok(store.lock("pods")?)
}

/// Takes the `pods` lock shared: a member's start, which `pod rm` (its
/// check of the states, then its removal) excludes.
pub fn lock_shared(store: &Store) -> Result<fs::File, PodError> {
    Ok(store.lock_shared("pods")?)
}

/// Every pod, sorted by name.
pub fn list(root: &Path) -> Vec<PodConfig> {
    let mut v: Vec<PodConfig> = super::json_records(&pods_dir(root));
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// One pod by name, full id, or id prefix of at least 3 digits (one pod
/// only).
pub fn read(root: &Path, query: &str) -> Result<PodConfig, PodError> {
    if super::valid_name(query) {
        if let Ok(b) = fs::read(config_path(root, query)) {
            return serde_json::from_slice(&b).map_err(|e| PodError::Io {
                op: "parse",
                path: config_path(root, query),
                source: std::io::Error::other(e),
            });
        }
    }
    let by_id: Vec<PodConfig> = list(root)
        .into_iter()
        .filter(|p| query.len() >= 3 && p.id.starts_with(query))
        .collect();
    match <[PodConfig; 1]>::try_from(by_id) {
        Ok([p]) => Ok(p),
        Err(_) => Err(PodError::NotFound(query.to_string())),
    }
}

/// The pod with id `id`, if it still exists.
pub fn by_id(root: &Path, id: &str) -> Option<PodConfig> {
    list(root).into_iter().find(|p| p.id == id)
}

/// Makes a pod; nothing is written on bad input. `name` None: a generated
/// one, as a container's.
pub fn create(
    store: &Store,
    name: Option<String>,
    labels: BTreeMap<String, String>,
    shared: Vec<String>,
) -> Result<PodConfig, PodError> {
    let id = super::ContainerId::random();
    let name = name.unwrap_or_else(|| super::generated_name(&id));
    if !super::valid_name(&name) {
        return Err(PodError::BadName(name));
    }
    let root = store.root();
    let dir = pods_dir(root);
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let _lock = lock(store)?;
    if config_path(root, &name).exists() {
        return Err(PodError::Exists(name));
    }
    let pod = PodConfig {
        id: id.as_str().to_string(),
        name,
        labels,
        created: crate::image::time::now(),
        infra: None,
        shared,
    };
    write(root, &pod)?;
    crate::events::named(root, crate::events::Kind::Pod, "create", &pod.name);
    Ok(pod)
}

/// Writes `pod`'s definition (to a temporary name, renamed into place).
/// Call with the `pods` lock held.
fn write(root: &Path, pod: &PodConfig) -> Result<(), PodError> {
    let tmp = pods_dir(root).join(tmp_name("pod"));
    let body = serde_json::to_vec_pretty(pod).expect("json");
    fs::write(&tmp, body).map_err(io_err("write", &tmp))?;
    let dst = config_path(root, &pod.name);
    if let Err(e) = fs::rename(&tmp, &dst) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename into place", &dst)(e));
    }
    Ok(())
}

/// Records `infra` as the infra container of the pod with id `pod`. Call
/// with the `pods` lock held, and keep it until the container is recorded.
pub fn set_infra_locked(root: &Path, pod: &str, infra: &str) -> Result<(), PodError> {
    let mut p = by_id(root, pod).ok_or_else(|| PodError::NotFound(pod.to_string()))?;
    if p.infra.is_some() {
        return Err(PodError::HasInfra(p.name));
    }
    p.infra = Some(infra.to_string());
    write(root, &p)
}

/// The pod `c` is the infra container of, if it is one.
pub fn infra_of(root: &Path, c: &super::ContainerConfig) -> Option<PodConfig> {
    let p = by_id(root, c.pod.as_deref()?)?;
    (p.infra.as_deref() == Some(c.id.as_str())).then_some(p)
}

/// The id of the infra container whose network `c` shares, when `c` is a
/// member (not the infra container) of a pod that shares its network.
pub fn network_infra(root: &Path, c: &super::ContainerConfig) -> Option<String> {
    let p = by_id(root, c.pod.as_deref()?)?;
    let infra = p.infra.filter(|i| i != c.id.as_str())?;
    p.shared.iter().any(|s| s == "net").then_some(infra)
}

/// Removes the definition of a pod whose infra container could not be
/// made (`pod create`), unless a container joined it meanwhile (one that
/// shares nothing can join a pod without an infra container): whether it
/// went. Call with the `pods` lock held, under which containers join.
pub fn discard_locked(root: &Path, pod: &PodConfig) -> bool {
    if !members(root, pod).is_empty() {
        return false;
    }
    if fs::remove_file(config_path(root, &pod.name)).is_ok() {
        crate::events::named(root, crate::events::Kind::Pod, "remove", &pod.name);
    }
    true
}

/// The pod's containers, its infra container first, then oldest first.
pub fn members(root: &Path, pod: &PodConfig) -> Vec<super::ContainerConfig> {
    let mut v: Vec<_> = super::list_at(root)
        .into_iter()
        .filter(|c| c.pod.as_deref() == Some(pod.id.as_str()))
        .collect();
    v.sort_by_key(|c| (pod.infra.as_deref() != Some(c.id.as_str()), c.created_at()));
    v
}

/// Removes a pod that has no containers. Call with the `pods` lock held.
pub fn remove_locked(root: &Path, pod: &PodConfig) -> Result<(), PodError> {
    let members = members(root, pod);
    if !members.is_empty() {
        // The infra container is named only when it is alone.
        let others = members
            .iter()
            .filter(|c| pod.infra.as_deref() != Some(c.id.as_str()))
            .count();
        return Err(PodError::InUse {
            name: pod.name.clone(),
            containers: members
                .iter()
                .filter(|c| others == 0 || pod.infra.as_deref() != Some(c.id.as_str()))
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let p = config_path(root, &pod.name);
    fs::remove_file(&p).map_err(io_err("remove", &p))?;
    crate::events::named(root, crate::events::Kind::Pod, "remove", &pod.name);
    Ok(())
}

/// podman's pod status from its members' statuses: Created (none ran),
/// Running (all running), Degraded (some), Exited, Stopped.
pub fn status(states: &[super::ContainerState]) -> &'static str {
    let running = states.iter().filter(|s| s.running()).count();
    if states.is_empty() {
        "Created"
    } else if running == states.len() {
        "Running"
    } else if running > 0 {
        "Degraded"
    } else if states
        .iter()
        .all(|s| matches!(s.status.as_str(), "created" | "initialized"))
    {
        "Created"
    } else if states.iter().all(|s| s.status == "exited") {
        "Exited"
    } else {
        "Stopped"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialized_members_are_created() {
        let st = |s: &str| super::super::ContainerState {
            status: s.into(),
            ..Default::default()
        };
        assert_eq!(status(&[st("initialized"), st("created")]), "Created");
        assert_eq!(status(&[st("initialized"), st("exited")]), "Stopped");
    }

    #[test]
    fn share_lists() {
        assert_eq!(parse_share(DEFAULT_SHARE).unwrap(), ["ipc", "net", "uts"]);
        assert_eq!(parse_share("uts,net,net").unwrap(), ["net", "uts"]);
        assert_eq!(parse_share("pid,cgroup").unwrap(), ["pid"]);
        assert_eq!(parse_share("+pid").unwrap(), ["ipc", "net", "pid", "uts"]);
        assert!(parse_share("").unwrap().is_empty());
        assert!(parse_share("none").unwrap().is_empty());
        for bad in ["mnt", "net,bogus", "NET"] {
            assert!(
                matches!(parse_share(bad), Err(PodError::BadShare(_))),
                "{bad}"
            );
        }
    }
}
