//! Reading images from an archive into the store.
//!
//! Two steps. Planning reads and checks every document first (manifest.json
//! or index.json, manifests, configs, names), so a malformed archive fails
//! before anything is written. Then the layers are ingested one by one
//! (digest, diff id, safe extraction); layers the store already has are not
//! read at all. The manifests and configs are stored and the images recorded
//! last. Images from a docker-archive get a new OCI manifest naming their
//! layers as found in the archive (uncompressed, or gzip); images from an
//! oci-archive keep theirs, byte for byte.

use super::members::{normalize, Members};
use super::{ArchiveError, MAX_DOCUMENT};
use crate::image::digest::{BadDigest, Digest};
use crate::image::extract::ExtractOptions;
use crate::image::import::{CONFIG, MANIFEST};
use crate::image::layer::{self, Expect};
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::image::store::{ImageRecord, LayerRecord, Store};
use crate::image::time;
use serde::Deserialize;
use serde_json::json;
use std::io::{BufRead, BufReader};

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// One entry of a docker-archive's manifest.json.
#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Where a layer comes from.
struct LayerSource {
    member: String,
    diff_id: Digest,
    /// Known for oci-archives: the blob digest, size and media type.
    blob: Option<(Digest, u64, String)>,
}

/// One image, checked but not yet stored.
struct Plan {
    config: Vec<u8>,
    id: Digest,
    /// The archive's manifest (oci-archive), with its media type.
    manifest: Option<(Vec<u8>, String)>,
    layers: Vec<LayerSource>,
    names: Vec<String>,
}

/// One image an archive held, as `load` reports it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: Digest,
    /// The names the archive gave it (full form). Names the image had in
    /// the store before are not among them: docker lists only these.
    pub names: Vec<String>,
}

/// Loads every image in the archive; returns them in archive order.
pub fn load(
    store: &Store,
    m: &Members,
    opts: &ExtractOptions,
) -> Result<Vec<Loaded>, ArchiveError> {
    let plans = if m.has("manifest.json") {
        plan_docker(m)?
    } else if m.has("index.json") && m.has("oci-layout") {
        plan_oci(m)?
    } else {
        return Err(ArchiveError::NotAnArchive {
            path: m.label().into(),
            detail: "it has neither manifest.json nor index.json and oci-layout".into(),
        });
    };
    let mut stored = Vec::new();
    let mut done = Vec::new();
    for p in &plans {
        let mut layers = Vec::new();
        for l in &p.layers {
            let r = ingest_layer(store, m, l, opts, &done)?;
            done.push(r.clone());
            layers.push(r);
        }
        stored.push(layers);
    }
    let mut records = Vec::new();
    for (p, layers) in plans.into_iter().zip(stored) {
        store.put_blob(&p.config, Some(&p.id))?;
        let (manifest, media) = match p.manifest {
            Some(m) => m,
            None => (manifest_for(&p.config, &p.id, &layers), MANIFEST.into()),
        };
        let manifest_digest = store.put_blob(&manifest, None)?;
        let config: serde_json::Value = serde_json::from_slice(&p.config).unwrap_or_default();
        let mut size = 0;
        for l in &layers {
            size += store.layer_meta(&l.diff_id)?.size;
        }
        let record = ImageRecord {
            id: p.id,
            manifest: manifest_digest,
            manifest_media_type: media,
            names: p.names.clone(),
            digests: vec![],
            layers,
            created: config["created"]
                .as_str()
                .and_then(time::parse_rfc3339)
                .unwrap_or_else(time::now),
            size,
            architecture: config["architecture"].as_str().unwrap_or_default().into(),
            os: config["os"].as_str().unwrap_or("linux").into(),
            other_manifests: vec![],
            pulled_by_digest: vec![],
            names_history: Vec::new(),
        };
        let added = crate::image::add_image(store, record)?;
        records.push(Loaded {
            id: added.id,
            names: p.names,
        });
    }
    Ok(records)
}

fn invalid(m: &Members, what: &'static str, detail: impl ToString) -> ArchiveError {
    ArchiveError::Invalid {
        path: m.label().into(),
        what,
        detail: detail.to_string(),
    }
}

/// A JSON document from the archive.
fn document<T: serde::de::DeserializeOwned>(
    m: &Members,
    name: &str,
    what: &'static str,
) -> Result<(Vec<u8>, T), ArchiveError> {
    let bytes = m.read_small(name, MAX_DOCUMENT)?;
    let doc = serde_json::from_slice(&bytes).map_err(|e| invalid(m, what, e))?;
    Ok((bytes, doc))
}

/// An image config's diff ids, after checking it parses as a config.
fn diff_ids(m: &Members, config: &[u8]) -> Result<Vec<Digest>, ArchiveError> {
    let cfg = oci_spec::image::ImageConfiguration::from_reader(config)
        .map_err(|e| invalid(m, "image config", e))?;
    cfg.rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, BadDigest>>()
        .map_err(|e| invalid(m, "image config", e))
}

/// A name from the archive, in full form; a bad one fails the load.
fn full_name(m: &Members, name: &str) -> Result<String, ArchiveError> {
    let r: Reference = name.parse()?;
    r.tagged_name()
        .filter(|_| r.digest.is_none())
        .ok_or_else(|| invalid(m, "image name", format!("{name:?} has no tag")))
}

fn plan_docker(m: &Members) -> Result<Vec<Plan>, ArchiveError> {
    let (_, entries): (_, Vec<DockerEntry>) = document(m, "manifest.json", "manifest.json")?;
    if entries.is_empty() {
        return Err(invalid(m, "manifest.json", "it lists no images"));
    }
    let mut plans = Vec::new();
    for e in entries {
        let config = m.read_small(&e.config, MAX_DOCUMENT)?;
        let id = Digest::of(&config);
        // Docker names the config after its digest: hold it to that.
        let stem = normalize(&e.config);
        let stem = stem.rsplit('/').next().unwrap_or_default();
        let stem = stem.strip_suffix(".json").unwrap_or(stem);
        if let Ok(claimed) = Digest::from_hex(stem) {
            if claimed != id {
                return Err(ArchiveError::DigestMismatch {
                    path: m.label().into(),
                    what: format!("config {}", e.config),
                    expected: claimed,
                    got: id,
                });
            }
        }
        let diffs = diff_ids(m, &config)?;
        if diffs.len() != e.layers.len() {
            return Err(invalid(
                m,
                "manifest.json",
                format!(
                    "{} lists {} layers but its config has {} diff ids",
                    e.config,
                    e.layers.len(),
                    diffs.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (member, diff_id) in e.layers.iter().zip(diffs) {
            m.size(member)?;
            layers.push(LayerSource {
                member: member.clone(),
                diff_id,
                blob: None,
            });
        }
        let names = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|n| full_name(m, n))
            .collect::<Result<_, _>>()?;
        plans.push(Plan {
            config,
            id,
            manifest: None,
            layers,
            names,
        });
    }
    Ok(plans)
}

/// A descriptor's digest, media type and size.
fn descriptor(m: &Members, d: &serde_json::Value) -> Result<(Digest, String, u64), ArchiveError> {
    let digest: Digest = d["digest"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| invalid(m, "descriptor", e))?;
    let size = d["size"]
        .as_u64()
        .ok_or_else(|| invalid(m, "descriptor", format!("{digest} has no size")))?;
    Ok((
        digest,
        d["mediaType"].as_str().unwrap_or_default().into(),
        size,
    ))
}

/// A blob of the layout, checked against its descriptor.
fn blob(m: &Members, digest: &Digest, size: u64, what: &str) -> Result<Vec<u8>, ArchiveError> {
    let bytes = m.read_small(&blob_member(digest), MAX_DOCUMENT)?;
    let got = Digest::of(&bytes);
    if got != *digest {
        return Err(ArchiveError::DigestMismatch {
            path: m.label().into(),
            what: what.into(),
            expected: digest.clone(),
            got,
        });
    }
    if bytes.len() as u64 != size {
        return Err(invalid(
            m,
            "descriptor",
            format!("{what} {digest} is {} bytes, not {size}", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn blob_member(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn plan_oci(m: &Members) -> Result<Vec<Plan>, ArchiveError> {
    let (_, index): (_, serde_json::Value) = document(m, "index.json", "index.json")?;
    let descs = index["manifests"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid(m, "index.json", "it lists no manifests"))?;
    let mut plans: Vec<Plan> = Vec::new();
    for d in descs {
        let (mut digest, mut media, mut size) = descriptor(m, d)?;
        let annotations = &d["annotations"];
        let name = annotations["io.containerd.image.name"]
            .as_str()
            .or_else(|| annotations["org.opencontainers.image.ref.name"].as_str())
            // A bare tag (as the OCI layout spec shows) names no repository.
            .filter(|n| n.contains('/') || n.contains(':'))
            .map(|n| full_name(m, n))
            .transpose()?;
        let mut manifest = blob(m, &digest, size, "manifest")?;
        let mut doc: serde_json::Value =
            serde_json::from_slice(&manifest).map_err(|e| invalid(m, "manifest", e))?;
        let is_index = |media: &str, doc: &serde_json::Value| {
            INDEX_TYPES.contains(&media) || doc.get("manifests").is_some()
        };
        if is_index(&media, &doc) {
            // A multi-platform image: load the host's.
            let host = Platform::host();
            let chosen = doc["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| {
                    let p = &c["platform"];
                    host.matches(
                        p["os"].as_str().unwrap_or_default(),
                        p["architecture"].as_str().unwrap_or_default(),
                        p["variant"].as_str(),
                    ) && m.has(&c["digest"].as_str().map_or(String::new(), |h| {
                        format!("blobs/sha256/{}", h.trim_start_matches("sha256:"))
                    }))
                })
                .cloned()
                .ok_or_else(|| invalid(m, "image index", format!("no image for {host}")))?;
            (digest, media, size) = descriptor(m, &chosen)?;
            manifest = blob(m, &digest, size, "manifest")?;
            doc = serde_json::from_slice(&manifest).map_err(|e| invalid(m, "manifest", e))?;
            if is_index(&media, &doc) {
                return Err(invalid(m, "image index", "nested more than once"));
            }
        }
        if media.is_empty() {
            media = doc["mediaType"].as_str().unwrap_or(MANIFEST).into();
        }
        let (config_digest, _, config_size) = descriptor(m, &doc["config"])?;
        let config = blob(m, &config_digest, config_size, "config")?;
        let diffs = diff_ids(m, &config)?;
        let layer_descs = doc["layers"].as_array().cloned().unwrap_or_default();
        if diffs.len() != layer_descs.len() {
            return Err(invalid(
                m,
                "manifest",
                format!(
                    "{digest} has {} layers but its config has {} diff ids",
                    layer_descs.len(),
                    diffs.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (ld, diff_id) in layer_descs.iter().zip(diffs) {
            let (b, lmedia, lsize) = descriptor(m, ld)?;
            let member = blob_member(&b);
            m.size(&member)?;
            layers.push(LayerSource {
                member,
                diff_id,
                blob: Some((b, lsize, lmedia)),
            });
        }
        // Several names for one manifest: one image with all of them. Another
        // manifest of the same config is planned on its own, so that the
        // store keeps it for its names (see `ImageRecord::other_manifests`).
        let same = |p: &Plan| {
            p.id == config_digest && p.manifest.as_ref().is_some_and(|(b, _)| *b == manifest)
        };
        if let Some(p) = plans.iter_mut().find(|p| same(p)) {
            p.names.extend(name);
            continue;
        }
        plans.push(Plan {
            config,
            id: config_digest,
            manifest: Some((manifest, media)),
            layers,
            names: name.into_iter().collect(),
        });
    }
    Ok(plans)
}

/// Stores one layer unless the store has it already: recorded in the index,
/// or loaded earlier from this archive (`done`), with the same blob when the
/// archive names one.
fn ingest_layer(
    store: &Store,
    m: &Members,
    l: &LayerSource,
    opts: &ExtractOptions,
    done: &[LayerRecord],
) -> Result<LayerRecord, ArchiveError> {
    let have = |lr: &LayerRecord| {
        lr.diff_id == l.diff_id
            && l.blob.as_ref().is_none_or(|(b, _, _)| *b == lr.blob)
            && store.has_blob(&lr.blob)
    };
    let known = |store: &Store| -> Result<Option<LayerRecord>, ArchiveError> {
        if !store.has_layer(&l.diff_id) {
            return Ok(None);
        }
        if let Some(r) = done.iter().find(|lr| have(lr)) {
            return Ok(Some(r.clone()));
        }
        let index = store.index()?;
        Ok(index
            .images
            .iter()
            .flat_map(|i| &i.layers)
            .find(|lr| have(lr))
            .cloned())
    };
    if let Some(r) = known(store)? {
        return Ok(r);
    }
    let _lock = store.lock_layer(&l.diff_id)?;
    if let Some(r) = known(store)? {
        return Ok(r);
    }
    let mut source = BufReader::with_capacity(1 << 16, m.open(&l.member)?);
    let magic = source.fill_buf().map_err(|e| ArchiveError::Io {
        op: "read",
        path: format!("{}:{}", m.label(), l.member).into(),
        source: e,
    })?;
    let media = match &l.blob {
        Some((_, _, media)) => media.clone(),
        None => crate::image::layer::Compression::sniff(magic)
            .media_type()
            .into(),
    };
    let expect = Expect {
        name: &l.member,
        blob: l.blob.as_ref().map(|(d, s, _)| (d, *s)),
        diff_id: Some(&l.diff_id),
    };
    let done = layer::ingest(store, source, &expect, opts)
        .map_err(|e| ArchiveError::Layer(e, m.label().into()))?;
    Ok(LayerRecord {
        diff_id: done.meta.diff_id,
        blob: done.blob,
        blob_size: done.blob_size,
        media_type: media,
    })
}

/// An OCI manifest for a docker-archive image.
fn manifest_for(config: &[u8], id: &Digest, layers: &[LayerRecord]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| json!({"mediaType": l.media_type, "digest": l.blob, "size": l.blob_size}))
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": id, "size": config.len()},
        "layers": layers,
    }))
    .expect("json")
}
