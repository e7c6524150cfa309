//! `inspect` and the listings' `--format` fields as scripts written for
//! podman 4.3 and docker read them: the keys podman's inspect has that
//! rless lacked (health check timings, per-network gateway and prefix,
//! mount options, log path, image/volume/network extras), podman's extra
//! template fields of `ps`, `images`, `volume ls` and `network ls`, and
//! docker's `{{.Label "KEY"}}` on their rows; the generic `inspect` of a
//! volume or a network. Each field's value is
//! checked, through a template (what scripts run) and, where it is in the
//! JSON, there too.
//!
//! Every scenario imports a busybox root filesystem (no registry) and
//! makes a user network, a volume, a running container with ports, a
//! volume, variables, labels, a restart policy and a health check on that
//! network, and a stopped one.

mod common;

use common::lifecycle_helpers::*;
use common::{for_each_user, Ctx};
use serde_json::Value;

const SUBNET: &str = "10.77.3.0/24";
const GATEWAY: &str = "10.77.3.1";

/// `inspect -f TEMPLATE NAME` (or `KIND inspect` when `kind` is given),
/// trimmed.
fn fmt(ctx: &Ctx, kind: &[&str], template: &str, name: &str) -> String {
    let mut a: Vec<&str> = kind.to_vec();
    a.extend_from_slice(&["inspect", "-f", template, name]);
    ctx.ok(&a).stdout.trim_end().to_string()
}

/// The listing's one line for `name` (rows start with the name).
fn row(ctx: &Ctx, args: &[&str], name: &str) -> String {
    let out = ctx.ok(args);
    out.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name}|")))
        .unwrap_or_else(|| panic!("no row for {name}: {out}"))
        .to_string()
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// The objects of the scenario: network `n1`, volume `vol`, running `web`
/// and exited `done` (exit 3).
fn setup(ctx: &Ctx) {
    setup_image(ctx);
    ctx.ok(&[
        "network",
        "create",
        "--subnet",
        SUBNET,
        "--gateway",
        GATEWAY,
        "--label",
        "nk=nv",
        "n1",
    ]);
    ctx.ok(&[
        "volume", "create", "--label", "vk=vv", "--opt", "note=x", "vol",
    ]);
    let publish = format!("{}:80", free_port());
    run_d(
        ctx,
        &[
            "--name",
            "web",
            "-p",
            &publish,
            "-v",
            "vol:/data",
            "--env",
            "FOO=bar",
            "--label",
            "lk=lv",
            "--restart",
            "always",
            "--health-cmd",
            "true",
            "--health-interval",
            "1h",
            "--network",
            "n1",
            IMG,
            "sleep",
            "1000",
        ],
    );
    ctx.ok(&[
        "create",
        "--name",
        "done",
        "--umask",
        "0077",
        "--oom-score-adj",
        "200",
        IMG,
        "sh",
        "-c",
        "exit 3",
    ]);
    let out = ctx.rless(&["start", "-a", "done"]);
    assert_eq!(out.code, Some(3), "{out}");
}

#[test]
fn inspect_compat_container_keys() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_compat_container_keys", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup(ctx);
        let c = |t: &str| fmt(ctx, &["container"], t, "web");
        // Per network: the address, its subnet's prefix and gateway, and
        // the network's id.
        let nets = c("{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}/{{$v.IPPrefixLen}} gw={{$v.Gateway}} {{$v.MacAddress}}|{{end}}");
        assert!(nets.starts_with("n1 10.77.3."), "{nets}");
        assert!(nets.ends_with("/24 gw=10.77.3.1 |"), "{nets}");
        let id = fmt(ctx, &["network"], "{{.id}}", "n1");
        assert_eq!(
            c(r#"{{(index .NetworkSettings.Networks "n1").NetworkID}}"#),
            id
        );
        let ip = inspect(ctx, "web")["NetworkSettings"]["IPAddress"].clone();
        assert_eq!(
            c("{{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}}"),
            format!("{}/24", ip.as_str().unwrap())
        );
        // The health check's timings in effect (podman's), in nanoseconds.
        assert_eq!(
            c("{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}} {{.Config.Healthcheck.Retries}}"),
            "3600000000000 30000000000 3"
        );
        let v = inspect(ctx, "web");
        assert_eq!(v["Config"]["Healthcheck"]["Retries"], 3, "{v}");
        // Mounts with podman's options and propagation.
        assert_eq!(
            c("{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}} {{.Options}} {{.Propagation}} {{.Mode}}|{{end}}"),
            "volume vol /data true [rbind] rprivate |"
        );
        assert_eq!(v["Mounts"][0]["Options"], serde_json::json!(["rbind"]));
        // The log's path as podman's LogConfig has it.
        assert_eq!(c("{{.HostConfig.LogConfig.Path}}"), c("{{.LogPath}}"));
        assert_eq!(c("{{.HostConfig.LogConfig.Size}}"), "0B");
        // podman's runtime and container kinds; docker's Attach* and
        // nil Volumes/OnBuild.
        assert_eq!(
            c("{{.OCIRuntime}} {{.IsInfra}} {{.IsService}} [{{.Rootfs}}] [{{.Namespace}}]"),
            "rless false false [] []"
        );
        assert_eq!(
            c("{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.StdinOnce}} {{json .Config.Volumes}} {{json .Config.OnBuild}}"),
            "false false false null null"
        );
        let caps = c("{{json .EffectiveCaps}}");
        let caps: Vec<String> = serde_json::from_str(&caps).expect(&caps);
        assert!(caps.contains(&"CAP_CHOWN".to_string()), "{caps:?}");
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()), "{caps:?}");
        assert_eq!(c("{{json .BoundingCaps}}"), c("{{json .EffectiveCaps}}"));
        // What was there already, as scripts read it.
        assert_eq!(
            c("{{.HostConfig.RestartPolicy.Name}} {{.RestartCount}} {{.Config.Labels.lk}}"),
            "always 0 lv"
        );
        assert!(c("{{.Config.Env}}").contains("FOO=bar"));
        // podman's digest of the image's manifest.
        assert_eq!(
            c("{{.ImageDigest}}"),
            fmt(ctx, &["image"], "{{.Digest}}", IMG)
        );
        assert!(c("{{.ImageDigest}}").starts_with("sha256:"));
        // podman's umask and OOM score, and the HostConfig fields of what
        // rless has no option for, at their unset values.
        assert_eq!(
            c("{{.Config.Umask}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.Runtime}} {{.HostConfig.ConsoleSize}} {{.HostConfig.MemorySwappiness}} {{json .HostConfig.Links}} [{{.HostConfig.Isolation}}]"),
            "0022 0 oci [0 0] -1 null []"
        );
        assert_eq!(
            fmt(
                ctx,
                &["container"],
                "{{.Config.Umask}} {{.HostConfig.OomScoreAdj}}",
                "done"
            ),
            "0077 200"
        );
        // Without a check, templates see podman's empty health; the JSON
        // has none, as docker's.
        assert_eq!(
            fmt(ctx, &["container"], "[{{.State.Health.Status}}] {{.State.Health.FailingStreak}} {{len .State.Health.Log}}", "done"),
            "[] 0 0"
        );
        assert!(inspect(ctx, "done")["State"].get("Health").is_none());
        assert_eq!(inspect(ctx, "web")["State"]["Health"]["FailingStreak"], 0);
        // A stopped container has no address, so no prefix.
        let d = |t: &str| fmt(ctx, &["container"], t, "done");
        assert_eq!(
            d("{{.NetworkSettings.IPPrefixLen}} {{.State.ExitCode}}"),
            "0 3"
        );
    });
}

#[test]
fn inspect_compat_image_volume_network_keys() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_compat_image_volume_network_keys", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup(ctx);
        ctx.ok(&[
            "commit",
            "-c",
            "LABEL a=b",
            "-c",
            "USER 7",
            "done",
            "labelled",
        ]);
        let i = |t: &str| fmt(ctx, &["image"], t, "labelled");
        // podman's copies of the config's labels and user, the size twice.
        assert_eq!(i("{{.Labels.a}} {{.User}} [{{.Version}}]"), "b 7 []");
        assert_eq!(i("{{.VirtualSize}}"), i("{{.Size}}"));
        assert_eq!(i("{{.ManifestType}}"), i("{{.ManifestMediaType}}"));
        assert_eq!(
            i("{{.NamesHistory}}"),
            "[localhost/labelled:latest]",
            "the names"
        );
        let v: Value =
            serde_json::from_str(&ctx.ok(&["image", "inspect", "labelled"]).stdout).expect("json");
        assert_eq!(v[0]["Labels"]["a"], "b", "{v}");
        assert_eq!(v[0]["VirtualSize"], v[0]["Size"], "{v}");
        // An image without labels: podman's null.
        assert_eq!(fmt(ctx, &["image"], "{{json .Labels}}", IMG), "null");

        // A volume: -f, and how many running containers mount it.
        let vol = |t: &str| fmt(ctx, &["volume"], t, "vol");
        assert_eq!(
            vol("{{.MountCount}} {{.Scope}} {{.Options.note}}"),
            "1 local x"
        );
        assert!(vol("{{.Mountpoint}}").ends_with("/volumes/vol/_data"));
        ctx.ok(&["stop", "-t", "0", "web"]);
        assert_eq!(vol("{{.MountCount}}"), "0");

        // The generic inspect finds volumes and networks too (after
        // containers and images), as podman's; --type narrows it.
        assert_eq!(fmt(ctx, &[], "{{.Name}} {{.Scope}}", "vol"), "vol local");
        assert_eq!(fmt(ctx, &[], "{{.name}} {{.driver}}", "n1"), "n1 bridge");
        let typed = ["inspect", "--type", "network", "-f", "{{.name}}", "n1"];
        assert_eq!(ctx.ok(&typed).stdout, "n1\n");
        ctx.fail(&["inspect", "--type", "volume", "n1"]);
        ctx.fail(&["inspect", "--type", "network", "vol"]);
        // A network whose definition cannot be read is reported as that,
        // not as a name that is nothing.
        ctx.write_file("store/networks/broken.json", b"{");
        let out = ctx.fail(&["inspect", "broken"]);
        assert!(!out.stderr.contains("no such object"), "{out}");
        assert!(out.stderr.contains("broken.json"), "{out}");
        std::fs::remove_file(ctx.root.join("networks/broken.json")).unwrap();

        // A network: podman's keys, -f.
        assert_eq!(
            fmt(
                ctx,
                &["network"],
                "{{.ipv6_enabled}} [{{.network_interface}}] {{.ipam_options.driver}} {{.dns_enabled}} {{range .subnets}}{{.subnet}} {{.gateway}}{{end}}",
                "n1"
            ),
            format!("false [] host-local true {SUBNET} {GATEWAY}")
        );
    });
}

#[test]
fn inspect_compat_listing_fields() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_compat_listing_fields", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup(ctx);
        let web = inspect(ctx, "web");
        let image_id = web["Image"].as_str().unwrap().trim_start_matches("sha256:");
        // ps: docker's .Label "KEY" and podman's fields.
        let ps = |name: &str| {
            row(
                ctx,
                &[
                    "ps",
                    "-a",
                    "--format",
                    r#"{{.Names}}|{{.Label "lk"}}|{{.Label "none"}}|{{.ImageID}}|{{.Pid}}|{{.ExitCode}}|{{.Exited}}|{{.ExitedAt}}|{{.AutoRemove}}|{{.IsInfra}}|{{.Created}}"#,
                ],
                name,
            )
        };
        let created = fmt(ctx, &["container"], "{{.Created}}", "web");
        let f: Vec<String> = ps("web").split('|').map(String::from).collect();
        assert_eq!(f[1..4], ["lv", "", &image_id[..12]], "{f:?}");
        assert_eq!(f[4], web["State"]["Pid"].to_string(), "{f:?}");
        assert_eq!(
            f[5..10],
            ["0", "false", "-62135596800", "false", "false"],
            "{f:?}"
        );
        // "2026-11-30 07:04:59 +0000 UTC" for 2026-11-30T07:04:59Z.
        assert!(
            f[10].starts_with(&created[..10]) && f[10].ends_with(" +0000 UTC"),
            "{f:?} {created}"
        );
        let f: Vec<String> = ps("done").split('|').map(String::from).collect();
        assert_eq!(f[1..3], ["", ""], "{f:?}");
        assert_eq!(f[4..7], ["0", "3", "true"], "{f:?}");
        let finished = fmt(ctx, &["container"], "{{.State.FinishedAt}}", "done");
        assert_eq!(rfc3339(f[7].parse().unwrap()), finished, "{f:?}");
        // The hidden map behind .Label is not in {{json .}}.
        let j = ctx.ok(&["ps", "-a", "--format", "{{json .}}"]);
        assert!(!j.stdout.contains("_labels"), "{j}");
        assert!(j.stdout.contains("\"ImageID\""), "{j}");
        // A header for .Label, as for any field.
        ctx.ok(&["ps", "--format", r#"table {{.Names}}\t{{.Label "lk"}}"#]);

        // images: podman's fields.
        ctx.ok(&["commit", "-c", "LABEL a=b", "done", "labelled"]);
        let img = inspect(ctx, "labelled");
        let line = row(
            ctx,
            &[
                "images",
                "--format",
                r#"{{.Repository}}|{{.Id}}|{{.Names}}|{{.History}}|{{.Dangling}}|{{.ReadOnly}}|{{.Labels}}|{{.Label "a"}}|{{.CreatedTime}}"#,
            ],
            "localhost/labelled",
        );
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f[1], img["Id"].as_str().unwrap(), "{line}");
        assert_eq!(
            f[2..8],
            [
                "[localhost/labelled:latest]",
                "localhost/labelled:latest",
                "false",
                "false",
                "map[a:b]",
                "b"
            ],
            "{line}"
        );
        assert!(f[8].ends_with(" +0000 UTC"), "{line}");

        // volume ls and network ls: podman's fields, .Label.
        let line = row(
            ctx,
            &[
                "volume",
                "ls",
                "--format",
                r#"{{.Name}}|{{.Options}}|{{.Anonymous}}|{{.MountCount}}|{{.Label "vk"}}|{{.UID}}"#,
            ],
            "vol",
        );
        assert_eq!(line, "vol|map[note:x]|false|1|vv|0");
        let line = row(
            ctx,
            &[
                "network",
                "ls",
                "--format",
                r#"{{.Name}}|{{range .Subnets}}{{.Subnet}} {{.Gateway}}{{end}}|{{.DNSEnabled}}|{{.Label "nk"}}|{{.Options.allow_host_loopback}}|{{.Created}}"#,
            ],
            "n1",
        );
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(
            f[1..5],
            [&format!("{SUBNET} {GATEWAY}")[..], "true", "nv", "false"],
            "{line}"
        );
        assert!(f[5].ends_with(" +0000 UTC"), "{line}");
    });
}
