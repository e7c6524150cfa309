//! podman's `-a/--all` and `-i/--ignore` on the lifecycle verbs: `stop -a`,
//! `start --all`, `kill -a`, `restart -a`, `pause -a`, `unpause -a`,
//! `rm -a`, and `stop -i`. With `-a` each verb acts on the containers it
//! applies to, names them by full id as podman prints them, and a store
//! with none of them is not an error.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, Ctx};
use std::collections::BTreeSet;

/// Status of container `q` from `inspect` (`paused` for a paused one).
fn status(ctx: &Ctx, q: &str) -> String {
    state_of(&inspect(ctx, q))["Status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The full ids a command printed, one per line.
fn printed(out: &common::out::Out) -> BTreeSet<String> {
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn lifecycle_all_flags() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_all_flags", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let a = run_sh(ctx, &["--name", "a1"], &format!("echo ready; {FOREVER}"));
        let b = run_sh(ctx, &["--name", "b1"], &format!("echo ready; {FOREVER}"));
        let c = ctx.ok(&["create", "--name", "c1", IMG, "sleep", "1000"]);
        let c = c.stdout.trim().to_string();
        wait_log(ctx, "a1", "ready");
        wait_log(ctx, "b1", "ready");
        let running: BTreeSet<String> = [a.clone(), b.clone()].into();
        let every: BTreeSet<String> = [a.clone(), b.clone(), c.clone()].into();

        // pause -a takes the running ones, unpause -a the paused ones.
        let out = ctx.ok(&["pause", "-a"]);
        assert_eq!(printed(&out), running, "{out}");
        assert_eq!(status(ctx, "a1"), "paused");
        assert_eq!(status(ctx, "c1"), "created");
        let out = ctx.ok(&["unpause", "-a"]);
        assert_eq!(printed(&out), running, "{out}");
        assert_eq!(status(ctx, "b1"), "running");
        // Nothing paused: nothing to do, and no error.
        let out = ctx.ok(&["unpause", "-a"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

        // stop -a names every container, stopped ones too, as podman's.
        let out = ctx.ok(&["stop", "-a", "-t", "1"]);
        assert_eq!(printed(&out), every, "{out}");
        for n in ["a1", "b1"] {
            assert_eq!(status(ctx, n), "exited", "{n}");
        }
        // kill -a with nothing running: no error, nothing printed.
        let out = ctx.ok(&["kill", "-a"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

        // start --all starts what is not running; -a stays attach.
        let out = ctx.ok(&["start", "--all"]);
        assert_eq!(printed(&out), every, "{out}");
        for n in ["a1", "b1", "c1"] {
            assert_eq!(status(ctx, n), "running", "{n}");
        }
        let out = ctx.rless(&["start", "--all", "a1"]);
        assert_one_error(&out, common::ERR_EXIT);

        // kill -a takes the running ones.
        let out = ctx.ok(&["kill", "-a"]);
        assert_eq!(printed(&out), every, "{out}");
        ctx.ok(&["wait", "a1", "b1", "c1"]);
        // restart -a: all of them run again.
        let out = ctx.ok(&["restart", "-a", "-t", "1"]);
        assert_eq!(printed(&out), every, "{out}");
        for n in ["a1", "b1", "c1"] {
            assert_eq!(status(ctx, n), "running", "{n}");
        }

        // stop -i passes over a name that does not exist; without it the
        // name is an error, and the others are still stopped.
        let out = ctx.ok(&["stop", "-i", "-t", "1", "nosuch", "c1"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("c1\n", ""));
        let out = ctx.rless(&["stop", "-t", "1", "nosuch", "b1"]);
        assert_one_error(&out, common::ERR_EXIT);
        assert_eq!(out.stdout, "b1\n", "{out}");
        // -a and names together are refused.
        assert_one_error(&ctx.rless(&["stop", "-a", "a1"]), common::ERR_EXIT);

        // rm -a refuses the running one (status 2) and removes the others;
        // rm -af removes the rest.
        let out = ctx.rless(&["rm", "-a"]);
        assert_eq!(out.code, Some(2), "{out}");
        assert_eq!(printed(&out), [b.clone(), c.clone()].into(), "{out}");
        assert_eq!(containers(ctx), vec![a.clone()], "{out}");
        let out = ctx.ok(&["rm", "-af"]);
        assert_eq!(printed(&out), [a.clone()].into(), "{out}");
        assert!(containers(ctx).is_empty());
        assert_eq!(host_mounts_under(&ctx.root), Vec::<String>::new());
    });
}
