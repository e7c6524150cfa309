//! Tests of the whiteouts a layer carries (stored in the preferred form or
//! as `.wh.` markers, invalid ones refused) and of entries that replace
//! earlier ones of the same name in the same archive.

use super::*;

fn whiteout_tar() -> Vec<u8> {
    let mut t = Tar::new();
    t.file("x", 0o644, b"x")
        .dir("d/", 0o755)
        .file("d/y", 0o644, b"y")
        .dir("gone-dir/", 0o755)
        .file("gone-dir/z", 0o644, b"z")
        .file(".wh.x", 0o644, b"")
        .file("d/.wh.y", 0o644, b"")
        .file(".wh.gone-dir", 0o644, b"")
        .file("e/.wh.gone", 0o644, b"")
        .file("o/.wh..wh..opq", 0o644, b"");
    t.finish()
}

fn check_whiteouts(env: &Env, report: &ExtractReport) {
    let m = |p: &str| fs::symlink_metadata(env.path(p));
    match report.whiteout_form {
        WhiteoutForm::Overlay => {
            for p in ["x", "d/y", "gone-dir", "e/gone"] {
                let m = m(p).unwrap();
                assert!(m.file_type().is_char_device(), "{p}");
                assert_eq!(m.rdev(), 0, "{p}");
                let marker = env.path(p).with_file_name(format!(
                    ".wh.{}",
                    env.path(p).file_name().unwrap().to_str().unwrap()
                ));
                assert!(fs::symlink_metadata(marker).is_err());
            }
            let v = getx(env.path("o"), layout::OPAQUE_XATTR).unwrap();
            assert_eq!(v, layout::OPAQUE_VALUE);
            assert!(m("o/.wh..wh..opq").is_err());
        }
        WhiteoutForm::Marker => {
            for p in [
                ".wh.x",
                "d/.wh.y",
                ".wh.gone-dir",
                "e/.wh.gone",
                "o/.wh..wh..opq",
            ] {
                let m = m(p).unwrap();
                assert!(m.is_file() && m.len() == 0, "{p}");
            }
            for p in ["x", "d/y", "gone-dir", "e/gone"] {
                assert!(m(p).is_err(), "{p}");
            }
        }
    }
    assert!(m("o").unwrap().is_dir());
    env.check_outside();
}

#[test]
fn whiteouts_preferred_form() {
    let env = Env::new();
    let report = env.run(whiteout_tar(), &ids()).unwrap();
    check_whiteouts(&env, &report);
}

#[test]
fn whiteouts_marker_form() {
    let env = Env::new();
    let mut t = Tar::new();
    t.file("w", 0o644, b"");
    let mut tar = whiteout_tar();
    tar.truncate(tar.len() - 1024);
    let mut more = Tar::new();
    // An entry for a whited-out name drops the marker.
    more.file(".wh.w", 0o644, b"").file("w", 0o644, b"back");
    tar.extend(more.finish());
    let report = extract_with(&tar[..], &env.layer, &ids(), true).unwrap();
    assert_eq!(report.whiteout_form, WhiteoutForm::Marker);
    check_whiteouts(&env, &report);
    assert_eq!(fs::read(env.path("w")).unwrap(), b"back");
    assert!(fs::symlink_metadata(env.path(".wh.w")).is_err());
}

#[test]
fn invalid_whiteouts_are_refused() {
    for name in [".wh..", "d/.wh...", ".wh."] {
        let env = Env::new();
        let mut t = Tar::new();
        t.file("d/f", 0o644, b"").file(name, 0o644, b"");
        assert!(
            matches!(
                env.run(t.finish(), &ids()),
                Err(ExtractError::InvalidName { .. })
            ),
            "{name}"
        );
        assert!(env.path("d/f").exists());
    }
}

#[test]
fn replacements() {
    let env = Env::new();
    let mut t = Tar::new();
    t.dir("r/", 0o555)
        .dir("r/sub/", 0o555)
        .file("r/sub/c", 0o644, b"c")
        .file("r", 0o600, b"now a file")
        .file("f", 0o644, b"file")
        .dir("f/", 0o700)
        .file("f/c", 0o644, b"child")
        .dir("f/", 0o750)
        .symlink("s", "f")
        .symlink("s", "r")
        .file("a/b/f1", 0o644, b"1")
        .symlink("a", "real")
        .file("a/b/f2", 0o644, b"2");
    env.run(t.finish(), &ids()).unwrap();
    assert_eq!(fs::read(env.path("r")).unwrap(), b"now a file");
    assert_eq!(mode(&env.path("r")), 0o600);
    assert!(fs::symlink_metadata(env.path("f")).unwrap().is_dir());
    assert_eq!(mode(&env.path("f")), 0o750);
    assert_eq!(fs::read(env.path("f/c")).unwrap(), b"child");
    assert_eq!(fs::read_link(env.path("s")).unwrap(), Path::new("r"));
    assert_eq!(fs::read(env.path("real/b/f2")).unwrap(), b"2");
    assert!(!env.path("real/b/f1").exists());
    env.check_outside();
}
