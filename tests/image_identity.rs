//! What names, digests and manifests an image keeps in the store: `load`'s
//! report, several manifests of one config, images without layers, images
//! pulled by digest.

mod common;

use common::oci::{busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, Ctx};
use serde_json::Value;

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

/// The digest `push` printed (its last line).
fn pushed(ctx: &Ctx, args: &[&str]) -> String {
    let out = ctx.ok(args);
    let d = out.last_line().to_string();
    assert!(d.starts_with("sha256:"), "push prints the digest: {out}");
    d
}

/// `name → manifest digest` of an oci-archive's index.json.
fn oci_index_names(path: &str) -> Vec<(String, String)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("index.json") {
            let index: Value = serde_json::from_reader(&mut e).unwrap();
            let mut out: Vec<(String, String)> = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let name = &d["annotations"]["org.opencontainers.image.ref.name"];
                    (
                        name.as_str().unwrap_or_default().to_string(),
                        d["digest"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            out.sort();
            return out;
        }
    }
    panic!("no index.json in {path}");
}

#[test]
fn one_config_two_manifests() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let top = LayerBuilder::new()
        .file("marker", b"two manifests\n", 0o644)
        .finish();
    // The same config pushed twice: docker media types with gzip layers,
    // OCI ones with zstd layers (other blobs, another manifest).
    let docker = Built::host(Format::Docker, &[(bb, Comp::Gzip), (&top, Comp::Gzip)]);
    let oci = Built::host(Format::Oci, &[(bb, Comp::Zstd), (&top, Comp::Zstd)]);
    assert_eq!(docker.id(), oci.id());
    assert_ne!(docker.manifest_digest(), oci.manifest_digest());
    let other = Built::host(Format::Oci, &[(&top, Comp::Gzip)]);
    for_each_user("two_manifests", |ctx| {
        let a = reg.push(&ctx.repo("a"), "v1", &docker);
        let b = reg.push(&ctx.repo("b"), "v1", &oci);
        assert_eq!(ctx.pull(&[&a.reference]), a.id);
        assert_eq!(ctx.pull(&[&b.reference]), a.id);
        let digests = ctx.inspect(&a.reference)["RepoDigests"].to_string();
        for d in [a.by_digest(), b.by_digest()] {
            assert!(digests.contains(&d), "RepoDigests lists {d}: {digests}");
        }
        // A removal collects garbage: both manifests' blobs stay.
        let o = reg.push(&ctx.repo("other"), "v1", &other);
        ctx.pull(&[&o.reference]);
        ctx.ok(&["rmi", &o.reference]);
        let run = std::process::id();
        for (p, by) in [
            (&a, a.reference.clone()),
            (&b, b.reference.clone()),
            (&a, a.by_digest()),
        ] {
            let dst = format!("{}/{}:v1", reg.host, ctx.repo(&format!("to-{run}")));
            let got = pushed(ctx, &["push", "-q", &by, &dst]);
            assert_eq!(
                got, p.manifest_digest,
                "{by} pushes the manifest it came with"
            );
        }
        // oci-archive: each name with its own manifest; loaded elsewhere,
        // each name pushes as pulled.
        let f = save(ctx, "o.tar", "oci-archive", &a.reference);
        let g = ctx.work.join("both.tar");
        let g = g.to_str().unwrap();
        ctx.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            g,
            &a.reference,
            &b.reference,
        ]);
        assert_eq!(
            oci_index_names(&f),
            [(a.reference.clone(), a.manifest_digest.clone())]
        );
        // By digest: that digest's manifest, though the other is the main
        // one now (it wrote the main one; found by a review).
        let d = save(ctx, "d.tar", "oci-archive", &a.by_digest());
        assert_eq!(
            oci_index_names(&d),
            [(String::new(), a.manifest_digest.clone())]
        );
        let mut want = vec![
            (a.reference.clone(), a.manifest_digest.clone()),
            (b.reference.clone(), b.manifest_digest.clone()),
        ];
        want.sort();
        assert_eq!(oci_index_names(g), want);
        let fresh = Ctx::new(&format!("{}-load", ctx.test), &ctx.user);
        fresh.ok(&["load", "-i", g]);
        // By name, and by a digest the store knows only as a manifest of
        // the image (a load records no repo digests).
        for (p, by) in [
            (&a, a.reference.clone()),
            (&b, b.reference.clone()),
            (&a, a.by_digest()),
        ] {
            let dst = format!("{}/{}:v1", reg.host, ctx.repo(&format!("re-{run}")));
            let got = pushed(&fresh, &["push", "-q", &by, &dst]);
            assert_eq!(got, p.manifest_digest, "{by} after load");
        }
        // Untagged and unreferenced (no repo digest names it: nothing was
        // pushed from this store), the other manifest is forgotten and its
        // blobs collected; the image's main manifest stays.
        let fresh = Ctx::new(&format!("{}-rmi", ctx.test), &ctx.user);
        fresh.ok(&["load", "-i", g]);
        fresh.ok(&["rmi", &a.reference]);
        fresh.ok(&["image", "prune", "-f"]);
        for l in &docker.layers {
            assert!(
                !fresh.blob_path(&l.digest).exists(),
                "{} collected",
                l.digest
            );
        }
        assert!(fresh.blob_path(&b.manifest_digest).exists());
    });
}

#[test]
fn image_without_layers() {
    let Some(reg) = Registry::open() else { return };
    // A config with `rootfs.diff_ids: []` and a manifest with no layers.
    let empty = Built::host(Format::Oci, &[]);
    for_each_user("no_layers", |ctx| {
        let p = reg.push(&ctx.repo("empty"), "v1", &empty);
        assert_eq!(ctx.pull(&[&p.reference]), p.id);
        for driver in ["overlay", "fuse-overlay"] {
            let base = [
                "run",
                "--rm",
                "--network",
                "none",
                "--storage-driver",
                driver,
            ];
            // An empty root: the command is not found, as in docker.
            for (cmd, msg) in [
                ("/bin/true", "\"/bin/true\": no such file or directory"),
                ("true", "\"true\": executable file not found in $PATH"),
            ] {
                let mut args = base.to_vec();
                args.extend([p.reference.as_str(), cmd]);
                let out = ctx.rless(&args);
                assert_eq!(out.code, Some(127), "{driver}: {out}");
                assert!(out.stderr.contains(msg), "{driver}: {out}");
            }
        }
        // create, then export and commit of the container.
        let name = format!("nl-{}", std::process::id());
        ctx.ok(&["create", "--name", &name, &p.reference, "/bin/true"]);
        let tar = ctx.work.join("export.tar");
        ctx.ok(&["export", "-o", tar.to_str().unwrap(), &name]);
        let mut a = tar::Archive::new(std::fs::File::open(&tar).unwrap());
        let files: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .filter(|n| n.trim_end_matches('/') != "." && !n.is_empty())
            .collect();
        assert!(
            files.iter().all(|f| !f.contains("bin")),
            "an empty root exports no programs: {files:?}"
        );
        let committed = format!("localhost/{}:c", ctx.repo("committed"));
        ctx.ok(&["commit", &name, &committed]);
        ctx.ok(&["rm", &name]);
        let out = ctx.rless(&["run", "--rm", "--network", "none", &committed, "sh"]);
        assert_eq!(out.code, Some(127), "{out}");
        // It saves, loads and pushes like any image.
        let fresh = Ctx::new(&format!("{}-load", ctx.test), &ctx.user);
        for format in ["docker-archive", "oci-archive"] {
            let f = save(ctx, &format!("{format}.tar"), format, &p.reference);
            fresh.ok(&["load", "-i", &f]);
            let out = fresh.rless(&["run", "--rm", "--network", "none", &p.reference]);
            assert_eq!(out.code, Some(127), "{format}: {out}");
        }
        let dst = format!("{}/{}:v2", reg.host, ctx.repo("pushed"));
        ctx.ok(&["push", &p.reference, &dst]);
        ctx.ok(&["rmi", &committed, &p.reference]);
        assert!(ctx.images_json().is_empty(), "nothing left");
        let again = Ctx::new(&format!("{}-again", ctx.test), &ctx.user);
        assert_eq!(again.pull(&[&dst]), p.id);
    });
}

#[test]
fn pulled_by_digest_is_not_dangling() {
    let Some(reg) = Registry::open() else { return };
    let (Some(img), Some(first), Some(second)) = (
        two_layer_image(Format::Oci, "by digest\n"),
        two_layer_image(Format::Oci, "tag moves from\n"),
        two_layer_image(Format::Oci, "tag moves to\n"),
    ) else {
        return;
    };
    for_each_user("by_digest", |ctx| {
        let p = reg.push(&ctx.repo("d"), "v1", &img);
        assert_eq!(ctx.pull(&[&p.by_digest()]), p.id);
        // A tag that moved on leaves a really dangling image.
        let m1 = reg.push(&ctx.repo("m"), "v1", &first);
        ctx.pull(&[&m1.reference]);
        let m2 = reg.push(&ctx.repo("m"), "v1", &second);
        ctx.pull(&[&m2.reference]);
        for id in [&p.id, &m1.id] {
            let e = ctx.image_entry(id).expect("stored");
            assert_eq!(e["Names"], serde_json::json!([]), "{e}");
        }
        let out = ctx.ok(&["image", "prune", "-f"]);
        assert!(out.stdout.contains(&m1.id), "{out}");
        let ids: Vec<String> = ctx.image_ids().into_iter().collect();
        let mut want = vec![p.id.clone(), m2.id.clone()];
        want.sort();
        assert_eq!(ids, want, "the image pulled by digest stays");
        // A tag of its own, removed again: still not dangling.
        ctx.ok(&["tag", &p.by_digest(), "localhost/extra:1"]);
        ctx.ok(&["rmi", "localhost/extra:1"]);
        ctx.ok(&["image", "prune", "-f"]);
        assert!(ctx.image_entry(&p.id).is_some(), "kept after untag");
        // With a name too, rmi of the digest reference only untags it.
        ctx.ok(&["tag", &p.by_digest(), "localhost/keep:1"]);
        let out = ctx.ok(&["rmi", &p.by_digest()]);
        assert!(!out.stdout.contains("Deleted"), "{out}");
        assert!(ctx.image_entry(&p.id).is_some(), "kept by its name");
        // ...wholly: the reference no longer finds it (it stayed a repo
        // digest, found by a review).
        let e = ctx.image_entry(&p.id).unwrap();
        assert_eq!(e["RepoDigests"], serde_json::json!([]), "{e}");
        ctx.fail(&["image", "inspect", &p.by_digest()]);
        // Pulled by digest again, it outlives its name's removal...
        ctx.pull(&[&p.by_digest()]);
        let out = ctx.ok(&["rmi", "localhost/keep:1"]);
        assert!(!out.stdout.contains("Deleted"), "{out}");
        ctx.ok(&["image", "prune", "-f"]);
        assert!(ctx.image_entry(&p.id).is_some(), "kept by its digest");
        // ...and goes, with its own layer, by its digest reference.
        let out = ctx.ok(&["rmi", &p.by_digest()]);
        assert!(out.stdout.contains("Deleted"), "{out}");
        assert!(ctx.image_entry(&p.id).is_none());
        assert!(!ctx.layer_dirs().contains(&p.diff_ids[1][7..]));
    });
}

/// `untag`: a repository's repo digests go with its last name, as
/// podman's; another repository's stay, and so does a digest the image was
/// pulled by.
#[test]
fn untag_drops_the_repo_digests_of_its_last_name() {
    let Some(reg) = Registry::open() else { return };
    let Some(img) = two_layer_image(Format::Oci, "untag digests\n") else {
        return;
    };
    for_each_user("untag_digests", |ctx| {
        let a = reg.push(&ctx.repo("a"), "v1", &img);
        let b = reg.push(&ctx.repo("b"), "v1", &img);
        ctx.pull(&[&a.reference]);
        ctx.pull(&[&b.reference]);
        let a_digest = format!("{}/{}@{}", a.host, a.repo, a.manifest_digest);
        let b_digest = format!("{}/{}@{}", b.host, b.repo, b.manifest_digest);
        let digests = |ctx: &Ctx| -> Vec<String> {
            let mut v: Vec<String> = ctx.inspect(&a.id)["RepoDigests"]
                .as_array()
                .expect("RepoDigests is an array")
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(digests(ctx), [a_digest.clone(), b_digest.clone()]);
        let a2 = format!("{}/{}:v2", a.host, a.repo);
        ctx.ok(&["tag", &a.reference, &a2]);
        // a:v2 still names repository a: its digest stays.
        ctx.ok(&["untag", &a.id, &a.reference]);
        assert_eq!(digests(ctx), [a_digest.clone(), b_digest.clone()]);
        ctx.ok(&["untag", &a.id, &a2]);
        assert_eq!(digests(ctx), vec![b_digest.clone()]);
        // Pulled by digest too: that reference stays with the tag's removal.
        ctx.ok(&["pull", &b_digest]);
        ctx.ok(&["untag", &a.id, &b.reference]);
        assert_eq!(digests(ctx), vec![b_digest.clone()]);
    });
}
