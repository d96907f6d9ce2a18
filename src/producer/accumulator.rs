//! The producer's buffer: one open batch per partition, records encoded
//! into it as they are sent, closed batches queued for the appender (or
//! taken by a caller waiting on one, see `Accumulator::take_for_waiter`).

use super::delivery::{BatchSlot, FlushNow};
use super::wakers::Wakers;
use crate::batch::{BatchBuilder, BatchHeader};
use crate::error::{Error, Result};
use crate::partition::{Partition, TimestampType};
use crate::record::Record;
use crate::topic::{CleanupPolicy, Topic, TopicId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// A batch still taking records.
struct OpenBatch {
    builder: BatchBuilder,
    slot: Arc<BatchSlot>,
    created: Instant,
    count: u32,
    /// Bytes this batch holds against the buffer limit.
    bytes: usize,
}

/// A batch ready to append. It is finished (header, CRC, producer
/// sequence) by the appender, outside the producer's lock, which also
/// lets a batch that failed for good leave its sequence numbers to the
/// next one.
pub(crate) struct ClosedBatch {
    pub builder: BatchBuilder,
    /// The topic's id: a topic created again under the name is another
    /// one, whose sequences start afresh.
    pub topic_id: TopicId,
    pub count: u32,
    pub slot: Arc<BatchSlot>,
    pub partition: Partition,
    pub bytes: usize,
    pub log_append_time: bool,
}

/// A partition, as the producer's sequences and write turns name it: a
/// topic created again under the name is another one.
pub(crate) type PartitionKey = (TopicId, u32);

impl ClosedBatch {
    pub fn key(&self) -> PartitionKey {
        (self.topic_id, self.slot.partition)
    }
}

/// Batches waiting for the appender, and the buffer's accounting.
///
/// A batch is written by the appender, or by a caller waiting on it
/// (`take_for_waiter`). Either way one partition's batches are written
/// one at a time and in the order they were closed (their producer
/// sequences follow that order): a partition in `appending` or `held` is
/// being written, and its next batch waits its turn in `ready`.
#[derive(Default)]
pub(crate) struct Queue {
    pub ready: VecDeque<ClosedBatch>,
    /// Partitions of the batches the appender took and is writing now.
    pub appending: HashSet<PartitionKey>,
    /// Partitions a waiter is writing a batch of, in its own thread.
    pub held: HashSet<PartitionKey>,
    /// The appender is parked with no deadline, so a new batch must wake
    /// it; otherwise it wakes by the linger deadline of an older batch,
    /// which is no later than the new one's.
    pub appender_idle: bool,
    /// Bytes buffered in open, ready and appending batches.
    pub buffered: usize,
    /// Batches handed to the appender so far, and how many it finished.
    pub enqueued: u64,
    pub completed: u64,
    /// The first error since the last flush.
    pub first_error: Option<Error>,
    pub closed: bool,
    /// Tasks waiting for batches to complete (a flush, a send waiting for
    /// space) or for the threads to stop (a close): woken where blocked
    /// threads are, by `Shared::progress`.
    pub tasks: Wakers,
    /// The producer's threads still running (each counts itself out as
    /// it ends), so that an async close waits for zero instead of
    /// blocking on a join.
    pub threads: usize,
}

/// What became of a batch its waiter asked for (see
/// [`Accumulator::take_for_waiter`]).
pub(crate) enum Take {
    /// The waiter writes it: the partition is held for it.
    Mine(ClosedBatch),
    /// It waits for the appender (`closed_now`: it was open until now, so
    /// the appender has not been told).
    Queued { closed_now: bool },
    /// The appender has it already.
    Taken,
}

impl Queue {
    /// Takes the ready batches for the appender: all of them but those of
    /// partitions a waiter is writing, which stay, in order, for a later
    /// turn. Their partitions are the appender's until `appending` is
    /// cleared.
    pub fn take_for_appender(&mut self) -> Vec<ClosedBatch> {
        let taken: Vec<ClosedBatch> = if self.held.is_empty() {
            self.ready.drain(..).collect()
        } else {
            let held = &self.held;
            let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ready)
                .into_iter()
                .partition(|b| !held.contains(&b.key()));
            self.ready = kept.into();
            taken
        };
        self.appending.extend(taken.iter().map(ClosedBatch::key));
        taken
    }

    /// The first ready batch a caller may write in its own thread now, its
    /// partition held for it: one whose partition the appender is not
    /// writing, no other caller holds, and has no batch ahead of it.
    pub fn take_for_caller(&mut self) -> Option<ClosedBatch> {
        let at = (0..self.ready.len()).find(|&at| self.may_take(at))?;
        let b = self.ready.remove(at)?;
        self.held.insert(b.key());
        Some(b)
    }

    /// Whether the ready batch at `at` may be written now, by anyone but
    /// the appender.
    fn may_take(&self, at: usize) -> bool {
        let key = self.ready[at].key();
        !(self.appending.contains(&key)
            || self.held.contains(&key)
            || self.ready.iter().take(at).any(|b| b.key() == key))
    }

    /// Whether the appender has a ready batch it may take now.
    pub fn has_work(&self) -> bool {
        if self.held.is_empty() {
            !self.ready.is_empty()
        } else {
            self.ready.iter().any(|b| !self.held.contains(&b.key()))
        }
    }

    /// Nothing ready, nothing being written by a waiter: once closed, the
    /// appender may stop.
    pub fn is_drained(&self) -> bool {
        self.ready.is_empty() && self.held.is_empty()
    }
}

/// How batches are cut and stamped.
#[derive(Clone, Copy)]
pub(crate) struct BatchRules {
    /// Close a batch before it grows past this.
    pub batch_bytes: usize,
    /// Move the sticky partition on after this many bytes of keyless
    /// records.
    pub sticky_partition_bytes: usize,
}

/// What the producer knows of one topic.
pub(crate) struct TopicEntry {
    topic: Topic,
    pub name: Arc<str>,
    partitions: Vec<Partition>,
    open: Vec<Option<OpenBatch>>,
    /// Where keyless records without a partitioner's choice go for now.
    sticky: Option<u32>,
    /// Bytes of keyless records sent to `sticky` since it was chosen.
    sticky_bytes: usize,
    sticky_turn: u32,
    log_append_time: bool,
    /// A compacted topic: records without a key are refused.
    pub keys_required: bool,
    max_record_bytes: usize,
    /// The partitions' `segment_bytes`: no batch may be larger, as a
    /// segment holds whole batches.
    segment_bytes: usize,
}

/// How much a record's encoding can exceed the producer's estimate of its
/// size (the estimate counts 24 bytes of framing; the varints can take up
/// to 35).
const ESTIMATE_SLACK: usize = 16;

/// Where a send went in the buffer.
pub(crate) struct Placed {
    pub slot: Arc<BatchSlot>,
    pub index: u32,
    pub timestamp: i64,
}

impl TopicEntry {
    fn new(topic: Topic) -> Self {
        let config = topic.config();
        let mut e = TopicEntry {
            name: Arc::from(topic.name()),
            topic,
            partitions: Vec::new(),
            open: Vec::new(),
            sticky: None,
            sticky_bytes: 0,
            sticky_turn: 0,
            log_append_time: config.timestamp_type == TimestampType::LogAppendTime,
            keys_required: config.cleanup_policy != CleanupPolicy::Delete,
            max_record_bytes: config.max_record_bytes as usize,
            segment_bytes: usize::try_from(config.segment_bytes).unwrap_or(usize::MAX),
        };
        e.refresh();
        e
    }

    /// Picks up partitions added since the topic was first seen.
    fn refresh(&mut self) {
        self.partitions = self.topic.partitions();
        self.open.resize_with(self.partitions.len(), || None);
    }

    /// The partition count, refreshed first if partitions were added.
    pub fn partition_count(&mut self) -> u32 {
        if self.topic.partition_count() as usize != self.partitions.len() {
            self.refresh();
        }
        self.partitions.len() as u32
    }

    /// Kafka's sticky choice for a record no partitioner placed: the
    /// current sticky partition, or the next one in turn.
    pub fn sticky(&mut self, partitions: u32) -> u32 {
        let turn = &mut self.sticky_turn;
        *self.sticky.get_or_insert_with(|| {
            let p = *turn % partitions;
            *turn = turn.wrapping_add(1);
            p
        })
    }

    /// Counts `bytes` of a keyless record sent to the sticky partition;
    /// past `sticky_partition_bytes`, the next keyless record goes to the
    /// next partition in turn (Kafka's KIP-794 moves on after `batch.size`
    /// the same way).
    pub fn stuck(&mut self, rules: BatchRules, bytes: usize) {
        self.sticky_bytes += bytes;
        if self.sticky_bytes >= rules.sticky_partition_bytes {
            self.sticky = None;
            self.sticky_bytes = 0;
        }
    }

    /// Encodes `record` into partition `p`'s open batch, closing that batch
    /// first if the record would take it past the batch size.
    #[expect(
        clippy::too_many_arguments,
        reason = "the split borrows of the accumulator"
    )]
    pub fn push(
        &mut self,
        queue: &mut Queue,
        rules: BatchRules,
        flusher: &Weak<dyn FlushNow>,
        p: u32,
        record: &Record<'_>,
        now: i64,
        bytes: usize,
    ) -> Result<Placed> {
        let i = p as usize;
        let segment_bytes = self.segment_bytes;
        // A batch's records stay within `max_record_bytes` too, so that a
        // compressed batch always decompresses within that bound.
        let max_records = self.max_record_bytes + BatchHeader::SIZE;
        if self.open[i].as_ref().is_some_and(|b| {
            let grown = b.builder.encoded_len() + bytes + ESTIMATE_SLACK;
            b.count > 0
                && (b.bytes + bytes > rules.batch_bytes
                    || grown > segment_bytes
                    || grown > max_records)
        }) {
            self.close(queue, p);
        }
        let batch = self.open[i].get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(
                self.max_record_bytes,
                bytes.max(rules.batch_bytes.min(1 << 20)),
            ),
            slot: BatchSlot::new(self.name.clone(), p, flusher.clone()),
            created: Instant::now(),
            count: 0,
            bytes: 0,
        });
        batch.builder.push(record, now)?;
        let index = batch.count;
        batch.count += 1;
        batch.bytes += bytes;
        queue.buffered += bytes;
        Ok(Placed {
            slot: batch.slot.clone(),
            index,
            timestamp: record.timestamp.unwrap_or(now),
        })
    }

    /// Moves every open batch of a deleted topic to the ready queue, where
    /// its appends fail (its partitions answer `Error::UnknownTopic`).
    fn retire(mut self, queue: &mut Queue) {
        for p in 0..self.open.len() {
            self.close(queue, p as u32);
        }
    }

    /// Whether partition `p`'s open batch has reached the batch size.
    pub fn is_full(&self, rules: BatchRules, p: u32) -> bool {
        self.open[p as usize]
            .as_ref()
            .is_some_and(|b| b.bytes >= rules.batch_bytes)
    }

    /// Moves partition `p`'s open batch, if any, to the ready queue; the
    /// sticky partition moves on.
    pub fn close(&mut self, queue: &mut Queue, p: u32) {
        let i = p as usize;
        let Some(open) = self.open[i].take() else {
            return;
        };
        if open.count == 0 {
            // Its only record was refused (too large): nothing to append.
            return;
        }
        if self.sticky == Some(p) {
            self.sticky = None;
            self.sticky_bytes = 0;
        }
        queue.ready.push_back(ClosedBatch {
            builder: open.builder,
            topic_id: self.topic.id(),
            count: open.count,
            slot: open.slot,
            partition: self.partitions[i].clone(),
            bytes: open.bytes,
            log_append_time: self.log_append_time,
        });
        queue.enqueued += 1;
    }
}

/// Everything the producer buffers, behind its mutex.
pub(crate) struct Accumulator {
    pub rules: BatchRules,
    /// The producer, for the batches' slots (see `FlushNow`).
    pub flusher: Weak<dyn FlushNow>,
    pub topics: Vec<TopicEntry>,
    by_name: HashMap<String, usize>,
    /// The topic of the last send: most sends repeat it.
    last: usize,
    pub queue: Queue,
}

impl Accumulator {
    pub fn new(rules: BatchRules, flusher: Weak<dyn FlushNow>) -> Self {
        Accumulator {
            rules,
            flusher,
            topics: Vec::new(),
            by_name: HashMap::new(),
            last: 0,
            queue: Queue::default(),
        }
    }

    /// The index of the entry of topic `name`, loading it with `load` the
    /// first time, and again once the topic it holds was deleted (a new
    /// topic may have the name now: its batches go there; the deleted
    /// one's open batches are closed, and fail with
    /// `Error::UnknownTopic`).
    pub fn topic(&mut self, name: &str, load: impl FnOnce() -> Result<Topic>) -> Result<usize> {
        if self
            .topics
            .get(self.last)
            .is_some_and(|e| &*e.name == name && !e.topic.is_deleted())
        {
            return Ok(self.last);
        }
        let i = match self.by_name.get(name) {
            Some(&i) if !self.topics[i].topic.is_deleted() => i,
            Some(&i) => {
                let topic = load()?;
                let old = std::mem::replace(&mut self.topics[i], TopicEntry::new(topic));
                old.retire(&mut self.queue);
                i
            }
            None => {
                let topic = load()?;
                self.topics.push(TopicEntry::new(topic));
                self.by_name.insert(name.to_owned(), self.topics.len() - 1);
                self.topics.len() - 1
            }
        };
        self.last = i;
        Ok(i)
    }

    /// Moves the open batch whose slot is `slot` to the ready queue, if it
    /// is still open; whether it was.
    pub fn close_slot(&mut self, slot: &Arc<BatchSlot>) -> bool {
        let Some(&t) = self.by_name.get(&*slot.topic) else {
            return false;
        };
        let e = &mut self.topics[t];
        let p = slot.partition;
        let open = e
            .open
            .get(p as usize)
            .and_then(Option::as_ref)
            .is_some_and(|b| Arc::ptr_eq(&b.slot, slot));
        if open {
            e.close(&mut self.queue, p);
        }
        open
    }

    /// The batch of `slot`, for the caller waiting on it to write in its
    /// own thread (caller-runs, as the leader of a group commit), closed
    /// first if it is still open. Only the oldest batch not yet written of
    /// a partition nobody is writing now is handed out, so that one
    /// partition's batches still land one at a time and in order; any
    /// other is left (or put) in the ready queue for the appender.
    pub fn take_for_waiter(&mut self, slot: &Arc<BatchSlot>) -> Take {
        let closed_now = self.close_slot(slot);
        let q = &mut self.queue;
        // Closed batches are near the back of the queue.
        let Some(at) = q.ready.iter().rposition(|b| Arc::ptr_eq(&b.slot, slot)) else {
            return Take::Taken;
        };
        if !q.may_take(at) {
            return Take::Queued { closed_now };
        }
        q.held.insert(q.ready[at].key());
        Take::Mine(q.ready.remove(at).expect("the batch found above"))
    }

    /// Closes every open batch created at or before `deadline` (all of
    /// them with `None`), and returns the earliest creation time of those
    /// left open.
    pub fn close_expired(&mut self, deadline: Option<Instant>) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let Accumulator { topics, queue, .. } = self;
        for e in topics.iter_mut() {
            for p in 0..e.open.len() {
                let Some(created) = e.open[p].as_ref().map(|b| b.created) else {
                    continue;
                };
                if deadline.is_none_or(|d| created <= d) {
                    e.close(queue, p as u32);
                } else {
                    earliest = Some(earliest.map_or(created, |t| t.min(created)));
                }
            }
        }
        earliest
    }
}
