//! podman's `build` options for the RUN steps, the base image pulls and
//! the final image (`build/moreflags.rs`): `-v`, `--no-hosts` and
//! `--cap-add` reach the RUN steps; `--creds` pulls a base from the
//! registry that wants them; `--env`, `--unsetenv` and `--omit-history`
//! change the final image; `--from` replaces the first FROM;
//! `--ignorefile` replaces `.containerignore`; the context defaults to the
//! current directory; refused options make nothing.

mod common;

use common::checks::*;
use common::oci::{busybox, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, ERR_EXIT};

/// CAP_NET_ADMIN's bit in the capability masks.
const NET_ADMIN: u64 = 1 << 12;

#[test]
fn build_run_pull_and_image_options() {
    let Some(auth) = Registry::auth() else { return };
    let Some(bb) = busybox() else { return };
    let layer = LayerBuilder::new().busybox(bb).finish();
    let base = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("build_run_pull_and_image_options", |ctx| {
        let pushed = auth.push(&ctx.repo("base"), "v1", &base);
        let (user, pass) = auth.creds.clone().expect("the auth registry's credentials");
        let creds = format!("{user}:{pass}");
        // The context is the working directory (podman's default), which
        // also holds the store: the ignore file leaves it out.
        ctx.write_file(
            "Containerfile",
            b"FROM nosuch.invalid/base:1\nENV B=2 K=k\nCOPY . /ctx/\n\
              RUN cat /mnt/in/file > /got && \
              (test -e /etc/hosts && echo hosts || echo nohosts) > /hosts && \
              grep CapBnd /proc/self/status > /cap\n",
        );
        ctx.write_file("input/file", b"from the host\n");
        ctx.write_file("kept.txt", b"kept\n");
        ctx.write_file("secret.txt", b"left out\n");
        ctx.write_file("build.ignore", b"store\nsecret.txt\ninput\n");
        let input = ctx.work.join("input").display().to_string();
        let args = |creds: Option<&str>| {
            let mut a = vec![
                "build".to_string(),
                "--from".into(),
                pushed.reference.clone(),
                "--ignorefile".into(),
                "build.ignore".into(),
                "-v".into(),
                format!("{input}:/mnt/in:ro"),
                "--no-hosts".into(),
                "--cap-add".into(),
                "NET_ADMIN".into(),
                "--env".into(),
                "A=1".into(),
                "--unsetenv".into(),
                "B".into(),
                "--omit-history".into(),
                "--rm".into(),
                "--force-rm".into(),
                "-t".into(),
                "t1".into(),
            ];
            if let Some(c) = creds {
                a.extend(["--creds".into(), c.into()]);
            }
            a
        };
        let run = |a: Vec<String>| ctx.rless(&a.iter().map(String::as_str).collect::<Vec<_>>());
        // Without --creds the base cannot be pulled.
        let out = run(args(None));
        assert!(!out.success(), "{out}");
        assert!(out.stderr.contains("credentials"), "{out}");
        let out = run(args(Some(&creds)));
        assert!(out.success(), "{out}");

        let cat = |path: &str| ctx.ok(&["run", "--rm", "t1", "cat", path]).stdout;
        assert_eq!(cat("/got"), "from the host\n");
        assert_eq!(cat("/hosts"), "nohosts\n");
        let cap = cat("/cap");
        let mask =
            u64::from_str_radix(cap.split_whitespace().nth(1).expect("mask"), 16).expect("hex");
        assert_ne!(
            mask & NET_ADMIN,
            0,
            "--cap-add NET_ADMIN in the RUN step: {cap}"
        );
        let listed = ctx.ok(&["run", "--rm", "t1", "ls", "/ctx"]).stdout;
        assert!(listed.contains("kept.txt"), "{listed}");
        assert!(
            !listed.contains("secret.txt") && !listed.contains("store"),
            "{listed}"
        );
        let env = ctx
            .ok(&["inspect", "-f", "{{json .Config.Env}}", "t1"])
            .stdout;
        let env: Vec<String> = serde_json::from_str(&env).expect("env json");
        assert!(env.contains(&"A=1".to_string()), "{env:?}");
        assert!(env.contains(&"K=k".to_string()), "{env:?}");
        assert!(!env.iter().any(|e| e.starts_with("B=")), "{env:?}");
        assert_eq!(
            ctx.ok(&["inspect", "-f", "{{json .History}}", "t1"])
                .stdout
                .trim(),
            "null"
        );
    });
}

#[test]
fn build_refused_options_make_nothing() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    let layer = LayerBuilder::new().busybox(bb).finish();
    let base = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("build_refused_options_make_nothing", |ctx| {
        let pushed = reg.push(&ctx.repo("base"), "v1", &base);
        ctx.pull(&[&pushed.reference]);
        let body = format!("FROM {}\nRUN touch /x\n", pushed.reference);
        ctx.write_file("c/Containerfile", body.as_bytes());
        let dir = ctx.work.join("c").display().to_string();
        // --manifest naming an image, not a list.
        ctx.ok(&["tag", &pushed.reference, "never"]);
        for bad in [
            &["--squash"][..],
            &["--squash-all"],
            &["--output", "type=local,dest=out"],
            &["--timestamp", "0"],
            &["--manifest", "never"],
            &["--arch", "sparc"],
            &["--isolation", "vm"],
            &["--retry-delay", "soon"],
            &["--ignorefile", "/nonexistent/ignore"],
        ] {
            let mut args = vec!["build", "-t", "never"];
            args.extend_from_slice(bad);
            args.push(&dir);
            let out = ctx.fail_code_unchanged(&args, ERR_EXIT);
            assert_one_error(&out, ERR_EXIT);
        }
    });
}

/// podman's `build --manifest LIST`: the image goes into the list, which
/// the first build makes.
#[test]
fn build_manifest_adds_to_a_list() {
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox() else { return };
    let layer = LayerBuilder::new().busybox(bb).finish();
    let base = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("build_manifest_adds_to_a_list", |ctx| {
        let pushed = reg.push(&ctx.repo("base"), "v1", &base);
        ctx.pull(&[&pushed.reference]);
        let dir = ctx.work.join("c").display().to_string();
        let mut ids = Vec::new();
        for n in ["1", "2"] {
            let body = format!("FROM {}\nRUN touch /x{n}\n", pushed.reference);
            ctx.write_file("c/Containerfile", body.as_bytes());
            let out = ctx.ok(&["build", "-q", "--manifest", "ml", &dir]);
            ids.push(out.stdout.trim().to_string());
        }
        let out = ctx.ok(&["manifest", "inspect", "ml"]);
        let j: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(j["manifests"].as_array().map(Vec::len), Some(2), "{j}");
        // The entries are the built images.
        for id in &ids {
            ctx.ok(&["manifest", "remove", "ml", id]);
        }
    });
}
