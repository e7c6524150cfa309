//! `rless manifest create|add|inspect|annotate|remove|rm|push|exists`
//! (podman's): manifest lists, multi-arch images made of local images.
//!
//! Theory of operation: a list is a record in the store
//! (`rless::image::lists`): its name and, per image added, the
//! descriptor its index will carry (the image's manifest digest, size
//! and media type, its platform, annotations) and the local image's id.
//! `add` takes a local image, or pulls a remote one first (`docker://REF`,
//! or a name no local image has) with `rless pull`, as a child process so
//! that registries.conf, credentials and the user namespace are as a pull
//! has them; `--all` takes every image of a remote list, each pulled by
//! digest (an image pulled so is not dangling when the name moves on)
//! with the platform the list states. `--os`, `--arch`, `--variant`, …
//! change the platform the index states, not the image. `inspect` prints
//! the index (a remote list's, when no local list has the name and it
//! names a registry). `push` sends each image by digest (`--all`, the
//! default, as podman 4's), then the index under DEST's tag
//! (`manifest_push`). `rm` removes lists, never their images.

use super::registry_opts::RegistryOpts;
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::image::lists::{self, Entry, EntryPlatform, ListError, ListRecord};
use rless::image::reference::Reference;
use rless::image::store::{LockMode, Store};
use std::collections::BTreeMap;
use std::process::{Command, ExitCode, Stdio};

use super::manifest_push as push;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Make a manifest list, with IMAGEs in it.
    Create(CreateArgs),
    /// Add an image (local, or pulled first) to a list.
    Add(AddArgs),
    /// Show a list's index as JSON.
    Inspect(InspectArgs),
    /// Change an entry's platform or annotations (or, with --index, the list's).
    Annotate(AnnotateArgs),
    /// Take an image out of a list.
    Remove(RemoveArgs),
    /// Remove lists (not their images).
    Rm(RmArgs),
    /// Push a list and its images to a registry.
    Push(Box<push::Args>),
    /// Exit 0 if the list exists, 1 if not.
    Exists(ExistsArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// For a remote IMAGE that is a list: add every image of it.
    #[arg(long)]
    all: bool,
    /// Add to the list if it exists already.
    #[arg(short, long)]
    amend: bool,
    /// An annotation of the list, K=V.
    #[arg(long, value_name = "K=V")]
    annotation: Vec<String>,
    #[command(flatten)]
    registry: RegistryOpts,
    list: String,
    images: Vec<String>,
}

/// An entry's platform and annotations, as `add` and `annotate` take them.
#[derive(clap::Args)]
pub struct EntryOpts {
    /// The OS the index states.
    #[arg(long)]
    os: Option<String>,
    /// The architecture the index states.
    #[arg(long)]
    arch: Option<String>,
    /// The architecture's variant.
    #[arg(long)]
    variant: Option<String>,
    /// The OS version (`os.version`).
    #[arg(long)]
    os_version: Option<String>,
    /// OS features (`os.features`).
    #[arg(long, value_name = "FEATURE")]
    os_features: Vec<String>,
    /// Features.
    #[arg(long, value_name = "FEATURE")]
    features: Vec<String>,
    /// An annotation, K=V.
    #[arg(long, value_name = "K=V")]
    annotation: Vec<String>,
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// For a remote IMAGE that is a list: add every image of it.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    entry: EntryOpts,
    #[command(flatten)]
    registry: RegistryOpts,
    list: String,
    image: String,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[command(flatten)]
    registry: RegistryOpts,
    list: String,
}

#[derive(clap::Args)]
pub struct AnnotateArgs {
    #[command(flatten)]
    entry: EntryOpts,
    /// Annotate the list itself (only --annotation).
    #[arg(long)]
    index: bool,
    list: String,
    /// The entry: its digest, or the id of its image.
    #[arg(required_unless_present = "index")]
    digest: Option<String>,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    list: String,
    /// The entry: its digest, or the id of its image.
    digest: String,
}

#[derive(clap::Args)]
pub struct RmArgs {
    #[arg(required = true)]
    lists: Vec<String>,
}

#[derive(clap::Args)]
pub struct ExistsArgs {
    list: String,
}

pub fn run(ctx: &Ctx, c: Cmd) -> Result<ExitCode> {
    match c {
        Cmd::Create(a) => create(ctx, a),
        Cmd::Add(a) => add(ctx, a),
        Cmd::Inspect(a) => inspect(ctx, a),
        Cmd::Annotate(a) => annotate(ctx, a),
        Cmd::Remove(a) => remove(ctx, a),
        Cmd::Rm(a) => rm(ctx, a),
        Cmd::Push(a) => push::run(ctx, *a),
        Cmd::Exists(a) => {
            let store = ctx.store(LockMode::Shared)?;
            let found = lists::read(&store)?.find(&a.list).is_some();
            Ok(ExitCode::from(if found { 0 } else { 1 }))
        }
    }
}

/// `K=V` items.
fn key_values(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid annotation {kv:?}: use KEY=VALUE"),
        })
        .collect()
}

/// The full name a new list gets.
fn list_name(q: &str) -> Result<String> {
    // A short name is `localhost/NAME`, as podman names lists and images.
    let r = rless::image::shortnames::local_name(q)?;
    match r.tagged_name().filter(|_| r.digest.is_none()) {
        Some(n) => Ok(n),
        None => bail!("invalid manifest list name {q:?}: a name with an optional tag"),
    }
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<ExitCode> {
    let name = list_name(&a.list)?;
    let annotations = key_values(&a.annotation)?;
    let store = ctx.store(LockMode::Shared)?;
    if rless::image::find_image(&store.index()?, &name).is_ok() {
        bail!(ListError::ImageName(name));
    }
    let id = lists::update(&store, |all| {
        let l = match all.lists.iter_mut().position(|l| l.name == name) {
            Some(_) if !a.amend => return Err(ListError::Exists(name.clone())),
            Some(i) => &mut all.lists[i],
            None => {
                all.lists.push(ListRecord::new(name.clone()));
                all.lists.last_mut().expect("pushed")
            }
        };
        l.annotations.extend(annotations);
        Ok(l.id.clone())
    })?;
    drop(store);
    for img in &a.images {
        if let Err(code) = add_one(ctx, &a.list, img, None, a.all, &a.registry)? {
            return Ok(code);
        }
    }
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// `build --manifest LIST`, before the build: LIST is a list, or a name
/// a new list may take.
pub fn check_list_for(ctx: &Ctx, list: &str) -> Result<()> {
    let store = ctx.store(LockMode::Shared)?;
    if lists::read(&store)?.find(list).is_some() {
        return Ok(());
    }
    let name = list_name(list)?;
    if rless::image::find_image(&store.index()?, &name).is_ok() {
        bail!(ListError::ImageName(name));
    }
    Ok(())
}

/// `build --manifest LIST`: the built image `id` goes into LIST, which is
/// made if missing.
pub fn add_built(ctx: &Ctx, list: &str, id: &str) -> Result<()> {
    let store = ctx.store(LockMode::Shared)?;
    let entry = local_entry(&store, id)?;
    let name = list_name(list)?;
    lists::update(&store, |all| {
        let i = match all.position(list) {
            Some(i) => i,
            None => {
                all.lists.push(ListRecord::new(name));
                all.lists.len() - 1
            }
        };
        all.lists[i].add(entry);
        Ok(())
    })?;
    Ok(())
}

fn add(ctx: &Ctx, a: AddArgs) -> Result<ExitCode> {
    match add_one(ctx, &a.list, &a.image, Some(&a.entry), a.all, &a.registry)? {
        Ok(id) => {
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

/// Adds `image` to list `list`; returns the list's id, or the exit code
/// of a pull that failed (which said why).
fn add_one(
    ctx: &Ctx,
    list: &str,
    image: &str,
    opts: Option<&EntryOpts>,
    all: bool,
    registry: &RegistryOpts,
) -> Result<Result<String, ExitCode>> {
    // The list first: a missing one costs no pull.
    {
        let store = ctx.store(LockMode::Shared)?;
        if lists::read(&store)?.find(list).is_none() {
            bail!(ListError::NotFound(list.to_string()));
        }
    }
    let (query, remote, local) = match image {
        i if i.starts_with("docker://") => (&i["docker://".len()..], true, false),
        i if i.starts_with("containers-storage:") => {
            (&i["containers-storage:".len()..], false, true)
        }
        i => (i, false, false),
    };
    if all && !local {
        return add_all(ctx, list, query, opts, registry);
    }
    let store = ctx.store(LockMode::Shared)?;
    let found = !remote && rless::image::find_image(&store.index()?, query).is_ok();
    drop(store);
    if !found {
        if local {
            bail!("no such image in the store: {query}");
        }
        if let Some(code) = pull(ctx, query, &[], registry)? {
            return Ok(Err(code));
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let mut entry = local_entry(&store, query)?;
    if !found {
        keep_pulled(&store, query, &entry)?;
    }
    if let Some(o) = opts {
        apply(&mut entry, o)?;
    }
    Ok(Ok(lists::update(&store, |all| {
        let i = all
            .position(list)
            .ok_or_else(|| ListError::NotFound(list.to_string()))?;
        all.lists[i].add(entry);
        Ok(all.lists[i].id.clone())
    })?))
}

/// `add --all`: every platform's image of the registry's list `query`,
/// each pulled by digest (so that no later pull of the name leaves it
/// dangling), with the platform the list states.
fn add_all(
    ctx: &Ctx,
    list: &str,
    query: &str,
    opts: Option<&EntryOpts>,
    registry: &RegistryOpts,
) -> Result<Result<String, ExitCode>> {
    let r: Reference = query.parse()?;
    let (body, _) = remote_manifest(&r, registry)?;
    let doc: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("{query}: not JSON"))?;
    let Some(descs) = doc["manifests"].as_array() else {
        bail!("{query} is not a manifest list: --all adds the images of a list");
    };
    let mut entries = Vec::new();
    for d in descs {
        let platform: EntryPlatform = match serde_json::from_value(d["platform"].clone()) {
            Ok(p) => p,
            // Not an image (an attestation, say): passed over.
            Err(_) => continue,
        };
        let digest = d["digest"].as_str().unwrap_or_default();
        let by_digest = format!("{}@{digest}", r.name());
        let mut plat = format!("{}/{}", platform.os, platform.architecture);
        if let Some(v) = &platform.variant {
            plat = format!("{plat}/{v}");
        }
        if let Some(code) = pull(ctx, &by_digest, &["--platform", &plat], registry)? {
            return Ok(Err(code));
        }
        let store = ctx.store(LockMode::Shared)?;
        let mut e = local_entry(&store, &by_digest)?;
        e.platform = platform;
        if let Some(a) = d["annotations"].as_object() {
            for (k, v) in a {
                e.annotations
                    .insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        }
        if let Some(o) = opts {
            apply(&mut e, o)?;
        }
        entries.push(e);
    }
    let store = ctx.store(LockMode::Shared)?;
    Ok(Ok(lists::update(&store, |all| {
        let i = all
            .position(list)
            .ok_or_else(|| ListError::NotFound(list.to_string()))?;
        for e in entries {
            all.lists[i].add(e);
        }
        Ok(all.lists[i].id.clone())
    })?))
}

/// Records the image pulled for `entry` as pulled by its digest too (as
/// `add --all` pulls), so that it is not dangling, nor pruned, once a later
/// pull moves the tag it came by to another image.
fn keep_pulled(store: &Store, query: &str, entry: &Entry) -> Result<()> {
    let r: Reference = query.parse()?;
    let by_digest = format!("{}@{}", r.name(), entry.digest);
    store.update_index(|index| {
        if let Some(i) = index.images.iter_mut().find(|i| i.id == entry.image) {
            for list in [&mut i.pulled_by_digest, &mut i.digests] {
                if !list.contains(&by_digest) {
                    list.push(by_digest.clone());
                }
            }
        }
    })?;
    Ok(())
}

/// The manifest `r` names, from its registry.
fn remote_manifest(r: &Reference, registry: &RegistryOpts) -> Result<(Vec<u8>, String)> {
    let client = registry.connect_for(r)?;
    Ok(client.manifest(&r.repository, &r.manifest_ref())?)
}

/// `rless pull -q REF` in a child; the exit code of its failure (its
/// one-line error is the user's).
fn pull(
    ctx: &Ctx,
    reference: &str,
    extra: &[&str],
    registry: &RegistryOpts,
) -> Result<Option<ExitCode>> {
    let status = Command::new("/proc/self/exe")
        .arg("--root")
        .arg(&ctx.root)
        .arg("pull")
        .arg("-q")
        .args(extra)
        .args(registry.as_args())
        .arg(reference)
        .stdout(Stdio::null())
        .status()
        .context("cannot run rless pull")?;
    match status.success() {
        true => Ok(None),
        false => Ok(Some(ExitCode::from(status.code().unwrap_or(125) as u8))),
    }
}

/// The entry for local image `query`: the manifest it was stored with.
fn local_entry(store: &Store, query: &str) -> Result<Entry> {
    let img = rless::image::find_image_as_pulled(&store.index()?, query)?;
    let manifest = store.read_blob(&img.manifest)?;
    let doc: serde_json::Value = serde_json::from_slice(&manifest).unwrap_or_default();
    let media = match img.manifest_media_type.as_str() {
        "" => doc["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string(),
        m => m.to_string(),
    };
    // The variant is in the config only.
    let variant = store
        .read_blob(&img.id)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c["variant"].as_str().map(str::to_string));
    Ok(Entry {
        digest: img.manifest.clone(),
        size: manifest.len() as u64,
        media_type: media,
        platform: EntryPlatform {
            architecture: img.architecture.clone(),
            os: img.os.clone(),
            variant,
            ..Default::default()
        },
        annotations: BTreeMap::new(),
        image: img.id.clone(),
    })
}

/// `--os`, `--arch`, … and `--annotation` on an entry.
fn apply(e: &mut Entry, o: &EntryOpts) -> Result<()> {
    let p = &mut e.platform;
    if let Some(v) = &o.os {
        p.os = v.clone();
    }
    if let Some(v) = &o.arch {
        p.architecture = v.clone();
    }
    // An empty value takes the field away.
    if let Some(v) = &o.variant {
        p.variant = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if let Some(v) = &o.os_version {
        p.os_version = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if !o.os_features.is_empty() {
        p.os_features = o.os_features.clone();
    }
    if !o.features.is_empty() {
        p.features = o.features.clone();
    }
    e.annotations.extend(key_values(&o.annotation)?);
    Ok(())
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    if let Some(l) = lists::read(&store)?.find(&a.list) {
        let json = serde_json::to_string_pretty(&l.index_json(&[])).expect("json");
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    drop(store);
    // A registry's list, when the name says which registry.
    let first = a.list.split('/').next().unwrap_or_default();
    let names_registry = a.list.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_registry {
        bail!(ListError::NotFound(a.list));
    }
    let r: Reference = a.list.parse()?;
    let (body, _) = remote_manifest(&r, &a.registry)?;
    let doc: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("{}: not JSON", a.list))?;
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    Ok(ExitCode::SUCCESS)
}

fn annotate(ctx: &Ctx, a: AnnotateArgs) -> Result<ExitCode> {
    let o = &a.entry;
    let platform_given = o.os.is_some()
        || o.arch.is_some()
        || o.variant.is_some()
        || o.os_version.is_some()
        || !o.os_features.is_empty()
        || !o.features.is_empty();
    if a.index && (platform_given || a.digest.is_some()) {
        bail!("--index annotates the list itself: only --annotation goes with it");
    }
    let annotations = key_values(&o.annotation)?;
    let store = ctx.store(LockMode::Shared)?;
    let id = lists::update(&store, |all| {
        let i = all
            .position(&a.list)
            .ok_or_else(|| ListError::NotFound(a.list.clone()))?;
        let l = &mut all.lists[i];
        match &a.digest {
            None => l.annotations.extend(annotations.clone()),
            Some(d) => {
                let e = l.entry_mut(d)?;
                // Checked above; cannot fail here.
                let _ = apply(e, o);
            }
        }
        Ok(l.id.clone())
    })?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

fn remove(ctx: &Ctx, a: RemoveArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let id = lists::update(&store, |all| {
        let i = all
            .position(&a.list)
            .ok_or_else(|| ListError::NotFound(a.list.clone()))?;
        all.lists[i].remove(&a.digest)?;
        Ok(all.lists[i].id.clone())
    })?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Removes lists; a missing one is reported (exit 1, as podman's `rmi`)
/// after the others are removed.
fn rm(ctx: &Ctx, a: RmArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let mut missing = Vec::new();
    for q in &a.lists {
        let gone = lists::update(&store, |all| {
            Ok(all.position(q).map(|i| all.lists.remove(i)))
        })?;
        match gone {
            Some(l) => {
                println!("Untagged: {}", l.name);
                println!("Deleted: {}", l.id);
            }
            None => missing.push(q.clone()),
        }
    }
    if let Some((last, rest)) = missing.split_last() {
        for q in rest {
            eprintln!("rless: {}", ListError::NotFound(q.clone()));
        }
        eprintln!("rless: {}", ListError::NotFound(last.clone()));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
