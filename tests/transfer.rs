//! `rless push` and `rless save`/`load` round trips, run as the test users
//! against the local registries (tests/run.sh). Archives made by podman
//! and by hand (docker's daemon does not run here), damaged archives, bad
//! input and hostile layers are in `transfer_archives.rs`.

mod common;

use common::oci::{busybox, Comp, Format, Registry};
use common::transfer_helpers::*;
use common::{for_each_user, list_names, run_cmd, sha256_hex, CMD_TIMEOUT};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

#[test]
fn push_pull_back_and_run() {
    let Some(reg) = Registry::open() else { return };
    let Some(img) = two_layer_image(Format::Docker, Comp::Gzip, "pushed\n") else {
        return;
    };
    for_each_user("push_pull_back", |ctx| {
        let src = reg.push(&ctx.repo("src"), "v1", &img);
        ctx.pull(&[&src.reference]);
        // Another repository of the same registry (new on every run): the
        // blobs are mounted, not uploaded.
        let dst_repo = ctx.repo(&format!("dst-{}", std::process::id()));
        let dst = format!("{}/{dst_repo}:v2", reg.host);
        let out = ctx.ok(&["--log-level", "debug", "push", &src.reference, &dst]);
        assert_eq!(pushed_digest(&out), src.manifest_digest, "manifest kept");
        assert!(out.stderr.contains(": mounted"), "cross-repo mount: {out}");
        for d in src.layer_digests.iter().chain([&src.config_digest]) {
            assert!(reg.blob_exists(&dst_repo, d), "{d} missing in {dst_repo}");
        }
        // Pushing again sends nothing new and gives the same digest.
        let again = ctx.ok(&["push", "-q", &src.reference, &dst]);
        assert_eq!(pushed_digest(&again), src.manifest_digest);
        let entry = ctx.image_entry(&src.id).expect("image listed");
        let want = format!("{}/{dst_repo}@{}", reg.host, src.manifest_digest);
        assert!(
            entry.to_string().contains(&want),
            "repo digest {want} recorded: {entry}"
        );

        let other = fresh(ctx, "b");
        assert_eq!(other.pull(&[&dst]), src.id);
        assert_eq!(run_sh(&other, &dst, "cat /etc/marker"), "pushed\n");
    });
}

#[test]
fn push_committed_and_imported_images() {
    let Some(reg) = Registry::open() else { return };
    let Some(img) = two_layer_image(Format::Oci, Comp::Gzip, "base\n") else {
        return;
    };
    let Some(bb) = busybox() else { return };
    for_each_user("push_committed", |ctx| {
        let base = reg.push(&ctx.repo("base"), "v1", &img);
        ctx.pull(&[&base.reference]);
        ctx.ok(&[
            "run",
            "--name",
            "c1",
            "--network",
            "none",
            &base.reference,
            "sh",
            "-c",
            "echo changed > /new; rm /etc/marker",
        ]);
        let committed = format!("{}/{}:c", reg.host, ctx.repo("committed"));
        // --change lines take Dockerfile syntax; a bad one makes no image.
        let bad = ctx.fail_unchanged(&["commit", "-c", "ENV A=\"open", "c1", &committed]);
        assert!(bad.stderr.contains("unterminated quote"), "{bad}");
        ctx.ok(&[
            "commit",
            "-c",
            "CMD cat /new",
            "-c",
            r#"ENV A=1 B="two words" C=\"q\""#,
            "-c",
            "LABEL x=y z='w w'",
            "c1",
            &committed,
        ]);
        ctx.ok(&["rm", "c1"]);
        let digest = pushed_digest(&ctx.ok(&["push", &committed]));

        // An imported directory, pushed under its own name.
        let tree = ctx.work.join("tree");
        fs::create_dir_all(tree.join("bin")).unwrap();
        fs::write(tree.join("bin/busybox"), bb).unwrap();
        fs::set_permissions(tree.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("busybox", tree.join("bin/sh")).unwrap();
        fs::write(tree.join("imported"), "yes\n").unwrap();
        ctx.give_tree(&tree);
        let imported = format!("{}/{}:i", reg.host, ctx.repo("imported"));
        ctx.ok(&["import", tree.to_str().unwrap(), &imported]);
        ctx.ok(&["push", &imported]);

        let other = fresh(ctx, "b");
        other.pull(&[&format!(
            "{}@{digest}",
            committed.rsplit_once(':').unwrap().0
        )]);
        other.pull(&[&committed]);
        assert_eq!(
            other
                .ok(&["run", "--rm", "--network", "none", &committed])
                .stdout,
            "changed\n",
            "the committed CMD and file"
        );
        assert_eq!(
            run_sh(&other, &committed, r#"echo "$A|$B|$C""#),
            "1|two words|\"q\"\n",
            "the committed ENV pairs"
        );
        let labels = other.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            &committed,
        ]);
        assert_eq!(labels.stdout.trim(), r#"{"x":"y","z":"w w"}"#, "{labels}");
        assert_eq!(
            run_sh(&other, &committed, "test -e /etc/marker || echo deleted"),
            "deleted\n",
            "the deletion is a whiteout in the pushed layer"
        );
        other.pull(&[&imported]);
        assert_eq!(run_sh(&other, &imported, "cat /imported"), "yes\n");
    });
}

#[test]
fn push_needs_credentials() {
    let Some(open) = Registry::open() else { return };
    let Some(auth) = Registry::auth() else { return };
    let Some(img) = two_layer_image(Format::Docker, Comp::Gzip, "auth\n") else {
        return;
    };
    let (user, pass) = auth.creds.clone().unwrap();
    for_each_user("push_auth", |ctx| {
        let src = open.push(&ctx.repo("src"), "v1", &img);
        ctx.pull(&[&src.reference]);
        // New on every run: the registry keeps what earlier runs pushed.
        let repo = ctx.repo(&format!("dst-{}", std::process::id()));
        let dst = format!("{}/{repo}:v1", auth.host);
        let out = ctx.fail_unchanged(&["push", &src.reference, &dst]);
        assert!(out.stderr.contains("credentials"), "{out}");
        let out = ctx.fail_unchanged(&[
            "push",
            "--creds",
            &format!("{user}:wrong"),
            &src.reference,
            &dst,
        ]);
        assert!(out.stderr.contains("refused"), "{out}");
        assert!(
            !auth.blob_exists(&repo, &src.config_digest),
            "nothing pushed"
        );
        let creds = format!("{user}:{pass}");
        let out = ctx.ok(&["push", "--creds", &creds, &src.reference, &dst]);
        assert_eq!(pushed_digest(&out), src.manifest_digest);
        let other = fresh(ctx, "b");
        assert_eq!(other.pull(&["--creds", &creds, &dst]), src.id);

        // A bearer registry: its token server grants push with the right
        // credentials, except on `readonly` repositories.
        if let Ok(token) = std::env::var("RLESS_TEST_TOKEN_REGISTRY") {
            let tu = std::env::var("RLESS_TEST_TOKEN_USER").unwrap_or_default();
            let tp = std::env::var("RLESS_TEST_TOKEN_PASS").unwrap_or_default();
            let tcreds = format!("{tu}:{tp}");
            let ro = format!("{token}/{repo}-readonly:v1");
            let out = ctx.fail_unchanged(&["push", "--creds", &tcreds, &src.reference, &ro]);
            assert!(out.stderr.contains("denied"), "{out}");
            let dst = format!("{token}/{repo}:v1");
            let out = ctx.fail_unchanged(&["push", &src.reference, &dst]);
            assert!(out.stderr.contains("credentials"), "{out}");
            let out = ctx.ok(&["push", "--creds", &tcreds, &src.reference, &dst]);
            assert_eq!(pushed_digest(&out), src.manifest_digest);
            let third = fresh(ctx, "c");
            assert_eq!(third.pull(&["--creds", &tcreds, &dst]), src.id);
        }
    });
}

/// Entries of a tar file: name → bytes (links as `-> target`).
fn tar_members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn member(members: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in archive"))
        .1
        .clone()
}

/// Only `file` (no temporary debris) in `dir`.
fn only_file(dir: &Path, file: &str) {
    let names = list_names(dir);
    let extra: Vec<_> = names
        .iter()
        .filter(|n| n.contains(file) && *n != file)
        .collect();
    assert!(extra.is_empty(), "debris next to {file}: {extra:?}");
}

#[test]
fn save_load_round_trip() {
    let Some(reg) = Registry::open() else { return };
    let Some(img) = two_layer_image(Format::Oci, Comp::Gzip, "round\n") else {
        return;
    };
    let Some(img2) = two_layer_image(Format::Docker, Comp::Gzip, "second\n") else {
        return;
    };
    for_each_user("save_load", |ctx| {
        let a = reg.push(&ctx.repo("a"), "v1", &img);
        let b = reg.push(&ctx.repo("b"), "v2", &img2);
        ctx.pull(&[&a.reference]);
        ctx.pull(&[&b.reference]);

        // docker-archive (the default): uncompressed layers named by diff id.
        let out = ctx.work.join("d.tar");
        ctx.ok(&[
            "save",
            "-o",
            out.to_str().unwrap(),
            &a.reference,
            &b.reference,
        ]);
        only_file(&ctx.work, "d.tar");
        let m = tar_members(&out);
        let manifest: Value = serde_json::from_slice(&member(&m, "manifest.json")).unwrap();
        assert_eq!(manifest.as_array().unwrap().len(), 2, "{manifest}");
        for (entry, p) in manifest.as_array().unwrap().iter().zip([&a, &b]) {
            assert_eq!(entry["Config"], format!("{}.json", p.id));
            let tag = p.reference.clone();
            assert_eq!(entry["RepoTags"], json!([tag]));
            for (layer, diff) in entry["Layers"].as_array().unwrap().iter().zip(&p.diff_ids) {
                let data = member(&m, layer.as_str().unwrap());
                assert_eq!(
                    format!("sha256:{}", sha256_hex(&data)),
                    *diff,
                    "layer is the tar"
                );
            }
        }
        assert!(m.iter().any(|(n, _)| n == "repositories"));

        // oci-archive: blobs as stored, one named manifest per image.
        let oci = ctx.work.join("o.tar");
        ctx.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci.to_str().unwrap(),
            &a.reference,
        ]);
        let m = tar_members(&oci);
        assert!(m.iter().any(|(n, _)| n == "oci-layout"));
        let index: Value = serde_json::from_slice(&member(&m, "index.json")).unwrap();
        assert_eq!(index["manifests"][0]["digest"], a.manifest_digest.as_str());
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            a.reference.as_str()
        );
        for d in a
            .layer_digests
            .iter()
            .chain([&a.config_digest, &a.manifest_digest])
        {
            member(
                &m,
                &format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
            );
        }

        // Load each into an empty store; the images run.
        let d = fresh(ctx, "d");
        let out_d = d.ok(&["load", "-i", out.to_str().unwrap()]);
        for p in [&a, &b] {
            assert!(
                out_d
                    .stdout
                    .contains(&format!("Loaded image: {}", p.reference)),
                "{out_d}"
            );
            assert!(d.image_entry(&p.id).is_some(), "{} loaded", p.id);
        }
        assert_eq!(run_sh(&d, &a.reference, "cat /etc/marker"), "round\n");
        assert_eq!(run_sh(&d, &b.reference, "cat /etc/marker"), "second\n");
        // Pushing a docker-archive image gzips its uncompressed layers: a
        // new manifest, the same one on every push, that pulls and runs.
        let dst = format!("{}/{}:gz", reg.host, ctx.repo("from-archive"));
        let first = pushed_digest(&d.ok(&["push", &a.reference, &dst]));
        assert_eq!(pushed_digest(&d.ok(&["push", &a.reference, &dst])), first);
        let url = format!(
            "http://{}/v2/{}/manifests/{first}",
            reg.host,
            ctx.repo("from-archive")
        );
        let mut resp = ureq::get(&url)
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call()
            .unwrap();
        let manifest: Value = serde_json::from_reader(resp.body_mut().as_reader()).unwrap();
        for l in manifest["layers"].as_array().unwrap() {
            assert_eq!(
                l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
                "{manifest}"
            );
            let digest = l["digest"].as_str().unwrap().to_string();
            assert!(!a.diff_ids.contains(&digest), "compressed: {manifest}");
        }
        let g = fresh(ctx, "g");
        let by_digest = format!("{}@{first}", dst.rsplit_once(':').unwrap().0);
        assert_eq!(g.pull(&[&by_digest]), a.id);
        assert_eq!(run_sh(&g, &by_digest, "cat /etc/marker"), "round\n");
        drop(g);
        let tmp: Vec<_> = list_names(&d.root.join("blobs/sha256"))
            .into_iter()
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(tmp.is_empty(), "compressed copies removed: {tmp:?}");

        // Loading the same archive again changes nothing but succeeds.
        let before = d.snapshot();
        d.ok(&["load", "-i", out.to_str().unwrap()]);
        d.snapshot().assert_same(&before, "second load");

        let o = fresh(ctx, "o");
        let bytes = fs::read(&oci).unwrap();
        let out_o = o.rless_stdin(&["load"], &bytes);
        assert!(out_o.success(), "load from stdin: {out_o}");
        assert!(out_o
            .stdout
            .contains(&format!("Loaded image: {}", a.reference)));
        let entry = o.image_entry(&a.id).expect("loaded");
        assert_eq!(
            entry["Digest"],
            a.manifest_digest.as_str(),
            "manifest kept: {entry}"
        );
        assert_eq!(run_sh(&o, &a.reference, "cat /etc/marker"), "round\n");
        // A loaded image can be pushed (its blobs are all in the store).
        let again = format!("{}/{}:re", reg.host, ctx.repo("reloaded"));
        o.ok(&["tag", &a.reference, &again]);
        assert_eq!(pushed_digest(&o.ok(&["push", &again])), a.manifest_digest);

        // To standard output, when it is not a terminal.
        let piped = ctx.work.join("piped.tar");
        let mut sh = ctx.command(Path::new("/bin/sh"));
        sh.arg("-c").arg(format!(
            "exec {} --root {} save {} > {}",
            common::rless_bin().display(),
            ctx.root.display(),
            a.reference,
            piped.display()
        ));
        let out = run_cmd(sh, None, CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "save to stdout: {out}");
        assert_eq!(
            fs::read(&piped).unwrap(),
            {
                let single = ctx.work.join("single.tar");
                ctx.ok(&["save", "-o", single.to_str().unwrap(), &a.reference]);
                fs::read(&single).unwrap()
            },
            "the same bytes through stdout and -o"
        );

        // Saved by id: no names; a gzip-compressed archive loads too.
        let byid = ctx.work.join("id.tar");
        ctx.ok(&["save", "-o", byid.to_str().unwrap(), &a.id[..12]]);
        let gz = ctx.work.join("id.tar.gz");
        let status = Command::new("gzip").arg("-k").arg(&byid).status().unwrap();
        assert!(status.success());
        ctx.give(&gz);
        let n = fresh(ctx, "n");
        let out = n.ok(&["load", "-i", gz.to_str().unwrap()]);
        assert_eq!(
            out.stdout.trim(),
            format!("Loaded image ID: sha256:{}", a.id)
        );
        let e = n.image_entry(&a.id).expect("loaded by id");
        assert_eq!(e["Names"], json!([]), "{e}");

        // A repository without a tag saves every tag of it, as docker does.
        let repo = a.reference.rsplit_once(':').unwrap().0.to_string();
        ctx.ok(&["tag", &a.reference, &format!("{repo}:v9")]);
        ctx.ok(&["tag", &b.reference, &format!("{repo}:other")]);
        let all = ctx.work.join("all.tar");
        ctx.ok(&["save", "-o", all.to_str().unwrap(), &repo]);
        let m = tar_members(&all);
        let manifest: Value = serde_json::from_slice(&member(&m, "manifest.json")).unwrap();
        let mut tags: Vec<(String, Vec<String>)> = manifest
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut t: Vec<String> = serde_json::from_value(e["RepoTags"].clone()).unwrap();
                t.sort();
                (e["Config"].as_str().unwrap().to_string(), t)
            })
            .collect();
        tags.sort();
        let mut want = vec![
            (
                format!("{}.json", a.id),
                vec![a.reference.clone(), format!("{repo}:v9")],
            ),
            (format!("{}.json", b.id), vec![format!("{repo}:other")]),
        ];
        for w in &mut want {
            w.1.sort();
        }
        want.sort();
        assert_eq!(tags, want, "{manifest}");
        // With a tag, only that image.
        let one = ctx.work.join("one.tar");
        ctx.ok(&[
            "save",
            "-o",
            one.to_str().unwrap(),
            &format!("{repo}:other"),
        ]);
        let m = tar_members(&one);
        let manifest: Value = serde_json::from_slice(&member(&m, "manifest.json")).unwrap();
        assert_eq!(manifest.as_array().unwrap().len(), 1, "{manifest}");
    });
}
