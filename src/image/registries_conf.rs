//! podman's `registries.conf` (version 2): site mirrors, insecure and
//! blocked registries, and rewritten locations, for pulls.
//!
//! # Theory of operation
//!
//! A site that runs a pull-through cache, or blocks a registry, says so
//! in `/etc/containers/registries.conf` for podman, and users there expect
//! every container tool to honour it. rless reads the same files: the
//! user's `$XDG_CONFIG_HOME/containers/registries.conf` (else
//! `~/.config/containers/…`) if it exists, else the system's; then the
//! drop-ins of `/etc/containers/registries.conf.d/` and the user's
//! `registries.conf.d/`, in name order, whose `[[registry]]` tables replace
//! earlier ones of the same prefix. `CONTAINERS_REGISTRIES_CONF` names the
//! one file to read instead (as podman's).
//!
//! A reference `host/path:tag` is matched against each `[[registry]]`'s
//! `prefix` (its `location` when unset): the longest prefix that is the
//! reference's `host/path` or a leading part of it, at a `/` boundary, or
//! a `*.domain` wildcard matching the host. That entry says:
//! - `blocked = true`: the pull is refused;
//! - `location`: the prefix is replaced by it (`prefix = "docker.io/library"`,
//!   `location = "mirror.site/hub"`);
//! - `insecure = true`: TLS is not verified, and plain HTTP is tried;
//! - `[[registry.mirror]]`s: tried first, in order, each with the prefix
//!   replaced by the mirror's `location`; `pull-from-mirror = "digest-only"`
//!   or `"tag-only"` limits a mirror to references of that kind.
//!
//! [`routes`] turns a reference into the places to pull it from, mirrors
//! first, then the (rewritten) registry. The image keeps the name the user
//! gave: mirrors are transparent. Short names are not searched
//! (`unqualified-search-registries`, `[aliases]`): rless resolves them as
//! docker does, to Docker Hub. Keys rless does not use (v1's
//! `[registries.search]`, `short-name-mode`, credential helpers) are
//! ignored, since these files are written for podman.
//!
//! Invariants: a file that does not parse is an error naming it; a missing
//! file is no configuration.

use super::reference::Reference;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RegistriesConfError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{reference}: the registry is blocked in {path}")]
    Blocked { reference: String, path: PathBuf },
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<Entry>,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    prefix: Option<String>,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<Mirror>,
    /// The file it came from, for messages.
    #[serde(skip)]
    file: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Mirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

impl Entry {
    fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(&self.location)
    }
}

/// Where to pull an image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `host[:port]` as configured (`docker.io` for Docker Hub).
    pub registry: String,
    pub repository: String,
    pub insecure: bool,
    /// A mirror (a failure there moves on to the next route).
    pub mirror: bool,
}

impl Route {
    /// The host to send API requests to.
    pub fn api_host(&self) -> String {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: None,
        }
        .api_host()
        .to_string()
    }
}

/// The configuration read from the files, in order.
#[derive(Debug, Default)]
pub struct RegistriesConf {
    entries: Vec<Entry>,
}

impl RegistriesConf {
    /// Reads podman's files for this user (see the module's notes).
    pub fn load() -> Result<RegistriesConf, RegistriesConfError> {
        let mut conf = RegistriesConf::default();
        if let Some(one) = std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|v| !v.is_empty())
        {
            conf.read(Path::new(&one))?;
            return Ok(conf);
        }
        let user = user_dir();
        let system = Path::new("/etc/containers");
        let main = user
            .as_ref()
            .map(|u| u.join("registries.conf"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| system.join("registries.conf"));
        conf.read(&main)?;
        for dir in std::iter::once(system.to_path_buf()).chain(user) {
            let Ok(list) = std::fs::read_dir(dir.join("registries.conf.d")) else {
                continue;
            };
            let mut files: Vec<PathBuf> = list
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            files.sort();
            for f in files {
                conf.read(&f)?;
            }
        }
        Ok(conf)
    }

    /// Parses one file's text (`path` is for messages).
    pub fn add(&mut self, path: &Path, text: &str) -> Result<(), RegistriesConfError> {
        let file: File = toml::from_str(text).map_err(|e| RegistriesConfError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        for mut e in file.registry {
            e.file = path.to_path_buf();
            self.entries.retain(|x| x.prefix() != e.prefix());
            self.entries.push(e);
        }
        Ok(())
    }

    fn read(&mut self, path: &Path) -> Result<(), RegistriesConfError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.add(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RegistriesConfError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The places to pull `r` from: its mirrors, then its registry.
    pub fn routes(&self, r: &Reference) -> Result<Vec<Route>, RegistriesConfError> {
        let full = r.name();
        let plain = Route {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            insecure: false,
            mirror: false,
        };
        let Some(e) = self
            .entries
            .iter()
            .filter(|e| matches(e.prefix(), &r.registry, &full))
            .max_by_key(|e| e.prefix().len())
        else {
            return Ok(vec![plain]);
        };
        if e.blocked {
            return Err(RegistriesConfError::Blocked {
                reference: r.to_string(),
                path: e.file.clone(),
            });
        }
        let mut out = Vec::new();
        let by_digest = r.digest.is_some();
        for m in &e.mirror {
            let wanted = match m.pull_from_mirror.as_deref() {
                Some("digest-only") => by_digest,
                Some("tag-only") => !by_digest,
                _ => true,
            };
            if wanted && !m.location.is_empty() {
                out.push(route(e.prefix(), &m.location, &full, m.insecure, true));
            }
        }
        out.push(match e.location.is_empty() {
            // Where it was (a wildcard's location is always empty).
            true => Route {
                insecure: e.insecure,
                ..plain
            },
            false => route(e.prefix(), &e.location, &full, e.insecure, false),
        });
        Ok(out)
    }
}

/// `$XDG_CONFIG_HOME/containers`, else `~/.config/containers`.
fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("containers"))
}

/// Whether `prefix` matches the reference `full` (`host/path`) on `host`.
fn matches(prefix: &str, host: &str, full: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        // The host's name without a port: `*.corp.example` covers
        // `reg.corp.example:5000` too, as podman's.
        let name = host.split_once(':').map_or(host, |(n, _)| n);
        return name.ends_with(&format!(".{domain}"));
    }
    full == prefix || full.starts_with(&format!("{prefix}/"))
}

/// `full` with `prefix` replaced by `location`, split into host and path.
fn route(prefix: &str, location: &str, full: &str, insecure: bool, mirror: bool) -> Route {
    let rest = if prefix.starts_with("*.") {
        // A wildcard keeps the whole name below the new location's host.
        full.split_once('/').map_or("", |(_, p)| p)
    } else {
        full.strip_prefix(prefix)
            .unwrap_or("")
            .trim_start_matches('/')
    };
    let target = match (location.trim_end_matches('/'), rest) {
        (l, "") => l.to_string(),
        (l, r) => format!("{l}/{r}"),
    };
    let (registry, repository) = target.split_once('/').unwrap_or((&target, ""));
    Route {
        registry: registry.to_string(),
        repository: repository.to_string(),
        insecure,
        mirror,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut c = RegistriesConf::default();
        c.add(Path::new("/etc/containers/registries.conf"), text)
            .unwrap();
        c
    }

    fn r(s: &str) -> Reference {
        s.parse().unwrap()
    }

    fn hosts(routes: &[Route]) -> Vec<String> {
        routes
            .iter()
            .map(|x| {
                format!(
                    "{}/{}{}",
                    x.registry,
                    x.repository,
                    if x.insecure { " i" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn mirrors_come_first_and_the_prefix_is_rewritten() {
        let c = conf(
            r#"
unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.site:5000/hub"
insecure = true
[[registry.mirror]]
location = "digests.site"
pull-from-mirror = "digest-only"
[[registry]]
location = "quay.io"
blocked = true
[[registry]]
prefix = "example.com/team"
location = "internal.site/ex"
insecure = true
[aliases]
"centos" = "quay.io/centos/centos"
"#,
        );
        assert_eq!(
            hosts(&c.routes(&r("busybox")).unwrap()),
            [
                "mirror.site:5000/hub/library/busybox i",
                "docker.io/library/busybox"
            ]
        );
        let d =
            r("busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000");
        assert_eq!(c.routes(&d).unwrap().len(), 3, "digest-only mirror too");
        let e = c.routes(&r("quay.io/x/y")).unwrap_err().to_string();
        assert!(
            e.contains("blocked") && e.contains("registries.conf"),
            "{e}"
        );
        assert_eq!(
            hosts(&c.routes(&r("example.com/team/app:1")).unwrap()),
            ["internal.site/ex/app i"]
        );
        // example.com/teamwork is not under example.com/team.
        assert_eq!(
            hosts(&c.routes(&r("example.com/teamwork/app")).unwrap()),
            ["example.com/teamwork/app"]
        );
        assert_eq!(
            c.routes(&r("ghcr.io/a/b")).unwrap()[0].api_host(),
            "ghcr.io"
        );
        assert_eq!(
            c.routes(&r("busybox")).unwrap()[1].api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn wildcards_later_files_and_bad_files() {
        let mut c = conf("[[registry]]\nprefix = \"*.corp.example\"\ninsecure = true\n");
        let got = c.routes(&r("reg.corp.example/a/b")).unwrap();
        assert_eq!(hosts(&got), ["reg.corp.example/a/b i"]);
        // A drop-in's table replaces the earlier one of its prefix.
        c.add(
            Path::new("/etc/containers/registries.conf.d/x.conf"),
            "[[registry]]\nprefix = \"*.corp.example\"\nblocked = true\n",
        )
        .unwrap();
        assert!(c.routes(&r("reg.corp.example/a/b")).is_err());
        // A port does not get around the block.
        assert!(c.routes(&r("reg.corp.example:5000/a/b")).is_err());
        assert!(c.routes(&r("reg.corp.example.other/a/b")).is_ok());
        let bad = RegistriesConf::default()
            .add(Path::new("/x.conf"), "[[registry]\n")
            .unwrap_err()
            .to_string();
        assert!(bad.starts_with("/x.conf: "), "{bad}");
    }
}
