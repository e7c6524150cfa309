//! Health checks (docker's HEALTHCHECK and `--health-*`): a passing check
//! makes a container healthy, failing ones (`--health-retries`) unhealthy
//! with their log; a check past its timeout is killed; `rless build`'s
//! HEALTHCHECK (and `commit --change`'s) is the default that
//! `--no-healthcheck` and `--health-cmd` override; `healthcheck run`'s exit codes; `ps`'s status text and
//! `--filter health=`; a restart starts `starting` again, a stop keeps
//! the last health.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, Mode, ERR_EXIT};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// `State.Health` of the container `q` (null without one).
fn health(ctx: &common::Ctx, q: &str) -> Value {
    inspect(ctx, q)["State"]["Health"].clone()
}

/// Waits until the container's health status is `want`; returns the health.
fn wait_health(ctx: &common::Ctx, q: &str, want: &str) -> Value {
    let mut last = Value::Null;
    let ok = eventually(WAIT, || {
        last = health(ctx, q);
        last["Status"] == want
    });
    assert!(ok, "{q} never became {want}: last State.Health {last}");
    last
}

/// The names `ps -a --filter health=V` lists.
fn ps_health(ctx: &common::Ctx, v: &str) -> Vec<String> {
    let f = format!("health={v}");
    let out = ctx.ok(&["ps", "-a", "--filter", &f, "--format", "{{.Names}}"]);
    out.stdout.lines().map(str::to_string).collect()
}

/// The `ps` status text of `name`.
fn ps_status(ctx: &common::Ctx, name: &str) -> String {
    let f = format!("name={name}");
    ctx.ok(&["ps", "-a", "--filter", &f, "--format", "{{.Status}}"])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn healthcheck_healthy_unhealthy_and_ps() {
    if !have_busybox() {
        return;
    }
    for_each_user("healthcheck_healthy_unhealthy_and_ps", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let fast = ["--health-interval", "200ms", "--health-timeout", "10s"];
        let mut opts = vec!["--name", "good", "--health-cmd", "echo fine"];
        opts.extend(fast);
        run_sh(ctx, &opts, FOREVER);
        let mut opts = vec![
            "--name",
            "bad",
            "--health-cmd",
            "echo broken >&2; exit 3",
            "--health-retries",
            "2",
        ];
        opts.extend(fast);
        run_sh(ctx, &opts, FOREVER);
        run_sh(ctx, &["--name", "plain"], FOREVER);

        let h = wait_health(ctx, "good", "healthy");
        assert_eq!(h["FailingStreak"], 0, "{h}");
        let log = h["Log"].as_array().expect("Log");
        assert!(!log.is_empty(), "{h}");
        assert_eq!(log[0]["ExitCode"], 0, "{h}");
        assert_eq!(log[0]["Output"], "fine\n", "{h}");
        assert!(
            log[0]["Start"].as_str().is_some_and(|s| s.ends_with('Z')),
            "{h}"
        );
        let cfg = &inspect(ctx, "good")["Config"]["Healthcheck"];
        assert_eq!(
            cfg["Test"],
            serde_json::json!(["CMD-SHELL", "echo fine"]),
            "{cfg}"
        );
        assert_eq!(cfg["Interval"], 200_000_000u64, "{cfg}");
        assert_eq!(cfg["Timeout"], 10_000_000_000u64, "{cfg}");

        let h = wait_health(ctx, "bad", "unhealthy");
        assert!(h["FailingStreak"].as_u64() >= Some(2), "{h}");
        let last = h["Log"]
            .as_array()
            .and_then(|l| l.last().cloned())
            .expect("Log");
        assert_eq!(last["ExitCode"], 3, "{h}");
        assert_eq!(last["Output"], "broken\n", "stderr is in the output: {h}");
        // The log keeps the last five.
        let ok = eventually(WAIT, || {
            let h = health(ctx, "bad");
            h["FailingStreak"].as_u64() > Some(6) && h["Log"].as_array().map(Vec::len) == Some(5)
        });
        assert!(ok, "the log must keep the last 5: {}", health(ctx, "bad"));

        // No health for a container without a check.
        assert!(health(ctx, "plain").is_null(), "{}", health(ctx, "plain"));
        assert!(inspect(ctx, "plain")["Config"]["Healthcheck"].is_null());

        // ps: status text and filters.
        let s = ps_status(ctx, "good");
        assert!(s.starts_with("Up ") && s.ends_with(" (healthy)"), "{s}");
        let s = ps_status(ctx, "bad");
        assert!(s.ends_with(" (unhealthy)"), "{s}");
        let s = ps_status(ctx, "plain");
        assert!(s.starts_with("Up ") && !s.contains('('), "{s}");
        assert_eq!(ps_health(ctx, "healthy"), ["good"]);
        assert_eq!(ps_health(ctx, "unhealthy"), ["bad"]);
        assert_eq!(ps_health(ctx, "none"), ["plain"]);
        assert!(ps_health(ctx, "starting").is_empty());
        let out = ctx.rless(&["ps", "--filter", "health=fine"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        // Bad options are refused before anything is made.
        for bad in [
            &["--health-interval", "soon"][..],
            &["--no-healthcheck", "--health-cmd", "true"][..],
        ] {
            let mut a = vec!["run", "-d", "--name", "refused"];
            a.extend_from_slice(bad);
            a.extend_from_slice(&[IMG, "true"]);
            let out = ctx.rless(&a);
            assert_eq!(out.code, Some(ERR_EXIT), "{out}");
            assert!(out.stderr.starts_with("rless: "), "{out}");
        }
        assert!(ps_health(ctx, "none").iter().all(|n| n != "refused"));

        // healthcheck run: 0 passes, 1 fails, 125 without a check.
        let out = ctx.rless(&["healthcheck", "run", "good"]);
        assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "{out}");
        let out = ctx.rless(&["healthcheck", "run", "bad"]);
        assert_eq!((out.code, out.stdout.as_str()), (Some(1), ""), "{out}");
        let out = ctx.rless(&["healthcheck", "run", "plain"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        let out = ctx.rless(&["healthcheck", "run", "nosuch"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");

        // A stopped container keeps its last health; checks end.
        ctx.ok(&["stop", "-t", "1", "bad"]);
        let h = health(ctx, "bad");
        assert_eq!(h["Status"], "unhealthy", "{h}");
        let out = ctx.rless(&["healthcheck", "run", "bad"]);
        assert_eq!(out.code, Some(ERR_EXIT), "not running: {out}");
        assert!(ps_status(ctx, "bad").starts_with("Exited"));
    });
}

/// `healthcheck run` records what it finds; a restart is `starting` again.
#[test]
fn healthcheck_run_records_and_restart_starts_again() {
    if !have_busybox() {
        return;
    }
    for_each_user("healthcheck_run_records_and_restart_starts_again", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Checks only on demand: an hour apart.
        let opts = [
            "--name",
            "slow",
            "--health-cmd",
            "test -e /tmp/fail && exit 1; echo ok",
            "--health-interval",
            "1h",
            "--health-retries",
            "1",
        ];
        run_sh(ctx, &opts, FOREVER);
        let h = wait_health(ctx, "slow", "starting");
        assert_eq!(h["Log"], serde_json::json!([]), "{h}");
        let s = ps_status(ctx, "slow");
        assert!(s.ends_with(" (health: starting)"), "{s}");
        assert_eq!(ps_health(ctx, "starting"), ["slow"]);

        ctx.ok(&["healthcheck", "run", "slow"]);
        let h = health(ctx, "slow");
        assert_eq!(h["Status"], "healthy", "{h}");
        ctx.ok(&["exec", "slow", "touch", "/tmp/fail"]);
        let out = ctx.rless(&["healthcheck", "run", "slow"]);
        assert_eq!(out.code, Some(1), "{out}");
        let h = health(ctx, "slow");
        assert_eq!(h["Status"], "unhealthy", "{h}");
        assert_eq!(h["Log"].as_array().map(Vec::len), Some(2), "{h}");

        ctx.ok(&["restart", "-t", "1", "slow"]);
        let h = wait_health(ctx, "slow", "starting");
        assert_eq!(h["FailingStreak"], 0, "{h}");

        // A restart by the policy, under the same monitor, too.
        let opts = [
            "--name",
            "policy",
            "--restart",
            "on-failure",
            "--health-cmd",
            "true",
            "--health-interval",
            "1h",
        ];
        let script = format!(
            "if test -e /tmp/ran; then {FOREVER}; fi; touch /tmp/ran; \
             until test -e /tmp/go; do sleep 0.1; done; exit 1"
        );
        run_sh(ctx, &opts, &script);
        wait_health(ctx, "policy", "starting");
        ctx.ok(&["healthcheck", "run", "policy"]);
        assert_eq!(health(ctx, "policy")["Status"], "healthy");
        ctx.ok(&["exec", "policy", "touch", "/tmp/go"]);
        let ok = eventually(WAIT, || {
            let v = inspect(ctx, "policy");
            v["RestartCount"] == 1 && v["State"]["Health"]["Status"] == "starting"
        });
        assert!(
            ok,
            "not starting after the restart: {}",
            inspect(ctx, "policy")
        );
    });
}

/// A check that outlives `--health-timeout` fails with docker's message
/// and is killed, with what it started: no `sleep` piles up.
#[test]
fn healthcheck_timeout_kills_the_check() {
    if !have_busybox() {
        return;
    }
    for_each_user("healthcheck_timeout_kills_the_check", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // As root in the container, and (with a subordinate range) as
        // another user, whom only the containers' user namespace may kill.
        let mut users = vec![("hang", None)];
        if ctx.user.mode != Mode::Single {
            users.push(("hang-user", Some("1000:1000")));
        }
        for (name, user) in users {
            let mut opts = vec![
                "--name",
                name,
                "--health-cmd",
                "echo started; sleep 4321; echo never",
                "--health-interval",
                "200ms",
                "--health-timeout",
                "300ms",
                "--health-retries",
                "1",
            ];
            if let Some(u) = user {
                opts.extend(["-u", u]);
            }
            run_sh(ctx, &opts, FOREVER);
            let mut last = Value::Null;
            let ok = eventually(WAIT, || {
                last = health(ctx, name);
                last["Log"].as_array().map_or(0, Vec::len) >= 4
            });
            assert!(ok, "no checks: {last}");
            assert_eq!(last["Status"], "unhealthy", "{last}");
            let entry = &last["Log"][0];
            assert_eq!(entry["ExitCode"], -1, "{last}");
            let out = entry["Output"].as_str().unwrap_or_default();
            assert!(out.contains("exceeded timeout (300ms)"), "{last}");
            // At most the check under way has its sleep: the ones before
            // were killed (its shell's line names the sleep too: only
            // the sleeps themselves count). And none is left a zombie: a
            // killed check's shell is reaped (by the `rless exec` that ran
            // it, which ends then), not handed to the host's init, which
            // may never reap it.
            let mut last = String::new();
            let clean = eventually(WAIT, || {
                let out = ctx.ok(&["exec", name, "ps", "-o", "stat,args"]);
                let rows: Vec<(&str, String)> = out
                    .stdout
                    .lines()
                    .skip(1)
                    .filter_map(|l| {
                        let mut w = l.split_whitespace();
                        Some((w.next()?, w.collect::<Vec<_>>().join(" ")))
                    })
                    .collect();
                let sleeps = rows
                    .iter()
                    .filter(|(st, args)| !st.starts_with('Z') && args == "sleep 4321")
                    .count();
                let zombies = rows.iter().filter(|(st, _)| st.starts_with('Z')).count();
                last = out.to_string();
                sleeps <= 1 && zombies == 0
            });
            assert!(
                clean,
                "timed-out checks were left running, or unreaped: {last}"
            );
        }

        // `healthcheck run` kills its check at the timeout too.
        let opts = [
            "--name",
            "once",
            "--health-cmd",
            "sleep 4321",
            "--health-interval",
            "1h",
            "--health-timeout",
            "300ms",
        ];
        run_sh(ctx, &opts, FOREVER);
        let out = ctx.rless(&["healthcheck", "run", "once"]);
        assert_eq!(out.code, Some(1), "{out}");
        let mut last = String::new();
        let gone = eventually(WAIT, || {
            let out = ctx.ok(&["exec", "once", "ps", "-o", "stat,args"]);
            let left = out
                .stdout
                .lines()
                .any(|l| l.contains("sleep 4321") && !l.trim_start().starts_with('Z'));
            last = out.to_string();
            !left
        });
        assert!(gone, "healthcheck run left its check running: {last}");
    });
}

/// `rless build`'s HEALTHCHECK is in the image and used by default;
/// `--health-*` options change it, `--no-healthcheck` and HEALTHCHECK
/// NONE turn it off.
#[test]
fn healthcheck_from_the_image() {
    if !have_busybox() {
        return;
    }
    for_each_user("healthcheck_from_the_image", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.write_file(
            "ctx/Containerfile",
            format!(
                "FROM {IMG}\nHEALTHCHECK --interval=200ms --timeout=5s --retries=2 \\\n  CMD echo from-image\n"
            )
            .as_bytes(),
        );
        let dir = ctx.work.join("ctx").display().to_string();
        ctx.ok(&["build", "-t", "checked", &dir]);
        let img = ctx.ok(&["image", "inspect", "checked"]);
        let v: Value = serde_json::from_str(&img.stdout).expect("json");
        let hc = &v[0]["Config"]["Healthcheck"];
        assert_eq!(
            hc["Test"],
            serde_json::json!(["CMD-SHELL", "echo from-image"]),
            "{hc}"
        );
        assert_eq!(hc["Interval"], 200_000_000u64, "{hc}");
        assert_eq!(hc["Retries"], 2, "{hc}");

        let sh = |name: &str, opts: &[&str]| {
            let mut a = vec!["--name", name];
            a.extend_from_slice(opts);
            a.extend_from_slice(&["checked", "sh", "-c", FOREVER]);
            run_d(ctx, &a);
        };
        sh("img", &[]);
        let h = wait_health(ctx, "img", "healthy");
        assert_eq!(h["Log"][0]["Output"], "from-image\n", "{h}");
        // --health-cmd replaces the command; the image's interval stays.
        sh("over", &["--health-cmd", "echo overridden"]);
        let h = wait_health(ctx, "over", "healthy");
        assert_eq!(h["Log"][0]["Output"], "overridden\n", "{h}");
        sh("off", &["--no-healthcheck"]);
        let cfg = &inspect(ctx, "off")["Config"]["Healthcheck"];
        assert_eq!(cfg["Test"], serde_json::json!(["NONE"]), "{cfg}");
        assert!(health(ctx, "off").is_null());
        assert_eq!(ps_health(ctx, "none"), ["off"]);
        let out = ctx.rless(&["healthcheck", "run", "off"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        // commit --change takes HEALTHCHECK too.
        ctx.ok(&[
            "commit",
            "-c",
            "HEALTHCHECK --retries=4 CMD [\"true\"]",
            "off",
            "committed",
        ]);
        let img = ctx.ok(&["image", "inspect", "committed"]);
        let v: Value = serde_json::from_str(&img.stdout).expect("json");
        let hc = &v[0]["Config"]["Healthcheck"];
        assert_eq!(hc["Test"], serde_json::json!(["CMD", "true"]), "{hc}");
        assert_eq!(hc["Retries"], 4, "{hc}");

        ctx.write_file("ctx/Containerfile", b"FROM checked\nHEALTHCHECK NONE\n");
        ctx.ok(&["build", "-t", "unchecked", &dir]);
        run_d(ctx, &["--name", "none", "unchecked", "sh", "-c", FOREVER]);
        let out = ctx.rless(&["healthcheck", "run", "none"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        assert!(health(ctx, "none").is_null());
    });
}

/// A foreground `run` is its own monitor: its checks run too, and its
/// output and exit are not held up by them (the run ends with its
/// command, its stdout closing with it).
#[test]
fn healthcheck_in_a_foreground_run() {
    if !have_busybox() {
        return;
    }
    for_each_user("healthcheck_in_a_foreground_run", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mut fg = common::background::Background::spawn(
            ctx,
            &[
                "run",
                "--name",
                "fg",
                "--health-cmd",
                "echo fg-check",
                "--health-interval",
                "200ms",
                IMG,
                "sh",
                "-c",
                "echo up; until test -e /tmp/done; do sleep 0.1; done; echo bye",
            ],
        );
        fg.wait_line("up", WAIT);
        let h = wait_health(ctx, "fg", "healthy");
        assert_eq!(h["Log"][0]["Output"], "fg-check\n", "{h}");
        ctx.ok(&["exec", "fg", "touch", "/tmp/done"]);
        let (code, lines) = fg.finish(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{lines:?}");
        assert_eq!(lines, ["up", "bye"]);
        let h = health(ctx, "fg");
        assert_eq!(h["Status"], "healthy", "a stopped container keeps it: {h}");
        assert!(ps_status(ctx, "fg").starts_with("Exited (0)"));
    });
}

/// A `healthcheck run` right after `run -d` stays recorded: the watcher,
/// which comes up after `run -d` has returned, used to put the health back
/// to `starting` when it first saw the container run, undoing the result
/// (a flake of `healthcheck_run_records_and_restart_starts_again` under
/// load). The start's reset is the monitor's, before `run -d` returns.
#[test]
fn healthcheck_run_right_after_run_d_stays() {
    if !have_busybox() {
        return;
    }
    for_each_user("healthcheck_run_right_after_run_d_stays", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        for i in 0..3 {
            let name = format!("early{i}");
            let opts = [
                "--name",
                &name,
                "--health-cmd",
                "true",
                "--health-interval",
                "1h",
            ];
            let id = run_sh(ctx, &opts, FOREVER);
            ctx.ok(&["healthcheck", "run", &name]);
            // Once its watcher runs, and a while after (it reset the health
            // as it first looked at the state).
            let watching = eventually(WAIT, || {
                host_processes().iter().any(|p| {
                    p.args.iter().any(|a| a == "watch") && p.args.iter().any(|a| a.contains(&id))
                })
            });
            assert!(watching, "no health watcher for {name}");
            std::thread::sleep(Duration::from_millis(500));
            let h = health(ctx, &name);
            assert_eq!(h["Status"], "healthy", "round {i}: {h}");
        }
    });
}
