//! Short names by podman's registries.conf: an `unqualified-search-registries`
//! entry, an `[aliases]` entry and the user's alias cache say where a short
//! name is pulled from; `permissive` tries several registries in order and
//! reports every failure; `enforcing` refuses several without a terminal;
//! with nothing configured a short name is still Docker Hub's; and `run`,
//! `image inspect`, `push`, `rmi` and `build`'s FROM find the image under
//! the name the short name was pulled as. The configuration comes from
//! `CONTAINERS_REGISTRIES_CONF` (as podman reads it) and the alias cache
//! from `XDG_CACHE_HOME`, both in the scenario's work directory.

mod common;

use common::checks::*;
use common::oci::{busybox, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, Ctx, ERR_EXIT};

/// `rless args…` with `CONTAINERS_REGISTRIES_CONF=WORK/name` and the
/// alias cache under `WORK/cache`.
fn with_conf(ctx: &Ctx, name: &str, args: &[&str]) -> common::out::Out {
    let mut c = ctx.rless_cmd(args);
    c.env("CONTAINERS_REGISTRIES_CONF", ctx.work.join(name))
        .env("XDG_CACHE_HOME", ctx.work.join("cache"));
    common::run_cmd(c, None, std::time::Duration::from_secs(120), "shortnames")
}

/// An image whose `/marker` says `what`.
fn image(what: &str) -> Built {
    let layer = LayerBuilder::new()
        .busybox(busybox().expect("checked"))
        .file("marker", format!("{what}\n").as_bytes(), 0o644)
        .finish();
    Built::host(Format::Oci, &[(&layer, Comp::Gzip)])
}

fn names(ctx: &Ctx) -> String {
    ctx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .stdout
}

#[test]
fn search_registry_alias_and_alias_cache() {
    let Some(reg) = Registry::open() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("shortnames_search_alias", |ctx| {
        let img = image("search");
        let repo = ctx.repo("sn");
        reg.push(&format!("{repo}/app"), "v1", &img);
        let short = format!("{repo}/app:v1");
        let full = format!("{}/{short}", reg.host);
        ctx.write_file(
            "one.conf",
            format!("unqualified-search-registries = [\"{}\"]\n", reg.host).as_bytes(),
        );

        // The one search registry: the image is named after it.
        let out = with_conf(ctx, "one.conf", &["pull", "-q", &short]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
        assert!(names(ctx).contains(&full), "{}", names(ctx));
        // Local look-ups find it by the short name, with nothing pulled.
        let out = with_conf(ctx, "one.conf", &["run", "--rm", &short, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "search\n");
        assert!(!out.stderr.contains("Unable to find"), "{out}");
        let out = with_conf(ctx, "one.conf", &["image", "inspect", &short]);
        assert!(out.success(), "{out}");
        // A container records the name the short name found.
        let out = with_conf(ctx, "one.conf", &["create", "--name", "c1", &short, "true"]);
        assert!(out.success(), "{out}");
        let image = ctx.ok(&["ps", "-a", "--format", "{{.Image}}"]).stdout;
        assert_eq!(image.trim(), full, "{image}");
        ctx.ok(&["rm", "c1"]);
        // Without the configuration, the short name is Docker Hub's.
        let out = ctx.rless(&["image", "inspect", &short]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        // A push of the short name goes where the image's name says.
        let out = with_conf(ctx, "one.conf", &["push", "-q", &short]);
        assert!(out.success(), "{out}");
        // rmi untags the name the short name found, and only that one.
        ctx.ok(&["tag", &full, "kept:1"]);
        let out = with_conf(ctx, "one.conf", &["rmi", &short]);
        assert!(out.success(), "{out}");
        assert!(out.stdout.contains(&format!("Untagged: {full}")), "{out}");
        let left = names(ctx);
        assert!(!left.contains(&full) && left.contains("kept:1"), "{left}");
        ctx.ok(&["rmi", "kept:1"]);

        // An alias names the repository; the tag is the short name's.
        ctx.write_file(
            "alias.conf",
            format!(
                "[aliases]\n\"myteam/tool\" = \"{}/{repo}/app\"\n\
                 \"cached/tool\" = \"127.0.0.1:1/nothing\"\n",
                reg.host
            )
            .as_bytes(),
        );
        let out = with_conf(ctx, "alias.conf", &["pull", "-q", "myteam/tool:v1"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
        assert!(names(ctx).contains(&full), "{}", names(ctx));
        let out = with_conf(ctx, "alias.conf", &["image", "inspect", "myteam/tool:v1"]);
        assert!(out.success(), "{out}");
        ctx.ok(&["rmi", &full]);
        // The user's alias cache (podman writes it) comes first.
        ctx.write_file(
            "cache/containers/short-name-aliases.conf",
            format!("[aliases]\n\"cached/tool\" = \"{}/{repo}/app\"\n", reg.host).as_bytes(),
        );
        let out = with_conf(ctx, "alias.conf", &["pull", "-q", "cached/tool:v1"]);
        assert!(out.success(), "{out}");
        assert!(names(ctx).contains(&full), "{}", names(ctx));

        // build's FROM resolves the same way.
        ctx.ok(&["rmi", &full]);
        ctx.write_file(
            "ctx/Containerfile",
            format!("FROM {short}\nLABEL from=short\n").as_bytes(),
        );
        let dir = ctx.work.join("ctx");
        let out = with_conf(
            ctx,
            "one.conf",
            &["build", "-q", "-t", "built:1", dir.to_str().unwrap()],
        );
        assert!(out.success(), "{out}");
        assert!(names(ctx).contains(&full), "{}", names(ctx));
    });
}

#[test]
fn permissive_tries_each_registry_and_reports_every_failure() {
    let Some(reg) = Registry::open() else { return };
    let Some(auth) = Registry::auth() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("shortnames_permissive", |ctx| {
        let img = image("third");
        let repo = ctx.repo("sn");
        reg.push(&format!("{repo}/app"), "v1", &img);
        // A closed port, then the auth registry without credentials, then
        // the one that has it.
        let list = format!(
            "unqualified-search-registries = [\"127.0.0.1:1\", \"{}\", \"{}\"]\n",
            auth.host, reg.host
        );
        ctx.write_file(
            "permissive.conf",
            format!("short-name-mode = \"permissive\"\n{list}").as_bytes(),
        );
        // Unset is podman's default, permissive.
        ctx.write_file("default.conf", list.as_bytes());

        let out = with_conf(
            ctx,
            "permissive.conf",
            &["pull", "-q", &format!("{repo}/app:v1")],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
        ctx.ok(&["rmi", &format!("{}/{repo}/app:v1", reg.host)]);
        let out = with_conf(
            ctx,
            "default.conf",
            &["pull", "-q", &format!("{repo}/app:v1")],
        );
        assert!(out.success(), "{out}");

        // None has it: one line with each registry's failure, nothing kept.
        let before = ctx.snapshot();
        let out = with_conf(
            ctx,
            "permissive.conf",
            &["pull", &format!("{repo}/nope:v1")],
        );
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("3 errors occurred while pulling"),
            "{out}"
        );
        for host in ["127.0.0.1:1", auth.host.as_str(), reg.host.as_str()] {
            assert!(
                out.stderr.contains(&format!("{host}/{repo}/nope")),
                "{host}: {out}"
            );
        }
        ctx.snapshot().assert_same(&before, &out.cmdline);
    });
}

#[test]
fn enforcing_refuses_several_registries_without_a_terminal() {
    let Some(reg) = Registry::open() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("shortnames_enforcing", |ctx| {
        let img = image("enforced");
        let repo = ctx.repo("sn");
        let pushed = reg.push(&format!("{repo}/app"), "v1", &img);
        ctx.write_file(
            "enforcing.conf",
            format!(
                "short-name-mode = \"enforcing\"\n\
                 unqualified-search-registries = [\"127.0.0.1:1\", \"{}\"]\n",
                reg.host
            )
            .as_bytes(),
        );
        let short = format!("{repo}/app:v1");
        let before = ctx.snapshot();
        let out = with_conf(ctx, "enforcing.conf", &["pull", &short]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr
                .contains("short-name resolution enforced but cannot prompt without a TTY"),
            "{out}"
        );
        ctx.snapshot().assert_same(&before, &out.cmdline);
        let out = with_conf(ctx, "enforcing.conf", &["run", "--rm", &short, "true"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        assert!(out.stderr.contains("cannot prompt"), "{out}");

        // Once stored under a full name, the short name is that image, and
        // a pull of it asks that name's registry (as podman).
        ctx.pull(&[&pushed.reference]);
        let out = with_conf(
            ctx,
            "enforcing.conf",
            &["run", "--rm", &short, "cat", "/marker"],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "enforced\n");
        let out = with_conf(ctx, "enforcing.conf", &["pull", "-q", &short]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id(), "{out}");
    });
}

#[test]
fn nothing_configured_is_docker_hub_and_blocks_apply() {
    for_each_user("shortnames_docker_hub", |ctx| {
        // Docker Hub blocked: the refusal names the resolved name, and
        // nothing goes out.
        ctx.write_file(
            "hub.conf",
            b"[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
        );
        let before = ctx.snapshot();
        let out = with_conf(ctx, "hub.conf", &["pull", "team/app:1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("docker.io/team/app:1") && out.stderr.contains("blocked"),
            "{out}"
        );
        let out = with_conf(ctx, "hub.conf", &["pull", "app"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("docker.io/library/app:latest"), "{out}");
        // A search registry that is blocked refuses its short names.
        ctx.write_file(
            "blocked.conf",
            b"unqualified-search-registries = [\"blocked.invalid\"]\n\
              [[registry]]\nlocation = \"blocked.invalid\"\nblocked = true\n",
        );
        let out = with_conf(ctx, "blocked.conf", &["pull", "team/app:1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("blocked.invalid/team/app:1") && out.stderr.contains("blocked"),
            "{out}"
        );
        // A bad setting names its file.
        ctx.write_file("bad.conf", b"short-name-mode = \"strict\"\n");
        let out = with_conf(ctx, "bad.conf", &["pull", "team/app:1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("bad.conf"), "{out}");
        // A file the variable names must exist (podman's rule).
        let out = with_conf(ctx, "missing.conf", &["pull", "team/app:1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("missing.conf"), "{out}");
        // Version 1's blocked list is honoured.
        ctx.write_file(
            "v1.conf",
            b"[registries.block]\nregistries = [\"blocked.invalid\"]\n",
        );
        let out = with_conf(ctx, "v1.conf", &["pull", "blocked.invalid/team/app:1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("blocked"), "{out}");
        ctx.snapshot().assert_same(&before, "refused pulls");
    });
}

/// A short name given as a new name (`tag`, `build -t`, `commit`,
/// `import`) is `localhost/NAME`, as podman stores it (docker's
/// `docker.io/library/NAME` before); the short name still finds the image
/// (`localhost/` first, then Docker Hub's name, which a pull of a short
/// name gives), for `run`, `inspect`, build's FROM, `untag` and `rmi`.
#[test]
fn short_names_given_are_localhost() {
    if busybox().is_none() {
        return;
    }
    for_each_user("shortnames_localhost", |ctx| {
        let _cleanup = common::lifecycle_helpers::Cleanup(ctx);
        let dir = ctx.work.join("rootfs");
        common::lifecycle_helpers::make_rootfs(ctx, &dir);
        ctx.ok(&["import", dir.to_str().unwrap(), "snimp"]);
        ctx.ok(&["tag", "snimp", "sntag:1", "team/sntag"]);
        ctx.write_file("ctx/Containerfile", b"FROM sntag:1\nLABEL made=built\n");
        let context = ctx.work.join("ctx");
        ctx.ok(&["build", "-q", "-t", "snbuilt", context.to_str().unwrap()]);
        ctx.ok(&["run", "--name", "c", "team/sntag", "true"]);
        ctx.ok(&["commit", "c", "sncommit:2"]);
        let mut got: Vec<String> = names(ctx).lines().map(String::from).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "localhost/snbuilt:latest",
                "localhost/sncommit:2",
                "localhost/snimp:latest",
                "localhost/sntag:1",
                "localhost/team/sntag:latest",
            ]
        );
        // The container records the name it was run by, as found.
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Image}}"]);
        assert_eq!(out.stdout.trim(), "localhost/team/sntag:latest", "{out}");
        let id = |q: &str| {
            ctx.ok(&["image", "inspect", "--format", "{{.Id}}", q])
                .stdout
                .trim()
                .to_string()
        };
        let imported = id("snimp");
        assert_eq!(id("sntag:1"), imported);
        // `save REPO` saves every tag of the repository (docker's): a short
        // name with no `:latest` stored finds `localhost/sntag:1`, which
        // the archive keeps as it is (podman strips only docker.io/).
        let tar = ctx.work.join("sntag.tar");
        ctx.ok(&["save", "-o", tar.to_str().unwrap(), "sntag"]);
        let out = ctx.ok(&["load", "-i", tar.to_str().unwrap()]);
        assert_eq!(
            out.stdout.trim(),
            "Loaded image: localhost/sntag:1",
            "{out}"
        );
        // `save NAME@DIGEST` of a short name finds `localhost/NAME` by its
        // manifest's digest, and the archive loads back as that image (no
        // name, as podman's docker-archive of a digested name).
        let digest = ctx.ok(&["image", "inspect", "--format", "{{.Digest}}", "sntag:1"]);
        let by_digest = format!("sntag@{}", digest.stdout.trim());
        let tar = ctx.work.join("sntag-digest.tar");
        for format in ["docker-archive", "oci-archive"] {
            ctx.ok(&[
                "save",
                "--format",
                format,
                "-o",
                tar.to_str().unwrap(),
                &by_digest,
            ]);
            let out = ctx.ok(&["load", "-i", tar.to_str().unwrap()]);
            assert_eq!(
                out.stdout.trim(),
                format!("Loaded image ID: sha256:{imported}"),
                "{out}"
            );
        }
        ctx.ok(&["run", "--rm", "snbuilt", "true"]);
        // The same short name as Docker Hub's and as localhost's: the
        // localhost one is found first; without it, Docker Hub's.
        ctx.ok(&["tag", "snbuilt", "docker.io/library/sndup:latest"]);
        ctx.ok(&["tag", "snimp", "sndup"]);
        assert_eq!(id("sndup"), imported);
        ctx.ok(&["untag", "snimp", "sndup"]);
        assert_eq!(id("sndup"), id("snbuilt"));
        ctx.ok(&["untag", "snimp", "sntag:1"]);
        assert_eq!(ctx.rless(&["image", "exists", "sntag:1"]).code, Some(1));
        ctx.ok(&["rmi", "sncommit:2"]);
        assert_eq!(ctx.rless(&["image", "exists", "sncommit:2"]).code, Some(1));
    });
}
