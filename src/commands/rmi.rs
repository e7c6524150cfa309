//! `rless rmi [-f] IMAGE…`: untag, and delete images with no names left,
//! along with the layers and blobs no other image uses.
//!
//! A query that names a reference of an image (a tag, or a digest
//! reference `repo@sha256:…` it was pulled by) takes only that reference
//! while the image keeps a tag, with or without `-f`, as docker does. An id
//! (or the last tag) removes the image.
//!
//! An image a container uses is never deleted, since the container's root
//! filesystem stacks its layers. Without `-f` that is an error; with `-f`
//! (docker's rule) its names go and the image stays, dangling, until its
//! containers are gone. By id, a running container's image is an error
//! even with `-f`.
//!
//! Queries act in turn, as docker's: each sees the index the ones before
//! it left, one that cannot act is reported on its own line and the
//! others go on, and the command fails at the end if any could not. All of
//! it happens under the exclusive store lock; a dry run before entering
//! the user namespace spares the entry when no query can act.
//!
//! A manifest list (podman's `manifest` commands) is removed by name or
//! id as `manifest rm` does, its images kept; `--all` removes the lists too.
//!
//! The exit status is podman's (see `removal`): 1 for an image that does
//! not exist, 2 for one a container uses. `-f` and `-i` pass over names
//! that do not exist, silently, as podman's.

use super::removal::{InUse, Removals};
use super::Ctx;
use anyhow::{bail, Result};
use rless::image::reference::Reference;
use rless::image::store::{ImageRecord, Index, LockMode, Store};
use rless::image::{familiar, find_image, time::human_size, LookupError};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Untag images even if stopped containers use them (the image itself
    /// stays until they are removed), and all names of an image given by id.
    /// A name of an image with others is only untagged, forced or not.
    #[arg(short, long)]
    force: bool,
    /// Remove every image.
    #[arg(short, long)]
    all: bool,
    /// Ignore images that do not exist.
    #[arg(short, long)]
    ignore: bool,
    /// podman's: keep untagged parent images (rless images have no parent
    /// images; accepted, no effect).
    #[arg(long = "no-prune")]
    no_prune: bool,
    images: Vec<String>,
}

pub fn run(ctx: &Ctx, mut a: Args) -> Result<ExitCode> {
    if a.images.is_empty() && !a.all {
        bail!("rmi needs at least one image (or --all)");
    }
    if remove_lists(ctx, &mut a)? && a.images.is_empty() && !a.all {
        return Ok(ExitCode::SUCCESS);
    }
    // Before entering the user namespace: a command none of whose queries
    // can act fails here, reporting each, and changes nothing.
    {
        let store = ctx.store(LockMode::Shared)?;
        let mut index = store.index()?;
        let queries = queries(&index, &a);
        let results = remove_each(&store, &mut index, &queries, &a);
        if results.iter().all(|r| r.as_ref().is_ok_and(Vec::is_empty)) && !a.all {
            // Only names -f or -i pass over: nothing to do.
            return Ok(ExitCode::SUCCESS);
        }
        if !results.is_empty() && results.iter().all(Result::is_err) {
            let mut failed = Removals::default();
            results
                .into_iter()
                .filter_map(Result::err)
                .for_each(|e| failed.add(e));
            return Ok(failed.finish());
        }
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Exclusive)?;
    let results = store.update_index(|index| {
        let queries = queries(index, &a);
        remove_each(&store, index, &queries, &a)
    })?;
    // Each query in order, as docker: what it did, or why it could not.
    let mut failed = Removals::default();
    for r in results {
        match r {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => failed.add(e),
        }
    }
    if let Err(e) = collect(&store) {
        failed.add(e);
    }
    Ok(failed.finish())
}

/// podman's: a query that names a manifest list and no image removes the
/// list (as `manifest rm`, its images stay), and `--all` removes every
/// list too. Those queries are taken out of `a`; `true` if any list went.
fn remove_lists(ctx: &Ctx, a: &mut Args) -> Result<bool> {
    use rless::image::lists;
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    let mut gone = Vec::new();
    let mut rest = Vec::new();
    // Changed only when a list goes (a store without lists stays as it was).
    let known = lists::read(&store)?;
    for q in std::mem::take(&mut a.images) {
        let list = match find_image(&index, &q) {
            Ok(_) => None,
            Err(_) if known.find(&q).is_none() => None,
            Err(_) => lists::update(&store, |all| {
                Ok(all.position(&q).map(|i| all.lists.remove(i)))
            })?,
        };
        match list {
            Some(l) => gone.push(l),
            None => rest.push(q),
        }
    }
    a.images = rest;
    if a.all && !known.lists.is_empty() {
        gone.extend(lists::update(&store, |all| {
            Ok(std::mem::take(&mut all.lists))
        })?);
    }
    for l in &gone {
        println!("Untagged: {}", l.name);
        println!("Deleted: {}", l.id);
    }
    Ok(!gone.is_empty())
}

/// The queries: the names given, or with `--all` every image's id.
fn queries(index: &Index, a: &Args) -> Vec<String> {
    if a.all {
        index
            .images
            .iter()
            .map(|i| i.id.hex().to_string())
            .collect()
    } else {
        a.images.clone()
    }
}

/// Applies each query to `index` in turn, as docker does: one that cannot
/// act is an error of its own and the others go on. Each is looked up in
/// the index as the queries before it left it; one whose image an earlier
/// query removed (`rmi -f ID NAME`, or a name twice) is done, not an error.
/// Returns, per query, the lines to print or its error.
fn remove_each(
    store: &Store,
    index: &mut Index,
    queries: &[String],
    a: &Args,
) -> Vec<Result<Vec<String>>> {
    let known: Vec<bool> = queries
        .iter()
        .map(|q| find_image(index, q).is_ok())
        .collect();
    queries
        .iter()
        .zip(known)
        .map(|(q, known)| match find_image(index, q) {
            Ok(img) => {
                let img = img.clone();
                remove_one(store, index, q, &img, a)
            }
            Err(_) if known => Ok(Vec::new()),
            Err(LookupError::NotFound(_)) if a.force || a.ignore => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        })
        .collect()
}

/// Query `q`, which found `img`: untags the reference it names while the
/// image keeps another, else removes the image (untagged and dangling
/// while a container uses it), if the rules allow.
fn remove_one(
    store: &Store,
    index: &mut Index,
    q: &str,
    img: &ImageRecord,
    a: &Args,
) -> Result<Vec<String>> {
    // A short name untags the name it found the image by.
    let by_name = match reference_of(&rless::image::stored_reference(index, q), img) {
        // References go and the image stays (used or not) while it keeps one.
        Some(Ref::Tag(name) | Ref::PulledBy(name)) if refs(img) > 1 => {
            edit(index, img, |i| {
                i.names.retain(|n| *n != name);
                i.pulled_by_digest.retain(|n| *n != name);
                i.digests.retain(|n| *n != name);
            });
            return Ok(vec![format!("Untagged: {}", familiar(&name))]);
        }
        Some(Ref::Digest(d)) if refs(img) > 0 => {
            edit(index, img, |i| i.digests.retain(|x| *x != d));
            return Ok(vec![format!("Untagged: {}", familiar(&d))]);
        }
        Some(_) => true,
        // A digest the image was neither pulled by nor recorded under
        // (other lookups take a repo's manifest digest too): not one of
        // its references, and never taken for its id.
        None if q.parse::<Reference>().is_ok_and(|r| r.digest.is_some()) => {
            bail!("no such image reference: {q} (use the image's id or a name)")
        }
        None => false,
    };
    let users = containers_using(store, img.id.hex());
    // A running container's image can only lose a name, by force (docker
    // untags it and keeps the image).
    if let Some(live) = users
        .iter()
        .find(|u| u.live)
        .filter(|_| !(a.force && by_name))
    {
        return Err(InUse(format!(
            "image {q} is in use by running container {} (cannot be forced); stop and remove it first",
            live.id
        ))
        .into());
    }
    if !a.force && !users.is_empty() {
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        return Err(InUse(format!(
            "image {q} is in use by container {}; remove it first or use -f",
            ids.join(", ")
        ))
        .into());
    }
    if !a.force && !a.all && !by_name && img.names.len() > 1 {
        bail!(
            "image {} is referenced by several names ({}); remove them by name or use -f",
            img.id.short(),
            img.names.join(", ")
        );
    }
    // Names, then repo digests, each once, as docker lists what it untags.
    let mut all: Vec<&String> = img.names.iter().collect();
    for d in img.pulled_by_digest.iter().chain(&img.digests) {
        if !all.contains(&d) {
            all.push(d);
        }
    }
    let mut lines: Vec<String> = all
        .iter()
        .map(|n| format!("Untagged: {}", familiar(n)))
        .collect();
    if users.is_empty() {
        lines.push(format!("Deleted: {}", img.id));
        index.images.retain(|i| i.id != img.id);
    } else {
        edit(index, img, |i| {
            i.names.clear();
            i.pulled_by_digest.clear();
            i.digests.clear();
        });
    }
    Ok(lines)
}

/// Changes the index's record of `img`.
fn edit(index: &mut Index, img: &ImageRecord, f: impl FnMut(&mut ImageRecord)) {
    index
        .images
        .iter_mut()
        .filter(|i| i.id == img.id)
        .for_each(f);
}

/// Removes unreferenced layers and blobs; reports every error, after trying all.
pub fn collect(store: &Store) -> Result<u64> {
    let (freed, errors) = store.collect_garbage(&store.index()?);
    if let Some(first) = errors.first() {
        for e in &errors[1..] {
            tracing::warn!("{e}");
        }
        bail!("{first} ({} errors in all)", errors.len());
    }
    tracing::debug!("freed {}", human_size(freed));
    Ok(freed)
}

/// A reference of an image, as a query may name it.
enum Ref {
    /// `repo:tag`, one of its names.
    Tag(String),
    /// `repo@sha256:…` it was pulled by: a reference as a name is.
    PulledBy(String),
    /// `repo@sha256:…`, one of its repo digests (of a pull by tag).
    Digest(String),
}

/// The reference of `img` that query `q` names, if it names one (not an id).
fn reference_of(q: &str, img: &ImageRecord) -> Option<Ref> {
    let r = q.parse::<Reference>().ok()?;
    match &r.digest {
        Some(d) => {
            let full = format!("{}@{d}", r.name());
            if img.pulled_by_digest.contains(&full) {
                Some(Ref::PulledBy(full))
            } else {
                img.digests.contains(&full).then_some(Ref::Digest(full))
            }
        }
        None => r
            .tagged_name()
            .filter(|n| img.names.contains(n))
            .map(Ref::Tag),
    }
}

/// How many references keep `img` from dangling.
fn refs(img: &ImageRecord) -> usize {
    img.names.len() + img.pulled_by_digest.len()
}

/// A container that uses an image.
pub struct User {
    /// Its short id.
    pub id: String,
    /// Whether it runs (or waits to restart).
    pub live: bool,
}

/// The containers whose config names this image (`containers/<id>/config.json`).
pub fn containers_using(store: &Store, image_hex: &str) -> Vec<User> {
    let Ok(rd) = std::fs::read_dir(store.root().join("containers")) else {
        return vec![];
    };
    rd.flatten()
        .filter(|e| {
            std::fs::read(e.path().join("config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| {
                    v.get("image_id")
                        .and_then(|i| i.as_str())
                        .map(|i| i.trim_start_matches("sha256:") == image_hex)
                })
                .unwrap_or(false)
        })
        .map(|e| User {
            id: e.file_name().to_string_lossy().chars().take(12).collect(),
            live: rless::container::read_state(&e.path()).live(),
        })
        .collect()
}
