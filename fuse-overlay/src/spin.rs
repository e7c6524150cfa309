//! Polling `/dev/fuse` while requests come in bursts.
//!
//! # Theory of operation
//!
//! A FUSE request is a round trip between two sleeping threads: the caller
//! sleeps until the reply, and a server thread sleeps in `read(2)` until the
//! request. When their CPUs are otherwise idle, each sleep ends with a wakeup
//! of that CPU, and on a virtual machine whose idle vCPUs halt, the two
//! wakeups cost more than the work: a LOOKUP took 20-25 µs on the benchmark
//! VM, and 10 µs with both threads pinned to one CPU. `stat` of 10,000
//! names a listing did not cache is 10,000 such round trips in a row.
//!
//! During a burst, one server thread polls instead: the connection's
//! original fd (the one fuser's last thread reads) is switched to
//! `O_NONBLOCK`, so fuser's read loop retries at once instead of sleeping
//! and picks a request up as it arrives. That removes the server-side
//! wakeup from the round trip.
//!
//! - A burst starts when [`BURST_STREAK`] requests in a row each came within
//!   [`GAP`] of the one before. The request thread that sees it wakes the
//!   governor thread, which sets `O_NONBLOCK`.
//! - The governor then counts requests once per [`WINDOW`] and stops the
//!   polling when fewer than [`MIN_PER_WINDOW`] came in the last one, that
//!   is, when requests are too sparse for polling to pay.
//!
//! Limits: polling keeps one CPU busy while a burst lasts and for at most
//! two windows after it. It is off when the process may run on one CPU only
//! (the poller would compete with the caller), and with `-o spin=off`. The
//! other threads read cloned fds that always block, so parallel callers are
//! served as before.
//!
//! Invariants: only the governor changes the fd's flags. Polling changes
//! when a request is read, never what is answered. A thread asleep in a
//! blocking read when polling starts stays asleep until a request wakes it;
//! a polling thread blocks again at its next read after polling stops.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use rustix::fs::OFlags;

/// Requests in a row, each within [`GAP`] of the last, that start polling.
const BURST_STREAK: u32 = 16;
/// The largest gap between two requests of a burst.
const GAP: Duration = Duration::from_micros(150);
/// How often the governor looks at the request count while polling.
const WINDOW: Duration = Duration::from_millis(2);
/// Fewer requests than this in one [`WINDOW`] stop the polling (a mean gap
/// above 125 µs).
const MIN_PER_WINDOW: u64 = 16;

/// Whether a server thread polls during bursts of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spin {
    /// Poll during bursts, when the process may use more than one CPU.
    #[default]
    Auto,
    /// Never poll.
    Off,
}

impl std::str::FromStr for Spin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "off" | "never" => Ok(Self::Off),
            _ => Err(format!("spin={s}: expected auto or off")),
        }
    }
}

/// What the request threads and the governor share.
#[derive(Debug)]
pub(crate) struct Activity {
    requests: AtomicU64,
    /// Time of the last request (ns since `epoch`), while not polling.
    last_ns: AtomicU64,
    streak: AtomicU32,
    polling: AtomicBool,
    episodes: AtomicU64,
    stop: AtomicBool,
    governor: OnceLock<Thread>,
    epoch: Instant,
}

impl Activity {
    fn new() -> Self {
        Activity {
            requests: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            streak: AtomicU32::new(0),
            polling: AtomicBool::new(false),
            episodes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            governor: OnceLock::new(),
            epoch: Instant::now(),
        }
    }

    /// Called at the start of each request that is answered.
    pub fn note(&self) {
        // Without a governor (spin off, one CPU) nobody reads the counts.
        let Some(governor) = self.governor.get() else {
            return;
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.polling.load(Ordering::Relaxed) {
            return;
        }
        let now = self.epoch.elapsed().as_nanos() as u64;
        let last = self.last_ns.swap(now, Ordering::Relaxed);
        if now.saturating_sub(last) > GAP.as_nanos() as u64 {
            self.streak.store(0, Ordering::Relaxed);
            return;
        }
        if self.streak.fetch_add(1, Ordering::Relaxed) + 1 == BURST_STREAK {
            governor.unpark();
        }
    }

    /// Whether a thread polls right now.
    pub fn polling(&self) -> bool {
        self.polling.load(Ordering::Relaxed)
    }

    /// How many bursts were polled since the mount.
    pub fn episodes(&self) -> u64 {
        self.episodes.load(Ordering::Relaxed)
    }
}

/// The filesystem's end: notes requests, and stops the governor when the
/// filesystem goes away (after the last server thread ended).
#[derive(Debug)]
pub(crate) struct Requests {
    pub activity: Arc<Activity>,
}

impl Requests {
    pub fn new() -> Self {
        Requests {
            activity: Arc::new(Activity::new()),
        }
    }

    #[inline]
    pub fn note(&self) {
        self.activity.note()
    }

    /// Starts the governor over `fd`, a duplicate of the connection's
    /// original fd, unless `mode` or the CPU count rule polling out.
    pub fn start(&self, mode: Spin, fd: OwnedFd) -> io::Result<()> {
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        if mode == Spin::Off || cpus < 2 {
            return Ok(());
        }
        let activity = self.activity.clone();
        let handle = thread::Builder::new()
            .name("fuse-spin".into())
            .spawn(move || govern(&activity, &fd))?;
        let _ = self.activity.governor.set(handle.thread().clone());
        Ok(())
    }
}

impl Drop for Requests {
    fn drop(&mut self) {
        self.activity.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.activity.governor.get() {
            t.unpark();
        }
    }
}

fn set_nonblocking(fd: &OwnedFd, on: bool) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    let flags = if on {
        flags | OFlags::NONBLOCK
    } else {
        flags - OFlags::NONBLOCK
    };
    rustix::fs::fcntl_setfl(fd, flags)?;
    Ok(())
}

/// The governor: sleeps until a burst starts, polls while it lasts.
fn govern(a: &Activity, fd: &OwnedFd) {
    while !a.stop.load(Ordering::Relaxed) {
        thread::park();
        if a.stop.load(Ordering::Relaxed) {
            break;
        }
        if a.streak.load(Ordering::Relaxed) < BURST_STREAK {
            continue; // a spurious wakeup
        }
        if let Err(e) = set_nonblocking(fd, true) {
            log::warn!("fuse-overlay: cannot poll /dev/fuse: {e}");
            return;
        }
        a.polling.store(true, Ordering::Relaxed);
        a.episodes.fetch_add(1, Ordering::Relaxed);
        let mut seen = a.requests.load(Ordering::Relaxed);
        loop {
            thread::sleep(WINDOW);
            let now = a.requests.load(Ordering::Relaxed);
            if a.stop.load(Ordering::Relaxed) || now - seen < MIN_PER_WINDOW {
                break;
            }
            seen = now;
        }
        if let Err(e) = set_nonblocking(fd, false) {
            // Leaving the fd non-blocking would keep a CPU busy for the
            // rest of the mount.
            log::error!("fuse-overlay: cannot stop polling /dev/fuse: {e}");
        }
        a.streak.store(0, Ordering::Relaxed);
        a.polling.store(false, Ordering::Relaxed);
    }
}
