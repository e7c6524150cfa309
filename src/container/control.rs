//! Acting on running containers from any rless process: signals, stop,
//! wait. The monitor owns the container; these functions only signal its
//! init (after checking the pid still belongs to it) and watch `state.json`.

use super::{process_alive, read_state, ContainerError, ContainerState};
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Parses a signal name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse().ok()
}

/// Sends `sig` to the container's init, which passes it to the command
/// (SIGKILL ends the init, and so the whole container).
pub fn signal(dir: &Path, sig: Signal) -> Result<ContainerState, ContainerError> {
    let state = read_state(dir);
    if !state.running() {
        return Err(ContainerError::NotRunning);
    }
    if let Some(pid) = state
        .pid
        .filter(|_| process_alive(state.pid, state.init_start))
    {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).map_err(|e| {
            ContainerError::Io {
                op: "signal",
                path: dir.to_path_buf(),
                source: e.into(),
            }
        })?;
    }
    Ok(state)
}

/// Waits until the container is no longer running, or `timeout` passes.
pub fn wait_stopped(dir: &Path, timeout: Option<Duration>) -> Option<ContainerState> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(2);
    loop {
        let s = read_state(dir);
        if !s.running() {
            return Some(s);
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return None;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// SIGTERM, then SIGKILL after `grace`; returns the final state. The
/// container's restart policy will not start it again.
pub fn stop(dir: &Path, grace: Duration) -> Result<ContainerState, ContainerError> {
    super::mark_stopped(dir, true);
    match signal(dir, Signal::SIGTERM) {
        Ok(_) => {}
        Err(ContainerError::NotRunning) => return Ok(read_state(dir)),
        Err(e) => return Err(e),
    }
    if let Some(s) = wait_stopped(dir, Some(grace)) {
        return Ok(s);
    }
    let _ = signal(dir, Signal::SIGKILL);
    Ok(wait_stopped(dir, Some(Duration::from_secs(10))).unwrap_or_else(|| read_state(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("NOPE"), None);
    }
}
