//! Log maintenance: compaction and retention on demand ([`Log::maintain`])
//! and on a background thread owned by the log, every
//! [`LogBuilder::maintenance_interval`](super::LogBuilder::maintenance_interval).

use super::{Log, LogInner};
use crate::error::Result;
use crate::partition::{CompactionOptions, CompactionReport, DeletedRecords};
use crate::registry::refuse_internal;
use crate::topic::{CleanupPolicy, Topic};
use parking_lot::{Condvar, Mutex};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// What one maintenance pass did, over every partition of every topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// Segments deleted by retention.
    pub segments_deleted: u64,
    /// Bytes of their log files.
    pub bytes_deleted: u64,
    /// Segments rewritten by compaction.
    pub segments_compacted: u64,
    /// Bytes of the segments compaction read.
    pub compacted_bytes_in: u64,
    /// Bytes of the compacted segments.
    pub compacted_bytes_out: u64,
    /// Transactions open longer than their `transaction_timeout`,
    /// aborted (their producers fenced).
    pub transactions_aborted: u64,
}

impl MaintenanceReport {
    fn add(&mut self, d: DeletedRecords) {
        self.segments_deleted += d.segments;
        self.bytes_deleted += d.bytes;
    }

    fn add_compacted(&mut self, c: CompactionReport) {
        self.segments_compacted += c.segments;
        self.compacted_bytes_in += c.bytes_in;
        self.compacted_bytes_out += c.bytes_out;
    }
}

impl Log {
    /// Runs maintenance now: first the in-process recovery of every
    /// partition whose sync failed (see [`crate::partition::PartitionHealth`]); then
    /// retention on every topic whose cleanup policy includes "delete"
    /// ([`CleanupPolicy::Delete`], [`CleanupPolicy::CompactDelete`]), by
    /// its `retention_ms` (against the log's [`Clock`](crate::clock::Clock)) and
    /// `retention_bytes` per partition, see
    /// [`crate::Partition::enforce_retention`] (first, because on a full
    /// disk it frees space and needs none); then compaction of every topic
    /// whose cleanup policy includes "compact" ([`CleanupPolicy::Compact`],
    /// [`CleanupPolicy::CompactDelete`]; `__consumer_offsets` too) by the
    /// topic's `delete_retention_ms`, `min_cleanable_dirty_ratio` and
    /// `min_compaction_lag_ms` and the log's `cleaner_buffer_bytes`, see
    /// [`crate::Partition::compact`]. The
    /// background thread runs the same pass; with a
    /// [`ManualClock`](crate::clock::ManualClock) and no thread
    /// (`maintenance_interval(None)`), tests decide when it runs. Every
    /// partition is tried; the first error is returned after.
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        self.ensure_open()?;
        let topics: Vec<_> = self.registry().all();
        let mut report = MaintenanceReport::default();
        let mut first_error = None;
        let mut note = |e| {
            first_error.get_or_insert(e);
        };
        // Partitions whose sync failed recover here too, so an idle one
        // comes back once the cause clears, without waiting for an append.
        for p in topics.iter().flat_map(Topic::partitions) {
            if let Err(e) = p.recover_if_failed() {
                note(e);
            }
        }
        // Transactions past their timeout are aborted first: their
        // records then stop holding back read_committed readers and
        // compaction.
        match self
            .txns()
            .abort_expired(self.registry(), self.offset_store())
        {
            Ok(n) => report.transactions_aborted += n as u64,
            Err(e) => note(e),
        }
        // Retention first: on a full disk it frees the space compaction
        // (which writes new segments before it frees old ones) needs.
        for topic in &topics {
            let config = topic.config();
            if config.cleanup_policy == CleanupPolicy::Compact {
                continue;
            }
            for p in topic.partitions() {
                match p.enforce_retention(config.retention_ms, config.retention_bytes) {
                    Ok(d) => report.add(d),
                    Err(e) => note(e),
                }
            }
        }
        for topic in &topics {
            let config = topic.config();
            if config.cleanup_policy == CleanupPolicy::Delete {
                continue;
            }
            let options = CompactionOptions {
                delete_retention_ms: config.delete_retention_ms,
                min_cleanable_dirty_ratio: config.min_cleanable_dirty_ratio,
                min_compaction_lag_ms: config.min_compaction_lag_ms,
                map_budget_bytes: self.inner.options.cleaner_buffer_bytes,
            };
            for p in topic.partitions() {
                match p.compact(options) {
                    Ok(c) => report.add_compacted(c),
                    Err(e) => note(e),
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Deletes the records of `topic`'s `partition` below `before`
    /// (Kafka's `deleteRecords`); see [`crate::Partition::delete_records`].
    /// Internal topics refuse it ([`crate::Error::InvalidTopicName`]).
    pub fn delete_records(
        &self,
        topic: &str,
        partition: u32,
        before: u64,
    ) -> Result<DeletedRecords> {
        self.ensure_open()?;
        refuse_internal(topic)?;
        self.topic(topic)?
            .partition(partition)?
            .delete_records(before)
    }
}

/// The maintenance thread's stop flag and wake-up, shared with the
/// thread, which holds the log only weakly: dropping the last handle to
/// the log stops it too.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Tells the thread to stop at its next wake-up, and wakes it.
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// The running maintenance thread.
#[derive(Debug, Default)]
pub(crate) struct Maintenance {
    pub stop: Arc<Stop>,
    pub thread: Mutex<Option<JoinHandle<()>>>,
}

impl Maintenance {
    /// Starts the thread for `log`, running a pass every `interval`.
    pub fn start(log: &Arc<LogInner>, interval: Duration) -> Result<()> {
        let weak: Weak<LogInner> = Arc::downgrade(log);
        let stop = log.maintenance.stop.clone();
        let handle = std::thread::Builder::new()
            .name("samsa-maintenance".into())
            .spawn(move || loop {
                {
                    let mut stopped = stop.stopped.lock();
                    if !*stopped {
                        stop.wake.wait_for(&mut stopped, interval);
                    }
                    if *stopped {
                        return;
                    }
                }
                let Some(inner) = weak.upgrade() else { return };
                // A failed pass is tried again at the next interval; the
                // log's own operations report the same faults to callers.
                let _ = Log { inner }.maintain();
            })
            // Not a storage call, and of no path: named by hand.
            .map_err(|e| crate::error::Error::io("spawn maintenance thread", "", e))?;
        *log.maintenance.thread.lock() = Some(handle);
        Ok(())
    }

    /// Stops the thread and waits for it (unless called on it).
    pub fn shut_down(&self) {
        self.stop.stop();
        if let Some(t) = self.thread.lock().take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}
