//! docker's and podman's `build` options beyond the core ones: `--pull`
//! (always, missing, newer, never) against the local registry, where the
//! tag moves between builds; `--iidfile`, `--label`, `--platform`,
//! `--cache-from`; and the RUN steps' `--add-host` and `--ulimit`.

mod common;

use common::checks::*;
use common::oci::{busybox, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, Ctx, ERR_EXIT};

/// A busybox image whose `/version` holds `v`.
fn versioned(bb: &[u8], v: &str) -> Built {
    let layer = LayerBuilder::new()
        .busybox(bb)
        .file("version", v.as_bytes(), 0o644)
        .finish();
    Built::host(Format::Oci, &[(&layer, Comp::Gzip)])
}

/// Writes a Containerfile with `body` under `WORK/name`; its directory.
fn context(ctx: &Ctx, name: &str, body: &str) -> String {
    ctx.write_file(&format!("{name}/Containerfile"), body.as_bytes());
    ctx.work.join(name).display().to_string()
}

#[test]
fn build_pull_policies() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    for_each_user("build_pull_policies", |ctx| {
        let repo = ctx.repo("base");
        let p1 = reg.push(&repo, "v", &versioned(bb, "one"));
        let base = p1.reference.clone();
        let dir = context(
            ctx,
            "c",
            &format!("FROM {base}\nRUN cat /version > /seen\n"),
        );
        let seen = |tag: &str| ctx.ok(&["run", "--rm", tag, "cat", "/seen"]).stdout;
        // never: the store lacks the base, so nothing is fetched.
        let out = ctx.rless(&["build", "--pull=never", "-t", "b0", &dir]);
        assert!(!out.success(), "{out}");
        assert!(out.stderr.contains("--pull=never"), "{out}");
        // missing (the default) pulls it once.
        ctx.ok(&["build", "-t", "b1", &dir]);
        assert_eq!(seen("b1"), "one");
        // The tag moves on the registry.
        reg.push(&repo, "v", &versioned(bb, "two"));
        ctx.ok(&["build", "--pull=missing", "--no-cache", "-t", "b2", &dir]);
        assert_eq!(seen("b2"), "one", "missing keeps the stored base");
        ctx.ok(&["build", "--pull", "--no-cache", "-t", "b3", &dir]);
        assert_eq!(seen("b3"), "two", "--pull takes the registry's");

        // A base whose registry cannot be reached: newer builds from the
        // stored one with a warning, always fails.
        let away = "127.0.0.1:1/away/base:v";
        ctx.ok(&["tag", &base, away]);
        let dir = context(ctx, "d", &format!("FROM {away}\nRUN true\n"));
        let out = ctx.ok(&["build", "--pull=newer", "-t", "b4", &dir]);
        assert!(out.stderr.contains("using the stored one"), "{out}");
        let out = ctx.rless(&["build", "--pull=always", "-t", "b5", &dir]);
        assert!(!out.success(), "{out}");
        let out = ctx.rless(&["build", "--pull=sometimes", &dir]);
        assert_one_error(&out, ERR_EXIT);
    });
}

#[test]
fn build_output_and_run_options() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    for_each_user("build_output_and_run_options", |ctx| {
        let p = reg.push(&ctx.repo("base"), "v", &versioned(bb, "one"));
        let dir = context(
            ctx,
            "c",
            &format!(
                "FROM {}\nRUN grep -q 'dbhost' /etc/hosts && ulimit -n > /nofile\nLABEL inside=1\n",
                p.reference
            ),
        );
        let iid = ctx.work.join("iid");
        let out = ctx.ok(&[
            "build",
            "-q",
            "--iidfile",
            iid.to_str().unwrap(),
            "--label",
            "team=hpc",
            "--label",
            "inside=2",
            "--platform",
            &format!("linux/{}", common::host_arch().unwrap_or("amd64")),
            "--cache-from",
            "example.invalid/cache",
            "--add-host",
            "dbhost:10.1.2.3",
            "--ulimit",
            "nofile=100:100",
            "-t",
            "flags",
            &dir,
        ]);
        let id = out.stdout.trim().to_string();
        assert_eq!(
            std::fs::read_to_string(&iid).unwrap(),
            format!("sha256:{id}")
        );
        assert!(out.stderr.contains("--cache-from"), "a warning: {out}");
        let labels = ctx.inspect("flags")["Config"]["Labels"].clone();
        assert_eq!(labels["team"], "hpc", "{labels}");
        assert_eq!(labels["inside"], "2", "--label wins over LABEL: {labels}");
        let r = ctx.ok(&["run", "--rm", "flags", "cat", "/nofile"]);
        assert_eq!(r.stdout.trim(), "100");
        // The history has no entry for --label.
        let h = ctx.ok(&["history", "-q", "flags"]).stdout.lines().count();
        let plain = ctx.ok(&[
            "build",
            "-q",
            "--add-host",
            "dbhost:10.1.2.3",
            "-t",
            "plain",
            &dir,
        ]);
        assert!(plain.success());
        assert_eq!(
            ctx.ok(&["history", "-q", "plain"]).stdout.lines().count(),
            h
        );

        // Another platform is refused before anything is made.
        let before = ctx.snapshot();
        let out = ctx.rless(&["build", "--platform", "linux/s390x", "-t", "no", &dir]);
        if common::host_arch() != Some("s390x") {
            assert_one_error(&out, ERR_EXIT);
            ctx.snapshot().assert_same(&before, &out.cmdline);
        }
    });
}

/// The stored manifest of image `id`: its media type and its layers'.
fn manifest_types(ctx: &Ctx, id: &str) -> (String, Vec<String>) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ctx.root.join("images/index.json")).unwrap())
            .unwrap();
    let rec = index["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"].as_str().unwrap().ends_with(id))
        .unwrap_or_else(|| panic!("{id} in {index}"));
    let digest = rec["manifest"].as_str().unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ctx.blob_path(digest)).unwrap()).unwrap();
    let layers = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect();
    (m["mediaType"].as_str().unwrap().to_string(), layers)
}

/// podman's `--format docker` on `build` and `commit`: the same image
/// (config) under docker's media types; `oci` is the default.
#[test]
fn build_and_commit_format() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    for_each_user("build_and_commit_format", |ctx| {
        let p = reg.push(&ctx.repo("base"), "v", &versioned(bb, "one"));
        let dir = context(
            ctx,
            "c",
            &format!("FROM {}\nRUN echo x > /x\n", p.reference),
        );
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        let out = ctx.ok(&["build", "-q", "--format", "docker", "-t", "d", &dir]);
        let (m, layers) = manifest_types(ctx, out.stdout.trim());
        assert_eq!(m, docker);
        assert!(
            layers
                .iter()
                .all(|l| l.starts_with("application/vnd.docker.image.rootfs.diff.tar")),
            "{layers:?}"
        );
        let out = ctx.ok(&["build", "-q", "-t", "o", &dir]);
        assert_eq!(
            manifest_types(ctx, out.stdout.trim()).0,
            "application/vnd.oci.image.manifest.v1+json"
        );
        ctx.ok(&["create", "--name", "c1", "o", "true"]);
        let out = ctx.ok(&["commit", "-q", "--format", "docker", "c1", "committed"]);
        assert_eq!(manifest_types(ctx, out.stdout.trim()).0, docker);
        for bad in [
            vec!["commit", "--format", "v1", "c1"],
            vec!["build", "--format", "v1", &dir],
        ] {
            assert_one_error(&ctx.rless(&bad), ERR_EXIT);
        }
        // It pushes as docker's, and pulls back as the same image.
        let dest = format!("{}/{}:d", reg.host, ctx.repo("pushed"));
        ctx.ok(&["push", "--tls-verify=false", "d", &dest]);
    });
}
