//! Socket-independent NAT bookkeeping, testable with a fake clock:
//! the TCP half-close/reset state machine ([`TcpHalves`]) and idle expiry
//! of flows ([`IdleTable`]).
//!
//! Time is smoltcp's [`Instant`], a plain number of microseconds, so tests
//! drive it by hand.

use std::collections::HashMap;
use std::hash::Hash;

pub use smoltcp::time::{Duration, Instant};

/// One side of a translated TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The container (smoltcp socket).
    Container,
    /// The host socket.
    Host,
}

/// What the caller must do to the sockets after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// `shutdown(SHUT_WR)` the host socket (forward the container's FIN).
    ShutdownHost,
    /// `close()` the smoltcp socket (send FIN to the container).
    CloseContainer,
    /// Reset this side (abort / SO_LINGER 0).
    Reset(Side),
}

/// Half-close and reset state of one TCP flow.
///
/// Each direction is closed independently: the container's FIN is forwarded
/// to the host only once every byte before it was written to the host, and
/// the host's EOF becomes a FIN to the container once every byte before it
/// was queued to smoltcp. A reset on either side resets the other and ends
/// the flow at once.
#[derive(Debug, Clone)]
pub struct TcpHalves {
    container_done: bool,
    host_done: bool,
    reset: Option<Side>,
    last_activity: Instant,
}

impl TcpHalves {
    /// New open flow, active at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            container_done: false,
            host_done: false,
            reset: None,
            last_activity: now,
        }
    }

    /// Data moved in either direction at `now`.
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// How long the flow has been idle at `now`.
    pub fn idle(&self, now: Instant) -> Duration {
        if now > self.last_activity {
            now - self.last_activity
        } else {
            Duration::ZERO
        }
    }

    /// The container sent FIN and all its data reached the host.
    pub fn container_eof(&mut self) -> Action {
        if self.container_done || self.reset.is_some() {
            return Action::None;
        }
        self.container_done = true;
        Action::ShutdownHost
    }

    /// The host socket read EOF (all data before it queued to smoltcp).
    pub fn host_eof(&mut self) -> Action {
        if self.host_done || self.reset.is_some() {
            return Action::None;
        }
        self.host_done = true;
        Action::CloseContainer
    }

    /// `side` reset the connection (or failed hard).
    pub fn reset_by(&mut self, side: Side) -> Action {
        if self.reset.is_some() {
            return Action::None;
        }
        self.reset = Some(side);
        Action::Reset(match side {
            Side::Container => Side::Host,
            Side::Host => Side::Container,
        })
    }

    /// Who reset the flow, if anyone.
    pub fn reset(&self) -> Option<Side> {
        self.reset
    }

    /// Whether the container → host direction is closed.
    pub fn container_done(&self) -> bool {
        self.container_done
    }

    /// Whether the host → container direction is closed.
    pub fn host_done(&self) -> bool {
        self.host_done
    }

    /// Both directions closed gracefully, or reset.
    pub fn finished(&self) -> bool {
        self.reset.is_some() || (self.container_done && self.host_done)
    }
}

/// Last-activity times of flows keyed by `K`, each with its own timeout.
#[derive(Debug)]
pub struct IdleTable<K> {
    entries: HashMap<K, (Instant, Duration)>,
}

impl<K: Hash + Eq + Clone> Default for IdleTable<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> IdleTable<K> {
    /// Records activity of `key` at `now`, inserting it with `timeout` if new.
    pub fn touch(&mut self, key: K, now: Instant, timeout: Duration) {
        self.entries
            .entry(key)
            .and_modify(|e| e.0 = now)
            .or_insert((now, timeout));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Number of tracked flows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes and returns every flow idle for at least its timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<K> {
        let dead: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, &(last, timeout))| last + timeout <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &dead {
            self.entries.remove(k);
        }
        dead
    }

    /// Earliest time at which some flow expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().map(|&(l, t)| l + t).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn half_close_container_first() {
        let mut h = TcpHalves::new(t(0));
        assert_eq!(h.container_eof(), Action::ShutdownHost);
        assert_eq!(h.container_eof(), Action::None);
        assert!(!h.finished());
        assert!(h.container_done() && !h.host_done());
        assert_eq!(h.host_eof(), Action::CloseContainer);
        assert!(h.finished());
        assert_eq!(h.reset(), None);
    }

    #[test]
    fn half_close_host_first_then_reset_ignored_after() {
        let mut h = TcpHalves::new(t(0));
        assert_eq!(h.host_eof(), Action::CloseContainer);
        assert_eq!(h.reset_by(Side::Container), Action::Reset(Side::Host));
        assert!(h.finished());
        assert_eq!(h.container_eof(), Action::None);
        assert_eq!(h.reset_by(Side::Host), Action::None);
        assert_eq!(h.reset(), Some(Side::Container));
    }

    #[test]
    fn host_reset_resets_container() {
        let mut h = TcpHalves::new(t(0));
        assert_eq!(h.reset_by(Side::Host), Action::Reset(Side::Container));
        assert_eq!(h.host_eof(), Action::None);
    }

    #[test]
    fn idle_time() {
        let mut h = TcpHalves::new(t(1000));
        assert_eq!(h.idle(t(500)), Duration::ZERO);
        assert_eq!(h.idle(t(3000)), Duration::from_millis(2000));
        h.activity(t(2500));
        assert_eq!(h.idle(t(3000)), Duration::from_millis(500));
    }

    #[test]
    fn udp_expiry_with_fake_clock() {
        let mut tab = IdleTable::default();
        let long = Duration::from_secs(60);
        let short = Duration::from_secs(10);
        tab.touch("a", t(0), long);
        tab.touch("dns", t(0), short);
        assert_eq!(tab.next_deadline(), Some(t(10_000)));
        assert!(tab.expire(t(9_999)).is_empty());
        assert_eq!(tab.expire(t(10_000)), vec!["dns"]);
        tab.touch("a", t(50_000), long); // activity extends "a"
        assert!(tab.expire(t(60_000)).is_empty());
        assert_eq!(tab.next_deadline(), Some(t(110_000)));
        assert_eq!(tab.expire(t(110_000)), vec!["a"]);
        assert!(tab.is_empty());
        tab.touch("b", t(0), long);
        tab.remove(&"b");
        assert_eq!(tab.len(), 0);
        assert_eq!(tab.next_deadline(), None);
    }
}
