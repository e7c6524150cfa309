//! Health checks: docker's `HEALTHCHECK` and `--health-*`.
//!
//! Theory of operation: a container's check ([`HealthConfig`], in docker's
//! form: the image's `Healthcheck` unless `run` overrode it) lives in its
//! config. Its monitor, once in the user namespace, starts a watcher
//! ([`spawn_watcher`]): this binary again, as `rless healthcheck watch`,
//! in a session of its own and not the monitor's child (it forks once more
//! and the first child ends at once), so the monitor's SIGCHLD handling
//! never sees a check end, and a check never holds up its output copying.
//! The watcher follows `state.json`: at each start of the container under
//! that monitor (a new init, whose health the monitor set back to
//! `starting` before it recorded the start: [`reset_for_start`]) its
//! timers begin again; every
//! interval it runs one check ([`probe`]) as `rless exec` runs a command,
//! with its stdout and stderr on one pipe (the first 4 KiB kept), killed
//! with its process group when the timeout passes; and it ends once the
//! monitor is gone. A check's result goes into `health.json` beside the
//! state ([`record`], under `health.lock`), which a stopped container
//! keeps; `rless healthcheck run` records one the same way.

use super::{process_start, read_config, read_state, write_json_atomically, ContainerError};
use crate::image::time;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// docker's defaults for a check's interval and timeout (30 s), retries.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// How much of a check's output the log keeps, as docker.
const MAX_OUTPUT: usize = 4096;
/// How many results the log keeps, as docker.
const MAX_LOG: usize = 5;

/// A check as docker's image and container configs hold it (durations in
/// nanoseconds; 0: the default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["CMD", ARG…]`, `["CMD-SHELL", "COMMAND"]` or `["NONE"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

impl HealthConfig {
    /// The command a check runs, if the container has a check at all.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((k, rest)) if k == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((k, [cmd])) if k == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
            }
            _ => None,
        }
    }

    pub fn interval(&self) -> Duration {
        nanos_or(self.interval, DEFAULT_INTERVAL)
    }

    pub fn timeout(&self) -> Duration {
        nanos_or(self.timeout, DEFAULT_INTERVAL)
    }

    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }

    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }
}

fn nanos_or(n: u64, default: Duration) -> Duration {
    if n == 0 {
        default
    } else {
        Duration::from_nanos(n)
    }
}

/// docker's `State.Health` (`health.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    #[serde(default)]
    pub log: Vec<Probe>,
}

/// One check's result, as docker's `State.Health.Log` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// The health recorded for the container in `dir`, if any.
pub fn read(dir: &Path) -> Option<Health> {
    let b = std::fs::read(dir.join("health.json")).ok()?;
    serde_json::from_slice(&b).ok()
}

/// docker's health status of a container (`ps --filter health=`):
/// `none` without a check, else `starting` until a check has said more.
pub fn status(config: &super::ContainerConfig, dir: &Path) -> String {
    if config
        .healthcheck
        .as_ref()
        .is_none_or(|h| h.command().is_none())
    {
        return "none".into();
    }
    read(dir).map_or_else(|| "starting".into(), |h| h.status)
}

/// Changes the recorded health under its lock.
fn update(dir: &Path, change: impl FnOnce(&mut Health)) -> Result<Health, ContainerError> {
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("health.lock"))
        .map_err(|source| ContainerError::Io {
            op: "open",
            path: dir.join("health.lock"),
            source,
        })?;
    let _ = lock.lock();
    let mut h = read(dir).unwrap_or_else(|| Health {
        status: "starting".into(),
        ..Default::default()
    });
    change(&mut h);
    write_json_atomically(dir, "health.json", &h)?;
    Ok(h)
}

/// A new start: `starting` again, the streak at 0 (the log stays).
pub fn reset(dir: &Path) -> Result<(), ContainerError> {
    update(dir, |h| {
        h.status = "starting".into();
        h.failing_streak = 0;
    })
    .map(|_| ())
}

/// The monitor's part of each start of a container with a check: its
/// health goes back to `starting` before the start is recorded (and
/// before `run -d` or `start` returns), as docker resets it while it
/// starts the container. Not the watcher's: it starts after `run -d` has
/// returned, and its reset could undo what a `healthcheck run` right after
/// recorded.
pub fn reset_for_start(dir: &Path, check: Option<&HealthConfig>) {
    if check.is_some_and(|h| h.command().is_some()) {
        if let Err(e) = reset(dir) {
            eprintln!("rless monitor: {e}");
        }
    }
}

/// Records a check's result: a pass is `healthy`; a failure adds to the
/// streak (not while `starting` within the start period), and `retries`
/// failures in a row are `unhealthy`.
pub fn record(
    dir: &Path,
    cfg: &HealthConfig,
    probe: Probe,
    in_start_period: bool,
) -> Result<Health, ContainerError> {
    update(dir, |h| {
        if probe.exit_code == 0 {
            h.status = "healthy".into();
            h.failing_streak = 0;
        } else if !(in_start_period && h.status == "starting") {
            h.failing_streak += 1;
            if h.failing_streak >= cfg.retries() {
                h.status = "unhealthy".into();
            }
        }
        h.log.push(probe);
        let extra = h.log.len().saturating_sub(MAX_LOG);
        h.log.drain(..extra);
    })
    .inspect(|h| {
        let status = ("health_status", h.status.clone());
        crate::events::container(dir, "health_status", &[status]);
    })
}

/// Runs the check `cmd` once in the container in `dir` (through this
/// binary's `exec`), killing it and its process group after `timeout`.
pub fn probe(dir: &Path, cmd: &[String], timeout: Duration) -> Probe {
    let start = time::format_rfc3339_nanos(SystemTime::now());
    let (exit_code, output) = match run_exec(dir, cmd, timeout) {
        Ok(r) => r,
        Err(e) => (-1, format!("cannot run the health check: {e}")),
    };
    Probe {
        start,
        end: time::format_rfc3339_nanos(SystemTime::now()),
        exit_code,
        output,
    }
}

fn run_exec(dir: &Path, cmd: &[String], timeout: Duration) -> std::io::Result<(i32, String)> {
    use std::os::fd::AsFd;
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The store holds containers/ID.
    let root = dir.parent().and_then(Path::parent).unwrap_or(dir);
    let (r, w) = std::io::pipe()?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--root")
        .arg(root)
        .arg("exec")
        .arg(&id)
        .args(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(w.try_clone()?)
        .stderr(w)
        .spawn()?;
    let r = std::os::fd::OwnedFd::from(r);
    let flags = rustix::fs::fcntl_getfl(&r)?;
    rustix::fs::fcntl_setfl(&r, flags | rustix::fs::OFlags::NONBLOCK)?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut open = true;
    let status = loop {
        if open {
            let mut fds = [rustix::event::PollFd::new(&r, rustix::event::PollFlags::IN)];
            let wait = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            };
            let _ = rustix::event::poll(&mut fds, Some(&wait));
            loop {
                match rustix::io::read(r.as_fd(), &mut buf) {
                    Ok(0) => {
                        open = false;
                        break;
                    }
                    Ok(n) => {
                        let room = MAX_OUTPUT.saturating_sub(out.len());
                        out.extend_from_slice(&buf[..n.min(room)]);
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => break,
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() >= deadline {
            kill_check(&mut child);
            break None;
        }
    };
    match status {
        None => Ok((
            -1,
            format!("Health check exceeded timeout ({})", go_duration(timeout)),
        )),
        Some(s) => {
            use std::os::unix::process::ExitStatusExt;
            let code = s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0));
            Ok((code, String::from_utf8_lossy(&out).into_owned()))
        }
    }
}

/// Kills what the `rless exec` process `child` runs in the container, and
/// ends `child`. It is stopped first, and its children read only once it
/// is: a stopped process forks no more, so none can start after the read
/// and outlive the kill (under load a check's timeout often passes while
/// `rless exec` is still setting up, just before its fork). Its children
/// (each a session, so a process group, of its own) are killed with their
/// groups; then it is let go on, to reap its child and end as it does when
/// its process dies: killed itself, it left that child a zombie that only
/// the host's init could reap (a parent outside the container's pid
/// namespace hands its orphans to its own namespace's reaper), and many
/// such inits never do. One stopped before its fork is killed.
fn kill_check(child: &mut std::process::Child) {
    use nix::sys::signal::{kill, killpg, Signal};
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGSTOP);
    // Bounded: a process in an uninterruptible sleep stops only once it
    // leaves it.
    match wait_stopped(pid, Duration::from_secs(5)) {
        // It ended and is reaped: what it ran ended with it (it waits
        // for its process), and `child` must not be signalled again
        // (its pid may be another process's now).
        Waited::Ended => return,
        Waited::Stopped | Waited::Running => {}
    }
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let children: Vec<_> = children
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
        .map(nix::unistd::Pid::from_raw)
        .collect();
    for &c in &children {
        let _ = killpg(c, Signal::SIGKILL);
        let _ = kill(c, Signal::SIGKILL);
    }
    if !children.is_empty() {
        let _ = kill(pid, Signal::SIGCONT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How a wait for a stop ended.
enum Waited {
    Stopped,
    /// Still running when the time was up (or it cannot be waited for).
    Running,
    /// It ended, and is reaped.
    Ended,
}

/// Waits at most `limit` until this process's child `pid` has stopped.
fn wait_stopped(pid: nix::unistd::Pid, limit: Duration) -> Waited {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = Instant::now() + limit;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(WaitStatus::Stopped(..)) => return Waited::Stopped,
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Waited::Ended,
            _ => return Waited::Running,
        }
    }
}

/// A duration as Go prints one (`200ms`, `1s`, `1m30s`), for messages.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (m, s) = (d.as_secs() / 60, d.as_secs_f64() % 60.0);
    if m == 0 {
        format!("{s}s")
    } else {
        format!("{m}m{s}s")
    }
}

/// Parses a Go duration (`200ms`, `1.5s`, `1m30s`, `0`) to nanoseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

/// Starts the watcher of the container in `dir` for the monitor that calls
/// this (see the module's comment), if the container has a check.
pub fn spawn_watcher(dir: &Path, check: Option<&HealthConfig>) {
    let has_check = check.is_some_and(|h| h.command().is_some());
    if !has_check {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("healthcheck")
        .arg("watch")
        .arg("--monitor")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // Not the user's terminal (a foreground monitor's): the watcher must
    // not keep a pipe reading `run`'s output open, and has nothing to say.
    match cmd.spawn() {
        Ok(mut c) => {
            let _ = c.wait();
        }
        Err(e) => eprintln!("rless: warning: cannot start the health checks: {e}"),
    }
}

/// Makes a watcher process (health checks, `--timeout`) no child of the
/// monitor that started it: forks, the first process exits, the second
/// starts a session of its own. False if the fork failed.
pub fn detach_watcher() -> bool {
    // SAFETY: this process is single-threaded (a watcher calls this as it
    // starts), so the child may run anything.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(_) => return false,
    }
    let _ = nix::unistd::setsid();
    true
}

/// The watcher's work, in its own process (`rless healthcheck watch`):
/// detaches from the monitor, then checks until the monitor is gone.
pub fn watch(dir: &Path, monitor: i32) {
    if !detach_watcher() {
        return;
    }
    let Some(config) = read_config(dir) else {
        return;
    };
    let Some(cfg) = config.healthcheck.clone() else {
        return;
    };
    let Some(cmd) = cfg.command() else {
        return;
    };
    let Some(monitor_start) = process_start(monitor) else {
        return;
    };
    let mut init: Option<u64> = None;
    let mut began = Instant::now();
    let mut next = Instant::now();
    while process_start(monitor) == Some(monitor_start) {
        let state = read_state(dir);
        let ours = state.running() && state.monitor_pid == Some(monitor);
        // A new start (its monitor reset the health already).
        if ours && state.init_start != init {
            init = state.init_start;
            began = Instant::now();
            next = began + cfg.interval();
        }
        if ours && !state.paused && Instant::now() >= next {
            let p = probe(dir, &cmd, cfg.timeout());
            // A check the container's end cut short says nothing.
            let now = read_state(dir);
            if now.running() && now.init_start == init {
                let h = record(dir, &cfg, p, began.elapsed() < cfg.start_period());
                if h.is_ok_and(|h| h.status == "unhealthy") {
                    crate::container::runopts::act_on_failure(dir, &config.run_options);
                }
            }
            next = Instant::now() + cfg.interval();
        }
        let wait = next.saturating_duration_since(Instant::now());
        std::thread::sleep(wait.clamp(Duration::from_millis(10), Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Some(200_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }

    /// Failures while `starting` in the start period do not count; after
    /// it, `retries` in a row make it unhealthy; a pass resets the streak;
    /// the log keeps the last 5; a reset is `starting` again.
    #[test]
    fn results_make_the_status() {
        let t = tempfile::tempdir().unwrap();
        let cfg = HealthConfig {
            test: vec!["CMD-SHELL".into(), "x".into()],
            retries: 2,
            ..Default::default()
        };
        let p = |code: i32| Probe {
            exit_code: code,
            output: code.to_string(),
            ..Default::default()
        };
        let h = record(t.path(), &cfg, p(1), true).unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        let h = record(t.path(), &cfg, p(1), false).unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 1));
        let h = record(t.path(), &cfg, p(0), false).unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        // Once healthy, the start period no longer hides a failure.
        let h = record(t.path(), &cfg, p(1), true).unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 1));
        let h = record(t.path(), &cfg, p(2), false).unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        for c in 3..6 {
            record(t.path(), &cfg, p(c), false).unwrap();
        }
        let h = read(t.path()).unwrap();
        let outputs: Vec<&str> = h.log.iter().map(|l| l.output.as_str()).collect();
        assert_eq!(outputs, ["0", "1", "2", "3", "4", "5"][1..]);
        reset(t.path()).unwrap();
        let h = read(t.path()).unwrap();
        assert_eq!(
            (h.status.as_str(), h.failing_streak, h.log.len()),
            ("starting", 0, 5)
        );
    }

    #[test]
    fn commands() {
        let c = |t: &[&str]| HealthConfig {
            test: t.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            c(&["CMD-SHELL", "true"]).command(),
            Some(vec!["/bin/sh".into(), "-c".into(), "true".into()])
        );
        assert_eq!(
            c(&["CMD", "a", "b"]).command(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(c(&["NONE"]).command(), None);
    }
}
