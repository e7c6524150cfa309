//! `rless load` of archives made elsewhere (docker save's layouts, by
//! hand; podman's, with podman, which loads what rless saves too), bad
//! input to push, save and load (damaged, truncated, tampered archives:
//! one `rless:` line, nothing left), and hostile layers that must stay
//! inside the store. Round trips are in `transfer.rs`.

mod common;

use common::hostile::{assert_no_escape, hostile_tars, prepare_outside};
use common::oci::{busybox_layer, Built, Comp, Format, Registry};
use common::transfer_helpers::*;
use common::{for_each_user, list_names, run_cmd, skip, CMD_TIMEOUT};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

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
