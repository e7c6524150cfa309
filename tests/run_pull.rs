//! `rless run`/`create` and the pull they make when the image is missing:
//! `--pull` (and `-q`, `--platform`) against the test registry, `login`
//! credentials, and the options refused before any pull.
//!
//! The registry scenarios push small busybox images to 127.0.0.1:5000 (see
//! tests/pull.rs). The other `run` options are in `run_options.rs`.

mod common;

use common::checks::*;
use common::oci::{busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, host_arch_or_skip, other_arch, Ctx, Out};

/// An image of busybox plus `/marker` holding `text`.
fn marked(bb: &[u8], text: &str) -> Built {
    let top = LayerBuilder::new()
        .file("marker", text.as_bytes(), 0o644)
        .finish();
    Built::host(Format::Oci, &[(bb, Comp::Gzip), (&top, Comp::Gzip)])
}

/// The last stderr line is an `rless:` error, the exit code 125, and the
/// store holds no container.
fn assert_failed_cleanly(ctx: &Ctx, out: &Out) {
    assert_eq!(out.code, Some(125), "{out}");
    let last = stderr_lines(out).last().copied().unwrap_or_default();
    assert!(last.starts_with("rless: "), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert_no_containers(ctx, &out.cmdline);
}

#[test]
fn run_pulls_a_missing_image() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("run_pulls_missing", |ctx| {
        let p = reg.push(&ctx.repo("img"), "latest", &marked(bb, "one"));
        let out = ctx.rless(&["run", "--rm", &p.reference, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "one", "only the command's output: {out}");
        assert!(
            out.stderr
                .contains(&format!("Unable to find image '{}' locally", p.reference)),
            "{out}"
        );
        // Stored now: the next run does not pull (nor say so).
        let out = ctx.rless(&["run", "--rm", &p.reference, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert!(out.stderr.trim().is_empty(), "{out}");

        // -q: nothing on stderr; create pulls too, and prints only the id.
        let q = reg.push(&ctx.repo("quiet"), "latest", &marked(bb, "q"));
        let out = ctx.rless(&["create", "-q", &q.reference]);
        assert!(out.success(), "{out}");
        assert!(out.stderr.trim().is_empty(), "-q: {out}");
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        assert_eq!(containers(ctx).len(), 1, "{out}");
        ctx.ok(&["rm", out.last_line()]);

        // --pull never: refused, nothing pulled, nothing made.
        let n = reg.push(&ctx.repo("never"), "latest", &marked(bb, "n"));
        let out = ctx.rless(&["run", "--pull", "never", &n.reference, "true"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("--pull never"), "{out}");
        assert!(ctx.image_entry(&n.id).is_none(), "never pulled: {out}");

        // An image the registry does not have: the pull's error, exit
        // 125, no container.
        let gone = format!("{}/{}:nope", reg.host, ctx.repo("absent"));
        let out = ctx.rless(&["run", "--rm", &gone, "true"]);
        assert_failed_cleanly(ctx, &out);
        let out = ctx.rless(&["create", "-q", &gone]);
        assert_failed_cleanly(ctx, &out);
        assert!(out.stderr.lines().count() == 1, "-q: only the error: {out}");

        // A bad policy is refused before anything happens.
        let out = ctx.rless(&["run", "--pull", "sometimes", &n.reference]);
        assert_one_error(&out, 125);
    });
}

/// `rless login`'s credentials serve the pull of `run`.
#[test]
fn run_pulls_with_login_credentials() {
    let Some(reg) = Registry::auth() else { return };
    let Some(bb) = busybox_layer() else { return };
    let (user, pass) = reg.creds.clone().unwrap();
    for_each_user("run_pull_login", |ctx| {
        let p = reg.push(&ctx.repo("private"), "latest", &marked(bb, "secret"));
        // Not logged in: the pull's error, nothing made.
        let out = ctx.rless(&["run", "--rm", "-q", &p.reference, "true"]);
        assert_failed_cleanly(ctx, &out);
        ctx.ok(&["login", "-u", &user, "-p", &pass, &reg.host]);
        let out = ctx.rless(&["run", "--rm", "-q", &p.reference, "cat", "/marker"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "secret", "{out}");
        ctx.ok(&["logout", &reg.host]);
    });
}

#[test]
fn run_pull_always_and_newer() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("run_pull_always", |ctx| {
        let repo = ctx.repo("moving");
        let p = reg.push(&repo, "latest", &marked(bb, "old"));
        let cat = |policy: &str| {
            let out = ctx.rless(&[
                "run",
                "--rm",
                "--pull",
                policy,
                &p.reference,
                "cat",
                "/marker",
            ]);
            assert!(out.success(), "--pull {policy}: {out}");
            out.stdout
        };
        assert_eq!(cat("missing"), "old");
        reg.push(&repo, "latest", &marked(bb, "new"));
        // missing and never keep the stored image; always takes the new one.
        assert_eq!(cat("missing"), "old");
        assert_eq!(cat("never"), "old");
        assert_eq!(cat("always"), "new");
        reg.push(&repo, "latest", &marked(bb, "newer"));
        assert_eq!(cat("newer"), "newer");

        // newer, and the registry cannot be asked: a warning, and the
        // stored image runs. always fails instead.
        let unreachable = "127.0.0.1:1/rlt/nowhere:latest";
        ctx.ok(&["tag", &p.reference, unreachable]);
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--pull",
            "newer",
            unreachable,
            "cat",
            "/marker",
        ]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "newer", "{out}");
        assert!(out.stderr.contains("warning"), "{out}");
        let out = ctx.rless(&["run", "--rm", "--pull", "always", unreachable, "true"]);
        assert_failed_cleanly(ctx, &out);
    });
}

#[test]
fn run_platform() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    let Some(host) = host_arch_or_skip() else {
        return;
    };
    let other = other_arch();
    for_each_user("run_platform", |ctx| {
        let mine = marked(bb, host);
        let theirs = Built::new(
            Format::Oci,
            other,
            &[
                (bb, Comp::Gzip),
                (
                    &LayerBuilder::new()
                        .file("marker", other.as_bytes(), 0o644)
                        .finish(),
                    Comp::Gzip,
                ),
            ],
        );
        let repo = ctx.repo("multi");
        reg.push_index(&repo, "latest", &[(host, &mine), (other, &theirs)]);
        let reference = format!("{}/{repo}:latest", reg.host);
        let platform = format!("linux/{host}");
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--platform",
            &platform,
            &reference,
            "cat",
            "/marker",
        ]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, host, "{out}");

        // The other platform: the stored image is not it, so it is pulled.
        let platform = format!("linux/{other}");
        let out = ctx.rless(&["create", "--platform", &platform, &reference]);
        assert!(out.success(), "{out}");
        assert!(ctx.image_entry(&theirs.id()).is_some(), "{out}");
        ctx.ok(&["rm", out.last_line()]);

        // A platform the index lacks: the pull's clear error.
        let out = ctx.rless(&["create", "--platform", "linux/s390x", &reference]);
        assert_failed_cleanly(ctx, &out);
        assert!(out.stderr.contains("linux/s390x"), "{out}");
        let out = ctx.rless(&["create", "--platform", "linux", &reference]);
        assert_one_error(&out, 125);
        assert_no_containers(ctx, &out.cmdline);
    });
}

/// Options whose mistakes do not depend on the image are refused before a
/// pull: with an image whose registry cannot be reached, the error is the
/// option's (it was the pull's for most of these).
#[test]
fn run_bad_options_fail_before_a_pull() {
    for_each_user("run_bad_options_fail_before_a_pull", |ctx| {
        let unreachable = "127.0.0.1:1/rlt/nowhere:latest";
        let cases: &[(&[&str], &str)] = &[
            (&["--dns", "bad"], "--dns"),
            (&["--dns-option", ""], "--dns-option"),
            (&["--add-host", "nocolon"], "--add-host"),
            (&["--add-host", "h:notanip"], "--add-host"),
            (&["--label", "=v"], "label"),
            (&["--label-file", "/nonexistent/labels"], "label file"),
            (&["--env-file", "/nonexistent/env"], "env file"),
            (&["--volumes-from", "nosuch"], "no such container"),
            (&["--pid", "container:nosuch"], "no such container"),
            (&["--expose", "notaport"], "--expose"),
            (&["-p", "notaport"], "port"),
            (&["--device", "/nonexistent/dev"], "/nonexistent/dev"),
        ];
        for verb in ["run", "create"] {
            for (opts, says) in cases {
                let mut args = vec![verb];
                args.extend_from_slice(opts);
                args.extend([unreachable, "true"]);
                let out = ctx.rless(&args);
                assert_failed_cleanly(ctx, &out);
                let last = stderr_lines(&out).last().copied().unwrap_or_default();
                assert!(
                    last.contains(says) && !out.stderr.contains("127.0.0.1:1"),
                    "{verb} {opts:?}: the error must be the option's ({says:?}), before any pull: {out}"
                );
            }
            // A good option goes on to the pull, which fails.
            let out = ctx.rless(&[verb, "--dns", "192.0.2.1", unreachable, "true"]);
            assert_failed_cleanly(ctx, &out);
            assert!(out.stderr.contains("127.0.0.1:1"), "{out}");
        }
    });
}
