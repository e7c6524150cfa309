//! `rless system migrate` and `system renumber`, as podman scripts call
//! them after /etc/subuid changes: every running container is stopped (so
//! the next start maps the ranges the files give now), stopped ones are
//! left alone, nothing is printed; `--new-runtime` is refused in one line.

mod common;

use common::checks::*;
use common::ctrfs_helpers::*;
use common::for_each_user;
use common::lifecycle_helpers::inspect;

#[test]
fn system_migrate_stops_running_containers() {
    for_each_user("system_migrate_stops_running_containers", |ctx| {
        // A store that does not exist yet: nothing to do.
        let out = ctx.ok(&["system", "migrate"]);
        assert!(out.stdout.is_empty(), "{out}");
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["run", "-d", "--name", "m1", IMG, "sleep", "1000"]);
        ctx.ok(&["run", "-d", "--name", "m2", IMG, "sleep", "1000"]);
        ctx.ok(&["create", "--name", "m3", IMG, "true"]);
        let out = ctx.ok(&["system", "migrate"]);
        assert!(out.stdout.is_empty(), "{out}");
        for name in ["m1", "m2"] {
            let st = inspect(ctx, name);
            assert_eq!(st["State"]["Status"], "exited", "{name}: {st}");
        }
        assert_eq!(inspect(ctx, "m3")["State"]["Status"], "created");
        // They start again, with the ranges read anew.
        ctx.ok(&["start", "m1"]);
        assert_eq!(inspect(ctx, "m1")["State"]["Status"], "running");
        assert_one_error(
            &ctx.fail(&["system", "migrate", "--new-runtime", "crun"]),
            125,
        );
        assert_eq!(inspect(ctx, "m1")["State"]["Status"], "running");
        let out = ctx.ok(&["system", "renumber"]);
        assert!(out.stdout.is_empty(), "{out}");
        ctx.ok(&["rm", "-f", "m1", "m2", "m3"]);
        assert!(containers(ctx).is_empty());
    });
}
