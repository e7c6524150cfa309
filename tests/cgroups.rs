//! cgroup v2 limits, for real: a delegated subtree set up here as root
//! (what systemd's `Delegate=yes` or a site admin does), rless run as the
//! test user from inside it, and the kernel's own files checked.
//!
//! `tests/run.sh` (with CI=true or RLESS_TEST_CGROUP2=1) frees the cgroup
//! v1 controllers nothing uses and exports RLESS_TEST_CGROUP, a cgroup with
//! them enabled; each scenario makes `RLESS_TEST_CGROUP/<test>-<user>-<pid>`
//! owned by the test user (the directory, cgroup.procs,
//! cgroup.subtree_control and cgroup.threads) and starts every rless
//! command from a process root first moved into it (`sh -c 'echo $$ >
//! …/cgroup.procs; exec setpriv …'`). Without RLESS_TEST_CGROUP, as root,
//! the scenarios use `<cgroup2 mount>/rless-test` with whatever controllers
//! the host already hands to cgroup v2.
//!
//! What cannot be set up is said (SKIP), and fails under RLESS_MUST_WORK=1,
//! except one documented case: the memory controller bound to a cgroup v1
//! hierarchy that has child cgroups (this machine's sandbox uses it), where
//! `--memory` is checked to give its one warning instead.
//!
//! This file: limits applied (`--pids-limit`, `--cpus`, `--cpu-shares`) and
//! `--memory`, `--cgroups=required` and bad input. Delegation without a
//! leaf, `info` and `stats` are in `cgroups_delegation.rs`.
//! Shared helpers and constants are in `common::cgroup_helpers`.

mod common;

use common::cgroup_helpers::*;
use common::checks::*;
use common::skip;
use std::fs;

// ------------------------------------------------------------------ tests

/// --pids-limit stops a fork bomb at the limit, --cpus and --cpu-shares
/// are written as crun writes them, every process of the container (and of
/// `exec`) is in its cgroup and the monitor is not, stats reads the
/// cgroup, and the cgroup goes with the container.
#[test]
fn cgroup_limits_applied() {
    for_each_delegated("cgroup_limits_applied", "a", |ctx, d, cli| {
        // The fork bomb: the inner shell counts the sleeps it started until
        // fork fails. The limit counts the init, both shells and the sleeps.
        let bomb = "i=0; while [ $i -lt 100 ]; do sleep 600 & i=$((i+1)); echo started=$i; done";
        let script = format!("sh -c '{bomb}'; echo bomb-exit=$?");
        let out = rless_in(
            ctx,
            cli,
            &[
                "run",
                "--rm",
                "--pids-limit",
                "20",
                IMG,
                "sh",
                "-c",
                &script,
            ],
        );
        assert!(out.success(), "{out}");
        assert!(
            out.stderr.contains("can't fork"),
            "fork failed inside: {out}"
        );
        let started: Vec<u32> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("started=")?.parse().ok())
            .collect();
        assert_eq!(
            started.last().copied().map(|n| n + 3),
            Some(20),
            "20 tasks: the init, two shells and 17 sleeps: {out}"
        );
        assert!(out.stdout.contains("bomb-exit=2"), "{out}");
        assert!(
            stderr_lines(&out).iter().all(|l| !l.starts_with("rless")),
            "{out}"
        );
        assert_eq!(d.tree(), ["cli"], "the cgroup went with --rm");

        // A limit that is not reached changes nothing.
        rless_quiet(
            ctx,
            cli,
            &["run", "--rm", "--pids-limit", "20", IMG, "true"],
        );

        // Detached, with CPU limits: the files, the processes, stats.
        let out = run_sleeper(
            ctx,
            cli,
            &["--name", "web", "--cpus", "0.5", "--cpu-shares", "512"],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        let id = out.last_line().to_string();
        let cg = d.container(&id);
        assert_eq!(read(&cg.join("cpu.max")), "50000 100000");
        assert_eq!(
            read(&cg.join("cpu.weight")),
            "20",
            "crun's conversion of 512"
        );
        assert_eq!(read(&cg.join("pids.max")), "max");
        let st = state(ctx, &id);
        assert_eq!(st["cgroup"].as_str(), Some(cg.to_str().unwrap()), "{st}");
        let init = st["pid"].as_i64().unwrap();
        let monitor = st["monitor_pid"].as_i64().unwrap();
        let rel = cgroup_path(&cg);
        let pids = namespace_pids(init);
        assert_eq!(pids.len(), 2, "the init and sleep: {pids:?}");
        for p in &pids {
            assert_eq!(
                cgroup_of(*p),
                rel,
                "process {p} is in the container's cgroup"
            );
        }
        assert_ne!(cgroup_of(monitor), rel, "the monitor stays outside");
        let mut procs: Vec<i64> = words(&cg.join("cgroup.procs"))
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        procs.sort();
        let mut sorted = pids.clone();
        sorted.sort();
        assert_eq!(procs, sorted, "cgroup.procs holds exactly the container");

        let s = stats_json(ctx, cli, "web");
        assert_eq!(s["Source"], "cgroup", "{s}");
        assert_eq!(s["Cgroup"].as_str(), Some(cg.to_str().unwrap()), "{s}");
        assert_eq!(s["PIDs"], 2, "{s}");
        assert_eq!(s["Name"], "web", "{s}");

        // exec joins the cgroup too.
        let out = rless_in(ctx, cli, &["exec", "-d", "web", "sleep", "500"]);
        assert!(out.success(), "{out}");
        assert_eq!(read(&cg.join("pids.current")), "3");
        assert_eq!(stats_json(ctx, cli, "web")["PIDs"], 3);
        let out = rless_in(ctx, cli, &["stats", "--no-stream"]);
        assert!(out.success(), "{out}");
        assert!(
            out.stdout.lines().next().unwrap_or("").contains("PIDS")
                && out.stdout.lines().any(|l| l.contains("web")),
            "{out}"
        );

        rm_f(ctx, cli, "web");
        assert!(!cg.exists(), "rm removes the cgroup");

        // create, then start: the cgroup is made at each start.
        let out = rless_in(
            ctx,
            cli,
            &[
                "create",
                "--pids-limit",
                "7",
                IMG,
                "cat",
                "/proc/self/cgroup",
            ],
        );
        assert!(out.success(), "{out}");
        let id = out.last_line().to_string();
        for _ in 0..2 {
            let out = rless_in(ctx, cli, &["start", "-a", &id]);
            assert!(out.stdout.contains(&format!("/rless-{id}")), "{out}");
        }
        assert!(rless_in(ctx, cli, &["rm", &id]).success());
        assert_eq!(d.tree(), ["cli"]);

        // A monitor killed hard leaves its cgroup; rm takes it away.
        let out = run_sleeper(ctx, cli, &["--pids-limit", "9"]);
        assert!(out.success(), "{out}");
        let id = out.last_line().to_string();
        let cg = d.container(&id);
        let monitor = state(ctx, &id)["monitor_pid"].as_i64().unwrap();
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(monitor as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
        let out = rless_in(ctx, cli, &["wait", &id]);
        assert!(out.success(), "{out}");
        assert!(
            cg.exists(),
            "the killed monitor could not remove {}",
            cg.display()
        );
        let out = rless_in(ctx, cli, &["rm", &id]);
        assert!(out.success(), "{out}");
        assert!(!cg.exists(), "rm removes the leftover cgroup");
        assert_eq!(d.tree(), ["cli"]);
    });
}

/// --memory: applied where the memory controller is delegated, else one
/// warning naming it (the documented case: memory bound to a v1 hierarchy
/// in use); --cgroups=required then fails and leaves nothing. Bad values
/// and --cgroup-parent.
#[test]
fn cgroup_memory_required_and_bad_input() {
    for_each_delegated(
        "cgroup_memory_required_and_bad_input",
        "m",
        |ctx, d, cli| {
            if d.has("memory") {
                let out = run_sleeper(ctx, cli, &["--memory", "64m", "--memory-swap", "96m"]);
                assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
                let cg = d.container(out.last_line());
                assert_eq!(read(&cg.join("memory.max")), (64u64 << 20).to_string());
                if cg.join("memory.swap.max").exists() {
                    assert_eq!(read(&cg.join("memory.swap.max")), (32u64 << 20).to_string());
                }
                let s = stats_json(ctx, cli, out.last_line());
                assert_eq!(s["MemLimit"], 64u64 << 20, "{s}");
                rm_f(ctx, cli, out.last_line());
            } else {
                let why = "the memory controller is not delegated here: \
                           it is bound to a cgroup v1 hierarchy in use";
                if !v1_in_use("memory") {
                    skip(&format!(
                        "memory is neither delegated nor in use by cgroup v1 ({})",
                        d.dir.display()
                    ));
                }
                eprintln!(
                    "NOTE cgroup_memory_required_and_bad_input: {why}; \
                     checking the warning instead"
                );
                let out = rless_in(
                    ctx,
                    cli,
                    &[
                        "run",
                        "--rm",
                        "--memory",
                        "64m",
                        "--pids-limit",
                        "50",
                        IMG,
                        "cat",
                        "/proc/self/cgroup",
                    ],
                );
                assert!(out.success(), "{out}");
                let lines = stderr_lines(&out);
                assert_eq!(lines.len(), 1, "one warning line: {out}");
                assert!(
                    lines[0].starts_with("rless: warning: --memory not applied:")
                        && lines[0].contains("memory controller")
                        && lines[0].contains("v1")
                        && !lines[0].contains("--pids-limit")
                        && !lines[0].contains("--memory-swap"),
                    "names --memory only, and why: {out}"
                );
                assert!(
                    out.stdout.contains("/rless-"),
                    "the pids limit still applied in a cgroup: {out}"
                );

                let out =
                    assert_run_refused(ctx, d, cli, &["--cgroups=required", "--memory", "64m"]);
                assert!(
                    out.stderr.contains("--memory") && out.stderr.contains("required"),
                    "{out}"
                );
                assert_eq!(d.tree(), ["cli"], "no cgroup left: {out}");
            }
            // required with what is there: fine, silent.
            rless_quiet(
                ctx,
                cli,
                &[
                    "run",
                    "--rm",
                    "--cgroups=required",
                    "--pids-limit",
                    "30",
                    "--cpus",
                    "1",
                    IMG,
                    "true",
                ],
            );
            // disabled: no cgroup at all, stats from /proc.
            let out = run_sleeper(
                ctx,
                cli,
                &["--name", "plain", "--cgroups=disabled", "--pids-limit", "5"],
            );
            assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
            assert_eq!(d.tree(), ["cli"], "--cgroups=disabled makes none");
            let s = stats_json(ctx, cli, "plain");
            assert_eq!(s["Source"], "proc", "{s}");
            assert_eq!(s["PIDs"], 2, "{s}");
            assert!(s["Cgroup"].is_null(), "{s}");
            rm_f(ctx, cli, "plain");

            // --cgroup-parent: relative to the delegated subtree, or absolute
            // inside it; the parent stays, the container's cgroup goes.
            let abs = format!("{}/abs", cgroup_path(&d.dir));
            for (p, dir) in [
                ("sub/inner", d.dir.join("sub/inner")),
                (abs.as_str(), d.dir.join("abs")),
            ] {
                let out = rless_quiet(
                    ctx,
                    cli,
                    &[
                        "run",
                        "--rm",
                        "--cgroup-parent",
                        p,
                        "--pids-limit",
                        "7",
                        IMG,
                        "cat",
                        "/proc/self/cgroup",
                    ],
                );
                let rel = cgroup_path(&dir);
                assert!(
                    out.stdout.contains(&format!("0::{rel}/rless-")),
                    "under {p}: {out}"
                );
                assert!(dir.is_dir(), "the parent stays");
                assert_eq!(
                    fs::read_dir(&dir)
                        .unwrap()
                        .flatten()
                        .filter(|e| e.path().is_dir())
                        .count(),
                    0
                );
            }

            for bad in [
                &["--memory", "lots"][..],
                &["--memory", "1m"],
                &["--memory-swap", "1g"],
                &["--memory", "64m", "--memory-swap", "32m"],
                &["--cpus", "999"],
                &["--cpus", "half"],
                &["--cpu-shares", "-3"],
                &["--pids-limit", "many"],
                &["--cgroup-parent", "../escape"],
                &["--cgroup-parent", "/elsewhere"],
                &["--cgroups", "sometimes"],
            ] {
                assert_run_refused(ctx, d, cli, bad);
            }
        },
    );
}
