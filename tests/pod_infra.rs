//! Pods with an infra container (podman's default `pod create`): its
//! members share the infra's network, IPC and UTS namespaces (localhost
//! traffic between two members, the pod's hostname, a port published on
//! the pod reaching a member's server over loopback), the infra container
//! as `ps`, `pod ps` and `pod inspect` show it, and the cleanup of `pod rm
//! -f` (no process, no port, no mount left). Lifecycle order and refusals
//! are in pod_infra2.rs.

mod common;
mod net_support;

use common::checks::assert_one_error;
use common::lifecycle_helpers::{inspect, ps_json};
use common::{is_hex64, ERR_EXIT};
use net_support::{assert_nothing_left, for_each_user_with_net, free_port, http_get, IMG};
use serde_json::Value;

#[test]
fn pod_infra_members_share_network_and_hostname() {
    for_each_user_with_net("pod_infra_members_share_network_and_hostname", |ctx| {
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        let out = ctx.ok(&[
            "pod",
            "create",
            "--name",
            "web",
            "-p",
            &publish,
            "--hostname",
            "podhost",
            "--add-host",
            "db.pod:10.1.2.3",
            "--dns",
            "10.9.9.9",
            "--label",
            "tier=front",
        ]);
        let pod_id = out.stdout.trim().to_string();
        assert!(is_hex64(&pod_id), "pod create prints the pod's id: {out}");
        // The infra container: made, not started, listed as any other.
        let pod: Value = serde_json::from_str(&ctx.ok(&["pod", "inspect", "web"]).stdout)
            .expect("pod inspect is JSON");
        let pod = &pod[0];
        let infra = pod["InfraContainerID"].as_str().unwrap().to_string();
        assert!(is_hex64(&infra), "{pod}");
        assert_eq!(pod["CreateInfra"], true, "{pod}");
        assert_eq!(
            pod["SharedNamespaces"],
            serde_json::json!(["ipc", "net", "uts"])
        );
        assert_eq!(pod["NumContainers"], 1, "{pod}");
        assert_eq!(pod["State"], "Created", "{pod}");
        let rows = ps_json(ctx, &["-a"]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["Id"], infra.as_str());
        assert_eq!(rows[0]["IsInfra"], true);
        assert_eq!(rows[0]["PodName"], "web");
        assert_eq!(inspect(ctx, &infra)["IsInfra"], true);
        let out = ctx.ok(&[
            "pod",
            "ps",
            "--format",
            "{{.InfraID}} {{.NumberOfContainers}}",
        ]);
        assert_eq!(out.stdout.trim(), format!("{} 1", &infra[..12]), "{out}");
        let header = ctx.ok(&["pod", "ps"]);
        assert!(header.stdout.contains("INFRA ID"), "{header}");
        // A member's server, reached on the pod's published port (the
        // infra container starts first, by itself).
        ctx.ok(&[
            "run", "-d", "--name", "srv", "--pod", "web", IMG, "httpd", "-f", "-p", "80", "-h",
            "/www",
        ]);
        let body = http_get(port);
        assert!(body.contains("hello from the container"), "{body}");
        // `port` of a member: the pod's ports (podman's).
        let out = ctx.ok(&["port", "srv"]);
        assert_eq!(
            out.stdout.trim(),
            format!("80/tcp -> 127.0.0.1:{port}"),
            "{out}"
        );
        let rows = ps_json(ctx, &[]);
        assert_eq!(rows.len(), 2, "infra and srv run: {rows:?}");
        assert_eq!(inspect(ctx, "srv")["IsInfra"], false);
        // Another member: the same loopback (srv's server on localhost)
        // and the pod's hostname.
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--pod",
            "web",
            IMG,
            "sh",
            "-c",
            "busybox hostname; wget -q -O - http://127.0.0.1:80/index.html; grep -c '^10.1.2.3.*db.pod' /etc/hosts; grep -c '^nameserver 10.9.9.9' /etc/resolv.conf",
        ]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            ["podhost", "hello from the container", "1", "1"],
            "a member sees the pod's hostname, its peer on localhost, the pod's hosts and DNS: {out}"
        );
        // A member's own network settings are the pod's.
        let out = ctx.rless(&["run", "--rm", "--pod", "web", "-p", "8080:80", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr
                .contains("published or exposed ports must be defined when the pod is created"),
            "{out}"
        );
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--pod",
            "web",
            "--network",
            "host",
            IMG,
            "true",
        ]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr
                .contains("network cannot be configured when it is shared with a pod"),
            "{out}"
        );
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--pod",
            "web",
            "--hostname",
            "h",
            IMG,
            "true",
        ]);
        assert_one_error(&out, ERR_EXIT);
        // pod rm -f: every member and the infra container go, with their
        // processes, the port and the mounts.
        assert_eq!(
            ctx.ok(&["pod", "rm", "-f", "web"]).stdout.trim(),
            pod_id.as_str()
        );
        assert_eq!(ctx.rless(&["pod", "exists", "web"]).code, Some(1));
        assert_nothing_left(ctx, Some(port));
    });
}

#[test]
fn pod_infra_share_choice() {
    for_each_user_with_net("pod_infra_share_choice", |ctx| {
        // --share ipc: each member has its own network and hostname, and
        // the pod's IPC namespace.
        ctx.ok(&["pod", "create", "--name", "ipconly", "--share", "ipc"]);
        let pod: Value =
            serde_json::from_str(&ctx.ok(&["pod", "inspect", "ipconly"]).stdout).unwrap();
        assert_eq!(pod[0]["SharedNamespaces"], serde_json::json!(["ipc"]));
        let ns = "for n in ipc net uts; do busybox readlink /proc/self/ns/$n; done";
        // `a` runs while `b` reads its namespaces: the kernel gives a
        // freed namespace's inode number to the next one made, so the
        // namespaces of one `run --rm` after another could look shared.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "a",
            "--pod",
            "ipconly",
            "--hostname",
            "a",
            IMG,
            "sleep",
            "1000",
        ]);
        let a = ctx.ok(&["exec", "a", "sh", "-c", ns]);
        let b = ctx.ok(&[
            "run",
            "--rm",
            "--pod",
            "ipconly",
            "--hostname",
            "b",
            IMG,
            "sh",
            "-c",
            ns,
        ]);
        let (a, b): (Vec<&str>, Vec<&str>) =
            (a.stdout.lines().collect(), b.stdout.lines().collect());
        assert_eq!(a.len(), 3, "{a:?}");
        assert_eq!(a[0], b[0], "one IPC namespace: {a:?} {b:?}");
        assert_ne!(a[1], b[1], "networks of their own: {a:?} {b:?}");
        assert_ne!(a[2], b[2], "UTS namespaces of their own: {a:?} {b:?}");
        // The default: all three shared.
        ctx.ok(&["pod", "create", "--name", "all"]);
        let a = ctx.ok(&["run", "--rm", "--pod", "all", IMG, "sh", "-c", ns]);
        let b = ctx.ok(&["run", "--rm", "--pod", "all", IMG, "sh", "-c", ns]);
        assert_eq!(a.stdout, b.stdout, "one IPC, network and UTS namespace");
        let h = ctx.ok(&["run", "--rm", "--pod", "all", IMG, "busybox", "hostname"]);
        assert_eq!(
            h.stdout.trim(),
            "all",
            "the pod's name is its hostname: {h}"
        );
        ctx.ok(&["pod", "rm", "-f", "ipconly", "all"]);
        assert!(ctx.ok(&["ps", "-aq"]).stdout.trim().is_empty());
    });
}
