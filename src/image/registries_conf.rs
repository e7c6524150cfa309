//! podman's `registries.conf` (version 2): site mirrors, insecure and
//! blocked registries, rewritten locations, and short-name resolution.
//!
//! # Theory of operation
//!
//! A site that runs a pull-through cache, blocks a registry or sets up
//! short names does so in `/etc/containers/registries.conf` for podman,
//! and users there expect every container tool to honour it. rless reads
//! the same files, in podman's order: the main file is
//! `CONTAINERS_REGISTRIES_CONF` if set, else the user's
//! `$XDG_CONFIG_HOME/containers/registries.conf` (else
//! `~/.config/containers/…`) if it exists, else the system's; then the
//! drop-ins (`registries.conf.d/*.conf`, in name order) of
//! `/etc/containers` and of the user's directory, or only the user's when
//! the user's main file was read. A later file's `[[registry]]` replaces
//! an earlier one of the same prefix; its `unqualified-search-registries`
//! and `short-name-mode` replace earlier ones; its `[aliases]` replace
//! earlier aliases of the same name (`""` erases one).
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
//! gave: mirrors are transparent. Short names (`[aliases]`,
//! `unqualified-search-registries`, `short-name-mode`, and the user's
//! alias cache `$XDG_CACHE_HOME/containers/short-name-aliases.conf`) are
//! read here and resolved in `image::shortnames`. Keys rless does not use
//! (credential helpers) are ignored, since these files are written for
//! podman.
//!
//! The version 1 format of RHEL 7 era files (`[registries.search]`,
//! `[registries.insecure]`, `[registries.block]`, each with a
//! `registries` list) is read in the main file as podman reads it: the
//! search list is `unqualified-search-registries`, and each insecure or
//! blocked registry is a `[[registry]]` of that location. A file that
//! mixes both versions, and a drop-in in version 1, are errors, as
//! podman's; as podman's too, version 1 tables whose lists are all empty
//! are as absent (version 2 files often keep them from older ones).
//!
//! Invariants: a file that does not parse, or holds an invalid alias,
//! search registry or mode, is an error naming it; a missing file is no
//! configuration, except the one `CONTAINERS_REGISTRIES_CONF` names.

use super::reference::Reference;
use super::shortnames::{self, ShortNameMode};
use serde::Deserialize;
use std::collections::BTreeMap;
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
#[serde(rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    registry: Vec<Entry>,
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// Version 1's tables.
    registries: Option<V1>,
}

/// Version 1's `[registries.search|insecure|block]`.
#[derive(Debug, Default, Deserialize)]
struct V1 {
    #[serde(default)]
    search: V1List,
    #[serde(default)]
    insecure: V1List,
    #[serde(default)]
    block: V1List,
}

#[derive(Debug, Default, Deserialize)]
struct V1List {
    /// Empty is as unset (podman's reading of version 1).
    registries: Option<Vec<String>>,
}

/// Which of a configuration's files is read: the main file may be in
/// version 1, a drop-in may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Main,
    DropIn,
}

/// The user's alias cache: podman writes `[aliases]` there after a prompt.
#[derive(Debug, Default, Deserialize)]
struct CacheFile {
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

/// A setting and the file it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<T> {
    pub value: T,
    pub file: PathBuf,
}

/// An alias's repository (no tag or digest); `None` when a file erased it.
pub type AliasTarget = Option<Reference>;

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
    /// `unqualified-search-registries`, as the last file that set it says.
    pub(super) search: Option<Origin<Vec<String>>>,
    /// `short-name-mode`, as the last file that set it says.
    pub(super) mode: Option<Origin<ShortNameMode>>,
    /// `[aliases]` of registries.conf and its drop-ins.
    pub(super) aliases: BTreeMap<String, Origin<AliasTarget>>,
    /// The user's alias cache, which comes first.
    pub(super) cached_aliases: BTreeMap<String, Origin<AliasTarget>>,
}

impl RegistriesConf {
    /// Reads podman's files for this user (see the module's notes).
    pub fn load() -> Result<RegistriesConf, RegistriesConfError> {
        RegistriesConf::load_from(
            Path::new("/etc/containers"),
            user_dir().as_deref(),
            std::env::var_os("CONTAINERS_REGISTRIES_CONF")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .as_deref(),
            alias_cache_path().as_deref(),
        )
    }

    /// [`RegistriesConf::load`] from these places: the system's and the
    /// user's `containers` directories, the file named instead of the main
    /// one, and the alias cache.
    fn load_from(
        system: &Path,
        user: Option<&Path>,
        named: Option<&Path>,
        cache: Option<&Path>,
    ) -> Result<RegistriesConf, RegistriesConfError> {
        let mut conf = RegistriesConf::default();
        let user_main = user
            .map(|u| u.join("registries.conf"))
            .filter(|p| p.exists());
        // As podman's: the user's own main file hides the system's
        // drop-ins too; a file named by the variable does not.
        let (main, dirs) = match (named, user_main) {
            (Some(one), _) => (one.to_path_buf(), vec![system]),
            (None, Some(u)) => (u, vec![]),
            (None, None) => (system.join("registries.conf"), vec![system]),
        };
        // The file the variable names must be there, as podman's.
        let must_exist = named.is_some();
        match std::fs::read_to_string(&main) {
            Ok(text) => conf.add_as(&main, &text, Role::Main)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {}
            Err(source) => return Err(RegistriesConfError::Read { path: main, source }),
        }
        for dir in dirs.into_iter().chain(user) {
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
                conf.read_drop_in(&f)?;
            }
        }
        if let Some(cache) = cache {
            match std::fs::read_to_string(cache) {
                Ok(text) => conf.add_cache(cache, &text)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RegistriesConfError::Read {
                        path: cache.to_path_buf(),
                        source,
                    })
                }
            }
        }
        Ok(conf)
    }

    /// Parses one file's text, as a main file (`path` is for messages).
    pub fn add(&mut self, path: &Path, text: &str) -> Result<(), RegistriesConfError> {
        self.add_as(path, text, Role::Main)
    }

    fn add_as(&mut self, path: &Path, text: &str, role: Role) -> Result<(), RegistriesConfError> {
        let mut file: File = toml::from_str(text).map_err(|e| RegistriesConfError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let bad = |message: String| RegistriesConfError::Parse {
            path: path.to_path_buf(),
            message,
        };
        // podman's: a version 1 table whose lists are all empty is as if
        // it were not there (a v2 file may keep such leftovers).
        if let Some(v1) = file.registries.take().filter(V1::nonempty) {
            if role == Role::DropIn {
                return Err(bad(
                    "a drop-in must be in version 2 format, not 1 ([registries.*])".into(),
                ));
            }
            if !file.registry.is_empty()
                || file.unqualified_search_registries.is_some()
                || file.short_name_mode.is_some()
                || !file.aliases.is_empty()
            {
                return Err(bad(
                    "version 1 ([registries.*]) and version 2 settings cannot be mixed".into(),
                ));
            }
            file = v1.into_v2();
        }
        for mut e in file.registry {
            e.file = path.to_path_buf();
            self.entries.retain(|x| x.prefix() != e.prefix());
            self.entries.push(e);
        }
        if let Some(list) = file.unqualified_search_registries {
            for reg in &list {
                if !shortnames::valid_search_registry(reg) {
                    return Err(bad(format!(
                        "invalid unqualified-search-registries entry {reg:?}: use host[:port]"
                    )));
                }
            }
            self.search = Some(Origin {
                value: list,
                file: path.to_path_buf(),
            });
        }
        match file.short_name_mode.as_deref() {
            // Unset or empty: podman's default, permissive.
            None | Some("") => {}
            Some(m) => {
                self.mode = Some(Origin {
                    value: m.parse().map_err(bad)?,
                    file: path.to_path_buf(),
                })
            }
        }
        add_aliases(&mut self.aliases, path, file.aliases)
    }

    /// Parses the user's alias cache (`path` is for messages).
    pub fn add_cache(&mut self, path: &Path, text: &str) -> Result<(), RegistriesConfError> {
        let file: CacheFile = toml::from_str(text).map_err(|e| RegistriesConfError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        add_aliases(&mut self.cached_aliases, path, file.aliases)
    }

    fn read_drop_in(&mut self, path: &Path) -> Result<(), RegistriesConfError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.add_as(path, &text, Role::DropIn),
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

impl V1 {
    /// Whether any list has a registry (podman's `Nonempty`: an empty list
    /// counts as none).
    fn nonempty(&self) -> bool {
        [&self.search, &self.insecure, &self.block]
            .iter()
            .any(|l| l.registries.as_ref().is_some_and(|r| !r.is_empty()))
    }

    /// The version 2 file this one means (podman's conversion): a
    /// `[[registry]]` per location, blocked and/or insecure.
    fn into_v2(self) -> File {
        let mut registry: Vec<Entry> = Vec::new();
        let lists = [
            (self.block.registries, true),
            (self.insecure.registries, false),
        ];
        for (list, blocked) in lists {
            for location in list.unwrap_or_default() {
                let location = location.trim_end_matches('/').to_string();
                let i = match registry.iter().position(|e| e.location == location) {
                    Some(i) => i,
                    None => {
                        registry.push(Entry {
                            location,
                            ..Entry::default()
                        });
                        registry.len() - 1
                    }
                };
                if blocked {
                    registry[i].blocked = true;
                } else {
                    registry[i].insecure = true;
                }
            }
        }
        File {
            registry,
            unqualified_search_registries: self.search.registries,
            ..File::default()
        }
    }
}

/// Checks `[aliases]` of one file and adds them to `to`.
fn add_aliases(
    to: &mut BTreeMap<String, Origin<AliasTarget>>,
    path: &Path,
    aliases: BTreeMap<String, String>,
) -> Result<(), RegistriesConfError> {
    for (name, value) in aliases {
        let target = shortnames::parse_alias(&name, &value).map_err(|message| {
            RegistriesConfError::Parse {
                path: path.to_path_buf(),
                message,
            }
        })?;
        to.insert(
            name,
            Origin {
                value: target,
                file: path.to_path_buf(),
            },
        );
    }
    Ok(())
}

/// podman's alias cache: `$XDG_CACHE_HOME/containers/short-name-aliases.conf`
/// (else `~/.cache/…`); real root's (outside rless's user namespaces, where
/// everyone is root) is `/var/cache/containers/short-name-aliases.conf`.
fn alias_cache_path() -> Option<PathBuf> {
    const FILE: &str = "containers/short-name-aliases.conf";
    if rustix::process::geteuid().is_root()
        && !crate::userns::in_userns()
        && !crate::userns::in_single_session()
    {
        return Some(Path::new("/var/cache").join(FILE));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join(FILE))
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

    #[test]
    fn files_are_read_in_podmans_order() {
        let t = tempfile::tempdir().unwrap();
        let (system, user) = (t.path().join("etc"), t.path().join("user"));
        let write = |p: &Path, text: &str| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let search = |c: &RegistriesConf| c.search.as_ref().map(|s| s.value.join(","));
        write(
            &system.join("registries.conf"),
            "unqualified-search-registries = [\"sys.io\"]\n",
        );
        write(
            &system.join("registries.conf.d/10-a.conf"),
            "[aliases]\n\"app\" = \"sys.io/app\"\n",
        );
        write(
            &system.join("registries.conf.d/20-b.conf"),
            "short-name-mode = \"enforcing\"\n",
        );
        write(&system.join("registries.conf.d/skipped.txt"), "not toml [");
        let c = RegistriesConf::load_from(&system, Some(&user), None, None).unwrap();
        assert_eq!(search(&c).as_deref(), Some("sys.io"));
        assert!(c.alias("app").is_some() && c.mode.is_some());
        // A named file replaces the main one; the drop-ins stay.
        let named = t.path().join("named.conf");
        write(&named, "unqualified-search-registries = [\"named.io\"]\n");
        let c = RegistriesConf::load_from(&system, Some(&user), Some(&named), None).unwrap();
        assert_eq!(search(&c).as_deref(), Some("named.io"));
        assert!(c.alias("app").is_some());
        // The user's drop-ins come after the system's.
        write(
            &user.join("registries.conf.d/x.conf"),
            "unqualified-search-registries = [\"drop.io\"]\n",
        );
        let c = RegistriesConf::load_from(&system, Some(&user), None, None).unwrap();
        assert_eq!(search(&c).as_deref(), Some("drop.io"));
        // The user's own main file hides the system's file and drop-ins.
        write(
            &user.join("registries.conf"),
            "short-name-mode = \"disabled\"\n",
        );
        let c = RegistriesConf::load_from(&system, Some(&user), None, None).unwrap();
        assert_eq!(search(&c).as_deref(), Some("drop.io"));
        assert!(c.alias("app").is_none());
        assert_eq!(c.mode.map(|m| m.value), Some(ShortNameMode::Disabled));
        // The alias cache, and a bad one named in the error.
        let cache = t.path().join("cache.conf");
        write(&cache, "[aliases]\n\"app\" = \"cached.io/app\"\n");
        let c = RegistriesConf::load_from(&system, Some(&user), None, Some(&cache)).unwrap();
        assert_eq!(c.alias("app").unwrap().0.to_string(), "cached.io/app");
        write(&cache, "[aliases]\n\"app\" = \"app\"\n");
        let e = RegistriesConf::load_from(&system, Some(&user), None, Some(&cache)).unwrap_err();
        assert!(e.to_string().contains("cache.conf"), "{e}");
        // A file the variable names must exist; the others need not.
        let missing = t.path().join("missing.conf");
        let e = RegistriesConf::load_from(&system, Some(&user), Some(&missing), None).unwrap_err();
        assert!(e.to_string().contains("missing.conf"), "{e}");
        let nothing = t.path().join("nothing");
        assert!(RegistriesConf::load_from(&nothing, None, None, None).is_ok());
    }

    #[test]
    fn version_1_files_as_podman_reads_them() {
        let c = conf(
            r#"
[registries.search]
registries = ["registry.access.redhat.com", "docker.io"]
[registries.insecure]
registries = ["site.local:5000", "both.local"]
[registries.block]
registries = ["quay.io", "both.local"]
"#,
        );
        let search = c.search.as_ref().map(|s| s.value.join(","));
        assert_eq!(
            search.as_deref(),
            Some("registry.access.redhat.com,docker.io")
        );
        assert_eq!(
            hosts(&c.routes(&r("site.local:5000/a")).unwrap()),
            ["site.local:5000/a i"]
        );
        assert!(c.routes(&r("quay.io/x/y")).is_err());
        assert!(c.routes(&r("both.local/x")).is_err());
        assert_eq!(hosts(&c.routes(&r("ghcr.io/a")).unwrap()), ["ghcr.io/a"]);
        // Empty version 1 lists are as none (podman's): no search list
        // set, and a version 2 file or a drop-in may keep them.
        let c = conf("[registries.search]\nregistries = []\n");
        assert!(c.search.is_none());
        let leftovers = "unqualified-search-registries = [\"a.io\"]\n[registries.insecure]\nregistries = []\n[registries.block]\nregistries = []\n";
        let c = conf(leftovers);
        assert_eq!(c.search.map(|s| s.value.join(",")).as_deref(), Some("a.io"));
        // Mixed versions, and a drop-in in version 1, are refused.
        let mixed = "unqualified-search-registries = [\"a.io\"]\n[registries.search]\nregistries = [\"b.io\"]\n";
        let e = RegistriesConf::default()
            .add(Path::new("/m.conf"), mixed)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/m.conf: ") && e.contains("mixed"), "{e}");
        let t = tempfile::tempdir().unwrap();
        let drop = t.path().join("registries.conf.d");
        std::fs::create_dir_all(&drop).unwrap();
        std::fs::write(
            drop.join("old.conf"),
            "[registries.search]\nregistries = [\"b.io\"]\n",
        )
        .unwrap();
        let e = RegistriesConf::load_from(t.path(), None, None, None).unwrap_err();
        assert!(e.to_string().contains("old.conf"), "{e}");
        std::fs::write(
            drop.join("old.conf"),
            "[registries.search]\nregistries = []\n",
        )
        .unwrap();
        assert!(RegistriesConf::load_from(t.path(), None, None, None).is_ok());
    }
}
