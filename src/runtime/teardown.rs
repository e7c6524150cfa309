//! Undoing a start that failed after the clone.
//!
//! Theory of operation: once the init is cloned, [`super::spawn`] builds
//! its [`Started`] piece by piece (FUSE server, network stack or port
//! forwarder, terminal). If a later step fails, [`Started::abandon`] takes
//! everything down again, in the reverse order of what depends on what:
//! the host ports first (the forwarder process, the stack's thread), then
//! the init, killed or waited for and reaped (its pid namespace, and with
//! it the mount namespace, go too), then the FUSE server, whose threads end
//! once that mount is gone, and last the cgroup. Each step runs even when
//! an earlier one failed, and every failure is reported along with the
//! reason the start failed. Afterwards the caller is single-threaded, has
//! no child left from this start and holds none of its ports, so a
//! detached monitor can try again later in the same process.

use super::{init, StartFailure, Started};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// One thing that could not be undone.
#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    #[error(transparent)]
    Forwarder(#[from] crate::network::publish::PublishError),
    #[error("cannot stop the container's network: {0}")]
    Network(#[from] super::network::NetworkError),
    #[error("cannot {op} the container's init (pid {pid}): {source}")]
    Init {
        op: &'static str,
        pid: i32,
        source: nix::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] super::cgroups::CgroupError),
}

/// Why a start failed after the clone, which decides how the init ends.
pub enum Failed {
    /// The monitor's side of setting up failed: the init is killed and
    /// the start fails with docker's setup code.
    Monitor(super::RunError),
    /// The init reported its own failure (setup or exec) on the status
    /// pipe, or ended before its root was mounted: it exits by itself,
    /// with the code the start fails with.
    Init(String),
}

impl Started {
    /// Takes down what this start set up, after it failed as `why` says;
    /// the failure, with whatever could not be undone appended.
    pub(super) fn abandon(mut self, why: Failed) -> StartFailure {
        let mut errors: Vec<TeardownError> = Vec::new();
        if let Some(f) = self.forwarder.take() {
            errors.extend(f.stop().err().map(Into::into));
        }
        if let Some(net) = self.network.take() {
            errors.extend(net.stop().err().map(Into::into));
        }
        drop(self.terminal.take());
        let (killed, message) = match why {
            Failed::Monitor(e) => (true, e.to_string()),
            Failed::Init(m) => (false, m),
        };
        let (code, reaped) = match end_init(self.init, killed) {
            Ok(_) if killed => (init::EXIT_SETUP, true),
            Ok(code) => (code, true),
            Err(e) => {
                errors.push(e);
                (init::EXIT_SETUP, false)
            }
        };
        // The init's mount namespace is gone once it is reaped, and the
        // kernel ends the FUSE connection: the server threads return. Not
        // reaped, it may live on, and waiting could hang: leave them.
        if let Some(server) = self._fuse.take() {
            if reaped {
                server.join();
            }
        }
        if let Some(cg) = self.cgroup.take() {
            errors.extend(cg.remove().err().map(Into::into));
        }
        let message = if errors.is_empty() {
            message
        } else {
            let undone: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("{message}; cleaning up after it: {}", undone.join("; "))
        };
        StartFailure { code, message }
    }
}

/// Ends the init of a failed start: with `kill_it`, SIGKILL first (its
/// pid namespace goes with it); then reaps it. Its exit code.
fn end_init(pid: Pid, kill_it: bool) -> Result<i32, TeardownError> {
    let err = |op| {
        move |source| TeardownError::Init {
            op,
            pid: pid.as_raw(),
            source,
        }
    };
    if kill_it {
        if let Err(e) = kill(pid, Signal::SIGKILL) {
            // Not signalled (an unreaped init would have been): waiting
            // might never end, so reap it only if it is gone already.
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            return Err(err("kill")(e));
        }
    }
    Ok(super::reap(pid, true)
        .map_err(|e| {
            err("reap")(nix::errno::Errno::from_raw(
                e.raw_os_error().unwrap_or(nix::libc::EINVAL),
            ))
        })?
        .unwrap_or(init::EXIT_SETUP))
}
