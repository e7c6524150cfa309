//! A thread that runs until it is told to stop through a pipe.
//!
//! The stack, the splice and handoff drivers, and a user network's uplink
//! each run on such a thread: the thread gets the pipe's read end and
//! watches it with its other fds; [`Worker::stop`] writes one byte and
//! joins. The worker keeps its own copy of the read end, because a thread
//! may also end by itself (the TAP went away, every filtered process
//! exited), and a write to a pipe without readers would raise SIGPIPE in
//! the caller, which kills a monitor.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use crate::sys;

/// A running worker thread; stopping it (or dropping this) waits for it.
pub struct Worker<T> {
    stop: OwnedFd,
    _reader: OwnedFd,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Runs `f` on a thread called `name`; `f` gets the read end of the
    /// stop pipe (non-blocking), readable once [`Worker::stop`] is called.
    pub fn spawn(name: &str, f: impl FnOnce(OwnedFd) -> T + Send + 'static) -> io::Result<Self> {
        let (reader, stop) = sys::pipe(4096)?;
        let theirs = reader.try_clone()?;
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(theirs))?;
        Ok(Worker {
            stop,
            _reader: reader,
            thread: Some(thread),
        })
    }
}

impl<T> Worker<T> {
    /// Tells the thread to stop and waits for it; its result, or `None`
    /// when it was already stopped.
    pub fn stop(&mut self) -> Option<std::thread::Result<T>> {
        let t = self.thread.take()?;
        let _ = sys::write(self.stop.as_fd(), b"x");
        Some(t.join())
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
