//! `rless attach [--no-stdin] [--sig-proxy=BOOL] [--detach-keys KEYS] CTR`:
//! this terminal joins a running container's output and input, as docker's.
//!
//! Theory of operation (the container's side is `container::attach`):
//! - Output: the container's log is followed from the moment of the
//!   attach; stdout and stderr stay apart. Nothing earlier is shown, as
//!   with docker (`logs` shows that).
//! - Input: for a container run with `-d -i`, this command's stdin goes to
//!   the container's input FIFO; with `-t` too, the local terminal is put
//!   in raw mode, so keys such as ^C reach the container's terminal as
//!   bytes, and the detach keys (docker's `ctrl-p,ctrl-q` unless
//!   `--detach-keys` says otherwise) end the attach and leave the
//!   container running. A foreground container's input is its own
//!   terminal's: attaching to it gives its output only.
//! - Signals: without `-t`, signals sent to this command are passed on to
//!   the container (`--sig-proxy`, on by default), as `rless kill` would.
//! - The end: when the container's run ends, the rest of its output is
//!   printed and the command exits with the container's exit code. The
//!   wait holds the same lock as `rless wait`, so a `--rm` container is not
//!   removed before its exit code is read.
//!
//! - Size: with `-t` and a terminal here, the container's terminal takes
//!   this one's size when the attach starts and at each resize
//!   (`container::attach::send_window_size`).

use super::Ctx;
use anyhow::{bail, Result};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rless::container::{self, attach, control};
use rless::image::store::LockMode;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Do not pass this command's input to the container.
    #[arg(long)]
    no_stdin: bool,
    /// Pass the signals this command gets on to the container (without -t).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: bool,
    /// The keys that detach from a container with a terminal (docker's
    /// form: `ctrl-p,ctrl-q`; empty for none).
    #[arg(long, default_value = DETACH_KEYS)]
    detach_keys: String,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[arg(required_unless_present = "latest")]
    container: Option<String>,
}

/// docker's default detach keys.
pub(super) const DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// docker's `--detach-keys`: comma-separated keys, each one character or
/// `ctrl-X` (X a letter, or one of `@[\]^_`).
pub(super) fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let bad = || {
        anyhow::anyhow!("invalid --detach-keys {spec:?}: use keys such as ctrl-p,ctrl-q (a character or ctrl-X each)")
    };
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|k| {
            if let Some(c) = k.strip_prefix("ctrl-") {
                match c.as_bytes() {
                    [b @ b'a'..=b'z'] => Ok(b - b'a' + 1),
                    [b'@'] => Ok(0),
                    [b @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Ok(b - b'@'),
                    _ => Err(bad()),
                }
            } else {
                match k.as_bytes() {
                    [b] if b.is_ascii() && !b.is_ascii_control() => Ok(*b),
                    _ => Err(bad()),
                }
            }
        })
        .collect()
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let keys = parse_detach_keys(&a.detach_keys)?;
    let name = a.latest.or_name(ctx, a.container.as_deref())?;
    let store = ctx.store(LockMode::Shared)?;
    let (_, dir) = container::find(&store, &name)?;
    drop(store);
    // From here on, nothing the container writes is missed.
    let follower = container::logs::Follower::from_end(&dir);
    let state = container::read_state(&dir);
    if state.running() && state.paused {
        bail!("you cannot attach to a paused container, unpause it first");
    }
    if state.status == "restarting" {
        bail!("you cannot attach to a restarting container, wait until it is running");
    }
    if !state.running() {
        bail!("you cannot attach to a stopped container, start it first");
    }
    let tty = container::read_spec(&dir)?.process.tty;
    let input = if a.no_stdin {
        None
    } else {
        attach::open_input(&dir)?
    };
    relay(&dir, follower, (tty, true), input, a.sig_proxy, keys)
}

/// Shows the container's output from `follower` on (unless `show` is
/// false: `run -t -a` without stdout, the terminal's one stream), passes
/// `input` on to its input FIFO (in raw mode with `tty`, where the detach
/// `keys` end it) and, without `tty`, signals with `sig_proxy`; ends with
/// the run's exit code (`rless attach`, and `run`/`start -a` with `-t
/// --sig-proxy=false`).
pub(super) fn relay(
    dir: &std::path::Path,
    mut follower: container::logs::Follower,
    (tty, show): (bool, bool),
    input: Option<std::fs::File>,
    sig_proxy: bool,
    keys: Vec<u8>,
) -> Result<ExitCode> {
    let shown = |f: &mut container::logs::Follower| {
        let lines = f.read_new();
        if show {
            super::logs::print_lines(&lines, false)
        } else {
            Ok(())
        }
    };
    let dir = dir.to_path_buf();
    // Blocked before any thread starts, so that every thread has them
    // blocked and they wait for the signalfd.
    let signals = (!tty && sig_proxy)
        .then(|| {
            let set = rless::runtime::sigproxy::forwarded();
            let _ = set.thread_block();
            SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok()
        })
        .flatten();
    // With a terminal on both sides: its size, now and at each SIGWINCH.
    let resizes = (tty && std::io::stdin().is_terminal())
        .then(|| {
            let mut set = nix::sys::signal::SigSet::empty();
            set.add(nix::sys::signal::Signal::SIGWINCH);
            let _ = set.thread_block();
            SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok()
        })
        .flatten();
    if resizes.is_some() {
        send_window_size(&dir);
    }
    // The run's end, read as `rless wait` reads it.
    let (exit_tx, exit_rx) = std::sync::mpsc::channel();
    {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let _ = exit_tx.send(control::wait_exit(&dir));
        });
    }
    let _raw = (tty && input.is_some()).then(rless::runtime::raw_terminal);
    let detached = Arc::new(AtomicBool::new(false));
    if let Some(fifo) = input {
        let keys = if tty { keys } else { Vec::new() };
        let detached = detached.clone();
        std::thread::spawn(move || copy_input(fifo, &keys, &detached));
    }
    loop {
        shown(&mut follower)?;
        if detached.load(Ordering::Relaxed) {
            drop(_raw);
            eprintln!();
            return Ok(ExitCode::SUCCESS);
        }
        let mut resized = false;
        while let Some(Ok(Some(_))) = resizes.as_ref().map(|s| s.read_signal()) {
            resized = true;
        }
        if resized {
            send_window_size(&dir);
        }
        while let Some(Ok(Some(info))) = signals.as_ref().map(|s| s.read_signal()) {
            let signo = info.ssi_signo as i32;
            if signo == nix::libc::SIGCHLD || signo == nix::libc::SIGWINCH {
                continue;
            }
            if let Some(sig) = rless::signal::Sig::parse(&signo.to_string()) {
                let _ = control::kill(&dir, sig);
            }
        }
        match exit_rx.recv_timeout(Duration::from_millis(20)) {
            Ok(end) => {
                // The monitor copies the last output before it records
                // the exit.
                shown(&mut follower)?;
                let code = end.and_then(|s| s.exit_code).unwrap_or(0);
                return Ok(ExitCode::from(code as u8));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Gives the container's terminal the size of this one (best effort: a
/// container that is stopping has no monitor to ask).
fn send_window_size(dir: &std::path::Path) {
    let Some(ws) = rless::runtime::caller_window_size() else {
        return;
    };
    let state = container::read_state(dir);
    if let Some(pid) = state.monitor_pid {
        let _ = attach::send_window_size(dir, pid, state.monitor_start, ws.ws_row, ws.ws_col);
    }
}

/// Copies stdin into the container's input until stdin ends or the
/// container stops reading; the detach `keys` (with a terminal) end the
/// attach instead of reaching the container ([`rless::runtime::KeyMatch`]).
fn copy_input(mut fifo: std::fs::File, keys: &[u8], detached: &AtomicBool) {
    // A container that stopped reading must not kill this command.
    let _pipe = rless::runtime::SigpipeIgnored::new();
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    let mut keyed = rless::runtime::KeyMatch::new(keys);
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        if keyed.feed(&buf[..n], &mut out) {
            let _ = fifo.write_all(&out);
            detached.store(true, Ordering::Relaxed);
            return;
        }
        if fifo.write_all(&out).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(),
            vec![b'a', 0, 31]
        );
        assert!(parse_detach_keys("").unwrap().is_empty());
        for bad in ["ctrl-", "ctrl-pp", "ab", ",", "ctrl-1"] {
            assert!(parse_detach_keys(bad).is_err(), "{bad}");
        }
    }
}
