//! Wall-clock time in milliseconds since the Unix epoch, read through a
//! [`Clock`] so that tests can set it: retention by time, segment rolls by
//! age and record timestamps then follow the test, not the machine.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where a log reads the time: milliseconds since the Unix epoch.
///
/// The log reads it for record timestamps (create time and log-append
/// time), segment rolls by age (`segment_ms`), interval syncs and
/// retention by time (`retention_ms`). [`SystemClock`] is the default;
/// [`ManualClock`] is set by hand, for tests:
///
/// ```
/// use samsa_log::clock::{Clock, ManualClock};
/// use samsa_log::Log;
/// use std::sync::Arc;
///
/// # fn main() -> samsa_log::Result<()> {
/// let clock = Arc::new(ManualClock::new(1_000));
/// let log = Log::builder().clock(clock.clone()).in_memory()?;
/// clock.advance(500);
/// assert_eq!(clock.now_ms(), 1_500);
/// # Ok(())
/// # }
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that stands still until it is set or advanced.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> Self {
        ManualClock {
            ms: AtomicI64::new(ms),
        }
    }

    /// Sets the time to `ms` (it may go backwards, as a wall clock can).
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time `ms` forward.
    pub fn advance(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
#[cfg(target_os = "linux")]
pub(crate) fn now_ms() -> i64 {
    // Every send without a timestamp reads the clock: `SystemTime`'s
    // checked subtraction and `Duration` cost a third again as much as
    // the read itself (measured: 6% of `Producer::send`).
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    if t.tv_sec < 0 {
        return 0;
    }
    t.tv_sec
        .saturating_mul(1000)
        .saturating_add(t.tv_nsec / 1_000_000)
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
#[cfg(not(target_os = "linux"))]
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_what_system_time_reads() {
        let ms = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        };
        let before = ms(std::time::SystemTime::now());
        let now = now_ms();
        let after = ms(std::time::SystemTime::now());
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(10);
        assert_eq!(c.now_ms(), 10);
        c.advance(5);
        assert_eq!(c.now_ms(), 15);
        c.set(3);
        assert_eq!(c.now_ms(), 3);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
