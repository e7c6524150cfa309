//! The pods lock around a pod member's start, beyond `start` in the
//! background (pod_infra2): `run --pod` and `start -a` hold it (shared)
//! until the member runs, so `pod rm` without -f (which holds it from its
//! check that no member runs to their removal) cannot remove a member
//! that is starting.
//!
//! Each test holds the start open from outside at a lock it takes after
//! the member's record is written (`run`: the container it `--requires`;
//! `start -a`: the member's health lock, which the start takes once the
//! command runs and before it records it as running), then starts
//! `pod rm`, which must wait for the pods lock. The pods are made with
//! `--infra=false`: a running infra container makes `pod rm` refuse anyway.
//! A start by the restart policy needs no lock: its container counts as
//! running (or restarting) throughout, which `pod rm` refuses.

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::*;
use common::pod_helpers::{for_each_user_with_bb, hold, output_of, spawn_piped, wait_for_waiter};
use std::fs::File;

fn id_of(ctx: &common::Ctx, name: &str) -> String {
    ctx.ok(&["inspect", "--format", "{{.Id}}", name])
        .stdout
        .trim()
        .to_string()
}

fn state_of(ctx: &common::Ctx, name: &str) -> String {
    ctx.ok(&["inspect", "--format", "{{.State.Status}}", name])
        .stdout
        .trim()
        .to_string()
}

/// `pod rm P` started while a member's start is held open: it must wait
/// for the pods lock, then refuse the member, which runs by then.
fn pod_rm_waits(ctx: &common::Ctx, release: File) {
    let pods = ctx.root.join("locks/pods");
    let mut rm = spawn_piped(ctx, &["pod", "rm", "p"]);
    wait_for_waiter(&mut rm, &pods, "pod rm p");
    drop(release);
    let out = output_of(ctx, rm, "pod rm p");
    assert_one_error(&out, 2);
    assert!(out.stderr.contains("m (running)"), "{out}");
}

/// `run --pod`: the pods lock from the member's record to its start.
#[test]
fn pod_rm_waits_for_run_pod_start() {
    for_each_user_with_bb("pod_rm_waits_for_run_pod_start", |ctx| {
        ctx.ok(&["pod", "create", "--infra=false", "--name", "p"]);
        // `r`, which the member requires, started once: its lock exists.
        ctx.ok(&["create", "--name", "r", IMG, "sh", "-c", FOREVER]);
        ctx.ok(&["start", "r"]);
        ctx.ok(&["stop", "-t", "0", "r"]);
        let r_lock = ctx.root.join(format!("locks/ctr-{}", id_of(ctx, "r")));
        let held = hold(&r_lock);
        let args = [
            "run",
            "-d",
            "--name",
            "m",
            "--pod",
            "p",
            "--requires",
            "r",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ];
        let mut run = spawn_piped(ctx, &args);
        // The member is recorded; its start waits to start `r`.
        wait_for_waiter(&mut run, &r_lock, "run --pod");
        pod_rm_waits(ctx, held);
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(state_of(ctx, "m"), "running");
        ctx.ok(&["pod", "rm", "-f", "-t", "0", "p"]);
        ctx.ok(&["rm", "-f", "-t", "0", "r"]);
    });
}

/// `start -a`: the pods lock until the member runs, not let go before the
/// attach.
#[test]
fn pod_rm_waits_for_start_attach() {
    for_each_user_with_bb("pod_rm_waits_for_start_attach", |ctx| {
        ctx.ok(&["pod", "create", "--infra=false", "--name", "p"]);
        ctx.ok(&[
            "create",
            "--name",
            "m",
            "--pod",
            "p",
            "--health-cmd",
            "true",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        // Started once: its health lock exists.
        ctx.ok(&["start", "m"]);
        ctx.ok(&["stop", "-t", "0", "m"]);
        let health = ctx
            .root
            .join("containers")
            .join(id_of(ctx, "m"))
            .join("health.lock");
        let held = hold(&health);
        let mut start = spawn_piped(ctx, &["start", "-a", "m"]);
        // The command runs; its start is not recorded yet.
        wait_for_waiter(&mut start, &health, "start -a m");
        pod_rm_waits(ctx, held);
        assert_eq!(state_of(ctx, "m"), "running");
        ctx.ok(&["stop", "-t", "0", "m"]);
        let out = start.wait_with_output().unwrap();
        assert!(out.status.code().is_some(), "{out:?}");
        ctx.ok(&["pod", "rm", "-f", "p"]);
    });
}
