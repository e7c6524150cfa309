//! The `run`/`create` options that act after the container is made, kept
//! in its `config.json` (`run_options`): `-a/--attach`, `--detach-keys`,
//! `--tz`, `--pidfile`, `--rmi`, `--timeout` and `--health-on-failure`.
//!
//! Theory of operation: `run` checks every value before the container is
//! made and records what it took here; the monitors (the foreground
//! `run`/`start -a` one and the detached one) read it back:
//! - the pid file gets the init's host pid (no newline, as podman's) at
//!   every start, and goes when the container is removed;
//! - `--rmi` removes the image once a `--rm` container is gone, by running
//!   `rless rmi` on it (its refusal when another container uses the image
//!   is printed, and changes no exit code, as podman);
//! - `--timeout` is a watcher process per monitor (`rless healthcheck
//!   timeout`, hidden): N seconds after each start it ends that run as
//!   `rless stop` does (stop signal, then SIGKILL after the stop timeout),
//!   and marks it timed out, so the monitor records exit code 255 as
//!   podman's conmon does. It is not a user's stop: the restart policy
//!   acts on that exit (`on-failure:3 --timeout 2` runs four times, each
//!   ended after 2 s, as podman's), and the watcher goes on watching each
//!   new run while its monitor lives.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the options asked for; all unset for containers of older versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    /// `-a`: the streams attached (`stdin`, `stdout`, `stderr`); empty:
    /// docker's default (stdout and stderr, stdin with `-i`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attach: Vec<String>,
    /// `--detach-keys`, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
    /// `--tz`, as given (`local` or `Area/City`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timezone: String,
    /// `--pidfile`, absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pidfile: Option<PathBuf>,
    /// `--rmi`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rmi: bool,
    /// `--timeout` in seconds; 0: none.
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: u64,
    /// `--health-on-failure`: what the health watcher does when the check
    /// turns the container unhealthy: `kill`, `restart` or `stop` (the
    /// `rless` command of that name); empty (`none`): nothing.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_on_failure: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RunOptions {
    pub fn is_unset(&self) -> bool {
        *self == RunOptions::default()
    }

    /// Whether the output stream (`stderr` or not) is shown.
    pub fn shows(&self, stderr: bool) -> bool {
        let name = if stderr { "stderr" } else { "stdout" };
        self.attach.is_empty() || self.attach.iter().any(|s| s == name)
    }

    /// Whether the caller's input reaches a `-i` container.
    pub fn takes_stdin(&self) -> bool {
        self.attach.is_empty() || self.attach.iter().any(|s| s == "stdin")
    }
}

/// Writes the init's host `pid` to the container's pid file, if it has one
/// (a failure is a warning: the container runs).
pub fn write_pidfile(options: &RunOptions, pid: i32) {
    if let Some(f) = &options.pidfile {
        if let Err(e) = std::fs::write(f, pid.to_string()) {
            eprintln!(
                "rless: warning: cannot write the pid file {}: {e}",
                f.display()
            );
        }
    }
}

/// Removes the pid file of a container being removed (if it is there).
pub fn remove_pidfile(options: &RunOptions) {
    if let Some(f) = &options.pidfile {
        let _ = std::fs::remove_file(f);
    }
}

/// `--rmi`: after a `--rm` container in `dir` (under the store's
/// `containers/`) is removed, removes its image with `rless rmi`, whose
/// refusal (another container uses it) is printed as its own line.
pub fn remove_image(dir: &Path, config: &super::ContainerConfig) {
    if !config.run_options.rmi || config.image_id.is_empty() || dir.exists() {
        return;
    }
    let (Some(root), Ok(exe)) = (dir.parent().and_then(Path::parent), std::env::current_exe())
    else {
        return;
    };
    let image = if config.image_name.is_empty() {
        &config.image_id
    } else {
        &config.image_name
    };
    let _ = std::process::Command::new(exe)
        .arg("--root")
        .arg(root)
        .arg("rmi")
        .arg(image)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status();
}

/// `--health-on-failure`: runs `rless kill|restart|stop` on the container
/// in `dir` (under the store's `containers/`), which the health watcher
/// found unhealthy. Its output goes nowhere: the watcher has no terminal.
pub fn act_on_failure(dir: &Path, options: &RunOptions) {
    let action = options.health_on_failure.as_str();
    if !matches!(action, "kill" | "restart" | "stop") {
        return;
    }
    let (Some(root), Some(id), Ok(exe)) = (
        dir.parent().and_then(Path::parent),
        dir.file_name(),
        std::env::current_exe(),
    ) else {
        return;
    };
    let _ = std::process::Command::new(exe)
        .arg("--root")
        .arg(root)
        .arg(action)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// The exit code of a run `--timeout` ended (podman's conmon reports -1).
pub const TIMED_OUT: i32 = 255;

/// The file that says the run whose init started at `init_start` was
/// ended by `--timeout`.
fn timed_out_file(dir: &Path) -> PathBuf {
    dir.join("timed-out")
}

/// Whether the run whose init started at `init_start` was ended by
/// `--timeout` (the marker is taken away).
pub fn take_timed_out(dir: &Path, init_start: Option<u64>) -> bool {
    let f = timed_out_file(dir);
    let Ok(text) = std::fs::read_to_string(&f) else {
        return false;
    };
    let _ = std::fs::remove_file(&f);
    init_start.is_some_and(|s| text.trim() == s.to_string())
}

/// Starts the `--timeout` watcher of the container in `dir` for the
/// monitor that calls this, if the container has a timeout.
pub fn spawn_timeout_watcher(dir: &Path, options: &RunOptions) {
    if options.timeout == 0 {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let spawned = std::process::Command::new(exe)
        .arg("healthcheck")
        .arg("timeout")
        .arg("--monitor")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // It forks and ends at once (see `watch_timeout`).
        Ok(mut c) => {
            let _ = c.wait();
        }
        Err(e) => eprintln!("rless: warning: cannot start the --timeout watcher: {e}"),
    }
}

/// The `--timeout` watcher's work, in its own process: detaches from the
/// monitor, then, while the monitor lives, ends each run that lasts
/// longer than the timeout (not marking the container stopped, so its
/// restart policy applies).
pub fn watch_timeout(dir: &Path, monitor: i32) {
    use std::time::{Duration, Instant};
    if !super::health::detach_watcher() {
        return;
    }
    let Some(config) = super::read_config(dir) else {
        return;
    };
    let limit = Duration::from_secs(config.run_options.timeout);
    let Some(monitor_start) = super::process_start(monitor) else {
        return;
    };
    let grace = Duration::from_secs(config.stop_timeout.unwrap_or(10));
    // The run watched: its init's start, and when it was first seen
    // (`None` once it has been ended).
    let mut run: Option<(u64, Option<Instant>)> = None;
    while super::process_start(monitor) == Some(monitor_start) {
        let state = super::read_state(dir);
        let init = state
            .init_start
            .filter(|_| state.running() && state.monitor_pid == Some(monitor));
        if let Some(init) = init {
            match run {
                Some((watched, Some(began))) if watched == init => {
                    if began.elapsed() >= limit {
                        let _ = std::fs::write(timed_out_file(dir), init.to_string());
                        super::control::end_run(dir, init, config.stop_signal(), grace);
                        run = Some((init, None));
                    }
                }
                Some((watched, None)) if watched == init => {}
                _ => run = Some((init, Some(Instant::now()))),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_defaults() {
        let all = RunOptions::default();
        assert!(all.shows(false) && all.shows(true) && all.takes_stdin());
        assert!(all.is_unset());
        let err = RunOptions {
            attach: vec!["stderr".into()],
            ..Default::default()
        };
        assert!(!err.shows(false) && err.shows(true) && !err.takes_stdin());
        assert_eq!(serde_json::to_string(&all).unwrap(), "{}");
    }

    #[test]
    fn timed_out_marks_one_run() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(timed_out_file(t.path()), "42").unwrap();
        assert!(!take_timed_out(t.path(), Some(41)));
        std::fs::write(timed_out_file(t.path()), "42").unwrap();
        assert!(take_timed_out(t.path(), Some(42)));
        assert!(!take_timed_out(t.path(), Some(42)));
    }
}
