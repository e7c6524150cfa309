//! `pull`: resolve a reference to one image manifest, then fetch its config
//! and its missing layers in parallel, each in one streaming pass
//! ([`super::layer::ingest`]), and record the image in the index last.
//!
//! A pull killed at any point leaves the index as it was; blobs and layers
//! that completed stay (they are verified and content-addressed, so the next
//! pull reuses them), and anything partial is `.tmp-*` debris.

use super::digest::Digest;
use super::extract::ExtractOptions;
use super::layer::{self, Expect, LayerError};
use super::platform::Platform;
use super::reference::Reference;
use super::registry::{RegistryClient, RegistryError};
use super::store::{ImageRecord, LayerRecord, Store, StoreError};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Layers fetched at once.
const PARALLEL_LAYERS: usize = 4;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("{what} of {reference} hashes to {got}, expected {expected}")]
    DigestMismatch {
        reference: String,
        what: &'static str,
        expected: Digest,
        got: Digest,
    },
    #[error("{reference} has no image for {wanted}; it has: {available}")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    WrongPlatform {
        reference: String,
        wanted: String,
        actual: String,
    },
    #[error("{reference}: unsupported manifest type {media_type:?} (schema1 and other formats are not supported)")]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    #[error("{reference}: invalid {what}: {detail}")]
    Invalid {
        reference: String,
        what: &'static str,
        detail: String,
    },
}

/// What the user asked for.
pub struct PullOptions {
    /// The repository to fetch from, when a mirror or a rewritten location
    /// (`registries.conf`) serves the image under another path; the image
    /// is still named after the reference.
    pub from_repository: Option<String>,
    pub platform: Option<Platform>,
    pub quiet: bool,
    pub extract: ExtractOptions,
}

/// Pulls `reference` into `store`; returns the image record.
pub fn pull(
    store: &Store,
    client: &RegistryClient,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<ImageRecord, PullError> {
    let refname = reference.to_string();
    let invalid = |what, detail: String| PullError::Invalid {
        reference: refname.clone(),
        what,
        detail,
    };
    let repo = opts
        .from_repository
        .as_deref()
        .unwrap_or(&reference.repository);
    let (mut body, mut media) = client.manifest(repo, &reference.manifest_ref())?;
    let mut digest = Digest::of(&body);
    if let Some(want) = &reference.digest {
        if *want != digest {
            return Err(PullError::DigestMismatch {
                reference: refname,
                what: "manifest",
                expected: want.clone(),
                got: digest,
            });
        }
    }
    let from_index = is_index(&media, &body);
    if from_index {
        let index = ImageIndex::from_reader(&body[..])
            .map_err(|e| invalid("image index", e.to_string()))?;
        let wanted = opts.platform.clone().unwrap_or_else(Platform::host);
        let chosen = index.manifests().iter().find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                wanted.matches(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
            })
        });
        let Some(chosen) = chosen else {
            let available: Vec<String> = index
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref())
                .map(|p| {
                    let mut s = format!("{}/{}", p.os(), p.architecture());
                    if let Some(v) = p.variant() {
                        s = format!("{s}/{v}");
                    }
                    s
                })
                .collect();
            return Err(PullError::NoPlatform {
                reference: refname,
                wanted: wanted.to_string(),
                available: available.join(", "),
            });
        };
        let child: Digest = chosen
            .digest()
            .to_string()
            .parse()
            .map_err(|e: super::digest::BadDigest| invalid("image index", e.to_string()))?;
        store.put_blob(&body, None)?;
        (body, media) = client.manifest(repo, child.as_str())?;
        digest = Digest::of(&body);
        if digest != child {
            return Err(PullError::DigestMismatch {
                reference: refname,
                what: "manifest",
                expected: child,
                got: digest,
            });
        }
    }
    let media_known =
        MANIFEST_TYPES.contains(&media.as_str()) || media.is_empty() || media == "application/json";
    if !media_known {
        return Err(PullError::UnsupportedManifest {
            reference: refname,
            media_type: media,
        });
    }
    let manifest =
        ImageManifest::from_reader(&body[..]).map_err(|e| invalid("manifest", e.to_string()))?;

    // The config: small, fetched whole, verified, stored.
    let config_digest: Digest = manifest
        .config()
        .digest()
        .to_string()
        .parse()
        .map_err(|e: super::digest::BadDigest| invalid("manifest", e.to_string()))?;
    let config_bytes = if store.has_blob(&config_digest) {
        store.read_blob(&config_digest)?
    } else {
        let bytes = client.small_blob(repo, &config_digest)?;
        let got = Digest::of(&bytes);
        if got != config_digest {
            return Err(PullError::DigestMismatch {
                reference: refname,
                what: "config",
                expected: config_digest,
                got,
            });
        }
        bytes
    };
    let config = ImageConfiguration::from_reader(&config_bytes[..])
        .map_err(|e| invalid("image config", e.to_string()))?;
    // A plain manifest has no platform of its own to choose by; its config
    // says what it is. Docker refuses it when --platform asks for another.
    if !from_index {
        check_platform(&refname, &config, opts.platform.as_ref())?;
    }
    let diff_ids: Vec<Digest> = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, _>>()
        .map_err(|e: super::digest::BadDigest| invalid("image config", e.to_string()))?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(invalid(
            "image",
            format!(
                "manifest has {} layers but config lists {} diff ids",
                manifest.layers().len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in manifest.layers().iter().zip(&diff_ids) {
        let blob: Digest = desc
            .digest()
            .to_string()
            .parse()
            .map_err(|e: super::digest::BadDigest| invalid("manifest", e.to_string()))?;
        let media_type = desc.media_type().to_string();
        if media_type.contains("foreign") || media_type.contains("nondistributable") {
            tracing::warn!(
                "layer {blob} is marked non-distributable; pulling it from {} anyway",
                client.host()
            );
        }
        layers.push(LayerRecord {
            diff_id: diff_id.clone(),
            blob,
            blob_size: desc.size(),
            media_type,
        });
    }

    fetch_layers(store, client, repo, &layers, opts)?;

    store.put_blob(&config_bytes, Some(&config_digest))?;
    store.put_blob(&body, Some(&digest))?;
    let mut size = 0;
    for l in &layers {
        size += store.layer_meta(&l.diff_id)?.size;
    }
    let record = ImageRecord {
        id: config_digest,
        manifest: digest.clone(),
        manifest_media_type: media,
        names: reference.tagged_name().into_iter().collect(),
        digests: vec![format!("{}@{digest}", reference.name())],
        layers,
        created: config
            .created()
            .as_deref()
            .and_then(super::time::parse_rfc3339)
            .unwrap_or_else(super::time::now),
        size,
        architecture: config.architecture().to_string(),
        os: config.os().to_string(),
        other_manifests: vec![],
        names_history: Vec::new(),
        pulled_by_digest: reference
            .digest
            .as_ref()
            .map(|d| format!("{}@{d}", reference.name()))
            .into_iter()
            .collect(),
    };
    let image = super::add_image(store, record)?;
    crate::events::image(store.root(), "pull", image.id.hex(), &refname);
    Ok(image)
}

/// Refuses an image whose config is for another platform than the one
/// `--platform` asks for; without `--platform`, an image for another
/// platform than the host's is pulled with a warning, as podman does.
fn check_platform(
    reference: &str,
    config: &ImageConfiguration,
    wanted: Option<&Platform>,
) -> Result<(), PullError> {
    let (os, arch) = (config.os().to_string(), config.architecture().to_string());
    let variant = config.variant().as_deref();
    let actual = Platform {
        os: os.clone(),
        arch: arch.clone(),
        variant: variant.map(str::to_string),
    };
    match wanted {
        Some(w) if !w.matches(&os, &arch, variant) => Err(PullError::WrongPlatform {
            reference: reference.to_string(),
            wanted: w.to_string(),
            actual: actual.to_string(),
        }),
        Some(_) => Ok(()),
        None => {
            let host = Platform::host();
            if !host.matches(&os, &arch, variant) {
                tracing::warn!(
                    "image platform ({actual}) of {reference} does not match the host's ({host})"
                );
            }
            Ok(())
        }
    }
}

fn is_index(media: &str, body: &[u8]) -> bool {
    if INDEX_TYPES.contains(&media) {
        return true;
    }
    // Some registries serve OCI indexes without a media type header.
    (media.is_empty() || media == "application/json")
        && serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v.get("manifests").is_some())
}

/// Downloads and extracts the layers that are not in the store yet, a few at
/// a time; the first error stops the rest from starting.
fn fetch_layers(
    store: &Store,
    client: &RegistryClient,
    repo: &str,
    layers: &[LayerRecord],
    opts: &PullOptions,
) -> Result<(), PullError> {
    let multi = MultiProgress::with_draw_target(
        if opts.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    let style =
        ProgressStyle::with_template("{prefix} {bar:30} {bytes:>10}/{total_bytes:10} {msg}")
            .expect("template")
            .progress_chars("=> ");
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<PullError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_LAYERS.min(layers.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= layers.len() || failure.lock().expect("lock").is_some() {
                    return;
                }
                let l = &layers[i];
                let bar = multi.add(
                    ProgressBar::new(l.blob_size)
                        .with_style(style.clone())
                        .with_prefix(l.blob.short().to_string()),
                );
                let result = fetch_layer(store, client, repo, l, opts, &bar);
                match result {
                    Ok(done) => bar.finish_with_message(if done { "done" } else { "exists" }),
                    Err(e) => {
                        bar.abandon_with_message("failed");
                        failure.lock().expect("lock").get_or_insert(e);
                    }
                }
            });
        }
    });
    match failure.into_inner().expect("lock") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Returns false when the layer was already there.
fn fetch_layer(
    store: &Store,
    client: &RegistryClient,
    repo: &str,
    l: &LayerRecord,
    opts: &PullOptions,
    bar: &ProgressBar,
) -> Result<bool, PullError> {
    if store.has_layer(&l.diff_id) && store.has_blob(&l.blob) {
        return Ok(false);
    }
    // Another pull fetching this layer has its lock until it is done (or
    // its registry's idle timeout ends it); say why this bar stands still.
    let _lock = store.lock_layer_or_wait(&l.diff_id, || {
        bar.set_message("waiting for another pull of this layer")
    })?;
    if store.has_layer(&l.diff_id) && store.has_blob(&l.blob) {
        return Ok(false);
    }
    let mut stream = client.blob(repo, &l.blob)?;
    let name = l.blob.short().to_string();
    let expect = Expect {
        name: &name,
        blob: Some((&l.blob, l.blob_size)),
        diff_id: Some(&l.diff_id),
    };
    let ingested = layer::ingest(store, bar.wrap_read(&mut stream), &expect, &opts.extract);
    // A registry gone quiet shows up as whatever reader it starved (tar's,
    // gzip's); name it for what it is. ingest has cleaned up either way.
    stream.check_stalled()?;
    ingested?;
    Ok(true)
}
