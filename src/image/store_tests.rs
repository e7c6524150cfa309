//! The store's unit tests (split from store.rs, which they made too long).

use super::*;

#[test]
fn blobs_index_and_gc() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), LockMode::Exclusive).unwrap();
    let d = s.put_blob(b"hello", None).unwrap();
    assert!(s.has_blob(&d));
    assert!(s.put_blob(b"x", Some(&d)).is_err());
    let orphan = s.put_blob(b"orphan", None).unwrap();
    let diff = Digest::of(b"layer");
    let tmp = s.new_tmp_layer().unwrap();
    fs::create_dir(tmp.join("diff/ro")).unwrap();
    fs::set_permissions(tmp.join("diff/ro"), fs::Permissions::from_mode(0o555)).unwrap();
    let meta = LayerMeta {
        diff_id: diff.clone(),
        whiteout_form: "overlay".into(),
        size: 0,
        entries: 1,
    };
    s.commit_layer(&tmp, &meta).unwrap();
    assert!(s.has_layer(&diff));
    s.update_index(|i| {
        i.images.push(ImageRecord {
            id: d.clone(),
            manifest: d.clone(),
            manifest_media_type: String::new(),
            names: vec!["a/b:c".into()],
            digests: vec![],
            layers: vec![LayerRecord {
                diff_id: diff.clone(),
                blob: d.clone(),
                blob_size: 5,
                media_type: String::new(),
            }],
            created: 0,
            size: 0,
            architecture: "amd64".into(),
            os: "linux".into(),
            other_manifests: vec![],
            pulled_by_digest: vec![],
            names_history: Vec::new(),
        })
    })
    .unwrap();
    let (_, errs) = s.collect_garbage(&s.index().unwrap());
    assert!(errs.is_empty(), "{errs:?}");
    assert!(s.has_blob(&d) && !s.has_blob(&orphan) && s.has_layer(&diff));
    let (_, errs) = s.collect_garbage(&Index::default());
    assert!(errs.is_empty(), "{errs:?}");
    assert!(!s.has_blob(&d) && !s.has_layer(&diff));
    // Debris is removed by the next exclusive opener.
    fs::create_dir(dir.path().join("layers/.tmp-1-2-x")).unwrap();
    drop(s);
    let _s = Store::open(dir.path(), LockMode::Exclusive).unwrap();
    assert!(!dir.path().join("layers/.tmp-1-2-x").exists());
}

/// A container's `.tmp-*` entry is removed once the process named in it
/// is gone, and kept while it runs (it may be creating that container).
#[test]
fn container_debris_of_dead_processes_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let live = format!("containers/.tmp-{}-0-ctr", child.id());
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let gone = format!("containers/.tmp-{}-0-del", dead.id());
    for d in [&live, &gone, &"containers/.tmp-x".to_string()] {
        fs::create_dir_all(dir.path().join(d).join("upper/ro/f")).unwrap();
    }
    fs::set_permissions(
        dir.path().join(&gone).join("upper/ro"),
        fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    drop(Store::open(dir.path(), LockMode::Shared).unwrap());
    assert!(
        dir.path().join(&gone).exists(),
        "only the exclusive opener sweeps"
    );
    drop(Store::open(dir.path(), LockMode::Exclusive).unwrap());
    assert!(!dir.path().join(&gone).exists());
    assert!(!dir.path().join("containers/.tmp-x").exists());
    assert!(dir.path().join(&live).exists());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn names_keep_the_manifest_they_came_with() {
    let layer = |blob: &[u8]| LayerRecord {
        diff_id: Digest::of(b"tar"),
        blob: Digest::of(blob),
        blob_size: 1,
        media_type: String::new(),
    };
    let pulled = |manifest: &[u8], name: &str| ImageRecord {
        id: Digest::of(b"config"),
        manifest: Digest::of(manifest),
        manifest_media_type: String::new(),
        names: vec![name.into()],
        digests: vec![format!(
            "{}@{}",
            name.split(':').next().unwrap(),
            Digest::of(manifest)
        )],
        layers: vec![layer(manifest)],
        created: 0,
        size: 0,
        architecture: String::new(),
        os: String::new(),
        other_manifests: vec![],
        pulled_by_digest: vec![],
        names_history: Vec::new(),
    };
    let mut img = pulled(b"m1", "a:1");
    let second = pulled(b"m2", "b:1");
    img.names.push("b:1".into());
    img.digests.extend(second.digests.clone());
    img.add_manifest(&second);
    assert_eq!(img.manifest, Digest::of(b"m2"));
    assert_eq!(img.as_pulled("a:1").manifest, Digest::of(b"m1"));
    assert_eq!(img.as_pulled("a:1").layers, vec![layer(b"m1")]);
    assert_eq!(img.as_pulled("b:1").manifest, Digest::of(b"m2"));
    assert_eq!(
        img.as_pulled(&format!("a@{}", Digest::of(b"m1"))).manifest,
        Digest::of(b"m1")
    );
    // a:1 pulled again with m2: it goes with the main manifest.
    let mut again = img.clone();
    again.add_manifest(&pulled(b"m2", "a:1"));
    assert_eq!(again.as_pulled("a:1").manifest, Digest::of(b"m2"));
    // Untagged, m1 stays while a repo digest names it.
    img.names.retain(|n| n != "a:1");
    img.tidy();
    assert_eq!(img.other_manifests.len(), 1);
    img.digests.retain(|d| !d.starts_with("a@"));
    img.tidy();
    assert!(img.other_manifests.is_empty());
}

#[test]
fn older_records_read_without_the_new_fields() {
    let d = Digest::of(b"x");
    let old = format!(
        r#"{{"images":[{{"id":"{d}","manifest":"{d}","manifest_media_type":"","names":[],"layers":[],"created":0,"size":0,"architecture":"amd64","os":"linux"}}]}}"#
    );
    let index: Index = serde_json::from_str(&old).unwrap();
    let img = &index.images[0];
    assert!(img.other_manifests.is_empty() && img.pulled_by_digest.is_empty());
    assert!(img.dangling());
    let again = serde_json::to_string(&index).unwrap();
    assert!(!again.contains("other_manifests") && !again.contains("pulled_by_digest"));
}

#[test]
fn a_lock_wait_gives_up_when_asked_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let held = Store::open(dir.path(), LockMode::Exclusive).unwrap();
    let asked = std::cell::Cell::new(0);
    let stop = || {
        asked.set(asked.get() + 1);
        asked.get() > 2
    };
    let waited = std::cell::Cell::new(false);
    let got = Store::open_or_wait_unless(
        dir.path(),
        LockMode::Shared,
        || waited.set(true),
        Some(&stop),
    );
    assert!(matches!(got, Err(StoreError::Stopped(_))));
    assert!(waited.get() && asked.get() == 3);
    drop(held);
    // Free: taken at once, `stop` never asked.
    let never = || -> bool { panic!("asked") };
    drop(Store::open_or_wait_unless(dir.path(), LockMode::Shared, || {}, Some(&never)).unwrap());
}
