//! Short names (`alpine`, `team/tool:1`): which registry they mean, by
//! podman's rules (containers-registries.conf(5)), read from its files.
//!
//! # Theory of operation
//!
//! A name is short when its first path component is not a registry host
//! (no `.`, no `:`, not `localhost`). A pull of a short name has these
//! candidates, tried in order until one has the image ([`RegistriesConf::resolve`]):
//! - an alias for its repository (tag and digest stripped: `alpine:3`
//!   looks up `alpine`), from the user's alias cache first, then the
//!   `[aliases]` of registries.conf and its drop-ins: that one name only,
//!   with the short name's tag or digest;
//! - else each `unqualified-search-registries` entry + `/` + the name, as
//!   `short-name-mode` allows: `disabled` and `permissive` (podman's
//!   default) use them all, in order; `enforcing` uses a single one, and
//!   refuses several (podman would prompt on a terminal, and refuses
//!   without one; rless never prompts);
//! - else, nothing being configured for the name, Docker Hub, as docker
//!   (podman refuses instead; rless keeps docker's rule).
//!
//! A short name given as an image's new name (`tag`, `build -t`, `commit`,
//! `import`) is stored as `localhost/NAME`, as podman's ([`local_name`]).
//! Local look-ups (`run`, `rmi`, `inspect`…) find a short name's image
//! under any name a pull or one of those could have given it
//! ([`RegistriesConf::local_candidates`]): the alias, `localhost/NAME` and
//! each search registry's, as podman's, then Docker Hub's, the name of a
//! short name pulled with nothing configured (docker's rule).

use super::reference::{BadReference, Reference};
use super::registries_conf::{AliasTarget, RegistriesConf};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

/// `short-name-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortNameMode {
    Enforcing,
    Permissive,
    Disabled,
}

impl FromStr for ShortNameMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "enforcing" => Ok(ShortNameMode::Enforcing),
            "permissive" => Ok(ShortNameMode::Permissive),
            "disabled" => Ok(ShortNameMode::Disabled),
            other => Err(format!(
                "unsupported short-name-mode {other:?}: use enforcing, permissive or disabled"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShortNameError {
    /// podman's words, then which names and which file.
    #[error("short-name resolution enforced but cannot prompt without a TTY: {name:?} could be {} (short-name-mode in {}); use a fully-qualified name or an [aliases] entry", .candidates.join(" or "), .file.display())]
    NoTty {
        name: String,
        candidates: Vec<String>,
        file: PathBuf,
    },
    #[error("short-name {name:?} could be {} and short-name-mode is enforcing ({}); rless does not prompt: use a fully-qualified name or an [aliases] entry", .candidates.join(" or "), .file.display())]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
        file: PathBuf,
    },
    #[error(transparent)]
    Reference(#[from] BadReference),
}

/// How a name was resolved, for the progress lines of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// It names its registry.
    Qualified,
    /// By the alias in this file.
    Alias(PathBuf),
    /// By the search registries of this file.
    Search(PathBuf),
    /// Nothing is configured for it: Docker Hub, as docker.
    DockerHub,
}

/// The names to pull a name as, in order.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub candidates: Vec<Reference>,
    pub how: How,
}

/// Whether `input` names no registry (`alpine`, `team/app:1`, `a@sha256:…`).
pub fn is_short(input: &str) -> bool {
    let name = input.split_once('@').map_or(input, |(n, _)| n);
    match name.split_once('/') {
        None => true,
        Some((first, _)) => !(first.contains('.') || first.contains(':') || first == "localhost"),
    }
}

/// The repository of a short name as written, without tag or digest.
fn repository_as_written(input: &str) -> &str {
    let name = input.split_once('@').map_or(input, |(n, _)| n);
    let last = name.rfind('/').map_or(0, |i| i + 1);
    match name[last..].find(':') {
        Some(i) => &name[..last + i],
        None => name,
    }
}

/// Whether the last component of `s` carries a tag, or `s` a digest.
fn tagged(s: &str) -> bool {
    s.contains('@') || s.rsplit('/').next().is_some_and(|l| l.contains(':'))
}

/// An `unqualified-search-registries` entry: `host[:port]`, nothing more.
pub(crate) fn valid_search_registry(reg: &str) -> bool {
    !reg.contains('/')
        && format!("{reg}/x")
            .parse::<Reference>()
            .is_ok_and(|r| r.registry == reg)
}

/// Checks one `"name" = "value"` of `[aliases]`: the name short, the
/// value a repository on a registry, neither tagged; `""` erases.
pub(crate) fn parse_alias(name: &str, value: &str) -> Result<AliasTarget, String> {
    if !is_short(name) || tagged(name) || name.parse::<Reference>().is_err() {
        return Err(format!(
            "invalid short name {name:?} in [aliases]: a repository without registry, tag or digest"
        ));
    }
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<Reference>() {
        Ok(r) if !is_short(value) && !tagged(value) => Ok(Some(Reference {
            tag: None,
            ..r
        })),
        _ => Err(format!(
            "invalid alias {name:?} = {value:?}: the value must be registry/repository, without tag or digest"
        )),
    }
}

/// `prefix/repo` (a registry, normalised as docker's names are) with the
/// tag and digest of `wanted`.
fn under(prefix: &str, repo: &str, wanted: &Reference) -> Result<Reference, BadReference> {
    let r: Reference = format!("{prefix}/{repo}").parse()?;
    Ok(Reference {
        tag: wanted.tag.clone(),
        digest: wanted.digest.clone(),
        ..r
    })
}

/// The name an image given the name `input` by `tag`, `build -t`, `commit`
/// or `import` is stored under: a short name is `localhost/NAME` (with its
/// tag, `latest` without one), as podman names it; a name with a registry
/// is kept as it is.
pub fn local_name(input: &str) -> Result<Reference, BadReference> {
    let wanted: Reference = input.parse()?;
    if !is_short(input) {
        return Ok(wanted);
    }
    under("localhost", repository_as_written(input), &wanted)
}

impl RegistriesConf {
    /// The alias for a short repository, and the file that says so (the
    /// user's cache first). An erased alias is none.
    pub fn alias(&self, repo: &str) -> Option<(&Reference, &Path)> {
        let found = self
            .cached_aliases
            .get(repo)
            .or_else(|| self.aliases.get(repo))?;
        found.value.as_ref().map(|r| (r, found.file.as_path()))
    }

    /// `unqualified-search-registries` (empty when none is configured).
    pub fn search_registries(&self) -> &[String] {
        self.search.as_ref().map_or(&[], |s| &s.value)
    }

    /// What to pull `input` as (see the module's notes). `tty`: whether
    /// stdin and stdout are terminals (it changes only the message of an
    /// enforcing refusal: rless does not prompt).
    pub fn resolve(&self, input: &str, tty: bool) -> Result<Resolved, ShortNameError> {
        let wanted: Reference = input.parse()?;
        if !is_short(input) {
            return Ok(Resolved {
                candidates: vec![wanted],
                how: How::Qualified,
            });
        }
        let repo = repository_as_written(input);
        if let Some((alias, file)) = self.alias(repo) {
            return Ok(Resolved {
                candidates: vec![Reference {
                    tag: wanted.tag.clone(),
                    digest: wanted.digest.clone(),
                    ..alias.clone()
                }],
                how: How::Alias(file.to_path_buf()),
            });
        }
        let Some(search) = self.search.as_ref().filter(|s| !s.value.is_empty()) else {
            return Ok(Resolved {
                candidates: vec![wanted],
                how: How::DockerHub,
            });
        };
        let candidates = search
            .value
            .iter()
            .map(|reg| under(reg, repo, &wanted))
            .collect::<Result<Vec<_>, _>>()?;
        let mode = self.mode.as_ref();
        if candidates.len() > 1 && mode.is_some_and(|m| m.value == ShortNameMode::Enforcing) {
            let m = mode.expect("checked");
            let name = input.to_string();
            let candidates = candidates.iter().map(|c| c.to_string()).collect();
            let file = m.file.clone();
            return Err(match tty {
                false => ShortNameError::NoTty {
                    name,
                    candidates,
                    file,
                },
                true => ShortNameError::Ambiguous {
                    name,
                    candidates,
                    file,
                },
            });
        }
        Ok(Resolved {
            candidates,
            how: How::Search(search.file.clone()),
        })
    }

    /// The names a stored image of `input` may have, most likely first
    /// (see the module's notes); none when `input` is not a reference.
    pub fn local_candidates(&self, input: &str) -> Vec<Reference> {
        let Ok(wanted) = input.parse::<Reference>() else {
            return Vec::new();
        };
        if !is_short(input) {
            return vec![wanted];
        }
        let repo = repository_as_written(input);
        let alias = self.alias(repo).map(|(a, _)| Reference {
            tag: wanted.tag.clone(),
            digest: wanted.digest.clone(),
            ..a.clone()
        });
        let mut out: Vec<Reference> = alias.into_iter().collect();
        for prefix in
            std::iter::once("localhost").chain(self.search_registries().iter().map(String::as_str))
        {
            if let Ok(r) = under(prefix, repo, &wanted) {
                out.push(r);
            }
        }
        out.push(wanted);
        let mut seen = Vec::new();
        out.retain(|r| {
            let fresh = !seen.contains(r);
            if fresh {
                seen.push(r.clone());
            }
            fresh
        });
        out
    }
}

/// This process's configuration for local look-ups, read once. A file
/// that cannot be read or parsed is a warning (a pull reports it as an
/// error), and short names are then looked up as Docker Hub's.
pub fn configured() -> &'static RegistriesConf {
    static CONF: OnceLock<RegistriesConf> = OnceLock::new();
    CONF.get_or_init(|| {
        if cfg!(test) {
            // Unit tests do not depend on the machine's files.
            return RegistriesConf::default();
        }
        RegistriesConf::load().unwrap_or_else(|e| {
            eprintln!("rless: warning: {e}; short names are looked up as Docker Hub's");
            RegistriesConf::default()
        })
    })
}

/// Whether stdin and stdout are both terminals (where podman would prompt).
pub fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

#[cfg(test)]
#[path = "shortnames_tests.rs"]
mod tests;
