//! `rless build` of the Dockerfile syntax of the BuildKit era, with
//! docker's meaning: heredocs in RUN, COPY and ADD (run as a script, fed
//! to a command, a `#!` script run by its interpreter, files made with
//! `--chmod`, expansion unless the delimiter is quoted, `<<-`), their
//! bodies in the build cache's key and in the history; `COPY --link`,
//! `--exclude`, `COPY --parents`, `ADD --checksum`; the parser directives (`# syntax=`,
//! `# escape=`); and the refusals of what is wrong or not done, each one
//! line naming the line or the step, with nothing left behind.
//!
//! Theory of operation: each scenario builds from the busybox image
//! [`IMG`] (`common::run_helpers`; no registry) with the build's TMPDIR
//! in the work directory, so that what a step writes there (a heredoc's
//! files) is seen to go, and reads the result back with `rless run`.

mod common;

use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Ctx, Mode, Out};

/// `rless build ARGS` with TMPDIR=WORK/tmp, which is then checked empty.
fn build(ctx: &Ctx, args: &[&str]) -> Out {
    let tmp = ctx.work.join("tmp");
    if !tmp.exists() {
        std::fs::create_dir(&tmp).unwrap();
        ctx.give(&tmp);
    }
    let mut all = vec!["build"];
    all.extend(args);
    let mut c = ctx.rless_cmd(&all);
    c.env("TMPDIR", &tmp);
    let out = common::run_cmd(c, None, std::time::Duration::from_secs(300), "build");
    let left = common::list_names(&tmp);
    assert!(left.is_empty(), "the build left {left:?} in TMPDIR: {out}");
    out
}

/// A build that must succeed.
fn build_ok(ctx: &Ctx, args: &[&str]) -> Out {
    let out = build(ctx, args);
    assert!(out.success(), "build failed: {out}");
    out
}

/// A refused or failed build: exit `code` (1, docker's, for a step that
/// fails; 125, podman's, for a Containerfile refused before anything
/// runs), one `rless:` line saying `says`, no container left and the
/// store as `before`.
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

const RUNS: &str = "# syntax=docker/dockerfile:1\n\
FROM bb\n\
ARG WHO=arg\n\
RUN <<EOF\n\
echo \"one $WHO\" > /one\n\
# a comment in the body is the script's\n\
\n\
echo two >> /one\n\
EOF\n\
RUN <<-EOF sh\n\
\techo chomped > /two\n\
\tEOF\n\
RUN cat <<A > /three && cat <<'B' >> /three\n\
a $WHO\n\
A\n\
b $WHO\n\
B\n\
RUN <<EOF\n\
#!/bin/sh\n\
echo \"script $0 $(id -u)\" > /four\n\
EOF\n\
RUN echo after > /five\n";

/// RUN heredocs: a lone one is the shell's script, one with a command is
/// read by the shell (`<<-` strips tabs, a quoted delimiter expands
/// nothing), a `#!` one runs as a file at /dev/pipes/NAME; the lines after
/// the heredocs are instructions again; the history shows each body.
#[test]
fn build_heredoc_run() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_heredoc_run", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", RUNS)]);
        let out = build_ok(ctx, &["-t", "runs", &dir]);
        assert!(!out.stderr.contains("warning"), "{out}");
        assert_eq!(
            out.stdout
                .lines()
                .filter(|l| l.starts_with("STEP "))
                .count(),
            7,
            "{out}"
        );
        assert!(out.stdout.contains("STEP 3/7: RUN <<EOF\n"), "{out}");
        let r = ctx.ok(&[
            "run", "--rm", "runs", "cat", "/one", "/two", "/three", "/four", "/five",
        ]);
        assert_eq!(
            r.stdout, "one arg\ntwo\nchomped\na arg\nb $WHO\nscript /dev/pipes/EOF 0\nafter\n",
            "{r}"
        );
        let h = ctx.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "runs",
        ]);
        assert!(
            h.stdout.contains(
                "/bin/sh -c <<EOF\necho \"one $WHO\" > /one\n\
                 # a comment in the body is the script's\n\necho two >> /one\n"
            ),
            "{h}"
        );
        assert!(
            h.stdout
                .contains("/bin/sh -c <<EOF\n#!/bin/sh\necho \"script"),
            "{h}"
        );
    });
}

/// COPY and ADD heredocs: files of the given names, mode 0644 (or
/// `--chmod`'s), `--chown`'s owner; an unquoted delimiter expands ARG and
/// ENV values as BuildKit does (quotes are text, `\$` is a `$`), a quoted
/// one nothing; `<<-` strips tabs.
#[test]
fn build_heredoc_copy() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_heredoc_copy", |ctx| {
        assert!(setup_image(ctx));
        let chown = match ctx.user.mode {
            Mode::Single => "",
            _ => "--chown=1000:100 ",
        };
        let file = format!(
            "FROM bb\n\
             ARG NAME=world\n\
             ENV GREETING=hello\n\
             WORKDIR /w\n\
             COPY <<EOF greeting\n\
             $GREETING \"$NAME\" '${{NAME}}' \\$NAME\n\
             EOF\n\
             COPY <<\"EOF\" /etc/raw\n\
             $GREETING\n\
             EOF\n\
             COPY --chmod=751 {chown}<<robots.txt <<humans.txt /site/\n\
             User-agent: *\n\
             robots.txt\n\
             people\n\
             humans.txt\n\
             ADD <<-EOF /added\n\
             \ttabbed\n\
             \tEOF\n"
        );
        let dir = build_context(ctx, &[("Containerfile", &file)]);
        build_ok(ctx, &["-t", "copies", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "copies",
            "sh",
            "-c",
            "cat /w/greeting /etc/raw /site/robots.txt /site/humans.txt /added; \
             stat -c '%a %u:%g %n' /w/greeting /etc/raw /site/robots.txt /site/humans.txt /added",
        ]);
        let owner = match ctx.user.mode {
            Mode::Single => "0:0",
            _ => "1000:100",
        };
        assert_eq!(
            r.stdout,
            format!(
                "hello \"world\" 'world' $NAME\n$GREETING\nUser-agent: *\npeople\ntabbed\n\
                 644 0:0 /w/greeting\n644 0:0 /etc/raw\n751 {owner} /site/robots.txt\n\
                 751 {owner} /site/humans.txt\n644 0:0 /added\n"
            ),
            "{r}"
        );
    });
}

/// A heredoc's body is in the step's cache key: the same file again takes
/// the steps from the cache, a changed RUN or COPY body runs them again.
#[test]
fn build_heredoc_cache() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_heredoc_cache", |ctx| {
        assert!(setup_image(ctx));
        let file = |v: &str| {
            format!("FROM bb\nRUN <<EOF\necho run-{v} > /r\nEOF\nCOPY <<EOF /c\ncopy-{v}\nEOF\n")
        };
        let dir = build_context(ctx, &[("Containerfile", &file("1"))]);
        build_ok(ctx, &["-t", "cached", &dir]);
        let again = build_ok(ctx, &["-t", "cached", &dir]);
        let hits = again
            .stdout
            .lines()
            .filter(|l| l.starts_with("--> Using cache "))
            .count();
        assert_eq!(hits, 2, "both steps from the cache: {again}");
        ctx.write_file("ctx/Containerfile", file("2").as_bytes());
        let changed = build_ok(ctx, &["-t", "cached", &dir]);
        assert!(!changed.stdout.contains("--> Using cache"), "{changed}");
        let r = ctx.ok(&["run", "--rm", "cached", "cat", "/r", "/c"]);
        assert_eq!(r.stdout, "run-2\ncopy-2\n", "{r}");
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
            let (status, body) = match req.starts_with(b"GET /tool.sh") {
                true => ("200 OK", body),
                false => ("404 Not Found", ""),
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

/// `COPY --link` and `ADD --link` copy as without it; `--exclude`
/// leaves out what its patterns match below each source (given more than
/// once, and for a wildcard source); `ADD --checksum` takes a download
/// whose digest it is; `# escape=` makes the backtick continue lines and
/// escape words, where `\` is then a character (`ENV WIN=c:\dir`).
#[test]
fn build_link_exclude_checksum_escape() {
    if !have_busybox() {
        return;
    }
    const TOOL: &str = "#!/bin/sh\necho fetched\n";
    let port = serve_file(TOOL);
    let sum = common::sha256_hex(TOOL.as_bytes());
    for_each_user("build_link_exclude_checksum_escape", |ctx| {
        assert!(setup_image(ctx));
        let file = format!(
            "# syntax=docker/dockerfile:1.7\n\
             # escape=`\n\
             FROM bb\n\
             COPY --link f /linked\n\
             ADD --link f /added-linked\n\
             COPY --exclude=*.log --exclude=skip dir /ex/\n\
             COPY --exclude=*.txt hom* /globbed/\n\
             ADD --checksum=sha256:{sum} http://127.0.0.1:{port}/tool.sh /tool.sh\n\
             ENV WIN=c:\\dir\n\
             RUN echo a `\n  b > /esc\n"
        );
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", &file),
                ("f", "f\n"),
                ("dir/keep", "k\n"),
                ("dir/x.log", "l\n"),
                ("dir/sub/y.log", "deep\n"),
                ("dir/skip/z", "z\n"),
                ("home.md", "h\n"),
                ("homer.txt", "t\n"),
            ],
        );
        let out = build_ok(ctx, &["-t", "flags", &dir]);
        assert!(!out.stderr.contains("warning"), "{out}");
        let r = ctx.ok(&[
            "run",
            "--rm",
            "flags",
            "sh",
            "-c",
            "cat /linked /added-linked /esc /ex/keep /ex/sub/y.log /globbed/home.md; \
             for p in /ex/x.log /ex/skip /globbed/homer.txt; do test -e $p && echo has $p; done; \
             sh /tool.sh; printf '%s\\n' \"$WIN\"",
        ]);
        assert_eq!(r.stdout, "f\nf\na b\nk\ndeep\nh\nfetched\nc:\\dir\n", "{r}");
    });
}

/// `COPY --parents` keeps each source's parent directories under the
/// destination (with the context directories' modes), from the pivot
/// `/./` on when there is one, for a file, a wildcard's matches, a
/// directory and `--from`'s paths; `--exclude` leaves out a named file it
/// matches (as BuildKit documents it), and a source it leaves nothing of
/// copies nothing.
#[test]
fn build_copy_parents_and_exclude_named() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_copy_parents_and_exclude_named", |ctx| {
        assert!(setup_image(ctx));
        let file = "FROM bb AS src\n\
             RUN mkdir -p /app/lib && echo L > /app/lib/l.so\n\
             FROM bb\n\
             COPY --parents x/a.txt y/a.txt /p/\n\
             COPY --parents ./x/./sub/*.txt /piv/\n\
             COPY --parents=true x/sub /pd\n\
             COPY --parents=false x/a.txt /flat/\n\
             COPY --exclude=a.txt a.txt b.txt /ex/\n\
             COPY --exclude=*.txt c.txt /none/\n\
             COPY --from=src --parents /app/./lib/l.so /fromp/\n\
             COPY --from=src --parents /app/lib/l.so /fromq/\n";
        let dir = build_context(
            ctx,
            &[
                ("Containerfile", file),
                ("x/a.txt", "xa\n"),
                ("y/a.txt", "ya\n"),
                ("x/sub/s1.txt", "s1\n"),
                ("x/sub/s2.md", "s2\n"),
                ("a.txt", "A\n"),
                ("b.txt", "B\n"),
                ("c.txt", "C\n"),
            ],
        );
        use std::os::unix::fs::PermissionsExt;
        let x = ctx.work.join("ctx/x");
        std::fs::set_permissions(&x, std::fs::Permissions::from_mode(0o750)).unwrap();
        build_ok(ctx, &["-t", "parents", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "parents",
            "sh",
            "-c",
            "cat /p/x/a.txt /p/y/a.txt /piv/sub/s1.txt /pd/x/sub/s1.txt /pd/x/sub/s2.md \
             /flat/a.txt /ex/b.txt /fromp/lib/l.so /fromq/app/lib/l.so; stat -c %a /p/x; \
             for p in /ex/a.txt /piv/x /piv/sub/s2.md /p/a.txt /flat/x; do \
             test -e $p && echo has $p; done; test -d /none && ls -A /none; echo end",
        ]);
        assert_eq!(
            r.stdout, "xa\nya\ns1\ns1\ns2\nxa\nB\nL\nL\n750\nend\n",
            "{r}"
        );
    });
}

/// A Containerfile with CRLF line ends: its instructions read as with LF,
/// and a heredoc's body keeps its `\r`s, as BuildKit keeps the body as
/// written (a COPY'd file is byte for byte what the file holds).
#[test]
fn build_crlf_heredoc_keeps_its_crs() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_crlf_heredoc_keeps_its_crs", |ctx| {
        assert!(setup_image(ctx));
        let file =
            "FROM bb\r\nCOPY <<EOF /f.txt\r\none\r\ntwo\r\nEOF\r\nRUN wc -c < /f.txt > /n\r\n";
        let dir = build_context(ctx, &[("Containerfile", file)]);
        build_ok(ctx, &["-t", "crlf", &dir]);
        let r = ctx.ok(&[
            "run",
            "--rm",
            "crlf",
            "sh",
            "-c",
            "cat /n; od -c /f.txt | head -1",
        ]);
        assert_eq!(r.stdout.lines().next(), Some("10"), "{r}");
        assert!(r.stdout.contains("o   n   e  \\r  \\n"), "{r}");
    });
}

/// What is wrong is refused with one line naming the line or the step,
/// and nothing left: exit 125 (podman's) before anything runs for an
/// unterminated heredoc, a second `# escape`, a bad `--parents` value;
/// exit 1 as docker for a heredoc as COPY's destination, `ADD --checksum` of a
/// file of the context or with a digest the download does not have, a
/// malformed checksum, a git source, `--exclude` with `--from` (not
/// done).
#[test]
fn build_syntax_refusals() {
    if !have_busybox() {
        return;
    }
    let port = serve_file("#!/bin/sh\necho fetched\n");
    for_each_user("build_syntax_refusals", |ctx| {
        assert!(setup_image(ctx));
        let dir = build_context(ctx, &[("Containerfile", "FROM bb\n"), ("f", "f\n")]);
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        let zeros = "0".repeat(64);
        let good = common::sha256_hex(b"#!/bin/sh\necho fetched\n");
        let url = format!("http://127.0.0.1:{port}/tool.sh");
        for (text, says) in [
            (
                "FROM bb\nCOPY f <<EOF\nx\nEOF\n".to_string(),
                "build step 2/2 COPY f <<EOF: COPY cannot take a heredoc as its destination".into(),
            ),
            (
                format!("FROM bb\nADD --checksum=sha256:{zeros} f /f\n"),
                "ADD --checksum: f is not a URL (a checksum is checked for http:// and https:// \
                 sources only)"
                    .into(),
            ),
            (
                format!("FROM bb\nADD --checksum=sha256:{zeros} {url} /t\n"),
                format!("ADD {url}: checksum mismatch: expected sha256:{zeros}, got sha256:{good}"),
            ),
            (
                format!("FROM bb\nADD --checksum=md5:00 {url} /t\n"),
                "--checksum=md5:00: use sha256:HEX (or sha512:HEX)".into(),
            ),
            (
                "FROM bb\nADD https://example.invalid/repo.git /src\n".into(),
                "ADD https://example.invalid/repo.git: git sources are not supported (rless does \
                 not fetch git repositories)"
                    .into(),
            ),
            (
                "FROM bb AS a\nFROM bb\nCOPY --from=a --exclude=x /etc /e\n".into(),
                "COPY --from with --exclude is not supported".into(),
            ),
        ] {
            ctx.write_file("ctx/Containerfile", text.as_bytes());
            let out = build(ctx, &[&dir]);
            assert_refused(ctx, &out, &before, 1, &says);
        }
        // A Containerfile rless cannot read: podman's 125, before
        // anything runs.
        for (text, says) in [
            (
                "FROM bb\nENV A=1\nRUN <<EOF\necho never\nEOF \n",
                "rless: Containerfile: line 3: unterminated heredoc <<EOF: no line EOF ends it",
            ),
            (
                "# escape=`\n# escape=\\\nFROM bb\n",
                "rless: Containerfile: line 2: only one escape parser directive can be used",
            ),
            (
                "FROM bb\nENV A=1\nCOPY --parents=maybe f /p/\n",
                "rless: Containerfile: line 3: --parents=maybe: use --parents, --parents=true or \
                 --parents=false",
            ),
        ] {
            ctx.write_file("ctx/Containerfile", text.as_bytes());
            let out = build(ctx, &[&dir]);
            assert_refused(ctx, &out, &before, 125, says);
            assert!(out.stdout.is_empty(), "nothing runs: {out}");
        }
    });
}

/// A build killed (SIGKILL) while a RUN heredoc script runs leaves its
/// heredoc files; they are in the store's build scratch directory, not in
/// TMPDIR, and the next build removes them.
#[test]
fn build_heredoc_killed_leaves_nothing_after_the_next() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "build_heredoc_killed_leaves_nothing_after_the_next",
        |ctx| {
            assert!(setup_image(ctx));
            let file = "FROM bb\nRUN <<EOF\n#!/bin/sh\necho ready\nexec sleep 1000\nEOF\n";
            let dir = build_context(ctx, &[("Containerfile", file)]);
            let tmp = ctx.work.join("tmp");
            if !tmp.exists() {
                std::fs::create_dir(&tmp).unwrap();
                ctx.give(&tmp);
            }
            let mut c = ctx.rless_cmd(&["build", "--layers=false", "-t", "killed", &dir]);
            c.env("TMPDIR", &tmp);
            let mut b = common::background::Background::spawn_cmd(c);
            b.wait_line("ready", std::time::Duration::from_secs(120));
            b.signal(rustix::process::Signal::KILL);
            let _ = b.finish(std::time::Duration::from_secs(60));
            let left = common::list_names(&tmp);
            assert!(left.is_empty(), "the killed build left {left:?} in TMPDIR");
            ctx.write_file("ctx/Containerfile", b"FROM bb\nRUN true\n");
            build_ok(ctx, &[&dir]);
            let scratch = ctx.root.join("build-mounts/tmp");
            let left = common::list_names(&scratch);
            assert!(left.is_empty(), "left after the next build: {left:?}");
        },
    );
}
