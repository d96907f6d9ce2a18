//! The descriptor budget: how many files samsa keeps open at once.
//!
//! An embedded log cannot ask the application around it to raise its
//! descriptor limit, as Kafka asks its operators. So every file samsa
//! keeps open between calls (a segment's log, with a sealed segment's
//! mapped indexes) holds a [`Slot`] of a [`FileBudget`] shared by the whole
//! log; when the budget is full, opening one more first closes the least
//! recently used ones (a clock sweep: a holder used since the last sweep
//! gets a second chance). Closing only drops the holder's own reference:
//! a call using the file at that moment keeps its copy, so nothing is ever
//! closed or unmapped under a reader. A holder may refuse (a segment that
//! was deleted while a reader holds it cannot be opened again by name, so
//! it stays open: "pinned"); when every holder refuses, the budget is
//! exceeded rather than a call failed or blocked.

use parking_lot::Mutex;
use std::fmt;
use std::sync::{Arc, Weak};

/// Something holding files open under a budget.
pub(crate) trait Evictable: Send + Sync {
    /// Closes what it holds (dropping its slot), unless it may not;
    /// returns whether it did.
    fn evict(&self) -> bool;
    /// Whether it was used since the last call, clearing the mark.
    fn take_used(&self) -> bool;
}

/// Bounds the files a log keeps open; see the module docs.
pub(crate) struct FileBudget {
    max: usize,
    inner: Mutex<Holders>,
}

#[derive(Default)]
struct Holders {
    /// Slots counted now.
    open: usize,
    /// By slot index; `None` is free.
    holders: Vec<Option<Weak<dyn Evictable>>>,
    free: Vec<usize>,
    /// Where the clock sweep goes on from.
    hand: usize,
}

impl fmt::Debug for FileBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBudget")
            .field("max", &self.max)
            .field("open", &self.open())
            .finish()
    }
}

/// One open file counted against a budget, until dropped.
pub(crate) struct Slot {
    budget: Arc<FileBudget>,
    index: usize,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot({})", self.index)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut h = self.budget.inner.lock();
        h.holders[self.index] = None;
        h.free.push(self.index);
        h.open -= 1;
    }
}

impl FileBudget {
    /// A budget of `max` open files (at least 1).
    pub fn new(max: usize) -> Arc<FileBudget> {
        Arc::new(FileBudget {
            max: max.max(1),
            inner: Mutex::default(),
        })
    }

    /// The most files it keeps open.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Files counted as open now.
    pub fn open(&self) -> usize {
        self.inner.lock().open
    }

    /// Counts one more open file, held by `holder`, after closing other
    /// holders' files if the budget is full. Call it before opening the
    /// file, holding no lock a holder's [`Evictable::evict`] takes.
    pub fn acquire(self: &Arc<Self>, holder: Weak<dyn Evictable>) -> Slot {
        // A few rounds: victims may be in use again, or refuse.
        for _ in 0..4 {
            // The holders looked at are dropped after the lock: the last
            // reference to one may be among them, and dropping it gives
            // its slot back, which takes the lock.
            let (victims, _looked_at) = {
                let mut h = self.inner.lock();
                if h.open < self.max {
                    break;
                }
                // Room for this file and a few more, so a run of opens
                // does not sweep at every one.
                let want = (h.open + 1 - self.max).max(self.max / 32).max(1);
                pick(&mut h, want)
            };
            if victims.is_empty() {
                break;
            }
            for v in victims {
                v.evict();
            }
        }
        let mut h = self.inner.lock();
        let index = match h.free.pop() {
            Some(i) => {
                h.holders[i] = Some(holder);
                i
            }
            None => {
                h.holders.push(Some(holder));
                h.holders.len() - 1
            }
        };
        h.open += 1;
        Slot {
            budget: self.clone(),
            index,
        }
    }
}

/// Up to `want` holders not used since the hand last passed them, by a
/// clock sweep of at most two turns; and the others it looked at, which
/// the caller drops once it let go of the lock.
type Picked = (Vec<Arc<dyn Evictable>>, Vec<Arc<dyn Evictable>>);

fn pick(h: &mut Holders, want: usize) -> Picked {
    let n = h.holders.len();
    let (mut out, mut looked_at) = (Vec::new(), Vec::new());
    for _ in 0..2 * n {
        if out.len() >= want {
            break;
        }
        h.hand = (h.hand + 1) % n;
        let Some(holder) = h.holders[h.hand].as_ref().and_then(Weak::upgrade) else {
            continue;
        };
        if holder.take_used() {
            looked_at.push(holder);
        } else {
            out.push(holder);
        }
    }
    (out, looked_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Holds one slot; may be pinned.
    #[derive(Default)]
    struct Holder {
        slot: Mutex<Option<Slot>>,
        used: AtomicBool,
        pinned: AtomicBool,
    }

    impl Evictable for Holder {
        fn evict(&self) -> bool {
            if self.pinned.load(Ordering::Relaxed) {
                return false;
            }
            self.slot.lock().take().is_some()
        }
        fn take_used(&self) -> bool {
            self.used.swap(false, Ordering::Relaxed)
        }
    }

    fn open(budget: &Arc<FileBudget>, h: &Arc<Holder>) {
        let weak = Arc::downgrade(h) as Weak<dyn Evictable>;
        *h.slot.lock() = Some(budget.acquire(weak));
    }

    #[test]
    fn the_least_recently_used_are_closed_first() {
        let budget = FileBudget::new(4);
        let holders: Vec<Arc<Holder>> = (0..4).map(|_| Arc::default()).collect();
        for h in &holders {
            open(&budget, h);
        }
        assert_eq!(budget.open(), 4);
        // 0 and 2 were used again since: 1 goes first.
        holders[0].used.store(true, Ordering::Relaxed);
        holders[2].used.store(true, Ordering::Relaxed);
        let late = Arc::new(Holder::default());
        open(&budget, &late);
        assert_eq!(budget.open(), 4);
        assert!(holders[1].slot.lock().is_none(), "the unused one closed");
        assert!(holders[0].slot.lock().is_some());
        assert!(holders[2].slot.lock().is_some());
    }

    #[test]
    fn a_holder_dropped_during_a_sweep_gives_its_slot_back_without_deadlock() {
        let budget = FileBudget::new(2);
        let a = Arc::new(Holder::default());
        let b = Arc::new(Holder::default());
        open(&budget, &a);
        open(&budget, &b);
        a.used.store(true, Ordering::Relaxed);
        // The sweep upgrades `a` (used: kept); its owner drops it
        // meanwhile, so the sweep's reference is the last one.
        let weak_a = Arc::downgrade(&a);
        drop(a);
        assert!(weak_a.upgrade().is_none());
        let c = Arc::new(Holder::default());
        open(&budget, &c);
        assert!(budget.open() <= 2);
    }

    #[test]
    fn never_more_than_the_budget_unless_every_holder_refuses() {
        let budget = FileBudget::new(8);
        let holders: Vec<Arc<Holder>> = (0..100).map(|_| Arc::default()).collect();
        for (i, h) in holders.iter().enumerate() {
            open(&budget, h);
            assert!(budget.open() <= 8, "after {i}: {}", budget.open());
            if i % 3 == 0 {
                h.used.store(true, Ordering::Relaxed);
            }
        }
        // Pinned holders are never closed: the budget is exceeded instead
        // of failing.
        let pinned: Vec<Arc<Holder>> = (0..8).map(|_| Arc::default()).collect();
        for h in &pinned {
            h.pinned.store(true, Ordering::Relaxed);
            open(&budget, h);
        }
        let extra = Arc::new(Holder::default());
        open(&budget, &extra);
        assert!(pinned.iter().all(|h| h.slot.lock().is_some()));
        assert_eq!(budget.open(), 9);
        // Dropped holders give their slots back.
        drop(pinned);
        drop(holders);
        assert!(budget.open() <= 9);
        drop(extra);
        assert!(budget.open() <= 8);
    }
}
