//! Stopping a command that writes into the store (`pull`, `load`,
//! `import`, `commit`, `push`'s compressed blob) or a file (`save -o`,
//! `export -o`) on SIGINT, SIGTERM or SIGHUP without leaving half-written
//! entries or a process behind.
//!
//! Theory of operation: [`install`], called while the process has one
//! thread, blocks the three signals (threads started later inherit the
//! mask; a process forked later would too, without the thread, so a
//! command that forks helpers installs after that) and starts a thread
//! that takes them with `sigwait`. That thread records the signal
//! ([`stopped`]) and removes at once the temporary files registered with
//! [`remove_at_signal`] (an fsync of a big archive can outlast the grace).
//! The work notices the signal at its next read of a layer or archive
//! stream ([`check`], called by [`crate::image::space::SpaceGuard`]) or
//! its next write through a [`Checked`] writer, and fails there, so its
//! own error path removes its temporary blob and layer directory, as after
//! any failed ingest. `main` then exits with 128 + the signal, quietly.
//! Work that comes to no check within [`GRACE`] (a read blocked on a
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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long the work has to stop by itself after a signal.
pub const GRACE: Duration = Duration::from_secs(5);

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
            // A file being written goes now: the work may not come to a
            // check within the grace (an fsync of a big archive).
            for p in files().drain(..) {
                let _ = std::fs::remove_file(p);
            }
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

/// The temporary files to remove at a signal.
fn files() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    static FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes `tmp` (a temporary file this process writes) if a signal
/// stops the work, until [`forget`] (once it is renamed into place or
/// removed). After a signal the file is removed at once.
pub fn remove_at_signal(tmp: &Path) {
    let mut f = files();
    if stopped().is_some() {
        let _ = std::fs::remove_file(tmp);
    } else {
        f.push(tmp.to_path_buf());
    }
}

/// `tmp` is no longer to be removed at a signal.
pub fn forget(tmp: &Path) {
    files().retain(|p| p != tmp);
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

/// A writer that fails once a signal has stopped the work.
pub struct Checked<W>(pub W);

impl<W: io::Write> io::Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        check()?;
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
