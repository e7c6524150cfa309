//! `RLESS_TRACE=1`: time stamps of each phase on stderr, measured from the
//! start of the process, so a slow start can be taken apart. Forked
//! processes inherit the time base, so the container's init reports on the
//! same clock.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Option<Instant>> = OnceLock::new();

/// Starts the clock if tracing is on; call first thing in main.
pub fn init() {
    START.get_or_init(|| {
        std::env::var_os("RLESS_TRACE")
            .filter(|v| v != "0" && !v.is_empty())
            .map(|_| Instant::now())
    });
}

/// Prints `rless-trace: +1.234ms phase` when tracing is on.
pub fn mark(phase: &str) {
    if let Some(Some(start)) = START.get() {
        eprintln!(
            "rless-trace: +{:.3}ms [{}] {phase}",
            start.elapsed().as_secs_f64() * 1e3,
            std::process::id()
        );
    }
}
