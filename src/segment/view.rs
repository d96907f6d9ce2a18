//! The public, read-only handle on one segment: what
//! [`crate::Partition::segments`] lists.
//!
//! A [`Segment`] is a snapshot of the segment as it was listed (base and
//! next offset, size, whether it was the active segment) plus the shared
//! state every reader of the partition reads through. It reads the
//! segment's own records (CRC checked), looks offsets and timestamps up
//! through its indexes, verifies itself and copies its log out for
//! archiving, Kafka's `LogSegment` and `kafka-dump-log` in one.
//!
//! Holding one is safe while retention deletes the segment or compaction
//! replaces it: the partition keeps the files of a segment someone holds
//! open (see `handle`), so the handle goes on reading the old data; if the
//! files are gone all the same (the partition was closed or its topic
//! deleted first), reads are a typed [`Error`] naming the file. The log is
//! read with positioned reads, never mapped, so nothing done to its file
//! can raise SIGBUS in a reader.

use super::{Listing, SegmentState};
use crate::batch::Records;
use crate::error::{Error, Result};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Bytes copied per read by [`Segment::copy_to`].
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// The answer of a timestamp lookup ([`crate::Partition::offset_for_timestamp`],
/// [`Segment::offset_for_timestamp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The earliest offset whose record has a timestamp `>=` the target.
    pub offset: u64,
    /// That record's timestamp.
    pub timestamp: i64,
}

/// Where a batch lies in a segment's log file, as
/// [`Segment::lookup_offset`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLocation {
    /// Byte position of the batch in the log file.
    pub position: u64,
    /// Bytes of the batch, its header included.
    pub size_bytes: u64,
    /// Offset of its first record.
    pub base_offset: u64,
    /// Offset of its last record.
    pub last_offset: u64,
    /// Its largest record timestamp.
    pub max_timestamp: i64,
}

/// A segment's files, as [`Segment::files`] names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFiles {
    /// The log of batches, `<base offset>.log` (20 digits).
    pub log: PathBuf,
    /// The offset index, `<base offset>.index`, if it exists (the active
    /// segment's is written only when it is sealed or the partition
    /// closes; a missing one is rebuilt from the log when needed).
    pub offset_index: Option<PathBuf>,
    /// The time index, `<base offset>.timeindex`, if it exists (as for
    /// `offset_index`).
    pub time_index: Option<PathBuf>,
    /// The aborted-transaction index, `<base offset>.txnindex`, if it
    /// exists: only for a segment holding abort markers, written when it
    /// is sealed or the partition closes.
    pub txn_index: Option<PathBuf>,
}

/// A read-only handle on one segment of a partition: one `.log` file of
/// batches with its offset and time indexes, named by its base offset.
///
/// Got from [`crate::Partition::segments`], oldest first. The offsets,
/// size and [`Self::is_active`] are those of the moment it was listed;
/// reads see the segment as listed (never records appended later, and
/// never records readers of the partition may not see yet). Its records
/// are the segment's own, whatever the partition's log start offset is
/// now (`delete_records` moves the start, not the bytes).
///
/// Cheap to clone; `Send` and `Sync`. Holding one keeps the segment
/// readable after retention deleted it or compaction replaced it (see
/// the module docs): it then reads the data it was listed with.
///
/// ```
/// use samsa_log::partition::PartitionConfig;
/// use samsa_log::{Partition, Record};
///
/// # fn main() -> samsa_log::Result<()> {
/// let p = Partition::in_memory(PartitionConfig::default().segment_bytes(1024))?;
/// for i in 0..40i64 {
///     p.append(&[Record::new(&[7u8; 100][..]).timestamp(i)])?;
/// }
/// let segments = p.segments()?;
/// let first = &segments[0];
/// assert!(!first.is_active() && segments.last().unwrap().is_active());
/// let records = first.read(first.base_offset(), 1 << 20)?;
/// assert_eq!(records.len() as u64, first.record_count().unwrap());
/// assert!(first.verify()?.is_ok());
/// let mut archive = Vec::new();
/// assert_eq!(first.copy_to(&mut archive)?, first.size_bytes());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Segment {
    state: Arc<SegmentState>,
    listed: Listing,
    /// The partition's `max_record_bytes`: what a compressed batch's
    /// records may decompress to.
    max_record_bytes: usize,
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("log", &self.state.log_path())
            .field("base_offset", &self.base_offset())
            .field("next_offset", &self.next_offset())
            .field("size_bytes", &self.size_bytes())
            .field("active", &self.is_active())
            .finish()
    }
}

impl Segment {
    /// A handle on `state` as it is now.
    pub(crate) fn listed(state: Arc<SegmentState>, max_record_bytes: usize) -> Result<Segment> {
        let listed = state.listing()?;
        Ok(Segment {
            state,
            listed,
            max_record_bytes,
        })
    }

    /// Offset of the segment's first record; also its file names.
    pub fn base_offset(&self) -> u64 {
        self.state.base_offset()
    }

    /// The offset after its last record. For a sealed segment not read
    /// since the partition opened, the next segment's base offset (an
    /// upper bound when compaction removed its last records). For the
    /// active segment, everything written when it was listed, including
    /// records not yet visible to readers (under
    /// [`crate::partition::SyncPolicy::Always`], not yet synced).
    pub fn next_offset(&self) -> u64 {
        self.listed.next_offset
    }

    /// Bytes in its log file (for the active segment, as for
    /// [`Self::next_offset`]).
    pub fn size_bytes(&self) -> u64 {
        self.listed.size
    }

    /// How many records it holds, where that is known without reading it:
    /// `next_offset - base_offset` for a segment compaction never touched
    /// (offsets are dense there), `None` for a compacted one (records were
    /// removed; [`Self::verify`] counts them).
    pub fn record_count(&self) -> Option<u64> {
        (!self.state.is_compacted()).then(|| self.next_offset() - self.base_offset())
    }

    /// Whether it was the active segment (the one taking appends) when it
    /// was listed. Every other segment is sealed: immutable.
    pub fn is_active(&self) -> bool {
        self.listed.active
    }

    /// The timestamp of its first record, `None` if it holds none. Reads
    /// (and checks) its first batch.
    pub fn first_timestamp(&self) -> Result<Option<i64>> {
        let records = self.read(self.base_offset(), 1)?;
        Ok(records.iter().next().map(|r| r.timestamp()))
    }

    /// Its largest record timestamp, `None` if it holds no record: for a
    /// sealed segment from its time index (loaded if it is not), for the
    /// active one as it was listed.
    pub fn max_timestamp(&self) -> Result<Option<i64>> {
        if self.listed.active {
            return Ok(self.listed.max_timestamp);
        }
        self.state.max_timestamp()
    }

    /// Its files: the log, and the index files that exist now. For a
    /// partition in memory ([`crate::Log::in_memory`]) these are names in
    /// its memory, not on disk.
    pub fn files(&self) -> SegmentFiles {
        let exists = |p: PathBuf| self.state.storage.exists(&p).then_some(p);
        SegmentFiles {
            log: self.state.log_path().to_path_buf(),
            offset_index: exists(self.state.index_path()),
            time_index: exists(self.state.time_index_path()),
            txn_index: exists(self.state.txn_index_path()),
        }
    }

    /// Records from offset `from` on, as [`crate::Partition::read`] returns
    /// them: whole batches up to about `max_bytes` (at least one batch),
    /// every batch checked against its CRC first, none at or past
    /// [`Self::next_offset`]. Reading at `next_offset` returns no
    /// records; an offset outside `base_offset()..=next_offset()` is
    /// [`Error::OffsetOutOfRange`] with the segment's range. A damaged
    /// batch is [`Error::Corrupt`] naming the log and the byte, never data;
    /// a log whose file is gone is [`Error::Io`] naming it.
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Records> {
        let (start, end) = (self.base_offset(), self.next_offset());
        if from < start || from > end {
            return Err(Error::OffsetOutOfRange {
                requested: from,
                start,
                end,
            });
        }
        let mut at = from;
        while at < end {
            match self.state.read(at, max_bytes, end, self.max_record_bytes)? {
                Some(r) if !r.is_empty() => return Ok(r),
                // Whole batches with no record at or after `at` (gaps left
                // by compaction): go on after them.
                Some(r) => at = r.next_offset().max(at + 1),
                // Nothing visible at or after `at`: of a sealed segment,
                // nothing more at all (compaction removed its last
                // records); of the active one, nothing visible yet.
                None if self.state.is_sealed() => at = end,
                None => break,
            }
        }
        Ok(Records::empty(at))
    }

    /// The batch holding the first offset at or after `offset`, found
    /// through the offset index and a walk of the batch headers after the
    /// entry (Kafka's `translateOffset`); `None` if the segment has no
    /// such record. Reads headers only: [`Self::read`] checks the CRC.
    pub fn lookup_offset(&self, offset: u64) -> Result<Option<BatchLocation>> {
        let found = self.state.locate(offset)?;
        Ok(found
            .filter(|(_, h)| h.base_offset < self.next_offset())
            .map(|(position, h)| BatchLocation {
                position,
                size_bytes: h.total_size() as u64,
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                max_timestamp: h.max_timestamp,
            }))
    }

    /// The earliest record of this segment whose timestamp is `>=
    /// timestamp_ms`, found through the time index (then the offset index
    /// and the batches from there); `None` if it holds no such record.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>> {
        let found = self.state.offset_for_timestamp(
            timestamp_ms,
            self.base_offset(),
            self.max_record_bytes,
        )?;
        Ok(found
            .filter(|&(offset, _)| offset < self.next_offset())
            .map(|(offset, timestamp)| TimestampOffset { offset, timestamp }))
    }

    /// Checks the whole segment as listed (of the active segment, what
    /// readers may see): every batch's header, offsets and CRC, in order,
    /// and every index entry against the batches; a sealed segment's
    /// index files are read as they are on disk (a damaged one is
    /// reported, not rebuilt). Damage goes into the report, which
    /// [`super::SegmentReport::is_ok`] sums up; the error is for what kept
    /// the check from running (I/O, files gone).
    pub fn verify(&self) -> Result<super::SegmentReport> {
        let len = match self.listed.active {
            true => self.state.visible().min(self.listed.size),
            false => self.listed.size,
        };
        self.state
            .verify(len, self.listed.next_offset, self.listed.active)
    }

    /// Copies the log file's bytes to `out`, for archiving elsewhere (as
    /// Kafka's tiered storage copies sealed segments): a sealed segment's
    /// whole log; of the active segment, only the prefix durable now
    /// (synced, and visible to readers), up to what was listed, which is
    /// always whole batches. Returns the bytes copied. The index files
    /// are not copied: they are derived data, rebuilt from the log.
    ///
    /// A failure of `out` is [`Error::Io`] with `op` `"copy"` and the
    /// log's path.
    pub fn copy_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<u64> {
        let s = &self.state;
        let len = if s.is_sealed() {
            self.listed.size
        } else {
            self.listed.size.min(s.synced()).min(s.visible())
        };
        let file = s.log_file()?;
        let mut buf = vec![0u8; COPY_CHUNK_BYTES.min(len as usize)];
        let mut at = 0u64;
        while at < len {
            let n = ((len - at) as usize).min(buf.len());
            file.read_at(&mut buf[..n], at)?;
            // Not a storage call: the caller's writer failed, named by
            // hand as the copy of this log.
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("copy", s.log_path(), e))?;
            at += n as u64;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, BatchHeader, ProducerFields};
    use crate::record::Record;
    use crate::segment::{Files, SegmentWriter};
    use crate::storage::MemStorage;
    use std::path::Path;

    fn append(w: &mut SegmentWriter, offset: u64) -> u64 {
        let mut b = BatchBuilder::new(1 << 20, 0);
        b.push(
            &Record::new(&[offset as u8; 50][..]).timestamp(offset as i64),
            0,
        )
        .unwrap();
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(offset);
        w.append(&bytes, &BatchHeader::decode_from(&bytes).unwrap())
            .unwrap();
        bytes.len() as u64
    }

    #[test]
    fn the_active_segment_copies_its_durable_prefix_and_reads_what_was_listed() {
        let files = Files::new(Arc::new(MemStorage::default()), 4);
        files.storage.create_dir_all(Path::new("/p")).unwrap();
        let mut w = SegmentWriter::create(&files, Path::new("/p"), 0, 4096).unwrap();
        let durable = append(&mut w, 0) + append(&mut w, 1);
        w.sync().unwrap();
        w.publish();
        // Written and visible (a weaker sync policy), not synced.
        append(&mut w, 2);
        w.publish();
        let listed = Segment::listed(w.state().clone(), 1 << 20).unwrap();
        assert!(listed.is_active());
        assert_eq!((listed.next_offset(), listed.record_count()), (3, Some(3)));
        let mut out = Vec::new();
        assert_eq!(listed.copy_to(&mut out).unwrap(), durable);
        // Appended after the listing: not the handle's.
        append(&mut w, 3);
        w.publish();
        let r = listed.read(0, 1 << 20).unwrap();
        assert_eq!(r.iter().map(|r| r.offset()).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(r.next_offset(), 3);
        assert_eq!(listed.max_timestamp().unwrap(), Some(2));
        assert_eq!(listed.offset_for_timestamp(3).unwrap(), None);
        assert_eq!(listed.lookup_offset(3).unwrap(), None);
        let report = listed.verify().unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.records, 3);
    }
}
