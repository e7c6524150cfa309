//! `rless build`: a Containerfile of the supported instructions builds an
//! image that runs with what they set; history lists the steps; COPY
//! --chown, `.dockerignore` and symlinks; refusals (context escape, an
//! unknown instruction) name what and where; a failing RUN reports its
//! step and exit code and leaves the store as it was (without the build
//! cache, `--layers=false`; the cache is tests/build_cache.rs'); `image prune` during
//! a build leaves its intermediate images; what a killed build left goes
//! at the next build; a base image not in the store is pulled.
//!
//! Every scenario but the pull imports a busybox root filesystem as
//! [`IMG`] (see `common::run_helpers`), so no registry is needed; the pull
//! uses the test registry (tests/run.sh).

mod common;

use common::background::Background;
use common::checks::*;
use common::oci::{busybox_layer, Built, Comp, Format, Registry};
use common::run_helpers::*;
use common::{for_each_user, Ctx, Mode, Out};
use std::path::Path;

/// The image id a build printed last on stdout.
fn built_id(out: &Out) -> String {
    let id = out.stdout.lines().last().unwrap_or("").to_string();
    assert!(common::is_hex64(&id), "build must end with the id: {out}");
    id
}

/// A failed build: exit 1, one `rless:` line, and the store as before.
fn assert_failed_cleanly(ctx: &Ctx, out: &Out, before: &common::Snapshot, says: &str) {
    assert_eq!(out.code, Some(1), "a failed build exits 1: {out}");
    assert_one_line(ctx, out, before, says);
}

/// A Containerfile refused before anything runs: exit 125 (podman's),
/// one `rless:` line, and the store as before.
fn assert_input_refused(ctx: &Ctx, out: &Out, before: &common::Snapshot, says: &str) {
    assert_eq!(
        out.code,
        Some(125),
        "a refused Containerfile exits 125: {out}"
    );
    assert_one_line(ctx, out, before, says);
}

fn assert_one_line(ctx: &Ctx, out: &Out, before: &common::Snapshot, says: &str) {
    let errs: Vec<&str> = stderr_lines(out)
        .into_iter()
        .filter(|l| l.starts_with("rless: "))
        .collect();
    assert_eq!(errs.len(), 1, "one error line: {out}");
    assert!(errs[0].contains(says), "the error must say {says:?}: {out}");
    assert_no_containers(ctx, &out.cmdline);
    ctx.snapshot().assert_same(before, &out.cmdline);
}

const FILE: &str = r#"# A comment, and an ARG before FROM.
ARG BASE=bb
FROM $BASE
ARG WHO=nobody
ENV GREETING=hello \
    TARGET=${WHO} UNSET=${NOPE:-fallback}
LABEL org.test.kind="built image" who=$WHO
WORKDIR /srv/app
COPY hello.txt .
COPY --chown=1000:100 tree /srv/owned/
COPY --chown=alice tree/one.txt /srv/named.txt
COPY tree/*.txt /srv/glob/
COPY . /srv/ctx
RUN echo "ran as $(id -u) in $(pwd) with $GREETING" > /srv/ran && \
    echo "arg:$WHO" >> /srv/ran
RUN ["/bin/sh", "-c", "echo exec-form > /srv/exec"]
SHELL ["/bin/sh", "-c"]
USER 1000:100
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "-c", "echo entry:$0:$1", "first"]
CMD ["second"]
"#;

#[test]
fn build_instructions() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_instructions", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", FILE),
                ("hello.txt", "hi there\n"),
                ("tree/one.txt", "1\n"),
                ("tree/two.txt", "2\n"),
                ("tree/sub/three", "3\n"),
                ("tree/skip.log", "log\n"),
                ("secret/key", "k\n"),
                ("keep.log", "kept\n"),
                (".dockerignore", "secret\n**/*.log\n!keep.log\n"),
            ],
        );
        std::os::unix::fs::symlink("/etc/passwd", Path::new(&dir).join("outlink")).unwrap();
        ctx.give(&Path::new(&dir).join("outlink"));
        // Single-id mode maps root alone: no other owners or users.
        let single = ctx.user.mode == Mode::Single;
        if single {
            let file = FILE
                .replace("--chown=1000:100 ", "")
                .replace("--chown=alice ", "")
                .replace("USER 1000:100", "USER 0:0");
            ctx.write_file("ctx/Containerfile", file.as_bytes());
        }
        let out = ctx.ok(&["build", "-t", "built:1", "--build-arg", "WHO=me", &dir]);
        let id = built_id(&out);
        let steps: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("STEP "))
            .collect();
        assert_eq!(steps.len(), 19, "one line per step: {out}");
        assert_eq!(steps[0], "STEP 1/19: FROM $BASE", "{out}");
        assert!(out.stdout.contains("STEP 11/19: RUN echo"), "{out}");

        // The files, owners, environment, working directory and user.
        let check = ctx.ok(&[
            "run", "--rm", "--entrypoint", "/bin/sh", "built:1", "-c",
            "id -u; id -g; pwd; echo $GREETING $TARGET $UNSET; cat /srv/app/hello.txt /srv/ran /srv/exec; \
             stat -c '%u:%g %n' /srv/owned /srv/owned/one.txt /srv/owned/sub/three /srv/named.txt /srv/app/hello.txt; \
             ls /srv/glob; ls -a /srv/ctx; readlink /srv/ctx/outlink",
        ]);
        let expect = "1000\n100\n/srv/app\nhello me fallback\nhi there\n\
            ran as 0 in /srv/app with hello\narg:me\nexec-form\n\
            1000:100 /srv/owned\n1000:100 /srv/owned/one.txt\n1000:100 /srv/owned/sub/three\n\
            1000:1000 /srv/named.txt\n0:0 /srv/app/hello.txt\n\
            one.txt\ntwo.txt\n\
            .\n..\n.dockerignore\nContainerfile\nhello.txt\nkeep.log\noutlink\ntree\n\
            /etc/passwd\n";
        let expect = if single {
            expect
                .replacen("1000\n100\n", "0\n0\n", 1)
                .replace("1000:1000", "0:0")
                .replace("1000:100", "0:0")
        } else {
            expect.to_string()
        };
        assert_eq!(check.stdout, expect, "{check}");
        // *.log everywhere is ignored, so tree/ has no skip.log.
        let t = ctx.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "ls",
            "built:1",
            "/srv/ctx/tree",
        ]);
        assert_eq!(t.stdout, "one.txt\nsub\ntwo.txt\n", "{t}");
        // ENTRYPOINT and CMD.
        let r = ctx.ok(&["run", "--rm", "built:1"]);
        assert_eq!(r.stdout, "entry:first:second\n", "{r}");

        let img = ctx.inspect("built:1");
        let c = &img["Config"];
        assert_eq!(
            img["Id"].as_str().unwrap().trim_start_matches("sha256:"),
            id
        );
        assert_eq!(c["Labels"]["org.test.kind"], "built image", "{img}");
        assert_eq!(c["Labels"]["who"], "me", "{img}");
        assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{img}");
        assert!(c["ExposedPorts"].get("53/udp").is_some(), "{img}");
        assert!(c["Volumes"].get("/data").is_some(), "{img}");
        assert_eq!(c["StopSignal"], "SIGINT", "{img}");
        assert_eq!(c["User"], if single { "0:0" } else { "1000:100" }, "{img}");
        assert_eq!(c["WorkingDir"], "/srv/app", "{img}");
        let env: Vec<&str> = c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"TARGET=me") && !env.iter().any(|e| e.starts_with("WHO=")),
            "ARGs are not kept: {env:?}"
        );

        // History: the steps, oldest first, after the base's.
        let h = ctx.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "built:1",
        ]);
        let lines: Vec<&str> = h.stdout.lines().collect();
        assert!(lines[0].contains("CMD [\"second\"]"), "{h}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("/bin/sh -c echo \"ran as")),
            "{h}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("COPY ") && l.contains("tree /srv/owned/")),
            "{h}"
        );
        assert_eq!(lines.len(), 19, "the import and 18 steps after FROM: {h}");
        // One layer per RUN, COPY and the WORKDIR that made its directory.
        let layers = img["RootFS"]["Layers"].as_array().unwrap().len();
        assert_eq!(layers, 1 + 1 + 5 + 2, "{img}");

        // Nothing else is left: no containers, no intermediate images.
        assert_no_containers(ctx, "build");
        assert_eq!(
            ctx.image_ids().len(),
            2,
            "only the base and the built image"
        );
        // -q prints the id alone.
        let q = ctx.ok(&["build", "-q", "-f", &format!("{dir}/Containerfile"), &dir]);
        assert_eq!(q.stdout.lines().count(), 1, "{q}");
        built_id(&q);
    });
}

#[test]
fn build_refusals() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_refusals", |ctx| {
        assert!(setup_image(ctx));
        ctx.write_file("outside.txt", b"secret\n");
        let dir = build_context(
            ctx,
            &[("Containerfile", "FROM bb\nCOPY ../outside.txt /x\n")],
        );
        // `containers/` exists before, as after any run.
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        let out = ctx.rless(&["build", &dir]);
        assert_failed_cleanly(
            ctx,
            &out,
            &before,
            "../outside.txt: outside the build context",
        );
        assert!(
            out.stderr.contains("build step 2/2 COPY ../outside.txt /x"),
            "{out}"
        );

        // A symlinked directory cannot lead out either.
        std::os::unix::fs::symlink("..", ctx.work.join("ctx/up")).unwrap();
        ctx.give(&ctx.work.join("ctx/up"));
        ctx.write_file("ctx/Containerfile", b"FROM bb\nCOPY up/outside.txt /x\n");
        let out = ctx.rless(&["build", &dir]);
        assert_failed_cleanly(ctx, &out, &before, "outside the build context");

        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nENV A=1\n\n# c\nFROBNICATE x\n",
        );
        let out = ctx.rless(&["build", &dir]);
        assert_input_refused(
            ctx,
            &out,
            &before,
            "Containerfile: line 5: unknown instruction FROBNICATE",
        );
        assert!(out.stdout.is_empty(), "nothing runs: {out}");

        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb AS one\nFROM bb\nADD --parents f /b\n",
        );
        let out = ctx.rless(&["build", &dir]);
        assert_input_refused(
            ctx,
            &out,
            &before,
            "Containerfile: line 3: ADD --parents is not supported",
        );
        assert!(out.stdout.is_empty(), "nothing runs: {out}");

        // COPY --from of a path the stage does not have.
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb AS one\nFROM bb\nCOPY --from=one /no/such /b\n",
        );
        let out = ctx.rless(&["build", &dir]);
        assert_failed_cleanly(ctx, &out, &before, "--from=one /no/such");
    });
}

#[test]
fn build_multi_stage() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_multi_stage", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb AS builder\n\
            RUN mkdir -p /out/dir/sub && echo tool > /out/tool && echo deep > /out/dir/sub/f\n\
            FROM scratch AS empty\n\
            FROM builder\n\
            RUN echo second > /second\n\
            FROM bb\n\
            COPY --from=builder /out/tool /usr/local/bin/\n\
            COPY --from=2 /second /second.txt\n\
            COPY --from=BUILDER out/dir /copied\n\
            COPY --from=bb /etc/group /group-from-image\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let out = ctx.ok(&["build", "-t", "multi", &dir]);
        built_id(&out);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "multi",
            "sh",
            "-c",
            "cat /usr/local/bin/tool /second.txt /copied/sub/f; \
             stat -c '%u:%g' /usr/local/bin/tool; head -1 /group-from-image; \
             test -e /out || echo no-builder-files",
        ]);
        assert_eq!(
            r.stdout, "tool\nsecond\ndeep\n0:0\nroot:x:0:\nno-builder-files\n",
            "{r}"
        );
        // The last stage's steps alone are its history; no stage is left
        // as an image.
        let h = ctx.ok(&["history", "--format", "{{.CreatedBy}}", "multi"]);
        assert_eq!(h.stdout.lines().count(), 5, "the import and 4 COPYs: {h}");
        assert_no_containers(ctx, "multi-stage build");
        assert_eq!(
            ctx.image_ids().len(),
            2,
            "only the base and the built image"
        );
    });
}

#[test]
fn build_failing_run() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_failing_run", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                (
                    "Containerfile",
                    "FROM bb\nRUN echo one > /one\nCOPY f /f\nRUN echo failing; exit 3\nRUN echo never\n",
                ),
                ("f", "f\n"),
            ],
        );
        // `containers/` exists before, as after any run.
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        // Without the build cache, which keeps the steps before the failed
        // one (tests/build_cache.rs).
        let out = ctx.rless(&["build", "--layers=false", "-t", "never", &dir]);
        assert_failed_cleanly(
            ctx,
            &out,
            &before,
            "build step 4/5 RUN echo failing; exit 3: exit status 3",
        );
        assert!(out.stdout.contains("failing\n"), "the RUN's output: {out}");
        assert!(!out.stdout.contains("STEP 5/5"), "{out}");
        let tmp: Vec<String> = ["", "containers", "layers", "images", "blobs/sha256"]
            .iter()
            .flat_map(|d| common::list_names(&ctx.root.join(d)))
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(tmp.is_empty(), "temp dirs left: {tmp:?}");
    });
}

#[test]
fn build_chown_unmapped() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_chown_unmapped", |ctx| {
        assert!(setup_image(ctx));
        // Past any subordinate range (tests use 65536 ids).
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", "FROM bb\nCOPY --chown=4000000000 f /f\n"),
                ("f", "f\n"),
            ],
        );
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        let out = ctx.rless(&["build", &dir]);
        assert_failed_cleanly(
            ctx,
            &out,
            &before,
            "--chown=4000000000: id 4000000000 is not mapped",
        );
    });
}

#[test]
fn build_add_archive_and_network() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_add_archive_and_network", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                (
                    "Containerfile",
                    "FROM bb\nADD arch.tar.gz /opt/\nADD plain.txt /opt/copied.txt\n\
                     RUN ls /sys/class/net > /nets\n",
                ),
                ("plain.txt", "plain\n"),
                ("src/in/file", "from the tar\n"),
            ],
        );
        let st = std::process::Command::new("tar")
            .args(["czf", "arch.tar.gz", "-C", "src", "in"])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        ctx.give(&Path::new(&dir).join("arch.tar.gz"));
        let out = ctx.ok(&["build", "--network", "none", "-t", "added", &dir]);
        built_id(&out);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "added",
            "cat",
            "/opt/in/file",
            "/opt/copied.txt",
            "/nets",
        ]);
        // The archive is extracted; with --network none RUN has only lo.
        assert_eq!(r.stdout, "from the tar\nplain\nlo\n", "{r}");
        let l = ctx.ok(&["run", "--rm", "added", "ls", "/opt"]);
        assert_eq!(l.stdout, "copied.txt\nin\n", "{l}");

        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nADD ftp://127.0.0.1:9/x /x\n",
        );
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        let out = ctx.rless(&["build", &dir]);
        assert_failed_cleanly(
            ctx,
            &out,
            &before,
            "only http:// and https:// URLs are fetched",
        );
    });
}

/// A build waiting for the store lock another process holds stops on
/// Ctrl-C (exit 130) and SIGTERM (exit 143), saying it was interrupted,
/// and leaves nothing; it waited on, deaf to them (its handler restarted
/// the blocking flock).
#[test]
fn build_store_lock_wait_interrupted() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_store_lock_wait_interrupted", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", "FROM bb\nRUN echo never\n")]);
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        // Held as `rmi` or a pull holds it exclusively.
        let lock = std::fs::File::open(ctx.root.join("store.lock")).unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        for (sig, code) in [
            (rustix::process::Signal::INT, 130),
            (rustix::process::Signal::TERM, 143),
        ] {
            let b = Background::spawn(ctx, &["build", "--layers=false", "-t", "never", &dir]);
            let waits = eventually(std::time::Duration::from_secs(60), || {
                b.stderr().contains("waiting for the image store lock")
            });
            assert!(waits, "the build never waited: {}", b.stderr());
            b.signal(sig);
            let err = b.stderr.clone();
            let (got, out) = b.finish(std::time::Duration::from_secs(60));
            let err = String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
            assert_eq!(got, Some(code), "{out:?} {err}");
            assert!(err.contains("rless: build interrupted"), "{err}");
            assert!(out.iter().all(|l| !l.starts_with("STEP")), "{out:?}");
        }
        drop(lock);
        assert_no_containers(ctx, "a build stopped while it waited");
        ctx.snapshot()
            .assert_same(&before, "a build stopped while it waited");
    });
}

#[test]
fn build_interrupted() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_interrupted", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                (
                    "Containerfile",
                    "FROM bb\nCOPY f /f\nRUN echo started; exec sleep 1000\nRUN echo never\n",
                ),
                ("f", "f\n"),
            ],
        );
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        // Without the build cache, which keeps the COPY's image.
        let mut child = ctx
            .rless_cmd(&["build", "--layers=false", "-t", "never", &dir])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The RUN step's container runs.
        let running = eventually(std::time::Duration::from_secs(60), || {
            !ctx.ok(&["ps", "-q", "--filter", "status=running"])
                .stdout
                .trim()
                .is_empty()
        });
        assert!(running, "the RUN step never started");
        // As a Ctrl-C does: the build passes it on, then cleans up.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = wait_timeout(&mut child, std::time::Duration::from_secs(120))
            .expect("the build must end after SIGINT");
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(130), "{err}");
        assert!(err.contains("rless: build interrupted"), "{err}");
        assert_no_containers(ctx, "an interrupted build");
        ctx.snapshot().assert_same(&before, "an interrupted build");
    });
}

/// `image prune` (with and without -a) while a build runs leaves the
/// build's intermediate images and the images it looked up: later steps
/// still copy from an earlier stage's intermediate image and from a stage
/// that is its base image as it was, neither used by a container then.
#[test]
fn build_survives_a_concurrent_prune() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_survives_a_concurrent_prune", |ctx| {
        assert!(setup_image(ctx));
        // Another image for the last stage (bb's layer and an empty one).
        ctx.ok(&["create", "--name", "o", IMG, "true"]);
        ctx.ok(&["commit", "o", "other"]);
        ctx.ok(&["rm", "o"]);
        let file = "FROM bb AS first\n\
            RUN echo one > /one\n\
            FROM bb AS plain\n\
            ENV X=1\n\
            FROM other\n\
            RUN echo ready; while [ ! -e /go ]; do sleep 0.1; done\n\
            COPY --from=first /one /one\n\
            COPY --from=plain /etc/group /plain-group\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let wait = std::time::Duration::from_secs(120);
        let mut build = Background::spawn(ctx, &["build", "-t", "pruned", &dir]);
        build.wait_line("ready", wait);
        ctx.ok(&["image", "prune", "-f"]);
        ctx.ok(&["image", "prune", "-a", "-f"]);
        // The RUN step goes on.
        let running = ctx.ok(&["ps", "-q", "--filter", "status=running"]);
        let step = running.stdout.lines().next().expect("the RUN step runs");
        ctx.ok(&["exec", step, "touch", "/go"]);
        let stderr = build.stderr.clone();
        let (code, lines) = build.finish(wait);
        let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
        assert_eq!(code, Some(0), "{lines:?} {stderr}");
        let out = ctx.ok(&[
            "run",
            "--rm",
            "pruned",
            "sh",
            "-c",
            "cat /one; head -1 /plain-group",
        ]);
        assert_eq!(out.stdout, "one\nroot:x:0:\n", "{out}");
        assert_no_containers(ctx, "a build with a prune");
        assert_eq!(ctx.image_ids().len(), 3, "bb, other and the built image");
    });
}

/// A build killed with SIGKILL during a RUN: the step ends with it; the
/// step container and intermediate images it left are removed by the
/// next build, but for one the user has named since.
#[test]
fn build_killed_leaves_nothing_after_the_next() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_killed_leaves_nothing_after_the_next", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\nRUN echo one > /one\nRUN echo two > /two\n\
                    RUN echo ready; exec sleep 1000\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let wait = std::time::Duration::from_secs(120);
        // Without the build cache, which keeps the steps that ended.
        let mut build = Background::spawn(ctx, &["build", "--layers=false", "-t", "killed", &dir]);
        build.wait_line("ready", wait);
        build.signal(rustix::process::Signal::KILL);
        let (code, _) = build.finish(wait);
        assert_eq!(code, None, "killed");
        let running = || ctx.ok(&["ps", "-q", "--filter", "status=running"]).stdout;
        assert!(
            eventually(wait, || running().trim().is_empty()),
            "the RUN step must end with the build: {}",
            running()
        );
        // Left: the RUN's container and the two steps' images; the user
        // names one of them.
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout.lines().count(), 1);
        let left = ctx.ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
        let left: Vec<&str> = left.stdout.lines().collect();
        assert_eq!(left.len(), 2, "{left:?}");
        ctx.ok(&["tag", left[0], "kept"]);

        let dir = build_context(ctx, &[("Containerfile", "FROM bb\nLABEL next=1\n")]);
        let out = ctx.ok(&["build", "-q", "-t", "next", &dir]);
        let id = built_id(&out);
        assert_no_containers(ctx, "the build after a killed one");
        let ids = ctx.image_ids();
        assert_eq!(
            ids.len(),
            3,
            "the base, the named one and the new image: {ids:?}"
        );
        assert!(ids.iter().any(|i| i.contains(&id)), "{ids:?} {id}");
        ctx.ok(&["image", "inspect", "kept"]);
    });
}

/// `FROM` an image the store does not have pulls it from its registry
/// (as `rless pull -q`); it stays, by its name, next to the built image.
#[test]
fn build_pulls_a_missing_base() {
    let Some(reg) = Registry::open() else { return };
    let Some(layer) = busybox_layer() else { return };
    for_each_user("build_pulls_a_missing_base", |ctx| {
        let img = Built::host(Format::Oci, &[(layer, Comp::Gzip)]);
        let base = reg.push(&ctx.repo("base"), "v1", &img);
        let file = format!("FROM {}\nRUN echo built-on-pulled > /p\n", base.reference);
        let dir = build_context(ctx, &[("Containerfile", &file)]);
        assert!(ctx.image_ids().is_empty());
        let out = ctx.ok(&["build", "-t", "frompull", &dir]);
        built_id(&out);
        let pulled = ctx.ok(&["images", "-q", "--no-trunc", &base.reference]);
        assert!(pulled.stdout.contains(&base.id), "{pulled}");
        let r = ctx.ok(&["run", "--rm", "frompull", "cat", "/p"]);
        assert_eq!(r.stdout, "built-on-pulled\n", "{r}");
        assert_no_containers(ctx, "a build that pulled its base");
        assert_eq!(ctx.image_ids().len(), 2, "the base and the built image");
    });
}
