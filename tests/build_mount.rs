//! BuildKit's RUN flags in `rless build`: `RUN --mount=type=cache` keeps
//! a directory across builds (owned as asked) that is never in the image,
//! and `system prune` removes it; `type=bind` shows the context (the
//! ignore file applied, read-only; `rw` writes are dropped) or a stage's
//! files, and a changed bind source runs the step again; `type=tmpfs`;
//! `type=secret` with `build --secret` (file and variable): readable in
//! the step, with mode 0400, and nowhere in the store after (layers,
//! history, inspect, cache entries); a missing secret is skipped unless
//! `required`; `RUN --network` overrides the build's; several mounts on
//! one RUN; a mount target the image lacked leaves nothing in the layer;
//! bad flags fail before anything runs, naming the line (exit 125).
//!
//! Every scenario imports a busybox root filesystem as [`IMG`] (see
//! `common::run_helpers`); no registry is needed. A RUN proves it ran by
//! printing a marker its shell computes (`ran-$((1+1))` prints `ran-2`).

mod common;

use common::background::Background;
use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Ctx, Mode, Out};

/// The image id a build printed last on stdout.
fn built_id(out: &Out) -> String {
    let id = out.stdout.lines().last().unwrap_or("").to_string();
    assert!(common::is_hex64(&id), "build must end with the id: {out}");
    id
}

/// The markers (`ran-N`) the RUNs of a build printed, in order.
fn ran(out: &Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("ran-"))
        .map(str::to_string)
        .collect()
}

/// `cat FILE` in a container of `image`.
fn cat(ctx: &Ctx, image: &str, file: &str) -> String {
    ctx.ok(&["run", "--rm", image, "cat", file]).stdout
}

/// Whether `path` exists in a container of `image`.
fn exists(ctx: &Ctx, image: &str, path: &str) -> bool {
    let out = ctx.rless(&["run", "--rm", image, "test", "-e", path]);
    match out.code {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("test -e {path}: {out}"),
    }
}

/// The steps' scratch directories (bind copies, secret files) are gone.
fn assert_no_scratch(ctx: &Ctx, what: &str) {
    let left: Vec<_> = std::fs::read_dir(ctx.root.join("build-mounts/tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{what} left {left:?}");
    assert!(
        host_mounts_under(&ctx.work).is_empty(),
        "{what} left mounts"
    );
}

const CACHE_FILE: &str = "FROM bb\n\
    ARG N=1\n\
    RUN --mount=type=cache,target=/deep/er/cache \
        echo ran-$((1+1)) && ls /deep/er/cache > /seen && echo $N > /deep/er/cache/f$N \
        && stat -c '%u:%g %a' /deep/er/cache > /owner\n";

#[test]
fn build_mount_cache_kept_across_builds() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_mount_cache_kept_across_builds", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", CACHE_FILE)]);
        let first = ctx.ok(&["build", "-t", "c1", &dir]);
        assert_eq!(ran(&first), ["ran-2"], "{first}");
        assert_eq!(cat(ctx, "c1", "/seen"), "", "a new cache is empty");
        assert_eq!(cat(ctx, "c1", "/owner"), "0:0 755\n");
        // Neither the cache's files nor its mount point (nor the parents
        // made for it) are in the image.
        assert!(!exists(ctx, "c1", "/deep"), "{first}");

        // A second build (the RUN runs: its build argument changed) sees
        // what the first left in the cache.
        let second = ctx.ok(&["build", "-t", "c2", "--build-arg", "N=2", &dir]);
        assert_eq!(ran(&second), ["ran-2"], "{second}");
        assert_eq!(cat(ctx, "c2", "/seen"), "f1\n");
        assert!(!exists(ctx, "c2", "/deep"));

        // The same build again is a cache hit: the cache's contents are
        // not part of the key.
        let again = ctx.ok(&["build", "-t", "c2", "--build-arg", "N=2", &dir]);
        assert!(ran(&again).is_empty(), "{again}");
        assert_eq!(built_id(&again), built_id(&second));

        // A changed mount spec is a miss; another id is another cache.
        ctx.write_file(
            "ctx/Containerfile",
            CACHE_FILE
                .replace("target=/deep/er/cache", "target=/deep/er/cache,id=other")
                .as_bytes(),
        );
        let other = ctx.ok(&["build", "-t", "c3", "--build-arg", "N=2", &dir]);
        assert_eq!(ran(&other), ["ran-2"], "{other}");
        assert_eq!(cat(ctx, "c3", "/seen"), "");
        ctx.write_file("ctx/Containerfile", CACHE_FILE.as_bytes());

        // `system prune` removes the caches: the next build finds none.
        let pruned = ctx.ok(&["system", "prune", "-f"]);
        assert!(
            pruned.stdout.contains("Deleted Build Cache Mounts:"),
            "{pruned}"
        );
        let after = ctx.ok(&["build", "-t", "c4", "--build-arg", "N=4", &dir]);
        assert_eq!(cat(ctx, "c4", "/seen"), "", "{after}");
        assert_no_containers(ctx, "the builds");
    });
}

#[test]
fn build_mount_cache_owner_and_sharing() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_mount_cache_owner_and_sharing", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\n\
            RUN --mount=type=cache,target=/c,id=ids,uid=1000,gid=100,mode=0770,sharing=locked \
                stat -c '%u:%g %a' /c > /owner\n\
            RUN --mount=type=cache,target=/p,sharing=private touch /p/mine \
                && ls /p > /private\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let out = ctx.rless(&["build", "-t", "owned", &dir]);
        if ctx.user.mode == Mode::Single {
            // Only the user's own id is mapped: the owner cannot be made.
            assert_eq!(out.code, Some(1), "{out}");
            assert!(out.stderr.contains("id 1000 is not mapped"), "{out}");
            // No half-made cache directory is left.
            let caches = std::fs::read_dir(ctx.root.join("build-mounts/cache"))
                .map(|d| d.count())
                .unwrap_or(0);
            assert_eq!(caches, 0, "{out}");
            return;
        }
        assert!(out.success(), "{out}");
        assert_eq!(cat(ctx, "owned", "/owner"), "1000:100 770\n");
        assert_eq!(cat(ctx, "owned", "/private"), "mine\n");
    });
}

/// A build whose RUN holds cache `s` (`sharing`) until the test writes
/// `go` into it: it prints `holding` once it has written `a-in` there.
fn holder(ctx: &Ctx, name: &str, sharing: &str) -> Background {
    let file = format!(
        "FROM bb\n\
         RUN --mount=type=cache,target=/c,id=s,sharing={sharing} \
             touch /c/a-in && echo holding-{name} \
             && while [ ! -e /c/go ]; do sleep 0.1; done; rm /c/go; touch /c/a-out\n"
    );
    let dir = build_context(ctx, &[(&format!("{name}/Containerfile"), &file)]);
    let mut b = Background::spawn(ctx, &["build", "-t", name, &format!("{dir}/{name}")]);
    b.wait_line(&format!("holding-{name}"), common::CMD_TIMEOUT);
    b
}

/// Lets the [`holder`] go on: `go` in the cache directory that has `a-in`.
fn release_holder(ctx: &Ctx, b: Background) {
    let caches = ctx.root.join("build-mounts/cache");
    let dir = std::fs::read_dir(&caches)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("a-in").exists())
        .expect("the held cache");
    std::fs::write(dir.join("go"), "").unwrap();
    ctx.give(&dir.join("go"));
    let (code, lines) = b.finish(common::CMD_TIMEOUT);
    assert_eq!(code, Some(0), "{lines:?}");
}

#[test]
fn build_mount_cache_sharing() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_mount_cache_sharing", |ctx| {
        assert!(setup_image(ctx));
        let reader = |sharing: &str| {
            format!(
                "FROM bb\nRUN --mount=type=cache,target=/c,id=s,sharing={sharing} ls /c > /seen\n"
            )
        };
        // locked: the second build waits for the first's step to end.
        let a = holder(ctx, "one", "locked");
        let dir = build_context(ctx, &[("b/Containerfile", &reader("locked"))]);
        let mut b = Background::spawn(ctx, &["build", "-t", "b", &format!("{dir}/b")]);
        b.wait_line(
            "waiting for cache mount s (sharing=locked)",
            common::CMD_TIMEOUT,
        );
        // A build waiting there stops when told to (Ctrl-C, SIGTERM): it
        // waited on, deaf to them, in a blocking flock.
        let mut t = Background::spawn(ctx, &["build", "-t", "t", &format!("{dir}/b")]);
        t.wait_line(
            "waiting for cache mount s (sharing=locked)",
            common::CMD_TIMEOUT,
        );
        t.signal(rustix::process::Signal::TERM);
        let (code, lines) = t.finish(common::CMD_TIMEOUT);
        assert_eq!(code, Some(143), "{lines:?}");
        release_holder(ctx, a);
        let (code, lines) = b.finish(common::CMD_TIMEOUT);
        assert_eq!(code, Some(0), "{lines:?}");
        assert_eq!(cat(ctx, "b", "/seen"), "a-in\na-out\n");

        // private: while another step uses the cache, a fresh one.
        let a = holder(ctx, "two", "shared");
        let dir = build_context(ctx, &[("c/Containerfile", &reader("private"))]);
        ctx.ok(&["build", "-t", "c", &format!("{dir}/c")]);
        assert_eq!(cat(ctx, "c", "/seen"), "");
        release_holder(ctx, a);
        // Free again: the kept one.
        ctx.ok(&["build", "--no-cache", "-t", "c", &format!("{dir}/c")]);
        assert_eq!(cat(ctx, "c", "/seen"), "a-in\na-out\n");

        // One step mounting the cache twice takes it once (its second
        // lock waited for the first, for ever).
        let twice = "FROM bb\nRUN --mount=type=cache,target=/c,id=s,sharing=locked \
            --mount=type=cache,target=/d,id=s,sharing=locked ls /d > /seen\n";
        let dir = build_context(ctx, &[("d/Containerfile", twice)]);
        ctx.ok(&["build", "-t", "d", &format!("{dir}/d")]);
        assert_eq!(cat(ctx, "d", "/seen"), "a-in\na-out\n");
    });
}

#[test]
fn build_mount_bind_context_and_stage() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_mount_bind_context_and_stage", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb AS made\n\
            RUN echo built > /out.txt\n\
            FROM bb\n\
            RUN --mount=type=bind,source=sub,target=/m \
                echo ran-$((1+1)) && cat /m/b.txt > /got \
                && (touch /m/new 2>/dev/null && echo writable || echo read-only) >> /got\n\
            RUN --mount=target=/ctx ls -a /ctx > /list\n\
            RUN --mount=type=bind,source=a.txt,target=/a.txt,rw \
                echo changed > /a.txt && cat /a.txt > /rw\n\
            RUN --mount=type=bind,from=made,source=/out.txt,target=/in cat /in > /from\n";
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", file),
                ("a.txt", "a\n"),
                ("sub/b.txt", "b\n"),
                ("ignored.env", "secret\n"),
                (".dockerignore", "ignored.env\n"),
            ],
        );
        let first = ctx.ok(&["build", "-t", "bound", &dir]);
        assert_eq!(ran(&first), ["ran-2"], "{first}");
        assert_eq!(cat(ctx, "bound", "/got"), "b\nread-only\n");
        let list = cat(ctx, "bound", "/list");
        assert!(
            list.contains("Containerfile\n") && list.contains("sub\n"),
            "{list}"
        );
        assert!(
            !list.contains("ignored.env"),
            "the ignore file applies: {list}"
        );
        assert_eq!(cat(ctx, "bound", "/rw"), "changed\n");
        assert_eq!(
            std::fs::read_to_string(ctx.work.join("ctx/a.txt")).unwrap(),
            "a\n",
            "an rw bind's writes are dropped"
        );
        assert_eq!(cat(ctx, "bound", "/from"), "built\n");
        for gone in ["/m", "/ctx", "/in", "/a.txt"] {
            assert!(!exists(ctx, "bound", gone), "{gone} in the image");
        }

        // The bind's files are part of the step's key.
        let again = ctx.ok(&["build", "-t", "bound", &dir]);
        assert!(ran(&again).is_empty(), "{again}");
        ctx.write_file("ctx/sub/b.txt", b"b2\n");
        let changed = ctx.ok(&["build", "-t", "bound", &dir]);
        assert_eq!(ran(&changed), ["ran-2"], "{changed}");
        assert_eq!(cat(ctx, "bound", "/got"), "b2\nread-only\n");
        assert_no_scratch(ctx, "the builds");
        assert_no_containers(ctx, "the builds");
    });
}

#[test]
fn build_mount_secret_and_tmpfs() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_mount_secret_and_tmpfs", |ctx| {
        assert!(setup_image(ctx));
        const VALUE: &str = "s3cr3t-value-4711";
        const ENV_VALUE: &str = "env-s3cr3t-0815";
        let secret = ctx.write_file("secret.txt", VALUE.as_bytes());
        // Several mounts on one RUN; a secret not given and not required
        // is left out.
        let file = "FROM bb\n\
            RUN --mount=type=secret,id=tok --mount=type=secret,id=etok,target=/etc/etok \
                --mount=type=tmpfs,target=/scratch,size=1m --mount=type=secret,id=absent \
                stat -c '%a %u' /run/secrets/tok > /meta \
                && sha256sum < /run/secrets/tok | cut -c1-16 > /sum \
                && sha256sum < /etc/etok | cut -c1-16 > /esum \
                && (test -e /run/secrets/absent && echo present || echo absent) > /absent \
                && grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /fstype \
                && echo x > /scratch/f\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let mut cmd = ctx.rless_cmd(&[
            "build",
            "-t",
            "sec",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
            "--secret",
            "id=etok,env=ETOK",
            &dir,
        ]);
        cmd.env("ETOK", ENV_VALUE);
        let out = common::out::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        assert_no_scratch(ctx, &out.cmdline);
        assert_eq!(cat(ctx, "sec", "/meta"), "400 0\n");
        let sum = |v: &str| {
            let out = ctx.ok(&[
                "run",
                "--rm",
                "sec",
                "sh",
                "-c",
                &format!("printf %s '{v}' | sha256sum | cut -c1-16"),
            ]);
            out.stdout
        };
        assert_eq!(cat(ctx, "sec", "/sum"), sum(VALUE));
        assert_eq!(cat(ctx, "sec", "/esum"), sum(ENV_VALUE));
        assert_eq!(cat(ctx, "sec", "/absent"), "absent\n");
        assert_eq!(cat(ctx, "sec", "/fstype"), "tmpfs\n");
        for gone in ["/run/secrets", "/etc/etok", "/scratch"] {
            assert!(!exists(ctx, "sec", gone), "{gone} in the image");
        }
        // The values are nowhere in the store (layers, configs, history,
        // cache entries), nor in history or inspect.
        for v in [VALUE, ENV_VALUE] {
            assert_eq!(tree_holds(&ctx.root, v.as_bytes()), None, "{v} kept");
        }
        let shown = format!(
            "{}{}",
            ctx.ok(&["history", "--no-trunc", "sec"]).stdout,
            ctx.ok(&["image", "inspect", "sec"]).stdout
        );
        assert!(
            !shown.contains(VALUE) && !shown.contains(ENV_VALUE),
            "{shown}"
        );

        // A required secret that was not given fails the step, naming it.
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nRUN --mount=type=secret,id=needed,required true\n",
        );
        let before = ctx.snapshot();
        let out = ctx.rless(&["build", "--layers=false", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(out.stderr.contains("secret needed is required"), "{out}");
        assert_no_scratch(ctx, &out.cmdline);
        assert_no_containers(ctx, &out.cmdline);
        ctx.snapshot().assert_same(&before, &out.cmdline);
    });
}

#[test]
fn build_run_network_flag() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_run_network_flag", |ctx| {
        assert!(setup_image(ctx));
        // The step's own flag wins over the build's --network.
        let file = "FROM bb\n\
            RUN --network=none grep -c : /proc/net/dev > /none\n\
            RUN --network=default grep -c : /proc/net/dev > /default\n\
            RUN grep -c : /proc/net/dev > /build\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        ctx.ok(&["build", "-t", "net", &dir]);
        assert_eq!(cat(ctx, "net", "/none"), "1\n", "only lo");
        assert_ne!(
            cat(ctx, "net", "/default"),
            "1\n",
            "lo and the private network"
        );
        assert_ne!(cat(ctx, "net", "/build"), "1\n");
        // (The build's --network is not part of the cache key, as docker's.)
        ctx.ok(&[
            "build",
            "--no-cache",
            "-t",
            "net2",
            "--network",
            "none",
            &dir,
        ]);
        assert_eq!(cat(ctx, "net2", "/none"), "1\n");
        assert_ne!(cat(ctx, "net2", "/default"), "1\n");
        assert_eq!(cat(ctx, "net2", "/build"), "1\n");
    });
}

#[test]
fn build_mount_bad_flags_fail_before_running() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_mount_bad_flags_fail_before_running", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("a.txt", "a\n")]);
        for (run, says) in [
            ("RUN --mount=type=nfs,target=/a true", "unknown type"),
            (
                "RUN --mount=type=cache,target=/a,colour=red true",
                "unknown option",
            ),
            ("RUN --mount=type=cache true", "missing target"),
            (
                "RUN --mount=type=tmpfs,target=/a,source=x true",
                "takes no source",
            ),
            (
                "RUN --mount=source=../etc,target=/a true",
                "outside the build context",
            ),
            (
                "RUN --mount=target=/a,from=later true",
                "names a later stage",
            ),
            ("RUN --mount=target=/a,from=9 true", "no stage 9"),
            ("RUN --network=bridge true", "--network=bridge"),
            (
                "RUN --security=insecure true",
                "--security is not supported",
            ),
        ] {
            let file = format!("FROM bb\nRUN true\n{run}\nFROM bb AS later\n");
            ctx.write_file("ctx/Containerfile", file.as_bytes());
            let before = ctx.snapshot();
            let out = ctx.rless(&["build", &dir]);
            let errs: Vec<&str> = stderr_lines(&out)
                .into_iter()
                .filter(|l| l.starts_with("rless: "))
                .collect();
            assert_eq!(errs.len(), 1, "one error line: {out}");
            assert!(errs[0].contains(says), "{run}: {out}");
            if !run.contains("security") {
                assert_eq!(out.code, Some(125), "{out}");
                assert!(errs[0].contains("line 3: RUN --"), "{out}");
            }
            assert!(!out.stdout.contains("STEP"), "nothing ran: {out}");
            ctx.snapshot().assert_same(&before, &out.cmdline);
        }
        // A --secret whose file is missing.
        ctx.write_file("ctx/Containerfile", b"FROM bb\nRUN true\n");
        let out = ctx.fail_unchanged(&["build", "--secret", "id=x,src=/no/such", &dir]);
        assert!(out.stderr.contains("--secret id=x,src=/no/such"), "{out}");
    });
}
