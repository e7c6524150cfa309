//! A foreground container's output without `-t`: shown and logged.
//!
//! Theory of operation: as with docker's attached `run`, the command
//! writes to two pipes, never to the caller's own descriptors (so it sees
//! a pipe, not the caller's terminal, as under docker). The monitor (the
//! foreground `rless run`) copies each chunk to its stdout or stderr and
//! hands it to a sink, the container's log, so `logs` shows a foreground
//! run too. Signals come from a signalfd in the same poll loop: SIGCHLD
//! ends the loop once the init has exited and the pipes are drained (at
//! most a second after the exit: whatever still holds them died with the
//! pid namespace), the rest are passed on to the init.
//!
//! A caller's stream that goes away (`| head`) closes the pipe it was
//! fed from (SIGPIPE is ignored here meanwhile): the command's next write
//! fails as it would have on the caller's pipe, and the run ends rather
//! than relaying to nobody. The log then misses what was not written.

use super::tty::write_all;
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;

/// Where a chunk of output goes besides the caller: `true` for stderr.
/// It answers whether the caller is shown the chunk too (`run -a`).
pub type Sink<'a> = &'a mut dyn FnMut(bool, &[u8]) -> bool;

/// Copies `out` and `err` to this process's stdout and stderr and to
/// `sink` until the init has exited and both are drained. Returns the exit
/// code and whether a signal asking to end (SIGINT, SIGTERM, SIGHUP,
/// SIGQUIT) was passed on. `on_child` runs at each other SIGCHLD.
pub fn relay(
    init: Pid,
    out: OwnedFd,
    err: OwnedFd,
    signals: &SigSet,
    on_child: &mut dyn FnMut(),
    sink: Sink<'_>,
) -> (i32, bool) {
    let _pipe = super::sys::SigpipeIgnored::new();
    let Ok(sfd) = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        return super::sigproxy::wait_forwarding_seen(init, signals, on_child);
    };
    let mut open = [Some(out), Some(err)];
    let mut buf = vec![0u8; 1 << 16];
    let mut exit: Option<i32> = None;
    let mut ended = false;
    loop {
        if let (Some(code), [None, None]) = (exit, &open) {
            return (code, ended);
        }
        let Some((signalled, ready, _)) = poll_streams(&sfd, &open, None, exit.is_some()) else {
            return (exit.unwrap_or(0), ended);
        };
        for i in ready {
            let fd = open[i].as_ref().expect("open");
            match rustix::io::read(fd, &mut buf) {
                Ok(0) | Err(_) => open[i] = None,
                Ok(n) => {
                    let chunk = &buf[..n];
                    let shown = if !sink(i == 1, chunk) {
                        true
                    } else if i == 0 {
                        write_all(std::io::stdout(), chunk)
                    } else {
                        write_all(std::io::stderr(), chunk)
                    };
                    // The caller's reader is gone (`| head`): so is ours,
                    // and the command's next write fails with EPIPE (or
                    // SIGPIPE), as if it wrote to the caller's pipe itself.
                    if !shown {
                        open[i] = None;
                    }
                }
            }
        }
        if signalled {
            while let Ok(Some(info)) = sfd.read_signal() {
                match super::sigproxy::take(init, (&info).into()) {
                    super::sigproxy::Taken::Child => {
                        if exit.is_none() {
                            exit = super::exit_code(init);
                            if exit.is_none() {
                                on_child();
                            }
                        }
                    }
                    super::sigproxy::Taken::Resize | super::sigproxy::Taken::Duplicate => {}
                    super::sigproxy::Taken::PassedOn { ending } => ended |= ending,
                }
            }
        }
    }
}

/// One wait of a relay loop: polls `sfd` and the streams still open, for
/// at most a second once the init has exited (`exited`: whatever still
/// holds them died with the pid namespace, but a relay never waits
/// forever). `None` when that second passed with nothing: the relay is
/// over. Else whether signals wait, the indices of the streams ready, and
/// whether `input` (polled too, when given) is ready.
pub fn poll_streams(
    sfd: &SignalFd,
    open: &[Option<OwnedFd>],
    input: Option<&OwnedFd>,
    exited: bool,
) -> Option<(bool, Vec<usize>, bool)> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = vec![PollFd::new(sfd, PollFlags::IN)];
    if let Some(i) = input {
        fds.push(PollFd::new(i, PollFlags::IN));
    }
    let first = 1 + usize::from(input.is_some());
    let mut which = Vec::new();
    for (i, fd) in open.iter().enumerate() {
        if let Some(fd) = fd {
            fds.push(PollFd::new(fd, PollFlags::IN));
            which.push(i);
        }
    }
    let second = Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    match poll(&mut fds, exited.then_some(&second)) {
        Ok(0) => None,
        Ok(_) => Some((
            !fds[0].revents().is_empty(),
            which
                .into_iter()
                .zip(&fds[first..])
                .filter(|(_, f)| !f.revents().is_empty())
                .map(|(i, _)| i)
                .collect(),
            input.is_some() && !fds[1].revents().is_empty(),
        )),
        Err(_) => Some((false, Vec::new(), false)),
    }
}
