//! When a directory listing carries attributes (readdirplus) and when not.
//!
//! # Theory of operation
//!
//! A readdirplus reply hands the kernel a dentry and the attributes of every
//! entry, so a later `stat` of each entry costs no LOOKUP round trip. The
//! price is a `stat` of every entry in the layers while listing. On a cold
//! cache that means reading every inode from disk, which a walk that only
//! needs names and `d_type` (`find -type f`, `du --inodes`, shell globbing)
//! never pays on kernel overlayfs: there a cold `find` ran 4x faster than
//! here with attributes always sent.
//!
//! The kernel is mounted with `FUSE_READDIRPLUS_AUTO`: it asks for plus only
//! for the first batch of a directory and for later batches after a lookup
//! in it. So the one choice left to us is what the first batch holds:
//!
//! - **plus**: every entry that fits, with attributes (the old behaviour);
//! - **lite**: `.`, `..` and the subdirectories, which listings put first.
//!   The kernel asks again after them with a plain READDIR, which costs no
//!   inode reads. Subdirectories cost little: a walk that descends needs
//!   their attributes anyway, and gets them here without a LOOKUP each.
//!
//! [`Policy`] picks one per listing from what happened after earlier lite
//! listings: a LOOKUP of a non-directory whose directory was listed lite is
//! a *miss* (the caller wanted the attributes after all). While misses are
//! at least a quarter of the entries listed lite, listings go plus, and one
//! in [`PROBE_EVERY`] still goes lite to notice when the workload changes.
//! The counts decay (halve) every [`DECAY_AT`] lite entries, so the policy
//! follows the recent past. A burst of misses ([`BURST_MISSES`] within
//! [`BURST_MS`]) also turns listings plus at once: a walk piped into a stat
//! (`find | xargs stat`) lists far ahead of the stats, and the long-run
//! counts would notice too late. A fresh mount starts lite.
//!
//! Mode `always` and `never` pin the choice (mount options
//! `readdirplus=always|never`, for benchmarks and for users who know their
//! workload).
//!
//! Invariants: the policy only changes what is cached, never what is seen;
//! every counter is approximate under races, which only shifts a decision.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Listings of which one is lite even in plus mode.
const PROBE_EVERY: u64 = 32;
/// Lite entries after which both counts halve.
const DECAY_AT: u64 = 4096;
/// Directories remembered as listed lite; the set is cleared past this.
const MAX_LITE_DIRS: usize = 4096;
/// A burst: this many misses within [`BURST_MS`] make the next listings
/// plus whatever the long-run counts say.
const BURST_MISSES: u64 = 32;
const BURST_MS: u64 = 250;

/// How listings choose between plus and lite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReaddirPlus {
    /// Decide from the misses of earlier lite listings.
    #[default]
    Auto,
    /// Always send attributes with the first batch.
    Always,
    /// Never send attributes (only `.` and `..` in the first batch, not
    /// even the subdirectories that auto's lite batches carry).
    Never,
}

impl std::str::FromStr for ReaddirPlus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => Err(format!("readdirplus={s}: expected auto, always or never")),
        }
    }
}

/// The per-mount state of the choice.
#[derive(Debug)]
pub(crate) struct Policy {
    mode: ReaddirPlus,
    lite_entries: AtomicU64,
    misses: AtomicU64,
    listings: AtomicU64,
    lite_dirs: Mutex<HashSet<u64>>,
    /// Start of the current burst window (ms since `epoch`) and the misses
    /// in it.
    burst_start: AtomicU64,
    burst_misses: AtomicU64,
    epoch: Instant,
}

impl Policy {
    pub fn new(mode: ReaddirPlus) -> Self {
        Policy {
            mode,
            lite_entries: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            listings: AtomicU64::new(0),
            lite_dirs: Mutex::new(HashSet::new()),
            burst_start: AtomicU64::new(0),
            burst_misses: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether [`BURST_MISSES`] misses came within the last [`BURST_MS`]:
    /// something is stat-ing what was listed (`find | xargs stat`, where
    /// the walk runs ahead of the stats) right now.
    fn in_burst(&self) -> bool {
        self.now_ms()
            .saturating_sub(self.burst_start.load(Ordering::Relaxed))
            <= BURST_MS
            && self.burst_misses.load(Ordering::Relaxed) >= BURST_MISSES
    }

    /// Whether a lite first batch carries the subdirectories (auto mode).
    pub fn dirs_when_lite(&self) -> bool {
        self.mode == ReaddirPlus::Auto
    }

    /// Whether the first batch of directory `dir`, which has `entries`
    /// entries besides `.`, `..` and its subdirectories, carries attributes. A lite answer is
    /// recorded, so that lookups in `dir` count as misses.
    pub fn plus_for(&self, dir: u64, entries: usize) -> bool {
        let plus = match self.mode {
            ReaddirPlus::Always => return true,
            ReaddirPlus::Never => false,
            ReaddirPlus::Auto => {
                let n = self.listings.fetch_add(1, Ordering::Relaxed);
                let lite = self.lite_entries.load(Ordering::Relaxed);
                let misses = self.misses.load(Ordering::Relaxed);
                self.in_burst() || (wants_plus(misses, lite) && !n.is_multiple_of(PROBE_EVERY))
            }
        };
        if !plus && entries > 0 {
            let total = self
                .lite_entries
                .fetch_add(entries as u64, Ordering::Relaxed)
                + entries as u64;
            if total > DECAY_AT {
                self.lite_entries.store(total / 2, Ordering::Relaxed);
                let m = self.misses.load(Ordering::Relaxed);
                self.misses.store(m / 2, Ordering::Relaxed);
            }
            let mut dirs = self.lite_dirs.lock().unwrap();
            if dirs.len() >= MAX_LITE_DIRS {
                dirs.clear();
            }
            dirs.insert(dir);
        }
        plus
    }

    /// Notes a successful LOOKUP of a non-directory in `dir`.
    pub fn looked_up(&self, dir: u64) {
        if self.mode != ReaddirPlus::Auto {
            return;
        }
        if self.lite_dirs.lock().unwrap().contains(&dir) {
            self.misses.fetch_add(1, Ordering::Relaxed);
            let now = self.now_ms();
            if now.saturating_sub(self.burst_start.load(Ordering::Relaxed)) > BURST_MS {
                self.burst_start.store(now, Ordering::Relaxed);
                self.burst_misses.store(1, Ordering::Relaxed);
            } else {
                self.burst_misses.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The decision rule: plus while misses are at least a quarter of the
/// entries listed lite.
fn wants_plus(misses: u64, lite_entries: u64) -> bool {
    lite_entries > 0 && misses * 4 >= lite_entries
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As if BURST_MS had passed since the last miss.
    fn end_burst(p: &Policy) {
        p.burst_misses.store(0, Ordering::Relaxed);
    }

    #[test]
    fn starts_lite_and_turns_plus_after_misses() {
        let p = Policy::new(ReaddirPlus::Auto);
        assert!(!p.plus_for(10, 100), "a fresh mount lists lite");
        for _ in 0..30 {
            p.looked_up(10);
        }
        // Listing 1 is not a probe; 30 misses of 100 is over a quarter.
        assert!(p.plus_for(11, 100));
    }

    #[test]
    fn names_only_walk_stays_lite() {
        let p = Policy::new(ReaddirPlus::Auto);
        for d in 0..100 {
            assert!(!p.plus_for(d, 100));
            // A walk like `find` looks up directories only, which the
            // caller does not report.
        }
    }

    #[test]
    fn plus_mode_probes_and_returns_to_lite() {
        let p = Policy::new(ReaddirPlus::Auto);
        p.plus_for(1, 100);
        for _ in 0..100 {
            p.looked_up(1);
        }
        end_burst(&p);
        let lite: Vec<bool> = (2..1000).map(|d| !p.plus_for(d, 100)).collect();
        // Plus at first, with a lite probe every PROBE_EVERY listings...
        assert!(!lite[0]);
        assert!(lite[..PROBE_EVERY as usize].iter().any(|&l| l));
        // ...and no lookups follow the probes, so the misses are diluted
        // and the policy settles on lite.
        assert!(lite[lite.len() - 100..].iter().all(|&l| l));
    }

    #[test]
    fn lookups_elsewhere_are_not_misses() {
        let p = Policy::new(ReaddirPlus::Auto);
        p.plus_for(1, 100);
        for _ in 0..100 {
            p.looked_up(2);
        }
        assert!(!p.plus_for(3, 100));
    }

    #[test]
    fn a_burst_of_misses_turns_plus_at_once() {
        let p = Policy::new(ReaddirPlus::Auto);
        // Much listed lite, so the long-run ratio stays under a quarter.
        for d in 0..40 {
            assert!(!p.plus_for(d, 100));
        }
        for _ in 0..BURST_MISSES {
            p.looked_up(0);
        }
        assert!(p.misses.load(Ordering::Relaxed) * 4 < p.lite_entries.load(Ordering::Relaxed));
        assert!(p.plus_for(100, 100), "a burst turns plus");
        // A few scattered misses are no burst.
        let q = Policy::new(ReaddirPlus::Auto);
        for d in 0..40 {
            q.plus_for(d, 100);
        }
        for _ in 0..BURST_MISSES - 1 {
            q.looked_up(0);
        }
        assert!(!q.plus_for(100, 100));
    }

    #[test]
    fn pinned_modes() {
        let a = Policy::new(ReaddirPlus::Always);
        let n = Policy::new(ReaddirPlus::Never);
        for d in 0..20 {
            assert!(a.plus_for(d, 10));
            assert!(!n.plus_for(d, 10));
        }
        assert_eq!("never".parse::<ReaddirPlus>(), Ok(ReaddirPlus::Never));
        assert!("sometimes".parse::<ReaddirPlus>().is_err());
    }

    #[test]
    fn counts_decay() {
        let p = Policy::new(ReaddirPlus::Auto);
        p.plus_for(1, 1000);
        for _ in 0..1000 {
            p.looked_up(1);
        }
        end_burst(&p);
        // Many lite probes without misses halve the old misses away.
        for d in 2..2000 {
            p.plus_for(d, 1000);
        }
        assert!(p.misses.load(Ordering::Relaxed) < 100);
    }
}
