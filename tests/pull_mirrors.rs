//! podman's `registries.conf` for pulls: a site mirror serves an image
//! named after a registry the machine cannot reach, a failing mirror
//! gives way to the next, a rewritten location is followed, and a blocked
//! registry is refused with nothing fetched. The configuration comes from
//! `CONTAINERS_REGISTRIES_CONF`, as podman reads it; the mirror is the
//! local test registry.

mod common;

use common::checks::*;
use common::oci::{busybox, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, Ctx, ERR_EXIT};

/// `rless args…` with `CONTAINERS_REGISTRIES_CONF=conf`.
fn with_conf(ctx: &Ctx, conf: &std::path::Path, args: &[&str]) -> common::out::Out {
    let mut c = ctx.rless_cmd(args);
    c.env("CONTAINERS_REGISTRIES_CONF", conf);
    common::run_cmd(c, None, std::time::Duration::from_secs(120), "pull")
}

#[test]
fn pull_through_registries_conf() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    for_each_user("pull_through_registries_conf", |ctx| {
        let layer = LayerBuilder::new()
            .busybox(bb)
            .file("served-by", b"mirror\n", 0o644)
            .finish();
        let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
        let repo = ctx.repo("team");
        reg.push(&format!("{repo}/app"), "v1", &img);
        // site.invalid cannot be reached; its mirror is the test registry.
        let conf = ctx.work.join("registries.conf");
        let text = format!(
            "unqualified-search-registries = [\"docker.io\"]\n\
             [[registry]]\nprefix = \"site.invalid/team\"\nlocation = \"site.invalid/team\"\n\
             [[registry.mirror]]\nlocation = \"127.0.0.1:1/dead\"\n\
             [[registry.mirror]]\nlocation = \"{host}/{repo}\"\n\
             [[registry]]\nprefix = \"alias.invalid/x\"\nlocation = \"{host}/{repo}\"\n\
             [[registry]]\nlocation = \"blocked.invalid\"\nblocked = true\n\
             [aliases]\n\"centos\" = \"quay.io/centos/centos\"\n",
            host = reg.host
        );
        ctx.write_file("registries.conf", text.as_bytes());

        // The dead mirror gives way to the live one; the image keeps the
        // name asked for.
        let out = with_conf(ctx, &conf, &["pull", "-q", "site.invalid/team/app:v1"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
        let r = ctx.ok(&[
            "run",
            "--rm",
            "site.invalid/team/app:v1",
            "cat",
            "/served-by",
        ]);
        assert_eq!(r.stdout, "mirror\n");
        // A rewritten location.
        let out = with_conf(ctx, &conf, &["pull", "-q", "alias.invalid/x/app:v1"]);
        assert!(out.success(), "{out}");
        let names = ctx
            .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .stdout;
        assert!(names.contains("alias.invalid/x/app:v1"), "{names}");

        // Blocked: one line, nothing fetched.
        let before = ctx.snapshot();
        let out = with_conf(ctx, &conf, &["pull", "blocked.invalid/a/b:1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("blocked"), "{out}");
        ctx.snapshot().assert_same(&before, &out.cmdline);
        // No mirror has it, and the registry cannot be reached: the
        // registry's error.
        let out = with_conf(ctx, &conf, &["pull", "site.invalid/team/nope:v1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("site.invalid"), "{out}");
        // A file that does not parse names itself.
        ctx.write_file("bad.conf", b"[[registry]\n");
        let out = with_conf(
            ctx,
            &ctx.work.join("bad.conf"),
            &["pull", "site.invalid/team/app:v1"],
        );
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("bad.conf"), "{out}");
    });
}

/// `--creds` are for the name's own registry: a mirror on another host
/// gets what the auth files hold for it (podman's rule), never the
/// credentials meant for the registry the user named.
#[test]
fn creds_are_not_sent_to_mirrors() {
    let Some(auth) = Registry::auth() else { return };
    let Some(bb) = busybox() else { return };
    for_each_user("creds_not_to_mirrors", |ctx| {
        let layer = LayerBuilder::new().busybox(bb).finish();
        let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
        let repo = ctx.repo("m");
        auth.push(&format!("{repo}/app"), "v1", &img);
        ctx.write_file(
            "mirror.conf",
            format!(
                "[[registry]]\nprefix = \"site.invalid/{repo}\"\nlocation = \"site.invalid/{repo}\"\n\
                 [[registry.mirror]]\nlocation = \"{}/{repo}\"\n",
                auth.host
            )
            .as_bytes(),
        );
        let (user, pass) = auth.creds.clone().expect("auth registry");
        let token = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        };
        let authfile = ctx.write_file(
            "auth.json",
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{token}\"}}}}}}",
                auth.host
            )
            .as_bytes(),
        );
        let conf = ctx.work.join("mirror.conf");
        let name = format!("site.invalid/{repo}/app:v1");
        // The mirror takes the auth file's credentials, not --creds' (which
        // are wrong for it): the pull works.
        let out = with_conf(
            ctx,
            &conf,
            &[
                "pull",
                "-q",
                "--creds",
                "someone:for-site-invalid",
                "--authfile",
                authfile.to_str().unwrap(),
                &name,
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
    });
}

/// A site proxy in the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
/// `ALL_PROXY`; nothing listens at this one) is not used for a loopback
/// registry, as podman's (Go's) clients never proxy one: such a pull went
/// to the proxy and failed.
#[test]
fn loopback_registries_bypass_the_proxy() {
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new()
        .file("proxy", b"direct\n", 0o644)
        .finish();
    let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("loopback_registries_bypass_the_proxy", |ctx| {
        let repo = ctx.repo("direct");
        reg.push(&repo, "v1", &img);
        let mut c = ctx.rless_cmd(&["pull", "-q", &format!("{}/{repo}:v1", reg.host)]);
        for var in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
        ] {
            c.env(var, "http://127.0.0.1:1");
        }
        let out = common::run_cmd(c, None, std::time::Duration::from_secs(120), "pull");
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
    });
}
