//! `rless build` of multi-stage Containerfiles as docker builds them:
//! `--target` builds a stage and what it needs (stages nobody needs are
//! skipped, as BuildKit does), an unknown target, a duplicate stage name
//! and a `COPY --from` of the stage itself or a later one are refused
//! before anything runs, as are the instruction flags rless does not
//! take (`ADD --parents`, which docker has only for COPY; `ADD
//! --keep-git-dir`; `COPY --checksum`) and `RUN --security`. ADD of
//! archives is in tests/build_add.rs; RUN's `--mount` and `--network` in
//! tests/build_mount.rs.
//!
//! Theory of operation: each scenario builds from the busybox image
//! [`IMG`] (`common::run_helpers`; no registry) and reads the result back
//! with `rless run`.

mod common;

use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Ctx, Out};

/// A refused build: exit `code`, one `rless:` line saying `says`, nothing
/// run (no STEP printed) and the store as before.
fn assert_refused(ctx: &Ctx, out: &Out, before: &common::Snapshot, code: i32, says: &str) {
    assert_eq!(out.code, Some(code), "exit {code}: {out}");
    let errs: Vec<&str> = stderr_lines(out)
        .into_iter()
        .filter(|l| l.starts_with("rless: "))
        .collect();
    assert_eq!(errs.len(), 1, "one error line: {out}");
    assert!(errs[0].contains(says), "the error must say {says:?}: {out}");
    assert_no_containers(ctx, &out.cmdline);
    ctx.snapshot().assert_same(before, &out.cmdline);
}

const STAGES: &str = "FROM bb AS Base\n\
    RUN echo base > /base\n\
    FROM bb AS unused\n\
    RUN echo the unused stage ran; exit 3\n\
    FROM base AS mid\n\
    RUN echo mid > /mid\n\
    FROM bb\n\
    COPY --from=MID /mid /base /\n\
    RUN echo final > /final\n";

/// The last stage, or `--target`'s, is the image; a stage the target does
/// not need is not built (its failing RUN would fail the build).
#[test]
fn build_target_and_skipped_stages() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_target_and_skipped_stages", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", STAGES)]);
        let out = ctx.ok(&["build", "-t", "all", &dir]);
        assert!(!out.stdout.contains("unused"), "skipped: {out}");
        assert!(out.stdout.contains("STEP 7/7: RUN echo final"), "{out}");
        let r = ctx.ok(&["run", "--rm", "all", "cat", "/base", "/mid", "/final"]);
        assert_eq!(r.stdout, "base\nmid\nfinal\n", "{r}");

        // By name, in any case: the stage and the one it starts from.
        let out = ctx.ok(&["build", "--target", "MID", "-t", "mid", &dir]);
        assert!(out.stdout.contains("STEP 4/4: RUN echo mid"), "{out}");
        assert!(!out.stdout.contains("final"), "{out}");
        let r = ctx.ok(&["run", "--rm", "mid", "sh", "-c", "cat /base /mid; ls /"]);
        assert!(r.stdout.starts_with("base\nmid\n"), "{r}");
        assert!(!r.stdout.contains("final"), "{r}");
        let h = ctx.ok(&["history", "--format", "{{.CreatedBy}}", "mid"]);
        assert_eq!(h.stdout.lines().count(), 3, "the import and 2 RUNs: {h}");

        // The target that fails is not needed by the others either.
        let out = ctx.rless(&["build", "--target", "unused", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(out.stderr.contains("exit status 3"), "{out}");
        assert!(!out.stdout.contains("echo base"), "{out}");

        let before = ctx.snapshot();
        let out = ctx.rless(&["build", "--target", "nope", "-t", "x", &dir]);
        assert_refused(
            ctx,
            &out,
            &before,
            125,
            "rless: target stage \"nope\" could not be found",
        );
        assert!(out.stdout.is_empty(), "nothing runs: {out}");
        // A stage index is no target, as in docker.
        let out = ctx.rless(&["build", "--target", "1", &dir]);
        assert_refused(ctx, &out, &before, 125, "target stage \"1\"");
    });
}

/// A COPY --from of the stage itself or a later one (by index or name),
/// and two stages of one name, are refused before anything runs.
#[test]
fn build_stage_reference_refusals() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_stage_reference_refusals", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", "FROM bb\n")]);
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        for (file, says) in [
            (
                "FROM bb AS one\nRUN true\nFROM bb\nCOPY --from=1 /etc /x\n",
                "line 4: COPY --from=1: names this stage (1)",
            ),
            (
                "FROM bb AS one\nCOPY --from=Two /etc /x\nFROM bb AS two\n",
                "line 2: COPY --from=Two: names a later stage (1)",
            ),
            (
                "FROM bb AS one\nCOPY --from=5 /etc /x\n",
                "line 2: COPY --from=5: there is no stage 5 before this one",
            ),
            (
                "FROM bb AS x\nRUN true\nFROM bb AS X\n",
                "line 3: duplicate stage name \"x\"",
            ),
        ] {
            ctx.write_file("ctx/Containerfile", file.as_bytes());
            let out = ctx.rless(&["build", &dir]);
            assert_refused(ctx, &out, &before, 125, says);
            assert!(out.stdout.is_empty(), "nothing runs: {out}");
        }
        // A variable's value is checked when its step runs.
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb AS one\nARG S=one\nCOPY --from=$S /etc/group /x\n",
        );
        // Without the build cache, which keeps the ARG step's entry.
        let out = ctx.rless(&["build", "--layers=false", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains("--from=one: names this stage (0)"),
            "{out}"
        );
        assert_no_containers(ctx, &out.cmdline);
        ctx.snapshot().assert_same(&before, &out.cmdline);
    });
}

/// What rless does not do (`ADD --parents`, docker's is COPY's only;
/// `ADD --keep-git-dir`, as rless fetches no git; `COPY --checksum`,
/// which docker refuses too; `RUN --security`) is refused naming the
/// line, before anything runs.
#[test]
fn build_unsupported_flags_refused() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_unsupported_flags_refused", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", "FROM bb\n"), ("f", "f\n")]);
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        for (line, says) in [
            ("ADD --parents f /p/", "ADD --parents is not supported"),
            (
                "ADD --keep-git-dir=true https://example.com/r.git /r",
                "ADD --keep-git-dir is not supported (rless does not fetch git repositories)",
            ),
            (
                "COPY --checksum=sha256:00 f /f",
                "COPY --checksum is not supported",
            ),
            // RUN's --mount and --network are tests/build_mount.rs'.
            (
                "RUN --security=insecure true",
                "RUN --security is not supported",
            ),
        ] {
            let file = format!("FROM bb\nENV A=1\n{line}\n");
            ctx.write_file("ctx/Containerfile", file.as_bytes());
            let out = ctx.rless(&["build", &dir]);
            assert_refused(
                ctx,
                &out,
                &before,
                125,
                &format!("rless: Containerfile: line 3: {says}"),
            );
            assert!(out.stdout.is_empty(), "nothing runs: {out}");
        }
    });
}

/// `COPY --from` with a wildcard into a directory that only its container
/// user may read (mode 700): the names are read in the user namespace.
/// Subuid mode only: a single-id user has no uid 1000 to give it.
#[test]
fn build_copy_from_wildcard_in_a_private_directory() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_copy_from_wildcard_in_a_private_directory", |ctx| {
        if ctx.user.mode == common::Mode::Single {
            eprintln!("(single-id mode: no uid 1000 to own the directory)");
            return;
        }
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[(
                "Containerfile",
                "FROM bb AS b\n\
                 RUN mkdir -p /app/priv && echo x > /app/priv/a.txt && echo y > /app/priv/b.log \
                 && busybox chown -R 1000:1000 /app/priv && chmod 700 /app/priv\n\
                 FROM bb\n\
                 COPY --from=b /app/priv/*.txt /out/\n",
            )],
        );
        ctx.ok(&["build", "-t", "private", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "private",
            "sh",
            "-c",
            "ls /out; cat /out/a.txt",
        ]);
        assert_eq!(r.stdout, "a.txt\nx\n", "{r}");
    });
}
