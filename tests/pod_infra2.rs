//! Pods with an infra container: the order of their lifecycle (the infra
//! container starts first and stops last; starting a member starts it;
//! `pod pause|unpause|restart|kill|top`), `rm` of the infra container,
//! `pod rm` without -f (a member's start waits for it), and the refusals of `pod create` and `--pod`
//! (a port in use leaves nothing behind), and `stop -a`/`system migrate`
//! ending infra containers after their members (`restart -a` starting
//! them first).

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::*;
use common::pod_helpers::{for_each_user_with_bb, spawn_blocked_on_pods_lock, states};
use common::ERR_EXIT;

/// `{{.Status}} {{.Name}}` of the container events so far.
fn events(ctx: &common::Ctx) -> Vec<String> {
    let out = ctx.ok(&[
        "events",
        "--stream=false",
        "--filter",
        "type=container",
        "--format",
        "{{.Status}} {{.Name}}",
    ]);
    out.stdout.lines().map(str::to_string).collect()
}

/// Where `line` is in `ev` (it must be there).
fn at(ev: &[String], line: &str) -> usize {
    ev.iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no event {line:?} in {ev:?}"))
}

#[test]
fn pod_infra_lifecycle_order() {
    for_each_user_with_bb("pod_infra_lifecycle_order", |ctx| {
        ctx.ok(&["pod", "create", "--name", "p", "--infra-name", "p-infra"]);
        ctx.ok(&[
            "create", "--name", "a", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        ctx.ok(&[
            "create",
            "--name",
            "b",
            "--pod",
            "p",
            "--requires",
            "a",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        assert_eq!(states(ctx), ["a created", "b created", "p-infra created"]);
        // A member's start starts the infra container first, then what it
        // requires.
        ctx.ok(&["start", "b"]);
        let ev = events(ctx);
        assert!(at(&ev, "start p-infra") < at(&ev, "start a"), "{ev:?}");
        assert!(at(&ev, "start a") < at(&ev, "start b"), "{ev:?}");
        assert_eq!(states(ctx), ["a running", "b running", "p-infra running"]);
        // pod top: the infra container's idle process and the members'.
        let top = ctx.ok(&["pod", "top", "p"]);
        assert!(top.stdout.contains("catatonit"), "{top}");
        assert_eq!(top.stdout.matches("rless-init").count(), 3, "{top}");
        // pod stop: the members, then the infra container.
        ctx.ok(&["pod", "stop", "p"]);
        let ev = events(ctx);
        assert!(at(&ev, "died a") < at(&ev, "died p-infra"), "{ev:?}");
        assert!(at(&ev, "died b") < at(&ev, "died p-infra"), "{ev:?}");
        assert_eq!(states(ctx), ["a exited", "b exited", "p-infra exited"]);
        // The infra container's idle process ends cleanly on SIGTERM.
        let code = ctx.ok(&["inspect", "--format", "{{.State.ExitCode}}", "p-infra"]);
        assert_eq!(code.stdout.trim(), "0", "{code}");
        // pod start: the infra container first.
        ctx.ok(&["pod", "start", "p"]);
        let ev = events(ctx);
        let last = |line: &str| ev.iter().rposition(|l| l == line).unwrap();
        assert!(last("start p-infra") < last("start a"), "{ev:?}");
        assert!(last("start p-infra") < last("start b"), "{ev:?}");
        // The members still share the infra's UTS namespace: its name.
        let h = ctx.ok(&["exec", "a", "hostname"]);
        assert_eq!(h.stdout.trim(), "p", "{h}");
        ctx.ok(&["pod", "pause", "p"]);
        let paused = ctx.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
        assert_eq!(paused.stdout.matches("(Paused)").count(), 3, "{paused}");
        ctx.ok(&["pod", "unpause", "p"]);
        let running = ctx.ok(&["ps", "--format", "{{.Status}}"]);
        assert!(!running.stdout.contains("Paused"), "{running}");
        ctx.ok(&["pod", "restart", "p"]);
        assert_eq!(states(ctx), ["a running", "b running", "p-infra running"]);
        let h = ctx.ok(&["exec", "b", "hostname"]);
        assert_eq!(h.stdout.trim(), "p", "{h}");
        // pod kill signals every member (the infra container last); no
        // order of their ends is promised.
        let out = ctx.ok(&["pod", "kill", "p"]);
        assert!(
            out.stdout.trim().len() == 64,
            "pod kill prints the pod's id: {out}"
        );
        ctx.ok(&["pod", "rm", "-f", "p"]);
        assert!(states(ctx).is_empty());
    });
}

#[test]
fn pod_infra_removal_rules() {
    for_each_user_with_bb("pod_infra_removal_rules", |ctx| {
        let pod = ctx.ok(&[
            "pod",
            "create",
            "--name",
            "p",
            "--infra-name",
            "inf",
            "--infra-command",
            "/pause now",
        ]);
        let pod = pod.stdout.trim().to_string();
        // --infra-command names the idle process (nothing is executed).
        let rows = ps_json(ctx, &["-a"]);
        assert_eq!(rows[0]["Command"], serde_json::json!(["/pause", "now"]));
        // The infra container goes only with its pod (podman's words),
        // even when it is alone; `rm -a` and `container prune` pass over it.
        let out = ctx.rless(&["rm", "-f", "inf"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains(&format!("is the infra container of pod {pod} and cannot be removed without removing the pod")),
            "{out}"
        );
        ctx.ok(&["run", "--name", "m", "--pod", "p", IMG, "true"]);
        let top = ctx.ok(&["pod", "top", "p", "args"]);
        assert!(top.stdout.lines().any(|l| l.trim() == "pause now"), "{top}");
        let out = ctx.rless(&["rm", "inf"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("is the infra container of pod"),
            "{out}"
        );
        ctx.ok(&["container", "prune", "-f"]);
        assert_eq!(states(ctx), ["inf running"]);
        // pod rm without -f: refused while a container runs (exit 2, the
        // running one named), else it takes the pod's stopped containers
        // with it (podman's).
        ctx.ok(&[
            "run", "-d", "--name", "m2", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        ctx.ok(&["create", "--name", "m3", "--pod", "p", IMG, "true"]);
        let out = ctx.rless(&["pod", "rm", "p"]);
        assert_one_error(&out, 2);
        assert!(
            out.stderr.contains("m2") && !out.stderr.contains("m3"),
            "{out}"
        );
        ctx.ok(&["pod", "stop", "p"]);
        assert_eq!(ctx.ok(&["pod", "rm", "p"]).stdout.trim(), pod.as_str());
        assert!(states(ctx).is_empty(), "{:?}", states(ctx));
        assert_eq!(ctx.rless(&["pod", "exists", "p"]).code, Some(1));
        // rm -a (podman's implies --depend): an infra container goes, with
        // its pod, once the pod's other containers go; without -f a running
        // member keeps both.
        ctx.ok(&["pod", "create", "--name", "q", "--infra-name", "qinf"]);
        ctx.ok(&[
            "run", "-d", "--name", "m4", "--pod", "q", IMG, "sh", "-c", FOREVER,
        ]);
        ctx.ok(&["pod", "create", "--name", "r", "--infra-name", "rinf"]);
        ctx.ok(&["create", "--name", "m5", "--pod", "r", IMG, "true"]);
        let out = ctx.rless(&["rm", "-a"]);
        assert_one_error(&out, 2);
        assert_eq!(states(ctx), ["m4 running", "qinf running"]);
        assert_eq!(ctx.rless(&["pod", "exists", "r"]).code, Some(1));
        ctx.ok(&["rm", "-a", "-f"]);
        assert!(states(ctx).is_empty(), "{:?}", states(ctx));
        assert!(ctx.ok(&["pod", "ps", "-q"]).stdout.is_empty());
        // rm --depend INFRA: its pod's containers (also those that join
        // none of its namespaces), it, and the pod.
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "s",
            "--infra-name",
            "sinf",
            "--share",
            "none",
        ]);
        ctx.ok(&["create", "--name", "m6", "--pod", "s", IMG, "true"]);
        ctx.ok(&["rm", "--depend", "sinf"]);
        assert!(states(ctx).is_empty(), "{:?}", states(ctx));
        assert_eq!(ctx.rless(&["pod", "exists", "s"]).code, Some(1));
    });
}

#[test]
fn pod_infra_bad_input() {
    for_each_user_with_bb("pod_infra_bad_input", |ctx| {
        let nothing_made = |ctx: &common::Ctx| {
            assert!(states(ctx).is_empty(), "{:?}", states(ctx));
            let pods = ctx.ok(&["pod", "ps", "-q"]);
            assert!(pods.stdout.is_empty(), "{pods}");
        };
        // A port in use: one line, no pod, no infra container.
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let spec = format!("127.0.0.1:{port}:80");
        let out = ctx.rless(&["pod", "create", "--name", "p", "-p", &spec]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains(&port.to_string()), "{out}");
        nothing_made(ctx);
        drop(busy);
        // An infra container that cannot be made (its name taken): no pod.
        ctx.ok(&["create", "--name", "taken", IMG, "true"]);
        let out = ctx.rless(&["pod", "create", "--name", "p", "--infra-name", "taken"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(ctx.rless(&["pod", "exists", "p"]).code, Some(1));
        let ev = ctx.ok(&[
            "events",
            "--stream=false",
            "--filter",
            "type=pod",
            "--format",
            "{{.Status}} {{.Name}}",
        ]);
        assert_eq!(
            ev.stdout, "create p\nremove p\n",
            "the pod made and taken back: {ev}"
        );
        ctx.ok(&["rm", "taken"]);
        for args in [
            vec!["pod", "create", "--name", "p", "--share", "bogus"],
            vec!["pod", "create", "--name", "p", "--share", "net,mnt"],
            vec![
                "pod",
                "create",
                "--name",
                "p",
                "--infra=false",
                "--share",
                "net",
            ],
            vec![
                "pod",
                "create",
                "--name",
                "p",
                "--infra=false",
                "-p",
                "8080:80",
            ],
            vec![
                "pod", "create", "--name", "p", "--share", "ipc", "-p", "8080:80",
            ],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, ERR_EXIT);
            nothing_made(ctx);
        }
        let out = ctx.rless(&["pod", "create", "--share", "bogus"]);
        assert!(
            out.stderr
                .contains("invalid kernel namespace to share: bogus"),
            "{out}"
        );
        // --pod of a missing pod: nothing made.
        let out = ctx.rless(&["run", "--pod", "nope", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("no such pod"), "{out}");
        nothing_made(ctx);
        // A member with the host's network in a pod sharing its network.
        ctx.ok(&["pod", "create", "--name", "p", "--infra-name", "inf"]);
        for args in [
            vec!["create", "--pod", "p", "--network", "host", IMG, "true"],
            vec![
                "create",
                "--pod",
                "p",
                "--add-host",
                "x:10.0.0.1",
                IMG,
                "true",
            ],
            vec!["create", "--pod", "p", "--uts", "host", IMG, "true"],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("invalid config provided"), "{out}");
        }
        assert_eq!(states(ctx), ["inf created"]);
        // A pod whose create stopped before its infra container was made
        // (its definition names namespaces to share, and no infra
        // container): members are refused, not given nothing shared.
        ctx.ok(&["pod", "create", "--name", "half", "--infra=false"]);
        let def = ctx.root.join("pods/half.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&def).unwrap()).unwrap();
        v["shared"] = serde_json::json!(["net"]);
        std::fs::write(&def, serde_json::to_vec(&v).unwrap()).unwrap();
        ctx.give(&def);
        let out = ctx.rless(&["create", "--pod", "half", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("has no infra container"), "{out}");
        ctx.ok(&["pod", "rm", "half"]);
        // --infra=false keeps the plain group (podman-compose's).
        ctx.ok(&["pod", "create", "--name", "g", "--infra=false", "--share="]);
        let g = ctx.ok(&[
            "pod",
            "ps",
            "--filter",
            "name=g",
            "--format",
            "{{.InfraID}}|{{.NumberOfContainers}}",
        ]);
        assert_eq!(g.stdout.trim(), "|0", "{g}");
        ctx.ok(&["pod", "rm", "-f", "p", "g"]);
        nothing_made(ctx);
    });
}

/// The pod p (infra container p-infra) sharing its PID namespace too,
/// and its four members m1..m4 running FOREVER, made by `how` (`run -d`
/// or `create`). Returns their names.
fn pid_pod_with_members(ctx: &common::Ctx, how: &[&str]) -> [&'static str; 4] {
    ctx.ok(&[
        "pod",
        "create",
        "--name",
        "p",
        "--share",
        "+pid",
        "--infra-name",
        "p-infra",
    ]);
    let members = ["m1", "m2", "m3", "m4"];
    for m in members {
        let mut args = how.to_vec();
        args.extend(["--name", m, "--pod", "p", IMG, "sh", "-c", FOREVER]);
        ctx.ok(&args);
    }
    members
}

#[test]
fn stop_restart_all_and_migrate_end_infra_containers_last() {
    for_each_user_with_bb(
        "stop_restart_all_and_migrate_end_infra_containers_last",
        |ctx| {
            // The members are in the infra container's PID namespace: had it
            // ended first, its end would have SIGKILLed them (137) instead of
            // their stop signal ending them (FOREVER exits 0 on SIGTERM; 143
            // if it came before the trap was set). Four members: the store's
            // order put the infra container last by chance 1 time in 5.
            let members = pid_pod_with_members(ctx, &["run", "-d"]);
            for stop in [&["stop", "-a"][..], &["system", "migrate"]] {
                ctx.ok(stop);
                for m in members {
                    let code = ctx.ok(&["inspect", "--format", "{{.State.ExitCode}}", m]);
                    assert!(
                        ["0", "143"].contains(&code.stdout.trim()),
                        "{stop:?}: {m} ended with {code}"
                    );
                }
                assert_eq!(states(ctx).len(), 5);
                assert!(states(ctx).iter().all(|s| s.ends_with(" exited")));
                ctx.ok(&["pod", "start", "p"]);
            }
            // restart -a: all stop (the infra container last), then all start
            // (it first); one by one, the infra container's restart after a
            // member's had SIGKILLed it, left exited.
            ctx.ok(&["restart", "-a"]);
            let all = ["m1", "m2", "m3", "m4", "p-infra"].map(|n| format!("{n} running"));
            assert_eq!(states(ctx), all);
            // In the new infra container's PID namespace: its process is seen.
            let ps = ctx.ok(&["exec", "m1", "ps"]);
            assert!(ps.stdout.contains("catatonit"), "{ps}");
            ctx.ok(&["pod", "rm", "-f", "p"]);
            assert!(states(ctx).is_empty());
        },
    );
}

/// Stopping one member of a pod that shares its pid namespace ends that
/// member alone. Its monitor kills what outlived the member by the
/// member's mount namespace, and once read that namespace while the
/// member's init was in the infra container's (cloning its /dev/shm):
/// the infra container's idle process was SIGKILLed, and with the pid
/// namespace's pid 1 every member (137). That came in one member start
/// in fifty to a hundred here (more under load): six rounds of four fresh
/// members, and the next test's rounds.
#[test]
fn pod_pid_share_member_stops_alone() {
    for_each_user_with_bb("pod_pid_share_member_stops_alone", |ctx| {
        pid_pod_with_members(ctx, &["create"]);
        for round in 0..6 {
            ctx.ok(&["pod", "start", "p"]);
            ctx.ok(&["stop", "m1"]);
            let code = ctx.ok(&["inspect", "--format", "{{.State.ExitCode}}", "m1"]);
            assert!(
                ["0", "143"].contains(&code.stdout.trim()),
                "round {round}: m1 ended with {code}"
            );
            let mut want: Vec<String> = ["m2", "m3", "m4", "p-infra"]
                .map(|n| format!("{n} running"))
                .to_vec();
            want.insert(0, "m1 exited".into());
            assert_eq!(states(ctx), want, "round {round}");
            ctx.ok(&["pod", "stop", "p"]);
        }
        ctx.ok(&["pod", "rm", "-f", "p"]);
        assert!(states(ctx).is_empty());
    });
}

/// A member's `start` waits for the pods lock that `pod rm` holds from its
/// check that no member runs to their removal, so `pod rm` without -f
/// cannot kill a member started between the two. The test holds the lock
/// as `pod rm` would: the start waits for it, then starts the member.
#[test]
fn pod_member_start_waits_for_pod_rm() {
    for_each_user_with_bb("pod_member_start_waits_for_pod_rm", |ctx| {
        ctx.ok(&["pod", "create", "--name", "p", "--infra-name", "p-infra"]);
        ctx.ok(&[
            "create", "--name", "m", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        // Panics if the start ends without waiting for the lock.
        let (lock, child) = spawn_blocked_on_pods_lock(ctx, &["start", "m"]);
        drop(lock);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(states(ctx), ["m running", "p-infra running"]);
        ctx.ok(&["pod", "rm", "-f", "p"]);
    });
}
