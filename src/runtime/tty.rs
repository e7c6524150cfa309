//! `-t`: a pseudo-terminal for the container, relayed by the monitor.
//!
//! The container's init opens the pty pair from the container's own
//! /dev/pts (a fresh devpts instance), so the command's terminal has a name
//! that exists inside; it sizes the pty like the caller's terminal and sends
//! the master to the monitor over a socket pair (SCM_RIGHTS). The command
//! gets the slave as its controlling terminal. The monitor puts the caller's
//! terminal in raw mode, so keys such as ^C travel as bytes to the
//! container's line discipline, and relays stdin → master and master →
//! stdout with poll, taking signals from a signalfd in the same loop:
//! SIGWINCH resizes the pty, SIGCHLD ends the loop once the init has exited
//! and its output is drained, and the rest are passed on. The caller's
//! terminal settings are restored on every way out of the loop (the guard's
//! Drop). A process whose SIGTERM, SIGHUP, SIGINT or SIGQUIT keep their
//! default action while the terminal is raw (`attach -t`, `run -it
//! --sig-proxy=false`, which pass no signal on, as docker's) restores the
//! settings in a handler first, then dies of the signal as before
//! ([`make_raw`]). SIGKILL cannot be caught: after it the terminal stays
//! raw (`stty sane` or `reset` restore it).
//! `exec -it` relays with detach keys ([`Terminal::relay_until`]): typed,
//! they end the loop and hand the master back (see `runtime/exec.rs`).

use nix::libc;
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use rustix::termios::{self, OptionalActions, Termios};
use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

pub struct Terminal {
    master: OwnedFd,
}

/// Restores the caller's terminal when dropped.
struct RawGuard(Option<Termios>);

impl Drop for RawGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // The handlers have nothing more to restore.
            SAVED.store(std::ptr::null_mut(), Ordering::SeqCst);
            let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, t);
        }
    }
}

/// The settings a signal handler restores while the terminal is raw (null:
/// none). Set from a leaked box, never freed, so a handler may read it at
/// any time.
static SAVED: AtomicPtr<Termios> = AtomicPtr::new(std::ptr::null_mut());
/// The process that saved them: a child forked meanwhile (which inherits
/// the handler until it execs) leaves the terminal alone.
static SAVED_BY: AtomicI32 = AtomicI32::new(0);

/// The signals whose default action ends the process and which a terminal
/// or a process sends to end it; their handler restores the terminal.
const FATAL: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

/// Restores the terminal's settings, then dies of `sig` as its default
/// action would have it (the handler is installed with SA_RESETHAND, so the
/// signal raised again takes the default action once this returns and the
/// signal is unblocked). Only async-signal-safe calls: atomics, getpid,
/// the ioctl of tcsetattr, raise.
extern "C" fn restore_and_die(sig: libc::c_int) {
    let saved = SAVED.swap(std::ptr::null_mut(), Ordering::SeqCst);
    let mine = rustix::process::getpid().as_raw_nonzero().get() == SAVED_BY.load(Ordering::SeqCst);
    if !saved.is_null() && mine {
        // SAFETY: a non-null SAVED comes from Box::into_raw and is never
        // freed; descriptor 0 is the terminal make_raw changed (a borrow
        // for this call; nothing closes it meanwhile in a process that
        // dies next).
        unsafe {
            let stdin = std::os::fd::BorrowedFd::borrow_raw(0);
            let _ = termios::tcsetattr(stdin, OptionalActions::Now, &*saved);
        }
    }
    // SAFETY: raise is async-signal-safe; the signal is blocked during
    // this handler, so it is delivered, with the default action, when the
    // handler returns.
    unsafe {
        libc::raise(sig);
    }
}

/// Makes the fatal signals that still have their default action restore
/// `saved` before they end the process. Signals that are ignored (nohup)
/// or caught are left alone; a blocked one (taken from a signalfd) never
/// reaches its handler.
fn restore_at_fatal_signals(saved: &Termios) {
    let boxed = Box::into_raw(Box::new(saved.clone()));
    SAVED_BY.store(
        rustix::process::getpid().as_raw_nonzero().get(),
        Ordering::SeqCst,
    );
    SAVED.store(boxed, Ordering::SeqCst);
    for sig in FATAL {
        // SAFETY: sigaction with a zeroed (then filled) struct; the
        // handler only makes async-signal-safe calls (see
        // restore_and_die); the old action is read first, and put back
        // when it was not the default.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = restore_and_die as extern "C" fn(libc::c_int) as usize;
            act.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &act, &mut old) == 0 && old.sa_sigaction != libc::SIG_DFL {
                libc::sigaction(sig, &old, std::ptr::null_mut());
            }
        }
    }
}

/// The caller's terminal (stdin) in raw mode while this lives, when it is
/// a terminal; restored when dropped.
pub struct RawTerminal(#[allow(dead_code)] RawGuard);

/// Puts the caller's terminal in raw mode (`rless attach -t`).
pub fn raw_terminal() -> RawTerminal {
    RawTerminal(RawGuard(make_raw()))
}

/// The caller's window size, if stdin is a terminal.
pub fn caller_window_size() -> Option<nix::libc::winsize> {
    io::stdin()
        .is_terminal()
        .then(|| super::sys::window_size(io::stdin().as_fd()).ok())
        .flatten()
}

/// In the container's init, after its /dev/pts is mounted and the root
/// pivoted: opens a pty pair from the container's own devpts instance (so
/// `tty` inside names a device that exists there), sizes it, and sends the
/// master to the monitor over `socket`. Returns the slave for the command.
pub fn open_in_container(
    socket: &OwnedFd,
    size: Option<nix::libc::winsize>,
) -> io::Result<OwnedFd> {
    let (master, slave) = open_pair(size)?;
    super::sys::send_msg(socket, b'T', Some(master.as_fd()))?;
    Ok(slave)
}

/// Opens a pty pair from the /dev/pts of the current mount namespace.
fn open_pair(size: Option<nix::libc::winsize>) -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )?;
    if let Some(ws) = size {
        let _ = super::sys::set_window_size(master.as_fd(), &ws);
    }
    Ok((master, slave))
}

impl Terminal {
    /// A pty from the current mount namespace's /dev/pts (`exec -t`, which
    /// has joined the container's): the terminal to relay, and the slave.
    pub fn open_here(size: Option<nix::libc::winsize>) -> io::Result<(Terminal, OwnedFd)> {
        let (master, slave) = open_pair(size)?;
        Ok((Terminal { master }, slave))
    }

    /// Receives the master the container's init sent; `None` when the init
    /// failed before it could.
    pub fn receive(socket: &OwnedFd) -> io::Result<Option<Terminal>> {
        Ok(super::sys::recv_msg(socket)?
            .and_then(|(_, fd)| fd)
            .map(|master| Terminal { master }))
    }

    /// The master, for a detached container's monitor, which copies what
    /// the command writes into the log (nobody types into it).
    pub fn into_master(self) -> OwnedFd {
        self.master
    }

    /// Relays between the caller and the container until the init exits;
    /// returns its exit code.
    /// `on_child` runs at each SIGCHLD that was not the init's exit.
    pub fn relay(
        self,
        init: Pid,
        forward_stdin: bool,
        signals: &SigSet,
        on_child: &mut dyn FnMut(),
        sink: super::output::Sink<'_>,
    ) -> i32 {
        match self.relay_until(init, forward_stdin, signals, on_child, sink, &[]) {
            Relayed::Exited(code) => code,
            Relayed::Detached(_) => unreachable!("no detach keys"),
        }
    }

    /// [`Terminal::relay`], until the init exits or the caller types the
    /// detach `keys` (none: never), which do not reach the container;
    /// bytes that begin them are held until it is clear whether all came.
    /// Detached, the master is handed back, the caller's terminal restored.
    pub fn relay_until(
        self,
        init: Pid,
        forward_stdin: bool,
        signals: &SigSet,
        on_child: &mut dyn FnMut(),
        sink: super::output::Sink<'_>,
        keys: &[u8],
    ) -> Relayed {
        let mut keyed = KeyMatch::new(keys);
        let _guard = RawGuard(make_raw());
        let _pipe = super::sys::SigpipeIgnored::new();
        let sfd =
            match SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
                Ok(s) => s,
                Err(_) => return Relayed::Exited(super::sigproxy::wait_forwarding(init, signals)),
            };
        let stdin = io::stdin();
        let stdout = io::stdout();
        let mut stdin_open = forward_stdin;
        let mut buf = vec![0u8; 1 << 16];
        // Closed when our stdout is gone (`| head` ended): a hang-up, so
        // the command gets SIGHUP as from a terminal that went away.
        let mut master = Some(self.master);
        loop {
            let mut fds = vec![rustix::event::PollFd::new(
                &sfd,
                rustix::event::PollFlags::IN,
            )];
            if let Some(m) = &master {
                fds.push(rustix::event::PollFd::new(m, rustix::event::PollFlags::IN));
                if stdin_open {
                    fds.push(rustix::event::PollFd::new(
                        &stdin,
                        rustix::event::PollFlags::IN,
                    ));
                }
            }
            if rustix::event::poll(&mut fds, None).is_err() {
                continue;
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            let (sig_ready, master_ready, stdin_ready) = (
                ready[0],
                ready.get(1).copied().unwrap_or(false),
                ready.get(2).copied().unwrap_or(false),
            );
            if let (true, Some(m)) = (master_ready, &master) {
                match copy_to(m, &stdout, &mut buf, sink) {
                    Copy::Done => {}
                    // EIO: every slave is closed; the init's exit follows.
                    Copy::ReadEnded => {
                        if let Some(code) = wait_exit(init) {
                            return Relayed::Exited(code);
                        }
                    }
                    Copy::WriteFailed | Copy::Detached => master = None,
                }
            }
            if let (true, Some(m)) = (stdin_ready, &master) {
                match keyed.copy(&stdin, m, &mut buf) {
                    Copy::Done => {}
                    Copy::Detached => {
                        let m = master.take().expect("the master is open");
                        return Relayed::Detached(m);
                    }
                    _ => stdin_open = false,
                }
            }
            if sig_ready {
                while let Ok(Some(info)) = sfd.read_signal() {
                    match super::sigproxy::take(init, (&info).into()) {
                        super::sigproxy::Taken::Resize => {
                            if let (Ok(ws), Some(m)) =
                                (super::sys::window_size(stdin.as_fd()), &master)
                            {
                                let _ = super::sys::set_window_size(m.as_fd(), &ws);
                            }
                        }
                        super::sigproxy::Taken::Child => {
                            if let Some(code) = super::exit_code(init) {
                                if let Some(m) = &master {
                                    drain(m, &stdout, &mut buf, sink);
                                }
                                return Relayed::Exited(code);
                            }
                            on_child();
                        }
                        super::sigproxy::Taken::PassedOn { .. }
                        | super::sigproxy::Taken::Duplicate => {}
                    }
                }
            }
        }
    }
}

fn wait_exit(init: Pid) -> Option<i32> {
    super::reap(init, true).ok().flatten()
}

/// How [`Terminal::relay_until`] ended.
pub enum Relayed {
    /// The init exited with this code.
    Exited(i32),
    /// The caller typed the detach keys: the terminal's master, which
    /// whoever keeps the command running must hold (its closing hangs the
    /// terminal up).
    Detached(OwnedFd),
}

/// The detach keys, and how many of them the input has typed so far: the
/// one matcher of `exec -it`'s relay ([`Terminal::relay_until`]) and of
/// `attach`'s input.
pub struct KeyMatch<'k> {
    keys: &'k [u8],
    matched: usize,
}

impl<'k> KeyMatch<'k> {
    /// A matcher for `keys` (empty: none, every byte passes).
    pub fn new(keys: &'k [u8]) -> KeyMatch<'k> {
        KeyMatch { keys, matched: 0 }
    }

    /// Takes the next `input`, appending to `out` what passes on to the
    /// process; true once all the keys came (what came before them is in
    /// `out`, the rest of `input` is dropped). Bytes that may begin the
    /// keys are held back until the next ones show whether they do; after
    /// a mismatch the longest tail of what was held (and the byte) that
    /// begins the keys stays held, so `^P^P^Q` detaches on `^P,^Q`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            // What was held, and `b`: its longest tail that begins the
            // keys stays held, the rest passes on.
            let mut held = self.keys[..self.matched].to_vec();
            held.push(b);
            let keep = (1..=held.len())
                .rev()
                .find(|&n| self.keys.starts_with(&held[held.len() - n..]))
                .unwrap_or(0);
            out.extend_from_slice(&held[..held.len() - keep]);
            self.matched = keep;
        }
        false
    }

    /// Copies one read's worth, holding back the keys: [`Copy::Detached`]
    /// once all came (what came before them is copied first).
    fn copy(&mut self, from: impl AsFd, to: impl AsFd, buf: &mut [u8]) -> Copy {
        if self.keys.is_empty() {
            return copy_to(from, to, buf, &mut |_, _| true);
        }
        let n = match rustix::io::read(&from, &mut *buf) {
            Ok(0) | Err(_) => return Copy::ReadEnded,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        let detached = self.feed(&buf[..n], &mut out);
        match (write_all(&to, &out), detached) {
            (_, true) => Copy::Detached,
            (true, false) => Copy::Done,
            (false, false) => Copy::WriteFailed,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Copy {
    Done,
    /// The detach keys came ([`KeyMatch`]).
    Detached,
    /// End of input, or an error reading it.
    ReadEnded,
    /// The output refused the data (EPIPE, …).
    WriteFailed,
}

/// Copies one read's worth, also handing what was read to `sink` (as stdout: a terminal
/// has one stream), and copying it only when `sink` says it is shown
/// (`run -t -a stderr` shows nothing, as docker's and podman's).
fn copy_to(from: impl AsFd, to: impl AsFd, buf: &mut [u8], sink: super::output::Sink<'_>) -> Copy {
    match rustix::io::read(&from, &mut *buf) {
        Ok(0) | Err(_) => Copy::ReadEnded,
        Ok(n) => {
            if !sink(false, &buf[..n]) || write_all(&to, &buf[..n]) {
                Copy::Done
            } else {
                Copy::WriteFailed
            }
        }
    }
}

/// Writes all of `data`; false once the output refuses it (EPIPE, …).
pub(super) fn write_all(to: impl AsFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match rustix::io::write(&to, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Reads what is left in the master without blocking.
fn drain(master: &OwnedFd, out: impl AsFd, buf: &mut [u8], sink: super::output::Sink<'_>) {
    let _ = rustix::io::ioctl_fionbio(master, true);
    while copy_to(master, &out, buf, sink) == Copy::Done {}
}

/// Puts the caller's terminal in raw mode; returns the settings to restore
/// (which a fatal signal restores too, see [`restore_at_fatal_signals`]).
fn make_raw() -> Option<Termios> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let saved = termios::tcgetattr(&stdin).ok()?;
    let mut raw = saved.clone();
    raw.make_raw();
    // Before the change: a signal in between restores what was there.
    restore_at_fatal_signals(&saved);
    termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
    Some(saved)
}

#[cfg(test)]
mod tests {
    use super::KeyMatch;

    /// Feeds `chunks` one by one; what passed on, and whether (after which
    /// chunk) the keys came.
    fn fed(keys: &[u8], chunks: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
        let mut m = KeyMatch::new(keys);
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            if m.feed(c, &mut out) {
                return (out, Some(i));
            }
        }
        (out, None)
    }

    #[test]
    fn detach_keys_are_held_back_then_detach() {
        let keys = b"\x10\x11";
        assert_eq!(fed(keys, &[b"ab\x10\x11cd"]), (b"ab".to_vec(), Some(0)));
        // Split across reads.
        assert_eq!(fed(keys, &[b"a\x10", b"\x11"]), (b"a".to_vec(), Some(1)));
        // A start that is not the keys passes on once that is clear.
        assert_eq!(fed(keys, &[b"\x10", b"p"]), (b"\x10p".to_vec(), None));
        // A repeated first key: the last one may still begin the keys.
        assert_eq!(
            fed(keys, &[b"\x10\x10", b"\x11"]),
            (b"\x10".to_vec(), Some(1))
        );
        assert_eq!(
            fed(b"aab", &[b"aaab"]),
            (b"a".to_vec(), Some(0)),
            "a tail of what was held begins the keys"
        );
        // No keys: everything passes, nothing detaches.
        assert_eq!(fed(b"", &[b"\x10\x11"]), (b"\x10\x11".to_vec(), None));
    }
}
