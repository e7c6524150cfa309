//! The Container Device Interface (CDI): devices named `VENDOR/CLASS=NAME`
//! (`nvidia.com/gpu=0`, `nvidia.com/gpu=all`) that spec files describe.
//!
//! Theory of operation: a CDI spec file (YAML or JSON, `*.yaml`, `*.yml`,
//! `*.json`) in one of the spec directories names a `kind`
//! (`VENDOR/CLASS`), its `devices`, each with `containerEdits`, and
//! `containerEdits` of its own that come with any of its devices. Edits
//! are environment variables, device nodes, mounts, OCI hooks and
//! additional group ids. [`Registry::load`] reads every spec file of the
//! directories in order; a device of a later directory replaces one of
//! the same name from an earlier one (the CDI spec's priority), and any
//! malformed file is refused, naming the file. [`Registry::resolve`] turns
//! the names a user gave into one [`Resolved`] set of edits, checking
//! that every host path exists, so `run` refuses a bad request before it
//! makes anything. `NAME` `all` is the spec's own device named `all`
//! (nvidia-ctk writes one), else every device of the kind.
//!
//! Rootless, device nodes cannot be made: the host's node is bound in
//! (`hostPath`, else `path`), and its own owner and mode decide access
//! (`permissions`, `fileMode`, `uid`, `gid`, `major`/`minor` are checked
//! for form only). Mounts are binds.

mod names;
mod spec;

pub use names::{gpus_to_names, is_qualified, parse_name, QualifiedName};
pub use spec::{DeviceNode, Edits, Hook, Mount, Spec};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The spec directories, lowest priority first.
pub const DEFAULT_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];

/// Extra spec directories (a colon list), after the default ones.
pub const DIRS_VARIABLE: &str = "RLESS_CDI_SPEC_DIRS";

#[derive(Debug, thiserror::Error)]
pub enum CdiError {
    #[error("invalid CDI spec {path}: {why}")]
    Malformed { path: PathBuf, why: String },
    #[error("cannot read CDI spec {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid CDI device name {name:?}: {why}")]
    Name { name: String, why: String },
    #[error("unknown CDI device {name}: no spec in {dirs} has kind {kind}")]
    UnknownKind {
        name: String,
        kind: String,
        dirs: String,
    },
    #[error("unknown CDI device {name}: {path} has no device {device:?}")]
    UnknownDevice {
        name: String,
        device: String,
        path: PathBuf,
    },
    #[error("CDI device {name} ({path}): {what} {host} does not exist: {source}")]
    Missing {
        name: String,
        path: PathBuf,
        what: &'static str,
        host: PathBuf,
        source: std::io::Error,
    },
    #[error("CDI device {name} ({path}): {why}")]
    Unsupported {
        name: String,
        path: PathBuf,
        why: String,
    },
    #[error("--gpus {0}: {1}")]
    Gpus(String, String),
}

/// The spec directories: the defaults, then `RLESS_CDI_SPEC_DIRS`'s.
pub fn spec_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = DEFAULT_DIRS.iter().map(PathBuf::from).collect();
    if let Some(v) = std::env::var_os(DIRS_VARIABLE) {
        dirs.extend(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

/// One device a spec file defines.
#[derive(Debug, Clone)]
struct Found {
    edits: Edits,
    /// The index of its spec file in [`Registry::files`].
    file: usize,
}

/// The devices found in the spec directories.
#[derive(Debug, Default)]
pub struct Registry {
    /// Every spec file read, with its path.
    files: Vec<(PathBuf, Spec)>,
    /// kind → device name → device, in the files' order.
    kinds: BTreeMap<String, Vec<(String, Found)>>,
    dirs: Vec<PathBuf>,
}

/// The edits of the devices asked for, merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// The fully qualified names, as asked for (`all` expanded).
    pub names: Vec<String>,
    pub env: Vec<String>,
    /// Device nodes: (host path, path in the container).
    pub devices: Vec<(PathBuf, PathBuf)>,
    /// Binds: (host path, path in the container, read-only).
    pub mounts: Vec<(PathBuf, PathBuf, bool)>,
    pub hooks: Vec<Hook>,
    pub gids: Vec<u32>,
}

impl Registry {
    /// Reads every spec file of `dirs` (missing directories are skipped).
    pub fn load(dirs: &[PathBuf]) -> Result<Registry, CdiError> {
        let mut reg = Registry {
            dirs: dirs.to_vec(),
            ..Registry::default()
        };
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    ) && p.is_file()
                })
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).map_err(|source| CdiError::Read {
                    path: path.clone(),
                    source,
                })?;
                let spec = Spec::parse(&text, &path)?;
                reg.add(path, spec);
            }
        }
        Ok(reg)
    }

    fn add(&mut self, path: PathBuf, spec: Spec) {
        let file = self.files.len();
        let list = self.kinds.entry(spec.kind.clone()).or_default();
        for d in &spec.devices {
            let found = Found {
                edits: d.container_edits.clone(),
                file,
            };
            match list.iter_mut().find(|(n, _)| *n == d.name) {
                // A later file (a later directory) wins.
                Some(slot) => slot.1 = found,
                None => list.push((d.name.clone(), found)),
            }
        }
        self.files.push((path, spec));
    }

    /// Whether any spec has `kind`.
    pub fn has_kind(&self, kind: &str) -> bool {
        self.kinds.get(kind).is_some_and(|l| !l.is_empty())
    }

    /// The fully qualified names of every device found.
    pub fn device_names(&self) -> Vec<String> {
        self.kinds
            .iter()
            .flat_map(|(k, l)| l.iter().map(move |(n, _)| format!("{k}={n}")))
            .collect()
    }

    /// The names of `kind`'s devices, in the order the specs list them.
    pub fn devices_of(&self, kind: &str) -> Vec<String> {
        self.kinds
            .get(kind)
            .map(|l| l.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    fn dirs_text(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The merged edits of the devices `names` (fully qualified), each
    /// spec's own edits once; every host path is checked.
    pub fn resolve(&self, names: &[String]) -> Result<Resolved, CdiError> {
        let mut out = Resolved::default();
        let mut files_used: Vec<usize> = Vec::new();
        let mut picked: Vec<(String, &Found)> = Vec::new();
        for name in names {
            let q = parse_name(name)?;
            let kind = q.kind();
            let list = self
                .kinds
                .get(&kind)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| CdiError::UnknownKind {
                    name: name.clone(),
                    kind: kind.clone(),
                    dirs: self.dirs_text(),
                })?;
            let chosen: Vec<&(String, Found)> = match list.iter().find(|(n, _)| *n == q.device) {
                Some(d) => vec![d],
                None if q.device == "all" => list.iter().collect(),
                None => {
                    let last = list.last().map(|(_, f)| f.file).unwrap_or_default();
                    return Err(CdiError::UnknownDevice {
                        name: name.clone(),
                        device: q.device.clone(),
                        path: self.files[last].0.clone(),
                    });
                }
            };
            for (n, f) in chosen {
                let full = format!("{kind}={n}");
                if picked.iter().any(|(p, _)| *p == full) {
                    continue;
                }
                if !files_used.contains(&f.file) {
                    files_used.push(f.file);
                }
                picked.push((full, f));
            }
            out.names.push(name.clone());
        }
        for &file in &files_used {
            let (path, spec) = &self.files[file];
            if let Some(e) = &spec.container_edits {
                out.add(e, &format!("{} (its spec's edits)", spec.kind), path)?;
            }
        }
        for (full, f) in picked {
            out.add(&f.edits, &full, &self.files[f.file].0)?;
        }
        Ok(out)
    }
}

impl Resolved {
    fn add(&mut self, e: &Edits, name: &str, path: &Path) -> Result<(), CdiError> {
        let missing = |what: &'static str, host: &Path, source| CdiError::Missing {
            name: name.to_string(),
            path: path.to_path_buf(),
            what,
            host: host.to_path_buf(),
            source,
        };
        let unsupported = |why: String| CdiError::Unsupported {
            name: name.to_string(),
            path: path.to_path_buf(),
            why,
        };
        self.env.extend(e.env.iter().cloned());
        for d in &e.device_nodes {
            let host = PathBuf::from(d.host_path.as_deref().unwrap_or(&d.path));
            let meta = std::fs::metadata(&host).map_err(|err| missing("device", &host, err))?;
            use std::os::unix::fs::FileTypeExt;
            let t = meta.file_type();
            if !(t.is_char_device() || t.is_block_device()) {
                return Err(unsupported(format!(
                    "device node {} is not a device",
                    host.display()
                )));
            }
            let target = PathBuf::from(&d.path);
            if !self.devices.iter().any(|(_, t)| *t == target) {
                self.devices.push((host, target));
            }
        }
        for m in &e.mounts {
            match m.kind.as_deref() {
                None | Some("bind" | "rbind" | "none") => {}
                Some(other) => {
                    return Err(unsupported(format!(
                        "mount of type {other:?} at {} (rootless, only binds)",
                        m.container_path
                    )))
                }
            }
            let host = PathBuf::from(&m.host_path);
            std::fs::metadata(&host).map_err(|err| missing("mount source", &host, err))?;
            let target = PathBuf::from(&m.container_path);
            let ro = m.options.iter().any(|o| o == "ro" || o == "rro");
            if !self.mounts.iter().any(|(_, t, _)| *t == target) {
                self.mounts.push((host, target, ro));
            }
        }
        for h in &e.hooks {
            // A startContainer hook's path is the container's.
            if h.hook_name != "startContainer" {
                std::fs::metadata(&h.path)
                    .map_err(|err| missing("hook", Path::new(&h.path), err))?;
            }
            if !self.hooks.contains(h) {
                self.hooks.push(h.clone());
            }
        }
        for g in &e.additional_gids {
            if !self.gids.contains(g) {
                self.gids.push(*g);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
