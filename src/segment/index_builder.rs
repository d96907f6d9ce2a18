//! Builds a segment's sparse indexes as batches are appended or scanned.

use crate::batch::BatchHeader;
use crate::index::{Entry, IndexBytes, OffsetEntry, TimeEntry, TimeIndex};

/// A segment's two indexes plus what is needed to extend them.
#[derive(Debug, Clone)]
pub(crate) struct Indexes {
    pub offset: IndexBytes,
    pub time: IndexBytes,
    /// Log bytes appended since the last offset index entry.
    bytes_since_entry: u64,
    /// Largest timestamp so far, and the relative offset of the last record
    /// of the batch that first reached it.
    max_timestamp: Option<(i64, u32)>,
}

impl Indexes {
    /// Empty indexes for an empty segment.
    pub fn new() -> Self {
        Indexes {
            offset: IndexBytes::default(),
            time: IndexBytes::default(),
            bytes_since_entry: 0,
            max_timestamp: None,
        }
    }

    /// Indexes loaded from files; new entries may follow (a clean reopen of
    /// the active segment). `tail_bytes` are the log bytes after the last
    /// offset entry's batch start, an upper bound that only makes the next
    /// entry come a little early.
    pub fn loaded(offset: IndexBytes, time: IndexBytes, tail_bytes: u64) -> Self {
        let max_timestamp = TimeIndex::last(&time).map(|e| (e.timestamp, e.relative_offset));
        Indexes {
            offset,
            time,
            bytes_since_entry: tail_bytes,
            max_timestamp,
        }
    }

    /// Records a batch written at `position` of a segment based at `base`.
    /// Like Kafka, an entry is added once more than `interval` bytes were
    /// appended since the last one, pointing at this batch.
    pub fn on_batch(&mut self, h: &BatchHeader, position: u32, base: u64, interval: u32) {
        let last_rel = (h.last_offset() - base) as u32;
        if self.max_timestamp.is_none_or(|(t, _)| h.max_timestamp > t) {
            self.max_timestamp = Some((h.max_timestamp, last_rel));
        }
        if self.bytes_since_entry > u64::from(interval) {
            self.offset.push(OffsetEntry {
                relative_offset: (h.base_offset - base) as u32,
                position,
            });
            self.push_time_entry();
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += h.total_size() as u64;
    }

    /// Adds a time entry for the current maximum if it grew since the last.
    fn push_time_entry(&mut self) {
        if let Some((timestamp, relative_offset)) = self.max_timestamp {
            if TimeIndex::last(&self.time).is_none_or(|e| timestamp > e.timestamp) {
                self.time.push(TimeEntry {
                    timestamp,
                    relative_offset,
                });
            }
        }
    }

    /// Called when the segment is sealed: the last time entry then carries
    /// the segment's largest timestamp, as retention and time lookups expect.
    pub fn finish(&mut self) {
        self.push_time_entry();
    }

    /// The largest timestamp appended so far.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.max_timestamp.map(|(t, _)| t)
    }

    /// Whether either index has no room for another entry within
    /// `max_bytes`: the segment must roll.
    pub fn is_full(&self, max_bytes: usize) -> bool {
        self.offset.len() + OffsetEntry::SIZE > max_bytes
            || self.time.len() + TimeEntry::SIZE > max_bytes
    }
}
