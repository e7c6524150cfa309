//! Pods on the network: the DNS names of a pod on a user-defined network
//! (the pod's name, its `--network-alias`es and its members' names answer
//! with the pod's address; a member's name follows its create, rename
//! and removal, and comes back with the infra container's restart), and
//! the pod's published ports on its members' rows of `ps`, in their
//! `inspect` (NetworkSettings) and in `port` (podman's); so too a
//! `--network container:X` container shows X's, and `ps --format json`'s
//! `Ports` and `ps --filter publish=` follow the network's owner.

mod common;
mod net_support;

use common::lifecycle_helpers::{inspect, Cleanup};
use common::usernet_helpers::{dns_addresses, run_client, setup, IMG};
use common::{for_each_user, Ctx};
use std::net::Ipv4Addr;

/// The address of the pod's infra container `infra` on network `net`.
fn address(ctx: &common::Ctx, infra: &str, net: &str) -> Ipv4Addr {
    let v = inspect(ctx, infra);
    let ip = v["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no address on {net}: {v}"));
    ip.parse()
        .unwrap_or_else(|e| panic!("address {ip:?} ({e}): {v}"))
}

/// The DNS tests' set-up, once per test user with a fresh store: the
/// internal network pn (a name nobody holds is NXDOMAIN there, not asked
/// upstream) and on it the pod pp, its infra container pinf, made with
/// `pod_args` more. `f` gets the network's gateway, its DNS server.
fn for_each_user_with_dns_pod(test: &str, pod_args: &[&str], mut f: impl FnMut(&Ctx, Ipv4Addr)) {
    for_each_user(test, |ctx| {
        let _cleanup = Cleanup(ctx);
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "--internal", "pn"]);
        let mut args = vec![
            "pod",
            "create",
            "--name",
            "pp",
            "--infra-name",
            "pinf",
            "--network",
            "pn",
        ];
        args.extend_from_slice(pod_args);
        ctx.ok(&args);
        f(ctx, Ipv4Addr::new(10, 89, 0, 1));
    });
}

#[test]
fn pod_net_member_names_resolve_on_the_pods_network() {
    for_each_user_with_dns_pod(
        "pod_net_member_names_resolve_on_the_pods_network",
        &["--network-alias", "palias"],
        |ctx, gw| {
            ctx.ok(&[
                "run", "-d", "--name", "m1", "--pod", "pp", IMG, "sleep", "120",
            ]);
            let client = run_client(ctx, "pn");
            if dns_addresses(client, gw, "client").is_none() {
                panic!("the network's DNS server does not answer");
            }
            let ask = |name: &str| dns_addresses(client, gw, name).expect("a DNS reply");
            let pod_ip = address(ctx, "pinf", "pn");
            let resolves = |name: &str, ip: Ipv4Addr| {
                assert_eq!(ask(name), (0, vec![ip]), "{name} is the pod's address");
            };
            let gone = |name: &str| {
                assert_eq!(ask(name).0, 3, "{name} is NXDOMAIN");
            };
            // The pod's name (podman's DNS name of its infra container), its
            // alias, the infra container's own name and its members'.
            for name in ["pp", "palias", "pinf", "m1", "M1"] {
                resolves(name, pod_ip);
            }
            // A member created while the infra container runs: its name at
            // once, though it has not started.
            ctx.ok(&["create", "--name", "m2", "--pod", "pp", IMG, "sleep", "120"]);
            resolves("m2", pod_ip);
            ctx.ok(&["rename", "m2", "m3"]);
            resolves("m3", pod_ip);
            gone("m2");
            // The container's own resolver finds a member too.
            let out = ctx.ok(&["exec", "client", "nslookup", "m3"]);
            assert!(out.stdout.contains(&format!("Address: {pod_ip}")), "{out}");
            // A removed member's name goes; the pod's stays.
            ctx.ok(&["rm", "-f", "m1"]);
            gone("m1");
            resolves("pp", pod_ip);
            resolves("m3", pod_ip);
            // A restarted pod: its infra container's attachment lists the
            // members there are (m3), not those gone (m1).
            ctx.ok(&["pod", "stop", "pp"]);
            gone("m3");
            ctx.ok(&["pod", "start", "pp"]);
            let pod_ip = address(ctx, "pinf", "pn");
            for name in ["pp", "palias", "m3"] {
                assert_eq!(ask(name), (0, vec![pod_ip]), "{name} after the restart");
            }
            gone("m1");
            ctx.ok(&["pod", "rm", "-f", "pp"]);
            gone("m3");
            gone("pp");
        },
    );
}

#[test]
fn pod_net_members_show_the_pods_ports() {
    use net_support::{for_each_user_with_net, free_port, IMG};
    for_each_user_with_net("pod_net_members_show_the_pods_ports", |ctx| {
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "web",
            "--infra-name",
            "winf",
            "-p",
            &publish,
        ]);
        let srv = ctx.ok(&[
            "run", "-d", "--name", "srv", "--pod", "web", IMG, "sleep", "120",
        ]);
        let srv = srv.stdout.trim().to_string();
        ctx.ok(&["create", "--name", "idle", "--pod", "web", IMG, "true"]);
        let shown = format!("127.0.0.1:{port}->80/tcp");
        // ps: the pod's ports on the infra container's row and on every
        // running member's (a member not running shows none, as any
        // container that does not run).
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Ports}}"]);
        let mut rows: Vec<&str> = out.stdout.lines().collect();
        rows.sort();
        let want_srv = format!("srv|{shown}");
        let want_winf = format!("winf|{shown}");
        assert_eq!(
            rows,
            ["idle|", want_srv.as_str(), want_winf.as_str()],
            "{out}"
        );
        // inspect: a member's network settings are the pod's.
        let want =
            serde_json::json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]});
        assert_eq!(inspect(ctx, "srv")["NetworkSettings"]["Ports"], want);
        assert_eq!(inspect(ctx, "winf")["NetworkSettings"]["Ports"], want);
        // port: of the member, and of every running container.
        let out = ctx.ok(&["port", "srv", "80"]);
        assert_eq!(out.stdout.trim(), format!("127.0.0.1:{port}"), "{out}");
        let out = ctx.ok(&["port", "-a"]);
        let line = format!("{}\t80/tcp -> 127.0.0.1:{port}", &srv[..12]);
        assert!(out.stdout.lines().any(|l| l == line), "{out}");
        assert_eq!(out.stdout.lines().count(), 2, "srv's and winf's: {out}");
        ctx.ok(&["pod", "rm", "-f", "web"]);
    });
}

/// podman's `Ports` of `ps --format json` for the container `name`.
fn json_ports(ctx: &common::Ctx, name: &str) -> serde_json::Value {
    let out = ctx.ok(&["ps", "-a", "--format", "json"]);
    let rows: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    let row = rows
        .as_array()
        .and_then(|a| a.iter().find(|r| r["Names"][0] == name))
        .unwrap_or_else(|| panic!("no {name} in {out}"));
    row["Ports"].clone()
}

/// The names `ps -a --filter F` lists, sorted.
fn filtered(ctx: &common::Ctx, filter: &str) -> Vec<String> {
    let out = ctx.ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    let mut v: Vec<String> = out.stdout.lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn pod_net_joiners_show_their_network_owners_ports() {
    use net_support::{for_each_user_with_net, free_port, IMG};
    for_each_user_with_net("pod_net_joiners_show_their_network_owners_ports", |ctx| {
        let (pod_port, own_port) = (free_port(), free_port());
        let publish = format!("127.0.0.1:{pod_port}:80");
        ctx.ok(&[
            "pod",
            "create",
            "--name",
            "web",
            "--infra-name",
            "winf",
            "-p",
            &publish,
        ]);
        ctx.ok(&[
            "run", "-d", "--name", "srv", "--pod", "web", IMG, "sleep", "120",
        ]);
        ctx.ok(&["create", "--name", "idle", "--pod", "web", IMG, "true"]);
        let publish = format!("127.0.0.1:{own_port}:81/udp");
        ctx.ok(&[
            "run", "-d", "--name", "base", "-p", &publish, IMG, "sleep", "120",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "j",
            "--network",
            "container:base",
            IMG,
            "sleep",
            "120",
        ]);
        ctx.ok(&["run", "-d", "--name", "plain", IMG, "sleep", "120"]);
        // ps --format json: podman's list of mappings, the pod's on its
        // members (running or not) and the owner's on a joiner.
        let pods = serde_json::json!([{"host_ip": "127.0.0.1", "container_port": 80,
            "host_port": pod_port, "range": 1, "protocol": "tcp"}]);
        for name in ["winf", "srv", "idle"] {
            assert_eq!(json_ports(ctx, name), pods, "{name}");
        }
        let bases = serde_json::json!([{"host_ip": "127.0.0.1", "container_port": 81,
            "host_port": own_port, "range": 1, "protocol": "udp"}]);
        assert_eq!(json_ports(ctx, "base"), bases);
        assert_eq!(json_ports(ctx, "j"), bases);
        assert_eq!(json_ports(ctx, "plain"), serde_json::Value::Null);
        // ps --filter publish=: by the ports the row shows.
        assert_eq!(filtered(ctx, "publish=80"), ["idle", "srv", "winf"]);
        assert_eq!(filtered(ctx, "publish=81/udp"), ["base", "j"]);
        assert!(filtered(ctx, "publish=81").is_empty());
        // network=container:X: the containers on X's network, X named
        // (podman's), a pod's members by its infra container.
        assert_eq!(filtered(ctx, "network=container:base"), ["j"]);
        assert_eq!(filtered(ctx, "network=container:winf"), ["idle", "srv"]);
        // Networks: those a container joined itself, none for a joiner
        // or a member sharing its pod's (podman's).
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Networks}}"]);
        let mut rows: Vec<&str> = out.stdout.lines().collect();
        rows.sort();
        let want = [
            "base|slirp",
            "idle|",
            "j|",
            "plain|slirp",
            "srv|",
            "winf|slirp",
        ];
        assert_eq!(rows, want, "{out}");
        let out = ctx.ok(&["ps", "-a", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("ps json");
        for r in v.as_array().expect("a list") {
            let want = match r["Names"][0].as_str() {
                Some("j" | "idle" | "srv") => serde_json::json!([]),
                _ => serde_json::json!(["slirp"]),
            };
            assert_eq!(r["Networks"], want, "{r}");
        }
        // ps, port and inspect of the joiner: base's.
        let out = ctx.ok(&["ps", "--format", "{{.Names}}|{{.Ports}}"]);
        let want = format!("j|127.0.0.1:{own_port}->81/udp");
        assert!(out.stdout.lines().any(|l| l == want), "{out}");
        let out = ctx.ok(&["port", "j", "81/udp"]);
        assert_eq!(out.stdout.trim(), format!("127.0.0.1:{own_port}"), "{out}");
        let v = inspect(ctx, "j");
        assert_eq!(
            v["NetworkSettings"],
            inspect(ctx, "base")["NetworkSettings"]
        );
        let want = serde_json::json!({"81/udp": [{"HostIp": "127.0.0.1", "HostPort": own_port.to_string()}]});
        assert_eq!(v["NetworkSettings"]["Ports"], want);
        // podman's: the joiner asked for no ports of its own.
        assert_eq!(v["HostConfig"]["PortBindings"], serde_json::json!({}));
        // A joiner of a joiner (a pod member's network): the pod's ports.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "j2",
            "--network",
            "container:srv",
            IMG,
            "sleep",
            "120",
        ]);
        let out = ctx.ok(&["port", "j2", "80"]);
        assert_eq!(out.stdout.trim(), format!("127.0.0.1:{pod_port}"), "{out}");
        assert_eq!(json_ports(ctx, "j2"), pods);
        ctx.ok(&["rm", "-f", "j2"]);
        // A container not running has no ports to show, whatever its
        // network's owner does (podman's port passes over it).
        let out = ctx.ok(&["port", "idle"]);
        assert_eq!(out.stdout, "", "{out}");
        ctx.ok(&["kill", "j"]);
        ctx.ok(&["wait", "j"]);
        let out = ctx.ok(&["port", "j"]);
        assert_eq!(out.stdout, "", "{out}");
        ctx.fail(&["port", "j", "81/udp"]);
        // ps --format json: the mappings all the same, as podman's.
        assert_eq!(json_ports(ctx, "j"), bases);
        ctx.ok(&["rm", "-f", "j", "base", "plain"]);
        ctx.ok(&["pod", "rm", "-f", "web"]);
    });
}

/// A member may bear its pod's name (podman keeps pod and container
/// names apart): its removal, or its rename, takes the pod's name off the
/// network's DNS all the same (the helper forgot every entry of the name).
#[test]
fn pod_net_pod_name_outlives_a_member_of_that_name() {
    for_each_user_with_dns_pod(
        "pod_net_pod_name_outlives_a_member_of_that_name",
        &[],
        |ctx, gw| {
            ctx.ok(&[
                "run", "-d", "--name", "pp", "--pod", "pp", IMG, "sleep", "120",
            ]);
            ctx.ok(&["create", "--name", "m2", "--pod", "pp", IMG, "sleep", "120"]);
            let client = run_client(ctx, "pn");
            let ask = |name: &str| dns_addresses(client, gw, name).expect("a DNS reply");
            let pod_ip = address(ctx, "pinf", "pn");
            assert_eq!(ask("pp"), (0, vec![pod_ip]));
            // The member pp goes: the pod pp stays.
            ctx.ok(&["rm", "-f", "pp"]);
            assert_eq!(ask("pp"), (0, vec![pod_ip]), "the pod's name after rm");
            // m2 takes the pod's name, then another: the pod's name stays.
            ctx.ok(&["rename", "m2", "pp"]);
            ctx.ok(&["rename", "pp", "m3"]);
            assert_eq!(ask("pp"), (0, vec![pod_ip]), "the pod's name after rename");
            assert_eq!(ask("m3"), (0, vec![pod_ip]));
            ctx.ok(&["pod", "rm", "-f", "pp"]);
        },
    );
}
