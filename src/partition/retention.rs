//! Moving a partition's log start forward: retention by time and size,
//! which deletes whole sealed segments, oldest first, and
//! `delete_records`, which moves the start to any offset up to the high
//! watermark (Kafka's deleteRecords).
//!
//! Deleting whole segments writes nothing (the first remaining segment's
//! base is the log start), so both work on a full disk, when freeing
//! space matters most.
//!
//! Neither moves the start past the last stable offset: the records of a
//! transaction still open stay until it ends, so that no commit shows
//! half of one (Kafka bounds its cleaner the same way).
//!
//! Both run beside appends and reads. They take the partition's
//! maintenance lock (one at a time), never the writer's lock: a roll only
//! adds segments at the end, and these only remove them from the front.
//! A reader that took a segment before it was removed keeps reading it
//! (see `SegmentState::remove_files`); one that asks afterwards below the new
//! start gets `OffsetOutOfRange` with the valid range.

use super::{log_start, Partition};
use crate::error::{Error, Result};
use crate::segment::SegmentState;
use crate::storage::CheckedStorage;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What a retention pass or `delete_records` removed from one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletedRecords {
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
    /// go with it once it has rolled). The segments go first, which needs
    /// no free space (it works on a full disk, and frees some); then, if
    /// `before` lies inside a segment, the new start is checkpointed
    /// (`log-start-offset`). The start is durable when this returns, so a
    /// restart never serves a deleted record again; if the checkpoint
    /// cannot be written, the error says so and the start stays at the
    /// first remaining segment. An offset at or below the current start
    /// changes nothing; one past the high watermark is
    /// [`Error::OffsetOutOfRange`], and so is one past the [last stable
    /// offset](Self::last_stable_offset) (`end` is then the LSO): a
    /// transaction still open is never cut.
    pub fn delete_records(&self, before: u64) -> Result<DeletedRecords> {
        self.ensure_open()?;
        let s = &*self.shared;
        let _one_at_a_time = s.maintenance.lock();
        let start = self.log_start_offset();
        let end = self.last_stable_offset();
        if before > end {
            return Err(Error::OffsetOutOfRange {
                requested: before,
                start,
                end,
            });
        }
        if before <= start {
            return Ok(DeletedRecords {
                log_start_offset: start,
                ..DeletedRecords::default()
            });
        }
        let below = {
            let segs = s.segments.read();
            // Segments whose successor starts at or below `before` hold
            // nothing at or after it.
            segs.windows(2)
                .take_while(|w| w[1].base_offset() <= before)
                .count()
        };
        // Whole segments first: that needs no free space, and frees some
        // for the checkpoint below on a full disk.
        let mut deleted = self.remove_oldest(below)?;
        if before > self.log_start_offset() {
            // Inside a segment: only the checkpoint remembers the start.
            log_start::write(&*s.files.storage, &s.dir, before)?;
            s.log_start.fetch_max(before, Ordering::AcqRel);
        }
        deleted.log_start_offset = self.log_start_offset();
        Ok(deleted)
    }

    /// Applies retention (cleanup policy "delete"): deletes sealed
    /// segments, oldest first, while the newest record of the oldest is
    /// older than `retention_ms` (by the partition's clock), or while the
    /// partition without it still holds at least `retention_bytes`, as
    /// Kafka does. The active segment is never deleted, nor one holding a
    /// record at or past the last stable offset. `None` is no limit.
    pub fn enforce_retention(
        &self,
        retention_ms: Option<u64>,
        retention_bytes: Option<u64>,
    ) -> Result<DeletedRecords> {
        self.ensure_open()?;
        let s = &*self.shared;
        let _one_at_a_time = s.maintenance.lock();
        let segments = s.segments.read().clone();
        let sealed = &segments[..segments.len() - 1];
        let now = self.now_ms();
        let stable = self.last_stable_offset();
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
            if !(too_old || too_big) || seg.next_offset() > stable {
                break;
            }
            total -= size;
            count += 1;
        }
        self.remove_oldest(count)
    }

    /// Removes the `count` oldest segments (all sealed): out of the list
    /// (the log start moves to the first remaining base), then their files
    /// unlinked, oldest first, and the directory synced. It writes nothing,
    /// so it works on a full disk. A crash keeps a prefix of the unlinks
    /// (a journaled file system commits directory changes in order, as
    /// the simulated disk models it), so the segments left still begin at
    /// a segment boundary with none missing after it, and the first one's
    /// base is the log start: no record deleted in a pass that returned
    /// comes back, and none is lost that was not meant to go.
    fn remove_oldest(&self, count: usize) -> Result<DeletedRecords> {
        let s = &*self.shared;
        // Only maintenance removes segments, and it holds the lock: the
        // front of the list cannot change until the drain below.
        let removed: Vec<Arc<SegmentState>> = {
            let mut segs = s.segments.write();
            let count = count.min(segs.len() - 1);
            if count > 0 {
                s.log_start
                    .fetch_max(segs[count].base_offset(), Ordering::AcqRel);
            }
            segs.drain(..count).collect()
        };
        let mut deleted = DeletedRecords {
            log_start_offset: self.log_start_offset(),
            ..DeletedRecords::default()
        };
        if removed.is_empty() {
            return Ok(deleted);
        }
        for seg in &removed {
            deleted.bytes += seg.size_unopened()?;
            // Out of the list, a segment can gain no new holders: only a
            // reader that took it before can still use it, and only then
            // must its files be opened before they are unlinked.
            seg.remove_files(Arc::strong_count(seg) > 1)?;
            deleted.segments += 1;
        }
        self.forget_aborted_below(deleted.log_start_offset);
        s.files.storage.fsync_directory(&s.dir)?;
        s.meters.removed(deleted.bytes, deleted.log_start_offset);
        crate::observe::info!(
            dir = %s.dir.display(),
            segments = deleted.segments,
            bytes = deleted.bytes,
            log_start_offset = deleted.log_start_offset,
            "segments deleted"
        );
        Ok(deleted)
    }
}
