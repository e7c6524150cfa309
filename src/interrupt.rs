//! Stopping a command that writes into the store (`pull`, `load`,
//! `import`, `commit`) on SIGINT, SIGTERM or SIGHUP without leaving
//! half-written entries or a process behind.
//!
//! Theory of operation: [`install`], called while the process has one
//! thread, blocks the three signals (threads started later inherit the
//! mask) and starts a thread that takes them with `sigwait`. That thread
//! only records the signal ([`stopped`]); the work notices it at its next
//! read of a layer or archive stream ([`check`], called by
//! [`crate::image::space::SpaceGuard`]) and fails there, so its own error
//! path removes its temporary blob and layer directory, as after any
//! failed ingest. `main` then exits with 128 + the signal, quietly. Work
//! that does not come to a read within [`GRACE`] (a read blocked on a
//! silent network or terminal) is ended anyway, with that code; what it
//! leaves is `.tmp-*` debris, which the next exclusive holder of the store
//! lock removes.
//!
//! In subuid mode the command runs twice: the process the caller started
//! waits outside the user namespace for the one that does the work inside
//! it ([`crate::userns::reexec_in_userns`]), which dies with it
//! (parent-death signal SIGTERM). The waiting one ([`set_worker`]) passes
//! every such signal on to the worker and keeps waiting for it, so it ends
//! only once the worker has cleaned up, with the worker's status.

use nix::sys::signal::{SigSet, Signal};
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How long the work has to stop by itself after a signal.
pub const GRACE: Duration = Duration::from_secs(10);

/// The signal that stopped the work (0: none).
static STOPPED: AtomicI32 = AtomicI32::new(0);
/// The worker this process waits for in subuid mode (0: none).
static WORKER: AtomicI32 = AtomicI32::new(0);

fn signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Takes SIGINT, SIGTERM and SIGHUP over for this process. Call it while
/// the process has one thread.
pub fn install() {
    let set = signals();
    if set.thread_block().is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || loop {
            let Ok(sig) = set.wait() else { continue };
            let sig = sig as i32;
            STOPPED.store(sig, Ordering::SeqCst);
            let worker = WORKER.load(Ordering::SeqCst);
            if worker > 0 {
                // The worker stops and cleans up; its exit ends this one.
                let _ = crate::runtime::sys::send_signal(worker, sig);
                continue;
            }
            std::thread::sleep(GRACE);
            std::process::exit(128 + sig);
        });
    if spawned.is_err() {
        // No thread to take them: the signals keep their default action.
        let _ = set.thread_unblock();
    }
}

/// Records the worker (subuid mode's inner rless) that signals go on to;
/// one that came before it goes on to it now.
pub fn set_worker(pid: i32) {
    WORKER.store(pid, Ordering::SeqCst);
    let sig = STOPPED.load(Ordering::SeqCst);
    if sig != 0 {
        let _ = crate::runtime::sys::send_signal(pid, sig);
    }
}

/// The signal that stopped the work, if one did.
pub fn stopped() -> Option<i32> {
    match STOPPED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// An error once a signal has stopped the work.
pub fn check() -> io::Result<()> {
    match stopped() {
        None => Ok(()),
        // Not ErrorKind::Interrupted: io::copy and read_exact retry that.
        Some(sig) => Err(io::Error::other(format!("stopped by signal {sig}"))),
    }
}
