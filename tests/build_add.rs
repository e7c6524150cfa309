//! `rless build`'s ADD of a local archive as docker extracts it: plain,
//! gzip, bzip2, xz and zstd; owners, modes, hard links, symlinks and
//! fifos kept; `/` and `..` inside names confined to the destination;
//! device nodes and `.wh.` names left out with a warning (a user
//! namespace cannot make the first, an image layer cannot hold the
//! second) instead of silently; hostile archives (a name or hard link
//! leading out, a file through a symlink the archive planted) stop the
//! build with one line and leave nothing; a COPY of a context file named
//! `.wh.*` is refused rather than made a whiteout. The free-space guard on
//! bombs is in tests/full_disk.rs.
//!
//! Theory of operation: each archive is written by the test with the
//! `tar` crate, so it holds exactly the entries a case needs, ADDed on top
//! of files a RUN made, and read back with `rless run`.

mod common;

use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, Ctx, Mode};
use std::io::Write;

/// One tar entry: name, type, data or link target, uid:gid, mode.
struct E(&'static str, tar::EntryType, &'static str, (u64, u64), u32);

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for E(name, kind, data, (uid, gid), mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_uid(*uid);
        h.set_gid(*gid);
        h.set_mode(*mode);
        h.set_mtime(1_000_000_000);
        // Names as written (a leading `/`, `..`): the raw header field.
        let field = &mut h.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                h.set_size(0);
                h.set_link_name(data).unwrap();
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            tar::EntryType::Char => {
                h.set_size(0);
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            _ => {
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn compress(data: &[u8], format: &str) -> Vec<u8> {
    match format {
        "tar" => data.to_vec(),
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(data, 3).unwrap(),
        "xz" => {
            let mut e =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                    .unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no compression {other}"),
    }
}

/// Writes `WORK/ctx/NAME`, owned by the user; the context's path.
fn put(ctx: &Ctx, name: &str, data: &[u8]) -> String {
    ctx.write_file(&format!("ctx/{name}"), data);
    ctx.work.join("ctx").display().to_string()
}

use tar::EntryType as T;

const FORMATS: [&str; 5] = ["tar", "gz", "bz2", "xz", "zst"];

/// Owners, modes and links from the archive, in every compression; the
/// files an earlier step made stay (a `.wh.` name deletes nothing).
#[test]
fn build_add_archives_as_docker() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_add_archives_as_docker", |ctx| {
        assert!(setup_image(ctx));
        let archive = tar_of(&[
            E("d/", T::Directory, "", (1000, 100), 0o750),
            E("d/owned", T::Regular, "owned\n", (1000, 100), 0o640),
            E("d/suid", T::Regular, "s\n", (0, 0), 0o4755),
            E("d/hard", T::Link, "d/owned", (1000, 100), 0o640),
            E("d/sym", T::Symlink, "owned", (0, 0), 0o777),
            E("d/.wh.gone", T::Regular, "", (0, 0), 0o644),
            E("d/.wh..wh..opq", T::Regular, "", (0, 0), 0o644),
            E("/abs/file", T::Regular, "abs\n", (0, 0), 0o644),
            E("x/../inner", T::Regular, "in\n", (0, 0), 0o600),
            E("fifo", T::Fifo, "", (0, 0), 0o640),
            E("null", T::Char, "", (0, 0), 0o666),
            E("d/null-link", T::Link, "null", (0, 0), 0o666),
            E("d/wh-link", T::Link, "d/.wh.gone", (0, 0), 0o644),
        ]);
        let mut file = String::from(
            "FROM bb\nRUN for f in tar gz bz2 xz zst; do mkdir -p /$f/d; \
             echo kept > /$f/d/gone; echo kept > /$f/d/keep; done\n",
        );
        let mut dir = String::new();
        for f in FORMATS {
            dir = put(ctx, &format!("a.{f}"), &compress(&archive, f));
            file.push_str(&format!("ADD a.{f} /{f}/\n"));
        }
        put(ctx, "Containerfile", file.as_bytes());
        let out = ctx.ok(&["build", "-t", "added", &dir]);
        for f in FORMATS {
            for says in [
                format!("rless: warning: ADD a.{f}: device nodes cannot be made in a user namespace, left out: null, d/null-link"),
                format!("rless: warning: ADD a.{f}: d/.wh.gone, d/.wh..wh..opq, d/wh-link left out: an image layer cannot hold a name that starts with .wh."),
            ] {
                assert!(out.stderr.contains(&says), "{says:?}: {out}");
            }
        }
        // Ids 1000 and 100 exist only with subordinate ids.
        let owned = if ctx.user.mode == Mode::Single {
            "0:0"
        } else {
            "1000:100"
        };
        let want = format!(
            "{owned} 750 directory d\n\
             0:0 644 regular file d/gone\n\
             {owned} 640 regular file d/hard\n\
             0:0 644 regular file d/keep\n\
             {owned} 640 regular file d/owned\n\
             0:0 4755 regular file d/suid\n\
             0:0 777 symbolic link d/sym\n\
             0:0 640 fifo fifo\n\
             0:0 600 regular file inner\n\
             abs\nin\nowned\nowned\nkept\nkept\n2\n"
        );
        for f in FORMATS {
            let script = format!(
                "cd /{f} && stat -c '%u:%g %a %F %n' d d/* fifo inner && \
                 cat abs/file inner d/sym d/hard d/gone d/keep && stat -c %h d/owned && \
                 ! test -e null && ls -a d | grep -c wh"
            );
            let r = ctx.rless(&["run", "--rm", "added", "sh", "-c", &script]);
            // grep -c prints 0 and fails: nothing named .wh.*.
            assert_eq!(r.stdout, format!("{want}0\n"), "{f}: {r}");
        }
        assert_no_containers(ctx, "ADD of archives");
    });
}

/// Archives that reach out of the destination stop the build with one
/// line and leave nothing.
#[test]
fn build_add_hostile_archives() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_add_hostile_archives", |ctx| {
        assert!(setup_image(ctx));
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        for (archive, says) in [
            (
                tar_of(&[
                    E("ok", T::Regular, "ok\n", (0, 0), 0o644),
                    E("../../escape", T::Regular, "e\n", (0, 0), 0o644),
                ]),
                "h.tar: ../../escape: a name that leads out of the destination",
            ),
            (
                tar_of(&[E("in/../../up", T::Regular, "e\n", (0, 0), 0o644)]),
                "h.tar: in/../../up: a name that leads out of the destination",
            ),
            (
                tar_of(&[E("link", T::Link, "../../etc/passwd", (0, 0), 0o644)]),
                "h.tar: link: a hard link to a name out of the destination",
            ),
            (
                tar_of(&[
                    E("l", T::Symlink, "/etc", (0, 0), 0o777),
                    E("l/evil", T::Regular, "e\n", (0, 0), 0o644),
                ]),
                "l/evil: a path in the tar stream goes through a symlink",
            ),
        ] {
            let dir = put(ctx, "h.tar", &compress(&archive, "gz"));
            put(ctx, "Containerfile", b"FROM bb\nADD h.tar /dst/\n");
            let out = ctx.rless(&["build", "-t", "hostile", &dir]);
            assert_eq!(out.code, Some(1), "{out}");
            let errs: Vec<&str> = stderr_lines(&out)
                .into_iter()
                .filter(|l| l.starts_with("rless: "))
                .collect();
            assert_eq!(errs.len(), 1, "one error line: {out}");
            assert!(
                errs[0].starts_with("rless: build step 2/2 ADD h.tar /dst/: ")
                    && errs[0].ends_with(says),
                "{says:?}: {out}"
            );
            assert_no_containers(ctx, &out.cmdline);
            ctx.snapshot().assert_same(&before, &out.cmdline);
        }
    });
}

/// A context file named `.wh.NAME` would be a whiteout in the step's
/// layer, deleting the image's NAME: COPY refuses it with one line (a file
/// renamed on the way is fine).
#[test]
fn build_copy_refuses_whiteout_names() {
    if !have_busybox() {
        return;
    }
    for_each_user("build_copy_refuses_whiteout_names", |ctx| {
        assert!(setup_image(ctx));
        put(ctx, "sub/.wh.keep", b"x\n");
        let dir = put(
            ctx,
            "Containerfile",
            b"FROM bb\nRUN mkdir /d && echo kept > /d/keep\nCOPY sub/ /d/\n",
        );
        ctx.ok(&["run", "--rm", IMG, "true"]);
        let before = ctx.snapshot();
        // Without the build cache, which keeps the RUN before.
        let out = ctx.rless(&["build", "--layers=false", "-t", "wh", &dir]);
        assert_eq!(out.code, Some(1), "{out}");
        let errs: Vec<&str> = stderr_lines(&out)
            .into_iter()
            .filter(|l| l.starts_with("rless: "))
            .collect();
        assert_eq!(errs.len(), 1, "one error line: {out}");
        assert!(
            errs[0].starts_with("rless: build step 3/3 COPY sub/ /d/: ")
                && errs[0]
                    .ends_with(".wh.keep: an image layer cannot hold a name that starts with .wh."),
            "{out}"
        );
        assert_no_containers(ctx, &out.cmdline);
        ctx.snapshot().assert_same(&before, &out.cmdline);

        put(
            ctx,
            "Containerfile",
            b"FROM bb\nRUN mkdir /d && echo kept > /d/keep\nCOPY sub/.wh.keep /d/plain\n",
        );
        ctx.ok(&["build", "-t", "wh", &dir]);
        let r = ctx.ok(&["run", "--rm", "wh", "cat", "/d/keep", "/d/plain"]);
        assert_eq!(r.stdout, "kept\nx\n", "{r}");
    });
}
