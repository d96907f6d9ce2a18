//! What `poll` returns: records of several partitions, each borrowing the
//! bytes of its partition's read.

use crate::batch::{Headers, HeadersShown, RecordRef, Records, RecordsIter};
use crate::record::OwnedRecord;
use crate::show::Bytes;
use std::fmt;
use std::iter::Take;
use std::sync::Arc;

/// The records of one partition in a poll.
#[derive(Debug)]
pub(crate) struct PartitionRecords {
    pub topic: Arc<str>,
    pub partition: u32,
    pub records: Records,
    /// How many of `records` belong to this poll (the rest exceed
    /// `max_poll_records`, and the next poll returns them again).
    pub take: usize,
}

/// Records returned by [`Consumer::poll`](crate::Consumer::poll): Kafka's
/// `ConsumerRecords`, in offset order within each partition.
#[derive(Default)]
pub struct ConsumerRecords {
    pub(crate) parts: Vec<PartitionRecords>,
}

impl ConsumerRecords {
    /// How many records the poll returned.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.take).sum()
    }

    /// Whether the poll returned nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records, partition by partition.
    pub fn iter(&self) -> ConsumerRecordsIter<'_> {
        ConsumerRecordsIter {
            parts: self.parts.iter(),
            current: None,
        }
    }

    /// The `(topic, partition)` pairs with records in this poll.
    pub fn partitions(&self) -> Vec<(&str, u32)> {
        self.parts
            .iter()
            .map(|p| (&*p.topic, p.partition))
            .collect()
    }
}

impl fmt::Debug for ConsumerRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerRecords ")?;
        crate::show::list(f, self.iter(), self.len())
    }
}

impl<'a> IntoIterator for &'a ConsumerRecords {
    type Item = ConsumerRecord<'a>;
    type IntoIter = ConsumerRecordsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`ConsumerRecords`]: a named type (not a boxed one), so
/// the per-record step inlines into the caller's loop.
#[derive(Debug)]
pub struct ConsumerRecordsIter<'a> {
    parts: std::slice::Iter<'a, PartitionRecords>,
    current: Option<(&'a PartitionRecords, Take<RecordsIter<'a>>)>,
}

impl<'a> Iterator for ConsumerRecordsIter<'a> {
    type Item = ConsumerRecord<'a>;

    #[inline]
    fn next(&mut self) -> Option<ConsumerRecord<'a>> {
        loop {
            if let Some((part, records)) = &mut self.current {
                if let Some(record) = records.next() {
                    return Some(ConsumerRecord {
                        topic: &part.topic,
                        partition: part.partition,
                        record,
                    });
                }
            }
            let part = self.parts.next()?;
            self.current = Some((part, part.records.iter().take(part.take)));
        }
    }
}

/// One record from a poll: Kafka's `ConsumerRecord`. Key, value and
/// headers borrow the poll's buffers; [`Self::into_owned`] copies them
/// out.
#[derive(Clone, Copy)]
pub struct ConsumerRecord<'a> {
    topic: &'a str,
    partition: u32,
    record: RecordRef<'a>,
}

impl<'a> ConsumerRecord<'a> {
    /// The topic.
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset in the partition.
    pub fn offset(&self) -> u64 {
        self.record.offset()
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.record.key()
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.record.value()
    }

    /// Milliseconds since the epoch (create or log-append time).
    pub fn timestamp(&self) -> i64 {
        self.record.timestamp()
    }

    /// The headers.
    pub fn headers(&self) -> Headers<'a> {
        self.record.headers()
    }

    /// A copy that owns its bytes, to keep past the poll (or send to
    /// another thread or task).
    pub fn into_owned(self) -> OwnedRecord {
        OwnedRecord::copy_of(self.topic, self.partition, &self.record)
    }
}

impl fmt::Debug for ConsumerRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp())
            .field("key", &Bytes(self.key()))
            .field("value", &Bytes(self.value()))
            .field("headers", &HeadersShown(self.headers()))
            .finish()
    }
}
