//! Delivery handles: how a `send` learns where its record landed.
//!
//! All records of a batch share one completion slot, so a send allocates
//! nothing of its own: its handle is the batch's slot and its index in it.

use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

/// Appends a batch at once, as its records' waiter asks (see
/// [`Delivery::wait`]): implemented by the producer.
pub(crate) trait FlushNow: Send + Sync {
    /// Closes the batch of `slot`, if it is still open, instead of letting
    /// it linger; then, if the appender has not taken it and it is its
    /// partition's next batch to write, writes (and, under `Acks::All`,
    /// syncs) it in the calling thread; otherwise the appender takes it
    /// now.
    fn flush_now(&self, slot: &Arc<BatchSlot>);

    /// Closes the batch of `slot`, if it is still open, and wakes the
    /// appender for it: what an awaited delivery asks, which must not
    /// write or sync in the calling (executor) thread.
    fn hand_over(&self, slot: &Arc<BatchSlot>);
}

/// Where a record landed: Kafka's `RecordMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset; [`RecordMetadata::NO_OFFSET`] under
    /// [`Acks::None`](crate::producer::Acks::None), which does not wait to learn it
    /// (Kafka's -1: see [`Self::has_offset`]).
    pub offset: u64,
    /// The record's timestamp: its create time, or the log-append time on
    /// topics configured for it.
    pub timestamp: i64,
}

impl RecordMetadata {
    /// The offset of a record whose delivery did not learn it (under
    /// [`Acks::None`](crate::producer::Acks::None)), as Kafka's -1.
    pub const NO_OFFSET: u64 = u64::MAX;

    /// Whether the delivery learned the record's offset (Kafka's
    /// `hasOffset`): always, but under [`Acks::None`](crate::producer::Acks::None).
    pub fn has_offset(&self) -> bool {
        self.offset != Self::NO_OFFSET
    }
}

/// How a batch ended.
#[derive(Debug)]
enum Outcome {
    Appended {
        base_offset: u64,
        append_time: Option<i64>,
    },
    Failed(Error),
}

/// The completion slot of one batch, shared by its records' handles.
#[derive(Debug)]
pub(crate) struct BatchSlot {
    pub topic: Arc<str>,
    pub partition: u32,
    outcome: Mutex<Option<Outcome>>,
    done: Condvar,
    /// Tasks awaiting the batch (see [`DeliveryFuture`]); woken,
    /// and cleared, when the outcome is set.
    wakers: Mutex<Vec<Waker>>,
    /// The producer, to ask for the batch at once when someone waits.
    flusher: Weak<dyn FlushNow>,
}

impl fmt::Debug for dyn FlushNow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("producer")
    }
}

impl BatchSlot {
    pub fn new(topic: Arc<str>, partition: u32, flusher: Weak<dyn FlushNow>) -> Arc<Self> {
        Arc::new(BatchSlot {
            topic,
            partition,
            outcome: Mutex::new(None),
            done: Condvar::new(),
            wakers: Mutex::new(Vec::new()),
            flusher,
        })
    }

    /// Records that the batch was appended at `base_offset` (with the
    /// log-append time, on topics that use it).
    pub fn appended(&self, base_offset: u64, append_time: Option<i64>) {
        let mut outcome = self.outcome.lock();
        if outcome.is_none() {
            *outcome = Some(Outcome::Appended {
                base_offset,
                append_time,
            });
            drop(outcome);
            self.done.notify_all();
            self.wake_tasks();
        }
    }

    /// Wakes every task awaiting the batch. Called after the outcome is
    /// set; a task registers its waker under the outcome's lock, having
    /// seen no outcome, so none registers too late to be woken here.
    fn wake_tasks(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for w in wakers {
            w.wake();
        }
    }

    /// Records that the batch failed, unless it was already delivered.
    pub fn failed_if_pending(&self, error: Error) {
        let mut outcome = self.outcome.lock();
        if outcome.is_none() {
            *outcome = Some(Outcome::Failed(error));
            drop(outcome);
            self.done.notify_all();
            self.wake_tasks();
        }
    }
}

/// A pending send, like Kafka's `Future<RecordMetadata>`.
#[derive(Debug)]
#[must_use = "a Delivery tells whether the record was stored; wait() on it or flush() the producer"]
pub struct Delivery {
    state: State,
}

#[derive(Debug)]
enum State {
    Pending {
        slot: Arc<BatchSlot>,
        index: u32,
        timestamp: i64,
        /// Whether a poll (of the `Future`) handed the batch over already.
        handed_over: bool,
    },
    Ready(RecordMetadata),
}

impl Delivery {
    pub(crate) fn pending(slot: Arc<BatchSlot>, index: u32, timestamp: i64) -> Self {
        Delivery {
            state: State::Pending {
                slot,
                index,
                timestamp,
                handed_over: false,
            },
        }
    }

    pub(crate) fn ready(metadata: RecordMetadata) -> Self {
        Delivery {
            state: State::Ready(metadata),
        }
    }

    /// Whether `wait` would return without blocking.
    pub fn is_done(&self) -> bool {
        match &self.state {
            State::Pending { slot, .. } => slot.outcome.lock().is_some(),
            State::Ready(_) => true,
        }
    }

    /// Blocks until the record is delivered (as the producer's
    /// [`Acks`](crate::producer::Acks) define it) and returns where it landed, or the
    /// error that kept it from the log. A batch still open for its linger
    /// is appended at once: someone waiting for it gains nothing from more
    /// records joining it (the linger still batches sends nobody waits on).
    /// When the producer's appender thread has not taken the batch yet,
    /// the waiting thread appends it itself, saving two thread hand-offs.
    pub fn wait(self) -> Result<RecordMetadata> {
        let (slot, index, timestamp) = match self.state {
            State::Ready(md) => return Ok(md),
            State::Pending {
                slot,
                index,
                timestamp,
                ..
            } => (slot, index, timestamp),
        };
        if slot.outcome.lock().is_none() {
            if let Some(producer) = slot.flusher.upgrade() {
                producer.flush_now(&slot);
            }
        }
        let mut outcome = slot.outcome.lock();
        loop {
            match &*outcome {
                None => slot.done.wait(&mut outcome),
                Some(o) => return o.metadata(&slot, index, timestamp),
            }
        }
    }
}

impl Outcome {
    /// What the delivery of record `index` of the batch in `slot` returns.
    fn metadata(&self, slot: &BatchSlot, index: u32, timestamp: i64) -> Result<RecordMetadata> {
        match self {
            Outcome::Failed(e) => Err(e.clone()),
            Outcome::Appended {
                base_offset,
                append_time,
            } => Ok(RecordMetadata {
                topic: slot.topic.clone(),
                partition: slot.partition,
                offset: base_offset + u64::from(index),
                timestamp: append_time.unwrap_or(timestamp),
            }),
        }
    }
}

/// `producer.send(..)?.await`: see [`DeliveryFuture`].
impl IntoFuture for Delivery {
    type Output = Result<RecordMetadata>;
    type IntoFuture = DeliveryFuture;

    fn into_future(self) -> DeliveryFuture {
        DeliveryFuture { delivery: self }
    }
}

/// An awaited [`Delivery`] (`producer.send(..)?.await`, or
/// `delivery.into_future()`). Awaiting never blocks the executor's thread:
/// the first poll hands a batch still open for its linger to the
/// producer's appender thread, which writes it (and, under `Acks::All`,
/// its syncer thread fsyncs it), and the task is woken when the record is
/// delivered. The same result as [`Delivery::wait`], on any executor.
/// Dropping the future does not un-send the record; polling it again
/// after it completed returns the same result.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct DeliveryFuture {
    delivery: Delivery,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (slot, index, timestamp, handed_over) = match &mut self.get_mut().delivery.state {
            State::Ready(md) => return Poll::Ready(Ok(md.clone())),
            State::Pending {
                slot,
                index,
                timestamp,
                handed_over,
            } => (slot, *index, *timestamp, handed_over),
        };
        {
            let outcome = slot.outcome.lock();
            if let Some(o) = &*outcome {
                return Poll::Ready(o.metadata(slot, index, timestamp));
            }
            // Registered under the outcome's lock: see `wake_tasks`.
            let mut wakers = slot.wakers.lock();
            if !wakers.last().is_some_and(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        if !*handed_over {
            *handed_over = true;
            if let Some(producer) = slot.flusher.upgrade() {
                producer.hand_over(slot);
            }
        }
        Poll::Pending
    }
}
