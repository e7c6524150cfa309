//! `inspect` as docker's: the generic `inspect` of an image gives the same
//! object as `image inspect`; several names with unknown ones among them
//! print the objects found, then report the others (exit 125); a
//! container's `HostConfig` has docker's fields for the options it was
//! created with. Also the image a container records (the reference it was
//! run with, not the image's first name) and `ps --filter ancestor=`, which
//! resolves its value to an image.
//!
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use serde_json::Value;

#[test]
fn inspect_image_gives_the_whole_object() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_image_gives_the_whole_object", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // `inspect IMAGE` is `image inspect IMAGE`: the whole object.
        let t = "{{.Config.Env}} {{.Size}} {{.Architecture}} {{.RootFS.Type}}";
        let img = ctx.ok(&["image", "inspect", "-f", t, IMG]);
        let generic = ctx.ok(&["inspect", "-f", t, IMG]);
        assert_eq!(generic.stdout, img.stdout, "{generic}");
        assert!(img.stdout.contains("PATH="), "{img}");
        assert_eq!(inspect(ctx, IMG), {
            let out = ctx.ok(&["image", "inspect", IMG]);
            serde_json::from_str::<Value>(&out.stdout).unwrap()[0].clone()
        });
        // `--type` narrows it, and `container inspect` is containers only,
        // as docker: an image there is no such container.
        let typed = ctx.ok(&["inspect", "--type", "image", "-f", t, IMG]);
        assert_eq!(typed.stdout, img.stdout, "{typed}");
        ctx.ok(&["create", "--name", "ctr-one", IMG, "true"]);
        // A name that is no hex prefix of the container's id (IMG, "bb",
        // could be one).
        ctx.ok(&["tag", IMG, "image-only"]);
        for args in [
            &["container", "inspect", "image-only"][..],
            &["inspect", "--type", "container", "image-only"][..],
        ] {
            let out = ctx.rless(args);
            out.assert_rless_error();
            assert!(out.stderr.contains("no such container"), "{out}");
        }
        let out = ctx.rless(&["inspect", "--type", "image", "ctr-one"]);
        out.assert_rless_error();
        assert!(out.stderr.contains("no such image"), "{out}");
        ctx.ok(&["container", "inspect", "ctr-one"]);
        ctx.rless(&["inspect", "--type", "volume", "ctr-one"])
            .assert_rless_error();
    });
}

/// An image's unset fields as docker's image inspect has them (and a
/// committed one's set ones): lists and maps null (a nil slice or map),
/// strings "", `omitempty` fields left out of the JSON but there for
/// templates, and `index` of a missing label the zero value "" (Go's), not
/// `<no value>`.
#[test]
fn inspect_image_unset_fields_as_docker() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_image_unset_fields_as_docker", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "src", IMG, "true"]);
        ctx.ok(&[
            "commit",
            "-c",
            "LABEL a=b",
            "-c",
            "EXPOSE 80",
            "-c",
            "STOPSIGNAL TERM",
            "src",
            "made",
        ]);
        let v = inspect(ctx, IMG);
        let config = &v["Config"];
        for k in ["Labels", "Volumes", "OnBuild", "Cmd", "Entrypoint"] {
            assert!(config.get(k).is_some_and(Value::is_null), "Config.{k}: {v}");
        }
        for k in ["ExposedPorts", "StopSignal"] {
            assert!(config.get(k).is_none(), "Config.{k} is omitempty: {v}");
        }
        assert!(v.get("Variant").is_none(), "Variant is omitempty: {v}");
        for k in ["Author", "Comment", "Parent"] {
            assert_eq!(v[k], "", "{k}: {v}");
        }
        let v = inspect(ctx, "made");
        assert_eq!(v["Config"]["Labels"], serde_json::json!({"a": "b"}), "{v}");
        assert_eq!(v["Config"]["StopSignal"], "TERM", "{v}");
        assert!(v["Config"]["ExposedPorts"].get("80/tcp").is_some(), "{v}");
        let t = r#"[{{index .Config.Labels "a"}}|{{index .Config.Labels "x"}}|{{.Config.Labels.x}}|{{.Config.Labels}}|{{.Config.ExposedPorts}}|{{.Config.StopSignal}}|{{.Variant}}|{{.Author}}|{{.Config.OnBuild}}|{{len .Config.Labels}}]"#;
        let out = ctx.ok(&["image", "inspect", "-f", t, IMG]);
        assert_eq!(
            out.stdout, "[||<no value>|map[]|map[]||||[]|0]\n",
            "unset: {out}"
        );
        let out = ctx.ok(&["image", "inspect", "-f", t, "made"]);
        assert_eq!(
            out.stdout, "[b||<no value>|map[a:b]|map[80/tcp:map[]]|TERM|||[]|1]\n",
            "set: {out}"
        );
    });
}

#[test]
fn inspect_reports_unknown_names_after_the_others() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_reports_unknown_names_after_the_others", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Unknown names among known ones: the known ones are printed, each
        // unknown one is reported on its own line, and the command fails.
        ctx.ok(&["create", "--name", "a", IMG, "true"]);
        ctx.ok(&["create", "--name", "b", IMG, "true"]);
        let out = ctx.rless(&["inspect", "-f", "{{.Name}}", "a", "nosuch1", "b", "nosuch2"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        assert_eq!(out.stdout, "a\nb\n", "{out}");
        let errs = stderr_lines(&out);
        assert_eq!(errs.len(), 2, "{out}");
        assert!(
            errs[0].starts_with("rless: ") && errs[0].contains("nosuch1"),
            "{out}"
        );
        assert!(
            errs[1].starts_with("rless: ") && errs[1].contains("nosuch2"),
            "{out}"
        );
        // As JSON: an array of the objects found (the image by a name that
        // is no hex prefix of a container's id, as IMG, "bb", could be).
        ctx.ok(&["tag", IMG, "image-only"]);
        let out = ctx.rless(&["inspect", "nosuch", "a", "image-only"]);
        assert_one_error(&out, ERR_EXIT);
        let v: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
        assert_eq!(v.as_array().map(|a| a.len()), Some(2), "{out}");
        assert_eq!(v[0]["Name"], "a", "{out}");
        assert!(v[1]["RepoTags"].is_array(), "{out}");
        // `image inspect` the same way.
        let out = ctx.rless(&["image", "inspect", "-f", "{{.Id}}", IMG, "nosuch"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        let out = ctx.rless(&["image", "inspect", "nosuch"]);
        assert_one_error(&out, ERR_EXIT);
        // None found: an error only (docker prints `[]` first).
        assert!(out.stdout.is_empty(), "{out}");
    });
}

#[test]
fn inspect_host_config_shows_the_options() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_host_config_shows_the_options", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "plain", IMG, "true"]);
        // Limits are recorded even where this host cannot apply them
        // (create warns, and run would go without them).
        let out = ctx.rless(&[
            "create",
            "--name",
            "opts",
            "--read-only",
            "--add-host",
            "a:1.2.3.4",
            "--cap-drop",
            "net_raw",
            "--cap-add",
            "CAP_NET_ADMIN",
            "--tmpfs",
            "/t:size=1m",
            "--tmpfs",
            "/u",
            "--ulimit",
            "nofile=100:200",
            "--dns",
            "9.9.9.9",
            "--dns-search",
            "example.org",
            "--dns-option",
            "ndots:2",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--cpu-shares",
            "512",
            "--security-opt",
            "no-new-privileges",
            "-P",
            "--volumes-from",
            "plain:ro",
            IMG,
            "true",
        ]);
        assert!(out.success(), "{out}");
        let h = &inspect(ctx, "opts")["HostConfig"];
        assert_eq!(h["ReadonlyRootfs"], true, "{h}");
        assert_eq!(h["ExtraHosts"], serde_json::json!(["a:1.2.3.4"]), "{h}");
        assert_eq!(h["CapDrop"], serde_json::json!(["CAP_NET_RAW"]), "{h}");
        // Only what was added, as docker (not every default capability).
        assert_eq!(h["CapAdd"], serde_json::json!(["CAP_NET_ADMIN"]), "{h}");
        assert_eq!(
            h["Tmpfs"],
            serde_json::json!({"/t": "size=1m", "/u": ""}),
            "{h}"
        );
        assert_eq!(
            h["Ulimits"],
            serde_json::json!([{"Name": "nofile", "Soft": 100, "Hard": 200}]),
            "{h}"
        );
        assert_eq!(h["Dns"], serde_json::json!(["9.9.9.9"]), "{h}");
        assert_eq!(h["DnsSearch"], serde_json::json!(["example.org"]), "{h}");
        assert_eq!(h["DnsOptions"], serde_json::json!(["ndots:2"]), "{h}");
        assert_eq!(h["Memory"], 64 << 20, "{h}");
        // docker's default swap: as much as the memory, so twice in all.
        assert_eq!(h["MemorySwap"], 128 << 20, "{h}");
        assert_eq!(h["PidsLimit"], 50, "{h}");
        assert_eq!(h["CpuShares"], 512, "{h}");
        assert_eq!(
            h["SecurityOpt"],
            serde_json::json!(["no-new-privileges"]),
            "{h}"
        );
        assert_eq!(h["PublishAllPorts"], true, "{h}");
        assert_eq!(h["VolumesFrom"], serde_json::json!(["plain:ro"]), "{h}");
        // Templates reach them, as scripts written for docker do.
        let out = ctx.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.ExtraHosts}} {{.HostConfig.Memory}}",
            "opts",
        ]);
        assert_eq!(out.stdout, "true [a:1.2.3.4] 67108864\n", "{out}");

        // Without options: docker's zero values (docker's CLI leaves these
        // lists nil, but sends the Dns ones empty).
        let h = &inspect(ctx, "plain")["HostConfig"];
        for (k, zero) in [
            ("ReadonlyRootfs", serde_json::json!(false)),
            ("Binds", Value::Null),
            ("CapAdd", Value::Null),
            ("CapDrop", Value::Null),
            ("ExtraHosts", Value::Null),
            ("SecurityOpt", Value::Null),
            ("VolumesFrom", Value::Null),
            ("Ulimits", Value::Null),
            ("Dns", serde_json::json!([])),
            ("DnsSearch", serde_json::json!([])),
            ("DnsOptions", serde_json::json!([])),
            ("Memory", serde_json::json!(0)),
            ("MemorySwap", serde_json::json!(0)),
            ("NanoCpus", serde_json::json!(0)),
            ("PidsLimit", Value::Null),
            ("CgroupParent", serde_json::json!("")),
        ] {
            assert_eq!(h.get(k), Some(&zero), "{k}: {h}");
        }
        // Tmpfs is `omitempty` in docker's JSON; a template still sees it.
        assert!(h.get("Tmpfs").is_none(), "{h}");
        let t = "{{.HostConfig.Tmpfs}} {{.HostConfig.CapAdd}} {{json .HostConfig.CapAdd}} {{.HostConfig.PidsLimit}}";
        let out = ctx.ok(&["inspect", "-f", t, "plain"]);
        assert_eq!(out.stdout, "map[] [] null <nil>\n", "{out}");
    });
}

/// The newer limit flags are recorded under docker's HostConfig names
/// (also where this host cannot apply them), and `update` changes a
/// stopped container's record: the flags given over the old ones, a bad
/// value or an unknown container one line, exit 125, nothing changed.
/// (A running container's cgroup: tests/cgroups_limits.rs.)
#[test]
fn inspect_host_config_limits_and_update() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_host_config_limits_and_update", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let out = ctx.rless(&[
            "create",
            "--name",
            "lim",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "20000",
            "--memory",
            "64m",
            "--memory-reservation",
            "32m",
            "--blkio-weight",
            "300",
            "--pids-limit",
            "20",
            IMG,
            "true",
        ]);
        assert!(out.success(), "{out}");
        let h = &inspect(ctx, "lim")["HostConfig"];
        assert_eq!(h["CpusetCpus"], "0", "{h}");
        assert_eq!(h["CpusetMems"], "0", "{h}");
        assert_eq!(h["CpuPeriod"], 50000, "{h}");
        assert_eq!(h["CpuQuota"], 20000, "{h}");
        assert_eq!(h["MemoryReservation"], 32 << 20, "{h}");
        assert_eq!(h["BlkioWeight"], 300, "{h}");
        assert_eq!(h["BlkioWeightDevice"], serde_json::json!([]), "{h}");
        assert_eq!(h["BlkioDeviceReadBps"], serde_json::json!([]), "{h}");
        assert_eq!(h["BlkioDeviceWriteIOps"], serde_json::json!([]), "{h}");

        let out = ctx.rless(&[
            "update",
            "--pids-limit",
            "40",
            "--memory",
            "128m",
            "--cpuset-cpus",
            "0-1",
            "lim",
        ]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "lim\n", "{out}");
        let h = &inspect(ctx, "lim")["HostConfig"];
        assert_eq!(h["PidsLimit"], 40, "{h}");
        assert_eq!(h["Memory"], 128 << 20, "{h}");
        assert_eq!(h["MemorySwap"], 256 << 20, "docker's default follows: {h}");
        assert_eq!(h["CpusetCpus"], "0-1", "{h}");
        assert_eq!(h["CpuQuota"], 20000, "kept: {h}");
        assert_eq!(h["MemoryReservation"], 32 << 20, "kept: {h}");

        if std::path::Path::new("/dev/loop0").exists() {
            let out = ctx.rless(&["update", "--device-read-bps", "/dev/loop0:1mb", "lim"]);
            assert!(out.success(), "{out}");
            assert_eq!(
                inspect(ctx, "lim")["HostConfig"]["BlkioDeviceReadBps"],
                serde_json::json!([{"Path": "/dev/loop0", "Rate": 1048576}])
            );
        }

        for bad in [
            &["update", "--pids-limit", "many", "lim"][..],
            &["update", "--cpus", "1", "lim"],
            &["update", "--memory-reservation", "256m", "lim"],
            &["update", "--kernel-memory", "1g", "lim"],
            &["update", "--pids-limit", "5", "nosuchctr"],
            &["update", "lim"],
        ] {
            let out = ctx.rless(bad);
            assert_one_error(&out, ERR_EXIT);
            assert_eq!(
                inspect(ctx, "lim")["HostConfig"]["PidsLimit"],
                40,
                "{bad:?} changed nothing"
            );
        }
        // `container update` is the same command.
        let out = ctx.rless(&["container", "update", "--pids-limit", "41", "lim"]);
        assert!(out.success(), "{out}");
        assert_eq!(inspect(ctx, "lim")["HostConfig"]["PidsLimit"], 41);
    });
}

#[test]
fn containers_record_the_name_they_were_run_with() {
    if !have_busybox() {
        return;
    }
    for_each_user("containers_record_the_name_they_were_run_with", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // The image's names: base (first), then app.
        ctx.ok(&["tag", IMG, "base"]);
        ctx.ok(&["rmi", IMG]);
        ctx.ok(&["tag", "base", "app"]);
        ctx.ok(&["create", "--name", "c", "app", "true"]);
        let out = ctx.ok(&["ps", "-a", "--filter", "name=c", "--format", "{{.Image}}"]);
        assert_eq!(out.stdout, "localhost/app:latest\n", "{out}");
        let out = ctx.ok(&["inspect", "-f", "{{.Config.Image}} {{.ImageName}}", "c"]);
        assert_eq!(
            out.stdout, "localhost/app:latest localhost/app:latest\n",
            "{out}"
        );
        // By id: the id as given, as docker.
        let id = ctx.ok(&["image", "inspect", "-f", "{{.Id}}", "app"]);
        let short = &id.stdout.trim()[..12];
        ctx.ok(&["create", "--name", "by-id", short, "true"]);
        let out = ctx.ok(&["inspect", "-f", "{{.Config.Image}}", "by-id"]);
        assert_eq!(out.stdout.trim(), short, "{out}");
    });
}

#[test]
fn ps_ancestor_resolves_the_image() {
    if !have_busybox() {
        return;
    }
    for_each_user("ps_ancestor_resolves_the_image", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Another image, with a name that contains this one's.
        ctx.ok(&["create", "--name", "mine", IMG, "true"]);
        ctx.ok(&["commit", "mine", "bbox-tools"]);
        ctx.ok(&["create", "--name", "other", "bbox-tools", "true"]);
        let names = |v: &str| {
            let out = ctx.ok(&[
                "ps",
                "-a",
                "--filter",
                &format!("ancestor={v}"),
                "--format",
                "{{.Names}}",
            ]);
            let mut n: Vec<String> = out.stdout.lines().map(String::from).collect();
            n.sort();
            n
        };
        assert_eq!(names(IMG), ["mine"]);
        assert_eq!(names("bb:latest"), ["mine"]);
        assert_eq!(names("localhost/bbox-tools"), ["other"]);
        let id = ctx.ok(&["image", "inspect", "-f", "{{.Id}}", "bbox-tools"]);
        assert_eq!(names(&id.stdout.trim()[..12]), ["other"]);
        assert_eq!(names(&format!("sha256:{}", id.stdout.trim())), ["other"]);
        // Not an image: nothing, and no error (as docker).
        assert!(names("b").is_empty());
        assert!(names("tools").is_empty());
        assert!(names("nosuch").is_empty());
        // Either of two values.
        let out = ctx.ok(&[
            "ps",
            "-a",
            "--filter",
            "ancestor=bb",
            "--filter",
            "ancestor=bbox-tools",
            "-q",
        ]);
        assert_eq!(out.stdout.lines().count(), 2, "{out}");
        // A --rootfs container has no image: it matches its directory.
        let dir = ctx.work.join("rootfs").canonicalize().unwrap();
        let dir = dir.to_str().unwrap();
        ctx.ok(&["create", "--name", "dir", "--rootfs", dir, "true"]);
        assert_eq!(names(dir), ["dir"]);
    });
}

/// Go's zero time, which docker shows for a time not reached yet.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[test]
fn inspect_nulls_and_times_as_docker() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_nulls_and_times_as_docker", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "new", IMG, "sh", "-c", "exit 3"]);
        // Never started: Go's zero times and an empty error, not nulls.
        let st = inspect(ctx, "new");
        let state = state_of(&st);
        assert_eq!(state["StartedAt"], ZERO_TIME, "{st}");
        assert_eq!(state["FinishedAt"], ZERO_TIME, "{st}");
        assert_eq!(state["Error"], "", "{st}");
        // No entrypoint of its own (rless keeps the command whole in
        // Cmd): docker's nil list, null in JSON.
        assert_eq!(st["Config"]["Entrypoint"], Value::Null, "{st}");
        assert_eq!(
            st["Config"]["Cmd"],
            serde_json::json!(["sh", "-c", "exit 3"])
        );
        // No --network-alias: docker's nil list too.
        let slirp = &st["NetworkSettings"]["Networks"]["slirp"];
        assert_eq!(slirp["Aliases"], Value::Null, "{st}");
        // Templates print nulls as Go prints them: a nil list `[]` (and
        // `null` through json), a nil pointer `<nil>`; a nil list is
        // empty to len, if and range.
        let t = "{{.Config.Entrypoint}}|{{json .Config.Entrypoint}}|{{len .Config.Entrypoint}}\
                 |{{if .Config.Entrypoint}}set{{else}}unset{{end}}|{{range .Config.Entrypoint}}x{{end}}\
                 |{{.HostConfig.PidsLimit}}|{{json .HostConfig.PidsLimit}}|{{.State.StartedAt}}|[{{.State.Error}}]";
        let out = ctx.ok(&["inspect", "-f", t, "new"]);
        assert_eq!(
            out.stdout,
            format!("[]|null|0|unset||<nil>|null|{ZERO_TIME}|[]\n"),
            "{out}"
        );
        // After a run: real times, still no error.
        ctx.rless(&["start", "-a", "new"]);
        let st = inspect(ctx, "new");
        let state = state_of(&st);
        assert_eq!(state["ExitCode"], 3, "{st}");
        for k in ["StartedAt", "FinishedAt"] {
            let t = state[k].as_str().unwrap_or_default();
            assert!(
                t != ZERO_TIME && parse_time(t).is_some_and(|t| t > 0),
                "{k}: {st}"
            );
        }
        assert_eq!(state["Error"], "", "{st}");
    });
}
