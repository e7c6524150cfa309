//! `rless pull` against real registries (see tests/run.sh).

mod common;

use common::oci::{busybox, busybox_layer, compress, Built, Comp, Format, LayerBuilder, Registry};
use common::{
    for_each_user, host_arch_or_skip, inode_times, is_opaque, is_whiteout, other_arch, owner_mode,
    skip, Mode,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Base layer: busybox plus things the upper layer deletes or hides.
fn base_layer(bb: &[u8]) -> Vec<u8> {
    LayerBuilder::new()
        .busybox(bb)
        .file("etc/removed", b"gone soon\n", 0o644)
        .file("etc/kept", b"still here\n", 0o644)
        .dir("opq", 0o755)
        .file("opq/old1", b"old\n", 0o644)
        .file("opq/old2", b"old\n", 0o644)
        .finish()
}

/// Upper layer with a whiteout and an opaque dir.
fn top_layer(tag: &str) -> Vec<u8> {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .whiteout("etc", "removed")
        .dir("opq", 0o755)
        .opaque("opq")
        .file("opq/new", b"new\n", 0o644)
        .file(&format!("top-{tag}"), tag.as_bytes(), 0o600)
        .finish()
}

fn check_busybox_tree(diff: &Path, bb: &[u8]) {
    let md = fs::metadata(diff.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("{}/bin/busybox: {e}", diff.display()));
    assert_eq!(md.len(), bb.len() as u64, "busybox size");
    assert_eq!(md.mode() & 0o777, 0o755, "busybox mode");
    assert_eq!(
        fs::read_link(diff.join("bin/sh")).unwrap(),
        Path::new("busybox"),
        "bin/sh symlink"
    );
}

#[test]
fn pull_docker_gzip_whiteouts_and_shared_base() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    let base = base_layer(bb);
    let (top_a, top_b) = (top_layer("a"), top_layer("b"));
    for_each_user("pull_docker_gzip", |ctx| {
        let a = Built::host(Format::Docker, &[(&base, Comp::Gzip), (&top_a, Comp::Gzip)]);
        let b = Built::host(Format::Docker, &[(&base, Comp::Gzip), (&top_b, Comp::Gzip)]);
        let pa = reg.push(&ctx.repo("a"), "latest", &a);
        let pb = reg.push(&ctx.repo("b"), "v1", &b);

        let id = ctx.pull(&[&pa.reference]);
        assert_eq!(id, a.id(), "pull must print the config digest hex");

        // config blob stored under its digest
        let cfg = fs::read(ctx.blob_path(&pa.config_digest)).expect("config blob in blobs/sha256");
        assert_eq!(cfg, a.config_bytes());

        let lower = ctx.layer_diff(&a.layers[0].diff_id);
        let upper = ctx.layer_diff(&a.layers[1].diff_id);
        check_busybox_tree(&lower, bb);
        assert_eq!(fs::read(lower.join("etc/removed")).unwrap(), b"gone soon\n");
        assert!(lower.join("opq/old1").exists());
        assert!(
            is_whiteout(&upper.join("etc"), "removed"),
            "etc/removed whiteout missing in {}",
            upper.display()
        );
        assert!(
            is_opaque(&upper.join("opq")),
            "opq is not marked opaque in {}",
            upper.display()
        );
        assert_eq!(fs::read(upper.join("opq/new")).unwrap(), b"new\n");
        assert!(!upper.join("opq/old1").exists());
        assert_eq!(fs::read(upper.join("top-a")).unwrap(), b"a");
        assert_eq!(owner_mode(&upper.join("top-a")).2, 0o600);

        // a second image with the same base shares its layer
        let id_b = ctx.pull(&[&pb.reference]);
        assert_eq!(id_b, b.id());
        let want: std::collections::BTreeSet<String> = [&a.layers[0], &a.layers[1], &b.layers[1]]
            .iter()
            .map(|l| l.diff_id.trim_start_matches("sha256:").to_string())
            .collect();
        assert_eq!(
            ctx.layer_dirs(),
            want,
            "layers/ must hold exactly one dir per distinct diff id"
        );
        assert_eq!(ctx.image_ids(), [a.id(), b.id()].into_iter().collect());
    });
}

#[test]
fn pull_oci_zstd() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let extra = LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/hello", b"zstd\n", 0o644)
        .finish();
    for_each_user("pull_oci_zstd", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Zstd), (&extra, Comp::Zstd)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        assert_eq!(ctx.pull(&[&p.reference]), img.id());
        check_busybox_tree(&ctx.layer_diff(&img.layers[0].diff_id), busybox().unwrap());
        assert_eq!(
            fs::read(ctx.layer_diff(&img.layers[1].diff_id).join("data/hello")).unwrap(),
            b"zstd\n"
        );
        let inspect = ctx.inspect(&p.reference);
        assert_eq!(
            inspect["RootFS"]["Layers"],
            serde_json::json!(img.diff_ids())
        );
    });
}

#[test]
fn pull_uncompressed_layer() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let extra = LayerBuilder::new()
        .file("plain", b"no compression\n", 0o644)
        .finish();
    for_each_user("pull_uncompressed", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip), (&extra, Comp::None)]);
        assert_eq!(img.layers[1].digest, img.layers[1].diff_id);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        assert_eq!(ctx.pull(&[&p.reference]), img.id());
        assert_eq!(
            fs::read(ctx.layer_diff(&img.layers[1].diff_id).join("plain")).unwrap(),
            b"no compression\n"
        );
    });
}

#[test]
fn pull_quiet_prints_only_the_id() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_quiet", |ctx| {
        let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        let out = ctx.ok(&["pull", "-q", &p.reference]);
        assert_eq!(
            out.stdout,
            format!("{}\n", img.id()),
            "pull -q stdout: {out}"
        );
    });
}

#[test]
fn pull_multiarch_index_selects_platform() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let Some(host) = host_arch_or_skip() else {
        return;
    };
    let other = other_arch();
    for_each_user("pull_multiarch", |ctx| {
        let arch_layer = |a: &str| {
            LayerBuilder::new()
                .file("arch", format!("{a}\n").as_bytes(), 0o644)
                .finish()
        };
        let (lh, lo) = (arch_layer(host), arch_layer(other));
        let img_host = Built::new(Format::Oci, host, &[(bb, Comp::Gzip), (&lh, Comp::Gzip)]);
        let img_other = Built::new(Format::Oci, other, &[(bb, Comp::Gzip), (&lo, Comp::Gzip)]);
        let repo = ctx.repo("multi");
        let index_digest =
            reg.push_index(&repo, "latest", &[(host, &img_host), (other, &img_other)]);
        let reference = format!("{}/{}:latest", reg.host, repo);

        let id = ctx.pull(&[&reference]);
        assert_eq!(
            id,
            img_host.id(),
            "default platform must be the host's ({host})"
        );
        assert_eq!(ctx.inspect(&id)["Architecture"], host);
        let arch_file = ctx.layer_diff(&img_host.layers[1].diff_id).join("arch");
        assert_eq!(fs::read_to_string(arch_file).unwrap(), format!("{host}\n"));

        let platform = format!("linux/{other}");
        let id2 = ctx.pull(&["--platform", &platform, &reference]);
        assert_eq!(id2, img_other.id(), "--platform {platform}");
        assert_eq!(ctx.inspect(&id2)["Architecture"], other);
        let arch_file = ctx.layer_diff(&img_other.layers[1].diff_id).join("arch");
        assert_eq!(fs::read_to_string(arch_file).unwrap(), format!("{other}\n"));

        // by digest of the index, with an explicit platform
        let by_digest = format!("{}/{}@{}", reg.host, repo, index_digest);
        assert_eq!(
            ctx.pull(&["--platform", &format!("linux/{host}"), &by_digest]),
            img_host.id()
        );

        // a platform the index does not have
        ctx.fail_unchanged(&["pull", "--platform", "linux/s390x", &reference]);
    });
}

#[test]
fn pull_single_platform_image_checks_platform() {
    let Some(reg) = Registry::open() else { return };
    let Some(host) = host_arch_or_skip() else {
        return;
    };
    let other = other_arch();
    for_each_user("pull_platform_mismatch", |ctx| {
        // A plain manifest (no index) for another architecture.
        let layer = LayerBuilder::new()
            .file("arch", format!("{other}\n").as_bytes(), 0o644)
            .finish();
        let img = Built::new(Format::Oci, other, &[(&layer, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("single"), "latest", &img);
        ctx.ok(&["images"]); // initialise the store so the snapshot is meaningful

        // docker: "… was found but does not match the specified platform".
        let wanted = format!("linux/{host}");
        let out = ctx.fail_unchanged(&["pull", "--platform", &wanted, &p.reference]);
        for want in ["does not match", &wanted, &format!("linux/{other}")] {
            assert!(
                out.stderr.contains(want),
                "the error must name {want:?}: {out}"
            );
        }

        // Asked for what it is, it is pulled.
        let id = ctx.pull(&["--platform", &format!("linux/{other}"), &p.reference]);
        assert_eq!(id, img.id());
        ctx.ok(&["rmi", &p.reference]);

        // Without --platform it is pulled as before, with a warning.
        let out = ctx.ok(&["pull", &p.reference]);
        assert_eq!(out.last_line(), img.id(), "{out}");
        assert!(out.stderr.contains("does not match"), "{out}");
    });
}

#[test]
fn pull_by_digest() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_by_digest", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        // move the tag away: the digest must still resolve to the original
        let other_layer = LayerBuilder::new().file("other", b"x", 0o644).finish();
        let other = Built::host(Format::Oci, &[(bb, Comp::Gzip), (&other_layer, Comp::Gzip)]);
        reg.push(&p.repo, "latest", &other);

        assert_eq!(ctx.pull(&[&p.by_digest()]), img.id());
        let entry = ctx
            .image_entry(&img.id())
            .expect("image listed after pull by digest");
        assert_eq!(entry["Digest"], p.manifest_digest);
        assert_eq!(ctx.inspect(&img.id())["Digest"], p.manifest_digest);
        // Listed under its repository, with no tag, as docker does.
        let table = ctx.ok(&["images"]);
        let id = img.id();
        let short = &id.trim_start_matches("sha256:")[..12];
        let row = table.stdout.lines().find(|l| l.contains(short));
        let want = format!("{}/{}", reg.host, p.repo);
        assert!(
            row.is_some_and(|r| r.split_whitespace().take(2).eq([want.as_str(), "<none>"])),
            "{table}"
        );

        // a digest that is not in the repository
        let missing = format!("{}/{}@sha256:{}", reg.host, p.repo, "0".repeat(64));
        ctx.fail_unchanged(&["pull", &missing]);
    });
}

#[test]
fn pull_auth_creds_login_logout() {
    let Some(reg) = Registry::auth() else { return };
    let Some(bb) = busybox_layer() else { return };
    let (user, pass) = reg.creds.clone().unwrap();
    for_each_user("pull_auth", |ctx| {
        let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        let r = p.reference.as_str();
        let auth_file = ctx.user.runtime_dir().join("containers/auth.json");

        // start logged out (a previous run may have left credentials)
        let _ = ctx.rless(&["logout", &reg.host]);
        ctx.ok(&["images"]); // initialise the store so the snapshot is meaningful

        ctx.fail_unchanged(&["pull", r]);
        ctx.fail_unchanged(&["pull", "--creds", &format!("{user}:wrong-password"), r]);
        ctx.fail_unchanged(&["pull", "--creds", &format!("nobody:{pass}"), r]);

        assert_eq!(
            ctx.pull(&["--creds", &format!("{user}:{pass}"), r]),
            img.id()
        );
        ctx.ok(&["rmi", "-f", r]);

        // login with a wrong password is refused and stores nothing
        ctx.fail(&["login", "-u", &user, "-p", "wrong-password", &reg.host]);
        if let Ok(text) = fs::read_to_string(&auth_file) {
            assert!(
                !text.contains(&reg.host),
                "failed login stored credentials: {text}"
            );
        }

        let out = ctx.rless_stdin(
            &["login", "-u", &user, "--password-stdin", &reg.host],
            format!("{pass}\n").as_bytes(),
        );
        assert!(out.success(), "login --password-stdin: {out}");
        let text = fs::read_to_string(&auth_file).expect("auth.json after login");
        assert!(
            text.contains(&reg.host),
            "auth.json lacks {}: {text}",
            reg.host
        );
        assert!(
            !text.contains(&pass),
            "auth.json must not hold the password in clear"
        );
        assert_eq!(ctx.pull(&[r]), img.id(), "pull after login");
        ctx.ok(&["rmi", "-f", r]);

        ctx.ok(&["logout", &reg.host]);
        if let Ok(text) = fs::read_to_string(&auth_file) {
            assert!(!text.contains(&reg.host), "logout left credentials: {text}");
        }
        ctx.fail_unchanged(&["pull", r]);

        // -p form
        ctx.ok(&["login", "-u", &user, "-p", &pass, &reg.host]);
        assert_eq!(ctx.pull(&[r]), img.id(), "pull after login -p");
        ctx.ok(&["logout", &reg.host]);
    });
}

/// docker's credential helpers, named in the auth file's `credHelpers`
/// (per registry) or `credsStore`: each is a real program on PATH speaking
/// the helper protocol (the server on stdin, JSON on stdout).
#[test]
fn pull_auth_credential_helpers() {
    use std::os::unix::fs::PermissionsExt;
    let Some(reg) = Registry::auth() else { return };
    let Some(bb) = busybox_layer() else { return };
    let (user, pass) = reg.creds.clone().unwrap();
    for_each_user("pull_cred_helpers", |ctx| {
        let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        let r = p.reference.as_str();
        let asked = ctx.work.join("asked");
        let helpers = [
            (
                "rlt",
                format!(
                    "read -r server; printf '%s' \"$server\" > {asked}\n\
                     if [ \"$1\" = get ] && [ \"$server\" = {host} ]; then\n\
                     printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{pass}\"}}' \"$server\"\n\
                     else echo 'credentials not found in native keychain'; exit 1; fi\n",
                    asked = asked.display(),
                    host = reg.host,
                ),
            ),
            ("broken", "echo 'gpg: decryption failed: No secret key' >&2; exit 1\n".to_string()),
            ("token", "echo '{\"Username\":\"<token>\",\"Secret\":\"x\"}'\n".to_string()),
        ];
        for (name, body) in &helpers {
            let f = ctx.write_file(
                &format!("bin/docker-credential-{name}"),
                format!("#!/bin/sh\n{body}").as_bytes(),
            );
            fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let auth = ctx.work.join("auth.json");
        let pull = |config: serde_json::Value| {
            ctx.write_file("auth.json", config.to_string().as_bytes());
            let mut c = ctx.rless_cmd(&["pull", "-q", r]);
            c.env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    ctx.work.join("bin").display()
                ),
            )
            .env("REGISTRY_AUTH_FILE", &auth);
            common::out::run_cmd(c, None, std::time::Duration::from_secs(120), &ctx.user.name)
        };
        ctx.ok(&["images"]);
        let host = reg.host.as_str();

        // credHelpers for this registry; then credsStore for all.
        let out = pull(serde_json::json!({"credHelpers": {host: "rlt"}}));
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id());
        assert_eq!(fs::read_to_string(&asked).unwrap(), reg.host);
        ctx.ok(&["rmi", "-f", r]);
        let out = pull(serde_json::json!({"credsStore": "rlt"}));
        assert!(out.success(), "{out}");
        ctx.ok(&["rmi", "-f", r]);

        // A helper that fails, one that is missing, one that gives an
        // identity token: one line naming it, exit 125, nothing pulled.
        let before = ctx.snapshot();
        for (config, says) in [
            (
                serde_json::json!({"credHelpers": {host: "broken"}}),
                "docker-credential-broken failed",
            ),
            (
                serde_json::json!({"credHelpers": {host: "nosuch"}}),
                "docker-credential-nosuch is not installed",
            ),
            (
                serde_json::json!({"credHelpers": {host: "token"}}),
                "identity token",
            ),
        ] {
            let out = pull(config);
            out.assert_rless_error();
            assert!(out.stderr.contains(says), "want {says:?}: {out}");
            ctx.snapshot().assert_same(&before, &out.cmdline);
        }
        // A credsStore this machine lacks (a config copied from a desktop)
        // is a warning: the pull goes on anonymously (and is refused here).
        let out = pull(serde_json::json!({"credsStore": "desktop"}));
        assert!(!out.success(), "{out}");
        assert!(
            out.stderr
                .contains("warning: credential helper docker-credential-desktop is not installed"),
            "{out}"
        );
    });
}

#[test]
fn second_pull_downloads_nothing() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let top = LayerBuilder::new()
        .file("second", b"pull\n", 0o644)
        .finish();
    for_each_user("second_pull", |ctx| {
        let img = Built::host(Format::Docker, &[(bb, Comp::Gzip), (&top, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        assert_eq!(ctx.pull(&[&p.reference]), img.id());
        let blobs = inode_times(&ctx.root.join("blobs/sha256"));
        let layers = inode_times(&ctx.root.join("layers"));

        // Remove every blob from the repository: a pull that needs any
        // blob now fails, one that only resolves the manifest succeeds.
        for d in p.layer_digests.iter().chain([&p.config_digest]) {
            let status = reg.delete_blob(&p.repo, d);
            assert_eq!(
                status, 202,
                "registry refused DELETE of {d} (storage.delete.enabled?)"
            );
            assert!(!reg.blob_exists(&p.repo, d));
        }
        assert_eq!(
            ctx.pull(&[&p.reference]),
            img.id(),
            "second pull must not need blobs"
        );
        assert_eq!(
            inode_times(&ctx.root.join("blobs/sha256")),
            blobs,
            "blobs were rewritten"
        );
        assert_eq!(
            inode_times(&ctx.root.join("layers")),
            layers,
            "layers were rewritten"
        );
    });
}

#[test]
fn pull_maps_ownership() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let owned = LayerBuilder::new()
        .dir("owned", 0o755)
        .file_owned("owned/root", b"0", 0o644, 0, 0)
        .file_owned("owned/one", b"1", 0o640, 1, 1)
        .file_owned("owned/thousand", b"1000", 0o600, 1000, 1000)
        .file_owned("owned/nobody", b"65534", 0o755, 65534, 65534)
        .file_owned("owned/mixed", b"x", 0o644, 33, 0)
        .dir_owned("owned/dir", 0o750, 1000, 1000)
        .finish();
    for_each_user("pull_ownership", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip), (&owned, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        ctx.pull(&[&p.reference]);
        let diff = ctx.layer_diff(&img.layers[1].diff_id);
        let u = &ctx.user;
        if u.mode == Mode::Subuid {
            assert!(
                u.subuid.is_some() && u.subgid.is_some(),
                "subuid user without ranges"
            );
        }
        for (name, uid, gid, mode) in [
            ("root", 0, 0, 0o644),
            ("one", 1, 1, 0o640),
            ("thousand", 1000, 1000, 0o600),
            ("nobody", 65534, 65534, 0o755),
            ("mixed", 33, 0, 0o644),
            ("dir", 1000, 1000, 0o750),
        ] {
            let got = owner_mode(&diff.join("owned").join(name));
            let want = (u.host_uid(uid), u.host_gid(gid), mode);
            assert_eq!(
                got,
                want,
                "owned/{name} (image {uid}:{gid}) as {} in {} mode",
                u.name,
                u.mode.as_str()
            );
        }
        let bin = owner_mode(&ctx.layer_diff(&img.layers[0].diff_id).join("bin/busybox"));
        assert_eq!(
            (bin.0, bin.1),
            (u.uid, u.gid),
            "root-owned files belong to the user"
        );
    });
}

#[test]
fn pull_errors_leave_store_unchanged() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_errors", |ctx| {
        let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "latest", &img);
        ctx.pull(&[&p.reference]);

        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cases = [
            format!("{}/{}:no-such-tag", reg.host, p.repo),
            format!("{}/{}/does-not-exist:latest", reg.host, p.repo),
            format!("127.0.0.1:{closed}/{}:latest", p.repo),
            "UPPER/case".to_string(),
            "a::b".to_string(),
            "@sha256:zz".to_string(),
            format!("{}/{}@sha256:zz", reg.host, p.repo),
            format!("{}/{}:bad tag", reg.host, p.repo),
            String::new(),
        ];
        for r in &cases {
            ctx.fail_unchanged(&["pull", r]);
        }
        // unknown platform syntax
        ctx.fail_unchanged(&["pull", "--platform", "notaplatform", &p.reference]);
        // no reference: the message names what is missing
        let out = ctx.fail_unchanged(&["pull"]);
        assert!(out.stderr.contains("<REFERENCE>"), "{out}");
        assert_eq!(ctx.image_ids(), [img.id()].into_iter().collect());
    });
}

#[test]
fn pull_rejects_corrupt_layers() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_corrupt", |ctx| {
        let base = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("base"), "latest", &base);
        ctx.pull(&[&p.reference]);

        // A fresh layer per case, unique to this test and user.
        let unique = |case: &str| {
            let mut b = LayerBuilder::new().dir("data", 0o755);
            for i in 0..64 {
                b = b.file(
                    &format!("data/{case}-{i}"),
                    format!("{} {case} {i}\n", ctx.repo(case))
                        .repeat(50)
                        .as_bytes(),
                    0o644,
                );
            }
            b.finish()
        };

        // 1. config diff_id does not match the layer
        let mut img = Built::host(
            Format::Docker,
            &[(bb, Comp::Gzip), (&unique("diffid"), Comp::Gzip)],
        );
        img.config["rootfs"]["diff_ids"][1] =
            serde_json::json!(format!("sha256:{}", "1".repeat(64)));
        let q = reg.push(&ctx.repo("diffid"), "latest", &img);
        ctx.fail_unchanged(&["pull", &q.reference]);

        // 2. layer descriptor names another blob (the config, not a tar)
        let mut img = Built::host(
            Format::Docker,
            &[(bb, Comp::Gzip), (&unique("wrongdesc"), Comp::Gzip)],
        );
        let cfg = img.config_bytes();
        img.layers[1].digest = common::oci::digest_of(&cfg);
        img.layers[1].size = cfg.len() as u64;
        let q = reg.push(&ctx.repo("wrongdesc"), "latest", &img);
        ctx.fail_unchanged(&["pull", &q.reference]);

        // 3. truncated gzip stream (a valid blob of its own)
        let tar = unique("trunc");
        let mut img = Built::host(Format::Docker, &[(bb, Comp::Gzip), (&tar, Comp::Gzip)]);
        let full = compress(&tar, Comp::Gzip);
        let cut = full[..full.len() / 2].to_vec();
        img.layers[1].digest = common::oci::digest_of(&cut);
        img.layers[1].size = cut.len() as u64;
        img.layers[1].blob = cut;
        let q = reg.push(&ctx.repo("trunc"), "latest", &img);
        ctx.fail_unchanged(&["pull", &q.reference]);

        // 4. descriptor size larger than the blob
        let mut img = Built::host(
            Format::Oci,
            &[(bb, Comp::Gzip), (&unique("size"), Comp::Gzip)],
        );
        img.layers[1].size += 1000;
        let q = reg.push(&ctx.repo("size"), "latest", &img);
        ctx.fail_unchanged(&["pull", &q.reference]);

        // 5. blob bytes corrupted inside the registry's storage
        match Registry::storage_dir() {
            None => skip("RLESS_TEST_REGISTRY_DIR not set: cannot corrupt a stored blob"),
            Some(dir) => {
                let img = Built::host(
                    Format::Docker,
                    &[(bb, Comp::Gzip), (&unique("ondisk"), Comp::Gzip)],
                );
                let q = reg.push(&ctx.repo("ondisk"), "latest", &img);
                let hex = img.layers[1].digest.trim_start_matches("sha256:");
                let data = dir.join(format!(
                    "docker/registry/v2/blobs/sha256/{}/{hex}/data",
                    &hex[..2]
                ));
                let mut bytes =
                    fs::read(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
                // From the pushed bytes, not the stored ones: the blob is
                // shared by every run against this registry (the registry
                // skips pushing a blob it has), and flipping the stored
                // byte would undo the last run's corruption.
                let mid = bytes.len() / 2;
                bytes[mid] = img.layers[1].blob[mid] ^ 0x55;
                fs::write(&data, &bytes).unwrap();
                ctx.fail_unchanged(&["pull", &q.reference]);
            }
        }
        assert_eq!(ctx.image_ids(), [base.id()].into_iter().collect());
    });
}

#[test]
fn pull_hostile_layers_stay_inside() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_hostile", |ctx| {
        let base = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        ctx.pull(&[&reg.push(&ctx.repo("base"), "latest", &base).reference]);
        for (case, tar) in common::hostile::hostile_tars(&ctx.work) {
            common::hostile::prepare_outside(ctx);
            let img = Built::host(Format::Oci, &[(&tar, Comp::Gzip)]);
            let p = reg.push(&ctx.repo(case), "latest", &img);
            let before = ctx.snapshot();
            let out = ctx.rless(&["pull", &p.reference]);
            if !out.success() {
                out.assert_rless_error();
                ctx.snapshot()
                    .assert_same(&before, &format!("hostile pull {case}"));
            }
            common::hostile::assert_no_escape(ctx, case);
        }
    });
}
