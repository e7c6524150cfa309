//! podman's `exists` (exit 0 or 1, nothing printed) for containers,
//! images, volumes and networks, and docker's `container` management
//! commands (`container run`, `container logs`, …), which are the
//! top-level commands under another name.

mod common;

use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};

#[test]
fn exists_and_container_subcommands() {
    if !have_busybox() {
        return;
    }
    for_each_user("exists_and_container_subcommands", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let out = ctx.ok(&["container", "run", "--name", "c1", IMG, "echo", "from-run"]);
        assert_eq!(out.stdout, "from-run\n");
        assert_eq!(ctx.ok(&["container", "logs", "c1"]).stdout, "from-run\n");
        ctx.ok(&["volume", "create", "v1"]);
        ctx.ok(&["network", "create", "n1"]);
        for (kind, there) in [
            ("container", "c1"),
            ("image", IMG),
            ("volume", "v1"),
            ("network", "n1"),
        ] {
            let out = ctx.rless(&[kind, "exists", there]);
            assert_eq!(out.code, Some(0), "{out}");
            assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out}");
            let out = ctx.rless(&[kind, "exists", "not-there"]);
            assert_eq!(out.code, Some(1), "{out}");
            assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out}");
        }
        ctx.ok(&["container", "rm", "c1"]);
        assert_eq!(ctx.rless(&["container", "exists", "c1"]).code, Some(1));
        // An unreadable store is an error, not "no".
        let out = ctx.rless(&["--root", "/proc/version", "container", "exists", "c1"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        ctx.ok(&["network", "rm", "n1"]);
    });
}
