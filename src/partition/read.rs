//! The read side of a partition: by offset, by timestamp, and the list of
//! segments. Readers take a snapshot of the segment list and never wait for
//! the writer or an fsync.

use super::{Partition, TimestampOffset};
use crate::batch::Records;
use crate::error::{Error, Result};
use crate::segment::{Segment, SegmentState};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Partition {
    /// Records from offset `from` on: whole batches up to about `max_bytes`
    /// (at least one batch, however large, so a reader always progresses).
    /// Reading at the high watermark returns no records; outside
    /// `log_start_offset()..=high_watermark()` is
    /// [`Error::OffsetOutOfRange`]. A batch failing its CRC is
    /// [`Error::Corrupt`], never data.
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Records> {
        self.read_until(from, max_bytes, u64::MAX)
    }

    /// [`Self::read`], reading no batch that starts at or past `until`
    /// (the high watermark, or the last stable offset for
    /// `read_committed` readers, which is never above it).
    pub(crate) fn read_until(&self, from: u64, max_bytes: usize, until: u64) -> Result<Records> {
        let records = self.read_batches(from, max_bytes, until)?;
        self.shared
            .meters
            .fetched(records.len(), records.size_bytes());
        Ok(records)
    }

    fn read_batches(&self, from: u64, max_bytes: usize, until: u64) -> Result<Records> {
        let s = &*self.shared;
        if s.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        let start = self.log_start_offset();
        let hw = until.min(self.high_watermark());
        if from < start || from > hw {
            return Err(Error::OffsetOutOfRange {
                requested: from,
                start,
                end: hw,
            });
        }
        let mut at = from;
        while at < hw {
            let Some((seg, next_base)) = self.segment_for(at) else {
                // Retention removed the segment since the start was read.
                return Err(Error::OffsetOutOfRange {
                    requested: from,
                    start: self.log_start_offset(),
                    end: hw,
                });
            };
            match seg.read(at, max_bytes, hw, s.config.max_record_bytes as usize)? {
                Some(r) if !r.is_empty() => return Ok(r),
                // Only whole batches with no record at or after `at` left
                // (gaps, after compaction): go on after them.
                Some(r) => at = r.next_offset().max(at + 1),
                None => match next_base {
                    Some(b) => at = b.max(at + 1),
                    None => break,
                },
            }
        }
        Ok(Records::empty(at))
    }

    /// Calls `f` with every record from the log start to the high
    /// watermark, in order: how samsa reads its state topics at open.
    pub(crate) fn for_each_record(
        &self,
        f: &mut dyn FnMut(&crate::record::RecordRef<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut at = self.log_start_offset();
        while at < self.high_watermark() {
            let records = self.read(at, 1 << 20)?;
            for r in &records {
                f(&r)?;
            }
            at = records.next_offset();
        }
        Ok(())
    }

    /// The segment holding `offset`, and the base offset of the one after
    /// it; `None` if `offset` is below the first segment (deleted).
    fn segment_for(&self, offset: u64) -> Option<(Arc<SegmentState>, Option<u64>)> {
        let segs = self.shared.segments.read();
        let i = segs
            .partition_point(|s| s.base_offset() <= offset)
            .checked_sub(1)?;
        Some((segs[i].clone(), segs.get(i + 1).map(|s| s.base_offset())))
    }

    /// The earliest offset whose record has a timestamp `>= timestamp_ms`,
    /// like Kafka's `offsetsForTimes`; `None` if no record is that recent.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>> {
        self.ensure_readable()?;
        let start = self.log_start_offset();
        let hw = self.high_watermark();
        let segments = self.shared.segments.read().clone();
        for seg in segments.iter().filter(|s| s.next_offset() > start) {
            if seg.max_timestamp()?.is_none_or(|m| m < timestamp_ms) {
                continue;
            }
            let max_record_bytes = self.shared.config.max_record_bytes as usize;
            if let Some((offset, timestamp)) =
                seg.offset_for_timestamp(timestamp_ms, start, max_record_bytes)?
            {
                if offset < hw {
                    return Ok(Some(TimestampOffset { offset, timestamp }));
                }
            }
        }
        Ok(None)
    }

    fn ensure_readable(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        Ok(())
    }

    /// The segments, oldest first, the active one last: read-only handles
    /// (see [`Segment`]) on each as it is now. Opens each sealed segment's
    /// log to learn its size (within the log's budget of open files).
    pub fn segments(&self) -> Result<Vec<Segment>> {
        let segments = self.shared.segments.read().clone();
        let max_record_bytes = self.shared.config.max_record_bytes as usize;
        segments
            .into_iter()
            .map(|s| Segment::listed(s, max_record_bytes))
            .collect()
    }
}
