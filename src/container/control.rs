//! Acting on running containers from any rless process: signals, stop,
//! wait, pause. The monitor owns the container; these functions only signal
//! its init (after checking the pid still belongs to it) and watch
//! `state.json`.
//!
//! Pause: rootless on cgroup v1 there is no freezer we may use, so `pause`
//! sends SIGSTOP to every process of the container's pid namespace (found
//! through `/proc/PID/ns/pid`), again and again until one pass finds all
//! of them stopped (a process forked meanwhile is caught by the next
//! pass), and `unpause` sends SIGCONT. Limits: a paused process can see
//! that it was stopped (its parent gets SIGCHLD once it resumes, and a
//! ptracer sees it), and SIGCONT from inside the container would undo it;
//! nothing inside runs to send one, though.

use super::{process_alive, read_state, update_state, ContainerError, ContainerState};
use crate::signal::Sig;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends `sig` to the container's init, which passes it to the command
/// (SIGKILL ends the init, and so the whole container).
pub fn signal(dir: &Path, sig: Sig) -> Result<ContainerState, ContainerError> {
    let state = read_state(dir);
    if !state.running() {
        return Err(ContainerError::NotRunning);
    }
    if let Some(pid) = state
        .pid
        .filter(|_| process_alive(state.pid, state.init_start))
    {
        // Without a pid namespace of its own, a killed init takes nothing
        // with it: the whole tree goes.
        if sig == Sig::KILL && !crate::runtime::share::owns_pid_ns(pid) {
            crate::runtime::share::kill_tree(pid);
        }
        crate::runtime::sys::send_signal(pid, sig.number()).map_err(|source| {
            ContainerError::Io {
                op: "signal",
                path: dir.to_path_buf(),
                source,
            }
        })?;
    }
    Ok(state)
}

/// The host pids of the container's processes: every process in the pid
/// namespace of `init`, or, where that namespace is not the container's
/// own (`--pid host|container:X`), the init and what descends from it.
pub fn namespace_pids(init: i32) -> Vec<i32> {
    crate::runtime::share::container_pids(init)
}

/// A process's state letter (`R`, `S`, `T`…) from /proc/PID/stat.
fn proc_state(pid: i32) -> Option<char> {
    let stat = crate::procfs::read(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

fn live_init(state: &ContainerState) -> Result<i32, ContainerError> {
    state
        .pid
        .filter(|_| state.running() && process_alive(state.pid, state.init_start))
        .ok_or(ContainerError::NotRunning)
}

/// Stops every process of the container (SIGSTOP) and records it as paused.
pub fn pause(dir: &Path) -> Result<(), ContainerError> {
    let state = read_state(dir);
    let init = live_init(&state)?;
    if state.paused {
        return Err(ContainerError::Paused);
    }
    let mut delay = Duration::from_micros(200);
    for _ in 0..200 {
        let mut all_stopped = true;
        for pid in namespace_pids(init) {
            if !matches!(proc_state(pid), Some('T' | 't' | 'Z' | 'X') | None) {
                all_stopped = false;
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGSTOP);
            }
        }
        if all_stopped {
            // Unless it ended meanwhile (and the monitor recorded that).
            update_state(dir, |s| {
                s.paused = s.running();
                s.paused
            })?;
            crate::events::container(dir, "pause", &[]);
            return Ok(());
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
    resume_all(init);
    Err(ContainerError::Io {
        op: "pause",
        path: dir.to_path_buf(),
        source: std::io::Error::other("its processes kept changing; it was resumed"),
    })
}

fn resume_all(init: i32) {
    for pid in namespace_pids(init) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGCONT);
    }
}

/// Resumes a paused container (SIGCONT to every process).
pub fn unpause(dir: &Path) -> Result<(), ContainerError> {
    let state = read_state(dir);
    let init = live_init(&state)?;
    if !state.paused {
        return Err(ContainerError::NotPaused);
    }
    resume_all(init);
    update_state(dir, |s| std::mem::take(&mut s.paused))?;
    crate::events::container(dir, "unpause", &[]);
    Ok(())
}

/// The container's stop signal (`run --stop-signal`, else the image's
/// `STOPSIGNAL`, else SIGTERM), then SIGKILL after `grace`; returns the
/// final state. The container's restart policy will not start it again.
pub fn stop(dir: &Path, grace: Duration) -> Result<ContainerState, ContainerError> {
    let first = super::read_config(dir).map_or(Sig::TERM, |c| c.stop_signal());
    stop_with(dir, first, grace)
}

/// [`stop`] with `first` instead of the container's stop signal
/// (`stop -s`, `restart -s`).
pub fn stop_with(
    dir: &Path,
    first: Sig,
    grace: Duration,
) -> Result<ContainerState, ContainerError> {
    let config = super::read_config(dir);
    let done = end(dir, first, grace).ok_or_else(|| ContainerError::Io {
        op: "stop",
        path: dir.to_path_buf(),
        source: std::io::Error::other("it still runs after SIGKILL"),
    })?;
    if let Some(c) = config {
        crate::events::container_after(dir, &c, "stop", &[]);
    }
    Ok(done)
}

/// For `rm -f` and `system reset`: SIGKILL, no grace, and no restart;
/// `None` if it is still live 10 s later.
pub fn kill_now(dir: &Path) -> Option<ContainerState> {
    end(dir, Sig::KILL, Duration::ZERO)
}

/// `rm -f -t SECS`: the container's stop signal, then SIGKILL after
/// `grace` (at once when `grace` is zero, as [`kill_now`]).
pub fn stop_for_removal(dir: &Path, grace: Duration) -> Option<ContainerState> {
    if grace.is_zero() {
        return kill_now(dir);
    }
    let first = super::read_config(dir).map_or(Sig::TERM, |c| c.stop_signal());
    end(dir, first, grace)
}

/// `rless kill`: sends `sig` to the init. SIGKILL, SIGTERM, SIGINT and
/// SIGQUIT also end the restart policy (docker's "manually stopped"); a
/// container in its restart back-off is ended by any signal, as docker
/// tells the monitor to exit on its next event. A paused container is
/// resumed after its stop signal, as docker resumes it, so it can act on
/// it (another signal waits for `unpause`).
pub fn kill(dir: &Path, sig: Sig) -> Result<(), ContainerError> {
    let state = read_state(dir);
    if state.status == "restarting" {
        super::mark_stopped(dir, true);
        wake_monitor(&state);
        return Ok(());
    }
    if sig.ends() && state.running() {
        super::mark_stopped(dir, true);
    }
    let config = super::read_config(dir);
    let state = signal(dir, sig)?;
    if let Some(c) = &config {
        crate::events::container_after(dir, c, "kill", &[("signal", sig.number().to_string())]);
    }
    let stop = config.map_or(Sig::TERM, |c| c.stop_signal());
    if state.paused && sig == stop {
        // It may have ended meanwhile: nothing left to resume then.
        let _ = unpause(dir);
    }
    Ok(())
}

/// Ends the container for good: marks it stopped (so its restart policy
/// does not start it again), then, until it is no longer live, sends a
/// running init `first` (unpausing it, unless that is SIGKILL) and SIGKILL once `grace`
/// has passed, and wakes a monitor waiting out its back-off (SIGTERM, see
/// [`super::monitor::back_off`]). Every round reads the state
/// afresh: the monitor may start the container again (it checked the mark
/// just before it was made) or begin a back-off at any moment. `None` if it
/// is still live 10 s after `grace`.
fn end(dir: &Path, first: Sig, grace: Duration) -> Option<ContainerState> {
    super::mark_stopped(dir, true);
    let start = Instant::now();
    let mut delay = Duration::from_millis(2);
    // The init signalled, when, and whether SIGKILL went too.
    let mut sent: Option<(i32, Instant, bool)> = None;
    loop {
        let s = read_state(dir);
        if !s.live() {
            // What the caller logs next (`stop`, `remove`) comes after the
            // monitor's `died`, logged once the exit is recorded, still
            // under the state lock.
            super::after_state_writes(dir);
            return Some(s);
        }
        if start.elapsed() >= grace + Duration::from_secs(10) {
            return None;
        }
        if s.status == "restarting" {
            wake_monitor(&s);
        } else if let Some(init) = s.pid.filter(|_| process_alive(s.pid, s.init_start)) {
            match sent {
                Some((pid, at, killed)) if pid == init => {
                    if !killed && at.elapsed() >= grace {
                        let _ = signal(dir, Sig::KILL);
                        sent = Some((pid, at, true));
                    }
                }
                // A new init (or none signalled yet).
                _ => {
                    if first != Sig::KILL && s.paused {
                        // A paused container must run to act on its signal.
                        let _ = unpause(dir);
                    }
                    let _ = signal(dir, first);
                    sent = Some((init, Instant::now(), first == Sig::KILL));
                }
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// `--timeout`: ends the container's current run, the one whose init
/// started at `init_start`, as [`end`] does (`first`, SIGKILL once `grace`
/// has passed) but without marking the container stopped: its exit is a
/// failure its restart policy acts on, as podman's conmon timeout is.
/// Returns once that init is gone (or 10 s after `grace`); a later run is
/// never signalled.
pub fn end_run(dir: &Path, init_start: u64, first: Sig, grace: Duration) {
    let start = Instant::now();
    let mut sent: Option<(Instant, bool)> = None;
    while start.elapsed() < grace + Duration::from_secs(10) {
        let s = read_state(dir);
        if !s.running() || s.init_start != Some(init_start) || !process_alive(s.pid, s.init_start) {
            return;
        }
        match sent {
            None => {
                if first != Sig::KILL && s.paused {
                    let _ = unpause(dir);
                }
                let _ = signal(dir, first);
                sent = Some((Instant::now(), first == Sig::KILL));
            }
            Some((at, false)) if at.elapsed() >= grace => {
                let _ = signal(dir, Sig::KILL);
                sent = Some((at, true));
            }
            Some(_) => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wakes a monitor from its restart back-off (it then records the exit,
/// as the container is marked stopped).
fn wake_monitor(s: &ContainerState) {
    if let Some(pid) = s
        .monitor_pid
        .filter(|_| process_alive(s.monitor_pid, s.monitor_start))
    {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
    }
}

const WAITERS_LOCK: &str = "waiters.lock";

fn open_waiters_lock(dir: &Path) -> Option<std::fs::File> {
    std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(WAITERS_LOCK))
        .ok()
}

/// Held (shared) by a command that reads the exit of the container in
/// `dir` after it ends, as [`wait_exit`] does: a `--rm` container is
/// removed only once the returned file is closed (or after a few seconds).
pub fn hold_for_exit(dir: &Path) -> Option<std::fs::File> {
    open_waiters_lock(dir).filter(|f| f.lock_shared().is_ok())
}

/// Before a `--rm` container is removed, with its exit recorded as
/// `removing`, or one `rm -f` killed: waits (at most a few seconds, for a stuck one) until every
/// `wait` on it has read the exit code, which would otherwise go with the
/// directory.
pub fn let_waiters_read(dir: &Path) {
    let Some(lock) = open_waiters_lock(dir) else {
        return;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lock.try_lock().is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `rless wait`: waits for the container's next exit, as docker does: the
/// end of the current run, restarts included (a container waiting out its
/// back-off: the end of its next run); for a container never started
/// (`created`), the end of the run a later `start` begins; at once if it
/// has exited. `None` if the container is removed first (`rm -f` of a
/// created one, say): it has no exit to tell.
pub fn wait_exit(dir: &Path) -> Option<ContainerState> {
    // Held until the exit is read: a `--rm` container is removed only once
    // its waiters have seen its exit code ([`let_waiters_read`]).
    let _waiting = open_waiters_lock(dir).filter(|f| f.lock_shared().is_ok());
    let mut first = read_state(dir);
    let mut delay = Duration::from_millis(2);
    loop {
        let s = read_state(dir);
        // A missing `state.json` reads as `created`; the directory is
        // renamed away whole, so its absence tells a removal.
        if s.status == "created" && !dir.exists() {
            return None;
        }
        // Never started, or `init`ed since its last run: as `created`.
        let waiting = matches!(first.status.as_str(), "created" | "initialized");
        if waiting && s.live() {
            // Started: from now on, wait for the end of this run.
            first = s.clone();
        }
        let exited = match first.status.as_str() {
            "created" | "initialized" => !matches!(s.status.as_str(), "created" | "initialized"),
            "running" => !s.running() || s.started != first.started,
            "restarting" => {
                s.status == "restarting"
                    && (s.finished, s.restart_count) != (first.finished, first.restart_count)
            }
            _ => true,
        };
        if exited || (!s.live() && !waiting) {
            return Some(s);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}
