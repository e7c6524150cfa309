//! Images: references, the registry client, the content-addressed store and
//! safe layer extraction.

pub mod archive;
pub mod auth;
pub mod change;
pub mod commit;
pub mod compressed;
pub mod credhelper;
pub mod digest;
pub mod extract;
pub mod import;
pub mod layer;
pub mod lists;
pub mod platform;
pub mod proxy;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registries_conf;
pub mod registry;
pub mod shortnames;
pub mod space;
pub mod store;
pub mod time;
pub mod tokens;
pub mod trust;
pub mod union;

use digest::Digest;
use reference::Reference;
use registries_conf::RegistriesConf;
use store::{ImageRecord, Index, Store, StoreError};

/// Why a local image could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("image not known: {0}")]
    NotFound(String),
    #[error("image id prefix {0} is ambiguous")]
    Ambiguous(String),
}

/// Finds a local image by name or repo digest, else by id, id prefix or
/// `sha256:` id. A short name is looked up under each name a pull could
/// have given it (`shortnames`, from podman's registries.conf).
pub fn find_image<'a>(index: &'a Index, query: &str) -> Result<&'a ImageRecord, LookupError> {
    find_image_in(index, query, shortnames::configured())
}

/// [`find_image`] with this short-name configuration.
pub fn find_image_in<'a>(
    index: &'a Index,
    query: &str,
    conf: &RegistriesConf,
) -> Result<&'a ImageRecord, LookupError> {
    if let Some((hit, _)) = find_by_name(index, query, conf) {
        return Ok(hit);
    }
    let bare = query.strip_prefix("sha256:").unwrap_or(query);
    if bare.len() >= 3 && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<_> = index
            .images
            .iter()
            .filter(|i| i.id.hex().starts_with(bare))
            .collect();
        match hits[..] {
            [one] => return Ok(one),
            [] => {}
            _ => return Err(LookupError::Ambiguous(query.into())),
        }
    }
    Err(LookupError::NotFound(query.into()))
}

/// The image `query` names by name or digest, and the reference it is
/// stored under (a short name's candidate that matched).
fn find_by_name<'a>(
    index: &'a Index,
    query: &str,
    conf: &RegistriesConf,
) -> Option<(&'a ImageRecord, Reference)> {
    // Names first, as docker looks them up: a name made of hex digits
    // (`cafe`, `1234`) is that name, not a prefix of another image's id.
    if query.starts_with("sha256:") {
        return None;
    }
    conf.local_candidates(query).into_iter().find_map(|r| {
        index
            .images
            .iter()
            .find(|i| names_image(&r, i))
            .map(|i| (i, r))
    })
}

/// Whether the reference `r` (full, normalised) is one of `i`'s names or
/// repo digests.
fn names_image(r: &Reference, i: &ImageRecord) -> bool {
    match &r.digest {
        Some(d) => {
            let by_digest = format!("{}@{d}", r.name());
            i.digests.contains(&by_digest)
                || i.pulled_by_digest.contains(&by_digest)
                || (i.manifests().any(|m| m == d)
                    && i.names
                        .iter()
                        .any(|n| n.starts_with(&format!("{}:", r.name()))))
        }
        None => r.tagged_name().is_some_and(|t| i.names.contains(&t)),
    }
}

/// The reference `query` stands for in this store: the name of the stored
/// image a short name found ([`find_image`]), else `query` itself, so that
/// what names an image (`rmi`'s untag, `push`'s destination) is the name
/// the image has.
pub fn stored_reference(index: &Index, query: &str) -> String {
    stored_short_name(index, query, shortnames::configured())
        .map_or_else(|| query.to_string(), |r| r.to_string())
}

/// The name of the stored image the short name `query` finds by name
/// (never by id), with this short-name configuration.
pub fn stored_short_name(index: &Index, query: &str, conf: &RegistriesConf) -> Option<Reference> {
    match find_by_name(index, query, conf) {
        Some((_, r)) if shortnames::is_short(query) => Some(r),
        _ => None,
    }
}

/// What a container made from `img`, found by `query` with [`find_image`],
/// records as its image: the reference it was run with, normalized
/// (`docker.io/library/app:latest`, or `NAME@DIGEST`), as docker and podman
/// record it rather than whichever name the image has first; the query as
/// given when it named the image by id (as docker).
pub fn recorded_name(query: &str, img: &ImageRecord) -> String {
    if query.starts_with("sha256:") {
        return query.to_string();
    }
    let candidates = shortnames::configured().local_candidates(query);
    let by_name = candidates
        .iter()
        .find(|r| names_image(r, img))
        .or(candidates.last().filter(|r| r.digest.is_some()))
        .and_then(|r| match &r.digest {
            Some(d) => Some(format!("{}@{d}", r.name())),
            None => r.tagged_name(),
        });
    by_name.unwrap_or_else(|| query.to_string())
}

/// Adds an image to the index: its names move to it from any other image,
/// and an image with the same id gains the names instead of a duplicate.
pub fn add_image(store: &Store, record: ImageRecord) -> Result<ImageRecord, StoreError> {
    store.update_index(|index| {
        for other in index.images.iter_mut().filter(|i| i.id != record.id) {
            other.names.retain(|n| !record.names.contains(n));
        }
        match index.images.iter_mut().find(|i| i.id == record.id) {
            Some(existing) => {
                for n in &record.names {
                    if !existing.names.contains(n) {
                        existing.names.push(n.clone());
                    }
                }
                for d in &record.digests {
                    if !existing.digests.contains(d) {
                        existing.digests.push(d.clone());
                    }
                }
                for d in &record.pulled_by_digest {
                    if !existing.pulled_by_digest.contains(d) {
                        existing.pulled_by_digest.push(d.clone());
                    }
                }
                existing.add_manifest(&record);
                existing.clone()
            }
            None => {
                index.images.push(record.clone());
                record
            }
        }
    })
}

/// [`find_image`], as `query` was pulled: with the manifest its name or
/// repo digest came with (see [`ImageRecord::as_pulled`]).
pub fn find_image_as_pulled(index: &Index, query: &str) -> Result<ImageRecord, LookupError> {
    let img = find_image(index, query)?;
    let full =
        find_by_name(index, query, shortnames::configured()).and_then(|(_, r)| match &r.digest {
            Some(d) => Some(format!("{}@{d}", r.name())),
            None => r.tagged_name(),
        });
    Ok(match full {
        Some(f) => img.as_pulled(&f),
        None => img.clone(),
    })
}

/// The name users see: `busybox` for `docker.io/library/busybox`.
pub fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// Used by tests and `rmi`: the ids of layers no other image uses.
pub fn unique_layers<'a>(index: &'a Index, image: &Digest) -> Vec<&'a Digest> {
    let Some(img) = index.images.iter().find(|i| i.id == *image) else {
        return vec![];
    };
    img.layers
        .iter()
        .map(|l| &l.diff_id)
        .filter(|d| {
            !index
                .images
                .iter()
                .any(|o| o.id != *image && o.layers.iter().any(|l| l.diff_id == **d))
        })
        .collect()
}
