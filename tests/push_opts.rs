//! `rless push --format oci|v2s2`: the manifest is sent in the format asked
//! for (same config and layers, so the same image id when pulled back);
//! options rless cannot honour (`--format v2s1`, zstd compression,
//! signing) are refused in one line before anything is sent.

mod common;

use common::checks::assert_one_error;
use common::oci::{Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, ERR_EXIT};
use serde_json::Value;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The manifest stored under `repo:tag`, as the registry serves it.
fn manifest(host: &str, repo: &str, tag: &str) -> Value {
    let mut resp = ureq::get(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("Accept", format!("{OCI_MANIFEST}, {DOCKER_MANIFEST}"))
        .call()
        .expect("GET manifest");
    serde_json::from_reader(resp.body_mut().as_reader()).expect("manifest json")
}

#[test]
fn push_format_converts_the_manifest() {
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new().file("f", b"format\n", 0o644).finish();
    for_each_user("push_format_converts_the_manifest", |ctx| {
        for (stored, asked, want, layer_type) in [
            (
                Format::Oci,
                "v2s2",
                DOCKER_MANIFEST,
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            ),
            (
                Format::Docker,
                "oci",
                OCI_MANIFEST,
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
        ] {
            let img = Built::host(stored, &[(&layer, Comp::Gzip)]);
            let src = reg.push(&ctx.repo("src"), asked, &img);
            assert_eq!(ctx.pull(&[&src.reference]), img.id());
            let repo = ctx.repo("dst");
            let dst = format!("{}/{repo}:{asked}", reg.host);
            ctx.ok(&["push", "--format", asked, &src.reference, &dst]);
            let m = manifest(&reg.host, &repo, asked);
            assert_eq!(m["mediaType"], want, "{m}");
            assert_eq!(m["layers"][0]["mediaType"], layer_type, "{m}");
            let config = match want {
                DOCKER_MANIFEST => "application/vnd.docker.container.image.v1+json",
                _ => "application/vnd.oci.image.config.v1+json",
            };
            assert_eq!(m["config"]["mediaType"], config, "{m}");
            // The same config: pulled back, the same image.
            ctx.ok(&["rmi", "-f", &dst]);
            assert_eq!(ctx.pull(&[&dst]), img.id());
        }
        // Refused before anything is sent.
        let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
        let src = reg.push(&ctx.repo("src"), "r", &img);
        ctx.pull(&[&src.reference]);
        let dst = format!("{}/{}:refused", reg.host, ctx.repo("refused"));
        for bad in [
            &["--format", "v2s1"][..],
            &["--format", "bogus"],
            &["--compression-format", "zstd"],
            &["--sign-by", "ABCD"],
        ] {
            let mut args = vec!["push"];
            args.extend_from_slice(bad);
            args.extend([src.reference.as_str(), dst.as_str()]);
            assert_one_error(&ctx.rless(&args), ERR_EXIT);
        }
        ctx.ok(&[
            "push",
            "--compression-format",
            "gzip",
            "--remove-signatures",
            &src.reference,
            &dst,
        ]);
    });
}
