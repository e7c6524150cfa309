//! `rless image inspect IMAGE…`: config, layers and digests as JSON.

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
        match find_image(&index, q)
            .map_err(anyhow::Error::from)
            .and_then(|img| describe(&store, img))
        {
            Ok(o) => out.push(o),
            Err(e) => failed.add(e),
        }
    }
    if !out.is_empty() {
        super::container_inspect::print_objects(formatter.as_ref(), &out)?;
    }
    failed.finish(ExitCode::SUCCESS)
}

/// The image as `image inspect` and `inspect` show it: docker's fields.
pub fn describe(store: &Store, img: &ImageRecord) -> Result<serde_json::Value> {
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.id)?)?;
    Ok(serde_json::json!({
        "Id": img.id.hex(),
        "Digest": img.manifest,
        "RepoTags": img.names,
        "RepoDigests": img.digests,
        "Created": config.get("created"),
        "Architecture": img.architecture,
        "Os": img.os,
        "Variant": config.get("variant"),
        "Author": config.get("author"),
        "Config": with_defaults(config.get("config")),
        "RootFS": {"Type": "layers", "Layers": img.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "Layers": img.layers.iter().map(|l| serde_json::json!({
            "Digest": l.blob, "DiffID": l.diff_id, "Size": l.blob_size, "MediaType": l.media_type,
        })).collect::<Vec<_>>(),
        "ManifestMediaType": img.manifest_media_type,
        "Size": img.size,
        "History": config.get("history"),
    }))
}

/// The image's config with docker's fields it leaves out, so templates such
/// as `{{json .Config.Labels}}` work on every image.
fn with_defaults(config: Option<&serde_json::Value>) -> serde_json::Value {
    let mut c = config
        .and_then(|c| c.as_object())
        .cloned()
        .unwrap_or_default();
    for (k, v) in [
        ("Cmd", serde_json::Value::Null),
        ("Entrypoint", serde_json::Value::Null),
        ("Env", serde_json::json!([])),
        ("WorkingDir", serde_json::json!("")),
        ("User", serde_json::json!("")),
        ("Labels", serde_json::json!({})),
        ("ExposedPorts", serde_json::json!({})),
        ("Volumes", serde_json::json!({})),
        ("StopSignal", serde_json::json!("")),
    ] {
        let e = c.entry(k).or_insert(serde_json::Value::Null);
        if e.is_null() {
            *e = v;
        }
    }
    c.into()
}
