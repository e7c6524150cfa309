//! `rless image inspect IMAGE…`: config, layers and digests as JSON (for
//! a manifest list, its image for this host's platform, as podman's).

use super::format::Formatter;
use super::Ctx;
use anyhow::Result;
use rless::image::find_image;
use rless::image::store::{ImageRecord, LockMode, Store};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// json, or a Go template run on each image, such as '{{.Id}}'.
    #[arg(long, short, default_value = "json")]
    format: String,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let formatter = Formatter::for_inspect(&a.format)?;
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    // Each name in turn, as docker: the images found are printed, then the
    // names that were not are reported and the command fails. When none
    // was found, nothing is printed (docker prints `[]`): an error leaves
    // stdout empty, as every rless command's does.
    let mut out = Vec::new();
    let mut failed = super::stop::Failures::default();
    for q in &a.images {
        match find_image_or_list(&store, &index, q).and_then(|img| describe(&store, img)) {
            Ok(o) => out.push(o),
            Err(e) => failed.add(e),
        }
    }
    if !out.is_empty() {
        super::container_inspect::print_objects(formatter.as_ref(), &out)?;
    }
    failed.finish(ExitCode::SUCCESS)
}

/// The image `q` names; for a manifest list's name, podman's: the list's
/// image for this host's platform (an error naming the list when it has
/// none stored).
pub fn find_image_or_list<'a>(
    store: &Store,
    index: &'a rless::image::store::Index,
    q: &str,
) -> Result<&'a ImageRecord> {
    let not_found = match find_image(index, q) {
        Ok(img) => return Ok(img),
        Err(e @ rless::image::LookupError::NotFound(_)) => e,
        Err(e) => return Err(e.into()),
    };
    let all = rless::image::lists::read(store)?;
    let Some(list) = all.find(q) else {
        return Err(not_found.into());
    };
    let host = rless::image::platform::Platform::host();
    let fits = |p: &rless::image::lists::EntryPlatform| {
        p.os == host.os
            && p.architecture == host.arch
            && (p.variant.is_none() || host.variant.is_none() || p.variant == host.variant)
    };
    list.entries
        .iter()
        .filter(|e| fits(&e.platform))
        .find_map(|e| index.images.iter().find(|i| i.id == e.image))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "manifest list {} has no image for {}/{} in the store (rless manifest inspect shows the list)",
                list.name,
                host.os,
                host.arch
            )
        })
}

/// The image as `image inspect` and `inspect` show it: docker's fields.
pub fn describe(store: &Store, img: &ImageRecord) -> Result<serde_json::Value> {
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.id)?)?;
    let shown = with_defaults(config.get("config"));
    Ok(serde_json::json!({
        "Id": img.id.hex(),
        "Digest": img.manifest,
        "RepoTags": img.names,
        "RepoDigests": img.digests,
        "Created": config.get("created"),
        "Architecture": img.architecture,
        "Os": img.os,
        // Strings in docker's struct: "" when the config has none
        // (Variant is `omitempty` in its JSON: see container_inspect's
        // omit_empty).
        "Variant": text_field(&config, "variant"),
        "Author": text_field(&config, "author"),
        "Comment": text_field(&config, "comment"),
        "Parent": "",
        // podman's copies of the config's labels and user.
        "Labels": shown["Labels"],
        "User": shown["User"],
        "Version": "",
        "Config": shown,
        "RootFS": {"Type": "layers", "Layers": img.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "Layers": img.layers.iter().map(|l| serde_json::json!({
            "Digest": l.blob, "DiffID": l.diff_id, "Size": l.blob_size, "MediaType": l.media_type,
        })).collect::<Vec<_>>(),
        "ManifestMediaType": img.manifest_media_type,
        "Size": img.size,
        // podman's: the layers are not shared with others in the count.
        "VirtualSize": img.size,
        "ManifestType": img.manifest_media_type,
        "NamesHistory": img.names,
        "History": config.get("history"),
    }))
}

/// The string `key` of the image's config, "" when it has none.
fn text_field(config: &serde_json::Value, key: &str) -> serde_json::Value {
    config
        .get(key)
        .filter(|v| v.is_string())
        .cloned()
        .unwrap_or_else(|| "".into())
}

/// The image's config with docker's fields it leaves out, each as docker's
/// image inspect has it when the image does not set it: a list or map is
/// null (a nil slice or map in docker's struct: `Labels`, `Volumes`, `Env`,
/// `OnBuild`, `Cmd`, `Entrypoint`), a string "". `ExposedPorts` and
/// `StopSignal` are there for templates (Go's struct always has them) but
/// left out of the JSON, as docker's `omitempty` does.
fn with_defaults(config: Option<&serde_json::Value>) -> serde_json::Value {
    let mut c = config
        .and_then(|c| c.as_object())
        .cloned()
        .unwrap_or_default();
    for (k, v) in [
        ("Cmd", serde_json::Value::Null),
        ("Entrypoint", serde_json::Value::Null),
        ("Env", serde_json::Value::Null),
        ("WorkingDir", serde_json::json!("")),
        ("User", serde_json::json!("")),
        ("Labels", serde_json::Value::Null),
        ("ExposedPorts", serde_json::Value::Null),
        ("Volumes", serde_json::Value::Null),
        ("OnBuild", serde_json::Value::Null),
        ("StopSignal", serde_json::json!("")),
    ] {
        let e = c.entry(k).or_insert(serde_json::Value::Null);
        if e.is_null() {
            *e = v;
        }
    }
    c.into()
}
