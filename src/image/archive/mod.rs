//! Image archives: `save` writes images to a tar file and `load` reads them
//! back, in the two formats docker and podman exchange.
//!
//! ```text
//! docker-archive                       oci-archive (an OCI image layout)
//!   manifest.json  [{Config, RepoTags,   oci-layout   {"imageLayoutVersion": "1.0.0"}
//!                    Layers}]            index.json   manifests, named by the
//!   repositories   {repo: {tag: id}}                  org.opencontainers.image.ref.name
//!   <id>.json      the image config                   annotation
//!   <diffid>.tar   uncompressed layers   blobs/sha256/<hex>  manifests, configs,
//!                                                     layers as stored
//! ```
//!
//! `save` writes docker-archives as podman does (layers decompressed, one
//! file per diff id, names in docker's short form); oci-archives keep every
//! blob as it is in the store, so an image's manifest digest survives a round
//! trip. `load` accepts both, also docker 25+ archives (which are both at
//! once), old docker archives with a directory per layer and symlinks between
//! them, gzip layers, and a whole archive compressed with gzip, zstd, xz or
//! bzip2 (told by its magic bytes, [`super::compressed`]). Everything
//! read from an archive is untrusted: digests and diff ids are checked, and
//! layers go through the same single-pass ingest and safe extraction as a
//! pull ([`super::layer::ingest`]).
//!
//! Atomicity: `save` writes a temporary file next to the output and renames
//! it into place when complete; `load` records images in the index only once
//! every layer of every image in the archive is stored and verified, so a
//! failure leaves the index as it was (complete, verified layers stay, as
//! after an interrupted pull, for `image prune` to collect).

pub mod load;
pub mod members;
pub mod save;

use super::compressed;
use super::digest::Digest;
use super::layer::LayerError;
use super::reference::BadReference;
use super::space::{SpaceGuard, TarEnd};
use super::store::StoreError;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest JSON document (manifest, config, index) read from an archive.
pub const MAX_DOCUMENT: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} is not an image archive: {detail}")]
    NotAnArchive { path: String, detail: String },
    #[error("{path} is truncated: {member} ends past the end of the file")]
    Truncated { path: String, member: String },
    #[error("{path} has no {member} (truncated or not an image archive)")]
    Missing { path: String, member: String },
    #[error("{path}: invalid {what}: {detail}")]
    Invalid {
        path: String,
        what: &'static str,
        detail: String,
    },
    #[error("{path}: {what} hashes to {got}, but the archive says {expected}")]
    DigestMismatch {
        path: String,
        what: String,
        expected: Digest,
        got: Digest,
    },
    #[error("{1}: {0}")]
    Layer(#[source] LayerError, String),
    #[error("cannot spool {path}: {source}")]
    NoSpace {
        path: String,
        source: super::space::NoSpace,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] BadReference),
}

/// The two archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "docker-archive" | "docker" => Ok(Format::DockerArchive),
            "oci-archive" | "oci" => Ok(Format::OciArchive),
            other => Err(format!(
                "unknown archive format {other:?}: use docker-archive or oci-archive"
            )),
        }
    }
}

fn io_err(op: &'static str, p: &Path) -> impl FnOnce(io::Error) -> ArchiveError {
    let p = p.to_path_buf();
    move |source| ArchiveError::Io {
        op,
        path: p,
        source,
    }
}

/// Opens an archive for random access: a plain tar file is used in place;
/// standard input or a compressed archive is first copied (decompressed,
/// up to the tar's end, and refused before the disk fills: see
/// [`super::space`]) into an unlinked temporary file in `spool_dir`, which
/// vanishes with the process whatever happens.
pub fn open_input(path: Option<&Path>, spool_dir: &Path) -> Result<members::Members, ArchiveError> {
    let label = path.map_or("standard input".to_string(), |p| p.display().to_string());
    let source: Box<dyn Read> = match path {
        Some(p) => {
            let mut f = File::open(p).map_err(io_err("open", p))?;
            let meta = f.metadata().map_err(io_err("inspect", p))?;
            if meta.is_dir() {
                return Err(ArchiveError::NotAnArchive {
                    path: label,
                    detail: "it is a directory".into(),
                });
            }
            // A pipe or device (`-i /dev/stdin`, `<(...)`) cannot seek:
            // spool it like standard input.
            if !meta.is_file() {
                return spool(Box::new(f), &label, spool_dir);
            }
            let mut magic = [0u8; compressed::SNIFF_LEN];
            let n = f.read(&mut magic).map_err(io_err("read", p))?;
            f.seek(SeekFrom::Start(0)).map_err(io_err("read", p))?;
            if compressed::Format::sniff(&magic[..n]) == compressed::Format::Plain {
                return members::Members::scan(f, &label);
            }
            Box::new(f)
        }
        None => Box::new(io::stdin().lock()),
    };
    spool(source, &label, spool_dir)
}

/// Copies `source` (decompressed if it is gzip, zstd, xz or bzip2) into an
/// unlinked temporary file in `spool_dir` and scans that.
fn spool(
    source: Box<dyn Read + '_>,
    label: &str,
    spool_dir: &Path,
) -> Result<members::Members, ArchiveError> {
    let label = label.to_string();
    let source = BufReader::with_capacity(1 << 16, source);
    let (source, format) = compressed::decoder(source).map_err(|e| ArchiveError::NotAnArchive {
        path: label.clone(),
        detail: format!("reading it: {e}"),
    })?;
    let spool_path = spool_dir.join(super::store::tmp_name("load"));
    let mut spool = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&spool_path)
        .map_err(io_err("create", &spool_path))?;
    let _ = std::fs::remove_file(&spool_path);
    // Only the tar is spooled (not what follows its end), and not past
    // what the store's disk can spare: a compressed stream of zeros
    // would fill it.
    let mut source = SpaceGuard::new(TarEnd::new(source), spool_dir);
    if let Err(e) = io::copy(&mut source, &mut spool) {
        if let Some(full) = source.refusal() {
            return Err(ArchiveError::NoSpace {
                path: label,
                source: full.clone(),
            });
        }
        return Err(ArchiveError::NotAnArchive {
            path: label.clone(),
            detail: match format {
                compressed::Format::Plain => format!("reading it: {e}"),
                f => format!("decompressing it ({}): {e}", f.name()),
            },
        });
    }
    spool
        .seek(SeekFrom::Start(0))
        .map_err(io_err("rewind", &spool_path))?;
    members::Members::scan(spool, &label)
}

#[cfg(test)]
mod tests {
    #[test]
    fn input_from_a_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", &b"[]"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, data).unwrap())
        };
        let m = super::open_input(Some(&fifo), dir.path()).unwrap();
        writer.join().unwrap();
        assert_eq!(m.read_small("manifest.json", 10).unwrap(), b"[]");
        // The spool file is gone already.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
