//! Hostile layer tars and the checks that nothing escaped the layer dir.

use super::oci::LayerBuilder;
use super::{list_names, Ctx};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Hostile layer tars: (case name, tar). Targets live in `W/outside`.
pub fn hostile_tars(work: &Path) -> Vec<(&'static str, Vec<u8>)> {
    use tar::EntryType::{Link, Regular, Symlink};
    let outside = work.join("outside");
    let abs = |s: &str| outside.join(s).to_string_lossy().into_owned();
    let up = "../".repeat(16);
    let rel_from_root = |s: &str| format!("{up}{}", abs(s).trim_start_matches('/'));
    let t = || LayerBuilder::new().dir("d", 0o755);
    vec![
        (
            "dotdot",
            t().raw(
                Regular,
                b"../../../../outside/pwned-dotdot1",
                b"",
                b"pwned",
                0o644,
            )
            .raw(
                Regular,
                rel_from_root("pwned-dotdot2").as_bytes(),
                b"",
                b"pwned",
                0o644,
            )
            .raw(Regular, b"d/../../pwned-dotdot3", b"", b"pwned", 0o644)
            .finish(),
        ),
        (
            "absolute",
            t().raw(Regular, abs("pwned-abs").as_bytes(), b"", b"pwned", 0o644)
                .finish(),
        ),
        (
            "symlink-dir",
            t().raw(
                Symlink,
                b"lnk",
                outside.to_string_lossy().as_bytes(),
                b"",
                0o777,
            )
            .raw(Regular, b"lnk/pwned-symlink1", b"", b"pwned", 0o644)
            .raw(
                Symlink,
                b"d/rel",
                rel_from_root("").trim_end_matches('/').as_bytes(),
                b"",
                0o777,
            )
            .raw(Regular, b"d/rel/pwned-symlink2", b"", b"pwned", 0o644)
            .finish(),
        ),
        (
            "symlink-file",
            t().raw(Symlink, b"over", abs("secret").as_bytes(), b"", 0o777)
                .raw(Regular, b"over", b"", b"pwned", 0o644)
                .finish(),
        ),
        (
            "hardlink",
            t().raw(Link, b"hl", abs("secret").as_bytes(), b"", 0o644)
                .raw(Regular, b"hl", b"", b"pwned", 0o644)
                .raw(Link, b"hl2", rel_from_root("secret").as_bytes(), b"", 0o644)
                .raw(Link, b"hl3", b"../../../../outside/secret", b"", 0o644)
                .finish(),
        ),
    ]
}

/// Create `W/outside` with a secret file the tars try to reach.
pub fn prepare_outside(ctx: &Ctx) {
    let _ = fs::remove_dir_all(ctx.work.join("outside"));
    ctx.write_file("outside/secret", b"secret\n");
}

/// Nothing was written outside the store's layer trees.
pub fn assert_no_escape(ctx: &Ctx, case: &str) {
    let outside = ctx.work.join("outside");
    let names = list_names(&outside);
    assert_eq!(
        names,
        ["secret".to_string()].into_iter().collect(),
        "{case}: files appeared in {}",
        outside.display()
    );
    let secret = outside.join("secret");
    assert_eq!(
        fs::read(&secret).unwrap(),
        b"secret\n",
        "{case}: secret was overwritten"
    );
    assert_eq!(
        fs::metadata(&secret).unwrap().nlink(),
        1,
        "{case}: secret was hard-linked"
    );
    // any pwned-* file must be inside some layers/<id>/diff tree
    fn scan(dir: &Path, ctx: &Ctx, case: &str) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(&ctx.work)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let parts: Vec<&str> = rel.split('/').collect();
            let in_layer = parts.len() > 4
                && parts[0] == "store"
                && parts[1] == "layers"
                && parts[3] == "diff";
            if e.file_name().to_string_lossy().starts_with("pwned") {
                assert!(
                    in_layer,
                    "{case}: {} written outside a layer dir",
                    p.display()
                );
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                scan(&p, ctx, case);
            }
        }
    }
    scan(&ctx.work, ctx, case);
}
