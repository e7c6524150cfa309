//! The `volume` subcommands: `rm` and `prune` of volumes in use or holding
//! files of subordinate ids, `export`/`import` (hostile archives too), and
//! `ls`/`inspect`/`prune` formats, `prune --filter`. Volumes in `run` are in volumes.rs; the
//! shared image and helpers in `volume_support`.

mod common;
mod volume_support;

use common::oci::busybox;
use common::{for_each_user, Mode};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Stdio;
use volume_support::*;

#[test]
fn volume_in_use_is_protected() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_in_use_is_protected", |ctx| {
        assert!(setup_image(ctx));
        ctx.ok(&["run", "--name", "user", "-v", "busy:/b", IMG, "true"]);
        // In use: podman's status 2.
        let out = ctx.rless(&["volume", "rm", "busy"]);
        common::checks::assert_one_error(&out, 2);
        assert!(out.stderr.contains("in use"), "{out}");
        common::checks::assert_one_error(&ctx.rless(&["volume", "rm", "nosuch"]), 1);
        assert!(data(ctx, "busy").is_dir());
        let out = ctx.ok(&["volume", "prune", "-a"]);
        assert!(!out.stdout.contains("busy"), "{out}");
        assert!(volume_names(ctx).contains("busy"));
        // Each name on its own, as docker: the unknown and the used one are
        // reported in order, the free ones removed.
        ctx.ok(&["volume", "create", "free1"]);
        ctx.ok(&["volume", "create", "free2"]);
        let out = ctx.rless(&["volume", "rm", "free1", "nosuch", "busy", "free2"]);
        assert_eq!((out.code, out.stdout.as_str()), (Some(2), "free1\nfree2\n"));
        let err: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(err[0], "rless: no such volume: nosuch", "{out}");
        assert!(
            err.len() == 2 && err[1].contains("volume busy is in use"),
            "{out}"
        );
        assert_eq!(volume_names(ctx), BTreeSet::from(["busy".to_string()]));
        // -f too, as docker (-f only ignores missing volumes): removing it
        // would leave a container that can never start.
        let out = ctx.rless(&["volume", "rm", "-f", "busy"]);
        common::checks::assert_one_error(&out, 2);
        assert!(out.stderr.contains("volume busy is in use"), "{out}");
        assert!(data(ctx, "busy").is_dir());
        let out = ctx.ok(&["start", "-a", "user"]);
        assert_eq!(out.stdout, "", "{out}");
        let out = ctx.ok(&["volume", "rm", "-f", "nosuch"]);
        assert_eq!(out.stdout, "nosuch\n", "{out}");
        ctx.ok(&["rm", "user"]);
        ctx.ok(&["volume", "rm", "busy"]);
        assert!(!volume_names(ctx).contains("busy"));
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
        // A missing name among others: the found ones shown, the missing
        // one reported (exit 125), as docker.
        let out = ctx.rless(&["volume", "inspect", "v1", "nosuch", &anon]);
        assert_eq!(out.code, Some(125), "{out}");
        assert_eq!(out.stderr.trim(), "rless: no such volume: nosuch", "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["v1", anon.as_str()], "{out}");
        // prune: anonymous only; -a: every unused one.
        let out = ctx.ok(&["volume", "prune"]);
        assert_eq!(
            out.stdout,
            format!("Deleted Volumes:\n{anon}\nTotal reclaimed space: 0B\n")
        );
        assert_eq!(volume_names(ctx), BTreeSet::from(["v1".to_string()]));
        ctx.ok(&["volume", "prune", "-a", "-f"]);
        assert!(volume_names(ctx).is_empty());
        assert!(ctx.ok(&["volume", "ls", "-q"]).stdout.is_empty());
    });
}

/// `volume ls -f` as docker: dangling (no container records it), name (a
/// part of it), label (KEY or KEY=VALUE, every one must hold), driver;
/// repeated keys are alternatives; an unknown key is refused.
#[test]
fn volume_ls_filters() {
    if busybox().is_none() {
        return;
    }
    for_each_user("volume_ls_filters", |ctx| {
        assert!(setup_image(ctx));
        ctx.ok(&[
            "volume", "create", "--label", "tier=db", "--label", "keep", "dbdata",
        ]);
        ctx.ok(&["volume", "create", "--label", "tier=web", "webdata"]);
        ctx.ok(&["volume", "create", "other"]);
        ctx.ok(&["create", "--name", "c", "-v", "webdata:/w", IMG, "true"]);
        let ls = |f: &[&str]| {
            let mut a = vec!["volume", "ls", "-q"];
            for x in f {
                a.extend(["--filter", x]);
            }
            let out = ctx.ok(&a);
            out.stdout.lines().map(String::from).collect::<Vec<_>>()
        };
        assert_eq!(ls(&["dangling=true"]), ["dbdata", "other"]);
        assert_eq!(ls(&["dangling=false"]), ["webdata"]);
        assert_eq!(ls(&["name=data"]), ["dbdata", "webdata"]);
        assert_eq!(ls(&["name=db", "name=oth"]), ["dbdata", "other"]);
        assert_eq!(ls(&["label=tier"]), ["dbdata", "webdata"]);
        assert_eq!(ls(&["label=tier=db"]), ["dbdata"]);
        assert_eq!(ls(&["label=tier", "label=keep"]), ["dbdata"]);
        assert_eq!(ls(&["label=tier", "dangling=true"]), ["dbdata"]);
        assert_eq!(ls(&["driver=local", "name=other"]), ["other"]);
        assert!(ls(&["driver=nfs"]).is_empty());
        let out = ctx.ok(&["volume", "ls", "-f", "name=web", "--format", "{{.Name}}"]);
        assert_eq!(out.stdout, "webdata\n");
        for bad in ["bogus=1", "dangling=maybe", "name"] {
            ctx.fail(&["volume", "ls", "--filter", bad]);
        }
    });
}

/// `volume prune --filter`: docker's label= (every one must hold) and
/// label!= (the volumes without it), podman's until= (made before it);
/// an unknown filter is refused and prunes nothing.
#[test]
fn volume_prune_filters() {
    for_each_user("volume_prune_filters", |ctx| {
        ctx.ok(&["volume", "create", "--label", "keep", "kept"]);
        ctx.ok(&["volume", "create", "--label", "env=prod", "prod"]);
        ctx.ok(&["volume", "create", "--label", "env=dev", "dev"]);
        ctx.ok(&["volume", "create", "plain"]);
        let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let out = ctx.fail(&["volume", "prune", "-a", "--filter", "colour=red"]);
        assert!(out.stderr.contains("colour=red"), "{out}");
        assert_eq!(volume_names(ctx), all(&["kept", "prod", "dev", "plain"]));
        let out = ctx.ok(&["volume", "prune", "-a", "--filter", "label=env=prod"]);
        assert!(out.stdout.contains("\nprod\n"), "{out}");
        assert_eq!(volume_names(ctx), all(&["kept", "dev", "plain"]));
        // Made a day ago or earlier: none of these.
        ctx.ok(&["volume", "prune", "-a", "--filter", "until=24h"]);
        assert_eq!(volume_names(ctx), all(&["kept", "dev", "plain"]));
        ctx.ok(&[
            "volume",
            "prune",
            "-a",
            "--filter",
            "label!=keep",
            "--filter",
            "label=env",
        ]);
        assert_eq!(volume_names(ctx), all(&["kept", "plain"]));
        ctx.ok(&["volume", "prune", "-a", "--filter", "label!=keep"]);
        assert_eq!(volume_names(ctx), all(&["kept"]));
        // Before an hour from now: every one.
        ctx.ok(&["volume", "prune", "-a", "--filter", "until=-1h"]);
        assert!(volume_names(ctx).is_empty());
    });
}
