//! `rless build` against what docker and podman make of the same
//! Containerfile: owners of the directories COPY --chown and WORKDIR
//! create, COPY of a source that is a symlink, and the build arguments
//! docker predefines.
//!
//! Theory of operation: each scenario builds a small Containerfile from
//! the busybox image [`IMG`] (see `common::run_helpers`; no registry) and
//! reads the result back with `rless run`. The expectations are what
//! podman 4.3 (`podman --runtime runc build`) gave for the same file.

mod common;

use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Mode};
use std::path::Path;

/// A WORKDIR made under a USER belongs to that user (a RUN as that user
/// can write there), and the directories a COPY --chown makes for its
/// destination belong to the --chown owner; without either, root's.
#[test]
fn build_created_dir_owners() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_created_dir_owners", |ctx| {
        assert!(setup_image(ctx));
        // Single-id mode maps root alone: alice's files cannot be made.
        if ctx.user.mode == Mode::Single {
            return;
        }
        let file = "FROM bb\n\
            COPY --chown=alice:users f /chowned/deep/\n\
            COPY --chown=1000 d /chowned-dir\n\
            COPY f /plain/deep/\n\
            USER alice\n\
            WORKDIR /app/sub\n\
            RUN echo written > here\n\
            USER 0\n\
            WORKDIR /rootdir\n";
        let dir = build_context(
            ctx,
            &[("Containerfile", file), ("f", "f\n"), ("d/x", "x\n")],
        );
        ctx.ok(&["build", "-t", "owners", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "owners",
            "stat",
            "-c",
            "%u:%g %n",
            "/chowned",
            "/chowned/deep",
            "/chowned/deep/f",
            "/chowned-dir",
            "/chowned-dir/x",
            "/plain",
            "/plain/deep",
            "/app",
            "/app/sub",
            "/app/sub/here",
            "/rootdir",
        ]);
        assert_eq!(
            r.stdout,
            "1000:100 /chowned\n1000:100 /chowned/deep\n1000:100 /chowned/deep/f\n\
             1000:1000 /chowned-dir\n1000:1000 /chowned-dir/x\n\
             0:0 /plain\n0:0 /plain/deep\n\
             1000:1000 /app\n1000:1000 /app/sub\n1000:1000 /app/sub/here\n\
             0:0 /rootdir\n",
            "{r}"
        );
    });
}

/// A source that is a symlink is followed inside the context (its target
/// copied under the link's name; an absolute target is the context's),
/// while symlinks inside a copied directory stay symlinks.
#[test]
fn build_copy_symlink_sources() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_copy_symlink_sources", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\n\
            COPY to-file /file-copy\n\
            COPY to-dir /dir-copy\n\
            COPY abs-to-file /abs-copy\n\
            COPY to-* /globbed/\n\
            COPY tree /tree\n";
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", file),
                ("real/f", "content\n"),
                ("real/sub/g", "g\n"),
                ("tree/t", "t\n"),
            ],
        );
        for (target, link) in [
            ("real/f", "to-file"),
            ("real", "to-dir"),
            ("/real/f", "abs-to-file"),
            ("t", "tree/inner-link"),
        ] {
            let l = Path::new(&dir).join(link);
            std::os::unix::fs::symlink(target, &l).unwrap();
            ctx.give(&l);
        }
        ctx.ok(&["build", "-t", "links", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "links",
            "sh",
            "-c",
            "for p in /file-copy /dir-copy /dir-copy/sub /abs-copy /globbed/to-file \
             /globbed/f /globbed/sub/g /tree/inner-link; do \
               if [ -L $p ]; then echo \"$p link $(readlink $p)\"; \
               elif [ -d $p ]; then echo \"$p dir\"; else echo \"$p $(cat $p)\"; fi; \
             done",
        ]);
        assert_eq!(
            r.stdout,
            "/file-copy content\n/dir-copy dir\n/dir-copy/sub dir\n/abs-copy content\n\
             /globbed/to-file content\n/globbed/f content\n/globbed/sub/g g\n\
             /tree/inner-link link t\n",
            "{r}"
        );
        // A link whose target is not in the context is a missing source.
        let l = Path::new(&dir).join("dangling");
        std::os::unix::fs::symlink("/etc/passwd", &l).unwrap();
        ctx.give(&l);
        ctx.write_file("ctx/Containerfile", b"FROM bb\nCOPY dangling /x\n");
        let out = ctx.rless(&["build", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr
                .contains("dangling: no such file or directory in the build context"),
            "{out}"
        );
    });
}

/// The platform ARGs are defined (this host's) for an `ARG NAME` without
/// a value, the proxy build arguments reach a RUN without an ARG (and are
/// not "unused"), `--build-arg NAME` takes the caller's value, `-f` may
/// name a file outside the context, and COPY's JSON form is expanded.
#[test]
fn build_predefined_args() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_predefined_args", |ctx| {
        assert!(setup_image(ctx));
        let file = "ARG TARGETARCH\n\
            FROM bb\n\
            ARG TARGETARCH\n\
            ARG TARGETPLATFORM\n\
            ARG FROMENV\n\
            ARG SRC=f\n\
            COPY [\"$SRC\", \"/json-${SRC}\"]\n\
            RUN echo \"$TARGETARCH $TARGETPLATFORM $FROMENV $HTTP_PROXY $BUILDOS\" > /out\n";
        ctx.write_file("elsewhere/Build.file", file.as_bytes());
        let dir = build_context(ctx, &[("f", "f\n")]);
        let outside = ctx.work.join("elsewhere/Build.file");
        let mut c = ctx.rless_cmd(&[
            "build",
            "-t",
            "args",
            "-f",
            outside.to_str().unwrap(),
            "--build-arg",
            "FROMENV",
            "--build-arg",
            "HTTP_PROXY=http://proxy.invalid:3128",
            &dir,
        ]);
        c.env("FROMENV", "from-the-environment");
        let out = common::run_cmd(c, None, std::time::Duration::from_secs(300), "build");
        assert!(out.success(), "{out}");
        assert!(!out.stderr.contains("not used"), "{out}");
        // The JSON form's elements are expanded too.
        let r = ctx.ok(&["run", "--rm", "args", "cat", "/json-f", "/out"]);
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        // BUILDOS was not declared in the stage: empty there.
        assert_eq!(
            r.stdout,
            format!("f\n{arch} linux/{arch} from-the-environment http://proxy.invalid:3128 \n"),
            "{r}"
        );
        // The proxy is not kept in the image.
        let img = ctx.inspect("args");
        assert!(!img["Config"]["Env"].to_string().contains("proxy"), "{img}");
    });
}

/// COPY --from keeps the owners the files have in the source stage
/// (`--chown` still sets them), makes missing destination directories
/// root's, and follows a symlink named as the source, as docker and
/// podman do.
#[test]
fn build_copy_from_keeps_owners() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_copy_from_keeps_owners", |ctx| {
        assert!(setup_image(ctx));
        let single = ctx.user.mode == Mode::Single;
        // Single-id mode maps root alone: no other owner can be made.
        let chown = if single {
            "true"
        } else {
            "chown -R 1000:100 /out"
        };
        let file = format!(
            "FROM bb AS builder\n\
             RUN mkdir -p /out/lib && echo tool > /out/tool && echo l > /out/lib/l && \
             ln -s tool /out/alias && {chown}\n\
             FROM bb\n\
             COPY --from=builder /out/tool /new/dir/\n\
             COPY --from=builder /out/lib /lib-copy\n\
             COPY --from=builder /out/alias /alias-copy\n\
             COPY --from=builder --chown=0:0 /out/tool /rooted\n"
        );
        let dir = build_context(ctx, &[("Containerfile", &file)]);
        ctx.ok(&["build", "-t", "from-owners", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "from-owners",
            "sh",
            "-c",
            "stat -c '%u:%g %n' /new /new/dir /new/dir/tool /lib-copy/l /alias-copy /rooted; \
             [ -L /alias-copy ] && echo still a link; cat /alias-copy",
        ]);
        let o = if single { "0:0" } else { "1000:100" };
        assert_eq!(
            r.stdout,
            format!(
                "0:0 /new\n0:0 /new/dir\n{o} /new/dir/tool\n{o} /lib-copy/l\n\
                 {o} /alias-copy\n0:0 /rooted\ntool\n"
            ),
            "{r}"
        );
    });
}

/// `COPY --chmod` (from the context and --from) sets the permission bits
/// of every file and directory copied but not of the directories made for
/// the destination; `FROM --platform=$BUILDPLATFORM` (the host's) is
/// accepted and another platform refused, as podman does for both.
#[test]
fn build_chmod_and_from_platform() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_chmod_and_from_platform", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM --platform=$BUILDPLATFORM bb AS b\n\
            RUN mkdir -p /o/p && echo 1 > /o/p/f && chmod 600 /o/p/f\n\
            FROM bb\n\
            COPY --chmod=700 a /a\n\
            COPY --chmod=751 d /d/\n\
            COPY --from=b --chmod=0644 /o /o\n";
        let dir = build_context(
            ctx,
            &[("Containerfile", file), ("a", "a\n"), ("d/sub/s", "s\n")],
        );
        ctx.ok(&["build", "-t", "modes", &dir]);
        let r = ctx.ok(&[
            "run", "--rm", "modes", "stat", "-c", "%a %n", "/a", "/d", "/d/sub", "/d/sub/s", "/o",
            "/o/p", "/o/p/f",
        ]);
        assert_eq!(
            r.stdout, "700 /a\n755 /d\n751 /d/sub\n751 /d/sub/s\n755 /o\n644 /o/p\n644 /o/p/f\n",
            "{r}"
        );
        let other = if std::env::consts::ARCH == "s390x" {
            "linux/amd64"
        } else {
            "linux/s390x"
        };
        ctx.write_file(
            "ctx/Containerfile",
            format!("FROM --platform={other} bb\nRUN true\n").as_bytes(),
        );
        let out = ctx.rless(&["build", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains(&format!(
                "--platform={other}: rless builds for this host's platform"
            )),
            "{out}"
        );
        assert!(!out.stdout.contains("STEP 2/2"), "{out}");
    });
}

/// A RUN that leaves files its user cannot read (a directory without x,
/// a mode 000 file) is committed with them, in single-id mode too (the
/// commit reads the writable layer as the namespace's root).
#[test]
fn build_commits_unreadable_files() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_commits_unreadable_files", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\n\
            RUN mkdir -p /x/y && echo hi > /x/y/f && chmod 000 /x/y/f && chmod 600 /x/y\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        ctx.ok(&["build", "-t", "unreadable", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "unreadable",
            "sh",
            "-c",
            "cat /x/y/f; stat -c '%a %n' /x/y /x/y/f",
        ]);
        assert_eq!(r.stdout, "hi\n600 /x/y\n0 /x/y/f\n", "{r}");
        ctx.ok(&["rmi", "unreadable"]);
    });
}

/// MAINTAINER sets the author; HEALTHCHECK (with its options) sets the
/// config's health check; ONBUILD (with a heredoc, whose body is no
/// instruction) is left out with one warning line, as podman does for
/// OCI images, instead of failing the build.
#[test]
fn build_maintainer_healthcheck_onbuild() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_maintainer_healthcheck_onbuild", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\n\
            MAINTAINER Jane Doe <jane@example.com>\n\
            HEALTHCHECK --interval=5s --timeout=3s CMD wget -q localhost || exit 1\n\
            ONBUILD RUN <<EOF\n\
            echo later\n\
            EOF\n\
            CMD [\"true\"]\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let out = ctx.ok(&["build", "-t", "kept", &dir]);
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("rless: warning: "))
            .collect();
        assert_eq!(
            warnings,
            ["rless: warning: line 4: ONBUILD is not kept: an OCI image has no place for it"],
            "{out}"
        );
        let img = ctx.inspect("kept");
        assert_eq!(img["Author"], "Jane Doe <jane@example.com>", "{img}");
        assert_eq!(img["Config"]["Cmd"], serde_json::json!(["true"]), "{img}");
        // HEALTHCHECK is kept in docker's config field.
        let hc = &img["Config"]["Healthcheck"];
        assert_eq!(
            hc["Test"],
            serde_json::json!(["CMD-SHELL", "wget -q localhost || exit 1"]),
            "{img}"
        );
        assert_eq!(hc["Interval"], 5_000_000_000u64, "{img}");
        let h = ctx.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "kept",
        ]);
        assert!(h.stdout.contains("#(nop) HEALTHCHECK --interval=5s"), "{h}");
    });
}

/// `-f -` reads the Containerfile from standard input (the context still
/// gives the files).
#[test]
fn build_file_from_stdin() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_file_from_stdin", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("f", "from the context\n")]);
        let out = ctx.rless_stdin(
            &["build", "-t", "piped", "-f", "-", &dir],
            b"FROM bb\nCOPY f /f\nLABEL via=stdin\n",
        );
        assert!(out.success(), "{out}");
        let r = ctx.ok(&["run", "--rm", "piped", "cat", "/f"]);
        assert_eq!(r.stdout, "from the context\n", "{r}");
        assert_eq!(ctx.inspect("piped")["Config"]["Labels"]["via"], "stdin");
    });
}

/// A `FROM scratch` stage starts with docker's default PATH, as docker and
/// podman give it.
#[test]
fn build_scratch_has_default_path() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_scratch_has_default_path", |ctx| {
        let dir = build_context(
            ctx,
            &[("Containerfile", "FROM scratch\nCOPY f /f\n"), ("f", "f\n")],
        );
        ctx.ok(&["build", "-t", "scratchy", &dir]);
        let img = ctx.inspect("scratchy");
        assert_eq!(
            img["Config"]["Env"],
            serde_json::json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ]),
            "{img}"
        );
    });
}

/// COPY --from takes a wildcard in the last component: the names it
/// matches in the source stage (a file a later layer removed is gone).
#[test]
fn build_copy_from_wildcards() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_copy_from_wildcards", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb AS b\n\
            RUN mkdir -p /t && echo 1 > /t/app-1.jar && echo 2 > /t/app-2.jar && \
            echo s > /t/src.txt && echo g > /t/gone.jar\n\
            RUN rm /t/gone.jar\n\
            FROM bb\n\
            COPY --from=b /t/*.jar /jars/\n\
            COPY --from=b /t/app-1.j?r /one.jar\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        ctx.ok(&["build", "-t", "globbed", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "globbed",
            "sh",
            "-c",
            "ls /jars; cat /one.jar",
        ]);
        assert_eq!(r.stdout, "app-1.jar\napp-2.jar\n1\n", "{r}");
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb AS b\nFROM bb\nCOPY --from=b /etc/*.nope /x/\n",
        );
        let out = ctx.rless(&["build", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr
                .contains("--from=b /etc/*.nope: no such file or directory"),
            "{out}"
        );
        assert_no_containers(ctx, "a failed COPY --from");
    });
}

/// Serves `body` at `/tool.sh` (anything else is a 404) on a loopback
/// port, for as long as the test runs; returns the port.
fn serve_file(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&b[..n]),
                }
            }
            let found = req.starts_with(b"GET /tool.sh");
            let (status, body) = if found {
                ("200 OK", body)
            } else {
                ("404 Not Found", "")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// ADD of an http URL downloads the file (mode 0600, not extracted, named
/// after the URL's path) as docker and podman do; a 404 fails the step.
#[test]
fn build_add_url() {
    if !have_busybox() {
        return;
    }
    let port = serve_file("#!/bin/sh\necho fetched\n");
    for_each_user("build_add_url", |ctx| {
        assert!(setup_image(ctx));
        let file = format!(
            "FROM bb\n\
             ADD http://127.0.0.1:{port}/tool.sh /usr/local/bin/\n\
             ADD http://127.0.0.1:{port}/tool.sh?v=1 /renamed\n"
        );
        let dir = build_context(ctx, &[("Containerfile", &file)]);
        ctx.ok(&["build", "-t", "fetched", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "fetched",
            "sh",
            "-c",
            "stat -c '%a %u %n' /usr/local/bin/tool.sh /renamed; sh /renamed",
        ]);
        assert_eq!(
            r.stdout, "600 0 /usr/local/bin/tool.sh\n600 0 /renamed\nfetched\n",
            "{r}"
        );
        ctx.write_file(
            "ctx/Containerfile",
            format!("FROM bb\nADD http://127.0.0.1:{port}/missing /x\n").as_bytes(),
        );
        let out = ctx.rless(&["build", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(out.stderr.contains("the server answered 404"), "{out}");
        assert_no_containers(ctx, "a failed ADD of a URL");
    });
}

/// `-t NAME@DIGEST` is refused before anything is built, as `tag` refuses
/// it (it was stored as a name that `rmi NAME` could not find), and so is
/// `commit CTR NAME@DIGEST` (it made an image without a name).
#[test]
fn build_tag_refuses_digest() {
    for_each_user("build_tag_refuses_digest", |ctx| {
        let dir = build_context(ctx, &[("Containerfile", "FROM scratch\nLABEL a=b\n")]);
        let digest = format!("x@sha256:{}", "a".repeat(64));
        let out = ctx.rless(&["build", "-t", &digest, &dir]);
        assert_eq!(out.code, Some(125), "{out}");
        assert!(
            out.stderr
                .contains("must be a name with an optional tag, not a digest"),
            "{out}"
        );
        assert!(ctx.image_ids().is_empty(), "nothing built: {out}");
        // `commit CTR NAME@DIGEST` too (it made an image without a name).
        if have_busybox() {
            assert!(setup_image(ctx));
            ctx.ok(&["create", "--name", "c", IMG, "true"]);
            let before = ctx.image_ids();
            let out = ctx.rless(&["commit", "c", &digest]);
            assert_eq!(out.code, Some(125), "{out}");
            assert!(
                out.stderr
                    .contains("must be a name with an optional tag, not a digest"),
                "{out}"
            );
            assert_eq!(ctx.image_ids(), before, "nothing committed: {out}");
        }
    });
}
