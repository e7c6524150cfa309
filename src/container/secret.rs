//! Secrets (podman's `secret` store): small blobs a container gets at
//! creation, as a read-only file or an environment variable, that stay out
//! of images, `inspect` and the container's command line.
//!
//! Theory of operation: a secret is `STORE/secrets/ID/` holding
//! `secret.json` (name, id, times, labels) and `data` (the bytes, mode
//! 0600), in a directory of mode 0700. The id is 25 random hex digits, as
//! podman's. A secret is written under a `.tmp-*` name and renamed into
//! place, so a half-written one never shows; the `secrets` lock
//! (`locks/secrets`) makes the check that a name is free and the rename one
//! step. `--replace` writes the new data and metadata over the old ones
//! (same id, same creation time, a new update time), each by rename.
//!
//! Containers do not refer to the store once made: `run`/`create` copy the
//! data into the container's own directory (see `commands/run`), so
//! removing or replacing a secret changes no existing container, as
//! podman documents.

use crate::image::store::{remove_tree, tmp_name};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The metadata file next to `data`.
const META: &str = "secret.json";
/// The secret's bytes.
const DATA: &str = "data";
/// podman's limit: less than 512000 bytes, and not empty.
pub const MAX_SIZE: usize = 512_000;
/// podman's id length.
const ID_LEN: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("invalid secret name {0:?}: only 253 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")]
    BadName(String),
    #[error("no such secret: {0}")]
    NotFound(String),
    #[error("secret name {0:?} is ambiguous: more than one id starts with it")]
    Ambiguous(String),
    #[error("secret name in use: {0} (use --replace to replace it)")]
    NameInUse(String),
    #[error("secret data must be larger than 0 and less than {MAX_SIZE} bytes")]
    Size,
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error("bad secret record {path}: {source}")]
    Record {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> SecretError + 'a {
    move |source| SecretError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// `secret.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretMeta {
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created: i64,
    pub updated: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A secret a container was made with (its `config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSecret {
    pub name: String,
    pub id: String,
    /// The variable (`type=env`); none for a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The file in the container (`type=mount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PathBuf>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// `STORE/secrets`.
pub fn secrets_dir(root: &Path) -> PathBuf {
    root.join("secrets")
}

/// podman's rule: 1 to 253 of `[a-zA-Z0-9_.-]`, the first and the last a
/// letter or digit.
pub fn valid_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !name.is_empty()
        && name.len() <= 253
        && edge(name.chars().next())
        && edge(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Takes the `secrets` lock (held until the file is dropped), then rolls
/// back the journals of `kube play`s that are gone
/// ([`super::secret_journal`]).
pub fn lock(root: &Path) -> Result<fs::File, SecretError> {
    let dir = root.join("locks");
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let p = dir.join("secrets");
    let f = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(io_err("open", &p))?;
    f.lock().map_err(io_err("lock", &p))?;
    // What a `kube play` that is gone changed is undone first.
    super::secret_journal::recover(root);
    Ok(f)
}

/// Every secret, by name.
pub fn list(root: &Path) -> Vec<SecretMeta> {
    let mut out: Vec<SecretMeta> = fs::read_dir(secrets_dir(root))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let text = fs::read(e.path().join(META)).ok()?;
            serde_json::from_slice(&text).ok()
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The secret with this name, else the one whose id is or starts with it.
pub fn find(root: &Path, name_or_id: &str) -> Result<SecretMeta, SecretError> {
    let all = list(root);
    if let Some(s) = all.iter().find(|s| s.name == name_or_id) {
        return Ok(s.clone());
    }
    let hex = !name_or_id.is_empty() && name_or_id.chars().all(|c| c.is_ascii_hexdigit());
    let mut by_id = all
        .into_iter()
        .filter(|s| hex && s.id.starts_with(name_or_id));
    match (by_id.next(), by_id.next()) {
        (Some(s), None) => Ok(s),
        (Some(_), Some(_)) => Err(SecretError::Ambiguous(name_or_id.to_string())),
        _ => Err(SecretError::NotFound(name_or_id.to_string())),
    }
}

/// The secret's bytes.
pub fn data(root: &Path, s: &SecretMeta) -> Result<Vec<u8>, SecretError> {
    let p = secrets_dir(root).join(&s.id).join(DATA);
    fs::read(&p).map_err(io_err("read", &p))
}

/// Writes `bytes` to a new file `path` of mode 0600 (no other mode ever
/// shows), flushed to disk.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    let mut f = fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create", path))?;
    f.write_all(bytes).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("write", path))
}

/// Makes a secret, or with `replace` gives an existing one of that name new
/// data and labels. The caller holds [`lock`].
pub fn create(
    root: &Path,
    name: &str,
    bytes: &[u8],
    labels: BTreeMap<String, String>,
    replace: bool,
) -> Result<SecretMeta, SecretError> {
    if !valid_name(name) {
        return Err(SecretError::BadName(name.to_string()));
    }
    if bytes.is_empty() || bytes.len() >= MAX_SIZE {
        return Err(SecretError::Size);
    }
    let dir = secrets_dir(root);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err("create", &dir))?;
    let now = crate::image::time::now();
    let existing = list(root).into_iter().find(|s| s.name == name);
    match existing {
        Some(_) if !replace => Err(SecretError::NameInUse(name.to_string())),
        Some(old) => {
            let meta = SecretMeta {
                updated: now,
                labels,
                ..old
            };
            let at = dir.join(&meta.id);
            let tmp = at.join(tmp_name(DATA));
            write_private(&tmp, bytes)?;
            let data = at.join(DATA);
            fs::rename(&tmp, &data).map_err(io_err("replace", &data))?;
            write_meta(&at, &meta)?;
            Ok(meta)
        }
        None => {
            let id = loop {
                let id = super::ContainerId::random().as_str()[..ID_LEN].to_string();
                if !dir.join(&id).exists() {
                    break id;
                }
            };
            let meta = SecretMeta {
                id,
                name: name.to_string(),
                created: now,
                updated: now,
                labels,
            };
            let tmp = dir.join(tmp_name(&meta.id));
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&tmp)
                .map_err(io_err("create", &tmp))?;
            let made = write_private(&tmp.join(DATA), bytes).and_then(|()| write_meta(&tmp, &meta));
            let at = dir.join(&meta.id);
            let made = made.and_then(|()| fs::rename(&tmp, &at).map_err(io_err("create", &at)));
            if made.is_err() {
                let _ = remove_tree(&tmp);
            }
            made.map(|()| meta)
        }
    }
}

/// Gives a secret that is still there (same id) its earlier data and
/// metadata again, as [`create`]'s `replace` writes them: a `kube play`
/// that replaced it and then failed. The caller holds [`lock`].
pub fn restore(root: &Path, meta: &SecretMeta, bytes: &[u8]) -> Result<(), SecretError> {
    let at = secrets_dir(root).join(&meta.id);
    let tmp = at.join(tmp_name(DATA));
    write_private(&tmp, bytes)?;
    let data = at.join(DATA);
    fs::rename(&tmp, &data).map_err(io_err("replace", &data))?;
    write_meta(&at, meta)
}

fn write_meta(dir: &Path, meta: &SecretMeta) -> Result<(), SecretError> {
    let p = dir.join(META);
    let tmp = dir.join(tmp_name(META));
    let text = serde_json::to_vec_pretty(meta).map_err(|source| SecretError::Record {
        path: p.clone(),
        source,
    })?;
    write_private(&tmp, &text)?;
    fs::rename(&tmp, &p).map_err(io_err("write", &p))
}

/// Removes a secret (the caller holds [`lock`]). Containers made with it
/// keep their copy.
pub fn remove(root: &Path, s: &SecretMeta) -> Result<(), SecretError> {
    let dir = secrets_dir(root);
    let at = dir.join(&s.id);
    let tmp = dir.join(tmp_name(&s.id));
    fs::rename(&at, &tmp).map_err(io_err("remove", &at))?;
    Ok(remove_tree(&tmp)?)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::container) fn tmp_root(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rless-secret-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn names_as_podman() {
        for good in ["a", "my-secret", "A.b_c-9", &"x".repeat(253)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a.",
            "_a",
            "a/b",
            "a=b",
            "a,b",
            "a b",
            &"x".repeat(254),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_find_replace_remove() {
        use std::os::unix::fs::PermissionsExt;
        let root = tmp_root("crud");
        let s = create(&root, "pw", b"one", BTreeMap::new(), false).unwrap();
        assert_eq!(s.id.len(), ID_LEN);
        assert!(s.id.chars().all(|c| c.is_ascii_hexdigit()));
        let data_file = secrets_dir(&root).join(&s.id).join(DATA);
        let mode = fs::metadata(&data_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(find(&root, "pw").unwrap().id, s.id);
        assert_eq!(find(&root, &s.id[..6]).unwrap().name, "pw");
        assert!(matches!(
            create(&root, "pw", b"two", BTreeMap::new(), false),
            Err(SecretError::NameInUse(_))
        ));
        assert!(matches!(
            create(&root, "e", b"", BTreeMap::new(), false),
            Err(SecretError::Size)
        ));
        let r = create(&root, "pw", b"two", BTreeMap::new(), true).unwrap();
        assert_eq!(r.id, s.id);
        assert_eq!(data(&root, &r).unwrap(), b"two");
        restore(&root, &s, b"one").unwrap();
        assert_eq!(data(&root, &s).unwrap(), b"one");
        assert_eq!(find(&root, "pw").unwrap().updated, s.updated);
        let r = create(&root, "pw", b"two", BTreeMap::new(), true).unwrap();
        remove(&root, &r).unwrap();
        assert!(matches!(find(&root, "pw"), Err(SecretError::NotFound(_))));
        assert!(list(&root).is_empty());
        let _ = fs::remove_dir_all(&root);
    }
}
