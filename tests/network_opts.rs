//! `network create`'s podman options beyond subnet and gateway:
//! `--ip-range` (the addresses handed out), `--disable-dns` (no DNS server
//! on the network), `--ipv6` (refused: user-defined networks are IPv4
//! only); and `network reload` (nothing to redo: prints the containers'
//! ids, 125 for an unknown or stopped one, as podman's); `network connect`
//! and `rename` of one container at once both land in its spec.

mod common;

use common::checks::assert_one_error;
use common::usernet_helpers::*;
use common::{for_each_user, Ctx, ERR_EXIT};

fn inspect_net(ctx: &Ctx, name: &str) -> serde_json::Value {
    let out = ctx.ok(&["network", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v[0].clone()
}

fn address(ctx: &Ctx, ctr: &str, net: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&ctx.ok(&["inspect", ctr]).stdout).unwrap();
    v[0]["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no address on {net}: {v}"))
        .to_string()
}

#[test]
fn network_create_options_and_reload() {
    for_each_user("network_create_options_and_reload", |ctx| {
        let before = networks(ctx).len();
        for (args, says) in [
            (vec!["--ipv6"], "IPv4 only"),
            (vec!["--ip-range", "10.231.0.128/25"], "needs --subnet"),
            (
                vec!["--subnet", "10.231.0.0/24", "--ip-range", "10.231.1.0/25"],
                "not inside subnet",
            ),
            (
                vec!["--subnet", "10.231.0.0/24", "--ip-range", "10.231.0.129/25"],
                "invalid --ip-range",
            ),
        ] {
            let mut a = vec!["network", "create"];
            a.extend(args);
            a.push("bad");
            let out = ctx.rless(&a);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains(says), "{out}");
        }
        assert_eq!(networks(ctx).len(), before, "nothing made");
        ctx.ok(&[
            "network",
            "create",
            "--subnet",
            "10.231.0.0/24",
            "--ip-range",
            "10.231.0.128/25",
            "--disable-dns",
            "quiet",
        ]);
        ctx.ok(&["network", "create", "plain"]);
        let n = inspect_net(ctx, "quiet");
        assert_eq!(n["dns_enabled"], false, "{n}");
        assert_eq!(n["ipv6_enabled"], false, "{n}");
        assert_eq!(
            n["subnets"][0]["lease_range"],
            serde_json::json!({"start_ip": "10.231.0.129", "end_ip": "10.231.0.254"}),
            "{n}"
        );
        let p = inspect_net(ctx, "plain");
        assert_eq!(p["dns_enabled"], true, "{p}");
        assert!(p["subnets"][0].get("lease_range").is_none(), "{p}");
        let out = ctx.ok(&["network", "ls", "--format", "{{.Name}} {{.DNSEnabled}}"]);
        assert_eq!(out.stdout, "plain true\nquiet false\n");
        // reload: nothing to do; an unknown container is podman's 125.
        let out = ctx.rless(&["network", "reload", "nosuch"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("nosuch"), "{out}");
        let out = ctx.ok(&["network", "reload", "--all"]);
        assert_eq!(out.stdout, "", "no container: {out}");
    });
}

#[test]
fn network_ip_range_and_disable_dns_in_use() {
    for_each_user("network_ip_range_and_disable_dns_in_use", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&[
            "network",
            "create",
            "--subnet",
            "10.232.0.0/24",
            "--ip-range",
            "10.232.0.64/26",
            "--disable-dns",
            "quiet",
        ]);
        let run = |name: &str, extra: &[&str]| {
            let mut a = vec!["run", "-d", "--name", name, "--network", "quiet"];
            a.extend(extra);
            a.extend([IMG, "sleep", "120"]);
            ctx.ok(&a).stdout.trim().to_string()
        };
        let id1 = run("c1", &[]);
        run("c2", &[]);
        // Handed out from the range, after its first address.
        assert_eq!(address(ctx, "c1", "quiet"), "10.232.0.65");
        assert_eq!(address(ctx, "c2", "quiet"), "10.232.0.66");
        // --ip may name any address of the subnet.
        run("c3", &["--ip", "10.232.0.9"]);
        assert_eq!(address(ctx, "c3", "quiet"), "10.232.0.9");
        // No DNS server: resolv.conf does not name the gateway, and
        // nothing answers there.
        let resolv = ctx.ok(&["exec", "c1", "cat", "/etc/resolv.conf"]).stdout;
        assert!(!resolv.contains("10.232.0.1"), "{resolv}");
        let out = ctx.rless(&["exec", "c2", "nslookup", "c1", "10.232.0.1"]);
        assert!(
            !out.success() && !out.stdout.contains("10.232.0.65"),
            "{out}"
        );
        // Its containers' names are not served by another network's
        // server either, to one on both (podman's: no DNS for them).
        ctx.ok(&["network", "create", "plain"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "p1",
            "--network",
            "plain",
            IMG,
            "sleep",
            "120",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "both",
            "--network",
            "plain",
            "--network",
            "quiet",
            IMG,
            "sleep",
            "120",
        ]);
        let out = ctx.ok(&["exec", "both", "nslookup", "p1"]);
        assert!(out.stdout.contains("Address: 10.89.0.2"), "{out}");
        let out = ctx.rless(&["exec", "both", "nslookup", "c1"]);
        assert!(!out.stdout.contains("10.232.0.65"), "{out}");
        ctx.ok(&["rm", "-f", "p1", "both"]);
        // reload: each running container's id; nothing changes. One not
        // running has no network to reload (podman's 125).
        ctx.ok(&["create", "--name", "c0", "--network", "quiet", IMG, "true"]);
        let out = ctx.rless(&["network", "reload", "c0"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("not running"), "{out}");
        let out = ctx.ok(&["network", "reload", "c1"]);
        assert_eq!(out.stdout, format!("{id1}\n"));
        let out = ctx.ok(&["network", "reload", "--all"]);
        assert_eq!(out.stdout.lines().count(), 3, "{out}");
        assert_eq!(address(ctx, "c1", "quiet"), "10.232.0.65");
        ctx.ok(&["rm", "-f", "c0", "c1", "c2", "c3"]);
    });
}

/// Addresses are handed out from the subnet's first host address when the
/// gateway is elsewhere, as podman's: a range holding only that address
/// (accepted by `network create`) was never handed out ("no free address").
#[test]
fn network_first_address_is_handed_out() {
    for_each_user("network_first_address_is_handed_out", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&[
            "network",
            "create",
            "--subnet",
            "10.233.0.0/24",
            "--gateway",
            "10.233.0.254",
            "--ip-range",
            "10.233.0.1/32",
            "first",
        ]);
        let n = inspect_net(ctx, "first");
        assert_eq!(
            n["subnets"][0]["lease_range"],
            serde_json::json!({"start_ip": "10.233.0.1", "end_ip": "10.233.0.1"}),
            "{n}"
        );
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "f1",
            "--network",
            "first",
            IMG,
            "sleep",
            "120",
        ]);
        assert_eq!(address(ctx, "f1", "first"), "10.233.0.1");
        ctx.ok(&["rm", "-f", "f1"]);
    });
}

/// `network connect` and `rename` of one container at the same time both
/// land in its spec: the new network, and the new name among the aliases
/// of every network. Each rewrites the spec it read; connect held only the
/// `networks` lock and rename only the `containers` lock, so either could
/// put back a spec from before the other's change.
#[test]
fn network_connect_and_rename_at_once_both_land() {
    for_each_user("network_connect_and_rename_at_once_both_land", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "ra"]);
        ctx.ok(&["network", "create", "rb"]);
        for i in 0..4 {
            let (old, new) = (format!("r{i}"), format!("s{i}"));
            let out = ctx.ok(&["create", "--name", &old, "--network", "ra", IMG, "true"]);
            let id = out.stdout.trim().to_string();
            // By id: the name may change under it.
            let connect = ctx
                .rless_cmd(&["network", "connect", "rb", &id])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("network connect");
            ctx.ok(&["rename", &old, &new]);
            let out = connect.wait_with_output().expect("network connect");
            assert!(out.status.success(), "connect: {out:?}");
            let spec = std::fs::read(ctx.root.join("containers").join(&id).join("spec.json"));
            let spec: serde_json::Value = serde_json::from_slice(&spec.unwrap()).unwrap();
            let attached = spec["user_networks"]["attachments"].as_array().unwrap();
            let nets: Vec<&str> = attached
                .iter()
                .map(|a| a["network"].as_str().unwrap())
                .collect();
            assert_eq!(nets, ["ra", "rb"], "round {i}: {attached:?}");
            for a in attached {
                let aliases = a["aliases"].as_array().unwrap();
                assert!(
                    aliases.iter().any(|x| x == new.as_str())
                        && !aliases.iter().any(|x| x == old.as_str()),
                    "round {i}: the rename's name is not {new}'s alias on {}: {a}",
                    a["network"]
                );
            }
            ctx.ok(&["rm", &new]);
        }
        ctx.ok(&["network", "rm", "ra", "rb"]);
    });
}
