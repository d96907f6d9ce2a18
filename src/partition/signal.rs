//! Wakes readers blocked waiting for new records.
//!
//! One signal is shared by all partitions of a log. Publishing new records
//! bumps a generation counter; only when someone waits does it also take
//! a lock and notify, so appends pay one atomic increment when nobody
//! listens. Blocked threads wait on a condition variable; async tasks
//! leave their `Waker` (see `register_task`), woken by the same publish.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Waker;
use std::time::Instant;

/// Tells waiting readers that records were published.
#[derive(Debug, Default)]
pub(crate) struct AppendSignal {
    generation: AtomicU64,
    /// Blocked threads plus registered tasks.
    waiters: AtomicUsize,
    /// The tasks to wake at the next publish.
    tasks: Mutex<Vec<Waker>>,
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
            let mut tasks = self.tasks.lock();
            self.changed.notify_all();
            let woken = std::mem::take(&mut *tasks);
            self.waiters.fetch_sub(woken.len(), Ordering::SeqCst);
            drop(tasks);
            for w in woken {
                w.wake();
            }
        }
    }

    /// The publish count now: what a task reads before it looks for
    /// records, to pass to [`Self::register_task`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Leaves `waker` to be woken at the next publish, unless records were
    /// published since the task read `seen` (then `false`: look again).
    /// Counted as a waiter before the check, as `register` does, so a
    /// publish either sees the task or is seen by it.
    pub fn register_task(&self, seen: u64, waker: &Waker) -> bool {
        let mut tasks = self.tasks.lock();
        if tasks.iter().any(|w| w.will_wake(waker)) {
            // Registered (and counted) by an earlier poll: the next
            // publish wakes it, unless one came since `seen`.
            return self.generation.load(Ordering::SeqCst) == seen;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        if self.generation.load(Ordering::SeqCst) != seen {
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        tasks.push(waker.clone());
        true
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
        let mut guard = s.tasks.lock();
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

    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_task_is_woken_once_by_the_next_publish_and_never_misses_one() {
        let s = AppendSignal::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        // A publish between the look and the registration: look again.
        let seen = s.generation();
        s.notify();
        assert!(!s.register_task(seen, &waker));
        // Registered (twice by two polls: counted once), then woken.
        let seen = s.generation();
        assert!(s.register_task(seen, &waker));
        assert!(s.register_task(seen, &waker));
        assert_eq!(s.waiters.load(Ordering::SeqCst), 1);
        s.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(s.waiters.load(Ordering::SeqCst), 0);
        // Woken tasks are forgotten: the next publish wakes nobody.
        s.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

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
