//! podman's `init` (and `container init`): a created or stopped container
//! becomes `initialized`, which `start` runs; running and initialized
//! ones are refused in podman's words; what the start would need is
//! checked (a bind mount source removed since creation).

mod common;

use common::background::Background;
use common::checks::assert_one_error;
use common::lifecycle_helpers::{have_busybox, setup_image, IMG};
use common::{for_each_user, ERR_EXIT};

fn state(ctx: &common::Ctx, name: &str) -> String {
    let out = ctx.ok(&["inspect", "-f", "{{.State.Status}}", name]);
    out.stdout.trim().to_string()
}

#[test]
fn init_prepares_created_and_stopped_containers() {
    if !have_busybox() {
        return;
    }
    for_each_user("init_prepares_created_and_stopped_containers", |ctx| {
        setup_image(ctx);
        ctx.ok(&["create", "--name", "i1", IMG, "sh", "-c", "exit 3"]);
        let out = ctx.ok(&["init", "i1"]);
        assert_eq!(out.stdout, "i1\n", "{out}");
        assert_eq!(state(ctx, "i1"), "initialized");
        let ps = ctx.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=initialized",
            "--format",
            "{{.Names}} {{.Status}}",
        ]);
        assert_eq!(ps.stdout, "i1 Initialized\n", "{ps}");
        let ev = ctx.ok(&[
            "events",
            "--stream=false",
            "--filter",
            "event=init",
            "--format",
            "{{.Status}} {{.Name}}",
        ]);
        assert_eq!(ev.stdout, "init i1\n", "{ev}");
        // Once is enough, as podman.
        let again = ctx.rless(&["init", "i1"]);
        assert_one_error(&again, ERR_EXIT);
        assert!(
            again
                .stderr
                .contains("has already been created in runtime: container state improper"),
            "{again}"
        );
        // start runs it; wait tells its exit.
        ctx.ok(&["start", "i1"]);
        let w = ctx.ok(&["wait", "i1"]);
        assert_eq!(w.stdout.trim(), "3", "{w}");
        assert_eq!(state(ctx, "i1"), "exited");
        // A stopped container is initialized again (`container init`).
        ctx.ok(&["container", "init", "i1"]);
        assert_eq!(state(ctx, "i1"), "initialized");
        ctx.ok(&["rm", "i1"]);

        // wait on an initialized container waits for the run a start
        // begins (it printed 0 at once, as for an exited one).
        ctx.ok(&["create", "--name", "w1", IMG, "sh", "-c", "exit 4"]);
        ctx.ok(&["init", "w1"]);
        let waiter = Background::spawn(ctx, &["wait", "w1"]);
        ctx.ok(&["start", "w1"]);
        let (code, lines) = waiter.finish(common::CMD_TIMEOUT);
        assert_eq!(code, Some(0));
        assert_eq!(lines, ["4"]);
        ctx.ok(&["rm", "w1"]);

        // Running: refused with its full id; --all passes over it.
        let id = ctx.ok(&["run", "-d", "--name", "r1", IMG, "sleep", "300"]);
        let id = id.stdout.trim().to_string();
        let out = ctx.rless(&["init", "r1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr
                .contains(&format!("container {id} has already been created")),
            "{out}"
        );
        ctx.ok(&["create", "--name", "c2", IMG, "true"]);
        let all = ctx.ok(&["init", "--all"]);
        assert!(all.stdout.contains(&id), "{all}");
        assert_eq!(all.stdout.lines().count(), 2, "{all}");
        assert_eq!(state(ctx, "c2"), "initialized");
        let w = ctx.ok(&["wait", "--condition", "initialized", "c2"]);
        assert_eq!(w.stdout, "-1\n", "{w}");
        assert_eq!(state(ctx, "r1"), "running");
        ctx.ok(&["rm", "-f", "r1", "c2"]);

        // A bind mount whose source went since creation: refused, and the
        // container stays as it was.
        let src = ctx.work.join("gone");
        std::fs::create_dir(&src).unwrap();
        ctx.give(&src);
        let vol = format!("{}:/data", src.display());
        ctx.ok(&["create", "--name", "b1", "-v", &vol, IMG, "true"]);
        std::fs::remove_dir(&src).unwrap();
        let out = ctx.rless(&["init", "b1"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("bind mount source"), "{out}");
        assert_eq!(state(ctx, "b1"), "created");

        // Bad input.
        assert_one_error(&ctx.rless(&["init", "nosuch"]), ERR_EXIT);
        assert_one_error(&ctx.rless(&["init", "--all", "b1"]), ERR_EXIT);
        ctx.ok(&["rm", "-f", "b1"]);
    });
}
