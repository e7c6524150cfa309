//! Manifest lists (podman's `manifest` commands): named lists of image
//! manifests, one per platform, kept in the store until pushed as one
//! multi-arch image.
//!
//! Theory of operation: `ROOT/images/lists.json` holds every list: its
//! full name (normalised as image names are), the index media type (OCI
//! image index, or docker's manifest list), its annotations and, per
//! entry, the descriptor the index will carry (manifest digest, size,
//! media type, platform, annotations) with the id of the local image it
//! came from. The index JSON itself is made from the record whenever it
//! is shown or pushed, so nothing in `blobs/` belongs to a list and
//! removing a list (`manifest rm`) never touches its images. The file is
//! replaced atomically (`.tmp-*` then rename) under the store lock
//! `manifest-lists`, so two commands changing lists at once do not lose
//! each other's change.

use super::digest::Digest;
use super::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// OCI's image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// docker's manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("manifest lists file {path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0}: image not known (no such manifest list)")]
    NotFound(String),
    #[error("manifest list {0} already exists (use --amend to add to it)")]
    Exists(String),
    #[error("the name {0} is an image's; a manifest list needs a name of its own")]
    ImageName(String),
    #[error("manifest list {list} has no entry {entry}")]
    NoEntry { list: String, entry: String },
}

/// An entry's platform, in the index's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// One image manifest of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub platform: EntryPlatform,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The local image it is (pushed with the list).
    pub image: Digest,
}

/// One list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListRecord {
    /// 64 hex digits, fixed at creation (what the commands print).
    pub id: String,
    /// Full name, `registry/repo:tag`.
    pub name: String,
    pub media_type: String,
    pub created: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub entries: Vec<Entry>,
}

impl ListRecord {
    pub fn new(name: String) -> ListRecord {
        ListRecord {
            id: crate::container::ContainerId::random().as_str().to_string(),
            name,
            media_type: OCI_INDEX.into(),
            created: super::time::now(),
            annotations: BTreeMap::new(),
            entries: Vec::new(),
        }
    }

    /// Adds an entry; one for the same manifest is replaced.
    pub fn add(&mut self, e: Entry) {
        self.entries.retain(|x| x.digest != e.digest);
        self.entries.push(e);
    }

    /// The entry `query` names: its digest (`sha256:…`, or enough of the
    /// hex to be unique), or the id of its image.
    pub fn entry_mut(&mut self, query: &str) -> Result<&mut Entry, ListError> {
        let i = self.entry_index(query)?;
        Ok(&mut self.entries[i])
    }

    pub fn remove(&mut self, query: &str) -> Result<Entry, ListError> {
        let i = self.entry_index(query)?;
        Ok(self.entries.remove(i))
    }

    fn entry_index(&self, query: &str) -> Result<usize, ListError> {
        let bare = query.strip_prefix("sha256:").unwrap_or(query);
        let hits: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                bare.len() >= 3
                    && (e.digest.hex().starts_with(bare) || e.image.hex().starts_with(bare))
            })
            .collect();
        match hits[..] {
            [one] => Ok(one),
            _ => Err(ListError::NoEntry {
                list: self.name.clone(),
                entry: query.into(),
            }),
        }
    }

    /// The index JSON, with `digests`: what each entry became where it
    /// was pushed (digest, size, media type), when not as stored.
    pub fn index_json(&self, pushed: &[(Digest, u64, String)]) -> serde_json::Value {
        let manifests: Vec<serde_json::Value> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (digest, size, media) = match pushed.get(i) {
                    Some((d, s, m)) => (d.as_str(), *s, m.as_str()),
                    None => (e.digest.as_str(), e.size, e.media_type.as_str()),
                };
                let mut d = serde_json::json!({
                    "mediaType": media,
                    "digest": digest,
                    "size": size,
                    "platform": e.platform,
                });
                if !e.annotations.is_empty() {
                    d["annotations"] = serde_json::json!(e.annotations);
                }
                d
            })
            .collect();
        let mut v = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": manifests,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }
}

/// Every list in the store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Lists {
    pub lists: Vec<ListRecord>,
}

impl Lists {
    /// The list named `query` (a short name: any name a local lookup of it
    /// could mean, as for images).
    pub fn find(&self, query: &str) -> Option<&ListRecord> {
        let i = self.position(query)?;
        Some(&self.lists[i])
    }

    /// Where the list `query` names is: by name, else by id or a unique
    /// prefix of it (as images are found).
    pub fn position(&self, query: &str) -> Option<usize> {
        let candidates = super::shortnames::configured().local_candidates(query);
        let by_name = candidates.iter().find_map(|r| {
            let name = r.tagged_name()?;
            self.lists.iter().position(|l| l.name == name)
        });
        by_name.or_else(|| {
            let bare = query.strip_prefix("sha256:").unwrap_or(query);
            if bare.len() < 3 || !bare.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let hits: Vec<usize> = (0..self.lists.len())
                .filter(|&i| self.lists[i].id.starts_with(bare))
                .collect();
            match hits[..] {
                [one] => Some(one),
                _ => None,
            }
        })
    }
}

fn path(store: &Store) -> PathBuf {
    store.root().join("images/lists.json")
}

/// Reads the lists (none yet: empty).
pub fn read(store: &Store) -> Result<Lists, ListError> {
    let p = path(store);
    match fs::read(&p) {
        Ok(b) => {
            serde_json::from_slice(&b).map_err(|source| ListError::Damaged { path: p, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lists::default()),
        Err(source) => Err(StoreError::Io {
            op: "read",
            path: p,
            source,
        }
        .into()),
    }
}

/// Changes the lists under their lock; `f`'s error leaves them as they were.
pub fn update<T>(
    store: &Store,
    f: impl FnOnce(&mut Lists) -> Result<T, ListError>,
) -> Result<T, ListError> {
    let _lock = store.lock("manifest-lists")?;
    let mut lists = read(store)?;
    let out = f(&mut lists)?;
    let p = path(store);
    let dir = p.parent().expect("images dir");
    let io = |op: &'static str, path: PathBuf| move |source| StoreError::Io { op, path, source };
    fs::create_dir_all(dir).map_err(io("create", dir.to_path_buf()))?;
    let tmp = dir.join(super::store::tmp_name("lists"));
    let body = serde_json::to_vec_pretty(&lists).expect("json");
    fs::write(&tmp, body).map_err(io("write", tmp.clone()))?;
    fs::rename(&tmp, &p).map_err(io("rename", p.clone()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: &[u8], arch: &str) -> Entry {
        Entry {
            digest: Digest::of(b),
            size: b.len() as u64,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platform: EntryPlatform {
                architecture: arch.into(),
                os: "linux".into(),
                ..Default::default()
            },
            annotations: BTreeMap::new(),
            image: Digest::of(arch.as_bytes()),
        }
    }

    #[test]
    fn index_entries_replace_and_remove() {
        let mut l = ListRecord::new("localhost/l:latest".into());
        l.add(entry(b"a", "amd64"));
        l.add(entry(b"b", "arm64"));
        l.add(entry(b"a", "amd64"));
        assert_eq!(l.entries.len(), 2);
        l.entry_mut(Digest::of(b"b").as_str())
            .unwrap()
            .annotations
            .insert("k".into(), "v".into());
        let j = l.index_json(&[]);
        assert_eq!(j["schemaVersion"], 2);
        assert_eq!(j["mediaType"], OCI_INDEX);
        assert_eq!(j["manifests"][0]["platform"]["architecture"], "arm64");
        assert_eq!(j["manifests"][0]["annotations"]["k"], "v");
        assert!(j["manifests"][0]["platform"].get("variant").is_none());
        // As pushed: another digest and size.
        let pushed = vec![
            (Digest::of(b"x"), 9, "m1".to_string()),
            (Digest::of(b"y"), 8, "m2".to_string()),
        ];
        let j = l.index_json(&pushed);
        assert_eq!(j["manifests"][1]["digest"], Digest::of(b"y").as_str());
        assert_eq!(j["manifests"][1]["size"], 8);
        assert!(l.remove("sha256:0000").is_err());
        let gone = l.remove(&Digest::of(b"a").hex()[..12]).unwrap();
        assert_eq!(gone.platform.architecture, "amd64");
        assert_eq!(l.entries.len(), 1);
    }

    #[test]
    fn lists_by_name_or_id() {
        let mut a = ListRecord::new("docker.io/library/a:latest".into());
        a.id = format!("abc{}", "0".repeat(61));
        let mut b = ListRecord::new("docker.io/library/b:latest".into());
        b.id = format!("abd{}", "0".repeat(61));
        let all = Lists { lists: vec![a, b] };
        assert_eq!(all.position("docker.io/library/b:latest"), Some(1));
        assert_eq!(all.position("abd0"), Some(1));
        assert_eq!(all.position("sha256:abc"), Some(0));
        // Ambiguous, too short, or nothing.
        assert_eq!(all.position("ab"), None);
        assert_eq!(all.position("abe"), None);
    }
}
