//! Pods (podman's `pod create|ps|rm|…`, `run --pod NAME`).
//!
//! Theory of operation. A pod here is a name for a group of containers and
//! nothing more: no infra container, no namespaces shared between its
//! members (podman's `--infra=false --share=`, what podman-compose asks
//! for). It is a definition in the store, `pods/<name>.json` (id, name,
//! labels, creation time), written under the `pods` lock to a temporary
//! name and renamed into place, as networks are. A container records the
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
    };
    let tmp = dir.join(tmp_name("pod"));
    let body = serde_json::to_vec_pretty(&pod).expect("json");
    fs::write(&tmp, body).map_err(io_err("write", &tmp))?;
    let dst = config_path(root, &pod.name);
    if let Err(e) = fs::rename(&tmp, &dst) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename into place", &dst)(e));
    }
    crate::events::named(root, crate::events::Kind::Pod, "create", &pod.name);
    Ok(pod)
}

/// The pod's containers, oldest first.
pub fn members(root: &Path, pod: &PodConfig) -> Vec<super::ContainerConfig> {
    let mut v: Vec<_> = super::list_at(root)
        .into_iter()
        .filter(|c| c.pod.as_deref() == Some(pod.id.as_str()))
        .collect();
    v.sort_by_key(|c| c.created_at());
    v
}

/// Removes a pod that has no containers. Call with the `pods` lock held.
pub fn remove_locked(root: &Path, pod: &PodConfig) -> Result<(), PodError> {
    let members = members(root, pod);
    if !members.is_empty() {
        return Err(PodError::InUse {
            name: pod.name.clone(),
            containers: members
                .iter()
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
    } else if states.iter().all(|s| s.status == "created") {
        "Created"
    } else if states.iter().all(|s| s.status == "exited") {
        "Exited"
    } else {
        "Stopped"
    }
}
