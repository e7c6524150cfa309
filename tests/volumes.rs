//! Volumes: named, anonymous and image-declared volumes, `-v`, `--mount`,
//! `--volumes-from`, copy-on-first-mount, ownership, sharing, hostile
//! mount targets, bad input, `volume ls/inspect/rm/prune/export/import`.
//!
//! Every scenario imports a small busybox image built in Rust as a tar
//! (`rless import TAR vb`), so no registry is needed. An image with
//! `VOLUME` declarations is made by editing the imported image's config
//! in the store, the way a pull would have written it.

mod common;

use common::oci::{busybox, LayerBuilder};
use common::{for_each_user, Ctx, Mode, Out};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const IMG: &str = "vb";

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "ls", "stat", "touch", "mkdir", "chown", "chmod", "sleep", "test", "id",
    "rm", "true",
];

/// A busybox image whose `/data` holds files owned by uid 1000, a
/// subdirectory and a symlink; plus any extra entries.
fn image_tar(extra: impl FnOnce(LayerBuilder) -> LayerBuilder) -> Vec<u8> {
    let bb = busybox().expect("busybox is checked by the caller");
    let mut b = LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", bb, 0o755)
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
            0o644,
        )
        .file("etc/group", b"root:x:0:\nalice:x:1000:\n", 0o644)
        .file("etc/image-file", b"from the image\n", 0o644)
        .dir("tmp", 0o1777)
        .dir_owned("data", 0o750, 1000, 1000)
        .file_owned("data/owned", b"alice's\n", 0o640, 1000, 1000)
        .dir("data/sub", 0o700)
        .file("data/sub/deep", b"deep\n", 0o600)
        .symlink("data/link", "owned");
    for a in APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    extra(b).finish()
}

fn import_image(ctx: &Ctx, name: &str, tar: &[u8]) {
    let p = ctx.write_file(&format!("{name}.tar"), tar);
    ctx.ok(&["import", p.to_str().unwrap(), name]);
}

/// Imports [`IMG`]; false when busybox is missing (after a SKIP).
fn setup_image(ctx: &Ctx) -> bool {
    if busybox().is_none() {
        return false;
    }
    import_image(ctx, IMG, &image_tar(|b| b));
    true
}

/// Adds `VOLUME` declarations to an imported image's config, as a pulled
/// image would carry them (new config blob, new id in the index).
fn declare_volumes(ctx: &Ctx, image: &str, volumes: &[&str]) {
    let index_path = ctx.root.join("images/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let img = index["images"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| {
            i["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains(&format!("/{image}:")))
        })
        .expect("imported image in the index");
    let old = img["id"].as_str().unwrap().to_string();
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(ctx.blob_path(&old)).unwrap()).unwrap();
    let decl: serde_json::Map<String, serde_json::Value> = volumes
        .iter()
        .map(|v| (v.to_string(), serde_json::json!({})))
        .collect();
    config["config"]["Volumes"] = serde_json::Value::Object(decl);
    let bytes = serde_json::to_vec(&config).unwrap();
    let hex = common::sha256_hex(&bytes);
    let blob = ctx.blob_path(&hex);
    fs::write(&blob, &bytes).unwrap();
    ctx.give(&blob);
    img["id"] = serde_json::Value::String(format!("sha256:{hex}"));
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    ctx.give(&index_path);
}

fn run(ctx: &Ctx, args: &[&str]) -> Out {
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    ctx.rless(&a)
}

/// `rless run --rm OPTS IMG sh -c SCRIPT`, which must exit 0; returns stdout.
fn sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a: Vec<&str> = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    ctx.ok(&a).stdout
}

fn volume_names(ctx: &Ctx) -> BTreeSet<String> {
    ctx.ok(&["volume", "ls", "-q"])
        .stdout
        .lines()
        .map(String::from)
        .collect()
}

fn volume_dirs(ctx: &Ctx) -> BTreeSet<String> {
    common::list_names(&ctx.root.join("volumes"))
}

fn data(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.root.join("volumes").join(name).join("_data")
}

fn containers(ctx: &Ctx) -> BTreeSet<String> {
    common::list_names(&ctx.root.join("containers"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

fn anonymous(ctx: &Ctx) -> Vec<String> {
    volume_names(ctx)
        .into_iter()
        .filter(|n| common::is_hex64(n))
        .collect()
}

// ------------------------------------------------------------------ tests

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
fn volume_in_use_is_protected() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_in_use_is_protected", |ctx| {
        assert!(setup_image(ctx));
        ctx.ok(&["run", "--name", "user", "-v", "busy:/b", IMG, "true"]);
        let out = ctx.fail(&["volume", "rm", "busy"]);
        assert!(out.stderr.contains("in use"), "{out}");
        assert!(data(ctx, "busy").is_dir());
        let out = ctx.ok(&["volume", "prune", "-a"]);
        assert!(!out.stdout.contains("busy"), "{out}");
        assert!(volume_names(ctx).contains("busy"));
        // Each name on its own, as docker: the unknown and the used one are
        // reported in order, the free ones removed.
        ctx.ok(&["volume", "create", "free1"]);
        ctx.ok(&["volume", "create", "free2"]);
        let out = ctx.rless(&["volume", "rm", "free1", "nosuch", "busy", "free2"]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(125), "free1\nfree2\n")
        );
        let err: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(err[0], "rless: no such volume: nosuch", "{out}");
        assert!(
            err.len() == 2 && err[1].contains("volume busy is in use"),
            "{out}"
        );
        assert_eq!(volume_names(ctx), BTreeSet::from(["busy".to_string()]));
        ctx.ok(&["volume", "rm", "-f", "busy"]);
        assert!(!volume_names(ctx).contains("busy"));
        ctx.ok(&["rm", "user"]);
    });
}

#[test]
fn volume_subuid_files_are_removed() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_subuid_files_are_removed", |ctx| {
        assert!(setup_image(ctx));
        sh(
            ctx,
            &["-v", "owned:/o"],
            "mkdir -p /o/d/e; echo s > /o/d/e/f; chown -R 1000:1000 /o/d 2>/dev/null; chmod 700 /o/d /o/d/e; chmod 500 /o/d/e",
        );
        if ctx.user.mode == Mode::Subuid {
            let d = data(ctx, "owned").join("d");
            assert_eq!(
                fs::symlink_metadata(&d).unwrap().uid(),
                ctx.user.host_uid(1000)
            );
        }
        ctx.ok(&["volume", "rm", "owned"]);
        assert!(!ctx.root.join("volumes/owned").exists());
        sh(
            ctx,
            &["-v", "owned2:/o"],
            "mkdir /o/d; chown 1000 /o/d 2>/dev/null; chmod 700 /o/d",
        );
        ctx.ok(&["volume", "prune", "--all"]);
        assert!(volume_dirs(ctx).iter().all(|n| n.starts_with('.')) || volume_dirs(ctx).is_empty());
        assert!(!ctx.root.join("volumes/owned2").exists());
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
            vec!["run", "--rm", "-v", "../x:/x", IMG, "true"],
            vec!["run", "--rm", "-v", "..:/x", IMG, "true"],
            vec!["run", "--rm", "-v", "./rel:/x", IMG, "true"],
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
            vec!["volume", "rm", "nosuch"],
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

#[test]
fn volume_export_import_round_trip() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_export_import_round_trip", |ctx| {
        assert!(setup_image(ctx));
        sh(
            ctx,
            &["-v", "orig:/v"],
            "mkdir /v/d; echo hello > /v/d/f; chmod 604 /v/d/f; chown 1000:1000 /v/d/f 2>/dev/null; ln -s d/f /v/l 2>/dev/null || true",
        );
        // `volume export NAME > x.tar`
        let tar = ctx.work.join("x.tar");
        let file = fs::File::create(&tar).unwrap();
        let status = ctx
            .rless_cmd(&["volume", "export", "orig"])
            .stdout(Stdio::from(file))
            .status()
            .unwrap();
        assert!(status.success());
        ctx.give(&tar);
        assert!(fs::metadata(&tar).unwrap().len() >= 1024);
        ctx.ok(&["volume", "import", "copy", tar.to_str().unwrap()]);
        let uid = if ctx.user.mode == Mode::Subuid {
            1000
        } else {
            0
        };
        assert_eq!(
            sh(
                ctx,
                &["-v", "copy:/c"],
                "cat /c/d/f; stat -c '%u %a' /c/d/f"
            ),
            format!("hello\n{uid} 604\n")
        );
        // Import needs an empty volume; stdin works.
        let bytes = fs::read(&tar).unwrap();
        let out = ctx.rless_stdin(&["volume", "import", "copy", "-"], &bytes);
        out.assert_rless_error();
        assert!(out.stderr.contains("not empty"), "{out}");
        let out = ctx.rless_stdin(&["volume", "import", "viastdin", "-"], &bytes);
        assert!(out.success(), "{out}");
        assert_eq!(sh(ctx, &["-v", "viastdin:/c"], "cat /c/d/f"), "hello\n");
        // A hostile archive stays inside the volume.
        let mut h = tar::Builder::new(Vec::new());
        let mut hdr = tar::Header::new_gnu();
        hdr.set_size(4);
        hdr.set_mode(0o644);
        hdr.set_entry_type(tar::EntryType::Regular);
        hdr.set_uid(0);
        hdr.set_gid(0);
        hdr.set_mtime(0);
        hdr.as_gnu_mut().unwrap().name[..11].copy_from_slice(b"../../evil\0");
        hdr.set_cksum();
        h.append(&hdr, &b"evil"[..]).unwrap();
        let evil = h.into_inner().unwrap();
        // `../../evil` lands inside the volume, as it would in a layer.
        let out = ctx.rless_stdin(&["volume", "import", "hostile", "-"], &evil);
        assert!(out.success(), "{out}");
        assert!(data(ctx, "hostile").join("evil").is_file(), "{out}");
        for p in [
            ctx.root.join("volumes/evil"),
            ctx.root.join("evil"),
            ctx.root.join("volumes/hostile/evil"),
        ] {
            assert!(!p.exists(), "import escaped: {}", p.display());
        }
    });
}

#[test]
fn volume_ls_inspect_prune_formats() {
    for_each_user("volume_ls_inspect_prune_formats", |ctx| {
        let out = ctx.ok(&[
            "volume", "create", "--label", "team=db", "--opt", "note=x", "v1",
        ]);
        assert_eq!(out.stdout, "v1\n");
        // Creating it again keeps it.
        ctx.ok(&["volume", "create", "v1"]);
        let anon = ctx.ok(&["volume", "create"]).last_line().to_string();
        assert!(common::is_hex64(&anon), "anonymous name: {anon}");
        let table = ctx.ok(&["volume", "ls"]).stdout;
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["DRIVER", "VOLUME", "NAME"], "{table}");
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
        assert!(rows.contains(&vec!["local", "v1"]), "{table}");
        assert_eq!(rows.len(), 2, "{table}");
        let json: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["volume", "ls", "--format", "json"]).stdout).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 2);
        let out = ctx.ok(&["volume", "inspect", "v1"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let v = &v.as_array().unwrap()[0];
        assert_eq!(v["Name"], "v1");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Labels"]["team"], "db");
        assert_eq!(v["Options"]["note"], "x");
        assert_eq!(v["Anonymous"], false);
        assert_eq!(
            PathBuf::from(v["Mountpoint"].as_str().unwrap()),
            data(ctx, "v1")
        );
        assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'), "{out}");
        // prune: anonymous only; -a: every unused one.
        let out = ctx.ok(&["volume", "prune"]);
        assert_eq!(out.stdout, format!("Deleted Volumes:\n{anon}\n"));
        assert_eq!(volume_names(ctx), BTreeSet::from(["v1".to_string()]));
        ctx.ok(&["volume", "prune", "-a", "-f"]);
        assert!(volume_names(ctx).is_empty());
        assert!(ctx.ok(&["volume", "ls", "-q"]).stdout.is_empty());
    });
}
