//! `cp` as docker's, where the session-14 hunt against podman found it
//! differed:
//! - it reaches a container's volumes and bind mounts, also when the
//!   container is not running: a file copied to a volume's path lands in
//!   the volume (not in the layer the volume hides, where the next start
//!   lost it), one copied under a bind mount lands in the host directory,
//!   and a copy out reads them;
//! - a destination that is a symlink is followed (the copy replaced the
//!   link with a file and left its target as it was), in the container
//!   and on the host.

mod common;

use common::checks::*;
use common::oci::busybox;
use common::{for_each_user, Ctx};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const IMG: &str = "bb";
const APPLETS: &[&str] = &["sh", "true", "ls", "cat", "sleep", "ln", "test"];

/// Imports a busybox root filesystem with `/data/f` as [`IMG`]; `false`
/// if busybox is missing.
fn setup(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else { return false };
    let dir = ctx.work.join("rootfs");
    for sub in ["bin", "etc", "tmp", "data", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(&dir, bb, APPLETS);
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(dir.join("data/f"), "from the image\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

fn cat(ctx: &Ctx, c: &str, path: &str) -> String {
    ctx.ok(&["exec", c, "cat", path]).stdout
}

#[test]
fn cp_reaches_volumes_and_binds_of_a_stopped_container() {
    for_each_user(
        "cp_reaches_volumes_and_binds_of_a_stopped_container",
        |ctx| {
            if !setup(ctx) {
                return;
            }
            let host = ctx.work.join("host");
            ctx.write_file("host/b", b"on the host\n");
            let new = ctx.write_file("new", b"copied in\n");
            let bind = format!("{}:/mnt/b", host.display());
            ctx.ok(&[
                "create",
                "--name",
                "c",
                "-v",
                "vol:/data",
                "-v",
                &bind,
                "-v",
                "/anon",
                "-v",
                "ro:/ro:ro",
                IMG,
                "sleep",
                "100",
            ]);
            let new = new.to_str().unwrap();
            ctx.ok(&["cp", new, "c:/data/"]);
            ctx.ok(&["cp", new, "c:/mnt/b/in"]);
            ctx.ok(&["cp", new, "c:/anon/"]);
            // Out of the bind mount, before any start.
            let out = ctx.ok(&["cp", "c:/mnt/b/b", "-"]);
            assert!(
                out.stdout.contains("on the host"),
                "cp out of a bind: {out}"
            );
            // Into a read-only volume: refused, as docker.
            let out = ctx.rless(&["cp", new, "c:/ro/"]);
            assert_one_error(&out, 125);
            // The bind mount's host directory got the file.
            assert_eq!(fs::read_to_string(host.join("in")).unwrap(), "copied in\n");
            // The volume holds it beside what the image had there; so does
            // the anonymous one, once the container runs.
            ctx.ok(&["start", "c"]);
            assert_eq!(cat(ctx, "c", "/data/new"), "copied in\n");
            assert_eq!(cat(ctx, "c", "/data/f"), "from the image\n");
            assert_eq!(cat(ctx, "c", "/anon/new"), "copied in\n");
            assert_eq!(cat(ctx, "c", "/mnt/b/in"), "copied in\n");
            let ls = ctx.ok(&["exec", "c", "ls", "/ro"]).stdout;
            assert!(ls.trim().is_empty(), "the read-only volume changed: {ls}");
            ctx.ok(&["stop", "-t", "0", "c"]);
            // Out of the stopped container: the volume's content.
            let out = ctx.ok(&["cp", "c:/data/new", "-"]);
            assert!(
                out.stdout.contains("copied in"),
                "cp out of a volume: {out}"
            );
            // Another container with the volume sees the copy too.
            let out = ctx.ok(&["run", "--rm", "-v", "vol:/data", IMG, "cat", "/data/new"]);
            assert_eq!(out.stdout, "copied in\n");
            ctx.ok(&["rm", "-v", "c"]);
            // A bind source removed since the container was made does not
            // stop a copy elsewhere.
            ctx.write_file("gone/x", b"x\n");
            let gone = ctx.work.join("gone");
            let bind = format!("{}:/mnt/gone", gone.display());
            ctx.ok(&["create", "--name", "g", "-v", &bind, IMG, "true"]);
            fs::remove_dir_all(&gone).unwrap();
            ctx.ok(&["cp", new, "g:/tmp/"]);
            let out = ctx.ok(&["cp", "g:/tmp/new", "-"]);
            assert!(out.stdout.contains("copied in"), "{out}");
            ctx.ok(&["rm", "g"]);
            assert!(host_mounts_under(&ctx.root).is_empty(), "mounts left");
        },
    );
}

#[test]
fn cp_follows_a_destination_symlink() {
    for_each_user("cp_follows_a_destination_symlink", |ctx| {
        if !setup(ctx) {
            return;
        }
        let script = "ln -s /data/f /flink && ln -s /flink /chain && ln -s /none /dangle && \
                      ln -s f /data/rel && ln -s /data /dlink && sleep 100";
        ctx.ok(&["create", "--name", "c", IMG, "sh", "-c", script]);
        ctx.ok(&["start", "c"]);
        let new = ctx.write_file("new", b"copied in\n");
        let new = new.to_str().unwrap();
        // Into the running container: through /chain -> /flink -> /data/f,
        // a relative link, a dangling one, and a link to a directory.
        assert!(eventually(std::time::Duration::from_secs(30), || ctx
            .rless(&["exec", "c", "test", "-L", "/dlink"])
            .success()));
        ctx.ok(&["cp", new, "c:/chain"]);
        assert_eq!(cat(ctx, "c", "/data/f"), "copied in\n");
        ctx.ok(&["exec", "c", "test", "-L", "/chain"]);
        ctx.ok(&["exec", "c", "test", "-L", "/flink"]);
        ctx.ok(&["cp", new, "c:/dangle"]);
        assert_eq!(cat(ctx, "c", "/none"), "copied in\n");
        ctx.ok(&["exec", "c", "test", "-L", "/dangle"]);
        ctx.ok(&["cp", new, "c:/dlink"]);
        assert_eq!(cat(ctx, "c", "/data/new"), "copied in\n");
        // A directory onto a link to a file: refused, the file kept.
        let dir = ctx.work.join("d");
        ctx.write_file("d/x", b"x\n");
        let out = ctx.rless(&["cp", dir.to_str().unwrap(), "c:/flink"]);
        assert_one_error(&out, 125);
        assert_eq!(cat(ctx, "c", "/data/f"), "copied in\n");
        ctx.ok(&["stop", "-t", "0", "c"]);
        // Into the stopped one, through the relative link.
        ctx.write_file("new2", b"second\n");
        let new2 = ctx.work.join("new2");
        ctx.ok(&["cp", new2.to_str().unwrap(), "c:/data/rel"]);
        // Out to the host, through a link there (and a dangling one).
        ctx.write_file("target", b"old\n");
        std::os::unix::fs::symlink("target", ctx.work.join("hlink")).unwrap();
        std::os::unix::fs::symlink("made", ctx.work.join("hdangle")).unwrap();
        ctx.give(&ctx.work.join("hlink"));
        ctx.give(&ctx.work.join("hdangle"));
        let hlink = ctx.work.join("hlink");
        let hdangle = ctx.work.join("hdangle");
        ctx.ok(&["cp", "c:/data/f", hlink.to_str().unwrap()]);
        ctx.ok(&["cp", "c:/data/f", hdangle.to_str().unwrap()]);
        assert_eq!(
            fs::read_to_string(ctx.work.join("target")).unwrap(),
            "second\n"
        );
        assert_eq!(
            fs::read_to_string(ctx.work.join("made")).unwrap(),
            "second\n"
        );
        assert!(fs::symlink_metadata(&hlink)
            .unwrap()
            .file_type()
            .is_symlink());
        ctx.ok(&["rm", "c"]);
    });
}
