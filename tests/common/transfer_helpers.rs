//! Helpers shared by the push, save and load tests (`transfer*.rs`): a
//! two-layer busybox image with a marker file, a one-shot `run`, the digest
//! `push` prints, and a second empty store for the same user.

use super::oci::{busybox_layer, Built, Comp, Format, LayerBuilder};
use super::{Ctx, Out};

/// A two-layer busybox image: the busybox layer plus a marker layer.
pub fn two_layer_image(format: Format, comp: Comp, marker: &str) -> Option<Built> {
    let bb = busybox_layer()?;
    let top = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/marker", marker.as_bytes(), 0o644)
        .finish();
    Some(Built::host(format, &[(bb, comp), (&top, comp)]))
}

/// `rless run --rm --network none IMAGE sh -c SCRIPT`'s output.
pub fn run_sh(ctx: &Ctx, image: &str, script: &str) -> String {
    ctx.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        script,
    ])
    .stdout
}

/// The digest `push` printed (its last line).
pub fn pushed_digest(out: &Out) -> String {
    let d = out.last_line().to_string();
    assert!(
        d.starts_with("sha256:") && super::is_hex64(&d[7..]),
        "push must print the manifest digest: {out}"
    );
    d
}

/// A second, empty store for the same user.
pub fn fresh(ctx: &Ctx, tag: &str) -> Ctx {
    Ctx::new(&format!("{}-{tag}", ctx.test), &ctx.user)
}
