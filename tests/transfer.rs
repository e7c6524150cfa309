//! `rless push`, `rless save` and `rless load`, run as the test users against
//! the local registries (tests/run.sh), with podman's archives for interop
//! and hand-made docker archives (docker's daemon does not run here).

mod common;

use common::hostile::{assert_no_escape, hostile_tars, prepare_outside};
use common::oci::{busybox, busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, list_names, run_cmd, sha256_hex, skip, Ctx, CMD_TIMEOUT};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A two-layer busybox image: the busybox layer plus a marker layer.
fn two_layer_image(format: Format, comp: Comp, marker: &str) -> Option<Built> {
    let bb = busybox_layer()?;
    let top = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/marker", marker.as_bytes(), 0o644)
        .finish();
    Some(Built::host(format, &[(bb, comp), (&top, comp)]))
}

/// `rless run --rm --network none IMAGE sh -c SCRIPT`'s output.
fn run_sh(ctx: &Ctx, image: &str, script: &str) -> String {
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
fn pushed_digest(out: &common::Out) -> String {
    let d = out.last_line().to_string();
    assert!(
        d.starts_with("sha256:") && common::is_hex64(&d[7..]),
        "push must print the manifest digest: {out}"
    );
    d
}

/// A second, empty store for the same user.
fn fresh(ctx: &Ctx, tag: &str) -> Ctx {
    Ctx::new(&format!("{}-{tag}", ctx.test), &ctx.user)
}

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

/// A docker-archive as `docker save` (25+) writes it: an OCI layout whose
/// manifest.json names `blobs/sha256/...` members, uncompressed layers.
fn docker_save_archive(img: &Built, tag: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    for l in &img.layers {
        add(&blob(&l.digest), &l.blob);
    }
    add(&blob(&img.config_digest()), &img.config_bytes());
    add(&blob(&img.manifest_digest()), &img.manifest_bytes());
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": img.manifest_media_type(), "digest": img.manifest_digest(),
        "size": img.manifest_bytes().len(),
        "annotations": {"io.containerd.image.name": format!("docker.io/library/{tag}"),
                        "org.opencontainers.image.ref.name": tag.split(':').nth(1).unwrap()}}]});
    add("index.json", &serde_json::to_vec(&index).unwrap());
    let manifest = json!([{"Config": blob(&img.config_digest()), "RepoTags": [tag],
        "Layers": img.layers.iter().map(|l| blob(&l.digest)).collect::<Vec<_>>()}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap()
}

#[test]
fn load_archives_from_docker_and_podman() {
    let Some(reg) = Registry::open() else { return };
    let Some(plain) = two_layer_image(Format::Oci, Comp::None, "docker\n") else {
        return;
    };
    let Some(gz) = two_layer_image(Format::Docker, Comp::Gzip, "podman\n") else {
        return;
    };
    for_each_user("load_foreign", |ctx| {
        // docker save's layout, by hand; also with gzip layers.
        let path = ctx.write_file("docker.tar", &docker_save_archive(&plain, "dk:v1"));
        let out = ctx.ok(&["load", "-i", path.to_str().unwrap()]);
        assert_eq!(out.stdout.trim(), "Loaded image: dk:v1");
        assert_eq!(run_sh(ctx, "dk:v1", "cat /etc/marker"), "docker\n");
        let path = ctx.write_file("docker-gz.tar", &docker_save_archive(&gz, "dkgz:v1"));
        ctx.ok(&["load", "-i", path.to_str().unwrap()]);
        assert_eq!(run_sh(ctx, "dkgz:v1", "cat /etc/marker"), "podman\n");

        // podman save, both formats, with a private podman store.
        if Command::new("podman").arg("--version").output().is_err() {
            skip("podman is not installed: no podman interop check");
            return;
        }
        // Rootless podman leaves a pause process per user; ours goes at the end.
        let pause_file = format!("/run/user/{}/libpod/tmp/pause.pid", ctx.user.uid);
        let pause_before = fs::read_to_string(&pause_file).ok();
        let pushed = reg.push(&ctx.repo("pod"), "v1", &gz);
        let pod = ctx.work.join("podman");
        fs::create_dir(&pod).unwrap();
        ctx.give(&pod);
        let podman = |args: &[&str]| {
            let mut c = ctx.command(Path::new("/usr/bin/podman"));
            c.args(["--runtime", "runc", "--storage-driver", "vfs", "--root"])
                .arg(pod.join("root"))
                .arg("--runroot")
                .arg(pod.join("run"))
                .args(args);
            let out = run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "podman failed: {out}");
        };
        podman(&["pull", "-q", "--tls-verify=false", &pushed.reference]);
        let pd = pod.join("pd.tar");
        let po = pod.join("po.tar");
        podman(&["save", "-o", pd.to_str().unwrap(), &pushed.reference]);
        podman(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            po.to_str().unwrap(),
            &pushed.reference,
        ]);
        for archive in [&pd, &po] {
            let s = fresh(ctx, "p");
            let out = s.ok(&["load", "-i", archive.to_str().unwrap()]);
            assert!(out.stdout.contains(&pushed.reference), "{out}");
            // podman converts a docker image to OCI (another config, so
            // another id) in an oci-archive; the docker-archive keeps it.
            if archive == &pd {
                assert!(s.image_entry(&pushed.id).is_some(), "{out}");
            }
            assert_eq!(run_sh(&s, &pushed.reference, "cat /etc/marker"), "podman\n");
        }
        // And podman loads what rless saves.
        for format in ["docker-archive", "oci-archive"] {
            let f = ctx.work.join(format!("{format}.tar"));
            ctx.ok(&["pull", &pushed.reference]);
            ctx.ok(&[
                "save",
                "--format",
                format,
                "-o",
                f.to_str().unwrap(),
                &pushed.reference,
            ]);
            podman(&["rmi", "-a", "-f"]);
            podman(&["load", "-q", "-i", f.to_str().unwrap()]);
            podman(&["image", "exists", &pushed.reference]);
        }
        let pause_after = fs::read_to_string(&pause_file).ok();
        if let Some(pid) = pause_after.filter(|p| Some(p) != pause_before.as_ref()) {
            if let Some(pid) = pid
                .trim()
                .parse()
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    });
}

/// A docker-archive (old style: `<id>.json`, `<diffid>.tar`) of one image.
fn docker_archive(img: &Built, tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut names = Vec::new();
    for (l, data) in img.layers.iter().zip(layers) {
        let name = format!("{}.tar", l.diff_id.trim_start_matches("sha256:"));
        add(&name, data);
        names.push(name);
    }
    add(&format!("{}.json", img.id()), &img.config_bytes());
    let manifest =
        json!([{"Config": format!("{}.json", img.id()), "RepoTags": [tag], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap()
}

#[test]
fn bad_input() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("xfer_bad_input", |ctx| {
        let one = Built::host(Format::Oci, &[(bb, Comp::None)]);
        let pushed = reg.push(&ctx.repo("one"), "v1", &one);
        ctx.pull(&[&pushed.reference]);
        let dest = format!("{}/{}:x", reg.host, ctx.repo("bad"));

        // push
        ctx.fail_unchanged(&["push", "nosuch:v1", &dest]);
        ctx.fail_unchanged(&["push", &pushed.reference, "Bad//Ref"]);
        ctx.fail_unchanged(&["push", &pushed.id]);
        ctx.fail_unchanged(&[
            "push",
            &pushed.reference,
            &format!(
                "{}@{}",
                dest.rsplit_once(':').unwrap().0,
                pushed.manifest_digest
            ),
        ]);
        ctx.fail_unchanged(&["push", &pushed.reference, "127.0.0.1:1/x/y:z"]);
        ctx.fail_unchanged(&["push", "--creds", "nocolon", &pushed.reference, &dest]);

        // save
        let out = ctx.work.join("out.tar");
        let o = out.to_str().unwrap();
        ctx.fail_unchanged(&["save", "-o", o, "nosuch:v1"]);
        ctx.fail_unchanged(&["save", "-o", o, &pushed.reference, "nosuch:v1"]);
        ctx.fail_unchanged(&["save", "--format", "zip", "-o", o, &pushed.reference]);
        assert!(!out.exists(), "no output after a failed save");
        let locked = ctx.work.join("locked");
        fs::create_dir(&locked).unwrap(); // root's, 0755: not writable by the user
        let target = locked.join("x.tar");
        if ctx.user.switch {
            ctx.fail_unchanged(&["save", "-o", target.to_str().unwrap(), &pushed.reference]);
            assert!(
                list_names(&locked).is_empty(),
                "nothing written in {}",
                locked.display()
            );
        }
        ctx.fail_unchanged(&["save", "-o", ctx.work.to_str().unwrap(), &pushed.reference]);
        let debris: Vec<_> = list_names(&ctx.work)
            .into_iter()
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(debris.is_empty(), "temporary files left: {debris:?}");
        ctx.fail_unchanged(&["save", "-o", "/nonexistent/dir/x.tar", &pushed.reference]);

        // A blob missing from the store: push and save fail cleanly.
        let victim = ctx.blob_path(&pushed.layer_digests[0]);
        let kept = fs::read(&victim).unwrap();
        fs::remove_file(&victim).unwrap();
        let out = ctx.fail_unchanged(&["push", &pushed.reference, &dest]);
        assert!(out.stderr.contains("not in the store"), "{out}");
        ctx.fail_unchanged(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            o,
            &pushed.reference,
        ]);
        ctx.fail_unchanged(&["save", "-o", o, &pushed.reference]);
        assert!(
            !out_exists(&ctx.work, "out.tar"),
            "no output or temporary file"
        );
        fs::write(&victim, kept).unwrap();
        ctx.give(&victim);

        // load: missing, not an archive, empty, a directory
        ctx.fail_unchanged(&["load", "-i", ctx.work.join("missing.tar").to_str().unwrap()]);
        let junk = ctx.write_file("junk.tar", b"this is not a tar file at all\n");
        ctx.fail_unchanged(&["load", "-i", junk.to_str().unwrap()]);
        ctx.fail_unchanged(&["load", "-i", ctx.work.to_str().unwrap()]);
        let before = ctx.snapshot();
        let out = ctx.rless_stdin(&["load"], b"");
        out.assert_rless_error();
        ctx.snapshot().assert_same(&before, "load of empty stdin");
        let empty_tar = ctx.write_file(
            "empty.tar",
            &tar::Builder::new(Vec::new()).into_inner().unwrap(),
        );
        ctx.fail_unchanged(&["load", "-i", empty_tar.to_str().unwrap()]);

        // A good archive, then damaged copies of it, loaded into a store
        // without the layer (a present layer is not read again).
        let oci = ctx.work.join("o.tar");
        ctx.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci.to_str().unwrap(),
            &pushed.reference,
        ]);
        let ctx = &fresh(ctx, "l");
        ctx.ok(&["images"]);
        let layer = bb.to_vec();
        let good = docker_archive(&one, "good:v1", std::slice::from_ref(&layer));
        let truncated = ctx.write_file("trunc.tar", &good[..good.len() / 2]);
        let out = ctx.fail_unchanged(&["load", "-i", truncated.to_str().unwrap()]);
        assert!(out.stderr.contains("trunc"), "{out}");
        let mut flipped = layer.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0xff;
        let corrupt = ctx.write_file("corrupt.tar", &docker_archive(&one, "bad:v1", &[flipped]));
        let out = ctx.fail_unchanged(&["load", "-i", corrupt.to_str().unwrap()]);
        assert!(out.stderr.contains("hashes to"), "diff id mismatch: {out}");
        // The config does not match the digest its name claims.
        let mut renamed = one.clone();
        renamed.config["config"]["Cmd"] = json!(["changed"]);
        let mut archive = docker_archive(&renamed, "bad:v1", std::slice::from_ref(&layer));
        let (old, new) = (renamed.id(), one.id());
        replace_all(&mut archive, old.as_bytes(), new.as_bytes());
        let mismatch = ctx.write_file("mismatch.tar", &archive);
        let out = ctx.fail_unchanged(&["load", "-i", mismatch.to_str().unwrap()]);
        assert!(out.stderr.contains("hashes to"), "config digest: {out}");
        // An oci-archive whose layer blob was changed.
        let mut bytes = fs::read(&oci).unwrap();
        let pos = find(&bytes, b"bin/busybox").expect("layer in archive") + 600;
        bytes[pos] ^= 0xff;
        let tampered = ctx.write_file("tampered.tar", &bytes);
        let out = ctx.fail_unchanged(&["load", "-i", tampered.to_str().unwrap()]);
        assert!(out.stderr.contains("hashes to"), "{out}");
        // A bad name inside the archive.
        let badname = ctx.write_file(
            "badname.tar",
            &docker_archive(&one, "Bad Name", std::slice::from_ref(&layer)),
        );
        ctx.fail_unchanged(&["load", "-i", badname.to_str().unwrap()]);
    });
}

/// Whether `name` or a temporary file for it exists in `dir`.
fn out_exists(dir: &Path, name: &str) -> bool {
    list_names(dir).iter().any(|n| n.contains(name))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace_all(hay: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while let Some(p) = find(&hay[i..], from) {
        hay[i + p..i + p + to.len()].copy_from_slice(to);
        i += p + to.len();
    }
    // Tar header checksums cover names: recompute them.
    let mut off = 0;
    while off + 512 <= hay.len() {
        let h = tar::Header::from_byte_slice(&hay[off..off + 512]).clone();
        if h.as_bytes().iter().all(|b| *b == 0) {
            break;
        }
        let mut h2 = h.clone();
        h2.set_cksum();
        hay[off..off + 512].copy_from_slice(h2.as_bytes());
        let size = h.entry_size().unwrap();
        off += 512 + size.div_ceil(512) as usize * 512;
    }
}

#[test]
fn load_hostile_layers_stays_inside() {
    for_each_user("load_hostile", |ctx| {
        for (case, tar) in hostile_tars(&ctx.work) {
            prepare_outside(ctx);
            let img = Built::host(Format::Oci, &[(&tar, Comp::None)]);
            let path: PathBuf = ctx.write_file(
                &format!("{case}.tar"),
                &docker_archive(&img, "hostile:v1", std::slice::from_ref(&tar)),
            );
            let out = ctx.rless(&["load", "-i", path.to_str().unwrap()]);
            if !out.success() {
                out.assert_rless_error();
            }
            assert_no_escape(ctx, case);
        }
    });
}
