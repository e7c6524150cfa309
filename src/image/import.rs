//! `import`: a root filesystem (tar stream or directory) becomes a one-layer
//! image, with no registry involved.
//!
//! A tar (possibly gzip or zstd compressed) is stored as the layer blob as it
//! is; one compressed with xz or bzip2 (no layer format) is stored
//! decompressed (up to the tar's end); a directory is turned into a tar by a writer thread feeding a pipe, so
//! both go through the same single-pass [`super::layer::ingest`]. Files the
//! caller owns are recorded as owned by root, as `docker import` of one's own
//! tree would give.

use super::compressed;
use super::digest::Digest;
use super::extract::ExtractOptions;
use super::layer::{self, Expect, LayerError};
use super::platform::Platform;
use super::reference::Reference;
use super::store::{ImageRecord, LayerRecord, Store, StoreError};
use super::time;
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Source { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Change(#[from] super::change::ChangeError),
}

/// What the new image gets besides its layer: a name (none: an image
/// without one, as docker's `import` without REPOSITORY makes), `--change`
/// instructions applied to its config, and `--message` as its comment.
#[derive(Default)]
pub struct ImportMeta<'a> {
    pub name: Option<&'a Reference>,
    pub changes: &'a [String],
    pub message: Option<&'a str>,
    /// The platform the image says it is for (`--os/--arch/--variant`;
    /// default: this host's).
    pub platform: Option<&'a Platform>,
}

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Imports a tar stream (`path` is only for messages).
pub fn import_tar(
    store: &Store,
    source: impl Read,
    path: &Path,
    meta: &ImportMeta,
    opts: &ExtractOptions,
) -> Result<ImageRecord, ImportError> {
    let src_err = |source| ImportError::Source {
        path: path.into(),
        source,
    };
    let mut source = BufReader::with_capacity(1 << 16, source);
    let magic = source.fill_buf().map_err(src_err)?;
    // xz and bzip2 are no layer compression a registry knows: such a tar
    // is stored decompressed (as docker does), gzip and zstd as they are.
    let mut source: Box<dyn BufRead + '_> = match compressed::Format::sniff(magic) {
        // Only up to the tar's end: zeros after it would be stored too.
        compressed::Format::Xz | compressed::Format::Bzip2 => Box::new(BufReader::with_capacity(
            1 << 16,
            super::space::TarEnd::new(compressed::decoder(source).map_err(src_err)?.0),
        )),
        _ => Box::new(source),
    };
    let magic = source.fill_buf().map_err(src_err)?;
    let media = super::layer::Compression::sniff(magic).media_type();
    let label = path.display().to_string();
    let done = layer::ingest(
        store,
        source,
        &Expect {
            name: &label,
            blob: None,
            diff_id: None,
        },
        opts,
    )?;
    finish(store, meta, done, media)
}

/// Imports a directory tree.
pub fn import_dir(
    store: &Store,
    dir: &Path,
    meta: &ImportMeta,
    opts: &ExtractOptions,
) -> Result<ImageRecord, ImportError> {
    let src_err = |source| ImportError::Source {
        path: dir.into(),
        source,
    };
    fs::read_dir(dir).map_err(src_err)?;
    let (reader, writer) = io::pipe().map_err(src_err)?;
    let owner = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let root = dir.to_path_buf();
    // The consumer may stop reading (a full disk): the producer's write
    // must then fail with EPIPE, not kill the process by SIGPIPE before
    // the consumer's error is told.
    let _pipe = crate::runtime::sys::SigpipeIgnored::new();
    let producer = std::thread::spawn(move || -> Result<(), ImportError> {
        let mut b = tar::Builder::new(writer);
        append_tree(&mut b, &root, owner, TreeKind::Plain, &BTreeSet::new())?;
        b.into_inner()
            .map(drop)
            .map_err(|source| ImportError::Source {
                path: root.clone(),
                source,
            })
    });
    let label = dir.display().to_string();
    let ingested = layer::ingest(
        store,
        reader,
        &Expect {
            name: &label,
            blob: None,
            diff_id: None,
        },
        opts,
    );
    let produced = producer.join().expect("tar writer thread");
    finish(store, meta, settle(produced, ingested)?, LAYER_TAR)
}

/// The outcome of a tar written by one thread and ingested by another: a
/// walk error explains a failed ingest better than its broken pipe does,
/// but a broken pipe is the ingest's failure (a full disk), told by it.
pub(crate) fn settle<T>(
    produced: Result<(), ImportError>,
    ingested: Result<T, LayerError>,
) -> Result<T, ImportError> {
    let broken_pipe = |e: &ImportError| matches!(e, ImportError::Source { source, .. } if source.kind() == io::ErrorKind::BrokenPipe);
    match (produced, ingested) {
        (Err(p), Err(i)) if broken_pipe(&p) => Err(i.into()),
        (Err(p), _) => Err(p),
        (Ok(()), i) => Ok(i?),
    }
}

/// Appends the tree under `root` to a tar. Files of `owner` become root's.
/// Unless `kind` is [`TreeKind::Plain`], the tree is an overlay upper
/// layer: its whiteouts (0:0 character devices) and opaque directories
/// (`user.overlay.opaque`) become OCI `.wh.` entries, the overlay's own
/// xattrs are left out (escaped ones are stored under their own names),
/// and a file of the container's whose name starts with `.wh.`, which an
/// image layer cannot hold, is left out with a warning. Hard links stay links
/// (tar link entries to the first name), and xattrs go in PAX records.
/// The paths in `skip` (relative to `root`) are left out.
pub(crate) fn append_tree<W: io::Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    owner: (u32, u32),
    kind: TreeKind,
    skip: &BTreeSet<PathBuf>,
) -> Result<(), ImportError> {
    let mut walk = TreeWalk {
        root,
        owner,
        upper: kind != TreeKind::Plain,
        kernel: kind == TreeKind::KernelUpper,
        skip,
        links: HashMap::new(),
    };
    walk.append(b, Path::new(""))
}

/// What [`append_tree`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeKind {
    /// A plain directory (`import DIR`).
    Plain,
    /// A writable layer fuse-overlay wrote: it stores a `.wh.` name of the
    /// container's escaped, and may write marker whiteouts.
    FuseUpper,
    /// A writable layer kernel overlayfs wrote: a `.wh.` name is a file of
    /// the container's.
    KernelUpper,
}

/// One [`append_tree`].
struct TreeWalk<'a> {
    root: &'a Path,
    owner: (u32, u32),
    upper: bool,
    /// Written by kernel overlayfs: `.wh.` names are the container's files.
    kernel: bool,
    skip: &'a BTreeSet<PathBuf>,
    /// The first name of each file with several, by (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
}

impl TreeWalk<'_> {
    /// Appends `rel` (and what is under it).
    fn append<W: io::Write>(
        &mut self,
        b: &mut tar::Builder<W>,
        rel: &Path,
    ) -> Result<(), ImportError> {
        let (root, owner, upper) = (self.root, self.owner, self.upper);
        if self.skip.contains(rel) {
            return Ok(());
        }
        let path = root.join(rel);
        let err = |source| ImportError::Source {
            path: path.clone(),
            source,
        };
        let meta = fs::symlink_metadata(&path).map_err(err)?;
        let ft = meta.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let escaped = rel
            .file_name()
            .and_then(|n| fuse_overlay::layout::unescape(n.as_bytes()));
        let raw_wh = self.kernel
            && rel.file_name().is_some_and(|n| {
                n.as_bytes()
                    .starts_with(fuse_overlay::layout::WHITEOUT_PREFIX.as_bytes())
            });
        if upper && (escaped.is_some() || raw_wh) {
            // fuse-overlay's stored form of a name that starts with `.wh.`,
            // or such a name as kernel overlayfs stores it: in an OCI layer
            // it would mean a deletion.
            let name = match escaped {
                Some(e) => rel.with_file_name(OsStr::from_bytes(e)),
                None => rel.to_path_buf(),
            };
            eprintln!(
                "rless: warning: /{} left out: an image layer cannot hold a name that starts with .wh.",
                crate::message::printable(&name.display().to_string())
            );
            return Ok(());
        }
        if upper && ft.is_char_device() && meta.rdev() == 0 {
            // A whiteout: `.wh.NAME` in the same directory.
            let file = rel
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let wh = rel.with_file_name(format!("{}{file}", fuse_overlay::layout::WHITEOUT_PREFIX));
            return append_marker(b, &wh, &meta).map_err(err);
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        if meta.uid() == owner.0 {
            h.set_uid(0);
        }
        if meta.gid() == owner.1 {
            h.set_gid(0);
        }
        let name = if rel.as_os_str().is_empty() {
            PathBuf::from("./")
        } else {
            rel.to_path_buf()
        };
        if !ft.is_dir() && meta.nlink() > 1 {
            match self.links.entry((meta.dev(), meta.ino())) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    return b.append_link(&mut h, &name, first.get()).map_err(err);
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(name.clone());
                }
            }
        }
        let xattrs = xattrs_of(&path, upper).map_err(err)?;
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(err)?;
        }
        if ft.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, &name, io::empty()).map_err(err)?;
            if upper && is_opaque(&path) {
                append_marker(b, &rel.join(fuse_overlay::layout::OPAQUE_MARKER), &meta)
                    .map_err(err)?;
            }
            let mut children: Vec<_> = fs::read_dir(&path)
                .map_err(err)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            children.sort();
            for c in children {
                self.append(b, &rel.join(c))?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(err)?;
            h.set_size(0);
            b.append_link(&mut h, &name, &target).map_err(err)?;
        } else if ft.is_file() {
            let f = fs::File::open(&path).map_err(err)?;
            b.append_data(&mut h, &name, f).map_err(err)?;
        } else {
            h.set_size(0);
            b.append_data(&mut h, &name, io::empty()).map_err(err)?;
        }
        Ok(())
    }
}

/// The xattrs of `path` to record, by name. In an upper layer the
/// overlay's own are left out and escaped ones take their own names.
/// Those that cannot be read (no permission: `trusted.*` without root)
/// are left out too.
fn xattrs_of(path: &Path, upper: bool) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut names = vec![0u8; 1024];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut names) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = Vec::new();
    for stored in names[..n].split(|c| *c == 0).filter(|n| !n.is_empty()) {
        let shown = if upper {
            match fuse_overlay::layout::xattr_shown(stored) {
                Some(s) => s.into_owned(),
                None => continue,
            }
        } else {
            stored.to_vec()
        };
        let Ok(key) = String::from_utf8(shown) else {
            continue;
        };
        let mut value = vec![0u8; 256];
        let got = loop {
            match rustix::fs::lgetxattr(path, OsStr::from_bytes(stored), &mut value) {
                Ok(n) => break Some(n),
                Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
                Err(_) => break None,
            }
        };
        if let Some(n) = got {
            value.truncate(n);
            out.push((key, value));
        }
    }
    Ok(out)
}

/// An empty regular file entry (whiteout or opaque marker).
fn append_marker<W: io::Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    like: &fs::Metadata,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(0);
    h.set_mtime(like.mtime().max(0) as u64);
    b.append_data(&mut h, name, io::empty())
}

/// Whether a layer's directory is marked opaque with overlayfs's xattr
/// (`user.overlay.opaque`; the marker-file form is a `.wh..wh..opq` entry).
pub fn is_opaque(dir: &Path) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::lgetxattr(dir, fuse_overlay::layout::OPAQUE_XATTR, &mut v), Ok(n) if v[..n] == *fuse_overlay::layout::OPAQUE_VALUE)
}

/// Writes config and manifest for the single layer and records the image.
fn finish(
    store: &Store,
    meta: &ImportMeta,
    done: layer::Ingested,
    media: &str,
) -> Result<ImageRecord, ImportError> {
    let now = time::now();
    let host = meta.platform.cloned().unwrap_or_else(Platform::host);
    let mut cfg = serde_json::Map::new();
    cfg.insert(
        "Env".into(),
        serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
    );
    for ch in meta.changes {
        super::change::apply(&mut cfg, ch)?;
    }
    let mut history =
        serde_json::json!({"created": time::format_rfc3339(now), "created_by": "rless import"});
    let mut config = serde_json::json!({
        "created": time::format_rfc3339(now),
        "architecture": host.arch,
        "os": host.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [done.meta.diff_id]},
    });
    if let Some(v) = &host.variant {
        config["variant"] = v.as_str().into();
    }
    if let Some(m) = meta.message {
        config["comment"] = m.into();
        history["comment"] = m.into();
    }
    config["history"] = serde_json::json!([history]);
    if let Some(v) = host.variant {
        config["variant"] = v.into();
    }
    let config = serde_json::to_vec(&config).expect("json");
    let config_digest = store.put_blob(&config, None)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": media, "digest": done.blob, "size": done.blob_size}],
    });
    let manifest = serde_json::to_vec(&manifest).expect("json");
    let manifest_digest: Digest = store.put_blob(&manifest, None)?;
    let record = ImageRecord {
        id: config_digest,
        manifest: manifest_digest,
        manifest_media_type: MANIFEST.into(),
        names: meta
            .name
            .and_then(Reference::tagged_name)
            .into_iter()
            .collect(),
        digests: vec![],
        layers: vec![LayerRecord {
            diff_id: done.meta.diff_id.clone(),
            blob: done.blob,
            blob_size: done.blob_size,
            media_type: media.into(),
        }],
        created: now,
        size: done.meta.size,
        architecture: host.arch,
        os: host.os,
        other_manifests: vec![],
        pulled_by_digest: vec![],
        names_history: Vec::new(),
    };
    Ok(super::add_image(store, record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of a tar: name, type, link target, and xattrs from PAX.
    type Listed = Vec<(
        String,
        tar::EntryType,
        Option<String>,
        Vec<(String, Vec<u8>)>,
    )>;

    fn list(tar: &[u8]) -> Listed {
        let mut a = tar::Archive::new(tar);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            let mut x = Vec::new();
            if let Some(pax) = e.pax_extensions().unwrap() {
                for p in pax {
                    let p = p.unwrap();
                    if let Some(k) = p.key().unwrap().strip_prefix("SCHILY.xattr.") {
                        x.push((k.to_string(), p.value_bytes().to_vec()));
                    }
                }
            }
            out.push((name, e.header().entry_type(), link, x));
        }
        out
    }

    #[test]
    fn hard_links_and_xattrs_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir(root.join("dir")).unwrap();
        fs::write(root.join("a"), b"shared").unwrap();
        fs::hard_link(root.join("a"), root.join("dir/b")).unwrap();
        let set = |p: &str, k: &str, v: &[u8]| {
            rustix::fs::lsetxattr(root.join(p), k, v, rustix::fs::XattrFlags::empty())
        };
        if set("a", "user.test", b"v1").is_err() {
            eprintln!("SKIP: no user xattrs on {}", root.display());
            return;
        }
        set("a", "user.overlay.overlay.nested", b"v2").unwrap();
        set("dir", "user.overlay.opaque", b"y").unwrap();
        let owner = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let mut b = tar::Builder::new(Vec::new());
        append_tree(&mut b, root, owner, TreeKind::FuseUpper, &BTreeSet::new()).unwrap();
        let listed = list(&b.into_inner().unwrap());
        let entry = |n: &str| {
            listed
                .iter()
                .find(|e| e.0 == n)
                .unwrap_or_else(|| panic!("no {n} in {listed:?}"))
        };
        // `a` sorts before `dir`: it is the file, `dir/b` the link to it.
        let a = entry("a");
        assert_eq!(a.1, tar::EntryType::Regular);
        let mut x = a.3.clone();
        x.sort();
        assert_eq!(
            x,
            [
                ("user.overlay.nested".to_string(), b"v2".to_vec()),
                ("user.test".to_string(), b"v1".to_vec())
            ],
            "escaped xattrs under their own names"
        );
        let b = entry("dir/b");
        assert_eq!(b.1, tar::EntryType::Link);
        assert_eq!(b.2.as_deref(), Some("a"));
        // The overlay's own xattr became the opaque marker, not a record.
        assert!(entry("dir").3.is_empty(), "{listed:?}");
        entry("dir/.wh..wh..opq");
    }
}
