//! Helpers shared by the volume test files: the busybox image they import
//! (with `/data` owned by uid 1000), `VOLUME` declarations edited into its
//! config, and listings of the store's volumes and containers.

#![allow(dead_code)]

use crate::common::oci::{busybox, LayerBuilder};
use crate::common::{Ctx, Out};
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

pub const IMG: &str = "vb";

pub const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "ls", "stat", "touch", "mkdir", "chown", "chmod", "sleep", "test", "id",
    "rm", "true",
];

/// A busybox image whose `/data` holds files owned by uid 1000, a
/// subdirectory and a symlink; plus any extra entries.
pub fn image_tar(extra: impl FnOnce(LayerBuilder) -> LayerBuilder) -> Vec<u8> {
    let bb = busybox().expect("busybox is checked by the caller");
    let mut b = LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", bb, 0o755)
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
            0o644,
        )
        .file("etc/group", b"root:x:0:\nalice:x:1000:\n", 0o644)
        .file("etc/image-file", b"from the image\n", 0o644)
        .dir("tmp", 0o1777)
        .dir_owned("data", 0o750, 1000, 1000)
        .file_owned("data/owned", b"alice's\n", 0o640, 1000, 1000)
        .dir("data/sub", 0o700)
        .file("data/sub/deep", b"deep\n", 0o600)
        .symlink("data/link", "owned");
    for a in APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    extra(b).finish()
}

pub fn import_image(ctx: &Ctx, name: &str, tar: &[u8]) {
    let p = ctx.write_file(&format!("{name}.tar"), tar);
    ctx.ok(&["import", p.to_str().unwrap(), name]);
}

/// Imports [`IMG`]; false when busybox is missing (after a SKIP).
pub fn setup_image(ctx: &Ctx) -> bool {
    if busybox().is_none() {
        return false;
    }
    import_image(ctx, IMG, &image_tar(|b| b));
    true
}

/// Adds `VOLUME` declarations to an imported image's config, as a pulled
/// image would carry them (new config blob, new id in the index).
pub fn declare_volumes(ctx: &Ctx, image: &str, volumes: &[&str]) {
    let index_path = ctx.root.join("images/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let img = index["images"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| {
            i["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains(&format!("/{image}:")))
        })
        .expect("imported image in the index");
    let old = img["id"].as_str().unwrap().to_string();
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(ctx.blob_path(&old)).unwrap()).unwrap();
    let decl: serde_json::Map<String, serde_json::Value> = volumes
        .iter()
        .map(|v| (v.to_string(), serde_json::json!({})))
        .collect();
    config["config"]["Volumes"] = serde_json::Value::Object(decl);
    let bytes = serde_json::to_vec(&config).unwrap();
    let hex = crate::common::sha256_hex(&bytes);
    let blob = ctx.blob_path(&hex);
    fs::write(&blob, &bytes).unwrap();
    ctx.give(&blob);
    img["id"] = serde_json::Value::String(format!("sha256:{hex}"));
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    ctx.give(&index_path);
}

pub fn run(ctx: &Ctx, args: &[&str]) -> Out {
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    ctx.rless(&a)
}

/// `rless run --rm OPTS IMG sh -c SCRIPT`, which must exit 0; returns stdout.
pub fn sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a: Vec<&str> = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    ctx.ok(&a).stdout
}

pub fn volume_names(ctx: &Ctx) -> BTreeSet<String> {
    ctx.ok(&["volume", "ls", "-q"])
        .stdout
        .lines()
        .map(String::from)
        .collect()
}

pub fn volume_dirs(ctx: &Ctx) -> BTreeSet<String> {
    crate::common::list_names(&ctx.root.join("volumes"))
}

pub fn data(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.root.join("volumes").join(name).join("_data")
}

pub fn containers(ctx: &Ctx) -> BTreeSet<String> {
    crate::common::list_names(&ctx.root.join("containers"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

pub fn anonymous(ctx: &Ctx) -> Vec<String> {
    volume_names(ctx)
        .into_iter()
        .filter(|n| crate::common::is_hex64(n))
        .collect()
}
