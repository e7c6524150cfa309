//! A container's state (`state.json`) and its marks: what runs, under
//! which monitor, and how it ended.
//!
//! Theory of operation: the monitor replaces `state.json` atomically at
//! each change, under the state lock (`state.lock`); readers that find the
//! monitor gone (its pid dead or reused, by start time) report a live
//! state exited, and record that once under the lock. Marks are empty
//! files beside it: `stopped-by-user` (the restart policy ends) and
//! `restart-requested` (a `--rm` container is kept through `restart`).
//! On a full disk the last record still lands (`state.reserve`).

use super::ContainerError;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// Marks a container as stopped by the user, so its restart policy does not
/// start it again (cleared by `start`).
pub fn mark_stopped(dir: &Path, stopped: bool) {
    let p = dir.join("stopped-by-user");
    if stopped {
        let _ = fs::write(p, b"");
    } else {
        let _ = fs::remove_file(p);
    }
}

pub fn stopped_by_user(dir: &Path) -> bool {
    dir.join("stopped-by-user").exists()
}

/// `restart` marks the container it stops, so that its exit does not
/// remove a `--rm` container (docker turns auto-removal off meanwhile);
/// the start clears the mark.
pub fn mark_restart_requested(dir: &Path, requested: bool) {
    let p = dir.join("restart-requested");
    if requested {
        let _ = fs::write(p, b"");
    } else {
        let _ = fs::remove_file(p);
    }
}

/// Whether the container's exit is to remove it: `--rm`, unless a
/// `restart` is under way.
pub fn removes_on_exit(dir: &Path, auto_remove: bool) -> bool {
    auto_remove && !dir.join("restart-requested").exists()
}

/// Where a container is in its life (`state.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerState {
    /// `created`, `running` or `exited`.
    pub status: String,
    /// The init's pid (host pid namespace) while running.
    pub pid: Option<i32>,
    /// The monitor's pid and start time (clock ticks since boot), to tell a
    /// live monitor from a reused pid.
    #[serde(default)]
    pub monitor_pid: Option<i32>,
    #[serde(default)]
    pub monitor_start: Option<u64>,
    #[serde(default)]
    pub init_start: Option<u64>,
    pub exit_code: Option<i32>,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    /// Why the container stopped, when not by itself.
    #[serde(default)]
    pub reason: Option<String>,
    /// The storage driver its root filesystem used.
    #[serde(default)]
    pub driver: Option<String>,
    /// How many times the restart policy has restarted it.
    #[serde(default)]
    pub restart_count: u32,
    /// Published ports, with the host ports actually bound.
    #[serde(default)]
    pub ports: Vec<crate::runtime::network::Publish>,
    /// The container's cgroup while it runs (cgroup v2, delegated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
    /// User-defined networks: (network, address) while running.
    #[serde(default)]
    pub networks: Vec<(String, std::net::Ipv4Addr)>,
    /// Every process stopped by `rless pause` (status stays `running`).
    #[serde(default)]
    pub paused: bool,
}

impl ContainerState {
    /// The state as it really is: a `running` or `restarting` container
    /// whose monitor is gone (killed, or the machine rebooted) is exited.
    pub fn effective(mut self) -> ContainerState {
        if self.live() && !process_alive(self.monitor_pid, self.monitor_start) {
            self.status = "exited".into();
            self.pid = None;
            self.paused = false;
            self.exit_code = self.exit_code.or(Some(137));
            self.reason =
                Some("the monitor process is gone (killed, or the machine restarted)".into());
        }
        self
    }

    pub fn running(&self) -> bool {
        self.status == "running"
    }

    /// Whether a monitor still owns the container: it runs, or it waits
    /// out its restart policy's back-off (`restarting`, which docker too
    /// counts as running for `ps`, `rm`, `start` and `wait`).
    pub fn live(&self) -> bool {
        self.running() || self.status == "restarting"
    }

    /// The status docker shows: `paused` for a paused running container.
    pub fn shown_status(&self) -> &str {
        if self.running() && self.paused {
            "paused"
        } else {
            &self.status
        }
    }
}

/// The start time of `pid` in clock ticks since boot (field 22 of
/// /proc/PID/stat), if it exists and has not exited: a zombie (state Z or
/// X, dead but not yet reaped) counts as gone.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = crate::procfs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; fields resume
    // after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` still runs and is the process that started at `start`.
pub fn process_alive(pid: Option<i32>, start: Option<u64>) -> bool {
    match (pid, start) {
        (Some(pid), Some(start)) => process_start(pid) == Some(start),
        (Some(pid), None) => process_start(pid).is_some(),
        _ => false,
    }
}

/// Reads a container's state as it really is (see
/// [`ContainerState::effective`]). The first reader to find a dead monitor
/// records the exit, with the time it noticed, so later readers agree.
pub fn read_state(dir: &Path) -> ContainerState {
    read_state_as(dir, false)
}

/// The container's state lock (`state.lock` in its directory), held while
/// it lives. Every write of `state.json` takes it, and a change of a state
/// read before re-reads it under the lock ([`update_state`]), so that no
/// writer puts back a state another one (the monitor recording the exit,
/// above all) has replaced meanwhile. `None` where the lock cannot be had
/// (the directory is going away): the write goes on without it.
fn lock_state(dir: &Path) -> Option<fs::File> {
    let f = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("state.lock"))
        .ok()?;
    f.lock().ok()?;
    Some(f)
}

/// Changes the stored state under the state lock: `change` gets the state
/// as it is now (not as the caller read it before) and says whether to
/// write it back.
pub fn update_state(
    dir: &Path,
    change: impl FnOnce(&mut ContainerState) -> bool,
) -> Result<(), ContainerError> {
    let _lock = lock_state(dir);
    let mut state = read_state_as(dir, true);
    if change(&mut state) {
        store_state(dir, &state)?;
    }
    Ok(())
}

/// [`read_state`]; `locked`: the caller holds the state lock.
fn read_state_as(dir: &Path, locked: bool) -> ContainerState {
    let read = || {
        super::filecache::state(dir).unwrap_or_else(|| ContainerState {
            status: "created".into(),
            ..Default::default()
        })
    };
    let stored = read();
    let monitor = (stored.monitor_pid, stored.monitor_start);
    let was_live = stored.live();
    let mut state = stored.effective();
    if was_live && !state.live() {
        // The monitor may have recorded the exit and ended between our read
        // and its check: it writes before it ends, so what the file holds
        // now is final. Only a monitor that died without writing leaves
        // `running` (or `restarting`) there, under its own pid (another one
        // may have started the container again meanwhile).
        let _lock = if locked { None } else { lock_state(dir) };
        let now = read();
        if !now.live() || (now.monitor_pid, now.monitor_start) != monitor {
            return now.effective();
        }
        // A `restarting` record has its exit time already.
        state.finished = state.finished.or(Some(crate::image::time::now()));
        let _ = store_state(dir, &state);
    }
    state
}

/// Replaces `state.json` atomically, under the state lock (see
/// [`update_state`] to change a state read before).
pub fn write_state(dir: &Path, state: &ContainerState) -> Result<(), ContainerError> {
    let _lock = lock_state(dir);
    store_state(dir, state)
}

/// Writes `state.json` (the caller holds the state lock). On a full disk
/// the last records (a container's exit) must still land, or it would show
/// as killed (137) for good: a small file of room is kept beside the state
/// (`state.reserve`), given up for one retry when a write finds no space,
/// and made again by a later write.
fn store_state(dir: &Path, state: &ContainerState) -> Result<(), ContainerError> {
    const RESERVE: &str = "state.reserve";
    let before = super::filecache::state(dir).map(|s| s.status);
    #[cfg(test)]
    if FAIL_WRITES.with(std::cell::Cell::get) {
        return Err(ContainerError::Io {
            op: "write",
            path: dir.join("state.json"),
            source: std::io::Error::other("a failure the test asked for"),
        });
    }
    let written = match super::filecache::write_state(dir, state) {
        Err(ContainerError::Io { source, .. })
            if matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) && fs::remove_file(dir.join(RESERVE)).is_ok() =>
        {
            super::filecache::write_state(dir, state)
        }
        r => r,
    };
    let reserve = dir.join(RESERVE);
    if written.is_ok() && fs::symlink_metadata(&reserve).is_err() {
        if let Ok(f) = fs::File::create(&reserve) {
            if rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, 64 << 10).is_err()
            {
                drop(f);
                let _ = fs::remove_file(&reserve);
            }
        }
    }
    if written.is_ok() {
        record_transition(dir, before.as_deref(), state);
    }
    written
}

#[cfg(test)]
thread_local! {
    /// Makes this thread's state writes fail (a full disk), for the tests.
    pub(super) static FAIL_WRITES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The `start` and `died` events of a change of the recorded status (a
/// start by the restart policy too, and an exit a reader found for a dead
/// monitor), once it is recorded, under the state lock: only the writer
/// that changed the status logs it, so a change is logged once (a write
/// that failed, on a full disk, logs nothing, and the writer that then
/// records the exit logs it). Whoever waits for the exit and logs an
/// event of its own after it (`stop`) takes the state lock first
/// ([`after_state_writes`]), so that `died` comes first, as docker
/// orders them.
fn record_transition(dir: &Path, before: Option<&str>, now: &ContainerState) {
    let was_running = matches!(before, Some("running"));
    if now.running() && !was_running {
        crate::events::container(dir, "start", &[]);
    } else if was_running && !now.running() {
        let code = now.exit_code.unwrap_or(0).to_string();
        crate::events::container(dir, "died", &[("containerExitCode", code)]);
    }
}

/// Waits until no state write is under way (takes the state lock and
/// lets it go): what the writer logged with it is in the event log.
pub fn after_state_writes(dir: &Path) {
    drop(lock_state(dir));
}
