//! `pod create --userns`: the infra container gets the user namespace
//! mode and every member takes it (a member's own `--userns` is refused,
//! as podman refuses it); `--uidmap`/`--gidmap` are refused as `run`
//! refuses them.

mod common;

use common::checks::assert_one_error;
use common::for_each_user;
use common::lifecycle_helpers::*;
use common::pod_helpers::for_each_user_with_bb;
use std::os::unix::fs::MetadataExt;

#[test]
fn pod_userns_keep_id_members() {
    for_each_user_with_bb("pod_userns_keep_id_members", |ctx| {
        let shared = ctx.work.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        ctx.give(&shared);
        let bind = format!("{}:/shared", shared.display());
        ctx.ok(&[
            "pod", "create", "--name", "k", "--share", "+pid", "--userns", "keep-id",
        ]);
        // A member is the user, and what it writes to a bind mount is theirs.
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--pod",
            "k",
            "-v",
            &bind,
            IMG,
            "sh",
            "-c",
            "id -u; touch /shared/made",
        ]);
        assert_eq!(out.stdout, format!("{}\n", ctx.user.uid), "{out}");
        let meta = std::fs::metadata(shared.join("made")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (ctx.user.uid, ctx.user.gid));
        // A member created, then started: it is keep-id too.
        ctx.ok(&[
            "create", "--name", "m", "--pod", "k", IMG, "sh", "-c", FOREVER,
        ]);
        let m = inspect(ctx, "m");
        assert_eq!(m["HostConfig"]["UsernsMode"], "keep-id", "{m}");
        ctx.ok(&["start", "m"]);
        let out = ctx.ok(&["exec", "m", "id", "-u"]);
        assert_eq!(out.stdout, format!("{}\n", ctx.user.uid), "{out}");
        // A member's own --userns is refused in podman's words, even keep-id.
        for own in ["keep-id", "host"] {
            let out = ctx.rless(&["run", "--rm", "--pod", "k", "--userns", own, IMG, "true"]);
            assert_one_error(&out, 125);
            assert!(
                out.stderr.contains(
                    "cannot set user namespace mode when joining pod with infra container"
                ),
                "{out}"
            );
        }
        // keep-id's uid=N,gid=N reaches the members.
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "k5",
            "--userns",
            "keep-id:uid=5,gid=7",
        ]);
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--pod",
            "k5",
            IMG,
            "sh",
            "-c",
            "id -u; id -g",
        ]);
        assert_eq!(out.stdout, "5\n7\n", "{out}");
        // Without --userns members are root inside, as before.
        ctx.ok(&["pod", "create", "--name", "plain"]);
        let out = ctx.ok(&["run", "--rm", "--pod", "plain", IMG, "id", "-u"]);
        assert_eq!(out.stdout, "0\n", "{out}");
        ctx.ok(&["pod", "rm", "-f", "k", "k5", "plain"]);
    });
}

#[test]
fn pod_userns_refusals() {
    for_each_user_with_bb("pod_userns_refusals", |ctx| {
        for (flag, v) in [
            ("--uidmap", "0:1:1"),
            ("--gidmap", "0:1:1"),
            ("--userns", "nomap"),
            ("--userns", "auto"),
        ] {
            let out = ctx.rless(&["pod", "create", "--name", "bad", flag, v]);
            assert_one_error(&out, 125);
            assert!(out.stderr.contains(flag), "{out}");
            let out = ctx.ok(&["pod", "ps", "-q"]);
            assert_eq!(out.stdout, "", "{flag} {v} left a pod behind");
        }
        // Without an infra container there is no user namespace to share.
        let out = ctx.rless(&["pod", "create", "--infra=false", "--userns", "keep-id"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("infra container"), "{out}");
    });
}

/// `pod clone` (podman 4.3's): a new pod made as the original was (its
/// labels, namespaces shared, hostname, user namespace) with clones of
/// its members, named podman's way; `--destroy` removes the original,
/// `--start` starts the clone.
#[test]
fn pod_clone_makes_the_pod_again() {
    for_each_user_with_bb("pod_clone_makes_the_pod_again", |ctx| {
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "p",
            "-l",
            "k=v",
            "--share",
            "+pid",
            "--hostname",
            "hh",
            "--userns",
            "keep-id",
        ]);
        ctx.ok(&["create", "--name", "m", "--pod", "p", IMG, "true"]);
        let out = ctx.ok(&["pod", "clone", "p"]);
        let id = out.stdout.trim().to_string();
        let f = "{{.Name}} {{.Labels}} {{.SharedNamespaces}} {{.NumContainers}}";
        let q = ctx.ok(&["pod", "inspect", "--format", f, "p-clone"]);
        let o = ctx.ok(&["pod", "inspect", "--format", f, "p"]);
        // Its member too, as podman's (m-clone, in p-clone).
        assert_eq!(q.stdout.replacen("p-clone", "p", 1), o.stdout, "{q} {o}");
        let f = "{{.Name}} {{.Pod}}";
        let mc = ctx.ok(&["inspect", "--format", f, "m-clone"]);
        assert_eq!(mc.stdout.trim(), format!("m-clone {}", out.stdout.trim()));
        let q = ctx.ok(&["pod", "inspect", "--format", "{{.Id}}", "p-clone"]);
        assert_eq!(q.stdout.trim(), id);
        // Once p-clone is taken, podman's next default names: p-clone1, p-clone2.
        for next in ["p-clone1", "p-clone2"] {
            let out = ctx.ok(&["pod", "clone", "p"]);
            let q = ctx.ok(&["pod", "inspect", "--format", "{{.Id}}", next]);
            assert_eq!(q.stdout.trim(), out.stdout.trim(), "{next}");
        }
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--pod",
            "p-clone",
            IMG,
            "sh",
            "-c",
            "id -u; hostname",
        ]);
        // Not p's hostname: podman 4.3 clears it (the clone's is its name).
        assert_eq!(out.stdout, format!("{}\np-clone\n", ctx.user.uid), "{out}");
        // --destroy and --start, a name given.
        ctx.ok(&["pod", "clone", "--destroy", "--start", "p", "q"]);
        assert_one_error(&ctx.rless(&["pod", "inspect", "p"]), 125);
        assert_one_error(&ctx.rless(&["inspect", "m"]), 125);
        // q has m's clone (m-clone3, after p-clone's, p-clone1's and
        // p-clone2's), started: `true` ran and exited 0.
        let f = "{{.NumContainers}}";
        let q = ctx.ok(&["pod", "inspect", "--format", f, "q"]);
        assert_eq!(q.stdout.trim(), "2", "{q}");
        let w = ctx.ok(&["wait", "m-clone3"]);
        assert_eq!(w.stdout.trim(), "0", "{w}");
        ctx.ok(&["pod", "rm", "-f", "q", "p-clone", "p-clone1", "p-clone2"]);
        assert_one_error(&ctx.rless(&["pod", "clone", "nope"]), 125);
    });
}

/// `pod inspect`'s `InfraConfig.userns`, podman 4.3's: `private` for a pod
/// whose infra container has a user namespace of its own (keep-id),
/// `host` for the default; no `InfraConfig` without an infra container.
#[test]
fn pod_inspect_userns_mode() {
    for_each_user("pod_inspect_userns_mode", |ctx| {
        let _cleanup = Cleanup(ctx);
        ctx.ok(&["pod", "create", "--name", "k", "--userns", "keep-id"]);
        ctx.ok(&["pod", "create", "--name", "d"]);
        ctx.ok(&["pod", "create", "--name", "n", "--infra=false"]);
        let f = "{{.InfraConfig.userns}}";
        let out = ctx.ok(&["pod", "inspect", "--format", f, "k", "d"]);
        assert_eq!(out.stdout, "private\nhost\n", "{out}");
        let out = ctx.ok(&["pod", "inspect", "n"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert!(v[0].get("InfraConfig").is_none(), "{out}");
        assert_eq!(v[0]["Name"], "n", "{out}");
        ctx.ok(&["pod", "rm", "k", "d", "n"]);
    });
}
