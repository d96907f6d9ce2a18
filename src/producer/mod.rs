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

mod accumulator;
mod config;
mod delivery;
#[cfg(test)]
mod power_loss_tests;
#[cfg(test)]
mod tests;
mod write;

pub use crate::partitioner::{
    kafka_partition_for_key, murmur2, DefaultPartitioner, Partitioner, RandomPartitioner,
    RoundRobinPartitioner,
};
pub use config::{Acks, ProducerConfig};
pub use delivery::{Delivery, DeliveryFuture, RecordMetadata};

use delivery::FlushNow;
use write::WrittenQueue;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::record::Record;
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
/// dropped or [`Producer::close`] is called.
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
    /// Producer id and epoch stamped on batches, with idempotence.
    identity: Option<(i64, i16)>,
    acc: Mutex<Accumulator>,
    /// Wakes the appender: a batch is ready, or the producer is closing.
    wake: Condvar,
    /// Wakes senders waiting for buffer space, and flushes waiting for
    /// batches to complete.
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
fn fresh_producer_id() -> i64 {
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
        let identity = config
            .idempotence
            .then(|| (config.producer_id.unwrap_or_else(fresh_producer_id), 0));
        let rules = BatchRules {
            batch_bytes: config.batch_bytes,
            sticky_partition_bytes: config.sticky_partition_bytes,
        };
        let shared = Arc::new_cyclic(|me: &std::sync::Weak<Shared>| Shared {
            log,
            config,
            identity,
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
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || body(&shared))
                // Not a storage call: named by hand, by the thread's name.
                .map_err(|e| Error::io("spawn producer thread", name, e))
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
        self.handle.shared.identity.map(|(id, _)| id)
    }

    /// Queues `record` for `topic` and returns at once with a handle to
    /// wait on. The partition is the record's own, if set, else the
    /// partitioner's choice, else Kafka's sticky choice. Blocks only while
    /// the buffer is full, for up to `max_block`. Internal topics
    /// (`__consumer_offsets`) are refused with [`Error::InvalidTopicName`];
    /// once the producer or its log is closed, every send is
    /// [`Error::Closed`]. A topic deleted since the last send is looked up
    /// again by name: [`Error::UnknownTopic`] while none has it.
    pub fn send(&self, topic: &str, record: Record<'_>) -> Result<Delivery> {
        let s = &*self.handle.shared;
        let bytes = approximate_size(&record);
        // The clock is read before the lock (it is a fifth of a send's
        // cost), and only for a record that has no timestamp of its own.
        let now = record.timestamp.unwrap_or_else(|| s.log.now_ms());
        let mut acc = s.acc.lock();
        // A closed producer, or a closed log: nothing sent now could land.
        if acc.queue.closed || s.log.is_closed() {
            return Err(Error::Closed {
                path: s.log.dir().to_path_buf(),
            });
        }
        let t = acc.topic(topic, || {
            crate::registry::refuse_internal(topic)?;
            s.log.topic(topic)
        })?;
        s.wait_for_space(&mut acc, bytes)?;
        let acc = &mut *acc;
        let rules = acc.rules;
        let e = &mut acc.topics[t];
        if e.keys_required && record.key.is_none() {
            return Err(Error::KeyRequired {
                topic: topic.to_owned(),
            });
        }
        let partitions = e.partition_count();
        let (p, sticky) = match record.partition {
            Some(p) => (p, false),
            None => match s.config.partitioner.partition(
                record.key.as_deref(),
                record.value.as_deref(),
                partitions,
            ) {
                Some(p) => (p, false),
                None => (e.sticky(partitions), true),
            },
        };
        if p >= partitions {
            return Err(Error::UnknownPartition {
                topic: topic.to_owned(),
                partition: p,
                partitions,
            });
        }
        let placed = e.push(&mut acc.queue, rules, &acc.flusher, p, &record, now, bytes)?;
        if sticky {
            e.stuck(rules, bytes);
        }
        if e.is_full(rules, p) {
            e.close(&mut acc.queue, p);
            s.wake.notify_one();
        } else if placed.index == 0 && (acc.queue.appender_idle || !acc.queue.ready.is_empty()) {
            // A new batch: the appender must learn its linger deadline (with
            // zero linger it takes the batch as soon as it is free, and
            // records sent meanwhile join it, as in Kafka), and take the
            // batch this one follows if `push` just closed it. Parked with
            // the deadline of an older batch and nothing ready, it learns
            // the new deadline then, and no wake-up (a futex call and often
            // a context switch, which an awaited send would pay) is needed.
            s.wake.notify_one();
        }
        Ok(match s.config.acks {
            Acks::None => Delivery::ready(RecordMetadata {
                topic: e.name.clone(),
                partition: p,
                offset: RecordMetadata::NO_OFFSET,
                timestamp: placed.timestamp,
            }),
            Acks::Leader | Acks::All => {
                Delivery::pending(placed.slot, placed.index, placed.timestamp)
            }
        })
    }

    /// Sends several records to one topic; the handles come back in order.
    /// Stops at the first record refused.
    pub fn send_batch<'r>(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record<'r>>,
    ) -> Result<Vec<Delivery>> {
        records.into_iter().map(|r| self.send(topic, r)).collect()
    }

    /// Appends everything sent so far and waits until it is delivered (per
    /// the producer's [`Acks`]; the partitions' sync policies apply). Returns
    /// the first error any batch met since the last flush.
    pub fn flush(&self) -> Result<()> {
        let s = &*self.handle.shared;
        let mut acc = s.acc.lock();
        acc.close_expired(None);
        let target = acc.queue.enqueued;
        s.wake.notify_one();
        while acc.queue.completed < target {
            s.progress.wait(&mut acc);
        }
        match acc.queue.first_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Flushes, then stops the appender thread. Every clone is closed:
    /// later sends get [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        let flushed = self.flush();
        self.handle.stop();
        flushed
    }
}

impl Handle {
    fn stop(&self) {
        self.shared.acc.lock().queue.closed = true;
        self.shared.wake.notify_one();
        // The appender stops first; the syncer after the last written batch.
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bytes a record holds against the buffer: its payload and a bound on its
/// framing.
fn approximate_size(r: &Record<'_>) -> usize {
    let headers: usize = r
        .headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 10)
        .sum();
    r.key.as_deref().map_or(0, <[u8]>::len)
        + r.value.as_deref().map_or(0, <[u8]>::len)
        + headers
        + 24
}

impl Shared {
    /// Blocks while `bytes` more would overflow the buffer, up to
    /// `max_block`.
    fn wait_for_space(
        &self,
        acc: &mut parking_lot::MutexGuard<'_, Accumulator>,
        bytes: usize,
    ) -> Result<()> {
        // One record larger than the whole buffer may still go alone.
        if acc.queue.buffered == 0 || acc.queue.buffered + bytes <= self.config.buffer_bytes {
            return Ok(());
        }
        let start = Instant::now();
        while acc.queue.buffered > 0 && acc.queue.buffered + bytes > self.config.buffer_bytes {
            // Whatever is buffered must move on for space to free up.
            acc.close_expired(None);
            self.wake.notify_one();
            let left = self.config.max_block.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(Error::BufferFull {
                    buffer_bytes: self.config.buffer_bytes,
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            self.progress.wait_for(acc, left);
        }
        Ok(())
    }

    /// The appender thread: takes ready and lingered-out batches and
    /// writes them, in order, handing each to the syncer, until the
    /// producer closes and nothing is left. Batches of a partition a
    /// waiter is writing wait for its turn to end.
    fn run(&self) {
        let mut acc = self.acc.lock();
        loop {
            let linger = self.config.linger;
            let earliest = acc.close_expired(Instant::now().checked_sub(linger));
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
                if acc.queue.closed {
                    acc.close_expired(None);
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
