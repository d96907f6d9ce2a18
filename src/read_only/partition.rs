//! One partition of a log another process owns, read without its lock:
//! [`ReadOnlyPartition`].
//!
//! The owner appends, rolls, deletes and compacts segments meanwhile, and
//! may restart and cut a torn tail. So this reader trusts nothing it has
//! not checked: it lists the segments at each call, reads with positioned
//! reads only (a memory map of a file the owner cuts would fault), checks
//! every batch's CRC before handing it out, and counts the log's end as
//! the end of the last whole, valid batch of the last segment. A batch
//! still being written (cut off, or failing its CRC at the tail) is not
//! visible yet; it is read once whole. A segment deleted under the reader
//! makes reads below the new log start [`Error::OffsetOutOfRange`], as a
//! Kafka consumer sees after retention.
//!
//! What a reader holds: one file handle of the last segment (and one more
//! during a read), a read's buffer of `max_bytes` (or one batch, if
//! larger), and a mark every 64 KiB of the last segment (16 bytes each,
//! 256 KiB for a 1 GiB segment) so that a read there walks at most 64 KiB
//! of batch headers to its first batch; sealed segments have the owner's
//! offset index for that.

use crate::batch::{check_batches, readable, BatchHeader, BatchView, Records};
use crate::error::{Error, Result};
use crate::index::{entries_len, IndexKind, OffsetIndex};
use crate::partition::log_start;
use crate::segment::{
    batch_error, check_batch, log_file_name, parse_log_file_name, BatchReader, Files, Mode,
    SegmentState, Step,
};
use crate::storage::{CheckedStorage, FileBudget, NamedFile, Storage, StorageFile};
use parking_lot::Mutex;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes read at a time while walking batch headers.
const WINDOW: usize = 1 << 20;

/// Bytes read at a time while looking for the batch a read starts at,
/// from an index entry or a mark: a few batches at most.
const SEEK_WINDOW: usize = 64 << 10;

/// How far apart (in bytes) the marks a reader keeps of the last segment
/// are: a read there walks at most this far to its first batch. They cost
/// 16 bytes each: 256 KiB for a 1 GiB segment.
const MARK_BYTES: u64 = 64 << 10;

/// How far the last segment is known whole: the reader's log end, kept
/// between calls so that each looks only at what was added since.
struct Tail {
    base: u64,
    /// The file as it was opened: a compaction that renames a cleaned
    /// copy over it later does not change what this handle reads.
    file: Arc<dyn StorageFile>,
    /// Bytes of whole, valid batches from the start of the file.
    valid: u64,
    /// The offset after the last of them.
    next: u64,
    /// (base offset, position) of a batch every [`MARK_BYTES`] or so: the
    /// last segment's offset index, which the owner writes only when it
    /// seals the segment.
    marks: Vec<(u64, u64)>,
}

impl Tail {
    /// Where a walk to the batch holding `at` may start.
    fn position_for(&self, at: u64) -> u64 {
        let i = self.marks.partition_point(|&(base, _)| base <= at);
        i.checked_sub(1).map_or(0, |i| self.marks[i].1)
    }
}

/// A partition of a log open read-only ([`crate::Log::open_read_only`]):
/// its offsets and records, as the owner has written them. It holds no
/// lock and writes nothing.
pub struct ReadOnlyPartition {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    topic: String,
    partition: u32,
    poll_interval: Duration,
    tail: Mutex<Option<Tail>>,
    /// What a compressed batch's records may decompress to.
    max_record_bytes: usize,
}

impl fmt::Debug for ReadOnlyPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOnlyPartition")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ReadOnlyPartition {
    pub(super) fn new(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        topic: &str,
        partition: u32,
        poll_interval: Duration,
        max_record_bytes: usize,
    ) -> Self {
        ReadOnlyPartition {
            storage,
            dir,
            topic: topic.to_owned(),
            partition,
            poll_interval,
            tail: Mutex::new(None),
            max_record_bytes,
        }
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many marks the reader keeps of the last segment.
    #[cfg(test)]
    pub(super) fn marks(&self) -> usize {
        self.tail.lock().as_ref().map_or(0, |t| t.marks.len())
    }

    /// The base offsets of the segments there now, in order.
    fn bases(&self) -> Result<Vec<u64>> {
        let mut bases: Vec<u64> = self
            .storage
            .list_files(&self.dir)?
            .iter()
            .filter_map(|n| parse_log_file_name(n))
            .collect();
        bases.sort_unstable();
        Ok(bases)
    }

    fn log_path(&self, base: u64) -> PathBuf {
        self.dir.join(log_file_name(base))
    }

    /// Bytes of the partition's segment logs now (the reserved zeros past
    /// the active segment's data included).
    pub fn size_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for base in self.bases()? {
            let path = self.log_path(base);
            match self.storage.len_of(&path) {
                Ok(n) => total += n,
                // Deleted since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("stat", path, e)),
            }
        }
        Ok(total)
    }

    /// How many segments the partition has now.
    pub fn segment_count(&self) -> Result<usize> {
        Ok(self.bases()?.len())
    }

    /// The first offset still in the log: the first segment's base, or
    /// further where the owner's `delete_records` moved it.
    pub fn log_start_offset(&self) -> Result<u64> {
        let first = self.bases()?.first().copied().unwrap_or(0);
        let checkpoint = log_start::read(&*self.storage, &self.dir)?.unwrap_or(0);
        Ok(first.max(checkpoint))
    }

    /// The offset after the last record the owner has written whole: what
    /// a read can reach now. It may be ahead of the owner's high
    /// watermark by a batch being synced, which a crash of the owner's
    /// process keeps (only a power loss can take it back).
    pub fn end_offset(&self) -> Result<u64> {
        retry_cut_short(|| self.scan_end())
    }

    fn scan_end(&self) -> Result<u64> {
        let bases = self.bases()?;
        let Some(&last) = bases.last() else {
            return self.log_start_offset();
        };
        let mut tail = self.tail.lock();
        let stale = match &*tail {
            Some(t) => t.base != last || t.file.len().map_or(true, |len| len < t.valid),
            None => true,
        };
        if stale {
            let path = self.log_path(last);
            let file = match self.storage.open_read_only(&path) {
                Ok(f) => f,
                // Rolled and deleted between the listing and the open.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    drop(tail);
                    return self.scan_end();
                }
                Err(e) => return Err(Error::io("open", path, e)),
            };
            *tail = Some(Tail {
                base: last,
                file,
                valid: 0,
                next: last,
                marks: Vec::new(),
            });
        }
        let t = tail.as_mut().expect("set above");
        let path = self.log_path(t.base);
        let len = t.file.len().map_err(|e| Error::io("stat", &path, e))?;
        let named = NamedFile::new(&*t.file, &path);
        let mut reader = BatchReader::new(named, t.valid, len, WINDOW);
        while let Step::Batch(h) = reader.peek()? {
            if check_batch(&mut reader, &h, t.next, t.base, Mode::Tail)?.is_some() {
                // Not whole yet, or not written yet: not visible.
                break;
            }
            let last_mark = t.marks.last().map_or(0, |&(_, pos)| pos);
            if t.marks.is_empty() || reader.pos - last_mark >= MARK_BYTES {
                t.marks.push((h.base_offset, reader.pos));
            }
            reader.advance(&h);
            t.valid = reader.pos;
            t.next = h.next_offset();
        }
        Ok(t.next)
    }

    /// Records from offset `from` on: whole batches up to about
    /// `max_bytes` (at least one), each checked against its CRC. Reading
    /// at [`Self::end_offset`] returns no records (its `next_offset` says
    /// where to read next, past the gaps markers and compaction leave);
    /// below the log start or past the end is
    /// [`Error::OffsetOutOfRange`]. Control batches (transaction markers)
    /// are skipped; records of transactions are returned whatever their
    /// outcome, as a `read_uncommitted` consumer reads them.
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Records> {
        let end = self.end_offset()?;
        let mut at = from;
        // Segments the owner deleted between a listing and an open.
        let mut vanished = 0;
        loop {
            let start = self.log_start_offset()?;
            if at < start || at > end || vanished > 3 {
                return Err(Error::OffsetOutOfRange {
                    requested: at,
                    start,
                    end,
                });
            }
            if at == end {
                return Ok(Records::empty(at));
            }
            let bases = self.bases()?;
            let Some(i) = bases.iter().rposition(|&b| b <= at) else {
                vanished += 1;
                continue;
            };
            let next_base = bases.get(i + 1).copied();
            let read =
                retry_cut_short(|| self.read_segment(bases[i], next_base, at, end, max_bytes));
            match read? {
                Some(r) if !r.is_empty() || next_base.is_none() => return Ok(r),
                // Nothing left in this segment at or after `at` (a gap
                // compaction left at its end): the next one.
                Some(_) => at = next_base.expect("checked above"),
                None => vanished += 1,
            }
        }
    }

    /// Reads from `at` in the segment based at `base` (followed by one at
    /// `next_base`, if any), up to the log end `end`; `None` if its file
    /// is gone (deleted by the owner since it was listed).
    fn read_segment(
        &self,
        base: u64,
        next_base: Option<u64>,
        at: u64,
        end: u64,
        max_bytes: usize,
    ) -> Result<Option<Records>> {
        let path = self.log_path(base);
        let file = match self.storage.open_read_only(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
        // The last segment only up to what `end_offset` found whole, its
        // walk from the nearest mark; a sealed one whole, from its index.
        let tail = match (next_base, &*self.tail.lock()) {
            (None, Some(t)) if t.base == base => Some((t.valid.min(len), t.position_for(at))),
            _ => None,
        };
        let (limit, from_index) = match tail {
            Some(found) => found,
            None if next_base.is_some() => (len, self.index_position(base, at, len)),
            None => (len, 0),
        };
        let named = NamedFile::new(&*file, &path);
        let mut found = find_batches(named, from_index, limit, at, max_bytes)?;
        if from_index > 0 && matches!(found, Found::Bad(..)) {
            // A lying index: walk from the start instead.
            found = find_batches(NamedFile::new(&*file, &path), 0, limit, at, max_bytes)?;
        }
        let (first, buf) = match found {
            Found::Batches(first, buf) => (first, buf),
            Found::End => return Ok(Some(Records::empty(next_base.unwrap_or(end)))),
            Found::Bad(pos, why) => return Err(Error::corrupt(&path, pos, why)),
        };
        let checked = check_batches(&buf, at, next_base.unwrap_or(end));
        if let Some((pos, e)) = &checked.bad {
            if *pos == 0 {
                return Err(Error::corrupt(&path, first, e.to_string()));
            }
        }
        Records::from_read(buf, at, &checked, self.max_record_bytes, max_bytes)
            .map(Some)
            .map_err(|(pos, e)| batch_error(&path, first + pos as u64, e))
    }

    /// Checks every segment as [`Segment::verify`](crate::Segment::verify)
    /// does (each batch's header, offsets and CRC; each index entry
    /// against the batches; the aborted-transaction index against the
    /// markers), reading only: one report a segment, in order. The last
    /// segment is checked up to its end (a batch being written is not
    /// damage), and without index files, which the owner writes only
    /// when it seals or closes it.
    pub fn verify(&self) -> Result<Vec<crate::segment::SegmentReport>> {
        let end = self.end_offset()?;
        let bases = self.bases()?;
        let valid_tail = self.tail.lock().as_ref().map(|t| (t.base, t.valid));
        // Segments below where compaction got to may end before the next
        // segment's base.
        let cleaned_to =
            log_start::read_kind(log_start::CLEANER, &*self.storage, &self.dir)?.unwrap_or(0);
        let files = Files {
            storage: self.storage.clone(),
            budget: FileBudget::new(2),
        };
        let mut reports = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let next = bases.get(i + 1).copied();
            let mut seg = SegmentState::sealed(&files, &self.dir, base, next.unwrap_or(end), 4096);
            if next.is_some_and(|n| n <= cleaned_to) {
                seg = seg.compacted();
            }
            let path = self.log_path(base);
            let len = match (next, valid_tail) {
                (None, Some((b, valid))) if b == base => valid,
                _ => match self.storage.len_of(&path) {
                    Ok(len) => len,
                    // Deleted by retention since the listing.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("stat", path, e)),
                },
            };
            let mut report = seg.verify(len, next.unwrap_or(end), false)?;
            if next.is_none() {
                report.forget_unwritten_index_files();
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// The offset of the first record whose timestamp is at or after
    /// `timestamp_ms` (Kafka's `offsetsForTimes`), or `None` if no record
    /// is that recent. Walks the batch headers from the oldest segment,
    /// reading only the batch that holds the answer whole.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>> {
        let end = self.end_offset()?;
        let start = self.log_start_offset()?;
        let bases = self.bases()?;
        for (i, &base) in bases.iter().enumerate() {
            let path = self.log_path(base);
            let file = match self.storage.open_read_only(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("open", path, e)),
            };
            let limit = match (i + 1 == bases.len(), &*self.tail.lock()) {
                (true, Some(t)) if t.base == base => t.valid,
                _ => file.len().map_err(|e| Error::io("stat", &path, e))?,
            };
            let named = NamedFile::new(&*file, &path);
            let mut reader = BatchReader::new(named, 0, limit, WINDOW);
            while let Step::Batch(h) = reader.peek()? {
                if h.max_timestamp >= timestamp_ms && !h.is_control() && h.last_offset() >= start {
                    let pos = reader.pos;
                    let bytes = reader.batch(&h)?;
                    let mut plain = Vec::new();
                    let view = BatchView::parse(bytes)
                        .and_then(|view| readable(bytes, view, self.max_record_bytes, &mut plain))
                        .map_err(|e| batch_error(&path, pos, e))?;
                    let found = view
                        .records()
                        .find(|r| r.timestamp() >= timestamp_ms && r.offset() >= start)
                        .map(|r| r.offset());
                    if let Some(offset) = found.filter(|&o| o < end) {
                        return Ok(Some(offset));
                    }
                }
                reader.advance(&h);
            }
        }
        Ok(None)
    }

    /// Waits up to `timeout` for records at or after `from` (tailing the
    /// log: the end is looked at every poll interval, see
    /// [`ReadOnlyLog::with_poll_interval`](super::ReadOnlyLog::with_poll_interval)),
    /// then reads as [`Self::read`] does. Returns at once if there are
    /// records, or if the read skipped offsets (its `next_offset` moved).
    pub fn poll(&self, from: u64, max_bytes: usize, timeout: Duration) -> Result<Records> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.read(from, max_bytes)?;
            let now = Instant::now();
            if !records.is_empty() || records.next_offset() != from || now >= deadline {
                return Ok(records);
            }
            std::thread::sleep(self.poll_interval.min(deadline - now));
        }
    }

    /// Where the sealed segment's offset index says to start looking for
    /// `at` (0 if it has no usable index).
    fn index_position(&self, base: u64, at: u64, log_len: u64) -> u64 {
        let path = self.log_path(base).with_extension("index");
        let Ok(file) = self.storage.open_read_only(&path) else {
            return 0;
        };
        let Ok(bytes) = crate::storage::read_all(&*file) else {
            return 0;
        };
        let Some(n) = entries_len(IndexKind::Offset, &bytes, log_len) else {
            return 0;
        };
        let relative = u32::try_from(at - base).unwrap_or(u32::MAX);
        OffsetIndex::lookup(&bytes[..n], relative).map_or(0, |e| u64::from(e.position))
    }
}

/// What a walk over a segment's batch headers found.
enum Found {
    /// The bytes of whole batches from this position on, the first
    /// holding the offset asked for (or the first after it).
    Batches(u64, Vec<u8>),
    /// No batch at or after the offset before the end.
    End,
    /// A header that is not a batch's, at this position.
    Bad(u64, String),
}

/// Walks the batch headers of `file` from byte `pos` up to `limit` to the
/// first batch ending at or after offset `at`, then reads the batches
/// that fit in `max_bytes` from there (at least one), with one read.
fn find_batches(
    file: NamedFile<'_, &dyn StorageFile>,
    pos: u64,
    limit: u64,
    at: u64,
    max_bytes: usize,
) -> Result<Found> {
    // From an index entry or a mark the batch is near: a small window.
    let mut seek = BatchReader::new(file.clone(), pos, limit, SEEK_WINDOW);
    let first = loop {
        let here = seek.pos;
        match seek.peek()? {
            Step::Batch(h) if h.last_offset() < at => seek.advance(&h),
            Step::Batch(_) => break here,
            Step::End | Step::Partial => return Ok(Found::End),
            Step::Bad(e) => return Ok(Found::Bad(here, e.to_string())),
        }
    };
    // Then one window of `max_bytes` from the first batch, whose bytes
    // are the answer: the headers are walked in it, and a batch is taken
    // if it ends inside (the first always).
    let mut take = BatchReader::new(file, first, limit, max_bytes.max(BatchHeader::SIZE));
    while let Step::Batch(h) = take.peek()? {
        let ends = take.pos + h.total_size() as u64;
        if take.pos > first && ends - first > max_bytes as u64 {
            break;
        }
        take.advance(&h);
    }
    let end = take.pos;
    Ok(Found::Batches(first, take.into_bytes(first, end)?))
}

/// Runs `f` again (a few times) while it fails on a file that ended
/// before a length measured a moment earlier: the owner cut it meanwhile
/// (the zeros reserved past a segment's data go when it is sealed or
/// closed, and a restart cuts a torn tail).
fn retry_cut_short<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::UnexpectedEof && tries < 5 =>
            {
                tries += 1;
            }
            other => return other,
        }
    }
}
