//! The producer's buffer: one open batch per partition, records encoded
//! into it as they are sent, closed batches queued for the appender.

use super::delivery::BatchSlot;
use crate::batch::{BatchBuilder, EncodedBatch, ProducerFields};
use crate::error::{Error, Result};
use crate::partition::{Partition, TimestampType};
use crate::topic::Topic;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
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

/// A batch ready to append.
pub(crate) struct ClosedBatch {
    pub batch: EncodedBatch,
    pub slot: Arc<BatchSlot>,
    pub partition: Partition,
    pub bytes: usize,
    pub log_append_time: bool,
}

/// What the producer knows of one topic.
struct TopicEntry {
    topic: Topic,
    name: Arc<str>,
    partitions: Vec<Partition>,
    open: Vec<Option<OpenBatch>>,
    /// The next sequence number of each partition (idempotence).
    next_sequence: Vec<i32>,
    /// Where keyless records without a partitioner's choice go for now.
    sticky: Option<u32>,
    log_append_time: bool,
    max_record_bytes: usize,
}

impl TopicEntry {
    fn new(topic: Topic) -> Self {
        let config = topic.config();
        let mut e = TopicEntry {
            name: Arc::from(topic.name()),
            topic,
            partitions: Vec::new(),
            open: Vec::new(),
            next_sequence: Vec::new(),
            sticky: None,
            log_append_time: config.timestamp_type == TimestampType::LogAppendTime,
            max_record_bytes: config.max_record_bytes as usize,
        };
        e.refresh();
        e
    }

    /// Picks up partitions added since the topic was first seen.
    fn refresh(&mut self) {
        self.partitions = self.topic.partitions();
        let n = self.partitions.len();
        self.open.resize_with(n, || None);
        self.next_sequence.resize(n, 0);
    }
}

/// Everything the producer buffers, behind its mutex.
pub(crate) struct Accumulator {
    /// Close a batch before it grows past this.
    batch_bytes: usize,
    /// Producer id and epoch for idempotent batches.
    identity: Option<(i64, i16)>,
    topics: HashMap<String, TopicEntry>,
    pub ready: VecDeque<ClosedBatch>,
    /// Bytes buffered in open, ready and appending batches.
    pub buffered: usize,
    /// Batches handed to the appender so far, and how many it finished.
    pub enqueued: u64,
    pub completed: u64,
    /// The first error since the last flush.
    pub first_error: Option<Error>,
    pub closed: bool,
    sticky_turn: u32,
}

/// Where a send went in the buffer.
pub(crate) struct Placed {
    pub slot: Arc<BatchSlot>,
    pub index: u32,
    pub timestamp: i64,
    pub topic: Arc<str>,
    pub partition: u32,
}

impl Accumulator {
    pub fn new(batch_bytes: usize, identity: Option<(i64, i16)>) -> Self {
        Accumulator {
            batch_bytes,
            identity,
            topics: HashMap::new(),
            ready: VecDeque::new(),
            buffered: 0,
            enqueued: 0,
            completed: 0,
            first_error: None,
            closed: false,
            sticky_turn: 0,
        }
    }

    /// The topic entry for `name`, loading it with `load` the first time.
    pub fn entry(&mut self, name: &str, load: impl FnOnce() -> Result<Topic>) -> Result<()> {
        if !self.topics.contains_key(name) {
            let topic = load()?;
            self.topics.insert(name.to_owned(), TopicEntry::new(topic));
        }
        Ok(())
    }

    /// The partition count of a loaded topic, refreshed if `wanted` is past
    /// what the producer saw so far.
    pub fn partition_count(&mut self, name: &str, wanted: Option<u32>) -> u32 {
        let e = self.topics.get_mut(name).expect("entry() was called first");
        if wanted.is_some_and(|p| p as usize >= e.partitions.len()) || e.partitions.is_empty() {
            e.refresh();
        }
        e.partitions.len() as u32
    }

    /// Kafka's sticky choice for a record no partitioner placed: the topic's
    /// current sticky partition, or a new one taken in turn.
    pub fn sticky(&mut self, name: &str, partitions: u32) -> u32 {
        let turn = &mut self.sticky_turn;
        let e = self.topics.get_mut(name).expect("entry() was called first");
        *e.sticky.get_or_insert_with(|| {
            *turn = turn.wrapping_add(1);
            *turn % partitions
        })
    }

    /// Encodes `record` into partition `p`'s open batch, closing that batch
    /// first if the record would take it past `batch_bytes`.
    pub fn push(
        &mut self,
        name: &str,
        p: u32,
        record: &crate::record::Record<'_>,
        now: i64,
        bytes: usize,
    ) -> Result<Placed> {
        let batch_bytes = self.batch_bytes;
        let e = self.topics.get_mut(name).expect("entry() was called first");
        let i = p as usize;
        let full = e.open[i]
            .as_ref()
            .is_some_and(|b| b.count > 0 && b.bytes + bytes > batch_bytes);
        if full {
            self.close(name, p);
        }
        let e = self.topics.get_mut(name).expect("entry() was called first");
        let batch = e.open[i].get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(e.max_record_bytes, bytes.max(batch_bytes.min(1 << 20))),
            slot: BatchSlot::new(e.name.clone(), p),
            created: Instant::now(),
            count: 0,
            bytes: 0,
        });
        batch.builder.push(record, now)?;
        let index = batch.count;
        batch.count += 1;
        batch.bytes += bytes;
        self.buffered += bytes;
        Ok(Placed {
            slot: batch.slot.clone(),
            index,
            timestamp: record.timestamp.unwrap_or(now),
            topic: e.name.clone(),
            partition: p,
        })
    }

    /// Whether partition `p`'s open batch has reached `batch_bytes`.
    pub fn is_full(&self, name: &str, p: u32) -> bool {
        self.topics
            .get(name)
            .and_then(|e| e.open[p as usize].as_ref())
            .is_some_and(|b| b.bytes >= self.batch_bytes)
    }

    /// Moves partition `p`'s open batch, if any, to the ready queue, giving
    /// it its sequence numbers; the topic's sticky partition moves on.
    pub fn close(&mut self, name: &str, p: u32) {
        let producer = self.identity;
        let Some(e) = self.topics.get_mut(name) else {
            return;
        };
        let i = p as usize;
        let Some(open) = e.open[i].take() else {
            return;
        };
        if open.count == 0 {
            // Its only record was refused (too large): nothing to append.
            return;
        }
        let fields = match producer {
            Some((producer_id, producer_epoch)) => {
                let base_sequence = e.next_sequence[i];
                // Sequences wrap from i32::MAX back to 0, as in Kafka.
                e.next_sequence[i] =
                    ((i64::from(base_sequence) + i64::from(open.count)) % (1i64 << 31)) as i32;
                ProducerFields {
                    producer_id,
                    producer_epoch,
                    base_sequence,
                }
            }
            None => ProducerFields::NONE,
        };
        if e.sticky == Some(p) {
            e.sticky = None;
        }
        self.ready.push_back(ClosedBatch {
            batch: open.builder.finish(fields),
            slot: open.slot,
            partition: e.partitions[i].clone(),
            bytes: open.bytes,
            log_append_time: e.log_append_time,
        });
        self.enqueued += 1;
    }

    /// Closes every open batch created at or before `deadline` (all of
    /// them with `None`), and returns the earliest creation time of those
    /// left open.
    pub fn close_expired(&mut self, deadline: Option<Instant>) -> Option<Instant> {
        let mut due = Vec::new();
        let mut earliest: Option<Instant> = None;
        for (name, e) in &self.topics {
            for (p, b) in e.open.iter().enumerate() {
                if let Some(b) = b {
                    if deadline.is_none_or(|d| b.created <= d) {
                        due.push((name.clone(), p as u32));
                    } else {
                        earliest = Some(earliest.map_or(b.created, |t| t.min(b.created)));
                    }
                }
            }
        }
        for (name, p) in due {
            self.close(&name, p);
        }
        earliest
    }
}
