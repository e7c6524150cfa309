//! cgroup v2 delegation cases: started in the delegated cgroup itself (no
//! leaf, with and without another process there), what `rless info`
//! reports, and `stats` wherever the tests run. The delegated subtree is
//! set up as described in `cgroups.rs`.
//! Shared helpers and constants are in `common::cgroup_helpers`.

mod common;

use common::cgroup_helpers::*;
use common::checks::*;
use common::for_each_user;
use common::oci::busybox;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Started in the delegated cgroup itself (no leaf): rless moves itself to
/// a leaf so the controllers can be enabled. With another process in that
/// cgroup it cannot: one warning, or exit 125 with --cgroups=required.
#[test]
fn cgroup_no_internal_processes() {
    let Some(parent) = test_parent() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("cgroup_no_internal_processes", |ctx| {
        let d = Delegated::new(&parent, ctx, "top");
        setup_image(ctx, &d.leaf(ctx, "import"));
        let out = rless_in(
            ctx,
            &d.dir,
            &[
                "run",
                "--rm",
                "--pids-limit",
                "10",
                IMG,
                "cat",
                "/proc/self/cgroup",
            ],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        assert!(
            d.dir.join("rless-monitor").is_dir(),
            "rless moved to its leaf"
        );
        let enabled = words(&d.dir.join("cgroup.subtree_control"));
        assert!(enabled.iter().any(|c| c == "pids"), "{enabled:?}");
        assert!(
            out.stdout.contains("/rless-") && !out.stdout.contains("rless-monitor"),
            "{out}"
        );

        // Someone else in the delegated cgroup blocks the controllers.
        let d2 = Delegated::new(&parent, ctx, "busy");
        let mut sleeper = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec sleep 600"#)
            .arg(&d2.dir)
            .spawn()
            .unwrap();
        while words(&d2.dir.join("cgroup.procs")).is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let before = d2.tree();
        let out = rless_in(
            ctx,
            &d2.dir,
            &["run", "--rm", "--pids-limit", "10", IMG, "true"],
        );
        assert!(out.success(), "{out}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "one warning: {out}");
        assert!(
            lines[0].starts_with("rless: warning:") && lines[0].contains("other processes"),
            "{out}"
        );
        let out = rless_in(
            ctx,
            &d2.dir,
            &[
                "run",
                "--rm",
                "--cgroups=required",
                "--pids-limit",
                "10",
                IMG,
                "true",
            ],
        );
        assert_one_error(&out, 125);
        assert!(containers(ctx).is_empty(), "{out}");
        let after: Vec<String> = d2
            .tree()
            .into_iter()
            .filter(|c| c != "rless-monitor")
            .collect();
        assert_eq!(after, before, "no container cgroup left: {out}");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    });
}

/// `rless info` says which case holds.
#[test]
fn cgroup_info_reports_delegation() {
    let Some(parent) = test_parent() else { return };
    for_each_user("cgroup_info_reports_delegation", |ctx| {
        let d = Delegated::new(&parent, ctx, "i");
        let cli = d.leaf(ctx, "cli");
        let out = rless_in(ctx, &cli, &["info", "--format", "json"]);
        assert!(out.success(), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let del = &v["Host"]["CgroupDelegation"];
        assert_eq!(del["Path"].as_str(), Some(d.dir.to_str().unwrap()), "{out}");
        let ctl: Vec<&str> = del["Controllers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert!(ctl.contains(&"pids") && ctl.contains(&"cpu"), "{out}");
        assert!(
            v["Host"]["CgroupLimits"]
                .as_str()
                .unwrap()
                .contains("delegated"),
            "{out}"
        );
        // Outside the subtree (the test user's usual cgroup): none.
        let out = ctx.rless(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        if cgroup_of(std::process::id() as i64) == "/" {
            assert!(v["Host"]["CgroupDelegation"].is_null(), "{out}");
            assert!(
                v["Host"]["CgroupLimits"]
                    .as_str()
                    .unwrap()
                    .contains("not applied"),
                "{out}"
            );
        }
    });
}

/// `stats` wherever the tests run (no delegation needed): the source
/// matches what `info` reports, the container's two processes are counted,
/// and bad input is one error line with exit 125.
#[test]
fn cgroup_stats_anywhere() {
    if busybox().is_none() {
        return;
    }
    for_each_user("cgroup_stats_anywhere", |ctx| {
        let bb = busybox().unwrap();
        let dir = ctx.work.join("rootfs");
        for sub in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("bin/busybox"), bb).unwrap();
        fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("busybox", dir.join("bin/sleep")).unwrap();
        ctx.give_tree(&dir);
        ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
        let info: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["info", "--format", "json"]).stdout).unwrap();
        let delegated = !info["Host"]["CgroupDelegation"].is_null();
        let out = ctx.ok(&["run", "-d", "--name", "s", IMG, "sleep", "600"]);
        assert!(
            out.stderr.trim().is_empty(),
            "no limits asked, no warning: {out}"
        );
        let out = ctx.ok(&["stats", "--no-stream", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let s = &v[0];
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{out}");
        assert_eq!(s["Name"], "s", "{out}");
        assert_eq!(
            s["Source"],
            if delegated { "cgroup" } else { "proc" },
            "{out}"
        );
        assert_eq!(s["PIDs"], 2, "the init and sleep: {out}");
        assert!(s["MemUsage"].as_u64().unwrap() > 0, "{out}");
        assert!(
            s["MemLimit"].as_u64().unwrap() >= s["MemUsage"].as_u64().unwrap(),
            "{out}"
        );
        let out = ctx.ok(&["stats", "--no-stream", "s"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "header and one row: {out}");
        assert!(
            lines[0].starts_with("CONTAINER ID") && lines[1].contains(" s "),
            "{out}"
        );

        for bad in [
            &["stats", "--no-stream", "nosuch"][..],
            // Any other --format is a Go template, as docker's: one
            // that does not parse is the error.
            &["stats", "--no-stream", "--format", "{{.Name"],
        ] {
            assert_one_error(&ctx.rless(bad), 125);
        }
        ctx.ok(&["stop", "-t", "0", "s"]);
        let out = ctx.rless(&["stats", "--no-stream", "s"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("not running"), "{out}");
        // Nothing running: just the header.
        let out = ctx.ok(&["stats", "--no-stream"]);
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        ctx.ok(&["rm", "s"]);
    });
}
