//! The guards around pods and `--requires`: `pod rm` and `create --pod`
//! serialised by the `pods` lock, a `--requires` cycle refused, and
//! `pod start|restart` of a pod with no containers refused as podman does
//! (`pod stop|kill` of one succeed, as podman's).
//!
//! The lock test holds the store's `locks/pods` itself and waits, through
//! /proc/locks, until `create --pod` is blocked on it; it then removes the
//! pod (as `pod rm` would under that lock) and lets go: the create must see
//! that the pod is gone. Without the lock the create never waits and the
//! test fails. `pod rm` likewise holds the lock from its first look at
//! the pod's members: the infra container is still there while it waits.

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::*;
use common::pod_helpers::{for_each_user_with_bb, output_of, spawn_blocked_on_pods_lock};
use common::{for_each_user, is_hex64, Ctx, ERR_EXIT};

#[test]
fn pod_rm_and_create_in_pod_are_serialised() {
    for_each_user_with_bb("pod_rm_and_create_in_pod_are_serialised", |ctx| {
        ctx.ok(&["pod", "create", "--infra=false", "--name", "p"]);
        let (lock, child) =
            spawn_blocked_on_pods_lock(ctx, &["create", "--name", "c", "--pod", "p", IMG, "true"]);
        // What `pod rm` does under the lock.
        std::fs::remove_file(ctx.root.join("pods/p.json")).unwrap();
        lock.unlock().unwrap();
        let out = output_of(ctx, child, "create --name c --pod p");
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("no such pod: p"), "{out}");
        assert_eq!(ctx.rless(&["container", "exists", "c"]).code, Some(1));
    });
}

/// `pod rm` of a pod with only its infra container takes the pods lock
/// before it removes the infra: while another holds the lock, the infra
/// container is still there (a `create --pod` waiting on the lock would
/// otherwise join a pod whose infra is gone).
#[test]
fn pod_rm_takes_the_pods_lock_before_removing_the_infra() {
    for_each_user(
        "pod_rm_takes_the_pods_lock_before_removing_the_infra",
        |ctx| {
            let _cleanup = Cleanup(ctx);
            let id = ctx
                .ok(&["pod", "create", "--name", "q", "--infra-name", "q-infra"])
                .stdout
                .trim()
                .to_string();
            let (lock, child) = spawn_blocked_on_pods_lock(ctx, &["pod", "rm", "q"]);
            let out = ctx.rless(&["container", "exists", "q-infra"]);
            assert_eq!(
                out.code,
                Some(0),
                "pod rm removed the infra before the lock: {out}"
            );
            lock.unlock().unwrap();
            let out = output_of(ctx, child, "pod rm q");
            assert_eq!(out.code, Some(0), "{out}");
            assert_eq!(out.stdout, format!("{id}\n"), "{out}");
            assert_eq!(ctx.rless(&["pod", "exists", "q"]).code, Some(1));
            assert_eq!(ctx.rless(&["container", "exists", "q-infra"]).code, Some(1));
        },
    );
}

#[test]
fn pod_requires_cycle_is_refused() {
    for_each_user_with_bb("pod_requires_cycle_is_refused", |ctx| {
        // A container that requires itself: `b` requires `a`, `a` is
        // renamed away (rm refuses a container others require), `b` takes
        // its name.
        ctx.ok(&["create", "--name", "a", IMG, "sh", "-c", FOREVER]);
        ctx.ok(&["create", "--name", "b", "--requires", "a", IMG, "true"]);
        ctx.ok(&["rename", "a", "a-old"]);
        ctx.ok(&["rename", "b", "a"]);
        let out = ctx.rless(&["start", "a"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("cycle (a -> a)"), "{out}");
        // Two that require each other: y requires x, z requires y, z
        // becomes x.
        ctx.ok(&["create", "--name", "x", IMG, "sh", "-c", FOREVER]);
        ctx.ok(&[
            "create",
            "--name",
            "y",
            "--requires",
            "x",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        ctx.ok(&[
            "create",
            "--name",
            "z",
            "--requires",
            "y",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        ctx.ok(&["rename", "x", "x-old"]);
        ctx.ok(&["rename", "z", "x"]);
        let out = ctx.rless(&["start", "y"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("cycle (y -> x -> y)"), "{out}");
        // Nothing started.
        let out = ctx.ok(&["ps", "-q"]);
        assert_eq!(out.stdout, "", "{out}");
    });
}

#[test]
fn pod_start_of_an_empty_pod_fails_as_podman() {
    for_each_user("pod_start_of_an_empty_pod_fails_as_podman", |ctx: &Ctx| {
        let id = ctx
            .ok(&["pod", "create", "--infra=false", "--name", "e"])
            .stdout
            .trim()
            .to_string();
        assert!(is_hex64(&id), "{id}");
        for op in ["start", "restart"] {
            let out = ctx.rless(&["pod", op, "e"]);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("pod e has no containers"), "{out}");
            assert!(out.stdout.is_empty(), "{out}");
        }
        // podman's stop and kill of an empty pod succeed, printing its id.
        for op in ["stop", "kill"] {
            let out = ctx.ok(&["pod", op, "e"]);
            assert_eq!(out.stdout, format!("{id}\n"), "{out}");
        }
    });
}

/// `run` whose `--requires` container (or its pod's infra container)
/// fails to start fails with one line saying why, and leaves nothing
/// behind, as a `run` whose own start fails: no container (with `--rm`
/// or not), no `--cidfile`. `start` of one, and `pod start` of a member
/// that fails, fail with one line too.
#[test]
fn run_whose_requirement_fails_leaves_nothing() {
    for_each_user_with_bb("run_whose_requirement_fails_leaves_nothing", |ctx| {
        ctx.ok(&["create", "--name", "bad", IMG, "/nonexistent"]);
        ctx.ok(&["pod", "create", "--name", "p"]);
        let cidfile = ctx.root.join("m.cid");
        let runs: [&[&str]; 3] = [
            &[
                "run",
                "--rm",
                "--name",
                "m",
                "--requires",
                "bad",
                IMG,
                "true",
            ],
            &[
                "run",
                "-d",
                "--name",
                "m",
                "--pod",
                "p",
                "--requires",
                "bad",
                IMG,
                "true",
            ],
            &[
                "run",
                "--cidfile",
                cidfile.to_str().unwrap(),
                "--name",
                "m",
                "--requires",
                "bad",
                IMG,
                "true",
            ],
        ];
        for args in runs {
            // One line: the requirement's reason in it.
            let out = ctx.rless(args);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("cannot start bad"), "{out}");
            assert!(out.stderr.contains("/nonexistent"), "{out}");
            let exists = ctx.rless(&["container", "exists", "m"]);
            assert_eq!(exists.code, Some(1), "{args:?} left m behind");
            assert!(!cidfile.exists(), "{args:?} left its --cidfile");
        }
        ctx.ok(&["create", "--name", "s", "--requires", "bad", IMG, "true"]);
        let out = ctx.rless(&["start", "s"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("/nonexistent"), "{out}");
        ctx.ok(&["rm", "s"]);
        // `pod start` of a member that fails: one line naming it.
        ctx.ok(&["create", "--name", "pm", "--pod", "p", IMG, "/nonexistent"]);
        let out = ctx.rless(&["pod", "start", "p"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("cannot start pm: "), "{out}");
        assert!(out.stderr.contains("/nonexistent"), "{out}");
        ctx.ok(&["pod", "rm", "-f", "p"]);
        ctx.ok(&["rm", "bad"]);
    });
}
