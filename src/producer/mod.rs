//! The producer: batches records per partition and appends them from a
//! background appender thread, as Kafka's producer does with its sender.
//!
//! `send` encodes the record straight into its partition's open batch (a
//! buffered copy, no syscall) and returns a [`Delivery`]. A batch is
//! appended when it reaches `batch_bytes`, when it has waited `linger`, on
//! [`Producer::flush`], or, with zero linger, as soon as the appender is
//! free; a batch someone waits on is appended at once, by the waiting
//! thread itself when the appender has not taken it yet (see `write`).
//! One partition's batches are written one at a time, in order, which the
//! sequence numbers of idempotent appends rely on.
//!
//! # Async
//!
//! Each call that can block has a form that never blocks its thread, for
//! async code on any executor (tokio, smol, `futures::executor`: the
//! producer needs no runtime, its own threads do the work):
//!
//! - [`Producer::send_async`] ([`SendFuture`]): while the buffer is full,
//!   the task waits for space instead of the thread;
//! - awaiting a [`Delivery`] ([`DeliveryFuture`]): the record's
//!   [`RecordMetadata`] once it is delivered per [`Acks`];
//! - [`Producer::flush_async`] ([`FlushFuture`]) and
//!   [`Producer::close_async`] ([`ProducerCloseFuture`]).
//!
//! A waiting task leaves its waker with the producer; the producer's
//! threads wake it as batches complete (and as they end, for a close).
//!
//! # Where I/O happens
//!
//! A send copies the record into its batch, in memory. Batches are
//! written on the `samsa-producer` appender thread and synced (fsync, as
//! the partitions' sync policies ask) on the `samsa-producer-sync`
//! thread. The one exception is a blocking [`Delivery::wait`] on a batch
//! the appender has not taken yet: the waiting thread writes it, and
//! under [`Acks::All`] syncs it, itself (saving two thread hand-offs). An
//! awaited delivery never does: it hands its batch to the appender, so
//! no write or sync ever runs on a task's thread.

mod accumulator;
#[cfg(test)]
mod async_tests;
mod config;
mod delivery;
mod flush;
#[cfg(test)]
mod power_loss_tests;
mod send;
#[cfg(test)]
mod tests;
mod transaction;
mod wakers;
mod write;

pub use crate::compression::Compression;
pub use crate::partitioner::{
    kafka_partition_for_key, murmur2, DefaultPartitioner, Partitioner, RandomPartitioner,
    RoundRobinPartitioner,
};
pub use config::{Acks, ProducerConfig};
pub use delivery::{Delivery, DeliveryFuture, RecordMetadata};
pub use flush::{FlushFuture, ProducerCloseFuture};
pub use send::SendFuture;

use delivery::FlushNow;
use write::WrittenQueue;

use crate::error::{Error, Result};
use crate::log::Log;
use accumulator::{Accumulator, BatchRules, PartitionKey};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// Sends records to a log's topics: Kafka's `KafkaProducer`, in process.
///
/// `Clone + Send + Sync`: clones share one buffer and one appender thread,
/// which stops (after appending everything buffered) when the last clone is
/// dropped or [`Producer::close`] is called. Dropping the last clone of an
/// open producer waits for that, blocking: in async code,
/// [`Producer::close_async`] first, and the drop returns at once.
///
/// ```
/// use samsa_log::topic::TopicConfig;
/// use samsa_log::{Log, Record};
///
/// # fn main() -> samsa_log::Result<()> {
/// let log = Log::in_memory();
/// log.create_topic("orders", TopicConfig::default().partitions(4))?;
/// let producer = log.producer();
/// let delivery = producer.send("orders", Record::new(b"book").key(b"alice"))?;
/// let md = delivery.wait()?;
/// assert_eq!(md.offset, 0);
/// // The same key always lands on the same partition, as in Kafka.
/// let again = producer.send("orders", Record::new(b"lamp").key(b"alice"))?.wait()?;
/// assert_eq!(again.partition, md.partition);
/// producer.flush()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

/// Owned by the producer handles only: its drop stops the threads.
struct Handle {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Shared by the handles and the appender thread.
struct Shared {
    log: Log,
    config: ProducerConfig,
    /// Producer id and epoch stamped on batches, with idempotence; for a
    /// transactional producer, set by `init_transactions`.
    identity: Mutex<Option<(i64, i16)>>,
    /// Where a transactional producer's transactions stand.
    txn: Mutex<transaction::TxnClient>,
    acc: Mutex<Accumulator>,
    /// Wakes the appender: a batch is ready, or the producer is closing.
    wake: Condvar,
    /// Wakes senders waiting for buffer space, and flushes waiting for
    /// batches to complete; tasks doing the same leave their wakers in
    /// `acc.queue.tasks`, woken wherever this is notified.
    progress: Condvar,
    /// The next producer sequence of each partition, with idempotence. It
    /// advances only past batches that made it into the log, and only the
    /// writer holding the partition's turn (see `Queue`) reads or moves it.
    sequences: Mutex<HashMap<PartitionKey, i32>>,
    /// Batches written and waiting for their sync, for the syncer thread.
    written: Mutex<WrittenQueue>,
    /// Wakes the syncer.
    written_wake: Condvar,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.handle.shared.config)
            .finish_non_exhaustive()
    }
}

/// A producer id no other producer is likely to have: the clock and a
/// process-wide counter, mixed.
pub(crate) fn fresh_producer_id() -> i64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // SplitMix64's finaliser spreads the bits.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 1) as i64
}

impl Producer {
    pub(crate) fn new(log: Log, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let identity = (config.idempotence && config.transactional_id.is_none())
            .then(|| (config.producer_id.unwrap_or_else(fresh_producer_id), 0));
        let rules = BatchRules {
            batch_bytes: config.batch_bytes,
            sticky_partition_bytes: config.sticky_partition_bytes,
        };
        let shared = Arc::new_cyclic(|me: &std::sync::Weak<Shared>| Shared {
            log,
            config,
            identity: Mutex::new(identity),
            txn: Mutex::new(transaction::TxnClient::default()),
            acc: Mutex::new(Accumulator::new(
                rules,
                me.clone() as std::sync::Weak<dyn FlushNow>,
            )),
            wake: Condvar::new(),
            progress: Condvar::new(),
            sequences: Mutex::new(HashMap::new()),
            written: Mutex::new(WrittenQueue::default()),
            written_wake: Condvar::new(),
        });
        let spawn = |name: &str, body: fn(&Shared)| {
            let mine = shared.clone();
            // Counted in before it starts, so an async close never sees
            // zero threads while one is yet to run.
            shared.acc.lock().queue.threads += 1;
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let _out = CountOut(&mine);
                    body(&mine)
                })
                .map_err(|e| {
                    let mut acc = shared.acc.lock();
                    acc.queue.threads = acc.queue.threads.saturating_sub(1);
                    // Not a storage call: named by hand, by the thread's name.
                    Error::io("spawn producer thread", name, e)
                })
        };
        let handle = Handle {
            shared: shared.clone(),
            threads: Mutex::new(Vec::new()),
        };
        // Should the second spawn fail, dropping `handle` stops the first.
        for (name, body) in [
            ("samsa-producer", Shared::run as fn(&Shared)),
            ("samsa-producer-sync", Shared::run_syncer),
        ] {
            let t = spawn(name, body)?;
            handle.threads.lock().push(t);
        }
        Ok(Producer {
            handle: Arc::new(handle),
        })
    }

    /// The producer id stamped on this producer's batches, if idempotent.
    pub fn producer_id(&self) -> Option<i64> {
        self.handle.shared.identity.lock().map(|(id, _)| id)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts a producer thread out when it ends (even by a panic), waking the
/// tasks of async closes: its last step, so a join after it returns at
/// once.
struct CountOut<'a>(&'a Shared);

impl Drop for CountOut<'_> {
    fn drop(&mut self) {
        let mut acc = self.0.acc.lock();
        acc.queue.threads = acc.queue.threads.saturating_sub(1);
        let tasks = acc.queue.tasks.take();
        drop(acc);
        tasks.wake();
    }
}

impl Shared {
    /// The appender thread: takes ready and lingered-out batches and
    /// writes them, in order, handing each to the syncer, until the
    /// producer closes and nothing is left. Batches of a partition a
    /// waiter is writing wait for its turn to end.
    fn run(&self) {
        let mut acc = self.acc.lock();
        loop {
            let linger = self.config.linger;
            // Once closed, nothing lingers. Checked here, not only after a
            // wait: a close whose wake-up came while this thread was busy
            // writing (or not started yet) must not wait out a linger.
            let deadline = if acc.queue.closed {
                None
            } else {
                Instant::now().checked_sub(linger)
            };
            let earliest = acc.close_expired(deadline);
            if !acc.queue.has_work() {
                if acc.queue.closed && earliest.is_none() && acc.queue.is_drained() {
                    break;
                }
                match earliest {
                    Some(t) => {
                        let _ = self.wake.wait_until(&mut acc, t + linger);
                    }
                    // Nothing open: a send, a flush or a close wakes us, or
                    // (once the producer is closed, or with batches queued
                    // behind a waiter's) the end of a waiter's turn.
                    None => {
                        acc.queue.appender_idle = true;
                        self.wake.wait(&mut acc);
                        acc.queue.appender_idle = false;
                    }
                }
                continue;
            }
            let batches = acc.queue.take_for_appender();
            drop(acc);
            for b in batches {
                self.write_for_appender(b);
            }
            acc = self.acc.lock();
            acc.queue.appending.clear();
        }
        drop(acc);
        self.written.lock().appender_done = true;
        self.written_wake.notify_one();
    }
}

impl Log {
    /// A producer with the default configuration.
    pub fn producer(&self) -> Producer {
        self.producer_with(ProducerConfig::default())
            .expect("the default producer configuration is valid")
    }

    /// A producer with `config`.
    pub fn producer_with(&self, config: ProducerConfig) -> Result<Producer> {
        Producer::new(self.clone(), config)
    }
}
