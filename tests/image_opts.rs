//! podman's options of the image commands that scripts pass: `pull --arch`
//! (with `--os`/`--variant`, a `--platform`), `import --arch/--os/--variant`
//! (what the image says it is for), `login --verbose` (which auth file),
//! `rmi --no-prune`, `save --compress/--uncompressed`, `update
//! --memory-swappiness` (a warning, as `run`'s).

mod common;

use common::oci::{Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, host_arch_or_skip, other_arch};

#[test]
fn image_platform_and_misc_options() {
    let Some(reg) = Registry::open() else { return };
    let Some(host) = host_arch_or_skip() else {
        return;
    };
    let auth = Registry::auth();
    let other = other_arch();
    for_each_user("image_platform_and_misc_options", |ctx| {
        let layer = |a: &str| {
            LayerBuilder::new()
                .file("arch", a.as_bytes(), 0o644)
                .finish()
        };
        let (lh, lo) = (layer(host), layer(other));
        let mine = Built::new(Format::Oci, host, &[(&lh, Comp::Gzip)]);
        let theirs = Built::new(Format::Oci, other, &[(&lo, Comp::Gzip)]);
        let repo = ctx.repo("multi");
        reg.push_index(&repo, "latest", &[(host, &mine), (other, &theirs)]);
        let r = format!("{}/{repo}:latest", reg.host);
        // --arch alone picks that architecture (the host's OS).
        assert_eq!(ctx.pull(&["--arch", other, &r]), theirs.id());
        assert_eq!(ctx.pull(&["--os", "linux", &r]), mine.id());
        assert!(!ctx
            .rless(&["pull", "--arch", other, "--platform", "linux/amd64", &r])
            .success());

        // import records the platform asked for.
        ctx.write_file("root/f", b"x\n");
        let dir = ctx.work.join("root").display().to_string();
        let id = ctx.ok(&["import", "--arch", other, &dir, "imp:1"]).stdout;
        let id = id.trim();
        let got = ctx
            .ok(&["inspect", "-f", "{{.Architecture}}/{{.Os}}", id])
            .stdout;
        assert_eq!(got.trim(), format!("{other}/linux"));
        let v = ctx
            .ok(&["import", "--arch", "arm", "--variant", "v7", &dir, "imp:2"])
            .stdout;
        let got = ctx
            .ok(&["inspect", "-f", "{{.Architecture}}", v.trim()])
            .stdout;
        assert_eq!(got.trim(), "arm");

        // rmi --no-prune and save --compress are accepted.
        ctx.ok(&["rmi", "--no-prune", "imp:2"]);
        let out = ctx.work.join("s.tar").display().to_string();
        ctx.ok(&["save", "--compress", "-o", &out, "imp:1"]);

        // login --verbose names the auth file.
        if let Some(auth) = &auth {
            let (user, pass) = auth.creds.clone().expect("credentials");
            let file = ctx.work.join("auth.json").display().to_string();
            let out = ctx.ok(&[
                "login",
                "--verbose",
                "--authfile",
                &file,
                "-u",
                &user,
                "-p",
                &pass,
                &auth.host,
            ]);
            assert!(out.stdout.contains(&format!("Used: {file}")), "{out}");
        }
    });
}

#[test]
fn update_memory_swappiness_warns() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = common::oci::busybox() else {
        return;
    };
    for_each_user("update_memory_swappiness_warns", |ctx| {
        let layer = LayerBuilder::new().busybox(bb).finish();
        let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("bb"), "v1", &img);
        ctx.pull(&[&p.reference]);
        ctx.ok(&["create", "--name", "c1", &p.reference, "true"]);
        let out = ctx.ok(&["update", "--memory-swappiness", "10", "c1"]);
        assert!(
            out.stderr.contains("--memory-swappiness not applied"),
            "{out}"
        );
        assert_eq!(out.stdout.trim(), "c1");
        let out = ctx.rless(&["update", "--memory-swappiness", "101", "c1"]);
        common::checks::assert_one_error(&out, common::ERR_EXIT);
        ctx.ok(&["rm", "c1"]);
    });
}
