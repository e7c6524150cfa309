//! Writing images to an archive stream (see the module above for the
//! formats). Members are written in a fixed order with mtime 0, so saving
//! the same images twice gives the same bytes.
//!
//! docker-archive layers are the uncompressed tars: a compressed blob is
//! decompressed twice, once to learn its length (which the tar header needs
//! first) and check its diff id, once into the archive, which costs CPU but
//! no temporary disk space.

use super::{ArchiveError, Format};
use crate::image::digest::{Digest, HashingReader};
use crate::image::familiar;
use crate::image::store::{ImageRecord, LayerRecord, Store, StoreError};
use serde_json::json;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// One image to save, under these full names (`registry/repo:tag`).
pub struct SaveItem<'a> {
    pub image: &'a ImageRecord,
    pub names: Vec<String>,
    /// The `repo@sha256:…` it was asked for by, if so: an OCI archive then
    /// holds the manifest of that digest, not the image's main one.
    pub digest_ref: Option<String>,
}

/// Writes `items` to `out` as one archive; `out_label` names it in messages.
pub fn save(
    store: &Store,
    items: &[SaveItem],
    format: Format,
    out: impl Write,
    out_label: &Path,
) -> Result<(), ArchiveError> {
    let wr = |source| ArchiveError::Io {
        op: "write",
        path: out_label.to_path_buf(),
        source,
    };
    let mut b = tar::Builder::new(out);
    match format {
        Format::DockerArchive => docker(store, items, &mut b).map_err(|e| e.or_write(wr))?,
        Format::OciArchive => oci(store, items, &mut b).map_err(|e| e.or_write(wr))?,
    }
    b.into_inner().and_then(|mut w| w.flush()).map_err(wr)
}

/// An error while saving: the store's, or the output's.
enum SaveError {
    Store(StoreError),
    Write(io::Error),
}

impl SaveError {
    fn or_write(self, wr: impl FnOnce(io::Error) -> ArchiveError) -> ArchiveError {
        match self {
            SaveError::Store(e) => ArchiveError::Store(e),
            SaveError::Write(e) => wr(e),
        }
    }
}

impl From<StoreError> for SaveError {
    fn from(e: StoreError) -> Self {
        SaveError::Store(e)
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(size);
    h
}

fn append<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<(), SaveError> {
    b.append_data(&mut header(size), name, data)
        .map_err(SaveError::Write)
}

/// A stored blob, checked against its digest (for small documents).
fn verified(store: &Store, d: &Digest) -> Result<Vec<u8>, StoreError> {
    let bytes = store.read_blob(d)?;
    let got = Digest::of(&bytes);
    if got != *d {
        return Err(StoreError::BadBlob(
            d.clone(),
            format!("content hashes to {got}"),
        ));
    }
    Ok(bytes)
}

fn open_blob(store: &Store, d: &Digest) -> Result<File, StoreError> {
    let p = store.blob_path(d);
    File::open(&p).map_err(|source| StoreError::Io {
        op: "open",
        path: p,
        source,
    })
}

/// The blob's uncompressed stream.
fn decoded(store: &Store, l: &LayerRecord) -> Result<(Box<dyn Read>, bool), StoreError> {
    let p = store.blob_path(&l.blob);
    let rd = |source| StoreError::Io {
        op: "read",
        path: p.clone(),
        source,
    };
    let r = BufReader::with_capacity(1 << 16, open_blob(store, &l.blob)?);
    let (d, c) = crate::image::layer::decompressing(r).map_err(rd)?;
    Ok((d, c != crate::image::layer::Compression::Plain))
}

/// Appends one layer, uncompressed, as `name`.
fn append_layer<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    l: &LayerRecord,
    name: &str,
) -> Result<(), SaveError> {
    let (stream, compressed) = decoded(store, l)?;
    let size = if compressed {
        let mut h = HashingReader::new(stream);
        let (diff_id, size) = h.finish().map_err(|source| StoreError::Io {
            op: "decompress",
            path: store.blob_path(&l.blob),
            source,
        })?;
        if diff_id != l.diff_id {
            return Err(StoreError::BadBlob(
                l.blob.clone(),
                format!("uncompressed it hashes to {diff_id}, not {}", l.diff_id),
            )
            .into());
        }
        size
    } else {
        let p = store.blob_path(&l.blob);
        std::fs::metadata(&p)
            .map_err(|source| StoreError::Io {
                op: "inspect",
                path: p,
                source,
            })?
            .len()
    };
    let (stream, _) = decoded(store, l)?;
    append(b, name, size, stream)
}

/// `registry/repo:tag` → (`repo` in docker's short form, `tag`).
fn split_name(name: &str) -> Option<(&str, &str)> {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let colon = slash + name[slash..].find(':')?;
    Some((familiar(&name[..colon]), &name[colon + 1..]))
}

fn docker<W: Write>(
    store: &Store,
    items: &[SaveItem],
    b: &mut tar::Builder<W>,
) -> Result<(), SaveError> {
    let mut done = HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for item in items {
        let img = item.image;
        let config_name = format!("{}.json", img.id.hex());
        if done.insert(config_name.clone()) {
            let config = verified(store, &img.id)?;
            append(b, &config_name, config.len() as u64, &config[..])?;
        }
        let mut layers = Vec::new();
        for l in &img.layers {
            let name = format!("{}.tar", l.diff_id.hex());
            if done.insert(name.clone()) {
                append_layer(store, b, l, &name)?;
            }
            layers.push(name);
        }
        let mut tags = Vec::new();
        for n in &item.names {
            let Some((repo, tag)) = split_name(n) else {
                continue;
            };
            tags.push(format!("{repo}:{tag}"));
            if let Some(top) = img.layers.last() {
                let entry = repositories
                    .entry(repo.to_string())
                    .or_insert_with(|| json!({}));
                entry[tag] = top.diff_id.hex().into();
            }
        }
        manifest.push(json!({
            "Config": config_name,
            "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { json!(tags) },
            "Layers": layers,
        }));
    }
    let repositories = serde_json::to_vec(&repositories).expect("json");
    append(
        b,
        "repositories",
        repositories.len() as u64,
        &repositories[..],
    )?;
    let manifest = serde_json::to_vec(&manifest).expect("json");
    append(b, "manifest.json", manifest.len() as u64, &manifest[..])
}

fn oci<W: Write>(
    store: &Store,
    items: &[SaveItem],
    b: &mut tar::Builder<W>,
) -> Result<(), SaveError> {
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(b, "oci-layout", layout.len() as u64, &layout[..])?;
    let mut done = HashSet::new();
    let mut descriptors = Vec::new();
    for item in items {
        // Each name with the manifest it was pulled with; no name, the one
        // of the digest asked for, else the main one.
        let mut views: Vec<(ImageRecord, Vec<&String>)> = Vec::new();
        for n in &item.names {
            let view = item.image.as_pulled(n);
            match views.iter_mut().find(|(v, _)| v.manifest == view.manifest) {
                Some((_, names)) => names.push(n),
                None => views.push((view, vec![n])),
            }
        }
        if views.is_empty() {
            let view = match &item.digest_ref {
                Some(r) => item.image.as_pulled(r),
                None => item.image.clone(),
            };
            views.push((view, vec![]));
        }
        for (img, names) in &views {
            oci_image(store, img, names, &mut done, &mut descriptors, b)?;
        }
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    }))
    .expect("json");
    append(b, "index.json", index.len() as u64, &index[..])
}

/// One manifest of an image and its blobs, under `names` (none: a
/// descriptor without a name).
fn oci_image<W: Write>(
    store: &Store,
    img: &ImageRecord,
    names: &[&String],
    done: &mut HashSet<Digest>,
    descriptors: &mut Vec<serde_json::Value>,
    b: &mut tar::Builder<W>,
) -> Result<(), SaveError> {
    let manifest = verified(store, &img.manifest)?;
    let config = verified(store, &img.id)?;
    for l in &img.layers {
        if done.insert(l.blob.clone()) {
            let f = open_blob(store, &l.blob)?;
            let size = f
                .metadata()
                .map_err(|source| StoreError::Io {
                    op: "inspect",
                    path: store.blob_path(&l.blob),
                    source,
                })?
                .len();
            append(b, &format!("blobs/sha256/{}", l.blob.hex()), size, f)?;
        }
    }
    for (d, bytes) in [(&img.id, &config), (&img.manifest, &manifest)] {
        if done.insert(d.clone()) {
            append(
                b,
                &format!("blobs/sha256/{}", d.hex()),
                bytes.len() as u64,
                &bytes[..],
            )?;
        }
    }
    let media = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|m| m.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_else(|| img.manifest_media_type.clone());
    let desc = json!({"mediaType": media, "digest": img.manifest, "size": manifest.len()});
    if names.is_empty() {
        descriptors.push(desc.clone());
    }
    for n in names {
        let mut d = desc.clone();
        d["annotations"] = json!({
            "org.opencontainers.image.ref.name": n,
            "io.containerd.image.name": n,
        });
        descriptors.push(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(
            super::split_name("docker.io/library/busybox:latest"),
            Some(("busybox", "latest"))
        );
        assert_eq!(
            super::split_name("127.0.0.1:5000/a/b:v1"),
            Some(("127.0.0.1:5000/a/b", "v1"))
        );
        assert_eq!(super::split_name("127.0.0.1:5000/a/b"), None);
    }
}
