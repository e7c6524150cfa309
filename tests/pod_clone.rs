//! `pod clone` as podman 4.3 has it, beyond pod_userns's clone test: the
//! original's `--hostname` is not kept (the clone's is its own name), and
//! the clone of a running pod that publishes ports is made while the
//! original holds them (its ports are checked at its start, as podman's):
//! `--destroy` removes the original once the clone is made, and a clone
//! that fails leaves the original untouched, its `--rm` members included.

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::*;
use common::pod_helpers::{for_each_user_with_bb, free_port_spec, states};
use common::ERR_EXIT;

#[test]
fn pod_clone_clears_the_hostname() {
    for_each_user_with_bb("pod_clone_clears_the_hostname", |ctx| {
        ctx.ok(&["pod", "create", "--name", "p", "--hostname", "hh"]);
        ctx.ok(&["pod", "clone", "p", "q"]);
        let host = |pod: &str| {
            let out = ctx.ok(&["run", "--rm", "--pod", pod, IMG, "hostname"]);
            out.stdout.trim().to_string()
        };
        assert_eq!(host("p"), "hh");
        assert_eq!(host("q"), "q");
        ctx.ok(&["pod", "rm", "-f", "p", "q"]);
    });
}

#[test]
fn pod_clone_destroy_frees_the_ports_first() {
    for_each_user_with_bb("pod_clone_destroy_frees_the_ports_first", |ctx| {
        let spec = free_port_spec();
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "p",
            "--infra-name",
            "pinf",
            "-p",
            &spec,
        ]);
        ctx.ok(&[
            "run", "-d", "--name", "m", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        // A clone that fails (its name is taken): the original runs on.
        ctx.ok(&["pod", "create", "--name", "taken", "--infra=false"]);
        let out = ctx.rless(&["pod", "clone", "--destroy", "p", "taken"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("taken"), "{out}");
        assert_eq!(states(ctx), ["m running", "pinf running"]);
        // The clone, with the same port, while the original held it.
        let id = ctx.ok(&["pod", "clone", "--destroy", "--start", "p", "q"]);
        let id = id.stdout.trim().to_string();
        assert_eq!(ctx.rless(&["pod", "exists", "p"]).code, Some(1));
        let f = "{{.Id}} {{.State}} {{.NumContainers}}";
        let q = ctx.ok(&["pod", "inspect", "--format", f, "q"]);
        assert_eq!(q.stdout.trim(), format!("{id} Running 2"), "{q}");
        let out = ctx.ok(&["port", "m-clone"]);
        let host = spec.rsplit_once(':').unwrap().0;
        assert_eq!(out.stdout.trim(), format!("80/tcp -> {host}"), "{out}");
        ctx.ok(&["pod", "rm", "-f", "q", "taken"]);
    });
}

/// `pod create`'s options on `pod clone` change the clone: its hostname,
/// labels beside the original's (a key given wins), its infra
/// container's name, its user namespace mode over the original's.
#[test]
fn pod_clone_takes_pod_create_options() {
    for_each_user_with_bb("pod_clone_takes_pod_create_options", |ctx| {
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "p",
            "-l",
            "a=1",
            "-l",
            "b=2",
            "--hostname",
            "hh",
            "--userns",
            "keep-id",
        ]);
        ctx.ok(&["create", "--name", "m", "--pod", "p", IMG, "true"]);
        ctx.ok(&[
            "pod",
            "clone",
            "--hostname",
            "hx",
            "-l",
            "b=3",
            "--label",
            "c=4",
            "--infra-name",
            "qinf",
            "--userns",
            "host",
            "p",
            "q",
        ]);
        let out = ctx.ok(&["pod", "inspect", "q"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let q = &v[0];
        assert_eq!(
            q["Labels"],
            serde_json::json!({"a": "1", "b": "3", "c": "4"}),
            "{out}"
        );
        assert_eq!(q["InfraConfig"]["userns"], "host", "{out}");
        assert_eq!(q["NumContainers"], 2, "{out}");
        let infra = ctx.ok(&["inspect", "--format", "{{.Id}}", "qinf"]);
        assert_eq!(q["InfraContainerID"], infra.stdout.trim(), "{out}");
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--pod",
            "q",
            IMG,
            "sh",
            "-c",
            "id -u; hostname",
        ]);
        assert_eq!(out.stdout, "0\nhx\n", "{out}");
        // The original is as it was.
        let out = ctx.ok(&["pod", "inspect", "--format", "{{.InfraConfig.userns}}", "p"]);
        assert_eq!(out.stdout.trim(), "private", "{out}");
        ctx.ok(&["pod", "rm", "-f", "p", "q"]);
    });
}

/// `StartedAt` of container `name`.
fn started_at(ctx: &common::Ctx, name: &str) -> String {
    let out = ctx.ok(&["inspect", "--format", "{{.State.StartedAt}}", name]);
    out.stdout.trim().to_string()
}

/// A running pod that publishes a port is cloned without `--destroy`,
/// and a `--destroy` clone that fails touches nothing of the original:
/// its members are not stopped (a `--rm` one would be gone, and stopping
/// before the clone's checks leaves it without that member).
#[test]
fn pod_clone_leaves_the_original_running() {
    for_each_user_with_bb("pod_clone_leaves_the_original_running", |ctx| {
        let spec = free_port_spec();
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "p",
            "--infra-name",
            "pinf",
            "-p",
            &spec,
        ]);
        ctx.ok(&[
            "run", "-d", "--name", "m", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        ctx.ok(&[
            "run", "-d", "--rm", "--name", "r", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        let before = started_at(ctx, "m");
        ctx.ok(&["pod", "create", "--name", "taken", "--infra=false"]);
        let out = ctx.rless(&["pod", "clone", "--destroy", "p", "taken"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("taken"), "{out}");
        assert_eq!(states(ctx), ["m running", "pinf running", "r running"]);
        assert_eq!(started_at(ctx, "m"), before, "m was restarted");
        // Without --destroy: made while the original holds the port.
        ctx.ok(&["pod", "clone", "p", "q"]);
        let f = "{{.State}} {{.NumContainers}}";
        let q = ctx.ok(&["pod", "inspect", "--format", f, "q"]);
        assert_eq!(q.stdout.trim(), "Created 3", "{q}");
        assert_eq!(started_at(ctx, "m"), before, "m was restarted");
        ctx.ok(&["pod", "rm", "-f", "-t", "0", "p", "q", "taken"]);
    });
}

/// A member made with `--pod-id-file` is cloned into the pod's clone
/// (the child create got both `--pod` and `--pod-id-file`, refused), and
/// `container clone` of it joins the pod it joined, the file gone since.
#[test]
fn pod_clone_of_a_member_made_with_pod_id_file() {
    for_each_user_with_bb("pod_clone_of_a_member_made_with_pod_id_file", |ctx| {
        let f = ctx.root.join("p.podid");
        let file = f.to_str().unwrap();
        ctx.ok(&["pod", "create", "--name", "p", "--pod-id-file", file]);
        ctx.ok(&["create", "--name", "m", "--pod-id-file", file, IMG, "true"]);
        ctx.ok(&["pod", "clone", "p", "q"]);
        let f2 = "{{.NumContainers}}";
        let q = ctx.ok(&["pod", "inspect", "--format", f2, "q"]);
        assert_eq!(q.stdout.trim(), "2", "{q}");
        std::fs::remove_file(&f).unwrap();
        ctx.ok(&["container", "clone", "m", "m2"]);
        let p_id = ctx.ok(&["pod", "inspect", "--format", "{{.Id}}", "p"]);
        let pod = ctx.ok(&["inspect", "--format", "{{.Pod}}", "m2"]);
        assert_eq!(pod.stdout.trim(), p_id.stdout.trim(), "{pod}");
        ctx.ok(&["pod", "rm", "-f", "p", "q"]);
    });
}
