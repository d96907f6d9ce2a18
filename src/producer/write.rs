//! After a batch closes: writing it (by the appender thread, or by the
//! caller waiting on it), syncing it and completing its deliveries.
//!
//! A caller in [`Delivery::wait`](super::Delivery::wait) whose batch has
//! not been taken by the appender yet writes it in its own thread and, under
//! `Acks::All`, leads the sync itself, as the leader of a group commit does:
//! an awaited send then costs what a bare `Partition::append` does, with no
//! thread hand-off on its way (the appender, then the syncer, then back).
//! Fire-and-forget sends still go the appender's way, in batches.

use super::accumulator::{ClosedBatch, PartitionKey, Take};
use super::delivery::{BatchSlot, FlushNow};
use super::{Acks, Shared};
use crate::batch::ProducerFields;
use crate::error::Error;
use crate::partition::{AppendInfo, Partition, SyncTicket};
use std::collections::VecDeque;
use std::sync::Arc;

/// A batch in the log file, waiting for the sync its append is due.
pub(super) struct Written {
    partition: Partition,
    /// What to sync through, if the partition's policy asks for it.
    sync: Option<SyncTicket>,
    info: AppendInfo,
    slot: Arc<BatchSlot>,
    log_append_time: bool,
    bytes: usize,
}

/// Written batches, for the syncer thread.
#[derive(Default)]
pub(super) struct WrittenQueue {
    batches: VecDeque<Written>,
    /// The appender has stopped: nothing more will come.
    pub appender_done: bool,
}

impl Shared {
    /// Writes one batch, with its partition's next producer sequence,
    /// retrying failed writes as the same batch. The caller has the
    /// partition's turn (see `Queue`), so sequences advance in order. A
    /// batch that fails for good fails its deliveries, is counted done
    /// and leaves its sequence numbers to the next batch.
    fn write(&self, b: ClosedBatch) -> Option<Written> {
        let key = b.key();
        let transactional = self.config.transactional_id.is_some();
        if transactional {
            // The coordinator learns of the partition before any of the
            // transaction's data is written there.
            if let Err(e) = self.add_to_transaction(&b.slot.topic, b.slot.partition) {
                b.slot.failed_if_pending(e.clone());
                self.account(b.bytes, 1, Some(e));
                return None;
            }
        }
        let identity = *self.identity.lock();
        let fields = match identity {
            Some((producer_id, producer_epoch)) => {
                // First use of a partition: continue where the log has this
                // producer id (a restart with a stable producer_id), or at 0.
                let base_sequence = *self.sequences.lock().entry(key).or_insert_with(|| {
                    match b.partition.resume_producer(producer_id) {
                        (epoch, seq) if epoch == producer_epoch => seq,
                        _ => 0,
                    }
                });
                ProducerFields {
                    producer_id,
                    producer_epoch,
                    base_sequence,
                }
            }
            None => ProducerFields::NONE,
        };
        let batch = if transactional {
            b.builder
                .finish_with(fields, crate::batch::ATTR_TRANSACTIONAL)
        } else {
            b.builder.finish(fields)
        };
        // Compressed here, on the producer's thread, outside the log's lock.
        let compressed =
            b.partition
                .stored(batch, self.config.compression, Some(self.config.levels()));
        let mut batch = match compressed {
            Ok(batch) => batch,
            Err(e) => {
                b.slot.failed_if_pending(e.clone());
                self.account(b.bytes, 1, Some(e));
                return None;
            }
        };
        let mut attempt = 0;
        let result = loop {
            match b.partition.write_encoded(&mut batch, b.partition.now_ms()) {
                Err(Error::Io { op, .. }) if op != "fdatasync" && attempt < self.config.retries => {
                    attempt += 1;
                    std::thread::sleep(self.config.retry_backoff);
                }
                other => break other,
            }
        };
        match result {
            Ok((info, sync)) => {
                if let Some(seq) = self.sequences.lock().get_mut(&key) {
                    // Sequences wrap from i32::MAX back to 0, as in Kafka.
                    *seq = ((i64::from(fields.base_sequence) + i64::from(b.count)) % (1i64 << 31))
                        as i32;
                }
                Some(Written {
                    partition: b.partition,
                    sync,
                    info,
                    slot: b.slot,
                    log_append_time: b.log_append_time,
                    bytes: b.bytes,
                })
            }
            Err(e) => {
                b.slot.failed_if_pending(e.clone());
                self.account(b.bytes, 1, Some(e));
                None
            }
        }
    }

    /// The appender's write of one batch: written, it goes to the syncer;
    /// under `Acks::Leader` its deliveries are done once written.
    pub(super) fn write_for_appender(&self, b: ClosedBatch) {
        if let Some(written) = self.write(b) {
            self.to_syncer(written);
        }
    }

    /// Hands a written batch to the syncer (done already, under
    /// `Acks::Leader`).
    fn to_syncer(&self, written: Written) {
        if self.config.acks == Acks::Leader {
            written.complete();
        }
        self.written.lock().batches.push_back(written);
        self.written_wake.notify_one();
    }

    /// A waiter's write of its own batch, in its thread: under `Acks::All`
    /// it syncs it too (sharing the sync with any other writer of the
    /// partition); under `Acks::Leader` the sync is the syncer's, as for
    /// the appender's batches.
    pub(super) fn write_for_waiter(&self, b: ClosedBatch) {
        let key = b.key();
        let written = self.write(b);
        let mine = match written {
            Some(w) if self.config.acks == Acks::All => Some(w),
            Some(w) => {
                // Queued before the turn is given back, so the appender
                // (which stops only once no waiter holds a turn) is still
                // running, and the syncer with it.
                self.to_syncer(w);
                None
            }
            None => None,
        };
        self.give_back(key);
        if let Some(w) = mine {
            self.finish([w]);
        }
    }

    /// Ends a waiter's turn at partition `key`: the appender may take the
    /// partition's next batches (and, once closed, stop).
    fn give_back(&self, key: PartitionKey) {
        let mut acc = self.acc.lock();
        acc.queue.held.remove(&key);
        let wake = acc.queue.closed || !acc.queue.ready.is_empty();
        drop(acc);
        if wake {
            self.wake.notify_one();
        }
    }

    /// The syncer thread: waits for each written batch's sync (one fsync
    /// covers every batch written before it: group commit) and completes
    /// the deliveries, while the appender writes on.
    pub(super) fn run_syncer(&self) {
        loop {
            let batches: Vec<Written> = {
                let mut q = self.written.lock();
                while q.batches.is_empty() {
                    if q.appender_done {
                        return;
                    }
                    self.written_wake.wait(&mut q);
                }
                q.batches.drain(..).collect()
            };
            self.finish(batches);
        }
    }

    /// Waits for the syncs of written batches and completes them (or fails
    /// them with the sync's error), then counts them done.
    fn finish(&self, batches: impl IntoIterator<Item = Written>) {
        let mut bytes = 0;
        let mut first_error = None;
        let mut n = 0;
        for w in batches {
            n += 1;
            bytes += w.bytes;
            match w.sync.map_or(Ok(()), |t| w.partition.sync_through(t)) {
                Ok(()) => w.complete(),
                Err(e) => {
                    w.slot.failed_if_pending(e.clone());
                    first_error.get_or_insert(e);
                }
            }
        }
        self.account(bytes, n, first_error);
    }

    /// Counts `n` batches of `bytes` as done, freeing their buffer space.
    pub(super) fn account(&self, bytes: usize, n: u64, error: Option<Error>) {
        // Before the batches count as done: a flush that sees them done
        // sees the transaction abortable too.
        if let Some(e) = error
            .as_ref()
            .filter(|_| self.config.transactional_id.is_some())
        {
            self.transaction_failed(e);
        }
        let mut acc = self.acc.lock();
        acc.queue.buffered -= bytes;
        acc.queue.completed += n;
        if acc.queue.first_error.is_none() {
            acc.queue.first_error = error;
        }
        let tasks = acc.queue.tasks.take();
        drop(acc);
        self.progress.notify_all();
        tasks.wake();
    }
}

impl FlushNow for Shared {
    fn flush_now(&self, slot: &Arc<BatchSlot>) {
        let take = self.acc.lock().take_for_waiter(slot);
        match take {
            Take::Mine(b) => self.write_for_waiter(b),
            Take::Queued { closed_now: true } => {
                self.wake.notify_one();
            }
            Take::Queued { closed_now: false } | Take::Taken => {}
        }
    }

    fn hand_over(&self, slot: &Arc<BatchSlot>) {
        if self.acc.lock().close_slot(slot) {
            self.wake.notify_one();
        }
    }
}

impl Written {
    /// Completes the batch's deliveries (a second call changes nothing).
    fn complete(&self) {
        let append_time = self.log_append_time.then_some(self.info.max_timestamp);
        self.slot.appended(self.info.base_offset, append_time);
    }
}
