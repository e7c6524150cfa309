//! `rless build --secret`: where a RUN's secret lives while its step
//! runs, and what is left of it after the build, however the build ends;
//! a secret given as a variable (`env=`). The file mounts themselves are
//! tests/build_mount.rs'.
//!
//! Theory of operation: each scenario builds from the busybox image
//! [`IMG`] (`common::run_helpers`; no registry) with XDG_RUNTIME_DIR set
//! to a directory of the work directory, so that the secrets' files are
//! seen where they must be (`rless/build-secrets/`), and the store is
//! searched for the secret's value byte by byte while the step runs.

mod common;

use common::background::Background;
use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Ctx};
use std::path::{Path, PathBuf};

const VALUE: &str = "s3cr3t-in-runtime-4242";

/// The user's runtime directory for these builds (made, 0700), and its
/// directory of the builds' secrets.
fn runtime(ctx: &Ctx) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let run = ctx.work.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    ctx.give(&run);
    let secrets = run.join("rless/build-secrets");
    (run, secrets)
}

/// A build whose RUN reads a secret and then waits: while it runs the
/// secret's file is in the runtime directory and its value nowhere in the
/// store; stopped with SIGTERM it exits 143 and its secrets' directory is
/// gone; killed outright (SIGKILL) it leaves that directory, which the
/// next build removes.
#[test]
fn build_secret_files_stay_out_of_the_store() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_secret_files_stay_out_of_the_store", |ctx| {
        assert!(setup_image(ctx));
        let secret = ctx.write_file("secret.txt", VALUE.as_bytes());
        let file = "FROM bb\n\
            RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null \
                && echo ready && exec sleep 1000\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let (run, secrets) = runtime(ctx);
        let src = format!("id=tok,src={}", secret.display());
        let entries = |d: &Path| common::list_names(d);
        for sig in [rustix::process::Signal::TERM, rustix::process::Signal::KILL] {
            let mut cmd = ctx.rless_cmd(&["build", "--layers=false", "--secret", &src, &dir]);
            cmd.env("XDG_RUNTIME_DIR", &run);
            let mut b = Background::spawn_cmd(cmd);
            b.wait_line("ready", std::time::Duration::from_secs(120));
            assert_eq!(entries(&secrets).len(), 1, "one step's secrets directory");
            assert_eq!(
                tree_holds(&ctx.root, VALUE.as_bytes()),
                None,
                "the secret is in the store while its step runs"
            );
            b.signal(sig);
            let err = b.stderr.clone();
            let (code, _) = b.finish(std::time::Duration::from_secs(60));
            if sig == rustix::process::Signal::TERM {
                let err = String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
                assert_eq!(code, Some(143), "{err}");
                assert!(
                    entries(&secrets).is_empty(),
                    "a stopped build left its secrets"
                );
            } else {
                assert_eq!(
                    entries(&secrets).len(),
                    1,
                    "SIGKILL cannot be cleaned after"
                );
            }
        }
        // The next build removes what the killed one left.
        ctx.write_file("ctx/Containerfile", b"FROM bb\nRUN true\n");
        let mut cmd = ctx.rless_cmd(&["build", "--layers=false", &dir]);
        cmd.env("XDG_RUNTIME_DIR", &run);
        let out = common::out::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        assert!(entries(&secrets).is_empty(), "left after the next build");
        assert_eq!(tree_holds(&ctx.root, VALUE.as_bytes()), None);
        assert_no_containers(ctx, "builds with secrets");
    });
}

/// `RUN --mount=type=secret,id=ID,env=NAME` (BuildKit's): the value is in
/// NAME for that RUN's command alone (no file unless a target is given
/// too), and nowhere in the store (layers, configs, cache entries), the
/// history or inspect; a value with a NUL is refused naming the secret.
#[test]
fn build_secret_env() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_secret_env", |ctx| {
        assert!(setup_image(ctx));
        let secret = ctx.write_file("secret.txt", VALUE.as_bytes());
        let file = "FROM bb\n\
            RUN --mount=type=secret,id=tok,env=TOKEN \
                printf %s \"$TOKEN\" | sha256sum | cut -c1-16 > /sum \
                && (test -e /run/secrets/tok && echo file || echo nofile) > /file\n\
            RUN echo \"[$TOKEN]\" > /after\n\
            RUN --mount=type=secret,id=tok,env=T2,target=/s \
                test \"$(cat /s)\" = \"$T2\" && echo both > /both\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let (run, _) = runtime(ctx);
        let src = format!("id=tok,src={}", secret.display());
        let mut cmd = ctx.rless_cmd(&["build", "-t", "senv", "--secret", &src, &dir]);
        cmd.env("XDG_RUNTIME_DIR", &run);
        let out = common::out::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        let r = ctx.ok(&[
            "run", "--rm", "senv", "cat", "/sum", "/file", "/after", "/both",
        ]);
        let sum = ctx.ok(&[
            "run",
            "--rm",
            IMG,
            "sh",
            "-c",
            &format!("printf %s '{VALUE}' | sha256sum | cut -c1-16"),
        ]);
        assert_eq!(r.stdout, format!("{}nofile\n[]\nboth\n", sum.stdout), "{r}");
        assert!(!out.stdout.contains(VALUE), "{out}");
        assert_eq!(tree_holds(&ctx.root, VALUE.as_bytes()), None, "kept");
        let shown = format!(
            "{}{}",
            ctx.ok(&["history", "--no-trunc", "senv"]).stdout,
            ctx.ok(&["image", "inspect", "senv"]).stdout
        );
        assert!(!shown.contains(VALUE), "{shown}");
        // A value that cannot be a variable's is refused, naming it.
        ctx.write_file("nul.bin", b"a\0b");
        let nul = ctx.work.join("nul.bin");
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nRUN --mount=type=secret,id=n,env=N true\n",
        );
        let src = format!("id=n,src={}", nul.display());
        let out = ctx.rless(&["build", "--layers=false", "--secret", &src, &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr
                .contains("secret n: env=N needs a UTF-8 value without NUL"),
            "{out}"
        );
        assert_no_containers(ctx, "builds with env secrets");
    });
}
