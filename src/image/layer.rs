//! Ingesting one layer: a single pass over the compressed stream that stores
//! the blob, verifies its digest, decompresses it, verifies the diff id and
//! extracts the tar into the store.
//!
//! ```text
//! source ─► size guard ─► sha256 (blob) ─► tee to blobs/.tmp ─► gzip|zstd|plain ─► free space guard ─► sha256 (diff id) ─► extract
//! ```
//!
//! The free space guard ([`super::space::SpaceGuard`]) stops the layer
//! before it fills the store's disk (a small compressed bomb).
//!
//! Nothing is renamed into place until both digests match; on any error the
//! temporary blob and layer directory are removed before returning.

use super::digest::{Digest, HashingReader, TeeReader};
use super::extract::{self, ExtractError, ExtractOptions};
use super::space::SpaceGuard;
use super::store::{remove_tree, LayerMeta, Store, StoreError};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// How a layer stream is compressed, told from its first bytes (every
/// place that reads or labels a layer asks this one function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Plain,
}

impl Compression {
    pub fn sniff(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::Plain
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => super::import::LAYER_GZIP,
            Compression::Zstd => super::import::LAYER_ZSTD,
            Compression::Plain => super::import::LAYER_TAR,
        }
    }
}

/// The uncompressed stream of `r`, whatever its compression (sniffed).
pub fn decompressing<'a, R: BufRead + 'a>(
    mut r: R,
) -> io::Result<(Box<dyn Read + 'a>, Compression)> {
    let c = Compression::sniff(r.fill_buf()?);
    let d: Box<dyn Read + 'a> = match c {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::Plain => Box::new(r),
    };
    Ok((d, c))
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {layer}: {source}")]
    Extract { layer: String, source: ExtractError },
    #[error("layer {layer}: reading the stream: {source}")]
    Read { layer: String, source: io::Error },
    #[error("layer {layer}: content hashes to {got}, but the manifest says {expected} (corrupt or tampered layer)")]
    DigestMismatch {
        layer: String,
        expected: Digest,
        got: Digest,
    },
    #[error(
        "layer {layer}: uncompressed content hashes to {got}, but the image config says {expected}"
    )]
    DiffIdMismatch {
        layer: String,
        expected: Digest,
        got: Digest,
    },
    #[error("layer {layer}: got {got} bytes, but the manifest says {expected} (truncated or oversized download)")]
    SizeMismatch {
        layer: String,
        expected: u64,
        got: u64,
    },
    #[error("layer {layer}: {source}")]
    NoSpace {
        layer: String,
        source: super::space::NoSpace,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the stream is expected to be; `None` fields are computed, not checked.
pub struct Expect<'a> {
    /// Shown in messages.
    pub name: &'a str,
    pub blob: Option<(&'a Digest, u64)>,
    pub diff_id: Option<&'a Digest>,
}

/// A stored layer.
pub struct Ingested {
    pub blob: Digest,
    pub blob_size: u64,
    pub meta: LayerMeta,
}

/// Stores and extracts one layer from `source`, removing everything it
/// wrote if anything fails.
pub fn ingest(
    store: &Store,
    source: impl Read,
    expect: &Expect,
    opts: &ExtractOptions,
) -> Result<Ingested, LayerError> {
    let tmp_blob = store.tmp_blob_path();
    let tmp_layer = store.new_tmp_layer()?;
    let result = ingest_into(store, source, expect, opts, &tmp_blob, &tmp_layer);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_blob);
        let _ = remove_tree(&tmp_layer);
    }
    result
}

fn ingest_into(
    store: &Store,
    source: impl Read,
    expect: &Expect,
    opts: &ExtractOptions,
    tmp_blob: &Path,
    tmp_layer: &Path,
) -> Result<Ingested, LayerError> {
    let layer = expect.name.to_string();
    let read_err = |source| LayerError::Read {
        layer: layer.clone(),
        source,
    };
    let file = File::create(tmp_blob).map_err(|source| StoreError::Io {
        op: "create",
        path: tmp_blob.to_path_buf(),
        source,
    })?;
    // One byte past the expected size is enough to tell an oversized stream.
    let limit = expect
        .blob
        .map_or(u64::MAX, |(_, size)| size.saturating_add(1));
    let mut blob = HashingReader::new(TeeReader {
        inner: source.take(limit),
        sink: BufWriter::with_capacity(1 << 20, file),
    });
    let (diff_id, report) = {
        let buffered = BufReader::with_capacity(1 << 16, &mut blob);
        let (decoded, _) = decompressing(buffered).map_err(read_err)?;
        // What is extracted is about what the decompressed stream yields:
        // it stops before the store's disk fills (a compressed bomb).
        let mut diff = HashingReader::new(SpaceGuard::new(decoded, store.root()));
        let no_space = |diff: &HashingReader<SpaceGuard<_>>| {
            diff.get_ref().refusal().map(|source| LayerError::NoSpace {
                layer: layer.clone(),
                source: source.clone(),
            })
        };
        let report = match extract::extract(&mut diff, &tmp_layer.join("diff"), opts) {
            Ok(r) => r,
            Err(source) => {
                return Err(no_space(&diff).unwrap_or(LayerError::Extract {
                    layer: layer.clone(),
                    source,
                }))
            }
        };
        let (diff_id, _) = match diff.finish() {
            Ok(d) => d,
            Err(e) => return Err(no_space(&diff).unwrap_or_else(|| read_err(e))),
        };
        (diff_id, report)
    };
    let (digest, size) = blob.finish().map_err(read_err)?;
    if let Some((expected, expected_size)) = expect.blob {
        if size != expected_size {
            return Err(LayerError::SizeMismatch {
                layer,
                expected: expected_size,
                got: size,
            });
        }
        if digest != *expected {
            return Err(LayerError::DigestMismatch {
                layer,
                expected: expected.clone(),
                got: digest,
            });
        }
    }
    if let Some(expected) = expect.diff_id {
        if diff_id != *expected {
            return Err(LayerError::DiffIdMismatch {
                layer,
                expected: expected.clone(),
                got: diff_id,
            });
        }
    }
    let TeeReader { sink, .. } = blob.into_inner();
    sink.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|mut f| f.flush())
        .map_err(|source| StoreError::Io {
            op: "write",
            path: tmp_blob.to_path_buf(),
            source,
        })?;
    store.commit_blob(tmp_blob, &digest)?;
    let meta = LayerMeta {
        diff_id,
        whiteout_form: report.whiteout_form.as_str().to_string(),
        size: report.bytes,
        entries: report.entries,
    };
    store.commit_layer(tmp_layer, &meta)?;
    for dev in &report.skipped_devices {
        tracing::info!(
            "layer {}: device node {dev} skipped (cannot be created without privileges)",
            expect.name
        );
    }
    if report.clamped_ids > 0 {
        tracing::warn!(
            "layer {}: {} files had owners outside the mapped id range and now belong to root",
            expect.name,
            report.clamped_ids
        );
    }
    Ok(Ingested {
        blob: digest,
        blob_size: size,
        meta,
    })
}
