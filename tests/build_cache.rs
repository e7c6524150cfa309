//! `rless build`'s cache: a second build of the same context runs no step
//! and gives the same image; a changed context file runs its COPY and the
//! steps after it, not those before (a file's time alone changes nothing);
//! a changed build argument runs the RUN that sees it; `--no-cache` runs
//! every step; `--layers=false` keeps and uses nothing; `image prune`
//! takes the cache images (then everything runs again) and a cache image
//! removed by hand is a miss; `images` lists the cache images only with
//! `-a`; two builds of one file at once both succeed; the steps before a
//! failed one, or before a SIGKILL, are kept; stages (scratch, `COPY
//! --from`, WORKDIR) are cached too; an ADD of a URL is downloaded at each
//! build and compared by content (a local HTTP server).
//!
//! A RUN proves it ran by printing a marker its shell computes
//! (`ran-$((10+1))` prints `ran-11`), which the `STEP` line, printed at a
//! hit too, does not contain. Every scenario imports a busybox root
//! filesystem as [`IMG`] (see `common::run_helpers`); no registry is needed.

mod common;

use common::background::Background;
use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Ctx, Out};

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

/// The image ids of the build's `--> Using cache ID` lines.
fn hits(out: &Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("--> Using cache "))
        .map(str::to_string)
        .collect()
}

/// The full ids `rless images` lists (with `-a` too).
fn listed(ctx: &Ctx, all: bool) -> Vec<String> {
    let mut args = vec!["images", "-q", "--no-trunc"];
    if all {
        args.push("-a");
    }
    let out = ctx.ok(&args);
    out.stdout
        .lines()
        .map(|l| l.trim_start_matches("sha256:").to_string())
        .collect()
}

const FILE: &str = "FROM bb\n\
    RUN echo ran-$((10+1)) && echo one > /one\n\
    COPY a.txt /a.txt\n\
    RUN echo ran-$((20+2)) && cat /a.txt > /two\n\
    ENV E=1\n\
    COPY b.txt /b.txt\n\
    ARG V=default\n\
    RUN echo ran-$((30+3)) && echo three $V > /three\n\
    CMD [\"cat\", \"/one\", \"/two\", \"/b.txt\", \"/three\"]\n";

#[test]
fn build_cache_reuses_unchanged_steps() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_cache_reuses_unchanged_steps", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", FILE),
                ("a.txt", "a1\n"),
                ("b.txt", "b1\n"),
            ],
        );
        let first = ctx.ok(&["build", "-t", "cached", &dir]);
        assert_eq!(ran(&first), ["ran-11", "ran-22", "ran-33"], "{first}");
        assert!(hits(&first).is_empty(), "{first}");
        let id = built_id(&first);
        // The intermediate images stay, listed only with -a.
        assert_eq!(listed(ctx, false).len(), 2, "bb and the image");
        let all = listed(ctx, true);
        assert_eq!(
            all.len(),
            2 + 5,
            "and a cache image per RUN and COPY: {all:?}"
        );

        // The same again: no RUN runs, the same image.
        let again = ctx.ok(&["build", "-t", "cached", &dir]);
        assert!(ran(&again).is_empty(), "{again}");
        let hit = hits(&again);
        assert_eq!(hit.len(), 5, "{again}");
        assert!(hit.iter().all(|h| all.contains(h)), "{hit:?} {all:?}");
        assert_eq!(built_id(&again), id, "{again}");
        assert_eq!(listed(ctx, true).len(), 7);
        // -q prints the id alone.
        let q = ctx.ok(&["build", "-q", &dir]);
        assert_eq!(q.stdout, format!("{id}\n"), "{q}");

        // A file's time is not part of the key.
        let a = ctx.work.join("ctx/a.txt");
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let touched = ctx.ok(&["build", &dir]);
        assert!(ran(&touched).is_empty(), "{touched}");
        assert_eq!(built_id(&touched), id);

        // b.txt changes: its COPY and the RUN after it run again.
        ctx.write_file("ctx/b.txt", b"b2\n");
        let b = ctx.ok(&["build", "-t", "cached", &dir]);
        assert_eq!(ran(&b), ["ran-33"], "{b}");
        assert_eq!(hits(&b).len(), 3, "RUN, COPY, RUN before: {b}");
        assert_ne!(built_id(&b), id);
        let r = ctx.ok(&["run", "--rm", "cached"]);
        assert_eq!(r.stdout, "one\na1\nb2\nthree default\n", "{r}");

        // a.txt changes: everything from its COPY on.
        ctx.write_file("ctx/a.txt", b"a2\n");
        let a = ctx.ok(&["build", "-t", "cached", &dir]);
        assert_eq!(ran(&a), ["ran-22", "ran-33"], "{a}");
        assert_eq!(hits(&a).len(), 1, "{a}");
        let r = ctx.ok(&["run", "--rm", "cached"]);
        assert_eq!(r.stdout, "one\na2\nb2\nthree default\n", "{r}");

        // A build argument the last RUN sees.
        let arg = ctx.ok(&["build", "-t", "cached", "--build-arg", "V=other", &dir]);
        assert_eq!(ran(&arg), ["ran-33"], "{arg}");
        let r = ctx.ok(&["run", "--rm", "cached"]);
        assert_eq!(r.stdout, "one\na2\nb2\nthree other\n", "{r}");
        let arg = ctx.ok(&["build", "--build-arg", "V=other", &dir]);
        assert!(ran(&arg).is_empty(), "{arg}");

        // --no-cache runs every step, and its results are used after; the
        // cache images it replaced in the entries stay hidden (listed with
        // -a), only its own image is new.
        let (shown, every) = (listed(ctx, false).len(), listed(ctx, true).len());
        let all = ctx.ok(&["build", "--no-cache", &dir]);
        assert_eq!(listed(ctx, false).len(), shown + 1, "{all}");
        assert_eq!(listed(ctx, true).len(), every + 5 + 1, "{all}");
        assert_eq!(ran(&all), ["ran-11", "ran-22", "ran-33"], "{all}");
        assert!(hits(&all).is_empty(), "{all}");
        let after = ctx.ok(&["build", &dir]);
        assert!(ran(&after).is_empty(), "{after}");
        assert_eq!(built_id(&after), built_id(&all));
        assert_no_containers(ctx, "cached builds");
    });
}

#[test]
fn build_cache_prune_rmi_and_layers_false() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_cache_prune_rmi_and_layers_false", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", FILE),
                ("a.txt", "a1\n"),
                ("b.txt", "b1\n"),
            ],
        );
        // --layers=false keeps nothing, and takes nothing.
        let out = ctx.ok(&["build", "--layers=false", &dir]);
        assert_eq!(ran(&out), ["ran-11", "ran-22", "ran-33"], "{out}");
        assert_eq!(listed(ctx, true).len(), 2, "bb and the image");
        ctx.ok(&["build", &dir]);
        let out = ctx.ok(&["build", "--layers=false", &dir]);
        assert_eq!(ran(&out), ["ran-11", "ran-22", "ran-33"], "{out}");
        assert!(hits(&out).is_empty(), "{out}");

        // The cache image of the first COPY, removed by hand: a miss
        // there, so it and every step after run again.
        let out = ctx.ok(&["build", "-t", "x", &dir]);
        let hit = hits(&out);
        assert_eq!(hit.len(), 5, "{out}");
        ctx.ok(&["rmi", &hit[1]]);
        let out = ctx.ok(&["build", "-t", "x", &dir]);
        let again = hits(&out);
        assert_eq!(again.first(), Some(&hit[0]), "{out}");
        let copy_hit = out
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("STEP 3/9: COPY"))
            .nth(1)
            .is_some_and(|l| l.starts_with("--> Using cache"));
        assert!(!copy_hit, "the removed image's step runs again: {out}");
        // Made again within the same second, the COPY's image is the one
        // removed (same layer, same time), and the steps after it are hits
        // again; otherwise they run.
        if again.len() == 1 {
            assert_eq!(ran(&out), ["ran-22", "ran-33"], "{out}");
        } else {
            assert!(ran(&out).is_empty(), "{out}");
            assert_eq!(again[1..], hit[2..], "{out}");
        }
        let r = ctx.ok(&["run", "--rm", "x"]);
        assert_eq!(r.stdout, "one\na1\nb1\nthree default\n", "{r}");

        // image prune takes the cache images; then everything runs.
        ctx.ok(&["image", "prune", "-f"]);
        let left = listed(ctx, true);
        assert_eq!(left.len(), 2, "bb and x: {left:?}");
        let out = ctx.ok(&["build", "-t", "x", &dir]);
        assert_eq!(ran(&out), ["ran-11", "ran-22", "ran-33"], "{out}");
        assert!(hits(&out).is_empty(), "{out}");
        // The entries and marks of the images prune took are gone.
        let cache = ctx.root.join("build-cache");
        let entries = common::list_names(&cache);
        assert_eq!(
            entries.len(),
            8 + 1,
            "one per step after FROM, and images/: {entries:?}"
        );
        let marks = common::list_names(&cache.join("images"));
        assert_eq!(marks.len(), 5, "one per RUN and COPY: {marks:?}");

        // A damaged entry (here, all of them) is a miss, not an error.
        for e in entries.iter().filter(|e| *e != "images") {
            std::fs::write(cache.join(e), b"{\"image\":").unwrap();
        }
        let out = ctx.ok(&["build", "-t", "x", &dir]);
        assert_eq!(ran(&out), ["ran-11", "ran-22", "ran-33"], "{out}");
        let out = ctx.ok(&["build", "-t", "x", &dir]);
        assert!(ran(&out).is_empty(), "{out}");
    });
}

#[test]
fn build_cache_concurrent_and_failed() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_cache_concurrent_and_failed", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", FILE),
                ("a.txt", "a1\n"),
                ("b.txt", "b1\n"),
            ],
        );
        // Two builds of one file at once.
        let wait = std::time::Duration::from_secs(180);
        let one = Background::spawn(ctx, &["build", "-t", "one", &dir]);
        let two = Background::spawn(ctx, &["build", "-t", "two", &dir]);
        for b in [one, two] {
            let stderr = b.stderr.clone();
            let (code, lines) = b.finish(wait);
            let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
            assert_eq!(code, Some(0), "{lines:?} {stderr}");
        }
        for name in ["one", "two"] {
            let r = ctx.ok(&["run", "--rm", name]);
            assert_eq!(r.stdout, "one\na1\nb1\nthree default\n", "{r}");
        }
        let out = ctx.ok(&["build", &dir]);
        assert!(ran(&out).is_empty(), "{out}");
        assert_no_containers(ctx, "concurrent builds");

        // A failing step: the steps before it stay in the cache.
        let file = "FROM bb\nRUN echo ran-$((40+4))\nRUN exit 3\n";
        ctx.write_file("ctx/Containerfile", file.as_bytes());
        let out = ctx.rless(&["build", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        assert_eq!(ran(&out), ["ran-44"], "{out}");
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nRUN echo ran-$((40+4))\nRUN true\n",
        );
        let out = ctx.ok(&["build", &dir]);
        assert!(ran(&out).is_empty(), "{out}");
        assert_eq!(hits(&out).len(), 1, "{out}");
        assert_no_containers(ctx, "a failed build");
    });
}

/// Stages: a `FROM scratch` stage, `COPY --from` a stage and a WORKDIR
/// that makes its directory are taken from the cache too, and the image
/// is the same; a change in the first stage reaches the steps that copy
/// from it.
#[test]
fn build_cache_stages() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_cache_stages", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb AS builder\n\
            COPY a.txt /a.txt\n\
            RUN echo ran-$((50+5)) && cat /a.txt > /out\n\
            FROM scratch AS files\n\
            COPY b.txt /b.txt\n\
            FROM bb\n\
            WORKDIR /w/made\n\
            COPY --from=builder /out /w/out\n\
            COPY --from=files /b.txt /w/b.txt\n\
            RUN echo ran-$((60+6)) && cat ../out ../b.txt > all\n";
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", file),
                ("a.txt", "a1\n"),
                ("b.txt", "b1\n"),
            ],
        );
        let first = ctx.ok(&["build", "-t", "staged", &dir]);
        assert_eq!(ran(&first), ["ran-55", "ran-66"], "{first}");
        let id = built_id(&first);
        let again = ctx.ok(&["build", "-t", "staged", &dir]);
        assert!(ran(&again).is_empty(), "{again}");
        // Two COPYs and a RUN, a COPY, a WORKDIR, two COPYs and a RUN.
        assert_eq!(hits(&again).len(), 7, "{again}");
        assert_eq!(built_id(&again), id, "{again}");

        ctx.write_file("ctx/a.txt", b"a2\n");
        let changed = ctx.ok(&["build", "-t", "staged", &dir]);
        assert_eq!(ran(&changed), ["ran-55", "ran-66"], "{changed}");
        // The scratch stage's COPY, the WORKDIR and the COPY from it.
        assert_eq!(hits(&changed).len(), 2, "{changed}");
        let r = ctx.ok(&["run", "--rm", "staged", "cat", "/w/made/all"]);
        assert_eq!(r.stdout, "a2\nb1\n", "{r}");
        assert_no_containers(ctx, "cached stages");
    });
}

/// Serves `body` (which the test may change) at any path on 127.0.0.1;
/// its port, and the count of requests answered.
fn serve(
    body: std::sync::Arc<std::sync::Mutex<String>>,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
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
            let body = body.lock().unwrap().clone();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, count)
}

/// ADD of a URL is downloaded at every build and compared by content, as
/// docker does: the same content is a hit, another runs the step.
#[test]
fn build_cache_add_url() {
    if !have_busybox() {
        return;
    }
    let body = std::sync::Arc::new(std::sync::Mutex::new("v1\n".to_string()));
    let (port, count) = serve(body.clone());
    for_each_user("build_cache_add_url", |ctx| {
        assert!(setup_image(ctx));
        *body.lock().unwrap() = "v1\n".into();
        let file = format!("FROM bb\nADD http://127.0.0.1:{port}/f /f\nRUN echo ran-$((70+7))\n");
        let dir = build_context(ctx, &[("Containerfile", &file)]);
        let got = || count.load(std::sync::atomic::Ordering::SeqCst);
        let before = got();
        let first = ctx.ok(&["build", "-t", "url", &dir]);
        assert_eq!(ran(&first), ["ran-77"], "{first}");
        let again = ctx.ok(&["build", "-t", "url", &dir]);
        assert_eq!(hits(&again).len(), 2, "{again}");
        assert!(ran(&again).is_empty(), "{again}");
        assert_eq!(got() - before, 2, "downloaded at each build");
        *body.lock().unwrap() = "v2\n".into();
        let changed = ctx.ok(&["build", "-t", "url", &dir]);
        assert!(hits(&changed).is_empty(), "{changed}");
        assert_eq!(ran(&changed), ["ran-77"], "{changed}");
        let r = ctx.ok(&["run", "--rm", "url", "cat", "/f"]);
        assert_eq!(r.stdout, "v2\n", "{r}");
    });
}

/// A build killed with SIGKILL: the next build removes its step container
/// but not the cache images of the steps that ended, which it takes.
#[test]
fn build_cache_after_a_killed_build() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_cache_after_a_killed_build", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\nRUN echo ran-$((80+8))\nRUN echo ready; exec sleep 1000\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        let wait = std::time::Duration::from_secs(120);
        let mut build = Background::spawn(ctx, &["build", &dir]);
        build.wait_line("ready", wait);
        build.signal(rustix::process::Signal::KILL);
        let (code, lines) = build.finish(wait);
        assert_eq!(code, None, "killed");
        assert!(lines.iter().any(|l| l == "ran-88"), "{lines:?}");
        let running = || ctx.ok(&["ps", "-q", "--filter", "status=running"]).stdout;
        assert!(
            eventually(wait, || running().trim().is_empty()),
            "the RUN step must end with the build: {}",
            running()
        );
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nRUN echo ran-$((80+8))\nRUN true\n",
        );
        let out = ctx.ok(&["build", &dir]);
        assert!(ran(&out).is_empty(), "{out}");
        assert_eq!(hits(&out).len(), 1, "{out}");
        assert_no_containers(ctx, "the build after a killed one");
    });
}

/// `COPY .`: a file the ignore file leaves out changes nothing; a file's
/// mode does.
#[test]
fn build_cache_context_digest() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_cache_context_digest", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb\nCOPY . /ctx\nRUN echo ran-$((90+9))\n";
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", file),
                ("sub/keep.txt", "k\n"),
                ("skip.log", "1\n"),
                (".dockerignore", "*.log\n"),
            ],
        );
        let first = ctx.ok(&["build", &dir]);
        assert_eq!(ran(&first), ["ran-99"], "{first}");
        ctx.write_file("ctx/skip.log", b"2\n");
        let ignored = ctx.ok(&["build", &dir]);
        assert!(ran(&ignored).is_empty(), "{ignored}");
        use std::os::unix::fs::PermissionsExt;
        let keep = ctx.work.join("ctx/sub/keep.txt");
        std::fs::set_permissions(&keep, std::fs::Permissions::from_mode(0o600)).unwrap();
        let moded = ctx.ok(&["build", &dir]);
        assert_eq!(ran(&moded), ["ran-99"], "{moded}");
    });
}
