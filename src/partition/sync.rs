//! Group commit: appenders waiting for durability share one fsync.
//!
//! The first waiter to find no sync running becomes the leader: it syncs
//! everything written so far, outside any lock the writers need, and wakes
//! every waiter whose records that sync covered. Waiters whose records came
//! in after the leader looked elect the next leader.

use crate::error::Result;
use parking_lot::{Condvar, Mutex};

#[derive(Debug)]
struct Inner {
    /// Every offset below this is durable.
    durable: u64,
    /// A leader is syncing now.
    syncing: bool,
    /// A sync failed: nothing more is acknowledged.
    poisoned: bool,
}

/// Shared state of the group commit of one partition.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    inner: Mutex<Inner>,
    done: Condvar,
}

/// How a wait ended without the durability asked for.
#[derive(Debug)]
pub(crate) enum SyncFailure {
    /// This caller's own sync failed with this error.
    Failed(crate::error::Error),
    /// An earlier sync failed.
    Poisoned,
}

impl GroupCommit {
    pub fn new(durable: u64) -> Self {
        GroupCommit {
            inner: Mutex::new(Inner {
                durable,
                syncing: false,
                poisoned: false,
            }),
            done: Condvar::new(),
        }
    }

    /// Returns once every offset below `target` is durable. When this
    /// caller leads, `sync` makes everything written so far durable and
    /// returns the offset below which that is.
    pub fn wait(&self, target: u64, sync: impl FnOnce() -> Result<u64>) -> Result<(), SyncFailure> {
        let mut g = self.inner.lock();
        loop {
            if g.poisoned {
                return Err(SyncFailure::Poisoned);
            }
            if g.durable >= target {
                return Ok(());
            }
            if !g.syncing {
                break;
            }
            self.done.wait(&mut g);
        }
        g.syncing = true;
        drop(g);
        let result = sync();
        let mut g = self.inner.lock();
        g.syncing = false;
        let outcome = match result {
            Ok(durable) => {
                g.durable = g.durable.max(durable);
                Ok(())
            }
            Err(e) => {
                g.poisoned = true;
                Err(SyncFailure::Failed(e))
            }
        };
        drop(g);
        self.done.notify_all();
        // A leader's sync covers its own records: it wrote them first.
        outcome
    }

    /// Marks the partition poisoned (a sync outside `wait` failed).
    pub fn poison(&self) {
        self.inner.lock().poisoned = true;
        self.done.notify_all();
    }

    /// Whether a sync has failed.
    pub fn is_poisoned(&self) -> bool {
        self.inner.lock().poisoned
    }

    /// Records that everything below `durable` is durable (a sync done by
    /// the writer itself, at roll or flush).
    pub fn mark_durable(&self, durable: u64) {
        let mut g = self.inner.lock();
        g.durable = g.durable.max(durable);
        drop(g);
        self.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn concurrent_waiters_share_syncs() {
        let gc = Arc::new(GroupCommit::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gc, written, syncs) = (gc.clone(), written.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.wait(mine, || {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            Ok(written.load(Ordering::SeqCst))
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = syncs.load(Ordering::SeqCst);
        assert!(n < 1600, "{n} syncs for 1600 waits: no sharing");
    }

    #[test]
    fn a_failed_sync_poisons_every_later_wait() {
        let gc = GroupCommit::new(0);
        let r = gc.wait(1, || {
            Err(Error::io("fdatasync", "/x", std::io::Error::other("EIO")))
        });
        assert!(matches!(r, Err(SyncFailure::Failed(_))));
        assert!(matches!(gc.wait(1, || Ok(1)), Err(SyncFailure::Poisoned)));
        assert!(gc.is_poisoned());
    }
}
