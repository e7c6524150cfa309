//! The ConfigMaps and Secrets `kube play` reads (podman's).
//!
//! Theory of operation: [`Sources`] holds the file's ConfigMaps and
//! Secrets (read before any pod, as a pod may come first), each as key →
//! bytes: a ConfigMap's `data` as text, a Secret's `data` decoded from
//! base64 with its `stringData` over it (as Kubernetes merges them). A
//! Secret the file lacks is looked up in the user's secret store (podman's:
//! `kube play` of a Secret stores it there, so a later file may name it),
//! whose data is either a JSON map of key → base64 or a Secret document.
//! `env` `valueFrom`, `envFrom` and the `configMap`/`secret` volumes of
//! `kube_yaml` ask [`Sources::find`] for the set a reference names.
//! [`claim_doc`] reads a PersistentVolumeClaim document into the named
//! volume `kube play` makes of it (podman's `volume.podman.io/*`
//! annotations as its options; size, access modes and class ignored).

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Key → value of one ConfigMap or Secret.
pub type DataSet = BTreeMap<String, Vec<u8>>;

/// Looks a secret of the user's store up by name: its bytes.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// Which kind of document a reference names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

/// A reference (`configMapKeyRef`, `secretKeyRef`, `configMapRef`,
/// `secretRef`, a `configMap` or `secret` volume).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DataRef {
    pub name: String,
    /// A `secret` volume's name for it.
    pub secret_name: String,
    pub key: Option<String>,
    pub optional: bool,
    pub items: Vec<Item>,
    pub default_mode: Option<Value>,
}

impl DataRef {
    pub fn target(&self) -> &str {
        if self.name.is_empty() {
            &self.secret_name
        } else {
            &self.name
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Item {
    pub key: String,
    pub path: String,
    pub mode: Option<Value>,
}

/// A file mode of the YAML: a number (`256`), or octal as Kubernetes
/// users write it (`0400`, which the YAML 1.2 reader gives as the float
/// 400, or the strings `0400`, `0o400`).
fn mode(v: &Value) -> Result<u32, String> {
    let octal = |s: &str| u32::from_str_radix(s.trim_start_matches("0o"), 8).ok();
    let m = match v {
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .and_then(|f| octal(&format!("{f:.0}"))),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => octal(s),
        _ => None,
    };
    m.filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("bad file mode {v}"))
}

/// A Secret document's fields (and a stored secret's, when one).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SecretDoc {
    data: BTreeMap<String, Value>,
    string_data: BTreeMap<String, Value>,
}

/// A scalar of the YAML as text.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        o => o.to_string(),
    }
}

/// Base64 as Kubernetes (Go's decoder) reads it: line breaks, which a
/// YAML block of a long value has, are passed over.
fn decode(b64: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let joined: String = b64.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
    base64::engine::general_purpose::STANDARD.decode(joined.trim())
}

/// A Secret document's keys: `data` base64-decoded, `stringData` over it.
pub fn secret_data(doc: &Value) -> Result<DataSet, String> {
    let d: SecretDoc = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    let mut out = DataSet::new();
    for (k, v) in &d.data {
        let b = decode(&text(v)).map_err(|e| format!("data {k}: not base64: {e}"))?;
        out.insert(k.clone(), b);
    }
    for (k, v) in &d.string_data {
        out.insert(k.clone(), text(v).into_bytes());
    }
    Ok(out)
}

/// A stored secret's keys: a JSON map of key → base64, else a Secret
/// document (JSON or YAML), as podman reads them.
fn stored_data(bytes: &[u8]) -> Option<DataSet> {
    if let Ok(m) = serde_json::from_slice::<BTreeMap<String, String>>(bytes) {
        let decoded: Option<DataSet> = m
            .into_iter()
            .map(|(k, v)| Some((k, decode(&v).ok()?)))
            .collect();
        if decoded.is_some() {
            return decoded;
        }
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let v: Value = serde_saphyr::from_str(text).ok()?;
    // A Secret's fields, its kind given or not (podman reads them so).
    if v.get("data").is_none() && v.get("stringData").is_none() {
        return None;
    }
    secret_data(&v).ok()
}

/// What references are resolved against.
pub struct Sources<'a> {
    pub config_maps: BTreeMap<String, DataSet>,
    pub secrets: BTreeMap<String, DataSet>,
    pub lookup: Lookup<'a>,
    /// Every set is taken as optional (`kube down`, which needs the pods'
    /// names only).
    pub lenient: bool,
}

impl Sources<'_> {
    /// The set `r` names, or why not (`None`: optional and missing).
    pub fn find(&self, kind: Kind, r: &DataRef) -> Result<Option<DataSet>, String> {
        let name = r.target();
        let found = match kind {
            Kind::ConfigMap => self.config_maps.get(name).cloned(),
            Kind::Secret => match self.secrets.get(name) {
                Some(s) => Some(s.clone()),
                None => match (self.lookup)(name) {
                    // Unreadable, as podman: an error unless optional.
                    Some(bytes) => match stored_data(&bytes) {
                        Some(d) => Some(d),
                        None if r.optional || self.lenient => None,
                        None => {
                            return Err(format!(
                                "secret {name:?} is not a Kubernetes Secret (JSON or YAML)"
                            ))
                        }
                    },
                    None => None,
                },
            },
        };
        match found {
            Some(m) => Ok(Some(m)),
            None if r.optional || self.lenient => Ok(None),
            None if kind == Kind::Secret => Err(format!(
                "Secret {name:?} is neither in the file nor a secret of the store"
            )),
            None => Err(format!(
                "{} {name:?} is not in the file (kube play reads the ConfigMaps of the file)",
                kind.name()
            )),
        }
    }

    /// One key of the set `r` names (`None`: optional and missing).
    pub fn value(&self, kind: Kind, r: &DataRef) -> Result<Option<Vec<u8>>, String> {
        let key = r.key.clone().unwrap_or_default();
        match self.find(kind, r)?.map(|d| d.get(&key).cloned()) {
            Some(Some(v)) => Ok(Some(v)),
            _ if r.optional || self.lenient => Ok(None),
            _ => Err(format!("{} {} has no key {key:?}", kind.name(), r.target())),
        }
    }

    /// A volume's files: every key, or the items' keys at their paths,
    /// each with its mode.
    pub fn files(&self, kind: Kind, r: &DataRef) -> Result<Vec<VolFile>, String> {
        let data = self.find(kind, r)?.unwrap_or_default();
        let mode = r.default_mode.as_ref().map_or(Ok(0o644), mode)?;
        let files: Vec<VolFile> = if r.items.is_empty() {
            data.into_iter()
                .map(|(path, data)| VolFile { path, data, mode })
                .collect()
        } else {
            r.items
                .iter()
                .filter(|it| !self.lenient || data.contains_key(&it.key))
                .map(|it| match data.get(&it.key) {
                    Some(d) => Ok::<_, String>(VolFile {
                        path: it.path.clone(),
                        data: d.clone(),
                        mode: it.mode.as_ref().map_or(Ok(mode), self::mode)?,
                    }),
                    None => Err(format!(
                        "{} {} has no key {:?}",
                        kind.name(),
                        r.target(),
                        it.key
                    )),
                })
                .collect::<Result<_, _>>()?
        };
        if let Some(f) = files.iter().find(|f| !safe_path(&f.path)) {
            return Err(format!("bad file path {:?}", f.path));
        }
        Ok(files)
    }
}

/// A file of a configMap or secret volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolFile {
    /// Its path in the volume.
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A file name or relative path of a volume: no `..`, not absolute,
/// nothing empty.
fn safe_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The named volume a PersistentVolumeClaim document makes (podman's):
/// its name, labels, driver and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDoc {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `volume.podman.io/driver` (rless has `local` alone).
    pub driver: Option<String>,
    /// From `volume.podman.io/device`, `type`, `uid`, `gid` and
    /// `mount-options`, as podman names them (`device`, `type`, `UID`,
    /// `GID`, `o`).
    pub options: BTreeMap<String, String>,
}

/// A PersistentVolumeClaim's volume, from its metadata; other
/// annotations and the whole `spec` (size, access modes, storage class)
/// mean nothing to a local volume and are passed over, as podman does.
pub fn claim_doc(
    name: Option<&str>,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<ClaimDoc, String> {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .ok_or("a PersistentVolumeClaim without metadata.name")?;
    let mut c = ClaimDoc {
        name: name.to_string(),
        labels: labels.clone(),
        driver: None,
        options: BTreeMap::new(),
    };
    for (k, v) in annotations {
        let Some(what) = k.strip_prefix("volume.podman.io/") else {
            continue;
        };
        let opt = match what {
            "driver" => {
                c.driver = Some(v.clone());
                continue;
            }
            "device" => "device",
            "type" => "type",
            "mount-options" => "o",
            "uid" | "gid" => {
                if v.parse::<u32>().is_err() {
                    return Err(format!(
                        "PersistentVolumeClaim {name}: annotation {k}: {v:?} is not a number"
                    ));
                }
                if what == "uid" {
                    "UID"
                } else {
                    "GID"
                }
            }
            _ => continue,
        };
        c.options.insert(opt.to_string(), v.clone());
    }
    Ok(c)
}
