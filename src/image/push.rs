//! `push`: a local image goes to a registry under a (possibly new) name.
//!
//! Theory of operation: the image's stored manifest is pushed byte for byte,
//! so its digest (what `push` prints) is the one the store already knows.
//! Before anything is sent, every blob the manifest names (config and
//! layers) must be in the store; images from `pull`, `commit`, `import` and
//! `load` all keep them in `blobs/sha256`. Then, per blob, a few at a time:
//!
//! 1. `HEAD /v2/REPO/blobs/DIGEST`: present already, nothing to send;
//! 2. `POST /v2/REPO/blobs/uploads/`, with `?mount=DIGEST&from=OTHER` when
//!    the image was pulled from (or pushed to) another repository of the
//!    same registry: a 201 means the registry linked the blob, no upload;
//! 3. otherwise a monolithic `PUT LOCATION?digest=DIGEST` streaming the blob
//!    file (with its length), which the registry verifies against the digest.
//!
//! Uncompressed layers (from docker-archives and plain-tar imports) are
//! gzip-compressed first, as docker does on push, into temporary files that
//! are removed afterwards; the manifest sent then names the compressed blobs
//! (a new manifest, so a new digest). gzip output is deterministic, so the
//! same image pushed twice gives the same digest.
//!
//! The manifest goes last (`PUT /v2/REPO/manifests/TAG`), so a failed push
//! never leaves a tag pointing at missing blobs. Nothing in the local store
//! changes except the image's repository digests, added by the caller.
//! Bearer registries are asked for `repository:REPO:pull,push` (plus `pull`
//! on the mount source).

use super::digest::{Digest, HashingReader};
use super::import::{LAYER_GZIP, LAYER_TAR};
use super::reference::Reference;
use super::registry::{header, RegistryClient, RegistryError};
use super::store::{ImageRecord, Store, StoreError};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

/// Blobs uploaded at once.
const PARALLEL_BLOBS: usize = 3;

const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// One blob to send: a stored blob, gzip-compressed on the way when `gzip`.
struct Outgoing {
    stored: Digest,
    gzip: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image {image}: its manifest is damaged: {detail}")]
    BadManifest { image: String, detail: String },
    #[error("image {image}: blob {blob} is not in the store (pull the image again)")]
    MissingBlob { image: String, blob: Digest },
    #[error("registry {host} did not give an upload location for {repo}")]
    NoLocation { host: String, repo: String },
    #[error("cannot push to {0}: a push destination needs a tag, not a digest")]
    DigestDestination(String),
    #[error("cannot push {image} in that format: {source}")]
    Format {
        image: String,
        source: super::commit::CommitError,
    },
}

/// One push: what goes where.
pub struct PushRequest<'a> {
    pub image: &'a ImageRecord,
    /// Shown in messages (what the user named).
    pub label: &'a str,
    pub dest: &'a Reference,
    /// Print a line per blob on stderr.
    pub progress: bool,
    /// Send the manifest in this format (`push --format`), not as stored.
    pub format: Option<super::commit::ManifestFormat>,
}

/// What a push sent: the manifest as the registry has it.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// Pushes the image; returns the manifest digest.
pub fn push(
    store: &Store,
    client: &RegistryClient,
    req: &PushRequest,
) -> Result<Digest, PushError> {
    push_as(store, client, req, false).map(|p| p.digest)
}

/// [`push`]; `by_digest`: the manifest goes under its digest, not the
/// destination's tag (an image of a manifest list, which names it so).
pub fn push_as(
    store: &Store,
    client: &RegistryClient,
    req: &PushRequest,
    by_digest: bool,
) -> Result<Pushed, PushError> {
    if req.dest.digest.is_some() {
        return Err(PushError::DigestDestination(req.dest.to_string()));
    }
    let image = req.label.to_string();
    let bad = |detail: String| PushError::BadManifest {
        image: image.clone(),
        detail,
    };
    let manifest = store.read_blob(&req.image.manifest)?;
    if Digest::of(&manifest) != req.image.manifest {
        return Err(bad("stored bytes do not match their digest".into()));
    }
    let mut doc: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| bad(e.to_string()))?;
    if let Some(format) = req.format {
        super::commit::convert_manifest(&mut doc, format).map_err(|source| PushError::Format {
            image: image.clone(),
            source,
        })?;
    }
    let mut blobs: Vec<Outgoing> = Vec::new();
    let config = doc.get("config").into_iter();
    let layers = doc
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or_else(|| bad("no layers list".into()))?;
    for desc in layers.iter().chain(config) {
        let d: Digest = desc
            .get("digest")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .parse()
            .map_err(|e: super::digest::BadDigest| bad(e.to_string()))?;
        if !store.has_blob(&d) {
            return Err(PushError::MissingBlob {
                image: image.clone(),
                blob: d,
            });
        }
        let media = desc.get("mediaType").and_then(|m| m.as_str());
        // Gzip only what really is a plain tar: a descriptor may call a
        // compressed blob a tar (archives made by other tools).
        let gzip = matches!(media, Some(LAYER_TAR | DOCKER_LAYER_TAR))
            && !compressed(&store.blob_path(&d));
        if !blobs.iter().any(|b| b.stored == d) {
            blobs.push(Outgoing { stored: d, gzip });
        }
    }
    let media = doc
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| req.image.manifest_media_type.clone());
    let media = if media.is_empty() {
        super::import::MANIFEST.to_string()
    } else {
        media
    };

    let repo = &req.dest.repository;
    let mount_from = mount_source(req.image, req.dest);
    let compressed = upload_blobs(store, client, repo, mount_from.as_deref(), &blobs, req)?;
    let manifest = if compressed.is_empty() && req.format.is_none() {
        manifest
    } else {
        for desc in doc["layers"].as_array_mut().into_iter().flatten() {
            let stored = desc["digest"].as_str().unwrap_or_default().to_string();
            if let Some((d, size)) = compressed
                .iter()
                .find(|(k, _)| k.as_str() == stored)
                .map(|(_, v)| v)
            {
                let gz = if desc["mediaType"] == DOCKER_LAYER_TAR {
                    DOCKER_LAYER_GZIP
                } else {
                    LAYER_GZIP
                };
                desc["mediaType"] = gz.into();
                desc["digest"] = d.as_str().into();
                desc["size"] = (*size).into();
            }
        }
        serde_json::to_vec(&doc).expect("json")
    };

    let digest = Digest::of(&manifest);
    let tag = match by_digest {
        true => digest.to_string(),
        false => req.dest.manifest_ref(),
    };
    let url = format!("{}/v2/{repo}/manifests/{tag}", client.base());
    let what = format!("manifest {repo}:{tag}");
    let resp = client.request(
        Method::PUT,
        &url,
        &push_scope(repo, None),
        &[("Content-Type", media.as_str())],
        || manifest.as_slice(),
    )?;
    client.check(resp, &what)?;
    if req.progress {
        eprintln!("Writing manifest {tag}");
    }
    Ok(Pushed {
        digest,
        size: manifest.len() as u64,
        media_type: media,
    })
}

/// Puts a manifest (a manifest list's index, say) as `repo:reference`;
/// what it names must be in the repository already.
pub fn put_manifest(
    client: &RegistryClient,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Result<(), PushError> {
    let url = format!("{}/v2/{repo}/manifests/{reference}", client.base());
    let resp = client.request(
        Method::PUT,
        &url,
        &push_scope(repo, None),
        &[("Content-Type", media_type)],
        || body,
    )?;
    client.check(resp, &format!("manifest {repo}:{reference}"))?;
    Ok(())
}

/// `repository:REPO:pull,push`, plus pull on the mount source.
fn push_scope(repo: &str, from: Option<&str>) -> String {
    match from {
        Some(f) => format!("repository:{repo}:pull,push repository:{f}:pull"),
        None => format!("repository:{repo}:pull,push"),
    }
}

/// Another repository of the destination registry known to hold the blobs.
fn mount_source(image: &ImageRecord, dest: &Reference) -> Option<String> {
    let prefix = format!("{}/", dest.registry);
    image.digests.iter().find_map(|d| {
        let (name, _) = d.split_once('@')?;
        let repo = name.strip_prefix(&prefix)?;
        (repo != dest.repository).then(|| repo.to_string())
    })
}

/// Uploads the blobs a few at a time; the first error stops the rest.
/// Returns what the compressed ones became: stored digest → (sent digest, size).
fn upload_blobs(
    store: &Store,
    client: &RegistryClient,
    repo: &str,
    from: Option<&str>,
    blobs: &[Outgoing],
    req: &PushRequest,
) -> Result<HashMap<Digest, (Digest, u64)>, PushError> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<PushError>> = Mutex::new(None);
    let compressed = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_BLOBS.min(blobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= blobs.len() || failure.lock().expect("lock").is_some() {
                    return;
                }
                let b = &blobs[i];
                let result = if b.gzip {
                    gzip_blob(store, &b.stored).and_then(|gz| {
                        let how = upload_blob(client, repo, from, &gz.digest, &gz.path)?;
                        compressed
                            .lock()
                            .expect("lock")
                            .insert(b.stored.clone(), (gz.digest.clone(), gz.size));
                        Ok((gz.digest.clone(), how))
                    })
                } else {
                    let path = store.blob_path(&b.stored);
                    upload_blob(client, repo, from, &b.stored, &path).map(|h| (b.stored.clone(), h))
                };
                match result {
                    Ok((d, how)) => {
                        tracing::debug!("blob {d} in {repo}: {how}");
                        if req.progress {
                            eprintln!("Copying blob {}: {how}", d.short());
                        }
                    }
                    Err(e) => {
                        failure.lock().expect("lock").get_or_insert(e);
                    }
                }
            });
        }
    });
    match failure.into_inner().expect("lock") {
        Some(e) => Err(e),
        None => Ok(compressed.into_inner().expect("lock")),
    }
}

/// A gzip-compressed copy of a stored blob, deleted when dropped.
struct Gzipped {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl Drop for Gzipped {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        crate::interrupt::forget(&self.path);
    }
}

fn gzip_blob(store: &Store, blob: &Digest) -> Result<Gzipped, PushError> {
    let src = store.blob_path(blob);
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    };
    let input = File::open(&src).map_err(io("open", &src))?;
    let mut out = Gzipped {
        path: store.tmp_blob_path(),
        digest: blob.clone(),
        size: 0,
    };
    let f = File::create(&out.path).map_err(io("create", &out.path))?;
    // Removed at once if a signal stops `push` (see crate::interrupt).
    crate::interrupt::remove_at_signal(&out.path);
    let mut gz = HashingReader::new(flate2::read::GzEncoder::new(
        BufReader::with_capacity(1 << 16, input),
        flate2::Compression::fast(),
    ));
    std::io::copy(&mut gz, &mut crate::interrupt::Checked(f)).map_err(io("compress", &src))?;
    (out.digest, out.size) = gz.finish().map_err(io("compress", &src))?;
    Ok(out)
}

/// Sends one blob unless the registry has it; says what happened.
fn upload_blob(
    client: &RegistryClient,
    repo: &str,
    from: Option<&str>,
    blob: &Digest,
    path: &Path,
) -> Result<&'static str, PushError> {
    let base = client.base();
    let scope = push_scope(repo, from);
    let what = format!("blob {blob} in {repo}");
    let head = client.request(
        Method::HEAD,
        &format!("{base}/v2/{repo}/blobs/{blob}"),
        &scope,
        &[],
        || (),
    )?;
    if head.status().is_success() {
        return Ok("exists");
    }
    if head.status().as_u16() != 404 {
        client.check(head, &what)?;
    }
    let mut url = format!("{base}/v2/{repo}/blobs/uploads/");
    if let Some(f) = from {
        url = format!("{url}?mount={blob}&from={f}");
    }
    let start = client.request(Method::POST, &url, &scope, &[], || &b""[..])?;
    if start.status().as_u16() == 201 && from.is_some() {
        return Ok("mounted");
    }
    let start = client.check(start, &format!("upload to {repo}"))?;
    let location = header(&start, "location").ok_or_else(|| PushError::NoLocation {
        host: client.host().to_string(),
        repo: repo.to_string(),
    })?;
    let location = if location.starts_with("http://") || location.starts_with("https://") {
        location
    } else {
        format!("{base}/{}", location.trim_start_matches('/'))
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = format!("{location}{sep}digest={blob}");
    let file = File::open(path).map_err(|source| StoreError::Io {
        op: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let resp = client.request(
        Method::PUT,
        &put,
        &scope,
        &[("Content-Type", "application/octet-stream")],
        || {
            let _ = (&file).seek(SeekFrom::Start(0));
            &file
        },
    )?;
    client.check(resp, &what)?;
    Ok("pushed")
}

/// Whether the file starts with a gzip or zstd header.
fn compressed(path: &std::path::Path) -> bool {
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .unwrap_or(0);
    super::layer::Compression::sniff(&magic[..n]) != super::layer::Compression::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_by_content_not_label() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, want) in [
            ("gz", &[0x1f, 0x8b, 8, 0][..], true),
            ("zst", &[0x28, 0xb5, 0x2f, 0xfd, 0][..], true),
            ("tar", &b"usr/\0\0\0"[..], false),
            ("empty", &[][..], false),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            assert_eq!(compressed(&p), want, "{name}");
        }
        assert!(!compressed(&dir.path().join("missing")));
    }

    #[test]
    fn mount_source_same_registry_other_repo() {
        let d = Digest::of(b"m");
        let mut img = ImageRecord {
            id: d.clone(),
            manifest: d.clone(),
            manifest_media_type: String::new(),
            names: vec![],
            digests: vec![format!("h:5000/a/b@{d}"), format!("other/x/y@{d}")],
            layers: vec![],
            created: 0,
            size: 0,
            architecture: String::new(),
            os: String::new(),
            other_manifests: vec![],
            pulled_by_digest: vec![],
            names_history: Vec::new(),
        };
        let dest: Reference = "h:5000/c/d:t".parse().unwrap();
        assert_eq!(mount_source(&img, &dest).as_deref(), Some("a/b"));
        let same: Reference = "h:5000/a/b:t".parse().unwrap();
        assert_eq!(mount_source(&img, &same), None);
        img.digests.clear();
        assert_eq!(mount_source(&img, &dest), None);
        assert_eq!(
            push_scope("r", Some("f")),
            "repository:r:pull,push repository:f:pull"
        );
    }
}
