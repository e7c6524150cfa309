//! Container lifecycle: `run -d`, `ps`, `logs`, `stop`, `kill`, `wait`,
//! `restart`, `start`, `rm`, `container prune`, `inspect` and `exec`, and
//! what survives a killed monitor, a wiped runtime dir and many containers.
//!
//! Every scenario builds a small busybox root filesystem in its work dir
//! and imports it (`rless import DIR bb`), so no registry is needed.

mod common;

use common::background::Background;
use common::checks::*;

use common::oci::busybox;
use common::{for_each_user, run_cmd, skip, Ctx, Mode, Out, CMD_TIMEOUT, ERR_EXIT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The name every scenario imports its busybox root filesystem as.
const IMG: &str = "bb";

/// Busybox applets linked into the test root filesystem.
const APPLETS: &[&str] = &[
    "sh", "true", "false", "id", "ps", "ls", "cat", "echo", "sleep", "kill", "touch", "mkdir",
    "hostname", "wc", "env", "pwd", "grep", "head", "test", "printf", "rm",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
alice:x:1000:1000::/home/alice:/bin/sh\n";

const GROUP: &str = "root:x:0:\nalice:x:1000:\nnogroup:x:65534:\n";

/// A loop that keeps a container running and ends with exit 0 on SIGTERM.
const FOREVER: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

// ------------------------------------------------------------------ helpers (from run.rs)

/// Writes a busybox root filesystem to `dir`, owned by the test user.
fn make_rootfs(ctx: &Ctx, dir: &Path) {
    let bb = busybox().expect("busybox is checked by the caller");
    for sub in [
        "bin",
        "etc",
        "tmp",
        "root",
        "home/alice",
        "proc",
        "sys",
        "dev",
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(dir, bb, APPLETS);
    fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
    fs::write(dir.join("etc/group"), GROUP).unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(dir);
}

/// Builds the busybox root filesystem and imports it as [`IMG`].
fn setup_image(ctx: &Ctx) {
    let dir = ctx.work.join("rootfs");
    make_rootfs(ctx, &dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
}

/// Whether busybox is there (`busybox()` prints a SKIP otherwise).
fn have_busybox() -> bool {
    busybox().is_some()
}

fn container_dir(ctx: &Ctx, id: &str) -> std::path::PathBuf {
    ctx.root.join("containers").join(id)
}

// ------------------------------------------------------------------ helpers (lifecycle)

/// `rless run -d ARGS…`: must print exactly one 64-hex id and exit 0.
fn run_d(ctx: &Ctx, args: &[&str]) -> String {
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(args);
    let out = ctx.rless(&a);
    assert!(out.success(), "run -d failed: {out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "run -d must print exactly one line (the id): {out}"
    );
    assert!(
        common::is_hex64(lines[0]),
        "run -d must print the 64-hex container id: {out}"
    );
    assert!(
        out.stderr.trim().is_empty(),
        "run -d must print nothing on stderr: {out}"
    );
    lines[0].to_string()
}

/// `rless run -d IMG sh -c SCRIPT`, with extra options first.
fn run_sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a: Vec<&str> = opts.to_vec();
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    run_d(ctx, &a)
}

/// The one object of `rless inspect Q`.
fn inspect(ctx: &Ctx, q: &str) -> Value {
    let out = ctx.ok(&["inspect", q]);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}): {out}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("inspect must print a JSON array: {out}"));
    assert_eq!(
        arr.len(),
        1,
        "inspect of one name must print one object: {out}"
    );
    arr[0].clone()
}

/// `ps --format json` with extra args: the array.
fn ps_json(ctx: &Ctx, extra: &[&str]) -> Vec<Value> {
    let mut a = vec!["ps", "--format", "json"];
    a.extend_from_slice(extra);
    let out = ctx.ok(&a);
    match serde_json::from_str::<Value>(&out.stdout) {
        Ok(Value::Array(a)) => a,
        other => panic!("ps --format json is not a JSON array ({other:?}): {out}"),
    }
}

/// Ids in a `ps --format json` result.
fn json_ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r["Id"].as_str().expect("Id is a string").to_string())
        .collect()
}

/// Polls `f` every 50 ms until it is true; false after `timeout`.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `rless logs Q` (stdout and stderr together) contains `needle`.
fn wait_log(ctx: &Ctx, q: &str, needle: &str) -> Out {
    let mut last = None;
    let ok = eventually(Duration::from_secs(30), || {
        let out = ctx.rless(&["logs", q]);
        let hit = out.success() && (out.stdout.contains(needle) || out.stderr.contains(needle));
        last = Some(out);
        hit
    });
    let last = last.unwrap();
    assert!(ok, "{needle:?} never showed in the logs of {q}: {last}");
    last
}

/// Whether `pid` exists and is not a zombie.
fn pid_alive(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The state letter of a process (field 3 of /proc/PID/stat).
fn proc_state(pid: i64) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat[stat.rfind(')')? + 1..]
            .split_whitespace()
            .next()?
            .to_string(),
    )
}

/// The parent pid of a process.
fn proc_ppid(pid: i64) -> Option<i64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn state_of(v: &Value) -> &Value {
    &v["State"]
}

/// A number unique to this test process and user, for `sleep N` markers.
fn marker(ctx: &Ctx, salt: u32) -> String {
    format!(
        "{}",
        5000 + (std::process::id() % 997) * 7 + ctx.user.uid % 1000 * 13 + salt
    )
}

/// Host processes of a `sleep MARKER` command.
fn marker_sleeps(marker: &str) -> Vec<HostProc> {
    host_processes()
        .into_iter()
        .filter(|p| {
            p.args.first().map(String::as_str) == Some("sleep")
                && p.args.get(1).map(String::as_str) == Some(marker)
        })
        .collect()
}

/// Host processes whose command line names this store (monitors, inits).
fn store_processes(ctx: &Ctx) -> Vec<HostProc> {
    let store = ctx.root.to_string_lossy().to_string();
    let me = std::process::id() as i32;
    host_processes()
        .into_iter()
        .filter(|p| p.pid != me && p.args.iter().any(|a| a == &store))
        .collect()
}

fn kill_all(procs: &[HostProc]) {
    for p in procs {
        if let Some(pid) = rustix::process::Pid::from_raw(p.pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// `date -u -d @SECS +%Y-%m-%dT%H:%M:%SZ`
fn rfc3339(secs: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Seconds since the epoch of an RFC 3339 time stamp, by `date`.
fn parse_time(s: &str) -> Option<i64> {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", s, "+%s"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Every entry under `dir` whose name starts `.tmp-`, relative to `dir`
/// (not descending into extracted layer trees).
fn tmp_debris(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                out.push(rel.clone());
            }
            let parts: Vec<&str> = rel.split('/').collect();
            let in_layer = parts.len() >= 3 && parts[0] == "layers" && parts[2] == "diff";
            if !in_layer && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// Removes every container of the store (and kills whatever still names
/// the store) when a scenario ends, passing or failing: the harness's
/// `system reset -f` deletes the store but leaves running containers'
/// processes alive.
struct Cleanup<'a>(&'a Ctx);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let ctx = self.0;
        let ids = ctx
            .rless_cmd(&["ps", "-aq", "--no-trunc"])
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.lines().filter(|l| common::is_hex64(l)).collect();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(ids);
            let _ = ctx.rless_cmd(&a).stdin(Stdio::null()).output();
        }
        kill_all(&store_processes(ctx));
    }
}

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
            eventually(Duration::from_secs(5), || now_secs() > early_ts + 1),
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
        let out = ctx.rless(&["run", "-d", "no-such-image", "true"]);
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

// ------------------------------------------------------------------ stop, kill, wait

#[test]
fn lifecycle_stop() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_stop", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // A trapped TERM: the trap's code, well within the grace period.
        let id = run_sh(
            ctx,
            &["--name", "trapper"],
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        );
        wait_log(ctx, "trapper", "ready");
        let t = Instant::now();
        let out = ctx.ok(&["stop", "-t", "20", "trapper"]);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(8),
            "stop of a command that traps TERM must not wait for the grace period: took {took:?}"
        );
        assert_eq!(out.stdout, "trapper\n", "stop prints the name given: {out}");
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["Status"], "exited", "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 7, "the trap's exit code: {st}");
        assert_eq!(ctx.ok(&["wait", "trapper"]).stdout, "7\n");
        let out = ctx.ok(&["logs", "trapper"]);
        assert_eq!(out.stdout, "ready\ngot-term\n", "{out}");
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        assert!(
            out.stdout.starts_with("trapper Exited (7) "),
            "ps -a must show Exited (7): {out}"
        );

        // TERM ignored: SIGKILL after -t 1, exit 137.
        let id = run_sh(
            ctx,
            &["--name", "stubborn"],
            "trap '' TERM; echo ready; while true; do sleep 0.1; done",
        );
        wait_log(ctx, "stubborn", "ready");
        let t = Instant::now();
        let out = ctx.ok(&["stop", "-t", "1", "stubborn"]);
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(900),
            "stop -t 1 must wait the grace period before SIGKILL: took {took:?}: {out}"
        );
        assert!(
            took < Duration::from_secs(10),
            "stop -t 1 of a command ignoring TERM took {took:?}: {out}"
        );
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(
            state_of(&st)["ExitCode"],
            137,
            "killed after the grace period: {st}"
        );

        // An untrapped TERM ends the command: 143, at once.
        let id = run_d(ctx, &[IMG, "sleep", "1000"]);
        let t = Instant::now();
        ctx.ok(&["stop", "-t", "30", &id[..12]]);
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "took {:?}",
            t.elapsed()
        );
        assert_eq!(state_of(&inspect(ctx, &id))["ExitCode"], 143);

        // Stop of an exited container: fine, changes nothing.
        let before = inspect(ctx, "trapper");
        let out = ctx.ok(&["stop", "trapper"]);
        assert!(out.stderr.trim().is_empty(), "{out}");
        let after = inspect(ctx, "trapper");
        assert_eq!(state_of(&after)["ExitCode"], 7, "{after}");
        assert_eq!(
            state_of(&after)["FinishedAt"],
            state_of(&before)["FinishedAt"],
            "stop of an exited container must not touch its state"
        );
        // Several at once, running and not.
        let a = run_sh(ctx, &[], FOREVER);
        let b = run_sh(ctx, &[], FOREVER);
        let out = ctx.ok(&["stop", "-t", "5", &a, &b, "stubborn"]);
        assert_eq!(out.stdout.lines().count(), 3, "{out}");
        for c in [&a, &b] {
            let st = inspect(ctx, c);
            assert_eq!(state_of(&st)["Running"], false, "{st}");
            assert_eq!(state_of(&st)["ExitCode"], 0, "{st}");
        }
        assert!(ps_json(ctx, &[]).is_empty(), "nothing runs after the stops");
    });
}

#[test]
fn lifecycle_kill() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_kill", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "k"],
            "trap 'echo got-usr1' USR1; trap 'echo got-hup' HUP; echo ready; \
             while true; do sleep 0.1; done",
        );
        wait_log(ctx, "k", "ready");
        let out = ctx.ok(&["kill", "-s", "USR1", "k"]);
        assert_eq!(out.stdout, "k\n", "{out}");
        wait_log(ctx, "k", "got-usr1");
        // One at a time: a second HUP while the first is pending is merged.
        ctx.ok(&["kill", "--signal", "SIGHUP", "k"]);
        wait_log(ctx, "k", "got-hup");
        ctx.ok(&["kill", "-s", "1", "k"]);
        let out = wait_log(ctx, "k", "got-hup\ngot-hup");
        assert_eq!(out.stdout, "ready\ngot-usr1\ngot-hup\ngot-hup\n", "{out}");
        let st = inspect(ctx, &id);
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "trapped signals must not end it: {st}"
        );
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        assert!(pid_alive(pid), "inspect's Pid {pid} must be a live process");

        // Default: KILL.
        ctx.ok(&["kill", "k"]);
        let out = ctx.ok(&["wait", "k"]);
        assert_eq!(out.stdout, "137\n", "kill (SIGKILL) gives 137: {out}");
        let st = inspect(ctx, &id);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 137, "{st}");
        assert!(
            eventually(Duration::from_secs(5), || !pid_alive(pid)),
            "the init {pid} must be gone after kill"
        );
        // Killing an exited container is an error.
        let out = ctx.rless(&["kill", "k"]);
        assert_one_error(&out, ERR_EXIT);
        // A bad signal.
        let id2 = run_sh(ctx, &[], FOREVER);
        for bad in ["NOPE", "999", ""] {
            let out = ctx.rless(&["kill", "-s", bad, &id2]);
            assert_one_error(&out, ERR_EXIT);
        }
        assert_eq!(state_of(&inspect(ctx, &id2))["Running"], true);
        ctx.ok(&["kill", "-s", "TERM", &id2]);
        assert_eq!(ctx.ok(&["wait", &id2]).stdout, "0\n");
    });
}

#[test]
fn lifecycle_wait() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_wait", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let a = run_sh(ctx, &[], "sleep 1; exit 3");
        let b = run_sh(ctx, &[], "exit 0");
        let c = run_sh(ctx, &[], "sleep 0.5; exit 250");
        let t = Instant::now();
        let out = ctx.ok(&["wait", &a, &b, &c]);
        assert_eq!(
            out.stdout, "3\n0\n250\n",
            "wait prints each exit code in order: {out}"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "wait must block until the first container (sleep 1) exits"
        );
        let st = inspect(ctx, &a);
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        // Again, on exited ones: immediate.
        let out = ctx.ok(&["wait", &a[..10]]);
        assert_eq!(out.stdout, "3\n", "{out}");
    });
}

// ------------------------------------------------------------------ restart and start

#[test]
fn lifecycle_restart_keeps_layer() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_restart_keeps_layer", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script = format!(
            "if [ -e /x ]; then echo second-run $(cat /x); else echo first-run; echo data > /x; fi; \
             echo ready; {FOREVER}"
        );
        let id = run_sh(ctx, &["--name", "r1"], &script);
        wait_log(ctx, "r1", "ready");
        let pid1 = state_of(&inspect(ctx, "r1"))["Pid"].as_i64().unwrap();
        let out = ctx.ok(&["restart", "-t", "5", "r1"]);
        assert_eq!(
            out.stdout.trim(),
            "r1",
            "restart prints the name given: {out}"
        );
        let out = wait_log(ctx, "r1", "second-run");
        assert!(
            out.stdout.contains("second-run data\n"),
            "/x written before the restart must still be there: {out}"
        );
        let st = inspect(ctx, "r1");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "running again after restart: {st}"
        );
        let pid2 = state_of(&st)["Pid"].as_i64().unwrap();
        assert_ne!(pid1, pid2, "a new init after restart");
        assert!(
            pid_alive(pid2) && !pid_alive(pid1),
            "old init {pid1} gone, new {pid2} live"
        );
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/x")).unwrap(),
            "data\n"
        );
        let rows = ps_json(ctx, &[]);
        assert_eq!(json_ids(&rows), BTreeSet::from([id.clone()]));
        assert!(
            rows[0]["Status"].as_str().unwrap().starts_with("Up "),
            "{rows:?}"
        );
        // Restart of a stopped container starts it.
        ctx.ok(&["stop", "r1"]);
        ctx.ok(&["restart", "r1"]);
        assert_eq!(state_of(&inspect(ctx, "r1"))["Running"], true);
        ctx.ok(&["stop", "r1"]);
    });
}

#[test]
fn lifecycle_start() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_start", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Counts its runs in its writable layer; exits 10 + the count.
        let script = "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; \
                      echo count $n; exit $((n+10))";
        let id = run_sh(ctx, &["--name", "counter"], script);
        assert_eq!(ctx.ok(&["wait", "counter"]).stdout, "11\n");
        let out = ctx.ok(&["start", "counter"]);
        assert_eq!(out.stdout.trim(), "counter", "{out}");
        assert_eq!(
            ctx.ok(&["wait", "counter"]).stdout,
            "12\n",
            "the layer must be kept by start"
        );
        let out = ctx.ok(&["logs", "counter"]);
        assert!(
            out.stdout.contains("count 1\n") && out.stdout.contains("count 2\n"),
            "logs must hold both runs: {out}"
        );
        // start -a: foreground, output here, the command's exit code.
        let out = ctx.rless(&["start", "-a", &id[..12]]);
        assert_eq!(
            out.code,
            Some(13),
            "start -a must return the exit code: {out}"
        );
        assert_eq!(
            out.stdout, "count 3\n",
            "start -a must show the output: {out}"
        );
        let st = inspect(ctx, "counter");
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 13, "{st}");
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/n")).unwrap(),
            "3\n"
        );

        // start -a -i passes stdin.
        let cat = run_d(ctx, &["--name", "cat", IMG, "cat"]);
        assert_eq!(ctx.ok(&["wait", "cat"]).stdout, "0\n");
        let out = ctx.rless_stdin(&["start", "-a", "-i", "cat"], b"hello\nworld\n");
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "hello\nworld\n",
            "start -a -i must pass stdin: {out}"
        );
        let _ = cat;

        // Starting a running one: fine for start, an error for start -a.
        let run = run_sh(
            ctx,
            &["--name", "runner"],
            &format!("echo ready; {FOREVER}"),
        );
        wait_log(ctx, "runner", "ready");
        let pid = state_of(&inspect(ctx, "runner"))["Pid"].clone();
        let out = ctx.ok(&["start", "runner"]);
        assert!(out.stderr.trim().is_empty(), "{out}");
        assert_eq!(
            state_of(&inspect(ctx, "runner"))["Pid"],
            pid,
            "start must not restart a running container"
        );
        let out = ctx.rless(&["start", "-a", "runner"]);
        assert_one_error(&out, ERR_EXIT);
        let out = ctx.rless(&["start", "-a", "runner", "counter"]);
        assert_one_error(&out, ERR_EXIT);
        ctx.ok(&["stop", &run]);
        // Several at once.
        let out = ctx.ok(&["start", "counter", "runner"]);
        assert_eq!(out.stdout.lines().count(), 2, "{out}");
        assert_eq!(ctx.ok(&["wait", "counter"]).stdout, "14\n");
        assert_eq!(state_of(&inspect(ctx, "runner"))["Running"], true);
        ctx.ok(&["stop", "runner"]);
    });
}

// ------------------------------------------------------------------ rm and prune

#[test]
fn lifecycle_rm() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_rm", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mark = marker(ctx, 1);
        let id = run_sh(
            ctx,
            &["--name", "busy"],
            &format!("sleep {mark} & sleep {mark} & echo ready; wait"),
        );
        wait_log(ctx, "busy", "ready");
        let st = inspect(ctx, "busy");
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap_or(0);
        assert!(pid_alive(pid), "init {pid} must run: {st}");
        assert!(pid_alive(monitor), "monitor {monitor} must run: {st}");
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(5), || marker_sleeps(&mark).len() == 2),
                "the two sleeps must run"
            );
        }

        // Without -f: refused, still running.
        for q in ["busy", &id[..12]] {
            let out = ctx.rless(&["rm", q]);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stdout.is_empty(), "{out}");
        }
        assert!(container_dir(ctx, &id).is_dir());
        let st = inspect(ctx, "busy");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "rm without -f must leave it running: {st}"
        );
        assert_eq!(state_of(&st)["Pid"], pid);
        assert!(pid_alive(pid));

        // -f: killed and removed.
        let out = ctx.ok(&["rm", "-f", "busy"]);
        assert_eq!(out.stdout, "busy\n", "{out}");
        assert!(
            !container_dir(ctx, &id).exists(),
            "rm -f must remove the container dir"
        );
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        assert!(
            eventually(Duration::from_secs(5), || !pid_alive(pid)),
            "the container's init {pid} is still alive after rm -f"
        );
        assert!(
            eventually(Duration::from_secs(5), || !pid_alive(monitor)),
            "the container's monitor {monitor} is still alive after rm -f"
        );
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(5), || marker_sleeps(&mark).is_empty()),
                "the container's sleeps outlived rm -f: {:?}",
                marker_sleeps(&mark)
            );
            let left = store_processes(ctx);
            kill_all(&left);
            assert!(
                left.is_empty(),
                "rless processes of the store left: {left:?}"
            );
        }
        ctx.rless(&["inspect", "busy"]).assert_rless_error();
        let out = ctx.ok(&["ps", "-aq"]);
        assert_eq!(out.stdout, "", "{out}");

        // rm of exited containers, several at once, by id prefix and name.
        let a = run_d(ctx, &["--name", "ea", IMG, "true"]);
        let b = run_d(ctx, &[IMG, "false"]);
        ctx.ok(&["wait", &a, &b]);
        let out = ctx.ok(&["rm", "ea", &b[..12]]);
        assert_eq!(out.stdout, format!("ea\n{}\n", &b[..12]), "{out}");
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        // container rm is the same.
        let c = run_d(ctx, &[IMG, "true"]);
        ctx.ok(&["wait", &c]);
        ctx.ok(&["container", "rm", &c]);
        assert!(containers(ctx).is_empty());
        // Nothing under the store is mounted on the host.
        assert_eq!(host_mounts_under(&ctx.root), Vec::<String>::new());
    });
}

#[test]
fn lifecycle_container_prune() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_container_prune", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let running = run_sh(ctx, &["--name", "stays"], FOREVER);
        let e0 = run_d(ctx, &[IMG, "true"]);
        let e3 = run_sh(ctx, &[], "exit 3");
        let stopped = run_sh(ctx, &[], FOREVER);
        ctx.ok(&["wait", &e0, &e3]);
        ctx.ok(&["stop", &stopped]);
        let out = ctx.ok(&["container", "prune", "-f"]);
        let listed: BTreeSet<String> = out
            .stdout
            .lines()
            .filter(|l| common::is_hex64(l.trim()))
            .map(|l| l.trim().to_string())
            .collect();
        assert_eq!(
            listed,
            BTreeSet::from([e0.clone(), e3.clone(), stopped.clone()]),
            "prune must list the removed ids: {out}"
        );
        assert_eq!(
            containers(ctx),
            vec![running.clone()],
            "only the running one stays"
        );
        let st = inspect(ctx, "stays");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "prune must not touch running ones: {st}"
        );
        // Nothing left to prune.
        let out = ctx.ok(&["container", "prune"]);
        assert!(
            !out.stdout.lines().any(|l| common::is_hex64(l.trim())),
            "{out}"
        );
        assert_eq!(containers(ctx), vec![running.clone()]);
        ctx.ok(&["rm", "-f", "stays"]);
        assert!(containers(ctx).is_empty());
        assert!(
            tmp_debris(&ctx.root).is_empty(),
            "{:?}",
            tmp_debris(&ctx.root)
        );
    });
}

// ------------------------------------------------------------------ exec

#[test]
fn lifecycle_exec() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_exec", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "ex", "-e", "FROM_RUN=yes"],
            &format!("echo main > /from-main; echo ready; {FOREVER}"),
        );
        wait_log(ctx, "ex", "ready");

        // Same hostname, same files, same pid namespace.
        let out = ctx.ok(&["exec", "ex", "hostname"]);
        assert_eq!(
            out.stdout,
            format!("{}\n", &id[..12]),
            "exec must see the container's hostname: {out}"
        );
        let out = ctx.ok(&["exec", &id, "cat", "/from-main"]);
        assert_eq!(
            out.stdout, "main\n",
            "exec must see the container's files: {out}"
        );
        let out = ctx.ok(&[
            "exec",
            "ex",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; ps",
        ]);
        assert!(
            out.stdout.contains("while true"),
            "exec must be in the container's pid namespace (its command visible): {out}"
        );
        // Writes from exec are seen by the container's layer.
        ctx.ok(&["exec", "ex", "sh", "-c", "echo from-exec > /from-exec"]);
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/from-exec")).unwrap(),
            "from-exec\n"
        );

        // Exit codes, stdout and stderr apart.
        let out = ctx.rless(&["exec", "ex", "sh", "-c", "echo o; echo e >&2; exit 42"]);
        assert_eq!(
            out.code,
            Some(42),
            "exec must return the command's exit code: {out}"
        );
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("o\n", "e\n"),
            "{out}"
        );
        let out = ctx.rless(&["exec", "ex", "false"]);
        assert_eq!(out.code, Some(1), "{out}");

        // -e, the container's environment, -w.
        let out = ctx.ok(&[
            "exec",
            "-e",
            "FOO=bar baz",
            "-e",
            "FROM_RUN=over",
            "ex",
            "sh",
            "-c",
            "echo $FOO; echo $FROM_RUN; echo $PATH",
        ]);
        assert_eq!(
            out.stdout,
            "bar baz\nover\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
            "{out}"
        );
        let out = ctx.ok(&["exec", "ex", "sh", "-c", "echo $FROM_RUN"]);
        assert_eq!(
            out.stdout, "yes\n",
            "exec must get the container's environment: {out}"
        );
        let out = ctx.ok(&["exec", "-w", "/tmp", "ex", "pwd"]);
        assert_eq!(out.stdout, "/tmp\n", "{out}");
        let out = ctx.ok(&["exec", "ex", "pwd"]);
        assert_eq!(out.stdout, "/\n", "{out}");
        let out = ctx.ok(&[
            "exec",
            "--workdir",
            "/etc",
            "--env",
            "A=1",
            "ex",
            "sh",
            "-c",
            "pwd; echo $A",
        ]);
        assert_eq!(out.stdout, "/etc\n1\n", "{out}");

        // -u
        let out = ctx.ok(&["exec", "ex", "id", "-u"]);
        assert_eq!(out.stdout, "0\n", "{out}");
        match ctx.user.mode {
            Mode::Subuid => {
                let out = ctx.ok(&["exec", "-u", "1000", "ex", "id", "-u"]);
                assert_eq!(out.stdout, "1000\n", "{out}");
                let out = ctx.ok(&["exec", "-u", "alice", "ex", "sh", "-c", "id -un; id -g"]);
                assert_eq!(out.stdout, "alice\n1000\n", "{out}");
            }
            Mode::Single => {
                let out = ctx.rless(&["exec", "-u", "1000", "ex", "id", "-u"]);
                assert_ne!(
                    out.code,
                    Some(0),
                    "uid 1000 is not mapped in single-id mode: {out}"
                );
                assert!(!out.stdout.contains("1000"), "{out}");
            }
        }

        // -i: stdin passes; without -i the command gets none.
        let out = ctx.rless_stdin(
            &["exec", "-i", "ex", "sh", "-c", "cat; echo done"],
            b"line one\nline two\n",
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "line one\nline two\ndone\n",
            "exec -i must pass stdin: {out}"
        );
        let out = ctx.rless_stdin(
            &["exec", "ex", "sh", "-c", "cat; echo done"],
            b"not for you\n",
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "done\n",
            "exec without -i must not pass stdin: {out}"
        );

        // -d: returns at once; the process runs (seen by another exec).
        let mark = marker(ctx, 2);
        let t = Instant::now();
        let out = ctx.ok(&["exec", "-d", "ex", "sleep", &mark]);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "exec -d must return at once, not wait for sleep: {out}"
        );
        assert!(out.stdout.trim().is_empty(), "{out}");
        let seen = eventually(Duration::from_secs(5), || {
            ctx.ok(&["exec", "ex", "ps"])
                .stdout
                .contains(&format!("sleep {mark}"))
        });
        assert!(
            seen,
            "the exec -d process must run in the container: {}",
            ctx.ok(&["exec", "ex", "ps"])
        );

        // A missing or non-executable command.
        let out = ctx.rless(&["exec", "ex", "no-such-command"]);
        assert_one_error(&out, 127);
        let out = ctx.rless(&["exec", "ex", "/etc/passwd"]);
        assert_one_error(&out, 126);
        let out = ctx.rless(&["exec", "-w", "/no/such/dir", "ex", "pwd"]);
        assert!(out.code != Some(0), "exec -w of a missing dir: {out}");

        // The container is unharmed by all that.
        assert_eq!(state_of(&inspect(ctx, "ex"))["Running"], true);

        // Stopped: exec is an error; the exec -d process died with it.
        ctx.ok(&["stop", "-t", "5", "ex"]);
        let out = ctx.rless(&["exec", "ex", "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("not running"), "{out}");
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(5), || marker_sleeps(&mark).is_empty()),
                "the exec -d process outlived the container: {:?}",
                marker_sleeps(&mark)
            );
        }
        // Unknown container; no command.
        ctx.rless(&["exec", "nope", "true"]).assert_rless_error();
        ctx.rless(&["exec", "ex"]).assert_rless_error();
    });
}

// ------------------------------------------------------------------ inspect, ps, names

#[test]
fn lifecycle_inspect_ps_filters() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_inspect_ps_filters", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let web1 = run_sh(ctx, &["--name", "web-one"], FOREVER);
        let other = run_sh(ctx, &["--name", "other"], "exit 3");
        let web2 = run_sh(ctx, &["--name", "web-two"], "exit 0");
        ctx.ok(&["wait", &other, &web2]);

        // inspect: running
        let st = inspect(ctx, "web-one");
        assert_eq!(st["Id"], web1.as_str(), "{st}");
        assert_eq!(st["Name"], "web-one", "{st}");
        assert_eq!(state_of(&st)["Status"], "running", "{st}");
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 0, "{st}");
        let pid = state_of(&st)["Pid"].as_i64().unwrap_or(0);
        assert!(
            pid > 0 && pid_alive(pid),
            "State.Pid must be the live init: {st}"
        );
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&cmdline).contains(&ctx.root.to_string_lossy().to_string())
                || !common::is_root(),
            "State.Pid {pid} must be this container's init (an rless process of this store): {:?}",
            String::from_utf8_lossy(&cmdline)
        );
        assert!(state_of(&st)["StartedAt"].is_string(), "{st}");
        assert_eq!(st["Config"]["Cmd"][0], "sh", "{st}");
        assert_eq!(st["GraphDriver"]["Name"], "overlay", "{st}");
        assert!(st["Mounts"].is_array(), "{st}");
        assert_eq!(
            st["LogPath"].as_str().map(Path::new),
            Some(container_dir(ctx, &web1).join("ctr.log").as_path()),
            "{st}"
        );
        // inspect: exited
        let st = inspect(ctx, "other");
        assert_eq!(state_of(&st)["Status"], "exited", "{st}");
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 3, "{st}");
        assert_eq!(state_of(&st)["Pid"], 0, "{st}");
        assert!(state_of(&st)["FinishedAt"].is_string(), "{st}");
        // Several at once; container inspect is the same.
        let out = ctx.ok(&["inspect", "web-one", &other]);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(2), "{out}");
        let out = ctx.ok(&["container", "inspect", "other"]);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v[0]["Id"], other.as_str(), "{out}");

        // ps
        let rows = ps_json(ctx, &[]);
        assert_eq!(
            json_ids(&rows),
            BTreeSet::from([web1.clone()]),
            "ps: only running"
        );
        assert_eq!(rows[0]["Names"], serde_json::json!(["web-one"]), "{rows:?}");
        assert_eq!(rows[0]["State"], "running", "{rows:?}");
        let rows = ps_json(ctx, &["-a"]);
        assert_eq!(
            json_ids(&rows),
            BTreeSet::from([web1.clone(), other.clone(), web2.clone()]),
            "ps -a: all"
        );
        let o = rows.iter().find(|r| r["Id"] == other.as_str()).unwrap();
        assert_eq!(o["State"], "exited", "{o}");
        assert_eq!(o["ExitCode"], 3, "{o}");
        assert!(
            o["Status"].as_str().unwrap().starts_with("Exited (3) ")
                && o["Status"].as_str().unwrap().ends_with(" ago"),
            "{o}"
        );
        let out = ctx.ok(&["ps", "-q"]);
        assert_eq!(out.stdout, format!("{}\n", &web1[..12]), "ps -q: {out}");
        let out = ctx.ok(&["ps", "-q", "--no-trunc"]);
        assert_eq!(out.stdout, format!("{web1}\n"), "ps -q --no-trunc: {out}");
        let out = ctx.ok(&["ps", "-aq"]);
        let ids: BTreeSet<&str> = out.stdout.lines().collect();
        assert_eq!(
            ids,
            BTreeSet::from([&web1[..12], &other[..12], &web2[..12]]),
            "ps -aq: {out}"
        );
        let out = ctx.ok(&["ps", "-a", "--no-trunc"]);
        assert!(
            out.stdout.contains(&web1) && out.stdout.contains(&other),
            "{out}"
        );
        let out = ctx.ok(&["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{} web-one Up ", &web1[..12]))),
            "{out}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{} other Exited (3) ", &other[..12]))),
            "{out}"
        );
        // Filters.
        let ids_of = |args: &[&str]| -> BTreeSet<String> {
            let mut a = vec!["-a"];
            a.extend_from_slice(args);
            json_ids(&ps_json(ctx, &a))
        };
        assert_eq!(
            ids_of(&["--filter", "name=web"]),
            BTreeSet::from([web1.clone(), web2.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "name=other"]),
            BTreeSet::from([other.clone()])
        );
        assert_eq!(
            ids_of(&["-f", &format!("id={}", &other[..6])]),
            BTreeSet::from([other.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "status=exited"]),
            BTreeSet::from([other.clone(), web2.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "status=running"]),
            BTreeSet::from([web1.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "exited=3"]),
            BTreeSet::from([other.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "exited=0"]),
            BTreeSet::from([web2.clone()])
        );
        assert_eq!(ids_of(&["--filter", "ancestor=bb"]).len(), 3);
        assert!(ids_of(&["--filter", "ancestor=nothing-like-it"]).is_empty());
        assert_eq!(
            ids_of(&["--filter", "name=web", "--filter", "status=exited"]),
            BTreeSet::from([web2.clone()]),
            "filters combine with AND"
        );
        // status=exited without -a still lists exited ones (as docker does).
        assert_eq!(
            json_ids(&ps_json(ctx, &["--filter", "status=exited"])),
            BTreeSet::from([other.clone(), web2.clone()])
        );
        for bad in ["bogus=1", "noequals"] {
            ctx.rless(&["ps", "--filter", bad]).assert_rless_error();
        }

        // Resolution: full id, unique id prefix, name; exact name beats an id prefix.
        for q in [web1.as_str(), &web1[..12], &web1[..5], "web-one"] {
            assert_eq!(inspect(ctx, q)["Id"], web1.as_str(), "inspect {q}");
        }
        // A container named like another's id prefix.
        let prefix = &other[..6];
        let named = run_d(ctx, &["--name", prefix, IMG, "true"]);
        assert_eq!(
            inspect(ctx, prefix)["Id"],
            named.as_str(),
            "an exact name must win over an id prefix"
        );
        // Unknown and ambiguous.
        for q in [
            "nope",
            "web",
            "web-on",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "",
        ] {
            let out = ctx.rless(&["inspect", q]);
            assert_one_error(&out, ERR_EXIT);
        }
        // Make two ids share a first digit, then use that digit.
        let mut seen: Vec<String> = containers(ctx);
        let shared = loop {
            let mut firsts: Vec<char> = seen.iter().map(|i| i.chars().next().unwrap()).collect();
            firsts.sort();
            if let Some(w) = firsts.windows(2).find(|w| w[0] == w[1]) {
                break w[0];
            }
            assert!(seen.len() < 20, "pigeonhole");
            seen.push(run_d(ctx, &[IMG, "true"]));
        };
        let q = shared.to_string();
        // The digit may be a container's name only if we named one so; we did not.
        for cmd in [
            vec!["inspect", &q],
            vec!["logs", &q],
            vec!["rm", &q],
            vec!["wait", &q],
        ] {
            let out = ctx.rless(&cmd);
            assert_one_error(&out, ERR_EXIT);
            assert!(
                out.stderr.contains("ambiguous"),
                "an ambiguous prefix must say so: {out}"
            );
        }
        ctx.ok(&["stop", "web-one"]);
    });
}

// ------------------------------------------------------------------ bad input

#[test]
fn lifecycle_bad_input() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_bad_input", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let first = run_sh(ctx, &["--name", "dup"], &format!("echo ready; {FOREVER}"));
        wait_log(ctx, "dup", "ready");
        let st0 = inspect(ctx, "dup");

        // Unknown container, for every command.
        let cmds: Vec<Vec<&str>> = vec![
            vec!["logs", "nope"],
            vec!["logs", "-f", "nope"],
            vec!["stop", "nope"],
            vec!["stop", "-t", "0", "nope"],
            vec!["kill", "nope"],
            vec!["kill", "-s", "USR1", "nope"],
            vec!["wait", "nope"],
            vec!["restart", "nope"],
            vec!["start", "nope"],
            vec!["start", "-a", "nope"],
            vec!["rm", "nope"],
            vec!["rm", "-f", "nope"],
            vec!["container", "rm", "nope"],
            vec!["inspect", "nope"],
            vec!["container", "inspect", "nope"],
            vec!["exec", "nope", "true"],
            vec!["exec", "-d", "nope", "true"],
        ];
        for c in &cmds {
            let out = ctx.rless(c);
            assert_one_error(&out, ERR_EXIT);
            assert!(
                out.stdout.is_empty(),
                "nothing on stdout for an error: {out}"
            );
        }
        // A known and an unknown one: an error, and the unknown one named.
        let out = ctx.rless(&["rm", "nope", "dup"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        assert!(
            out.stderr.contains("nope"),
            "the error must name the unknown container: {out}"
        );
        assert!(
            container_dir(ctx, &first).is_dir(),
            "rm nope dup (no -f) must not remove the running dup"
        );

        // Duplicate name: refused, the first untouched.
        for args in [
            vec!["run", "-d", "--name", "dup", IMG, "true"],
            vec!["run", "--name", "dup", IMG, "true"],
            vec!["run", "-d", "--rm", "--name", "dup", IMG, "true"],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("dup"), "{out}");
            assert_eq!(
                containers(ctx),
                vec![first.clone()],
                "a refused run left a container: {out}"
            );
        }
        let st = inspect(ctx, "dup");
        assert_eq!(st["Id"], first.as_str());
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        assert_eq!(state_of(&st)["Pid"], state_of(&st0)["Pid"], "{st}");
        assert_eq!(ctx.ok(&["logs", "dup"]).stdout, "ready\n");

        // Bad names and flags.
        let bad: Vec<Vec<&str>> = vec![
            vec!["run", "-d", "--name", "bad/name", IMG, "true"],
            vec!["run", "-d", "--name", "-x", IMG, "true"],
            vec!["run", "-d", "--bogus", IMG, "true"],
            vec!["ps", "--bogus"],
            vec!["ps", "--format"],
            vec!["logs", "--tail", "abc", "dup"],
            vec!["logs", "--tail", "-1", "dup"],
            vec!["logs", "--since", "yesterday", "dup"],
            vec!["logs", "--since", "10x", "dup"],
            vec!["logs", "--bogus", "dup"],
            vec!["logs"],
            vec!["logs", "dup", "extra"],
            vec!["stop", "-t", "abc", "dup"],
            vec!["stop"],
            vec!["restart", "-t", "-5", "dup"],
            vec!["kill", "-s", "NOSUCHSIG", "dup"],
            vec!["kill"],
            vec!["wait"],
            vec!["rm"],
            vec!["rm", "--bogus", "dup"],
            vec!["start"],
            vec!["exec"],
            vec!["exec", "dup"],
            vec!["exec", "--bogus", "dup", "true"],
            vec!["inspect"],
            vec!["inspect", "--format", "yaml", "dup"],
            vec!["container", "prune", "--bogus"],
        ];
        for c in &bad {
            let out = ctx.rless(c);
            assert_one_error(&out, ERR_EXIT);
        }
        assert_eq!(containers(ctx), vec![first.clone()]);
        let st = inspect(ctx, "dup");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "bad input must leave dup running: {st}"
        );
        assert_eq!(state_of(&st)["Pid"], state_of(&st0)["Pid"], "{st}");
        ctx.ok(&["rm", "-f", "dup"]);
    });
}

// ------------------------------------------------------------------ robustness

#[test]
fn lifecycle_killed_monitor() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_killed_monitor", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mounts_before = host_mounts_under(&ctx.root);
        let mark = marker(ctx, 3);
        let id = run_sh(
            ctx,
            &["--name", "orphan"],
            &format!("sleep {mark} & sleep {mark} & echo ready; wait"),
        );
        wait_log(ctx, "orphan", "ready");
        let st = inspect(ctx, "orphan");
        let pid = state_of(&st)["Pid"].as_i64().unwrap_or(0);
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap_or(0);
        assert!(pid_alive(pid), "init must run: {st}");
        assert!(
            monitor > 0 && pid_alive(monitor),
            "State.MonitorPid must be live: {st}"
        );
        let check_sleeps = common::is_root();
        if check_sleeps {
            assert!(
                eventually(Duration::from_secs(5), || marker_sleeps(&mark).len() == 2),
                "the two sleeps must run before the kill"
            );
        } else {
            skip("not root: cannot see the container's sleeps");
        }
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(monitor as i32).unwrap(),
            rustix::process::Signal::KILL,
        )
        .expect("kill the monitor");

        let init_gone = eventually(Duration::from_secs(5), || !pid_alive(pid));
        let sleeps_gone =
            !check_sleeps || eventually(Duration::from_secs(5), || marker_sleeps(&mark).is_empty());
        let left = if check_sleeps {
            marker_sleeps(&mark)
        } else {
            vec![]
        };
        if !init_gone || !sleeps_gone {
            kill_all(&left);
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        assert!(
            init_gone,
            "BUG ({} mode): the init {pid} outlived its killed monitor {monitor}",
            ctx.user.mode.as_str()
        );
        assert!(
            sleeps_gone,
            "BUG ({} mode): the container's processes outlived its killed monitor: {left:?}",
            ctx.user.mode.as_str()
        );

        let killed_at = Instant::now();
        // Failures noted here are asserted at the end, so the clean-up
        // checks still run.
        let mut deferred: Vec<String> = Vec::new();
        // A dead monitor may linger as a zombie until its parent (pid 1, or
        // a subreaper) reaps it; rless must already count it as gone.
        if proc_state(monitor).as_deref() == Some("Z") {
            let rows = ps_json(ctx, &["-a"]);
            if rows
                .first()
                .map(|r| r["State"] == "running")
                .unwrap_or(false)
            {
                deferred.push(format!(
                    "BUG ({} mode): the monitor {monitor} is dead (a zombie, state Z in /proc/{monitor}/stat, \
                     not yet reaped by its parent, pid {}) and the init is gone, yet ps -a still says \
                     running: {:?}; a zombie must not count as a live monitor",
                    ctx.user.mode.as_str(),
                    proc_ppid(monitor).unwrap_or(0),
                    rows[0]["Status"]
                ));
            }
        }

        // ps and inspect: exited (within a few seconds), with a reason.
        let mut rows = Vec::new();
        let exited = eventually(Duration::from_secs(5), || {
            rows = ps_json(ctx, &["-a"]);
            rows.len() == 1 && rows[0]["State"] == "exited"
        });
        assert!(
            exited,
            "ps -a must show the container exited within 5 s of its monitor's death: {rows:?}"
        );
        assert!(
            rows[0]["Status"].as_str().unwrap().starts_with("Exited ("),
            "{rows:?}"
        );
        assert!(
            ps_json(ctx, &[]).is_empty(),
            "ps must not list it as running"
        );
        let st = inspect(ctx, "orphan");
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["Status"], "exited", "{st}");
        assert_eq!(state_of(&st)["Pid"], 0, "{st}");
        let reason = state_of(&st)["Error"].as_str().unwrap_or("");
        assert!(
            !reason.is_empty(),
            "inspect must say why it stopped (State.Error): {st}"
        );
        // When it stopped: some time, not "now" at every look.
        if !state_of(&st)["FinishedAt"].is_string() {
            deferred.push(format!(
                "inspect of a container whose monitor was killed has no State.FinishedAt: {}",
                state_of(&st)
            ));
        }
        std::thread::sleep(Duration::from_secs(2).saturating_sub(killed_at.elapsed()));
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Status}}"]);
        if out.stdout.contains("Less than a second ago") {
            deferred.push(format!(
                "2 s after its monitor was killed, ps -a says the container exited \"Less than a second ago\": {}",
                out.stdout.trim()
            ));
        }
        // Commands on it behave as on any exited container.
        ctx.ok(&["logs", "orphan"]);
        ctx.ok(&["stop", "orphan"]);
        ctx.ok(&["wait", "orphan"]);
        assert_one_error(&ctx.rless(&["exec", "orphan", "true"]), ERR_EXIT);

        // rm -f cleans everything.
        ctx.ok(&["rm", "-f", "orphan"]);
        assert!(
            !container_dir(ctx, &id).exists(),
            "rm -f must remove the dir"
        );
        assert!(containers(ctx).is_empty());
        assert!(
            tmp_debris(&ctx.root).is_empty(),
            "{:?}",
            tmp_debris(&ctx.root)
        );
        assert_eq!(
            host_mounts_under(&ctx.root),
            mounts_before,
            "mounts left on the host"
        );
        if common::is_root() {
            let left = store_processes(ctx);
            kill_all(&left);
            assert!(
                left.is_empty(),
                "rless processes of the store left: {left:?}"
            );
        }
        assert!(deferred.is_empty(), "{}", deferred.join("\n"));
    });
}

#[test]
fn lifecycle_start_after_killed_monitor() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_start_after_killed_monitor", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "again"],
            &format!("echo run >> /runs; echo ready; {FOREVER}"),
        );
        wait_log(ctx, "again", "ready");
        let st = inspect(ctx, "again");
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap();
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(monitor as i32).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        assert!(
            eventually(Duration::from_secs(5), || !pid_alive(pid)),
            "init outlived the monitor"
        );
        // (A dead monitor may stay a zombie for a while; see lifecycle_killed_monitor.)
        assert!(
            eventually(Duration::from_secs(10), || state_of(&inspect(ctx, "again"))
                ["Running"]
                == false),
            "not exited 10 s after its monitor was killed: {}",
            inspect(ctx, "again")
        );
        let out = ctx.rless(&["start", "again"]);
        assert!(
            out.success(),
            "start after a killed monitor must work: {out}"
        );
        wait_log(ctx, "again", "ready\nready");
        let st = inspect(ctx, "again");
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/runs")).unwrap(),
            "run\nrun\n",
            "the layer must be kept"
        );
        ctx.ok(&["rm", "-f", "again"]);
        assert!(containers(ctx).is_empty());
    });
}

#[test]
fn lifecycle_runtime_dir_wiped() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_runtime_dir_wiped", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let xdg = ctx.work.join("xdg");
        fs::create_dir(&xdg).unwrap();
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        ctx.give(&xdg);
        let with_xdg = |args: &[&str], xdg: Option<&Path>| -> Out {
            let mut cmd = ctx.rless_cmd(args);
            match xdg {
                Some(d) => {
                    cmd.env("XDG_RUNTIME_DIR", d);
                }
                None => {
                    cmd.env_remove("XDG_RUNTIME_DIR");
                }
            }
            run_cmd(cmd, None, CMD_TIMEOUT, &ctx.user.name)
        };
        let out = with_xdg(
            &[
                "run",
                "-d",
                "--name",
                "w",
                IMG,
                "sh",
                "-c",
                &format!("echo ready; {FOREVER}"),
            ],
            Some(&xdg),
        );
        assert!(out.success(), "{out}");
        let id = out.stdout.trim().to_string();
        wait_log(ctx, "w", "ready");
        // Wipe it.
        fs::remove_dir_all(&xdg).unwrap();
        for x in [Some(xdg.as_path()), None] {
            let what = format!("XDG_RUNTIME_DIR={x:?}");
            let out = with_xdg(&["ps", "--format", "json"], x);
            assert!(out.success(), "ps with {what}: {out}");
            assert!(
                out.stdout.contains(&id),
                "ps with {what} must list the container: {out}"
            );
            let out = with_xdg(&["ps"], x);
            assert!(
                out.success() && out.stdout.contains(&id[..12]),
                "{what}: {out}"
            );
            let out = with_xdg(&["logs", "w"], x);
            assert_eq!(out.stdout, "ready\n", "{what}: {out}");
            let out = with_xdg(&["exec", "w", "echo", "hi"], x);
            assert_eq!(out.stdout, "hi\n", "exec with {what}: {out}");
            let out = with_xdg(&["inspect", "w"], x);
            assert!(out.success(), "{what}: {out}");
        }
        let out = with_xdg(&["stop", "w"], Some(&xdg));
        assert!(out.success(), "stop with a wiped runtime dir: {out}");
        let out = with_xdg(&["start", "w"], None);
        assert!(out.success(), "start without XDG_RUNTIME_DIR: {out}");
        wait_log(ctx, "w", "ready\nready");
        let out = with_xdg(&["run", "-d", IMG, "true"], Some(&xdg));
        assert!(out.success(), "run -d with a wiped runtime dir: {out}");
        let out = with_xdg(&["rm", "-f", "w", out.stdout.trim()], Some(&xdg));
        assert!(out.success(), "rm -f with a wiped runtime dir: {out}");
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
    });
}

#[test]
fn lifecycle_many_containers() {
    if !have_busybox() {
        return;
    }
    const N: usize = 50;
    for_each_user("lifecycle_many_containers", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mounts_before = host_mounts_under(&ctx.root);
        let mark = marker(ctx, 4);
        let t = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..N {
            ids.push(run_d(ctx, &[IMG, "sleep", &mark]));
        }
        let started = t.elapsed();
        let out = ctx.ok(&["ps", "-q", "--no-trunc"]);
        let listed: BTreeSet<String> = out.stdout.lines().map(String::from).collect();
        let want: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(want.len(), N, "ids must be distinct");
        assert_eq!(listed, want, "ps must list all {N} running containers");
        let out = ctx.ok(&["ps"]);
        assert_eq!(
            out.stdout.lines().filter(|l| l.contains(" Up ")).count(),
            N,
            "{out}"
        );
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(10), || marker_sleeps(&mark).len() == N),
                "expected {N} sleeps, found {}",
                marker_sleeps(&mark).len()
            );
        }
        let t2 = Instant::now();
        for id in &ids {
            let out = ctx.rless(&["rm", "-f", id]);
            assert!(out.success(), "rm -f {id}: {out}");
        }
        let removed = t2.elapsed();
        eprintln!("{N} containers: started in {started:?}, removed in {removed:?}");

        assert!(
            containers(ctx).is_empty(),
            "container dirs left: {:?}",
            containers(ctx)
        );
        let debris = tmp_debris(&ctx.root);
        assert!(
            debris.is_empty(),
            "temporary debris left in the store: {debris:?}"
        );
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "ps -a must be empty");
        let ok = eventually(Duration::from_secs(10), || {
            marker_sleeps(&mark).is_empty() && store_processes(ctx).is_empty()
        });
        let left: Vec<HostProc> = marker_sleeps(&mark)
            .into_iter()
            .chain(store_processes(ctx))
            .collect();
        kill_all(&left);
        assert!(
            ok,
            "processes left after rm -f of every container: {left:?}"
        );
        assert_eq!(
            host_mounts_under(&ctx.root),
            mounts_before,
            "mounts left on the host"
        );
        assert!(
            started + removed < Duration::from_secs(60),
            "{N} run -d + rm -f took {started:?} + {removed:?}"
        );
    });
}

#[test]
fn lifecycle_system_reset_stops_containers() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_system_reset_stops_containers", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let mark = marker(ctx, 5);
        let id = run_d(ctx, &[IMG, "sleep", &mark]);
        let st = inspect(ctx, &id);
        let pid = state_of(&st)["Pid"].as_i64().unwrap_or(0);
        let monitor = state_of(&st)["MonitorPid"].as_i64().unwrap_or(0);
        assert!(pid_alive(pid) && pid_alive(monitor), "{st}");
        ctx.ok(&["system", "reset", "-f"]);
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        let gone = eventually(Duration::from_secs(5), || {
            !pid_alive(pid) && !pid_alive(monitor) && marker_sleeps(&mark).is_empty()
        });
        let left: Vec<HostProc> = marker_sleeps(&mark)
            .into_iter()
            .chain(store_processes(ctx))
            .collect();
        let desc = format!(
            "init {pid} alive: {}, monitor {monitor} alive: {}, left: {left:?}",
            pid_alive(pid),
            pid_alive(monitor)
        );
        kill_all(&left);
        for p in [pid, monitor] {
            if pid_alive(p) {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(p as i32).unwrap(),
                    rustix::process::Signal::KILL,
                );
            }
        }
        assert!(
            gone,
            "BUG ({} mode): `system reset -f` deleted the store of a running container but \
             left its processes running ({desc}); it must stop (kill) running containers first",
            ctx.user.mode.as_str()
        );
    });
}

#[test]
fn lifecycle_create_then_start() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_create_then_start", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let out = ctx.ok(&[
            "create",
            "--name",
            "made",
            IMG,
            "sh",
            "-c",
            "echo started; exit 6",
        ]);
        let id = out.stdout.trim().to_string();
        assert_eq!(id.len(), 64, "create prints the id: {out}");
        assert_eq!(state_of(&inspect(ctx, "made"))["Status"], "created");
        let ps = ctx.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.stdout.contains("made Created"), "{ps}");
        assert!(
            ctx.ok(&["ps", "-q"]).stdout.trim().is_empty(),
            "a created container is not running"
        );
        let out = ctx.rless(&["start", "-a", "made"]);
        assert_eq!(out.code, Some(6), "{out}");
        assert!(out.stdout.contains("started"), "{out}");
        assert_eq!(state_of(&inspect(ctx, "made"))["ExitCode"], 6);
        // Bad input creates nothing.
        assert_one_error(
            &ctx.rless(&["create", "--name", "made", IMG, "true"]),
            ERR_EXIT,
        );
        assert_one_error(&ctx.rless(&["create", "no-such-image", "true"]), ERR_EXIT);
        assert_eq!(containers(ctx), vec![id]);
    });
}
