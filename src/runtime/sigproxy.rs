//! Signals a foreground rless passes on to what it runs.
//!
//! Theory of operation: as docker's and podman's `run` do by default
//! (`--sig-proxy`), a foreground rless passes every signal it can catch
//! to the process it stands for. Three kinds of rless process do: the
//! parent that waits outside the user namespace for a foreground `run`
//! ([`super::ids`]), the monitor (a foreground `run`, `start -a`), and
//! `exec`. Each blocks [`forwarded`] before it starts its child, takes the
//! signals from a signalfd (or with sigwait, where there is none) by
//! number, so real-time ones pass too, and hands each to [`take`]. The
//! container's init passes them on to the command in turn
//! ([`super::init`]).
//!
//! Left to rless itself:
//! - SIGCHLD: its own children's ends ([`Taken::Child`]);
//! - SIGWINCH: the caller's terminal changed size; with `-t` that size is
//!   given to the container's terminal ([`Taken::Resize`]), without a
//!   terminal there is nothing to tell;
//! - SIGPIPE: its own writes to a reader that went away;
//! - SIGTSTP, SIGTTIN, SIGTTOU and SIGCONT: job control, so Ctrl-Z stops
//!   rless and gives the shell back while the container runs on, and `fg`
//!   resumes the wait (docker passes SIGTSTP on, which stops the command and
//!   leaves the shell waiting). The container was never stopped, so the
//!   shell's SIGCONT is not for it; passed on, it would also resume a
//!   paused container, which `pause` stopped with SIGSTOP;
//! - the signals of a process's own faults (SIGSEGV, SIGBUS, SIGFPE,
//!   SIGILL, SIGTRAP, SIGSYS), and 32 and 33, which glibc keeps;
//! - SIGKILL and SIGSTOP, which no process can catch.

use nix::libc;
use nix::sys::signal::SigSet;
use nix::unistd::Pid;

/// The signals a foreground rless passes on (blocked, then taken).
pub fn forwarded() -> SigSet {
    let mut set = super::sys::init_signals();
    for s in [
        nix::sys::signal::Signal::SIGPIPE,
        nix::sys::signal::Signal::SIGTSTP,
        nix::sys::signal::Signal::SIGTTIN,
        nix::sys::signal::Signal::SIGTTOU,
        nix::sys::signal::Signal::SIGCONT,
    ] {
        set.remove(s);
    }
    set
}

/// What became of a signal taken from [`forwarded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// SIGCHLD: a child of the caller's may have ended.
    Child,
    /// SIGWINCH: the caller's terminal changed size.
    Resize,
    /// Passed on; `ending` for SIGINT, SIGTERM, SIGHUP and SIGQUIT, which
    /// ask the command to end (a foreground monitor then does not restart
    /// it).
    PassedOn { ending: bool },
}

/// Passes signal number `signo` on to `target`, unless it is the caller's
/// own ([`Taken::Child`], [`Taken::Resize`]).
pub fn take(target: Pid, signo: i32) -> Taken {
    match signo {
        libc::SIGCHLD => Taken::Child,
        libc::SIGWINCH => Taken::Resize,
        _ => {
            let _ = super::sys::send_signal(target.as_raw(), signo);
            Taken::PassedOn {
                ending: matches!(
                    signo,
                    libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT
                ),
            }
        }
    }
}

/// Waits for the init, passing signals on; returns its exit code.
pub fn wait_forwarding(init: Pid, signals: &SigSet) -> i32 {
    wait_forwarding_seen(init, signals, &mut || {}).0
}

/// [`wait_forwarding`], also telling whether a signal asking to end was
/// passed on ([`Taken::PassedOn`]). `on_child` runs at each SIGCHLD that
/// was not the init's exit (another child of the caller's, such as a port
/// forwarder, may have ended).
pub fn wait_forwarding_seen(
    init: Pid,
    signals: &SigSet,
    on_child: &mut dyn FnMut(),
) -> (i32, bool) {
    let mut ended = false;
    loop {
        if let Some(code) = super::exit_code(init) {
            return (code, ended);
        }
        let Ok(signo) = super::sys::wait_signal(signals) else {
            continue;
        };
        match take(init, signo) {
            Taken::Child => {
                if let Some(code) = super::exit_code(init) {
                    return (code, ended);
                }
                on_child();
            }
            Taken::Resize => {}
            Taken::PassedOn { ending } => ended |= ending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn forwarded_holds_every_catchable_signal_but_rless_own() {
        let set = forwarded();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGALRM,
            Signal::SIGPWR,
            Signal::SIGURG,
            Signal::SIGWINCH,
            Signal::SIGCHLD,
        ] {
            assert!(set.contains(s), "{s} is passed on");
        }
        for s in [
            Signal::SIGKILL,
            Signal::SIGSTOP,
            Signal::SIGPIPE,
            Signal::SIGTSTP,
            Signal::SIGTTIN,
            Signal::SIGTTOU,
            Signal::SIGCONT,
            Signal::SIGSEGV,
        ] {
            assert!(!set.contains(s), "{s} stays with rless");
        }
        // Real-time signals, which nix's Signal cannot name.
        for n in [libc::SIGRTMIN(), libc::SIGRTMIN() + 3, libc::SIGRTMAX()] {
            // SAFETY: sigismember reads the set, which `set` owns.
            let member = unsafe { libc::sigismember(set.as_ref(), n) };
            assert_eq!(member, 1, "real-time signal {n} is passed on");
        }
    }
}
