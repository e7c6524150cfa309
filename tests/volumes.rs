//! Volumes in `run`: named, anonymous and image-declared volumes, `-v`,
//! `--mount`, `--volumes-from`, copy-on-first-mount, ownership, sharing,
//! hostile mount targets, bad input (of `run` and `volume` alike). The
//! `volume` subcommands themselves are in volumes_cli.rs.
//!
//! Every scenario imports a small busybox image built in Rust as a tar
//! (`rless import TAR vb`), so no registry is needed. An image with
//! `VOLUME` declarations is made by editing the imported image's config
//! in the store, the way a pull would have written it (see
//! `volume_support`).

mod common;
mod volume_support;

use common::oci::busybox;
use common::{for_each_user, Mode};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};
use volume_support::*;

#[test]
fn volume_persists_and_ro_refuses_writes() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_persists_and_ro_refuses_writes", |ctx| {
        assert!(setup_image(ctx));
        let out = run(
            ctx,
            &[
                "--name",
                "first",
                "-v",
                "keep:/keep",
                IMG,
                "sh",
                "-c",
                "echo kept > /keep/f; mkdir /keep/d; touch /keep/d/g",
            ],
        );
        assert!(out.success(), "{out}");
        assert!(volume_names(ctx).contains("keep"));
        ctx.ok(&["rm", "first"]);
        // A new container sees the data.
        assert_eq!(sh(ctx, &["-v", "keep:/other"], "cat /other/f"), "kept\n");
        // Written by the container's root: the user's own on the host.
        let f = data(ctx, "keep").join("f");
        assert_eq!(fs::metadata(&f).unwrap().uid(), ctx.user.uid);
        // --mount type=volume too.
        assert_eq!(
            sh(ctx, &["--mount", "type=volume,src=keep,dst=/m"], "cat /m/f"),
            "kept\n"
        );
        // :ro and readonly: EROFS.
        for opts in [
            ["-v", "keep:/keep:ro"],
            ["--mount", "type=volume,source=keep,target=/keep,readonly"],
        ] {
            let mut a = vec!["run", "--rm"];
            a.extend_from_slice(&opts);
            a.extend_from_slice(&[IMG, "sh", "-c", "cat /keep/f; echo x > /keep/new"]);
            let out = ctx.rless(&a);
            assert_ne!(out.code, Some(0), "{out}");
            assert!(out.stdout.contains("kept"), "{out}");
            assert!(out.stderr.contains("Read-only file system"), "{out}");
            assert!(!data(ctx, "keep").join("new").exists());
        }
    });
}

#[test]
fn volume_copy_on_first_mount() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_copy_on_first_mount", |ctx| {
        assert!(setup_image(ctx));
        let view =
            "stat -c '%n %u %g %a' /data /data/owned /data/sub /data/sub/deep; cat /data/link";
        let expected = |uid: u32| {
            format!(
                "/data {uid} {uid} 750\n/data/owned {uid} {uid} 640\n/data/sub 0 0 700\n/data/sub/deep 0 0 600\nalice's\n"
            )
        };
        // In single-id mode the image's files all belong to root.
        let uid = if ctx.user.mode == Mode::Subuid {
            1000
        } else {
            0
        };
        assert_eq!(sh(ctx, &[], view), expected(uid), "the image itself");
        assert_eq!(sh(ctx, &["-v", "filled:/data"], view), expected(uid));
        // On the host: the subordinate id (or the user).
        let owned = data(ctx, "filled").join("owned");
        assert_eq!(
            fs::symlink_metadata(&owned).unwrap().uid(),
            ctx.user.host_uid(uid)
        );
        // Copied once: a change survives and is not undone.
        sh(
            ctx,
            &["-v", "filled:/data"],
            "rm /data/owned; echo new > /data/added",
        );
        assert_eq!(
            sh(ctx, &["-v", "filled:/data"], "ls /data"),
            "added\nlink\nsub\n"
        );
        // nocopy: the volume stays empty.
        assert_eq!(sh(ctx, &["-v", "bare:/data:nocopy"], "ls -A /data"), "");
        assert_eq!(
            sh(
                ctx,
                &["--mount", "type=volume,src=bare2,dst=/data,volume-nocopy"],
                "ls -A /data"
            ),
            ""
        );
        // An anonymous volume is filled too.
        assert_eq!(sh(ctx, &["-v", "/data"], "cat /data/owned"), "alice's\n");
        // A path the image does not have: an empty volume.
        assert_eq!(sh(ctx, &["-v", "fresh:/nothere"], "ls -A /nothere"), "");
    });
}

#[test]
fn volume_anonymous_cleanup() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_anonymous_cleanup", |ctx| {
        assert!(setup_image(ctx));
        // --rm, foreground and detached.
        sh(ctx, &["-v", "/anon"], "echo x > /anon/f");
        assert!(anonymous(ctx).is_empty(), "--rm left {:?}", anonymous(ctx));
        let out = ctx.ok(&["run", "-d", "--rm", "-v", "/anon", IMG, "true"]);
        let id = out.last_line().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        // The monitor removes the container, then its anonymous volumes.
        while (containers(ctx).contains(&id) || !anonymous(ctx).is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!containers(ctx).contains(&id), "-d --rm container stays");
        assert!(
            anonymous(ctx).is_empty(),
            "-d --rm left {:?}",
            anonymous(ctx)
        );
        // rm -v removes them; rm alone keeps them (prune then removes them).
        ctx.ok(&[
            "run", "--name", "a", "-v", "/anon", "-v", "named:/n", IMG, "true",
        ]);
        ctx.ok(&["run", "--name", "b", "-v", "/anon", IMG, "true"]);
        assert_eq!(anonymous(ctx).len(), 2);
        ctx.ok(&["rm", "-v", "a"]);
        assert_eq!(anonymous(ctx).len(), 1);
        assert!(
            volume_names(ctx).contains("named"),
            "rm -v keeps named volumes"
        );
        ctx.ok(&["rm", "b"]);
        assert_eq!(anonymous(ctx).len(), 1, "rm without -v keeps the volume");
        // A failed start leaves no anonymous volume either.
        let out = run(ctx, &["-v", "/anon", IMG, "/no/such/command"]);
        assert_eq!(out.code, Some(127), "{out}");
        assert_eq!(anonymous(ctx).len(), 1);
        let out = ctx.ok(&["volume", "prune", "-f"]);
        assert!(out.stdout.starts_with("Deleted Volumes:"), "{out}");
        assert!(anonymous(ctx).is_empty());
        assert!(
            volume_names(ctx).contains("named"),
            "prune keeps named volumes"
        );
    });
}

#[test]
fn volume_image_declared() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_image_declared", |ctx| {
        assert!(setup_image(ctx));
        declare_volumes(ctx, IMG, &["/data", "/cache"]);
        ctx.ok(&[
            "run",
            "--name",
            "c",
            IMG,
            "sh",
            "-c",
            "cat /data/owned; echo c > /cache/x",
        ]);
        assert_eq!(anonymous(ctx).len(), 2, "one anonymous volume per VOLUME");
        // A user mount on a declared path replaces it.
        ctx.ok(&["run", "--rm", "-v", "mine:/data", IMG, "cat", "/data/owned"]);
        assert_eq!(anonymous(ctx).len(), 2);
        ctx.ok(&["rm", "-v", "c"]);
        assert!(anonymous(ctx).is_empty());
        sh(ctx, &[], "true");
        assert!(
            anonymous(ctx).is_empty(),
            "--rm removes the image's volumes"
        );
    });
}

#[test]
fn volume_shared_between_running_containers() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_shared_between_running_containers", |ctx| {
        assert!(setup_image(ctx));
        let a = ctx.ok(&[
            "run",
            "-d",
            "--name",
            "writer",
            "-v",
            "shared:/s",
            IMG,
            "sh",
            "-c",
            "echo from-a > /s/a; i=0; while [ ! -f /s/b ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; cat /s/b > /s/ack",
        ]);
        assert!(a.success(), "{a}");
        let out = sh(
            ctx,
            &["-v", "shared:/s"],
            "i=0; while [ ! -f /s/a ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; cat /s/a; echo from-b > /s/b; i=0; while [ ! -s /s/ack ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; cat /s/ack",
        );
        assert_eq!(out, "from-a\nfrom-b\n");
        let w = ctx.ok(&["wait", "writer"]);
        assert_eq!(w.last_line(), "0", "{w}");
        ctx.ok(&["rm", "writer"]);
    });
}

#[test]
fn volumes_from() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volumes_from", |ctx| {
        assert!(setup_image(ctx));
        let host = ctx.work.join("hostdir");
        fs::create_dir(&host).unwrap();
        ctx.give(&host);
        let bind = format!("{}:/h", host.display());
        ctx.ok(&[
            "run",
            "--name",
            "src",
            "-v",
            "named:/n",
            "-v",
            "/anon",
            "-v",
            &bind,
            IMG,
            "sh",
            "-c",
            "echo n > /n/f; echo a > /anon/f; echo h > /h/f",
        ]);
        assert_eq!(
            sh(ctx, &["--volumes-from", "src"], "cat /n/f /anon/f /h/f"),
            "n\na\nh\n"
        );
        let out = run(
            ctx,
            &[
                "--rm",
                "--volumes-from",
                "src:ro",
                IMG,
                "sh",
                "-c",
                "cat /n/f; touch /n/x",
            ],
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert!(out.stderr.contains("Read-only file system"), "{out}");
        // The other container's anonymous volume is still its own.
        ctx.ok(&[
            "run",
            "--name",
            "user2",
            "--volumes-from",
            "src",
            IMG,
            "true",
        ]);
        ctx.ok(&["rm", "-v", "src"]);
        assert_eq!(anonymous(ctx).len(), 1, "still used by user2");
        ctx.ok(&["rm", "-v", "user2"]);
        assert_eq!(
            anonymous(ctx).len(),
            1,
            "user2 borrowed it, it is not its own"
        );
        ctx.fail(&["run", "--rm", "--volumes-from", "nosuch", IMG, "true"]);
    });
}

#[test]
fn volume_hostile_symlink_targets() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_hostile_symlink_targets", |ctx| {
        let tar = image_tar(|b| {
            b.symlink("evil", "/etc")
                .symlink("rootlink", "/")
                .symlink("up", "../../../../../..")
        });
        import_image(ctx, "hostile", &tar);
        let etc_before = common::list_names(Path::new("/etc"));
        let out = ctx.ok(&[
            "run",
            "--rm",
            "-v",
            "v1:/evil",
            "hostile",
            "sh",
            "-c",
            "echo w > /evil/written; cat /etc/written",
        ]);
        assert_eq!(out.stdout, "w\n");
        // Filled from the container's own /etc, never the host's.
        let names = common::list_names(&data(ctx, "v1"));
        let allowed: BTreeSet<String> = [
            "passwd",
            "group",
            "image-file",
            "hosts",
            "hostname",
            "resolv.conf",
            "written",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(
            names.is_subset(&allowed),
            "volume filled from outside: {names:?}"
        );
        ctx.ok(&[
            "run",
            "--rm",
            "-v",
            "v2:/rootlink/etc/via-root",
            "-v",
            "v3:/up/escape",
            "hostile",
            "sh",
            "-c",
            "echo r > /etc/via-root/f; echo u > /escape/f",
        ]);
        assert_eq!(
            fs::read_to_string(data(ctx, "v2").join("f")).unwrap(),
            "r\n"
        );
        assert_eq!(
            fs::read_to_string(data(ctx, "v3").join("f")).unwrap(),
            "u\n"
        );
        assert!(!Path::new("/escape").exists() && !Path::new("/etc/via-root").exists());
        for p in [ctx.root.join("escape"), ctx.work.join("escape")] {
            assert!(!p.exists(), "escaped: {}", p.display());
        }
        assert_eq!(common::list_names(Path::new("/etc")), etc_before);
    });
}

#[test]
fn volume_bad_input_is_125() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_bad_input_is_125", |ctx| {
        assert!(setup_image(ctx));
        let missing = ctx.work.join("missing");
        let bind_missing = format!("type=bind,src={},dst=/x", missing.display());
        // Two mounts on one destination (however spelled): refused, as
        // docker, before a volume or a -v bind source is made.
        let v_missing = format!("{}:/a/../mnt", missing.display());
        let cases: Vec<Vec<&str>> = vec![
            vec!["run", "--rm", "-v", "a/b:/x", IMG, "true"],
            vec!["run", "--rm", "-v", "vol:rel", IMG, "true"],
            vec!["run", "--rm", "-v", "vol:/x:bogus", IMG, "true"],
            vec!["run", "--rm", "-v", "/tmp:/x:nocopy", IMG, "true"],
            vec!["run", "--rm", "-v", "a:b:c:d", IMG, "true"],
            vec!["run", "--rm", "-v", "v:/", IMG, "true"],
            vec!["run", "--rm", "-v", "/", IMG, "true"],
            vec!["run", "--rm", "--mount", &bind_missing, IMG, "true"],
            vec![
                "run",
                "--rm",
                "--mount",
                "type=volume,src=a/b,dst=/x",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--mount",
                "type=volume,src=v,dst=/x,bogus=1",
                IMG,
                "true",
            ],
            vec!["run", "--rm", "--volumes-from", "nosuch", IMG, "true"],
            vec![
                "run",
                "--rm",
                "-v",
                "/tmp:/mnt",
                "-v",
                "vol:/mnt/",
                IMG,
                "true",
            ],
            vec![
                "run", "--rm", "-v", &v_missing, "--tmpfs", "/mnt", IMG, "true",
            ],
            vec![
                "create",
                "--mount",
                "type=volume,src=vol,dst=/mnt",
                "-v",
                "/mnt/.",
                IMG,
                "true",
            ],
            vec!["volume", "create", "a/b"],
            vec!["volume", "create", ".."],
            vec!["volume", "create", "--opt", "type=tmpfs", "t"],
            vec!["volume", "rm", "../x"],
            vec!["volume", "inspect", "nosuch"],
            vec!["volume", "export", "nosuch"],
        ];
        for c in &cases {
            let out = ctx.fail_unchanged(c);
            assert_eq!(
                out.stderr.lines().filter(|l| !l.trim().is_empty()).count(),
                1,
                "{out}"
            );
            assert!(
                containers(ctx).is_empty() && volume_names(ctx).is_empty(),
                "{out}"
            );
        }
        // A removal's missing name: podman's status 1.
        ctx.fail_code_unchanged(&["volume", "rm", "nosuch"], 1);
        assert!(
            !missing.exists(),
            "--mount type=bind must not create its source"
        );
        let out = ctx.fail(&["volume", "create", "a/b"]);
        assert!(out.stderr.contains("invalid volume name"), "{out}");
        let out = ctx.fail(&[
            "run",
            "--rm",
            "-v",
            "/tmp:/mnt",
            "-v",
            "/tmp:/mnt",
            IMG,
            "true",
        ]);
        assert!(out.stderr.contains("duplicate mount point: /mnt"), "{out}");
        // -v creates a missing host directory.
        let made = ctx.work.join("made");
        sh(
            ctx,
            &["-v", &format!("{}:/m", made.display())],
            "touch /m/f",
        );
        assert!(made.join("f").exists());
    });
}

/// A bind source starting with `.` (`.`, `./DIR`, `../DIR`) is a host path
/// relative to the working directory, as docker's client takes it since
/// 23.0 (it was refused as a bad volume name); made absolute and clean,
/// for `-v` and `--mount type=bind`; a missing one is made by `-v`.
#[test]
fn volume_relative_bind_sources() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_relative_bind_sources", |ctx| {
        assert!(setup_image(ctx));
        ctx.write_file("rel/f", b"relative\n");
        assert_eq!(sh(ctx, &["-v", "./rel:/m"], "cat /m/f"), "relative\n");
        assert_eq!(sh(ctx, &["-v", ".:/m:ro"], "cat /m/rel/f"), "relative\n");
        assert_eq!(
            sh(ctx, &["-v", "./rel/../rel/./:/m"], "cat /m/f"),
            "relative\n"
        );
        assert_eq!(
            sh(ctx, &["--mount", "type=bind,src=./rel,dst=/m"], "cat /m/f"),
            "relative\n"
        );
        let parent = ctx.work.file_name().unwrap().to_str().unwrap();
        let up = format!("../{parent}/rel:/m");
        assert_eq!(sh(ctx, &["-v", &up], "cat /m/f"), "relative\n");
        // Written through it: on the host, in the working directory.
        sh(ctx, &["-v", "./rel:/m"], "echo back > /m/g");
        assert_eq!(
            fs::read_to_string(ctx.work.join("rel/g")).unwrap(),
            "back\n"
        );
        // A missing one is made (as a -v bind source is), absolute in inspect.
        ctx.ok(&["create", "--name", "c", "-v", "./made:/n", IMG, "true"]);
        assert!(ctx.work.join("made").is_dir());
        let out = ctx.ok(&["inspect", "-f", "{{range .Mounts}}{{.Source}}{{end}}", "c"]);
        assert_eq!(out.stdout.trim(), ctx.work.join("made").to_str().unwrap());
        ctx.ok(&["rm", "c"]);
        assert!(volume_names(ctx).is_empty(), "no volume was made");
    });
}
