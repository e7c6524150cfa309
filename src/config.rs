//! Where things live, and the user's configuration.
//!
//! The store is `--root`, else `$RLESS_ROOT`, else `$XDG_DATA_HOME/rless`,
//! else `~/.local/share/rless`. Registries that may be reached without TLS
//! verification are listed in `$XDG_CONFIG_HOME/rless/registries.toml`:
//!
//! ```toml
//! idle_timeout = 60   # seconds a registry may send nothing mid-transfer
//!
//! [[registry]]
//! location = "registry.example.org:5000"
//! insecure = true
//! ```
//!
//! `RLESS_REGISTRY_IDLE_TIMEOUT` (seconds) comes before `idle_timeout`.
//!
//! The union filesystem containers use may be fixed in
//! `$XDG_CONFIG_HOME/rless/storage.toml` (`--storage-driver` and
//! `RLESS_STORAGE_DRIVER` come first):
//!
//! ```toml
//! [storage]
//! driver = "fuse-overlay"   # or "overlay", or "auto" (the default)
//! ```
//!
//! A missing file means the defaults; a file that does not parse, or a key
//! or value this version does not know, is an error naming the file.

use crate::runtime::storage::Driver;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a registry may send nothing, in the middle of a response,
/// before the transfer fails, unless configured otherwise. Not a limit on
/// the whole transfer: a slow layer that keeps coming never times out.
pub const DEFAULT_REGISTRY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The variable that overrides `idle_timeout` of `registries.toml`.
const IDLE_TIMEOUT_VAR: &str = "RLESS_REGISTRY_IDLE_TIMEOUT";

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
    #[error("{path}, line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: unknown storage driver {value:?}: use overlay, fuse-overlay or auto")]
    Driver { path: PathBuf, value: String },
    #[error(
        "{origin}: invalid idle timeout {value:?}: expected a whole number of seconds above 0"
    )]
    IdleTimeout { origin: String, value: String },
}

/// One `[[registry]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistriesFile {
    /// Seconds; see [`registry_idle_timeout`].
    idle_timeout: Option<i64>,
    #[serde(default)]
    registry: Vec<RegistryConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
    #[serde(default)]
    storage: StorageSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageSection {
    driver: Option<String>,
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The store root, given `--root`/`RLESS_ROOT` (already merged by clap).
pub fn store_root(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        // Absolute: the monitor and the container's init resolve it after
        // they change directory (a relative store broke every `run`).
        return Ok(std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    }
    env_path("XDG_DATA_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("rless"))
        .ok_or(ConfigError::NoHome)
}

/// `$XDG_RUNTIME_DIR` when it is a directory of this user's; `None` when
/// unset or not: a batch job (Slurm) often inherits the login node's
/// `/run/user/UID`, which the compute node lacks, and `sudo -u` keeps the
/// caller's, which this user may not even read. (Inside the user namespace
/// the user's directory is root's, as the process is: the answer is the
/// same there.)
pub fn user_runtime_dir() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    env_path("XDG_RUNTIME_DIR").filter(|d| {
        std::fs::metadata(d)
            .is_ok_and(|m| m.is_dir() && m.uid() == rustix::process::getuid().as_raw())
    })
}

fn config_dir() -> Option<PathBuf> {
    env_path("XDG_CONFIG_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("rless"))
}

/// The user's configuration file `name` and its path, `None` when there is
/// no such file (or no home to look in).
fn read_file<T: DeserializeOwned>(name: &str) -> Result<Option<(T, PathBuf)>, ConfigError> {
    let Some(path) = config_dir().map(|d| d.join(name)) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    match toml::from_str(&text) {
        Ok(v) => Ok(Some((v, path))),
        // toml's own rendering spans several lines (it quotes the file);
        // errors here are one line.
        Err(e) => Err(ConfigError::Parse {
            path,
            line: e
                .span()
                .map_or(1, |s| 1 + text[..s.start].matches('\n').count()),
            message: e.message().trim().replace('\n', "; "),
        }),
    }
}

/// Whether the user's configuration marks `registry` insecure.
pub fn registry_insecure(registry: &str) -> Result<bool, ConfigError> {
    let Some((file, _)) = read_file::<RegistriesFile>("registries.toml")? else {
        return Ok(false);
    };
    Ok(file
        .registry
        .iter()
        .any(|r| r.location == registry && r.insecure))
}

/// How long a registry may send nothing before a transfer fails:
/// `RLESS_REGISTRY_IDLE_TIMEOUT`, else `idle_timeout` in `registries.toml`,
/// else [`DEFAULT_REGISTRY_IDLE_TIMEOUT`].
pub fn registry_idle_timeout() -> Result<Duration, ConfigError> {
    if let Some(value) = std::env::var_os(IDLE_TIMEOUT_VAR).filter(|v| !v.is_empty()) {
        let value = value.to_string_lossy().into_owned();
        return match value.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
            _ => Err(ConfigError::IdleTimeout {
                origin: IDLE_TIMEOUT_VAR.into(),
                value,
            }),
        };
    }
    match read_file::<RegistriesFile>("registries.toml")? {
        Some((
            RegistriesFile {
                idle_timeout: Some(secs),
                ..
            },
            path,
        )) => match u64::try_from(secs) {
            Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
            _ => Err(ConfigError::IdleTimeout {
                origin: path.display().to_string(),
                value: secs.to_string(),
            }),
        },
        _ => Ok(DEFAULT_REGISTRY_IDLE_TIMEOUT),
    }
}

/// The storage driver `storage.toml` asks for, with the file's path; `None`
/// when no file sets one.
pub fn storage_driver() -> Result<Option<(Driver, PathBuf)>, ConfigError> {
    let Some((file, path)) = read_file::<StorageFile>("storage.toml")? else {
        return Ok(None);
    };
    let Some(value) = file.storage.driver else {
        return Ok(None);
    };
    match Driver::parse(&value) {
        Some(d) => Ok(Some((d, path))),
        None => Err(ConfigError::Driver { path, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_registry_keys_are_errors() {
        let ok: RegistriesFile = toml::from_str(
            "idle_timeout = 5\n[[registry]]\nlocation = \"h:5000\"\ninsecure = true\n",
        )
        .unwrap();
        assert!(ok.registry[0].insecure);
        for bad in [
            "[[registry]]\nlocation = \"h:5000\"\ninsecur = true\n",
            "unqualified-search-registries = [\"docker.io\"]\n",
        ] {
            assert!(toml::from_str::<RegistriesFile>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_relative_store_is_made_absolute() {
        let r = store_root(Some(Path::new("rel/store"))).unwrap();
        assert!(
            r.is_absolute() && r.ends_with("rel/store"),
            "{}",
            r.display()
        );
    }
}
