//! What names, digests and manifests an image keeps in the store: `load`'s
//! report, several manifests of one config, images without layers, images
//! pulled by digest.

mod common;

use common::oci::{busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, Ctx};

/// A two-layer busybox image: the busybox layer plus a marker layer.
fn two_layer_image(format: Format, marker: &str) -> Option<Built> {
    let bb = busybox_layer()?;
    let top = LayerBuilder::new()
        .file("marker", marker.as_bytes(), 0o644)
        .finish();
    Some(Built::host(format, &[(bb, Comp::Gzip), (&top, Comp::Gzip)]))
}

/// The non-empty lines of stdout.
fn lines(out: &common::Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `rless save` of `what` to `WORK/file` in `format`; returns the path.
fn save(ctx: &Ctx, file: &str, format: &str, what: &str) -> String {
    let p = ctx.work.join(file);
    let p = p.to_str().unwrap();
    ctx.ok(&["save", "--format", format, "-o", p, what]);
    p.to_string()
}

#[test]
fn load_reports_only_the_archive_names() {
    let Some(reg) = Registry::open() else { return };
    let Some(img) = two_layer_image(Format::Oci, "names\n") else {
        return;
    };
    for_each_user("load_names", |ctx| {
        let p = reg.push(&ctx.repo("names"), "v1", &img);
        ctx.pull(&[&p.reference]);
        let docker = save(ctx, "d.tar", "docker-archive", &p.reference);
        let oci = save(ctx, "o.tar", "oci-archive", &p.reference);
        let by_id = save(ctx, "id.tar", "docker-archive", &p.id);
        // Other names the image has in the store are not the archive's.
        ctx.ok(&["tag", &p.reference, "other:1"]);
        ctx.ok(&["tag", &p.reference, "localhost/more:2"]);
        for archive in [&docker, &oci] {
            let out = ctx.ok(&["load", "-i", archive]);
            assert_eq!(
                lines(&out),
                [format!("Loaded image: {}", p.reference)],
                "{archive}: {out}"
            );
        }
        let out = ctx.ok(&["load", "-i", &by_id]);
        assert_eq!(
            lines(&out),
            [format!("Loaded image ID: sha256:{}", p.id)],
            "{out}"
        );
        // The store keeps every name, as before the loads.
        let names = ctx.inspect("other:1")["RepoTags"].clone();
        for n in [p.reference.as_str(), "other:1", "localhost/more:2"] {
            assert!(names.to_string().contains(n), "{n} kept: {names}");
        }
    });
}
