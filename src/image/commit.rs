//! `commit`: a container's writable layer becomes the top layer of a new
//! image.
//!
//! The upper directory is turned into an OCI layer (whiteouts and opaque
//! directories back into `.wh.` entries), gzip-compressed by a writer thread
//! feeding a pipe, and stored and extracted through the same single pass as
//! any pulled layer ([`super::layer::ingest`]). The new config is the
//! parent image's with the layer's diff id, a history entry and the
//! `--change` instructions applied; the manifest lists the parent's layers
//! and the new one, so the image can be pushed as it is. Runs inside the
//! user namespace, where the upper layer's owners read as container ids.

use super::digest::Digest;
use super::extract::ExtractOptions;
use super::import::{append_tree, ImportError, TreeKind, CONFIG, LAYER_GZIP, MANIFEST};
use super::layer::{self, Expect};
use super::platform::Platform;
use super::reference::Reference;
use super::store::{ImageRecord, LayerRecord, Store};
use super::time;
use std::io;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error(transparent)]
    Change(#[from] super::change::ChangeError),
    #[error("the parent image's config is damaged: {0}")]
    BadConfig(String),
    #[error("a layer of media type {0} cannot be in a docker-format image (it has no zstd); use --format oci")]
    DockerFormat(String),
}

/// What to commit.
pub struct CommitRequest<'a> {
    pub upper: &'a Path,
    /// Paths in `upper` to leave out: the bare mount points rless made.
    pub skip: &'a std::collections::BTreeSet<std::path::PathBuf>,
    /// The writable layer was written by kernel overlayfs (a `.wh.` name
    /// there is a file of the container's), not by fuse-overlay.
    pub kernel_upper: bool,
    /// The image the container was made from (`None` for `--rootfs`).
    pub parent: Option<&'a ImageRecord>,
    pub changes: &'a [String],
    pub message: Option<&'a str>,
    pub author: Option<&'a str>,
    pub name: Option<&'a Reference>,
    pub format: ManifestFormat,
    /// podman's `--squash`: the whole image one layer, with one history
    /// entry (the tar then comes from [`commit_with`]'s producer).
    pub squash: bool,
    /// Paths to add to the config's `Volumes` (the container's volumes).
    pub volumes: Vec<String>,
    /// Ports to add to the config's `ExposedPorts` (`80/tcp`: the
    /// container's exposed and published ports).
    pub exposed: Vec<String>,
}

/// The manifest an image is stored with (podman's `--format oci|docker`):
/// the same config and layers, under OCI's media types or docker's (v2
/// schema 2). Registries and tools that want docker's take the latter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ManifestFormat {
    #[default]
    Oci,
    Docker,
}

impl std::str::FromStr for ManifestFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "oci" => Ok(ManifestFormat::Oci),
            "docker" => Ok(ManifestFormat::Docker),
            _ => Err(format!("invalid --format {s:?}: use oci or docker")),
        }
    }
}

/// docker's media types (v2 schema 2).
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Applies one `--change` instruction to the config's `config` object
/// (Dockerfile syntax, see [`super::change`]).
pub fn apply_change(
    cfg: &mut serde_json::Map<String, serde_json::Value>,
    change: &str,
) -> Result<(), CommitError> {
    Ok(super::change::apply(cfg, change)?)
}

/// Commits the writable layer `req.upper` as a new layer over the
/// parent's; returns the new image.
pub fn commit(
    store: &Store,
    req: &CommitRequest,
    opts: &ExtractOptions,
) -> Result<ImageRecord, CommitError> {
    let owner = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let upper = req.upper.to_path_buf();
    let skip = req.skip.clone();
    let kind = if req.kernel_upper {
        TreeKind::KernelUpper
    } else {
        TreeKind::FuseUpper
    };
    commit_with(store, req, opts, move |w| {
        let mut b = tar::Builder::new(w);
        append_tree(&mut b, &upper, owner, kind, &skip)?;
        b.into_inner()
            .map(drop)
            .map_err(|source| ImportError::Source {
                path: upper.clone(),
                source,
            })
    })
}

/// [`commit`] of the uncompressed layer tar `produce` writes (on a thread
/// of its own): with `req.squash`, the whole root filesystem, which
/// replaces the parent's layers.
pub fn commit_with(
    store: &Store,
    req: &CommitRequest,
    opts: &ExtractOptions,
    produce: impl FnOnce(&mut dyn io::Write) -> Result<(), ImportError> + Send + 'static,
) -> Result<ImageRecord, CommitError> {
    // Check the changes before any work.
    let mut config: serde_json::Value = match req.parent {
        Some(p) => serde_json::from_slice(&store.read_blob(&p.id)?)
            .map_err(|e| CommitError::BadConfig(e.to_string()))?,
        None => {
            let host = Platform::host();
            serde_json::json!({"architecture": host.arch, "os": host.os, "config": {}, "rootfs": {"type": "layers", "diff_ids": []}})
        }
    };
    {
        let obj = config
            .as_object_mut()
            .ok_or_else(|| CommitError::BadConfig("not an object".into()))?;
        let c = obj.entry("config").or_insert_with(|| serde_json::json!({}));
        let c = c
            .as_object_mut()
            .ok_or_else(|| CommitError::BadConfig("config is not an object".into()))?;
        if !req.volumes.is_empty() {
            let v = c.entry("Volumes").or_insert_with(|| serde_json::json!({}));
            if !v.is_object() {
                *v = serde_json::json!({});
            }
            for p in &req.volumes {
                v[p.as_str()] = serde_json::json!({});
            }
        }
        if !req.exposed.is_empty() {
            let v = c
                .entry("ExposedPorts")
                .or_insert_with(|| serde_json::json!({}));
            if !v.is_object() {
                *v = serde_json::json!({});
            }
            for p in &req.exposed {
                v[p.as_str()] = serde_json::json!({});
            }
        }
        for ch in req.changes {
            apply_change(c, ch)?;
        }
    }

    let (reader, writer) = io::pipe().map_err(|source| ImportError::Source {
        path: req.upper.into(),
        source,
    })?;
    let upper = req.upper.to_path_buf();
    // The consumer may stop reading (a full disk): the producer's write
    // must then fail with EPIPE, not kill the process by SIGPIPE before
    // the consumer's error is told.
    let _pipe = crate::runtime::sys::SigpipeIgnored::new();
    let producer = std::thread::spawn(move || -> Result<(), ImportError> {
        let mut gz = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
        produce(&mut gz)?;
        gz.finish().map(drop).map_err(|source| ImportError::Source {
            path: upper.clone(),
            source,
        })
    });
    let label = "committed layer";
    let ingested = layer::ingest(
        store,
        reader,
        &Expect {
            name: label,
            blob: None,
            diff_id: None,
        },
        opts,
    );
    let produced = producer.join().expect("tar writer thread");
    let done = super::import::settle(produced, ingested)?;

    let now = time::now();
    let obj = config.as_object_mut().expect("object");
    obj.insert("created".into(), time::format_rfc3339(now).into());
    if let Some(a) = req.author {
        obj.insert("author".into(), a.into());
    }
    let diff_ids = obj
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}))
        .get_mut("diff_ids")
        .and_then(|d| d.as_array_mut())
        .ok_or_else(|| CommitError::BadConfig("rootfs.diff_ids missing".into()))?;
    if req.squash {
        diff_ids.clear();
    }
    diff_ids.push(done.meta.diff_id.to_string().into());
    let history = obj
        .entry("history")
        .or_insert_with(|| serde_json::json!([]));
    if let (true, Some(h)) = (req.squash, history.as_array_mut()) {
        h.clear();
    }
    if let Some(h) = history.as_array_mut() {
        let mut entry =
            serde_json::json!({"created": time::format_rfc3339(now), "created_by": "rless commit"});
        if let Some(m) = req.message {
            entry["comment"] = m.into();
        }
        h.push(entry);
    }
    let mut layers: Vec<LayerRecord> = match req.squash {
        true => Vec::new(),
        false => req.parent.map(|p| p.layers.clone()).unwrap_or_default(),
    };
    layers.push(LayerRecord {
        diff_id: done.meta.diff_id.clone(),
        blob: done.blob.clone(),
        blob_size: done.blob_size,
        media_type: LAYER_GZIP.into(),
    });
    let size = match req.squash {
        true => done.meta.size,
        false => req.parent.map_or(0, |p| p.size) + done.meta.size,
    };
    let names = req.name.and_then(|n| n.tagged_name()).into_iter().collect();
    store_image(store, &config, layers, size, names, req.format)
}

/// Stores `config` (whose `rootfs.diff_ids` must list `layers`) with a
/// manifest of `layers` in `format`, as an image named `names`: the last
/// step of `commit`, and of `build`.
pub fn store_image(
    store: &Store,
    config: &serde_json::Value,
    layers: Vec<LayerRecord>,
    size: u64,
    names: Vec<String>,
    format: ManifestFormat,
) -> Result<ImageRecord, CommitError> {
    let (manifest_type, config_type) = match format {
        ManifestFormat::Oci => (MANIFEST, CONFIG),
        ManifestFormat::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
    };
    let mut layer_types = Vec::new();
    for l in &layers {
        layer_types.push(match format {
            ManifestFormat::Oci => oci_media_type(&l.media_type),
            ManifestFormat::Docker => docker_media_type(&l.media_type)
                .ok_or_else(|| CommitError::DockerFormat(l.media_type.clone()))?,
        });
    }
    let config_bytes = serde_json::to_vec(config).expect("json");
    let config_digest = store.put_blob(&config_bytes, None)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers.iter().zip(&layer_types).map(|(l, t)| serde_json::json!({"mediaType": t, "digest": l.blob, "size": l.blob_size})).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).expect("json");
    let manifest_digest: Digest = store.put_blob(&manifest, None)?;
    let created = config["created"]
        .as_str()
        .and_then(time::parse_rfc3339)
        .unwrap_or_else(time::now);
    let record = ImageRecord {
        id: config_digest,
        manifest: manifest_digest,
        manifest_media_type: manifest_type.into(),
        names,
        digests: vec![],
        layers,
        created,
        size,
        architecture: config["architecture"].as_str().unwrap_or_default().into(),
        os: config["os"].as_str().unwrap_or("linux").into(),
        other_manifests: vec![],
        pulled_by_digest: vec![],
        names_history: Vec::new(),
    };
    Ok(super::add_image(store, record)?)
}

/// Rewrites the image manifest `doc` (OCI or docker v2 schema 2) into
/// `format`'s media types, as `push --format` sends it: the same config
/// and layers. A docker manifest has no annotations, and no zstd layers.
pub fn convert_manifest(
    doc: &mut serde_json::Value,
    format: ManifestFormat,
) -> Result<(), CommitError> {
    let (manifest_type, config_type) = match format {
        ManifestFormat::Oci => (MANIFEST, CONFIG),
        ManifestFormat::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
    };
    doc["mediaType"] = manifest_type.into();
    doc["config"]["mediaType"] = config_type.into();
    for l in doc["layers"].as_array_mut().into_iter().flatten() {
        let m = l["mediaType"].as_str().unwrap_or_default().to_string();
        l["mediaType"] = match format {
            ManifestFormat::Oci => oci_media_type(&m).into(),
            ManifestFormat::Docker => docker_media_type(&m)
                .ok_or_else(|| CommitError::DockerFormat(m.clone()))?
                .into(),
        };
    }
    if format == ManifestFormat::Docker {
        let descriptors = doc["layers"]
            .as_array_mut()
            .map(|l| l.iter_mut().collect::<Vec<_>>())
            .unwrap_or_default();
        for d in descriptors {
            if let Some(o) = d.as_object_mut() {
                o.remove("annotations");
            }
        }
        if let Some(o) = doc["config"].as_object_mut() {
            o.remove("annotations");
        }
        if let Some(o) = doc.as_object_mut() {
            for k in ["annotations", "artifactType", "subject"] {
                o.remove(k);
            }
        }
    }
    Ok(())
}

/// OCI layer media types map to docker's names in a docker manifest;
/// docker's format has no zstd (`None`).
fn docker_media_type(m: &str) -> Option<&'static str> {
    match m {
        LAYER_GZIP | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            Some("application/vnd.docker.image.rootfs.diff.tar.gzip")
        }
        super::import::LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => {
            Some("application/vnd.docker.image.rootfs.diff.tar")
        }
        _ => None,
    }
}

/// Docker layer media types map to their OCI names in an OCI manifest.
fn oci_media_type(m: &str) -> &str {
    match m {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => super::import::LAYER_TAR,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = serde_json::Map::new();
        apply_change(&mut c, r#"CMD ["echo","hi"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT top -b").unwrap();
        apply_change(&mut c, "ENV A=1").unwrap();
        apply_change(&mut c, "ENV A=2").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "LABEL k=\"v\"").unwrap();
        assert_eq!(c["Cmd"], serde_json::json!(["echo", "hi"]));
        assert_eq!(
            c["Entrypoint"],
            serde_json::json!(["/bin/sh", "-c", "top -b"])
        );
        assert_eq!(c["Env"], serde_json::json!(["A=2"]));
        assert!(
            c["ExposedPorts"].get("80/tcp").is_some() && c["ExposedPorts"].get("53/udp").is_some()
        );
        assert_eq!(c["Labels"]["k"], "v");
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }
}
