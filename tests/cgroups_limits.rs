//! The rest of docker's limit flags on a delegated cgroup v2 subtree
//! (`--cpu-period`/`--cpu-quota`, `--cpuset-cpus`/`--cpuset-mems`,
//! `--memory-reservation`, `--blkio-weight`, `--device-read-bps`…), what
//! `inspect` shows of them, `rless update` changing a running container's
//! cgroup and a stopped one's record, and bad values refused before a
//! container exists. The subtree is set up as `cgroups.rs` describes.
//!
//! cpu and pids are there wherever these tests run ([`test_parent`] skips
//! otherwise). cpuset, io and memory may be kept on cgroup v1 by the host
//! (tests/run.sh names them in RLESS_TEST_CGROUP_REFUSED): their flags are
//! then checked to give their one warning line instead of their files.

mod common;

use common::cgroup_helpers::*;
use common::checks::*;
use common::Out;

/// Started with `flags` for a controller that is not delegated: one
/// warning naming each flag and the controller.
fn assert_warns(out: &Out, flags: &[&str], controller: &str) {
    assert!(out.success(), "{out}");
    let lines = stderr_lines(out);
    assert_eq!(lines.len(), 1, "one warning line: {out}");
    assert!(
        lines[0].starts_with("rless: warning:")
            && flags.iter().all(|f| lines[0].contains(f))
            && lines[0].contains(&format!("the {controller} controller")),
        "{out}"
    );
}

/// Each flag reaches its cgroup file (or, where the controller is kept
/// from v2, its one warning), and inspect shows it under docker's name.
#[test]
fn cgroup_more_limits_applied() {
    for_each_delegated("cgroup_more_limits_applied", "l", |ctx, d, cli| {
        // cpu.max from period and quota.
        let out = run_sleeper(
            ctx,
            cli,
            &[
                "--name",
                "q",
                "--cpu-period",
                "50000",
                "--cpu-quota",
                "20000",
            ],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        assert_eq!(
            read(&d.container(out.last_line()).join("cpu.max")),
            "20000 50000"
        );
        let h = host_config(ctx, cli, "q");
        assert_eq!(h["CpuPeriod"], 50000, "{h}");
        assert_eq!(h["CpuQuota"], 20000, "{h}");
        assert_eq!(h["NanoCpus"], 0, "{h}");
        rm_f(ctx, cli, "q");

        // cpuset.
        let out = run_sleeper(
            ctx,
            cli,
            &["--name", "c", "--cpuset-cpus", "0", "--cpuset-mems", "0"],
        );
        if d.has("cpuset") {
            assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
            let cg = d.container(out.last_line());
            assert_eq!(read(&cg.join("cpuset.cpus")), "0");
            assert_eq!(read(&cg.join("cpuset.mems")), "0");
            assert_eq!(read(&cg.join("cpuset.cpus.effective")), "0");
        } else {
            assert_warns(&out, &["--cpuset-cpus", "--cpuset-mems"], "cpuset");
        }
        let h = host_config(ctx, cli, "c");
        assert_eq!(h["CpusetCpus"], "0", "{h}");
        assert_eq!(h["CpusetMems"], "0", "{h}");
        rm_f(ctx, cli, "c");

        // io: the weight, and a read limit on a block device.
        let opts = [
            "--name",
            "b",
            "--blkio-weight",
            "300",
            "--device-read-bps",
            "/dev/loop0:1mb",
            "--device-write-iops",
            "/dev/loop0:100",
        ];
        let out = run_sleeper(ctx, cli, &opts);
        if d.has("io") {
            assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
            let cg = d.container(out.last_line());
            let weight = if cg.join("io.bfq.weight").exists() {
                read(&cg.join("io.bfq.weight"))
            } else {
                read(&cg.join("io.weight"))
            };
            assert!(
                weight == "default 300" || weight == "default 2930",
                "{weight}"
            );
            let max = read(&cg.join("io.max"));
            assert!(
                max.contains("rbps=1048576") && max.contains("wiops=100"),
                "{max}"
            );
        } else {
            assert_warns(&out, &["--blkio-weight", "--device-read-bps"], "io");
        }
        let h = host_config(ctx, cli, "b");
        assert_eq!(h["BlkioWeight"], 300, "{h}");
        assert_eq!(
            h["BlkioDeviceReadBps"],
            serde_json::json!([{"Path": "/dev/loop0", "Rate": 1048576}]),
            "{h}"
        );
        assert_eq!(
            h["BlkioDeviceWriteIOps"],
            serde_json::json!([{"Path": "/dev/loop0", "Rate": 100}]),
            "{h}"
        );
        rm_f(ctx, cli, "b");

        // memory.low.
        let out = run_sleeper(ctx, cli, &["--name", "r", "--memory-reservation", "32m"]);
        if d.has("memory") {
            assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
            assert_eq!(
                read(&d.container(out.last_line()).join("memory.low")),
                (32u64 << 20).to_string()
            );
        } else {
            assert_warns(&out, &["--memory-reservation"], "memory");
        }
        assert_eq!(host_config(ctx, cli, "r")["MemoryReservation"], 32u64 << 20);
        rm_f(ctx, cli, "r");

        // Bad values and v1-only flags: one line, 125, nothing made.
        for bad in [
            &["--cpuset-cpus", "0-99999"][..],
            &["--cpuset-cpus", "one"],
            &["--cpuset-mems", "7-3"],
            &["--cpu-period", "10"],
            &["--cpu-quota", "10"],
            &["--cpus", "1", "--cpu-quota", "50000"],
            &["--memory-reservation", "1m"],
            &["--memory", "64m", "--memory-reservation", "128m"],
            &["--kernel-memory", "64m"],
            &["--cpu-rt-runtime", "950000"],
            &["--cpu-rt-period", "1000000"],
            &["--blkio-weight", "5"],
            &["--blkio-weight-device", "/dev/loop0:2000"],
            &["--device-read-bps", "/dev/null:1mb"],
            &["--device-write-bps", "/dev/loop0"],
            &["--device-read-iops", "/dev/loop0:many"],
        ] {
            let out = assert_run_refused(ctx, d, cli, bad);
            assert!(out.stderr.contains(bad[bad.len() - 2]), "{bad:?}: {out}");
        }
    });
}

/// `update` rewrites a running container's cgroup files and what inspect
/// shows; a limit set to 0 is lifted; a stopped container's record changes
/// and its next start uses it, as does a restart by the monitor. Unknown containers, bad values and a
/// container without a cgroup: one line, exit 125, nothing changed.
#[test]
fn cgroup_update() {
    for_each_delegated("cgroup_update", "u", |ctx, d, cli| {
        let out = run_sleeper(
            ctx,
            cli,
            &["--name", "web", "--pids-limit", "20", "--cpus", "0.5"],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        let cg = d.container(out.last_line());
        assert_eq!(read(&cg.join("pids.max")), "20");

        let out = rless_quiet(
            ctx,
            cli,
            &[
                "update",
                "--pids-limit",
                "30",
                "--cpus",
                "1",
                "--cpu-shares",
                "512",
                "web",
            ],
        );
        assert_eq!(out.stdout.trim(), "web");
        assert_eq!(read(&cg.join("pids.max")), "30");
        assert_eq!(read(&cg.join("cpu.max")), "100000 100000");
        assert_eq!(read(&cg.join("cpu.weight")), "20");
        let h = host_config(ctx, cli, "web");
        assert_eq!(h["PidsLimit"], 30, "{h}");
        assert_eq!(h["NanoCpus"], 1_000_000_000i64, "{h}");
        assert_eq!(h["CpuShares"], 512, "{h}");

        // --cpus 0 lifts the limit; the others stay.
        let out = rless_in(ctx, cli, &["update", "--cpus", "0", "web"]);
        assert!(out.success(), "{out}");
        assert_eq!(read(&cg.join("cpu.max")), "max 100000");
        assert_eq!(read(&cg.join("pids.max")), "30");

        if d.has("cpuset") {
            let out = rless_in(ctx, cli, &["update", "--cpuset-cpus", "0", "web"]);
            assert!(out.success(), "{out}");
            assert_eq!(read(&cg.join("cpuset.cpus")), "0");
            let out = rless_in(ctx, cli, &["update", "--cpuset-cpus", "0-4095", "web"]);
            assert_one_error(&out, 125);
            assert!(out.stderr.contains("not available"), "{out}");
            assert_eq!(read(&cg.join("cpuset.cpus")), "0");
        }

        // Bad input: nothing changes.
        for bad in [
            &["update", "--pids-limit", "many", "web"][..],
            &["update", "--cpu-quota", "5", "web"],
            &["update", "--pids-limit", "5", "nosuchctr"],
            &["update", "web"],
        ] {
            let out = rless_in(ctx, cli, bad);
            assert_one_error(&out, 125);
            assert_eq!(read(&cg.join("pids.max")), "30", "{bad:?}");
        }
        assert_eq!(host_config(ctx, cli, "web")["PidsLimit"], 30);

        // Stopped: the record changes, the next start uses it.
        assert!(rless_in(ctx, cli, &["stop", "-t", "0", "web"]).success());
        rless_quiet(ctx, cli, &["update", "--pids-limit", "40", "web"]);
        assert_eq!(host_config(ctx, cli, "web")["PidsLimit"], 40);
        assert!(rless_in(ctx, cli, &["start", "web"]).success());
        assert_eq!(read(&cg.join("pids.max")), "40");
        rm_f(ctx, cli, "web");

        // A restart by the monitor takes the updated limits, not those the
        // monitor started with.
        let script = "test -e /tmp/again && exec sleep 600; touch /tmp/again; \
                      while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 1";
        let out = rless_in(
            ctx,
            cli,
            &[
                "run",
                "-d",
                "--name",
                "rs",
                "--restart",
                "on-failure:1",
                "--pids-limit",
                "20",
                IMG,
                "sh",
                "-c",
                script,
            ],
        );
        assert!(out.success(), "{out}");
        let cg = d.container(out.last_line());
        let out = rless_in(ctx, cli, &["update", "--pids-limit", "25", "rs"]);
        assert!(out.success(), "{out}");
        assert_eq!(read(&cg.join("pids.max")), "25");
        assert!(rless_in(ctx, cli, &["exec", "rs", "touch", "/tmp/go"]).success());
        let restarted = (0..600).any(|_| {
            let out = rless_in(
                ctx,
                cli,
                &[
                    "inspect",
                    "-f",
                    "{{.RestartCount}} {{.State.Running}}",
                    "rs",
                ],
            );
            if out.stdout.trim() == "1 true" {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        });
        assert!(restarted, "rs was not restarted");
        assert_eq!(read(&cg.join("pids.max")), "25", "the restart's cgroup");
        rm_f(ctx, cli, "rs");

        // Running without a cgroup: refused, with the reason.
        let out = run_sleeper(ctx, cli, &["--name", "plain", "--cgroups=disabled"]);
        assert!(out.success(), "{out}");
        let out = rless_in(ctx, cli, &["update", "--pids-limit", "9", "plain"]);
        assert_one_error(&out, 125);
        assert!(
            out.stderr.contains("without a cgroup") && out.stderr.contains("--cgroups=disabled"),
            "{out}"
        );
        rm_f(ctx, cli, "plain");
    });
}
