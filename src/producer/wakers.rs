//! Tasks waiting for the producer to make progress: the async
//! counterpart of `Shared::progress`.
//!
//! A flush, a send waiting for buffer space and a close each leave their
//! task's `Waker` here, under the accumulator's lock; whoever frees space
//! or completes batches (where `progress.notify_all()` wakes blocked
//! threads) takes the whole list under that lock and wakes it after
//! dropping the lock. A task looks at the queue and registers under the
//! same lock, so no wake-up falls between its look and its registration.

use std::num::NonZeroU64;
use std::task::Waker;

/// Where a future's waker sits in a [`Wakers`] list, so that polling it
/// again replaces the waker instead of adding a second one, and dropping
/// it takes the waker out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakerKey {
    /// The list's round when the waker was left: a key from an earlier
    /// round names a slot that was woken and emptied since. Never zero,
    /// so that an `Option<WakerKey>` (in every send future) takes no
    /// extra word.
    round: NonZeroU64,
    index: usize,
}

/// Wakers of tasks waiting for progress, woken all at once.
#[derive(Debug)]
pub(crate) struct Wakers {
    /// Bumped by every [`Wakers::take`], which invalidates all keys.
    round: NonZeroU64,
    /// `None`: its future was dropped, or is being polled again with
    /// nothing to wait for.
    slots: Vec<Option<Waker>>,
}

impl Default for Wakers {
    fn default() -> Self {
        Wakers {
            round: NonZeroU64::MIN,
            slots: Vec::new(),
        }
    }
}

impl Wakers {
    /// Leaves `waker` to be woken by the next [`Wakers::take`]. `key` is
    /// the future's own: `None` the first time, then where its waker
    /// sits; a waker still in the list is replaced (unless it would wake
    /// the same task, `Waker::will_wake`), never duplicated.
    pub fn register(&mut self, key: &mut Option<WakerKey>, waker: &Waker) {
        if let Some(k) = *key {
            if k.round == self.round {
                if let Some(slot) = self.slots.get_mut(k.index) {
                    match slot {
                        Some(w) if w.will_wake(waker) => {}
                        _ => *slot = Some(waker.clone()),
                    }
                    return;
                }
            }
        }
        self.slots.push(Some(waker.clone()));
        *key = Some(WakerKey {
            round: self.round,
            index: self.slots.len() - 1,
        });
    }

    /// Takes out the waker `key` left, if it is still in the list: its
    /// future was dropped, or finished, so waking it would be wasted.
    pub fn deregister(&mut self, key: &mut Option<WakerKey>) {
        if let Some(k) = key.take() {
            if k.round == self.round {
                if let Some(slot) = self.slots.get_mut(k.index) {
                    *slot = None;
                }
                // Futures made and dropped between two takes (cancelled
                // sends) leave no trail of empty slots behind them.
                while self.slots.last().is_some_and(Option::is_none) {
                    self.slots.pop();
                }
            }
        }
    }

    /// Every waker left, to wake once the caller dropped its lock (a task
    /// woken under the lock would poll straight into it). Keys handed out
    /// before become stale: their futures register afresh.
    pub fn take(&mut self) -> Woken {
        if self.slots.is_empty() {
            // Nothing to take: keys stay valid, no allocation is lost.
            return Woken(Vec::new());
        }
        self.round = self.round.checked_add(1).unwrap_or(NonZeroU64::MIN);
        Woken(std::mem::take(&mut self.slots))
    }

    /// How many tasks are waiting (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

/// Wakers taken from a [`Wakers`] list, to wake outside its lock.
#[must_use = "the tasks are only woken by `wake`"]
pub(crate) struct Woken(Vec<Option<Waker>>);

impl Woken {
    /// Wakes every task.
    pub fn wake(self) {
        for w in self.0.into_iter().flatten() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_task_polled_twice_is_in_the_list_once_and_woken_once() {
        let mut list = Wakers::default();
        let (count, waker) = counting();
        let mut key = None;
        list.register(&mut key, &waker);
        list.register(&mut key, &waker.clone());
        assert_eq!(list.len(), 1);
        list.take().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn a_new_waker_replaces_the_old_one_in_place() {
        let mut list = Wakers::default();
        let (old, old_waker) = counting();
        let (new, new_waker) = counting();
        let mut key = None;
        list.register(&mut key, &old_waker);
        list.register(&mut key, &new_waker);
        assert_eq!(list.len(), 1);
        list.take().wake();
        assert_eq!(old.0.load(Ordering::SeqCst), 0, "the stale waker");
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_key_from_before_a_take_registers_afresh() {
        let mut list = Wakers::default();
        let (count, waker) = counting();
        let (other, other_waker) = counting();
        let mut key = None;
        let mut other_key = None;
        list.register(&mut key, &waker);
        list.take().wake();
        // A new round: the other task takes slot 0, and the stale key must
        // not overwrite it.
        list.register(&mut other_key, &other_waker);
        list.register(&mut key, &waker);
        assert_eq!(list.len(), 2);
        list.take().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_deregistered_task_is_not_woken() {
        let mut list = Wakers::default();
        let (count, waker) = counting();
        let (other, other_waker) = counting();
        let (mut key, mut other_key) = (None, None);
        list.register(&mut key, &waker);
        list.register(&mut other_key, &other_waker);
        list.deregister(&mut key);
        assert_eq!(key, None);
        list.take().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
        // A stale key takes nothing out of the next round.
        list.register(&mut key, &waker);
        list.deregister(&mut other_key);
        assert_eq!(list.len(), 1);
    }
}
