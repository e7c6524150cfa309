//! Signals a foreground rless passes on to what it runs.
//!
//! Theory of operation: as docker's and podman's `run` do by default
//! (`--sig-proxy`), a foreground rless passes every signal it can catch
//! to the process it stands for. Three kinds of rless process do: the
//! parent that waits outside the user namespace for a foreground `run`
//! ([`super::ids`]), the monitor (a foreground `run`, `start -a`), and
//! `exec`. Each blocks [`forwarded`] before it starts its child, takes the
//! signals from a signalfd (or with sigwaitinfo, where there is none) with
//! their number, so real-time ones pass too, and how and by whom they
//! were sent ([`Got`]), and hands each to [`take`]. The container's init
//! passes them on to the command in turn ([`super::init`]). (`run
//! --sig-proxy=false` is not one of them: the container gets a detached
//! monitor, and the foreground rless only shows its log.)
//!
//! Each signal reaches the command once. In subuid mode a foreground `run`
//! is two processes in one process group: the parent waiting outside the
//! user namespace, and the monitor, its child. The terminal's signals
//! (Ctrl-C: `SI_KERNEL`, sent to the whole foreground group) reach the
//! monitor itself, so the parent passes on only those a process sent
//! ([`super::ids`]). A process that signals the whole group (`kill --
//! -PGID`, `timeout`'s kill(0, sig), systemd's kill of a control group)
//! reaches both, and the parent passes its copy on to the monitor: so a
//! monitor with such a parent ([`relayed_by_parent`]) passes on, of the
//! signals a process sent, only the parent's (and its own), and drops the
//! copy it got straight from the sender ([`Taken::Duplicate`]); real-time
//! signals queue, so passing both would give the command two. A signal a
//! process sends to such a monitor alone is dropped too: signal `rless
//! run` (the parent), its group, or use `rless kill`, which signals the
//! container's init.
//!
//! Left to rless itself:
//! - SIGCHLD: its own children's ends ([`Taken::Child`]);
//! - SIGWINCH: the caller's terminal changed size; with `-t` that size is
//!   given to the container's terminal ([`Taken::Resize`]), without a
//!   terminal there is nothing to tell;
//! - SIGPIPE: its own writes to a reader that went away;
//! - SIGXFSZ and SIGXCPU: the kernel's answer to rless's own writes past
//!   `ulimit -f` (relaying the command's output to a file) and its own CPU
//!   time past `ulimit -t`; the command did not cause them (its own go to
//!   it), so they take their default action on rless, as on any program
//!   (a detached monitor ignores them: see `commands/run/monitor.rs`);
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
use std::sync::OnceLock;

/// The waiting parent that passes signals on to this process, and this
/// process (its forks are not relayed to), once [`relayed_by_parent`].
static RELAY: OnceLock<(i32, i32)> = OnceLock::new();

/// Records that this process's parent waits for it and passes on to it
/// the signals a process sent (subuid mode's parent of a foreground
/// monitor, [`super::ids`]); [`take`] then drops the other copy.
pub fn relayed_by_parent() {
    let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let _ = RELAY.set((parent, me));
}

/// A signal taken: its number, its `si_code`, and its sender's pid (for a
/// signal a process sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Got {
    pub signo: i32,
    pub code: i32,
    pub pid: i32,
}

impl From<&libc::signalfd_siginfo> for Got {
    fn from(i: &libc::signalfd_siginfo) -> Got {
        Got {
            signo: i.ssi_signo as i32,
            code: i.ssi_code,
            pid: i.ssi_pid as i32,
        }
    }
}

impl Got {
    /// Whether a process sent it (kill, sigqueue, tgkill: `si_code` 0 or
    /// less), not the kernel (the terminal's `SI_KERNEL`, a child's end).
    pub fn from_a_process(&self) -> bool {
        self.code <= 0
    }

    /// Whether it is a copy the waiting parent passes on too: sent by a
    /// process other than the parent and this one, to a process that has
    /// such a parent ([`relayed_by_parent`]).
    fn duplicate(&self, relay: Option<(i32, i32)>) -> bool {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        relay.is_some_and(|(parent, relayed)| {
            relayed == me && self.from_a_process() && self.pid != parent && self.pid != me
        })
    }
}

/// The signals a foreground rless passes on (blocked, then taken).
pub fn forwarded() -> SigSet {
    let mut set = super::sys::init_signals();
    for s in [
        nix::sys::signal::Signal::SIGPIPE,
        nix::sys::signal::Signal::SIGXFSZ,
        nix::sys::signal::Signal::SIGXCPU,
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
    /// Not passed on: the waiting parent passes the same signal on (see
    /// the theory above).
    Duplicate,
}

/// Passes `got` on to `target`, unless it is the caller's own
/// ([`Taken::Child`], [`Taken::Resize`]) or a copy its waiting parent
/// passes on ([`Taken::Duplicate`]).
pub fn take(target: Pid, got: Got) -> Taken {
    take_relayed(target, got, RELAY.get().copied())
}

fn take_relayed(target: Pid, got: Got, relay: Option<(i32, i32)>) -> Taken {
    let signo = got.signo;
    match signo {
        libc::SIGCHLD => Taken::Child,
        libc::SIGWINCH => Taken::Resize,
        _ if got.duplicate(relay) => Taken::Duplicate,
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
        let Ok(got) = super::sys::wait_signal_info(signals) else {
            continue;
        };
        match take(init, got) {
            Taken::Child => {
                if let Some(code) = super::exit_code(init) {
                    return (code, ended);
                }
                on_child();
            }
            Taken::Resize | Taken::Duplicate => {}
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
            Signal::SIGXFSZ,
            Signal::SIGXCPU,
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

    /// With a waiting parent, a signal a process sent passes on only from
    /// the parent (or this process); the terminal's, and any without such
    /// a parent, pass as before.
    #[test]
    fn a_group_signal_passes_once_with_a_waiting_parent() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let parent = me + 100_000;
        let relay = Some((parent, me));
        // A target that does not exist: nothing is sent anywhere.
        let target = Pid::from_raw(i32::MAX);
        let rt = libc::SIGRTMIN() + 3;
        let got = |code, pid| Got {
            signo: rt,
            code,
            pid,
        };
        let passed = Taken::PassedOn { ending: false };
        let other = me + 200_000;
        // From the sender straight (kill, sigqueue, tgkill): dropped.
        for code in [libc::SI_USER, libc::SI_QUEUE, libc::SI_TKILL] {
            assert_eq!(
                take_relayed(target, got(code, other), relay),
                Taken::Duplicate
            );
        }
        // From the parent, from itself, from the terminal: passed on.
        assert_eq!(
            take_relayed(target, got(libc::SI_USER, parent), relay),
            passed
        );
        assert_eq!(take_relayed(target, got(libc::SI_USER, me), relay), passed);
        assert_eq!(take_relayed(target, got(libc::SI_KERNEL, 0), relay), passed);
        // Its own signals stay its own.
        let child = Got {
            signo: libc::SIGCHLD,
            code: libc::SI_USER,
            pid: other,
        };
        assert_eq!(take_relayed(target, child, relay), Taken::Child);
        // No waiting parent, or a fork of the relayed process: passed on.
        assert_eq!(
            take_relayed(target, got(libc::SI_USER, other), None),
            passed
        );
        let forked = Some((parent, me + 1));
        assert_eq!(
            take_relayed(target, got(libc::SI_USER, other), forked),
            passed
        );
        let term = Got {
            signo: libc::SIGTERM,
            code: libc::SI_USER,
            pid: parent,
        };
        assert_eq!(
            take_relayed(target, term, relay),
            Taken::PassedOn { ending: true }
        );
    }
}
