//! Wakes readers blocked waiting for new records.
//!
//! One signal is shared by all partitions of a log. Publishing new records
//! bumps a generation counter; only when someone waits does it also take
//! a lock and notify, so appends pay one atomic increment when nobody
//! listens.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Tells waiting readers that records were published.
#[derive(Debug, Default)]
pub(crate) struct AppendSignal {
    generation: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
}

/// A reader's registration; the generation it saw when it started looking.
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    signal: &'a AppendSignal,
    seen: u64,
}

impl AppendSignal {
    /// Records were published.
    pub fn notify(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.changed.notify_all();
        }
    }

    /// Registers a reader before it looks for records, so that a publish
    /// between its look and its wait is never missed.
    pub fn register(&self) -> Waiting<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting {
            signal: self,
            seen: self.generation.load(Ordering::SeqCst),
        }
    }
}

impl Waiting<'_> {
    /// Blocks until records were published since `register`, or until
    /// `deadline`.
    pub fn wait_until(self, deadline: Instant) {
        let s = self.signal;
        let mut guard = s.lock.lock();
        while s.generation.load(Ordering::SeqCst) == self.seen {
            if s.changed.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.signal.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_publish_after_register_is_never_missed() {
        let s = Arc::new(AppendSignal::default());
        let w = s.register();
        s.notify();
        let start = Instant::now();
        w.wait_until(start + Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_waiter_wakes_on_publish_and_times_out_without() {
        let s = Arc::new(AppendSignal::default());
        let start = Instant::now();
        s.register().wait_until(start + Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        let t = {
            let s = s.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                s.notify();
            })
        };
        let start = Instant::now();
        s.register().wait_until(start + Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
