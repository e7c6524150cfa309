//! podman's `--cidfile` and `--filter` on the commands that act on
//! containers (stop, kill, restart, pause, unpause, start, rm): the id a
//! `--cidfile` holds, and the containers `ps -a --filter` would list.

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::{have_busybox, setup_image, IMG};
use common::{for_each_user, ERR_EXIT};

fn state(ctx: &common::Ctx, name: &str) -> String {
    let out = ctx.ok(&["inspect", "-f", "{{.State.Status}}", name]);
    out.stdout.trim().to_string()
}

#[test]
fn cidfile_and_filter_pick_containers() {
    if !have_busybox() {
        return;
    }
    for_each_user("cidfile_and_filter_pick_containers", |ctx| {
        setup_image(ctx);
        for (name, app) in [("a1", "a"), ("b1", "b")] {
            let label = format!("app={app}");
            ctx.ok(&[
                "run", "-d", "--name", name, "-l", &label, IMG, "sleep", "300",
            ]);
        }
        ctx.ok(&["stop", "-t", "0", "--filter", "label=app=a"]);
        assert_eq!(state(ctx, "a1"), "exited");
        assert_eq!(state(ctx, "b1"), "running");
        ctx.ok(&["start", "--filter", "label=app=a"]);
        assert_eq!(state(ctx, "a1"), "running");
        ctx.ok(&["pause", "--filter", "name=b1"]);
        assert_eq!(state(ctx, "b1"), "paused");
        ctx.ok(&["unpause", "--filter", "name=b1"]);
        assert_eq!(state(ctx, "b1"), "running");
        // A filter that keeps nothing does nothing.
        ctx.ok(&["kill", "--filter", "label=app=none"]);
        assert_eq!(state(ctx, "a1"), "running");
        assert_one_error(&ctx.rless(&["stop", "--filter", "bogus=1"]), ERR_EXIT);

        // --cidfile: the id run/create wrote.
        let cid = ctx.work.join("c.cid").display().to_string();
        ctx.ok(&["create", "--cidfile", &cid, "--name", "c1", IMG, "true"]);
        ctx.ok(&["rm", "--cidfile", &cid]);
        let out = ctx.rless(&["inspect", "c1"]);
        assert!(!out.success(), "c1 is gone: {out}");
        let missing = ctx.work.join("none.cid").display().to_string();
        assert_one_error(&ctx.rless(&["stop", "--cidfile", &missing]), ERR_EXIT);

        ctx.ok(&["rm", "-f", "--filter", "label=app"]);
        let left = ctx.ok(&["ps", "-aq"]);
        assert_eq!(left.stdout, "", "{left}");
    });
}
