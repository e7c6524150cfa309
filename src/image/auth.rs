//! Registry credentials, kept where podman and docker keep them.
//!
//! Read order: `$REGISTRY_AUTH_FILE` (or `--authfile`), then
//! `$XDG_RUNTIME_DIR/containers/auth.json`, then (as podman)
//! `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/containers/…`), the
//! one that outlives a login session and so reaches a batch job, then
//! `~/.docker/config.json`. `rless login` writes the first of these. Each file is JSON of the form
//! `{"auths": {"HOST": {"auth": base64("user:password")}}}`; Docker Hub may be
//! keyed by its legacy `https://index.docker.io/v1/` URL. Within a file,
//! as docker reads it: a credential helper named for the registry in
//! `credHelpers` first, then the `auths` entry, then the helper named in
//! `credsStore` (see `credhelper`).

use base64::Engine as _;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A user name and password (or token) for one registry.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.user)
    }
}

impl Credentials {
    /// Parses `USER:PASSWORD` (the password may contain ':').
    pub fn parse(s: &str) -> Option<Credentials> {
        let (user, password) = s.split_once(':')?;
        (!user.is_empty()).then(|| Credentials {
            user: user.into(),
            password: password.into(),
        })
    }

    /// The value of an HTTP basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("cannot read credentials file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("credentials file {path} is not valid JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write credentials file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not logged in to {0}")]
    NotLoggedIn(String),
    #[error("no place to keep credentials: set XDG_RUNTIME_DIR or REGISTRY_AUTH_FILE, or pass --authfile")]
    NoAuthFile,
    #[error(transparent)]
    Helper(#[from] super::credhelper::HelperError),
}

/// Where credentials are looked up and stored.
#[derive(Debug, Clone)]
pub struct AuthFiles {
    /// The file `login` writes, and the first one read.
    pub primary: Option<PathBuf>,
    /// Read after the primary one, in order (podman's persistent one,
    /// docker's).
    pub fallbacks: Vec<PathBuf>,
}

impl AuthFiles {
    /// The default places, or `explicit` when given (`--authfile`).
    pub fn locate(explicit: Option<&Path>) -> AuthFiles {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let primary = explicit
            .map(Path::to_path_buf)
            .or_else(|| env("REGISTRY_AUTH_FILE"))
            // Not another user's (`sudo -u` keeps the caller's variable),
            // nor one the node lacks (a batch job's).
            .or_else(|| crate::config::user_runtime_dir().map(|d| d.join("containers/auth.json")));
        let config = env("XDG_CONFIG_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".config")))
            .map(|d| d.join("containers/auth.json"));
        let docker = env("HOME").map(|h| h.join(".docker/config.json"));
        let fallbacks = config
            .into_iter()
            .chain(docker)
            .filter(|p| primary.as_ref() != Some(p))
            .collect();
        AuthFiles { primary, fallbacks }
    }

    /// Credentials for `registry` (`host[:port]`, `docker.io` for Hub).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, AuthFileError> {
        for path in self.primary.iter().chain(&self.fallbacks) {
            let Some(doc) = read_json(path)? else {
                continue;
            };
            let file = path.display().to_string();
            let helper = |key: &str| doc.get(key).and_then(serde_json::Value::as_str);
            let named = doc
                .get("credHelpers")
                .and_then(serde_json::Value::as_object)
                .and_then(|h| keys_for(registry).into_iter().find_map(|k| h.get(k)))
                .and_then(serde_json::Value::as_str);
            if let Some(name) = named {
                if let Some(c) = super::credhelper::get(name, registry, &file)? {
                    return Ok(Some(c));
                }
            }
            if let Some(c) = find_entry(&doc, registry) {
                return Ok(Some(c));
            }
            if let Some(name) = helper("credsStore").filter(|n| !n.is_empty()) {
                match super::credhelper::get(name, registry, &file) {
                    Ok(Some(c)) => return Ok(Some(c)),
                    Ok(None) => {}
                    // A file copied from another machine often names a
                    // store this one lacks (`desktop`, `osxkeychain`):
                    // that is no reason to refuse an anonymous pull.
                    Err(e @ super::credhelper::HelperError::NotInstalled { .. }) => {
                        eprintln!("rless: warning: {e}; going on without its credentials");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(None)
    }

    /// Stores credentials for `registry` in the primary file.
    pub fn store(&self, registry: &str, creds: &Credentials) -> Result<(), AuthFileError> {
        let path = self.primary.as_ref().ok_or(AuthFileError::NoAuthFile)?;
        let _lock = lock(path)?;
        let mut doc = read_json(path)?.unwrap_or_else(|| serde_json::json!({}));
        let raw = format!("{}:{}", creds.user, creds.password);
        let auth = base64::engine::general_purpose::STANDARD.encode(raw);
        if !doc.is_object() {
            doc = serde_json::json!({});
        }
        let auths = doc
            .as_object_mut()
            .expect("object")
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        auths[registry] = serde_json::json!({ "auth": auth });
        write_json(path, &doc)
    }

    /// Removes credentials for `registry` from the primary file (and the
    /// fallbacks, as `podman logout` does).
    pub fn remove(&self, registry: &str) -> Result<(), AuthFileError> {
        let mut removed = false;
        for path in self.primary.iter().chain(&self.fallbacks) {
            if !path.exists() {
                continue;
            }
            let _lock = lock(path)?;
            let Some(mut doc) = read_json(path)? else {
                continue;
            };
            let gone = doc
                .get_mut("auths")
                .and_then(|a| a.as_object_mut())
                .map(|a| keys_for(registry).iter().any(|k| a.remove(*k).is_some()))
                .unwrap_or(false);
            if gone {
                write_json(path, &doc)?;
                removed = true;
            }
        }
        if removed {
            Ok(())
        } else {
            Err(AuthFileError::NotLoggedIn(registry.to_string()))
        }
    }
}

impl AuthFiles {
    /// Empties the `auths` of the primary file (`logout -a`, as podman's:
    /// other files, docker's among them, are left alone). Nothing to do
    /// when it does not exist.
    pub fn remove_all(&self) -> Result<(), AuthFileError> {
        let path = self.primary.as_ref().ok_or(AuthFileError::NoAuthFile)?;
        if !path.exists() {
            return Ok(());
        }
        let _lock = lock(path)?;
        let Some(mut doc) = read_json(path)? else {
            return Ok(());
        };
        match doc.as_object_mut() {
            Some(o) => {
                o.insert("auths".into(), serde_json::json!({}));
            }
            None => doc = serde_json::json!({ "auths": {} }),
        }
        write_json(path, &doc)
    }
}

fn keys_for(registry: &str) -> Vec<&str> {
    if registry == super::reference::DOCKER_HUB {
        vec![registry, "https://index.docker.io/v1/", "index.docker.io"]
    } else {
        vec![registry]
    }
}

fn find_entry(doc: &serde_json::Value, registry: &str) -> Option<Credentials> {
    let auths = doc.get("auths")?.as_object()?;
    for key in keys_for(registry) {
        let found = auths.get(key).or_else(|| {
            // docker also accepts "https://host" keys.
            auths
                .iter()
                .find(|(k, _)| {
                    k.trim_start_matches("https://")
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        == key
                })
                .map(|(_, v)| v)
        });
        let Some(entry) = found else { continue };
        let b64 = entry.get("auth")?.as_str()?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        return Credentials::parse(&String::from_utf8(raw).ok()?);
    }
    None
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, AuthFileError> {
    match fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| AuthFileError::Parse {
                path: path.into(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuthFileError::Read {
            path: path.into(),
            source,
        }),
    }
}

/// Holds `FILE.lock` beside `path` (made with its directory if needed),
/// so two `login`s at once do not each write back what they read and lose
/// the other's entry.
fn lock(path: &Path) -> Result<fs::File, AuthFileError> {
    let err = |source| AuthFileError::Write {
        path: path.into(),
        source,
    };
    // A directory made for the file is private; one that was there (a
    // shared project directory, $HOME given as --authfile's) is left as
    // it is: the file itself is 0600.
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path.with_file_name(name))
        .map_err(err)?;
    f.lock().map_err(err)?;
    Ok(f)
}

/// Writes the file 0600 under a temporary name, then renames it into place.
fn write_json(path: &Path, doc: &serde_json::Value) -> Result<(), AuthFileError> {
    let err = |source| AuthFileError::Write {
        path: path.into(),
        source,
    };
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    let mut body = serde_json::to_vec_pretty(doc).expect("json");
    body.push(b'\n');
    f.write_all(&body).map_err(err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lookup_remove() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuthFiles {
            primary: Some(dir.path().join("c/auth.json")),
            fallbacks: vec![dir.path().join("d.json")],
        };
        assert!(files.lookup("h:1").unwrap().is_none());
        files
            .store(
                "h:1",
                &Credentials {
                    user: "u".into(),
                    password: "p:w".into(),
                },
            )
            .unwrap();
        let c = files.lookup("h:1").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p:w"));
        fs::write(
            dir.path().join("d.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        assert_eq!(files.lookup("docker.io").unwrap().unwrap().user, "a");
        files.remove("h:1").unwrap();
        assert!(files.lookup("h:1").unwrap().is_none());
        assert!(matches!(
            files.remove("h:1"),
            Err(AuthFileError::NotLoggedIn(_))
        ));
    }
}
