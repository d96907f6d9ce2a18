//! Moving a partition's log start forward: retention by time and size,
//! which deletes whole sealed segments, oldest first, and
//! `delete_records`, which moves the start to any offset up to the high
//! watermark (Kafka's deleteRecords).
//!
//! Both run beside appends and reads. They take the partition's
//! maintenance lock (one at a time), never the writer's lock: a roll only
//! adds segments at the end, and these only remove them from the front.
//! A reader that took a segment before it was removed keeps reading it
//! (see `Segment::remove_files`); one that asks afterwards below the new
//! start gets `OffsetOutOfRange` with the valid range.

use super::{log_start, Partition};
use crate::error::{Error, Result};
use crate::segment::Segment;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What a retention pass or `delete_records` removed from one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Whole segments deleted.
    pub segments: u64,
    /// Bytes of their log files.
    pub bytes: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
}

impl Partition {
    /// Deletes every record below `before` (Kafka's `deleteRecords`): the
    /// log start offset moves to `before`, reads below it are
    /// [`Error::OffsetOutOfRange`], and segments wholly below it are
    /// deleted (the active segment never is; its records below the start
    /// go with it once it has rolled). The new start is made durable
    /// before anything is deleted, so a restart never serves a deleted
    /// record again. An offset at or below the current start changes
    /// nothing; one past the high watermark is
    /// [`Error::OffsetOutOfRange`].
    pub fn delete_records(&self, before: u64) -> Result<Deleted> {
        self.ensure_open()?;
        let s = &*self.shared;
        let _one_at_a_time = s.maintenance.lock();
        let start = self.log_start_offset();
        let hw = self.high_watermark();
        if before > hw {
            return Err(Error::OffsetOutOfRange {
                requested: before,
                start,
                end: hw,
            });
        }
        if before <= start {
            return Ok(Deleted {
                log_start_offset: start,
                ..Deleted::default()
            });
        }
        log_start::write(&*s.storage, &s.dir, before)?;
        s.log_start.fetch_max(before, Ordering::AcqRel);
        let below = {
            let segs = s.segments.read();
            // Segments whose successor starts at or below `before` hold
            // nothing at or after it.
            segs.windows(2)
                .take_while(|w| w[1].base_offset() <= before)
                .count()
        };
        self.remove_oldest(below)
    }

    /// Applies retention (cleanup policy "delete"): deletes sealed
    /// segments, oldest first, while the newest record of the oldest is
    /// older than `retention_ms` (by the partition's clock), or while the
    /// partition without it still holds at least `retention_bytes`, as
    /// Kafka does. The active segment is never deleted. `None` is no
    /// limit.
    pub fn enforce_retention(
        &self,
        retention_ms: Option<u64>,
        retention_bytes: Option<u64>,
    ) -> Result<Deleted> {
        self.ensure_open()?;
        let s = &*self.shared;
        let _one_at_a_time = s.maintenance.lock();
        let segments = s.segments.read().clone();
        let sealed = &segments[..segments.len() - 1];
        let now = self.now_ms();
        // Sizes only when a size limit asks for them (a stat of every
        // segment's log); a pass by time touches only the old segments it
        // deletes and the first one it keeps (their time indexes).
        let mut total: u64 = 0;
        if retention_bytes.is_some() {
            for seg in &segments {
                total += seg.size_unopened()?;
            }
        }
        let mut count = 0;
        for seg in sealed {
            let size = if retention_bytes.is_some() {
                seg.size_unopened()?
            } else {
                0
            };
            // A segment compaction emptied has no newest record: it holds
            // nothing to keep, so it never stops retention by time.
            let too_old = match retention_ms {
                Some(ms) => seg
                    .max_timestamp()?
                    .is_none_or(|t| t < now.saturating_sub(ms.min(i64::MAX as u64) as i64)),
                None => false,
            };
            let too_big = retention_bytes.is_some_and(|max| total - size >= max);
            if !(too_old || too_big) {
                break;
            }
            total -= size;
            count += 1;
        }
        self.remove_oldest(count)
    }

    /// Removes the `count` oldest segments (all sealed). The new log start
    /// (the first remaining segment's base) is checkpointed first, so a
    /// deletion cut short by an error or a crash never brings its records
    /// back; then the segments leave the list, their files are unlinked
    /// and the directory synced.
    fn remove_oldest(&self, count: usize) -> Result<Deleted> {
        let s = &*self.shared;
        // Only maintenance removes segments, and it holds the lock: the
        // front of the list cannot change until the drain below.
        let new_start = {
            let segs = s.segments.read();
            let count = count.min(segs.len() - 1);
            (count > 0).then(|| segs[count].base_offset())
        };
        let Some(new_start) = new_start else {
            return Ok(Deleted {
                log_start_offset: self.log_start_offset(),
                ..Deleted::default()
            });
        };
        if new_start > self.log_start_offset() {
            log_start::write(&*s.storage, &s.dir, new_start)?;
        }
        let removed: Vec<Arc<Segment>> = {
            let mut segs = s.segments.write();
            s.log_start.fetch_max(new_start, Ordering::AcqRel);
            let n = segs.partition_point(|seg| seg.base_offset() < new_start);
            segs.drain(..n).collect()
        };
        let mut deleted = Deleted {
            log_start_offset: self.log_start_offset(),
            ..Deleted::default()
        };
        for seg in &removed {
            deleted.bytes += seg.size_unopened()?;
            // Out of the list, a segment can gain no new holders: only a
            // reader that took it before can still use it, and only then
            // must its files be opened before they are unlinked.
            seg.remove_files(Arc::strong_count(seg) > 1)?;
            deleted.segments += 1;
        }
        s.storage
            .sync_dir(&s.dir)
            .map_err(|e| Error::io("fsync directory", &s.dir, e))?;
        Ok(deleted)
    }
}
