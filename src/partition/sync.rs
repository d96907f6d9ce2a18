//! Group commit: appenders waiting for durability share one fsync.
//!
//! The first waiter to find no sync running becomes the leader: it syncs
//! everything written so far, outside any lock the writers need, and wakes
//! every waiter whose records that sync covered. Waiters whose records came
//! in after the leader looked elect the next leader.
//!
//! With several appenders, a leader that syncs at once covers only the
//! appenders already waiting; the ones the previous sync released are
//! still on their way back with their next records, and get a sync of
//! their own: the appenders split into two groups taking turns. So a
//! leader first waits (briefly) until as many callers have come back as
//! the previous sync released, the way PostgreSQL's `commit_delay` does;
//! a sync that released its leader alone (one appender) makes no one wait.

use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest a leader waits for the rest of its group, however slow
/// the syncs are.
const MAX_DELAY: Duration = Duration::from_millis(2);

#[derive(Debug)]
struct Inner {
    /// Every offset below this is durable.
    durable: u64,
    /// A leader is syncing now.
    syncing: bool,
    /// The sync that failed, if one did: nothing more is acknowledged
    /// until the partition recovers (see [`GroupCommit::recovered`]).
    failure: Option<Error>,
    /// Bumped at every recovery: a ticket of an earlier epoch is for
    /// records the recovery may have taken back.
    epoch: u64,
    /// The failure that ended the last epoch, for its late waiters.
    last_failure: Option<Error>,
    /// The targets of the callers blocked in `wait` behind a running or
    /// delayed sync.
    blocked: Vec<u64>,
    /// Callers the last sync released (its leader included): they are
    /// expected back with their next records.
    released: usize,
    /// Callers that came to `wait` for a sync since the last one ended.
    arrived: usize,
    /// How long the last sync took.
    last_sync: Duration,
}

/// Shared state of the group commit of one partition.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    inner: Mutex<Inner>,
    /// `inner.failure.is_some()`, readable without the lock on every append.
    failed: AtomicBool,
    done: Condvar,
    /// Wakes a delaying leader when a waiter arrives.
    arrived: Condvar,
}

/// What an append must wait for before it counts as durable: every offset
/// below `offset`, in the epoch it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncTicket {
    pub offset: u64,
    epoch: u64,
}

impl GroupCommit {
    pub fn new(durable: u64) -> Self {
        GroupCommit {
            failed: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                durable,
                syncing: false,
                failure: None,
                epoch: 0,
                last_failure: None,
                blocked: Vec::new(),
                released: 1,
                arrived: 0,
                last_sync: Duration::ZERO,
            }),
            done: Condvar::new(),
            arrived: Condvar::new(),
        }
    }

    /// A ticket for the offsets below `offset`, written now. The caller
    /// holds the partition's writer lock, which recoveries also take.
    pub fn ticket(&self, offset: u64) -> SyncTicket {
        SyncTicket {
            offset,
            epoch: self.inner.lock().epoch,
        }
    }

    /// Returns once every offset below the ticket's is durable. When this
    /// caller leads, `sync` makes everything written so far durable and
    /// returns the offset below which that is. After a failed sync, every
    /// waiter gets that failure (the leader its own error, the others a
    /// copy), and so does every later one until the partition recovers;
    /// a ticket from before a recovery gets the failure that ended its
    /// epoch, as its records may have been taken back.
    pub fn wait(&self, ticket: SyncTicket, sync: impl FnOnce() -> Result<u64>) -> Result<()> {
        let target = ticket.offset;
        let mut g = self.inner.lock();
        if g.durable < target && g.failure.is_none() {
            g.arrived += 1;
            self.arrived.notify_one();
        }
        loop {
            if ticket.epoch != g.epoch {
                return Err(copy_of(g.last_failure.as_ref()));
            }
            if let Some(f) = &g.failure {
                return Err(f.clone());
            }
            if g.durable >= target {
                return Ok(());
            }
            if !g.syncing {
                break;
            }
            g.blocked.push(target);
            self.done.wait(&mut g);
            let me = g.blocked.iter().position(|&t| t == target);
            g.blocked
                .swap_remove(me.expect("a blocked caller is listed"));
        }
        g.syncing = true;
        if g.released > 1 {
            // Wait for the callers the last sync released to come back,
            // at most half a sync: their records then share this sync
            // instead of needing the next one.
            let deadline = Instant::now() + (g.last_sync / 2).min(MAX_DELAY);
            while g.arrived < g.released {
                if self.arrived.wait_until(&mut g, deadline).timed_out() {
                    break;
                }
            }
        }
        let epoch = g.epoch;
        drop(g);
        let started = Instant::now();
        let result = sync();
        let took = started.elapsed();
        let mut g = self.inner.lock();
        g.syncing = false;
        g.last_sync = took;
        let outcome = match result {
            // A recovery ran meanwhile (after a failed sync at a roll): what
            // this sync covered is the old epoch's, and its records may be
            // gone.
            _ if g.epoch != epoch => Err(copy_of(g.last_failure.as_ref())),
            Ok(durable) => {
                g.durable = g.durable.max(durable);
                g.released = 1 + g.blocked.iter().filter(|&&t| t <= g.durable).count();
                g.arrived = 0;
                Ok(())
            }
            Err(e) => {
                g.failure = Some(e.clone());
                self.failed.store(true, Ordering::Release);
                Err(e)
            }
        };
        drop(g);
        self.done.notify_all();
        // A leader's sync covers its own records: it wrote them first.
        outcome
    }

    /// Records that a sync outside `wait` (at a roll or close) failed.
    pub fn fail(&self, error: &Error) {
        self.inner
            .lock()
            .failure
            .get_or_insert_with(|| error.clone());
        self.failed.store(true, Ordering::Release);
        self.done.notify_all();
    }

    /// Whether a sync failed and the partition has not recovered yet.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The failed sync, if the partition has one to recover from.
    pub fn failure(&self) -> Option<Error> {
        self.inner.lock().failure.as_ref().cloned()
    }

    /// The partition recovered: everything below `durable` is durable
    /// (what it reloaded from disk), a new epoch begins, and appends are
    /// acknowledged again.
    pub fn recovered(&self, durable: u64) {
        let mut g = self.inner.lock();
        g.last_failure = g.failure.take().or(g.last_failure.take());
        self.failed.store(false, Ordering::Release);
        g.epoch += 1;
        g.durable = durable;
        g.released = 1;
        g.arrived = 0;
        drop(g);
        self.done.notify_all();
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

/// The error of a ticket from an epoch a recovery ended.
fn copy_of(failure: Option<&Error>) -> Error {
    match failure {
        Some(f) => f.clone(),
        None => Error::io(
            "fdatasync",
            "",
            std::io::Error::other(
                "an earlier sync failed and the partition recovered without these records",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
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
                        gc.wait(gc.ticket(mine), || {
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

    /// Four appenders, each waiting for its own write before the next:
    /// without the commit delay a sync covers about half of them (the
    /// other half are on their way back from the previous sync).
    #[test]
    fn a_leader_waits_for_the_rest_of_its_group() {
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 20;
        let gc = Arc::new(GroupCommit::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (gc, written, syncs) = (gc.clone(), written.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.wait(gc.ticket(mine), || {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            // As a real sync: it covers what was written
                            // when it started.
                            let covered = written.load(Ordering::SeqCst);
                            // A slow disk: the delay may be up to half
                            // of this, so a loaded machine still has
                            // time to bring the group back.
                            std::thread::sleep(Duration::from_millis(20));
                            Ok(covered)
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
        // One sync a round once the group has formed (21 in a run of this
        // test); without the delay the appenders split into groups taking
        // turns (26 to 30 in runs with the delay set to zero).
        assert!(
            n <= ROUNDS + ROUNDS / 4,
            "{n} syncs for {} waits",
            THREADS * ROUNDS
        );
    }

    #[test]
    fn a_lone_waiter_never_delays() {
        let gc = GroupCommit::new(0);
        for i in 1..=3 {
            gc.wait(gc.ticket(i), || {
                std::thread::sleep(Duration::from_millis(5));
                Ok(i)
            })
            .unwrap();
        }
        let g = gc.inner.lock();
        assert_eq!((g.released, g.blocked.len()), (1, 0));
    }

    #[test]
    fn a_failed_sync_fails_every_wait_until_recovered() {
        let gc = GroupCommit::new(0);
        let before = gc.ticket(1);
        let r = gc.wait(before, || {
            Err(Error::io("fdatasync", "/x", std::io::Error::other("EIO")))
        });
        let named = |r: Result<()>| match r {
            Err(Error::Io { op, source, .. }) => op == "fdatasync" && source.to_string() == "EIO",
            _ => false,
        };
        assert!(named(r), "the leader gets its own error");
        // Later waiters get the same failure, named, not a bare "poisoned".
        assert!(named(gc.wait(gc.ticket(1), || Ok(1))));
        assert!(gc.failure().is_some());
        gc.recovered(0);
        assert!(gc.failure().is_none());
        // A ticket from before the recovery is for records it took back.
        assert!(named(gc.wait(before, || Ok(1))));
        // New ones are synced again.
        gc.wait(gc.ticket(1), || Ok(1)).unwrap();
    }

    #[test]
    fn a_sync_that_straddles_a_recovery_acknowledges_nothing() {
        let gc = Arc::new(GroupCommit::new(0));
        let (started, go) = (
            Arc::new(std::sync::Barrier::new(2)),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let leader = {
            let (gc, started, go) = (gc.clone(), started.clone(), go.clone());
            std::thread::spawn(move || {
                let t = gc.ticket(5);
                gc.wait(t, || {
                    started.wait();
                    go.wait();
                    Ok(5)
                })
            })
        };
        started.wait();
        // A roll's sync failed meanwhile, and the partition recovered to 2.
        gc.fail(&Error::io(
            "fsync directory",
            "/p",
            std::io::Error::other("EIO"),
        ));
        gc.recovered(2);
        go.wait();
        assert!(leader.join().unwrap().is_err());
        // The straddling sync did not move the new epoch's durable mark.
        let t = gc.ticket(3);
        let mut led = false;
        gc.wait(t, || {
            led = true;
            Ok(3)
        })
        .unwrap();
        assert!(led, "offset 3 was not durable yet");
    }
}
