//! Container lifecycle, the basics: `run -d`, `ps`, `logs` (and `-f`).
//! `inspect`, the `ps` filters and names and bad input are in
//! `lifecycle_inspect.rs`, the other lifecycle verbs in
//! `lifecycle_control.rs`, `exec` in
//! `lifecycle_exec.rs`, killed monitors and many containers in
//! `lifecycle_robustness.rs`.
//!
//! Every scenario builds a small busybox root filesystem in its work dir
//! and imports it (`rless import DIR bb`), so no registry is needed.
//! Shared helpers and constants are in `common::lifecycle_helpers`.

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::fs;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ run -d, ps, logs

#[test]
fn lifecycle_run_detached_ps_logs() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_run_detached_ps_logs", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Output spaced out so stdout and stderr lines land in a known order.
        let script = format!(
            "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; sleep 0.2; \
             echo err2 >&2; sleep 0.2; echo early-done; \
             trap 'echo late-out; echo late-err >&2' USR1; {FOREVER}"
        );
        let started = Instant::now();
        let id = run_sh(ctx, &["--name", "web"], &script);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "run -d must return once the command runs"
        );
        assert_eq!(containers(ctx), vec![id.clone()], "one container dir");

        // ps: "Up", the short id, the name.
        let out = ctx.ok(&["ps"]);
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&id[..12]))
            .unwrap_or_else(|| panic!("ps must list {}: {out}", &id[..12]));
        assert!(row.contains(" Up "), "ps must show the container Up: {out}");
        assert!(
            row.trim_end().ends_with("web"),
            "ps row must end with the name: {out}"
        );
        assert!(
            out.stdout.lines().next().unwrap().contains("CONTAINER ID"),
            "ps must print a header: {out}"
        );

        // logs: stdout to stdout, stderr to stderr, in order.
        wait_log(ctx, "web", "early-done");
        let out = ctx.ok(&["logs", "web"]);
        assert_eq!(out.stdout, "out1\nout2\nearly-done\n", "logs stdout: {out}");
        assert_eq!(out.stderr, "err1\nerr2\n", "logs stderr: {out}");
        // The same by id and id prefix.
        let by_id = ctx.ok(&["logs", &id]);
        assert_eq!(
            (by_id.stdout.as_str(), by_id.stderr.as_str()),
            (out.stdout.as_str(), out.stderr.as_str())
        );
        let by_prefix = ctx.ok(&["logs", &id[..8]]);
        assert_eq!(by_prefix.stdout, out.stdout, "{by_prefix}");

        // The log file itself: k8s-file lines.
        let log = fs::read_to_string(container_dir(ctx, &id).join("ctr.log")).unwrap();
        let kinds: Vec<(String, String, String)> = log
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, ' ').collect();
                assert_eq!(f.len(), 4, "bad ctr.log line {l:?}");
                (f[1].to_string(), f[2].to_string(), f[3].to_string())
            })
            .collect();
        assert!(
            kinds.contains(&("stderr".into(), "F".into(), "err1".into()))
                && kinds.contains(&("stdout".into(), "F".into(), "out1".into())),
            "ctr.log must be in k8s-file format: {log}"
        );

        // --tail
        let out = ctx.ok(&["logs", "--tail", "1", "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("early-done\n", ""),
            "--tail 1: {out}"
        );
        let out = ctx.ok(&["logs", "--tail", "2", "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("early-done\n", "err2\n"),
            "--tail 2: {out}"
        );
        let out = ctx.ok(&["logs", "-n", "0", "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("", ""),
            "--tail 0: {out}"
        );
        let out = ctx.ok(&["logs", "--tail", "100", "web"]);
        assert_eq!(out.stdout, "out1\nout2\nearly-done\n", "--tail 100: {out}");

        // -t: an RFC 3339 time stamp in front of every line, on both streams.
        let out = ctx.ok(&["logs", "-t", "web"]);
        let now = now_secs();
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(!text.is_empty(), "logs -t {stream} is empty: {out}");
            for l in text.lines() {
                let (ts, rest) = l.split_once(' ').unwrap_or_else(|| {
                    panic!("logs -t {stream} line without a time stamp: {l:?}: {out}")
                });
                assert!(
                    ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
                    "logs -t: {ts:?} is not an RFC 3339 UTC time stamp: {out}"
                );
                let t = parse_time(ts).unwrap_or_else(|| panic!("unparsable time {ts:?}"));
                assert!(
                    (now - 120..=now + 5).contains(&t),
                    "logs -t time stamp {ts:?} is not about now ({now}): {out}"
                );
                assert!(!rest.is_empty(), "{out}");
            }
        }
        let plain: Vec<String> = out
            .stdout
            .lines()
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect();
        assert_eq!(plain, ["out1", "out2", "early-done"], "{out}");

        // --since: a unix time and an RFC 3339 time between the early and
        // the late lines, a relative duration.
        let early = ctx.ok(&["logs", "-t", "--tail", "1", "web"]);
        let early_ts = parse_time(early.stdout.split_whitespace().next().unwrap()).unwrap();
        // The next whole second after the early output.
        assert!(
            eventually(Duration::from_secs(30), || now_secs() > early_ts + 1),
            "clock"
        );
        let cut = now_secs();
        ctx.ok(&["kill", "-s", "USR1", "web"]);
        wait_log(ctx, "web", "late-err");
        wait_log(ctx, "web", "late-out");
        for since in [cut.to_string(), rfc3339(cut)] {
            let out = ctx.ok(&["logs", "--since", &since, "web"]);
            assert_eq!(
                (out.stdout.as_str(), out.stderr.as_str()),
                ("late-out\n", "late-err\n"),
                "--since {since} (the early lines are from {early_ts}): {out}"
            );
        }
        let out = ctx.ok(&["logs", "--since", "1h", "web"]);
        assert_eq!(
            out.stdout, "out1\nout2\nearly-done\nlate-out\n",
            "--since 1h: {out}"
        );
        assert_eq!(out.stderr, "err1\nerr2\nlate-err\n", "--since 1h: {out}");
        let future = (now_secs() + 3600).to_string();
        let out = ctx.ok(&["logs", "--since", &future, "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("", ""),
            "--since the future: {out}"
        );
        // docker's other forms: Go durations, dates, times without a zone
        // (local: TZ two hours east here) or with a fraction, fractional
        // unix seconds; and --until with the same forms.
        let (all_out, all_err) = (
            "out1\nout2\nearly-done\nlate-out\n",
            "err1\nerr2\nlate-err\n",
        );
        let (early_out, early_err) = ("out1\nout2\nearly-done\n", "err1\nerr2\n");
        let local = |secs: i64| rfc3339(secs + 7200).trim_end_matches('Z').to_string();
        let half = format!("{}.5", cut - 1);
        let half_rfc = rfc3339(cut - 1).replace('Z', ".5Z");
        let half_local = format!("{}.5", local(cut - 1));
        let yesterday = rfc3339(now_secs() - 86400)[..10].to_string();
        let cases: Vec<(&str, String, (&str, &str))> = vec![
            ("--since", "1h30m".into(), (all_out, all_err)),
            ("--since", "1.5h".into(), (all_out, all_err)),
            ("--since", "5400s".into(), (all_out, all_err)),
            ("--since", yesterday.clone(), (all_out, all_err)),
            ("--since", local(cut), ("late-out\n", "late-err\n")),
            ("--since", half.clone(), ("late-out\n", "late-err\n")),
            ("--since", half_rfc.clone(), ("late-out\n", "late-err\n")),
            ("--since", half_local.clone(), ("late-out\n", "late-err\n")),
            ("--until", cut.to_string(), (early_out, early_err)),
            ("--until", local(cut), (early_out, early_err)),
            ("--until", half_rfc, (early_out, early_err)),
            ("--until", yesterday, ("", "")),
            ("--until", "-1h".into(), (all_out, all_err)),
        ];
        for (flag, value, want) in &cases {
            let mut c = ctx.rless_cmd(&["logs", flag, value, "web"]);
            c.env("TZ", "<+02>-2");
            let out = common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert_eq!(
                (out.stdout.as_str(), out.stderr.as_str()),
                *want,
                "{flag} {value} (the late lines are from {cut}): {out}"
            );
        }
        let out = ctx.ok(&["logs", "--since", &half, "--until", "0s", "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("late-out\n", "late-err\n"),
            "{out}"
        );
        // Relative: wait until the first late lines are well over 3 s old.
        assert!(eventually(Duration::from_secs(10), || now_secs() >= cut + 6));
        ctx.ok(&["kill", "-s", "USR1", "web"]);
        let out = wait_log(ctx, "web", "late-out\nlate-out");
        let _ = out;
        wait_log(ctx, "web", "late-err\nlate-err");
        let out = ctx.ok(&["logs", "--since", "3s", "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("late-out\n", "late-err\n"),
            "--since 3s must show only the second late lines: {out}"
        );

        // Still running after all that.
        let st = inspect(ctx, "web");
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        ctx.ok(&["stop", "web"]);
        // Logs of an exited container still work.
        let out = ctx.ok(&["logs", "--tail", "2", "web"]);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("late-out\n", "late-err\n"),
            "{out}"
        );

        // --rm with -d: removed once it exits.
        let rm_id = run_sh(ctx, &["--rm"], "echo bye");
        assert!(
            eventually(Duration::from_secs(10), || !container_dir(ctx, &rm_id)
                .exists()),
            "run -d --rm: the container dir must go once the command exits"
        );
        let out = ctx.rless(&["inspect", &rm_id]);
        out.assert_rless_error();
    });
}

#[test]
fn lifecycle_run_detached_start_errors() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_run_detached_start_errors", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        for (cmd, code) in [
            ("no-such-command", 127),
            ("/no/such/file", 127),
            ("/bin", 126),
            ("/etc/passwd", 126),
        ] {
            for rm in [false, true] {
                let mut a = vec!["run", "-d"];
                if rm {
                    a.push("--rm");
                }
                a.extend_from_slice(&[IMG, cmd]);
                let out = ctx.rless(&a);
                assert_one_error(&out, code);
                assert!(
                    out.stdout.trim().is_empty(),
                    "no id for a failed start: {out}"
                );
                let left = containers(ctx);
                assert!(
                    left.is_empty(),
                    "a failed run -d left a container: {left:?}: {out}"
                );
            }
        }
        let out = ctx.rless(&["run", "-d", "--pull=never", "no-such-image", "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(containers(ctx).is_empty());
        // A command that exits at once is still a container, exited.
        let id = run_d(ctx, &[IMG, "sh", "-c", "exit 4"]);
        let out = ctx.ok(&["wait", &id]);
        assert_eq!(out.stdout, "4\n", "{out}");
        let rows = ps_json(ctx, &["-a"]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["State"], "exited", "{rows:?}");
        assert!(
            rows[0]["Status"]
                .as_str()
                .unwrap()
                .starts_with("Exited (4) "),
            "{rows:?}"
        );
        assert!(
            ps_json(ctx, &[]).is_empty(),
            "ps without -a lists only running ones"
        );
    });
}

#[test]
fn lifecycle_logs_follow() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_logs_follow", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "f"],
            "trap 'echo usr1-line' USR1; trap 'echo bye; exit 0' TERM; echo before; \
             while true; do sleep 0.1; done",
        );
        wait_log(ctx, "f", "before");
        let mut bg = Background::spawn(ctx, &["logs", "-f", &id]);
        bg.wait_line("before", Duration::from_secs(20));
        ctx.ok(&["kill", "-s", "USR1", "f"]);
        bg.wait_line("usr1-line", Duration::from_secs(20));
        ctx.ok(&["kill", "-s", "USR1", "f"]);
        bg.wait_line("usr1-line", Duration::from_secs(20));
        // Still following.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            bg.running(),
            "logs -f must keep running while the container runs"
        );
        ctx.ok(&["stop", "f"]);
        let stderr = bg.stderr.clone();
        let (code, lines) = bg.finish(Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
        assert_eq!(
            code,
            Some(0),
            "logs -f must end with 0 once the container stops: {lines:?} {stderr}"
        );
        assert_eq!(
            lines,
            ["before", "usr1-line", "usr1-line", "bye"],
            "logs -f output (each line once, the last one included); stderr {stderr}"
        );
        // -f on an exited container returns at once.
        let t = Instant::now();
        let out = ctx.ok(&["logs", "-f", "f"]);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "logs -f of an exited container must return"
        );
        assert_eq!(out.stdout, "before\nusr1-line\nusr1-line\nbye\n", "{out}");
        // -f --tail 1
        let out = ctx.ok(&["logs", "-f", "--tail", "1", "f"]);
        assert_eq!(out.stdout, "bye\n", "{out}");
    });
}
