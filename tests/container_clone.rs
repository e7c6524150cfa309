//! podman's `container clone`: a new container made as another was (its
//! options, command and relative paths), with a new name (podman's
//! `-clone` default), another image, new limits; `--destroy` removes the
//! original (a running one only with `-f`), `--run` starts the clone.

mod common;

use common::checks::{assert_one_error, containers};
use common::lifecycle_helpers::{have_busybox, setup_image, IMG};
use common::{for_each_user, ERR_EXIT};

fn field(ctx: &common::Ctx, name: &str, template: &str) -> String {
    let out = ctx.ok(&["inspect", "-f", template, name]);
    out.stdout.trim().to_string()
}

#[test]
fn clone_makes_a_container_as_the_original_was_made() {
    if !have_busybox() {
        return;
    }
    for_each_user("clone_makes_a_container_as_the_original_was_made", |ctx| {
        setup_image(ctx);
        // A relative bind source: the clone reads it where create ran.
        let data = ctx.work.join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("f"), "from-data\n").unwrap();
        ctx.give_tree(&data);
        let mut create = ctx.rless_cmd(&[
            "create",
            "--name",
            "o1",
            "-e",
            "FOO=bar",
            "-l",
            "k=v",
            "-v",
            "./data:/d",
            IMG,
            "sh",
            "-c",
            "echo $FOO; cat /d/f",
        ]);
        create.current_dir(&ctx.work);
        let out = common::run_cmd(create, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        let orig = out.stdout.trim().to_string();

        // Cloned from elsewhere: ./data is still the one create meant.
        let mut clone = ctx.rless_cmd(&["container", "clone", "o1"]);
        clone.current_dir("/");
        let out = common::run_cmd(clone, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        let id = out.stdout.trim().to_string();
        assert!(common::is_hex64(&id) && id != orig, "{out}");
        assert_eq!(field(ctx, "o1-clone", "{{.Id}}"), id);
        assert_eq!(field(ctx, "o1-clone", "{{.State.Status}}"), "created");
        assert_eq!(
            field(ctx, "o1-clone", "{{index .Config.Labels \"k\"}}"),
            "v"
        );
        let run = ctx.ok(&["start", "-a", "o1-clone"]);
        assert_eq!(run.stdout, "bar\nfrom-data\n", "{run}");
        // Taken: the next default name.
        ctx.ok(&["container", "clone", "o1"]);
        assert_eq!(field(ctx, "o1-clone1", "{{.State.Status}}"), "created");

        // NAME and IMAGE, new limits.
        ctx.ok(&["tag", IMG, "bb2"]);
        ctx.ok(&[
            "container",
            "clone",
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "o1",
            "o2",
            "bb2",
        ]);
        assert!(field(ctx, "o2", "{{.Config.Image}}").contains("bb2"));
        assert_eq!(field(ctx, "o2", "{{.HostConfig.NanoCpus}}"), "500000000");
        assert_eq!(field(ctx, "o2", "{{.HostConfig.Memory}}"), "67108864");
        assert_eq!(field(ctx, "o1", "{{.HostConfig.Memory}}"), "0");

        // --run starts it; --destroy of a running original needs -f.
        ctx.ok(&["run", "-d", "--name", "s1", IMG, "sleep", "300"]);
        ctx.ok(&["container", "clone", "--run", "s1", "s2"]);
        assert_eq!(field(ctx, "s2", "{{.State.Status}}"), "running");
        let before = containers(ctx);
        let out = ctx.rless(&["container", "clone", "--destroy", "s1", "s3"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("without force"), "{out}");
        assert_eq!(containers(ctx), before, "nothing made or removed");
        ctx.ok(&["container", "clone", "--destroy", "-f", "s1", "s3"]);
        assert!(!ctx.rless(&["inspect", "s1"]).success(), "s1 removed");
        assert_eq!(field(ctx, "s3", "{{.State.Status}}"), "created");

        // Bad input: a missing original, a name in use, -f alone.
        let before = containers(ctx);
        assert_one_error(&ctx.rless(&["container", "clone", "nosuch"]), ERR_EXIT);
        assert_one_error(&ctx.rless(&["container", "clone", "o1", "o2"]), ERR_EXIT);
        assert!(!ctx.rless(&["container", "clone", "-f", "o1"]).success());
        assert_one_error(
            &ctx.rless(&["container", "clone", "--memory", "lots", "o1", "o9"]),
            ERR_EXIT,
        );
        assert_eq!(containers(ctx), before, "no container made");
        ctx.ok(&["rm", "-f", "-a"]);
    });
}

/// podman's clone does not copy `--pidfile` (two containers would write
/// one file), and a pod's infra container is not cloned: with `--pod` of
/// a pod without one, the clone would become that pod's infra container.
#[test]
fn clone_drops_the_pidfile_and_refuses_an_infra_container() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "clone_drops_the_pidfile_and_refuses_an_infra_container",
        |ctx| {
            setup_image(ctx);
            let dir = ctx.work.join("pids");
            std::fs::create_dir(&dir).unwrap();
            ctx.give_tree(&dir);
            let pidfile = dir.join("p1.pid");
            let pf = pidfile.to_str().unwrap();
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                "p1",
                "--pidfile",
                pf,
                IMG,
                "sleep",
                "300",
            ]);
            let pid = field(ctx, "p1", "{{.State.Pid}}");
            assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), pid);
            ctx.ok(&["container", "clone", "--run", "p1", "p2"]);
            assert_eq!(field(ctx, "p2", "{{.State.Status}}"), "running");
            assert_ne!(field(ctx, "p2", "{{.State.Pid}}"), pid);
            assert_eq!(
                std::fs::read_to_string(&pidfile).unwrap().trim(),
                pid,
                "the clone wrote the original's pidfile"
            );

            // An infra container, into a pod without one: refused, nothing made.
            ctx.ok(&["pod", "create", "--name", "withinfra"]);
            ctx.ok(&["pod", "create", "--name", "noinfra", "--infra=false"]);
            let pod_infra = |pod: &str| {
                let out = ctx.ok(&["pod", "inspect", pod]);
                let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
                let v = if v.is_array() { v[0].clone() } else { v };
                v["InfraContainerID"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            let infra = pod_infra("withinfra");
            assert!(!infra.is_empty());
            let before = containers(ctx);
            for args in [
                &["container", "clone", "--pod", "noinfra", &infra, "ic"][..],
                &["container", "clone", &infra],
            ] {
                let out = ctx.rless(args);
                assert_one_error(&out, ERR_EXIT);
                assert!(out.stderr.contains("infra"), "{out}");
            }
            assert_eq!(containers(ctx), before, "no container made");
            assert_eq!(pod_infra("noinfra"), "", "noinfra got an infra container");
            ctx.ok(&["pod", "rm", "-f", "withinfra", "noinfra"]);
            ctx.ok(&["rm", "-f", "-a"]);
        },
    );
}
