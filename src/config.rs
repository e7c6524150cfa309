//! Where things live, and the user's configuration.
//!
//! The store is `--root`, else `$RLESS_ROOT`, else `$XDG_DATA_HOME/rless`,
//! else `~/.local/share/rless`. Registries that may be reached without TLS
//! verification are listed in `$XDG_CONFIG_HOME/rless/registries.toml`:
//!
//! ```toml
//! [[registry]]
//! location = "registry.example.org:5000"
//! insecure = true
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot find a home for the store: set HOME, XDG_DATA_HOME or RLESS_ROOT, or pass --root"
    )]
    NoHome,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

/// One `[[registry]]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistryConfig {
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
struct RegistriesFile {
    #[serde(default)]
    registry: Vec<RegistryConfig>,
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The store root, given `--root`/`RLESS_ROOT` (already merged by clap).
pub fn store_root(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    env_path("XDG_DATA_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("rless"))
        .ok_or(ConfigError::NoHome)
}

fn config_dir() -> Option<PathBuf> {
    env_path("XDG_CONFIG_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("rless"))
}

/// Whether the user's configuration marks `registry` insecure.
pub fn registry_insecure(registry: &str) -> Result<bool, ConfigError> {
    let Some(path) = config_dir().map(|d| d.join("registries.toml")) else {
        return Ok(false);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let file: RegistriesFile =
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source })?;
    Ok(file
        .registry
        .iter()
        .any(|r| r.location == registry && r.insecure))
}
