//! Helpers shared by the container lifecycle tests (`lifecycle*.rs`): the
//! busybox image they import, `run -d`, `inspect`/`ps` as JSON, polling,
//! /proc readers and the [`Cleanup`] guard that removes every container of
//! a scenario's store when it ends.

use super::checks::*;
use super::oci::busybox;
use super::rootfs::{make_rootfs_with, RootfsSpec};
use super::{Ctx, Out};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// The name every scenario imports its busybox root filesystem as.
pub const IMG: &str = "bb";

/// Busybox applets linked into the test root filesystem.
pub const APPLETS: &[&str] = &[
    "sh", "true", "false", "id", "ps", "ls", "cat", "echo", "sleep", "kill", "touch", "mkdir",
    "hostname", "wc", "env", "pwd", "grep", "head", "test", "printf", "rm", "seq",
];

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
alice:x:1000:1000::/home/alice:/bin/sh\n";

pub const GROUP: &str = "root:x:0:\nalice:x:1000:\nnogroup:x:65534:\n";

/// A loop that keeps a container running and ends with exit 0 on SIGTERM.
pub const FOREVER: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

// ------------------------------------------------------------------ helpers (from run.rs)

/// Writes a busybox root filesystem to `dir`, owned by the test user.
pub fn make_rootfs(ctx: &Ctx, dir: &Path) {
    make_rootfs_with(ctx, dir, &RootfsSpec::new(APPLETS, PASSWD, GROUP), |_| {});
}

/// Builds the busybox root filesystem and imports it as [`IMG`].
pub fn setup_image(ctx: &Ctx) {
    let dir = ctx.work.join("rootfs");
    make_rootfs(ctx, &dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
}

/// Whether busybox is there (`busybox()` prints a SKIP otherwise).
pub fn have_busybox() -> bool {
    busybox().is_some()
}

pub fn container_dir(ctx: &Ctx, id: &str) -> std::path::PathBuf {
    ctx.root.join("containers").join(id)
}

// ------------------------------------------------------------------ helpers (lifecycle)

/// `rless run -d ARGS…`: must print exactly one 64-hex id and exit 0.
pub fn run_d(ctx: &Ctx, args: &[&str]) -> String {
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
        super::is_hex64(lines[0]),
        "run -d must print the 64-hex container id: {out}"
    );
    assert!(
        out.stderr.trim().is_empty(),
        "run -d must print nothing on stderr: {out}"
    );
    lines[0].to_string()
}

/// `rless run -d IMG sh -c SCRIPT`, with extra options first.
pub fn run_sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a: Vec<&str> = opts.to_vec();
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    run_d(ctx, &a)
}

/// The one object of `rless inspect Q`.
pub fn inspect(ctx: &Ctx, q: &str) -> Value {
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
pub fn ps_json(ctx: &Ctx, extra: &[&str]) -> Vec<Value> {
    let mut a = vec!["ps", "--format", "json"];
    a.extend_from_slice(extra);
    let out = ctx.ok(&a);
    match serde_json::from_str::<Value>(&out.stdout) {
        Ok(Value::Array(a)) => a,
        other => panic!("ps --format json is not a JSON array ({other:?}): {out}"),
    }
}

/// Ids in a `ps --format json` result.
pub fn json_ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r["Id"].as_str().expect("Id is a string").to_string())
        .collect()
}

/// Waits until `rless logs Q` (stdout and stderr together) contains `needle`.
pub fn wait_log(ctx: &Ctx, q: &str, needle: &str) -> Out {
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
pub fn pid_alive(pid: i64) -> bool {
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
pub fn proc_state(pid: i64) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat[stat.rfind(')')? + 1..]
            .split_whitespace()
            .next()?
            .to_string(),
    )
}

/// The parent pid of a process.
pub fn proc_ppid(pid: i64) -> Option<i64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn state_of(v: &Value) -> &Value {
    &v["State"]
}

/// A number unique to this test process and user, for `sleep N` markers.
pub fn marker(ctx: &Ctx, salt: u32) -> String {
    format!(
        "{}",
        5000 + (std::process::id() % 997) * 7 + ctx.user.uid % 1000 * 13 + salt
    )
}

/// Host processes of a `sleep MARKER` command.
pub fn marker_sleeps(marker: &str) -> Vec<HostProc> {
    host_processes()
        .into_iter()
        .filter(|p| {
            p.args.first().map(String::as_str) == Some("sleep")
                && p.args.get(1).map(String::as_str) == Some(marker)
        })
        .collect()
}

/// Host processes whose command line names this store (monitors, inits).
pub fn store_processes(ctx: &Ctx) -> Vec<HostProc> {
    let store = ctx.root.to_string_lossy().to_string();
    let me = std::process::id() as i32;
    host_processes()
        .into_iter()
        .filter(|p| p.pid != me && p.args.iter().any(|a| a == &store))
        .collect()
}

/// SIGKILL to a container's monitor (from `State.MonitorPid`).
pub fn kill_monitor(monitor: i64) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(monitor as i32).expect("a monitor pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill the monitor");
}

pub fn kill_all(procs: &[HostProc]) {
    for p in procs {
        if let Some(pid) = rustix::process::Pid::from_raw(p.pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// `date -u -d @SECS +%Y-%m-%dT%H:%M:%SZ`
pub fn rfc3339(secs: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Seconds since the epoch of an RFC 3339 time stamp, by `date`.
pub fn parse_time(s: &str) -> Option<i64> {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", s, "+%s"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The `.tmp-*` entries directly in the store's image directories
/// (`blobs/sha256`, `layers`, `images`): what an interrupted or refused
/// pull, load, import or commit would leave.
pub fn image_debris(ctx: &Ctx) -> Vec<String> {
    ["blobs/sha256", "layers", "images"]
        .iter()
        .flat_map(|d| {
            fs::read_dir(ctx.root.join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

/// Every entry under `dir` whose name starts `.tmp-`, relative to `dir`
/// (not descending into extracted layer trees).
pub fn tmp_debris(dir: &Path) -> Vec<String> {
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
pub struct Cleanup<'a>(pub &'a Ctx);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let ctx = self.0;
        let ids = ctx
            .rless_cmd(&["ps", "-aq", "--no-trunc"])
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.lines().filter(|l| super::is_hex64(l)).collect();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(ids);
            let _ = ctx.rless_cmd(&a).stdin(Stdio::null()).output();
        }
        kill_all(&store_processes(ctx));
    }
}
