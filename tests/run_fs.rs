//! `rless run` and files: bind mounts, tmpfs and `--read-only`, the
//! container directory and untouched layers, images with hostile symlinked
//! mount targets, and `--rootfs DIR`.
//! Every scenario imports a busybox root filesystem (no registry).
//! Shared helpers and constants are in `common::run_helpers`.

mod common;

use common::checks::*;
use common::rootfs::user_dir;
use common::run_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::fs;
use std::path::Path;

// ------------------------------------------------------------------ mounts

#[test]
fn run_bind_mounts() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_bind_mounts", |ctx| {
        assert!(setup_image(ctx));
        let vol = user_dir(ctx, "vol");
        ctx.write_file("vol/from-host", b"host data\n");
        let v = format!("{}:/data", vol.display());

        // rw both ways
        let out = sh(
            ctx,
            &["-v", &v],
            "cat /data/from-host; echo ctr > /data/from-ctr; ls /data",
        );
        assert_eq!(out, "host data\nfrom-ctr\nfrom-host\n");
        assert_eq!(fs::read_to_string(vol.join("from-ctr")).unwrap(), "ctr\n");

        // :ro refuses writes
        let ro = format!("{}:/data:ro", vol.display());
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &ro,
                IMG,
                "sh",
                "-c",
                "cat /data/from-host; echo x > /data/new",
            ],
        );
        assert_ne!(out.code, Some(0), "write to a :ro volume must fail: {out}");
        assert!(out.stdout.contains("host data"), "{out}");
        assert!(
            out.stderr.contains("Read-only file system"),
            "EROFS expected: {out}"
        );
        assert!(!vol.join("new").exists());

        // --mount type=bind,readonly
        let m = format!("type=bind,source={},target=/m,readonly", vol.display());
        let out = run(
            ctx,
            &[
                "--rm",
                "--mount",
                &m,
                IMG,
                "sh",
                "-c",
                "cat /m/from-host; touch /m/new",
            ],
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert!(out.stdout.contains("host data"), "{out}");
        assert!(out.stderr.contains("Read-only file system"), "{out}");
        // and writable without readonly
        let m = format!("type=bind,src={},dst=/m", vol.display());
        sh(ctx, &["--mount", &m], "touch /m/via-mount");
        assert!(vol.join("via-mount").exists());

        // A single file.
        let f = ctx.write_file("single.txt", b"one file\n");
        let fv = format!("{}:/etc/single.txt:ro", f.display());
        assert_eq!(sh(ctx, &["-v", &fv], "cat /etc/single.txt"), "one file\n");

        // A missing -v source is created.
        let newdir = ctx.work.join("made/by/run");
        let nv = format!("{}:/newvol", newdir.display());
        sh(ctx, &["-v", &nv], "echo hi > /newvol/f");
        assert!(newdir.is_dir(), "-v must create a missing host directory");
        assert_eq!(fs::read_to_string(newdir.join("f")).unwrap(), "hi\n");

        // A mount point inside the image that does not exist is created in
        // the container, not in the image.
        sh(
            ctx,
            &["-v", &format!("{}:/a/b/c", vol.display())],
            "test -f /a/b/c/from-host",
        );
        assert_eq!(
            sh(ctx, &[], "test -e /a && echo leaked || echo clean"),
            "clean\n"
        );
    });
}

#[test]
fn run_bind_missing_source_is_125() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_bind_missing_source_is_125", |ctx| {
        assert!(setup_image(ctx));
        let missing = ctx.work.join("nope");
        let m = format!("type=bind,src={},dst=/x", missing.display());
        let out = expect_run_error(ctx, &["--rm", "--mount", &m, IMG, "true"]);
        assert!(out.stderr.contains("does not exist"), "{out}");
        assert!(!missing.exists(), "--mount must not create its source");
    });
}

#[test]
fn run_tmpfs_and_read_only() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tmpfs_and_read_only", |ctx| {
        assert!(setup_image(ctx));
        let out = sh(
            ctx,
            &["--tmpfs", "/scratch", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=1m"],
            "grep -E ' /(scratch|t2) ' /proc/mounts | cut -d' ' -f2,3 | sort; echo x > /scratch/f && cat /scratch/f",
        );
        assert_eq!(
            out, "/scratch tmpfs\n/t2 tmpfs\nx\n",
            "--tmpfs and --mount type=tmpfs"
        );
        let out = sh(
            ctx,
            &["--tmpfs", "/scratch:size=2m"],
            "grep ' /scratch ' /proc/mounts",
        );
        assert!(out.contains("size=2048k"), "tmpfs size option: {out}");
        // docker's --tmpfs is noexec unless it says exec (the flag was
        // dropped).
        let script =
            "printf '#!/bin/sh\\necho ran\\n' > /scratch/s; chmod +x /scratch/s; /scratch/s";
        let out = run(
            ctx,
            &["--rm", "--tmpfs", "/scratch", IMG, "sh", "-c", script],
        );
        assert_eq!(out.code, Some(126), "--tmpfs is noexec: {out}");
        let out = sh(ctx, &["--tmpfs", "/scratch:exec"], script);
        assert_eq!(out, "ran\n", "--tmpfs /scratch:exec");

        // --read-only: / refuses writes, /tmp and /run are writable.
        let out = run(
            ctx,
            &[
                "--rm",
                "--read-only",
                IMG,
                "sh",
                "-c",
                "echo x > /tmp/ok && cat /tmp/ok && touch /run/ok /var/tmp/ok && touch /etc/nope",
            ],
        );
        assert_ne!(
            out.code,
            Some(0),
            "writing to a read-only root must fail: {out}"
        );
        assert_eq!(out.stdout, "x\n", "{out}");
        assert!(out.stderr.contains("Read-only file system"), "{out}");
        let out = sh(
            ctx,
            &["--read-only"],
            "grep ' / ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
        );
        assert_eq!(out, "ro\n", "the root mount must be read-only");
        // --read-only-tmpfs=false: no scratch space (podman's option).
        let out = run(
            ctx,
            &[
                "--rm",
                "--read-only",
                "--read-only-tmpfs=false",
                IMG,
                "touch",
                "/tmp/x",
            ],
        );
        assert!(out.stderr.contains("Read-only file system"), "{out}");
        // --init is docker's; rless always has one (accepted).
        assert_eq!(sh(ctx, &["--init"], "cat /proc/1/comm"), "rless-init\n");
        // A missing working directory is made before the root turns
        // read-only, as docker does (it failed with EROFS).
        let out = sh(ctx, &["--read-only", "-w", "/new/wd"], "pwd");
        assert_eq!(out, "/new/wd\n", "--read-only -w /new/wd");
        // --read-only with a writable volume.
        let vol = user_dir(ctx, "vol");
        let v = format!("{}:/data", vol.display());
        sh(ctx, &["--read-only", "-v", &v], "touch /data/ok");
        assert!(vol.join("ok").exists());
        // Nothing written to the image's upper layer under --read-only.
        let out = run(ctx, &["--read-only", IMG, "sh", "-c", "touch /x; true"]);
        assert!(out.success(), "{out}");
        let id = only_container(ctx);
        let upper = ctx.root.join("containers").join(&id).join("upper");
        assert!(
            !upper.join("x").exists(),
            "/x written to the upper dir under --read-only"
        );
        // Only mount point stubs may be there: directories and empty files.
        let written: Vec<String> = tree_fingerprint(&upper)
            .into_iter()
            .filter(|(k, _)| {
                fs::symlink_metadata(upper.join(k))
                    .map(|m| m.is_file() && m.len() > 0)
                    .unwrap_or(false)
            })
            .map(|(k, _)| k)
            .collect();
        assert!(
            written.is_empty(),
            "files with content in the upper dir under --read-only: {written:?}"
        );
    });
}

// ------------------------------------------------------------------ container dirs and layers

#[test]
fn run_leaves_layers_untouched() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_leaves_layers_untouched", |ctx| {
        assert!(setup_image(ctx));
        let layers = ctx.root.join("layers");
        let before = tree_fingerprint(&layers);
        assert!(
            before.keys().any(|k| k.ends_with("diff/bin/busybox")),
            "no busybox in the layer store: {:?}",
            before.keys().take(5).collect::<Vec<_>>()
        );
        let script = "echo changed > /etc/passwd; rm /bin/ls; echo new > /new-file; \
                      chmod 700 /bin; mkdir -p /etc/sub; rm -f /etc/image-file; ln -s x /etc/lnk; \
                      echo more >> /bin/busybox.extra; touch /bin/busybox";
        sh(ctx, &[], script);
        let out = run(ctx, &[IMG, "sh", "-c", script]);
        assert!(out.success(), "{out}");
        let after = tree_fingerprint(&layers);
        if before != after {
            let changed: Vec<_> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, _)| k.clone())
                .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
                .collect();
            panic!("a container's writes changed the image's layers: {changed:?}");
        }
        // A fresh container sees the image as it was.
        let out = sh(
            ctx,
            &[],
            "cat /etc/image-file; test -e /bin/ls && echo ls; test -e /new-file || echo no-new",
        );
        assert_eq!(out, "from the image\nls\nno-new\n");
    });
}

#[test]
fn run_container_dir_lifecycle() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_container_dir_lifecycle", |ctx| {
        assert!(setup_image(ctx));
        run_ok(ctx, &["--rm", IMG, "sh", "-c", "echo x > /f"]);
        assert_no_containers(ctx, "--rm after exit 0");
        let out = run(ctx, &["--rm", IMG, "sh", "-c", "exit 3"]);
        assert_eq!(out.code, Some(3), "{out}");
        assert_no_containers(ctx, "--rm after exit 3");

        let out = run(
            ctx,
            &[
                "--name",
                "keeper",
                IMG,
                "sh",
                "-c",
                "echo kept > /kept; exit 4",
            ],
        );
        assert_eq!(out.code, Some(4), "{out}");
        let id = only_container(ctx);
        assert!(common::is_hex64(&id), "{id}");
        let st = state_json(ctx, &id);
        assert_eq!(st["status"], "exited", "state.json: {st}");
        assert_eq!(st["exit_code"], 4, "state.json: {st}");
        let dir = ctx.root.join("containers").join(&id);
        let cfg: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["name"], "keeper", "config.json: {cfg}");
        // The container's writes are in its own upper dir.
        assert_eq!(
            fs::read_to_string(dir.join("upper/kept")).unwrap(),
            "kept\n"
        );
        // Its name is taken.
        let out = run(ctx, &["--rm", "--name", "keeper", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(containers(ctx), vec![id.clone()]);
        // Killed by a signal: 128+n recorded.
        let out = run(ctx, &[IMG, "sh", "-c", "kill -TERM $$"]);
        assert_eq!(out.code, Some(143), "{out}");
        let ids = containers(ctx);
        assert_eq!(ids.len(), 2, "{ids:?}");
        let other = ids.iter().find(|i| **i != id).unwrap();
        let st = state_json(ctx, other);
        assert_eq!(st["status"], "exited", "{st}");
        assert_eq!(st["exit_code"], 143, "{st}");
        // system reset removes them.
        ctx.ok(&["system", "reset", "-f"]);
        assert_no_containers(ctx, "system reset -f");
    });
}

// ------------------------------------------------------------------ hostile images

#[test]
fn run_hostile_symlink_mount_targets() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_hostile_symlink_mount_targets", |ctx| {
        let dir = ctx.work.join("hostile");
        make_rootfs(ctx, &dir);
        let outside = user_dir(ctx, "outside");
        let links: [(&str, String); 4] = [
            ("data", "/etc".into()),
            ("rootlink", "/".into()),
            ("up", "../../../../../../..".into()),
            // An absolute link naming a host directory the user may write.
            ("hostdir", outside.to_string_lossy().into_owned()),
        ];
        for (name, target) in &links {
            std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
            ctx.give(&dir.join(name));
        }
        ctx.ok(&["import", dir.to_str().unwrap(), "hostile"]);
        let etc_before = common::list_names(Path::new("/etc"));
        let vol = user_dir(ctx, "vol");
        ctx.write_file("vol/marker", b"from the volume\n");
        let v = |target: &str| format!("{}:{target}", vol.display());

        // /data -> /etc: the mount lands on the container's /etc.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/data"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /etc/marker; echo w > /data/written",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\n", "{out}");
        assert_eq!(fs::read_to_string(vol.join("written")).unwrap(), "w\n");
        assert!(!Path::new("/etc/marker").exists() && !Path::new("/etc/written").exists());

        // A target below the link: created in the container's /etc.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/data/rless-sub"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /etc/rless-sub/marker",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\n");
        assert!(
            !Path::new("/etc/rless-sub").exists(),
            "a mount target was created in the host's /etc"
        );

        // Through / and ../..: still inside.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/rootlink/etc/via-root"),
                "-v",
                &v("/up/escape"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /etc/via-root/marker /escape/marker",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\nfrom the volume\n", "{out}");
        assert!(!Path::new("/etc/via-root").exists());
        assert!(!Path::new("/escape").exists());
        for p in [
            ctx.root.join("escape"),
            ctx.work.join("escape"),
            ctx.root.join("containers/escape"),
        ] {
            assert!(
                !p.exists(),
                "mount target escaped the container root: {}",
                p.display()
            );
        }

        // An absolute link to a host dir the user owns.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/hostdir/sub"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /hostdir/sub/marker; echo in > /hostdir/sub/in",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\n", "{out}");
        assert!(
            common::list_names(&outside).is_empty(),
            "the host dir the image's link names was written: {:?}",
            common::list_names(&outside)
        );
        // tmpfs targets too.
        let probe = format!("grep -c ' {}/t tmpfs ' /proc/mounts", outside.display());
        let out = run(
            ctx,
            &[
                "--rm",
                "--tmpfs",
                "/hostdir/t",
                "hostile",
                "/bin/sh",
                "-c",
                &probe,
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "1\n",
            "the tmpfs must be mounted inside the container: {out}"
        );
        assert!(
            common::list_names(&outside).is_empty(),
            "tmpfs target created outside"
        );

        assert_eq!(
            common::list_names(Path::new("/etc")),
            etc_before,
            "the host's /etc changed"
        );
    });
}

// ------------------------------------------------------------------ --rootfs

#[test]
fn run_rootfs_dir() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_rootfs_dir", |ctx| {
        let dir = ctx.work.join("plain-rootfs");
        make_rootfs(ctx, &dir);
        let d = dir.to_str().unwrap();
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--rootfs",
                d,
                "sh",
                "-c",
                "cat /etc/image-file; id -u; echo $PATH; echo made > /made-inside",
            ],
        );
        assert_eq!(
            out.stdout,
            "from the image\n0\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
            "{out}"
        );
        // The directory is used as it is: writes land in it.
        assert_eq!(
            fs::read_to_string(dir.join("made-inside")).unwrap(),
            "made\n"
        );
        let out = run(ctx, &["--rm", "--rootfs", d, "sh", "-c", "exit 9"]);
        assert_eq!(out.code, Some(9), "{out}");
        let out = run(
            ctx,
            &[
                "--rm",
                "--rootfs",
                d,
                "--read-only",
                "sh",
                "-c",
                "touch /nope",
            ],
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert!(!dir.join("nope").exists());
        assert_no_containers(ctx, "--rootfs --rm");
    });
}

/// `--device`: a host device node bound in (at its own path or another);
/// permissions short of `rw` get a warning (rootless cannot enforce them);
/// a path that is not a device is refused with one line and nothing made.
#[test]
fn run_device() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_device", |ctx| {
        assert!(setup_image(ctx));
        let out = sh(
            ctx,
            &["--device", "/dev/fuse", "--device", "/dev/null:/dev/mynull"],
            "ls -l /dev/fuse /dev/mynull | cut -c1; echo x > /dev/mynull && echo written",
        );
        assert_eq!(
            out, "c\nc\nwritten\n",
            "char devices, at their path or another"
        );
        let out = run_ok(ctx, &["--rm", "--device", "/dev/null:r", IMG, "true"]);
        assert!(
            out.stderr.contains("warning: --device /dev/null:r"),
            "{out}"
        );
        for bad in [
            "/etc/passwd",
            "/no/such/device",
            "dev/null",
            "/dev/null:/x:q",
        ] {
            expect_run_error(ctx, &["--rm", "--device", bad, IMG, "true"]);
        }
    });
}
