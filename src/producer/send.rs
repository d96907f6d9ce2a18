//! Sending: placing a record in its partition's open batch, blocking
//! ([`Producer::send`]) or as a future ([`Producer::send_async`]) while
//! the buffer is full. Both go through one placement, `try_place`, which
//! either places the record or says there is no room.

use super::accumulator::Accumulator;
use super::wakers::WakerKey;
use super::{Acks, Delivery, Producer, RecordMetadata, Shared};
use crate::error::{Error, Result};
use crate::record::Record;
use futures_core::future::FusedFuture;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

impl Producer {
    /// Queues `record` for `topic` and returns at once with a handle to
    /// wait on. The partition is the record's own, if set, else the
    /// partitioner's choice, else Kafka's sticky choice. Blocks only while
    /// the buffer is full, for up to `max_block` (see
    /// [`Producer::send_async`] for a send that never blocks its thread).
    /// Internal topics (`__consumer_offsets`) are refused with
    /// [`Error::InvalidTopicName`]; once the producer or its log is
    /// closed, every send is [`Error::Closed`], and so is one still
    /// waiting for space when it closes. A topic deleted since the last
    /// send is looked up again by name: [`Error::UnknownTopic`] while none
    /// has it.
    pub fn send(&self, topic: &str, record: Record<'_>) -> Result<Delivery> {
        let s = &*self.handle.shared;
        let bytes = approximate_size(&record);
        // The clock is read before the lock (it is a fifth of a send's
        // cost), and only for a record that has no timestamp of its own.
        let now = record.timestamp.unwrap_or_else(|| s.log.now_ms());
        let mut acc = s.acc.lock();
        let mut blocked_since = None;
        loop {
            if let Some(delivery) = s.try_place(&mut acc, topic, &record, now, bytes)? {
                return Ok(delivery);
            }
            let start = *blocked_since.get_or_insert_with(Instant::now);
            let left = s.config.max_block.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(Error::BufferFull {
                    buffer_bytes: s.config.buffer_bytes,
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            s.progress.wait_for(&mut acc, left);
        }
    }

    /// [`Producer::send`] as a future that never blocks its thread: while
    /// the buffer is full, the task waits (its waker is left with the
    /// producer, and woken when batches complete and free space) instead
    /// of the thread. Resolves to the same `Result<Delivery>`, so
    /// `producer.send_async(topic, record).await?.await?` is the
    /// record's [`RecordMetadata`].
    ///
    /// Nothing happens before the first poll. The record is placed by the
    /// poll that resolves the future, in one step: a `SendFuture` dropped
    /// before it resolved sent nothing, and one that resolved sent the
    /// record once. A record without a timestamp of its own is stamped
    /// then, when it enters the buffer.
    ///
    /// There is no [`max_block`](super::ProducerConfig::max_block) here (a
    /// timer needs a runtime, and the producer has none): wrap the future
    /// in your runtime's timeout (`tokio::time::timeout`, ...) to bound
    /// the wait; a send cut short that way sent nothing.
    ///
    /// ```
    /// use samsa_log::topic::TopicConfig;
    /// use samsa_log::{Log, Record};
    ///
    /// # fn main() -> samsa_log::Result<()> {
    /// let log = Log::in_memory();
    /// log.create_topic("orders", TopicConfig::default())?;
    /// let producer = log.producer();
    /// futures::executor::block_on(async {
    ///     // Placed, then delivered: two awaits.
    ///     let md = producer.send_async("orders", Record::new(b"book")).await?.await?;
    ///     assert_eq!((&*md.topic, md.offset), ("orders", 0));
    ///     // Fire and forget: the delivery is dropped, a flush reports errors.
    ///     let _ = producer.send_async("orders", Record::new(b"lamp")).await?;
    ///     producer.flush_async().await
    /// })
    /// # }
    /// ```
    #[inline]
    pub fn send_async<'p, 'r>(&'p self, topic: &'p str, record: Record<'r>) -> SendFuture<'p, 'r> {
        SendFuture {
            producer: self,
            topic,
            record: Some(record),
            key: None,
        }
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
}

/// The future of [`Producer::send_async`]: a [`Delivery`] once the record
/// is in the producer's buffer, or the error that refused it.
///
/// Dropped before it resolved, it sent nothing. Polled again after it
/// resolved, it stays pending ([`FusedFuture::is_terminated`] says so):
/// the record is sent once.
#[must_use = "futures do nothing unless awaited: a SendFuture never polled sent nothing"]
pub struct SendFuture<'p, 'r> {
    producer: &'p Producer,
    topic: &'p str,
    /// `None` once the future resolved.
    record: Option<Record<'r>>,
    /// Where the task's waker is, while it waits for space.
    key: Option<WakerKey>,
}

impl fmt::Debug for SendFuture<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("topic", &self.topic)
            .field("record", &self.record)
            .field("waiting_for_space", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl Future for SendFuture<'_, '_> {
    type Output = Result<Delivery>;

    // Inlined into the caller's async code (with `send_async` and `drop`),
    // the future is built, polled and dropped in place rather than copied
    // in and out of calls: an async send then costs what `send` does
    // (1.10x-1.14x without, 0.97x-1.00x with, interleaved A/B).
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Delivery>> {
        let this = self.get_mut();
        let Some(record) = this.record.as_ref() else {
            return Poll::Pending;
        };
        let s = &*this.producer.handle.shared;
        // Worked out at each poll rather than kept: every await moves the
        // future, so it is kept small (with these two kept, and a wider
        // waker key, 160 bytes instead of 136, an async send measured
        // 1.3x the blocking one's cost; without, at par).
        let bytes = approximate_size(record);
        let now = record.timestamp.unwrap_or_else(|| s.log.now_ms());
        let mut acc = s.acc.lock();
        let out = match s.try_place(&mut acc, this.topic, record, now, bytes) {
            Ok(Some(delivery)) => Ok(delivery),
            Err(e) => Err(e),
            Ok(None) => {
                // Under the lock that the space is freed under: no wake-up
                // falls between the look and the registration.
                acc.queue.tasks.register(&mut this.key, cx.waker());
                return Poll::Pending;
            }
        };
        acc.queue.tasks.deregister(&mut this.key);
        drop(acc);
        this.record = None;
        Poll::Ready(out)
    }
}

impl FusedFuture for SendFuture<'_, '_> {
    fn is_terminated(&self) -> bool {
        self.record.is_none()
    }
}

impl Drop for SendFuture<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        if self.key.is_some() {
            let mut acc = self.producer.handle.shared.acc.lock();
            acc.queue.tasks.deregister(&mut self.key);
        }
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
    /// Places `record` (of `bytes` against the buffer, stamped `now`
    /// unless it has a timestamp) in its partition's open batch and
    /// returns its delivery; or, when `bytes` more would overflow the
    /// buffer, closes every open batch and wakes the appender (whatever
    /// is buffered must move on for space to free up) and returns `None`:
    /// the caller waits for progress and tries again. Refuses the record
    /// with an error once the producer or the log is closed, or when its
    /// topic, key or partition is wrong.
    pub(super) fn try_place(
        &self,
        acc: &mut Accumulator,
        topic: &str,
        record: &Record<'_>,
        now: i64,
        bytes: usize,
    ) -> Result<Option<Delivery>> {
        // A closed producer, or a closed log: nothing sent now could land.
        if acc.queue.closed || self.log.is_closed() {
            return Err(Error::Closed {
                path: self.log.dir().to_path_buf(),
            });
        }
        self.check_send()?;
        let t = acc.topic(topic, || {
            crate::registry::refuse_internal(topic)?;
            self.log.topic(topic)
        })?;
        // One record larger than the whole buffer may still go alone.
        if acc.queue.buffered > 0 && acc.queue.buffered + bytes > self.config.buffer_bytes {
            acc.close_expired(None);
            self.wake.notify_one();
            return Ok(None);
        }
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
            None => match self.config.partitioner.partition(
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
        let placed = e.push(&mut acc.queue, rules, &acc.flusher, p, record, now, bytes)?;
        if sticky {
            e.stuck(rules, bytes);
        }
        if e.is_full(rules, p) {
            e.close(&mut acc.queue, p);
            self.wake.notify_one();
        } else if placed.index == 0 && (acc.queue.appender_idle || !acc.queue.ready.is_empty()) {
            // A new batch: the appender must learn its linger deadline (with
            // zero linger it takes the batch as soon as it is free, and
            // records sent meanwhile join it, as in Kafka), and take the
            // batch this one follows if `push` just closed it. Parked with
            // the deadline of an older batch and nothing ready, it learns
            // the new deadline then, and no wake-up (a futex call and often
            // a context switch, which an awaited send would pay) is needed.
            self.wake.notify_one();
        }
        Ok(Some(match self.config.acks {
            Acks::None => Delivery::ready(RecordMetadata {
                topic: e.name.clone(),
                partition: p,
                offset: RecordMetadata::NO_OFFSET,
                timestamp: placed.timestamp,
            }),
            Acks::Leader | Acks::All => {
                Delivery::pending(placed.slot, placed.index, placed.timestamp)
            }
        }))
    }
}
