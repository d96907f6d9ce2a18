//! Layer 2: one segment: a `.log` file of batches plus its offset and time
//! indexes, all named by the segment's 20-digit base offset.
//!
//! The active segment keeps its indexes in memory (they are rebuilt from
//! the log after a crash anyway) and writes them out when it is sealed or
//! the partition closes. A sealed segment is immutable; its files are
//! opened and its indexes mapped lazily, on first use, so opening a log of
//! many segments costs nothing per segment.

mod handle;
mod hole;
mod index_builder;
mod read;
mod reader;
mod scan;
mod verify;
mod view;

pub use verify::{BadBatch, IndexMismatch, SegmentIndex, SegmentReport};
pub use view::{BatchLocation, Segment, SegmentFiles, TimestampOffset};

pub(crate) use index_builder::Indexes;
pub(crate) use scan::{scan, scan_visiting, Mode};

use crate::batch::BatchHeader;
use crate::error::{Error, Result};
use crate::index::{
    encode_file, entries_len, entry_at, entry_count, Entry, IndexBytes, IndexKind, OffsetEntry,
    OffsetIndex, TimeEntry, TimeIndex, TRAILER_SIZE,
};
use crate::storage::{read_all, write_atomic, FileBudget, Storage, StorageFile};
use parking_lot::{RwLock, RwLockReadGuard};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The least an active segment's file is grown ahead of its log.
const MIN_PREALLOCATE: u64 = 64 << 10;
/// The most an active segment's file is grown ahead of its log: the bound
/// on the zero tail a recovery reads past.
const MAX_PREALLOCATE: u64 = 8 << 20;

/// File name of the log of the segment based at `base`.
pub(crate) fn log_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// The base offset named by a segment log file name, if it is one.
pub(crate) fn parse_log_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The base offset named by any of a segment's file names (its log or
/// either index), if `name` is one.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name
        .strip_suffix(".log")
        .or_else(|| name.strip_suffix(".index"))
        .or_else(|| name.strip_suffix(".timeindex"))?;
    parse_log_file_name(&format!("{stem}.log"))
}

/// Where a segment's files are: the storage, and the budget of open files
/// it shares with the rest of its log.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    pub storage: Arc<dyn Storage>,
    pub budget: Arc<FileBudget>,
}

impl Files {
    /// On `storage`, with a budget of its own of `max_open` files.
    #[cfg(test)]
    pub fn new(storage: Arc<dyn Storage>, max_open: usize) -> Files {
        Files {
            storage,
            budget: FileBudget::new(max_open),
        }
    }
}

/// How [`SegmentState::open_active`] found the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActiveFound {
    /// As the clean-shutdown marker and the index files describe it:
    /// nothing read but the tail after the last index entry.
    Trusted,
    /// The indexes did not agree with the marker (or are not written: a
    /// small active segment's are not), and a strict scan found the log
    /// exactly as the marker describes it: the marker is right.
    Verified,
    /// The marker was believed, and a strict scan found damage in the log
    /// it describes: kept as the marker says (reads of the damaged batch
    /// report it).
    Damaged,
    /// The marker was believed, but a strict scan found a whole log other
    /// than it describes: the marker is wrong.
    Checked,
    /// Recovered by a scan: every batch was passed to `on_batch`.
    Scanned,
}

/// A segment as a listing sees it, at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listing {
    /// Bytes written to its log.
    pub size: u64,
    /// The offset after its last batch (see `SegmentState::next_offset`).
    pub next_offset: u64,
    /// The active segment's largest timestamp (`None` for a sealed one:
    /// its time index knows, and is loaded only when asked).
    pub max_timestamp: Option<i64>,
    /// Whether it takes appends.
    pub active: bool,
}

/// One segment of a partition log: the state its readers share.
#[derive(Debug)]
pub(crate) struct SegmentState {
    base_offset: u64,
    log_path: PathBuf,
    storage: Arc<dyn Storage>,
    /// The open log file and mapped indexes, under the log's budget.
    handle: Arc<handle::Handle>,
    /// Bytes written to the log file: the log's length. The file may be
    /// longer while the segment is active (see `allocated`).
    size: AtomicU64,
    /// Whether `size` is known: for a sealed segment found at open, only
    /// once its file was first opened.
    sized: AtomicBool,
    /// Bytes of the active segment's file reserved ahead of `size`
    /// (zero-filled), so an fdatasync after an append inside them writes
    /// data only. Trimmed back to `size` when the segment is sealed or the
    /// partition closes; recovery treats a zero tail as the log's end.
    allocated: AtomicU64,
    /// Compacted: its last records may have been removed, so its batches
    /// may end before the next segment's base offset.
    compacted: bool,
    /// Bytes readers may see: whole batches whose append met the sync policy.
    visible: AtomicU64,
    /// Bytes the last successful sync of the log covered: durable.
    synced: AtomicU64,
    /// The offset after the last batch (for a sealed segment opened lazily,
    /// the next segment's base: an upper bound).
    next_offset: AtomicU64,
    sealed: AtomicBool,
    /// `None` until a sealed segment's index files are loaded.
    indexes: RwLock<Option<Indexes>>,
    index_interval: u32,
}

impl SegmentState {
    fn new(
        files: &Files,
        dir: &Path,
        base_offset: u64,
        index_interval: u32,
        next_offset: u64,
        indexes: Option<Indexes>,
    ) -> Self {
        SegmentState {
            base_offset,
            log_path: dir.join(log_file_name(base_offset)),
            storage: files.storage.clone(),
            handle: handle::Handle::new(files.budget.clone()),
            size: AtomicU64::new(0),
            sized: AtomicBool::new(indexes.is_some()),
            allocated: AtomicU64::new(0),
            compacted: false,
            visible: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            next_offset: AtomicU64::new(next_offset),
            sealed: AtomicBool::new(indexes.is_none()),
            indexes: RwLock::new(indexes),
            index_interval,
        }
    }

    /// Creates a new, empty, active segment.
    pub fn create(files: &Files, dir: &Path, base: u64, index_interval: u32) -> Result<Self> {
        let seg = SegmentState::new(files, dir, base, index_interval, base, Some(Indexes::new()));
        let file = seg
            .storage
            .open(&seg.log_path, true)
            .map_err(|e| Error::io("create", &seg.log_path, e))?;
        // A leftover file of this name holds nothing the log still needs.
        // Truncate only then: on ext4 a truncate to zero makes the close of
        // the file force out all its delayed data (auto_da_alloc), a
        // needless flush of a whole segment.
        let len = file
            .len()
            .map_err(|e| Error::io("stat", &seg.log_path, e))?;
        if len != 0 {
            file.set_len(0)
                .map_err(|e| Error::io("truncate", &seg.log_path, e))?;
        }
        seg.keep_open(file);
        Ok(seg)
    }

    /// A sealed segment, touched on first use. `next_offset` is the base
    /// of the segment after it.
    pub fn sealed(
        files: &Files,
        dir: &Path,
        base: u64,
        next_offset: u64,
        index_interval: u32,
    ) -> Self {
        SegmentState::new(files, dir, base, index_interval, next_offset, None)
    }

    /// The active segment as found at open. With `clean` (the next offset
    /// and log size a clean shutdown recorded), trusts the files if they
    /// match; otherwise scans the log, truncates a torn tail and rebuilds
    /// the indexes, calling `on_batch` with each valid batch's header. The
    /// answer says which it did.
    pub fn open_active(
        files: &Files,
        dir: &Path,
        base: u64,
        index_interval: u32,
        clean: Option<(u64, u64)>,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(Self, ActiveFound)> {
        let mut seg =
            SegmentState::new(files, dir, base, index_interval, base, Some(Indexes::new()));
        let path = seg.log_path.clone();
        let file = seg
            .storage
            .open(&path, true)
            .map_err(|e| Error::io("open", &path, e))?;
        let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
        // A marker is only believed for a log of the size it names, and for
        // no more records than the log has bytes.
        let clean = clean.filter(|&(next, size)| {
            size == len && next.checked_sub(base).is_some_and(|n| n <= len)
        });
        let trusted = clean.and_then(|(next, _)| seg.load_active_indexes(&*file, len, next, true));
        let (len, next, indexes, found) = match (trusted, clean) {
            (Some(indexes), Some((next, _))) => (len, next, indexes, ActiveFound::Trusted),
            (_, Some((next, _))) => {
                // The log or its indexes disagree with the marker. After a
                // clean shutdown the whole log was synced, so a strict scan
                // decides: a whole log is the truth (the marker or the
                // indexes were wrong); a damaged one is kept as the marker
                // describes it, and reads of the damaged batch report it.
                // Producer state is replayed by the caller either way.
                match scan(&*file, &path, base, index_interval, Mode::Sealed) {
                    Ok(s) => {
                        let found = if (s.next_offset, s.valid_len) == (next, len) {
                            ActiveFound::Verified
                        } else {
                            ActiveFound::Checked
                        };
                        (s.valid_len, s.next_offset, s.indexes, found)
                    }
                    Err(Error::Corrupt { .. }) => {
                        // The index files, or (a small segment's are not
                        // written) the headers, which the damage may spare;
                        // else none: reads then walk from the segment's
                        // start, and report the damage when they reach it.
                        let indexes = seg
                            .load_active_indexes(&*file, len, next, false)
                            .or_else(|| seg.indexes_from_headers(&*file, len))
                            .unwrap_or_else(Indexes::new);
                        (len, next, indexes, ActiveFound::Damaged)
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {
                let s = scan_visiting(&*file, &path, base, index_interval, Mode::Tail, on_batch)?;
                if s.torn_tail {
                    file.set_len(s.valid_len)
                        .map_err(|e| Error::io("truncate", &path, e))?;
                }
                // What survived an unclean stop may sit only in the page
                // cache; make it durable before anyone reads it, so a later
                // power loss cannot take back what a reader has seen.
                file.sync_data()
                    .map_err(|e| Error::io("fdatasync", &path, e))?;
                (s.valid_len, s.next_offset, s.indexes, ActiveFound::Scanned)
            }
        };
        *seg.indexes.get_mut() = Some(indexes);
        // Whatever the file holds past the log is reserved space from
        // before the stop, or has just been truncated away.
        let file_len = file.len().map_err(|e| Error::io("stat", &path, e))?;
        seg.allocated = AtomicU64::new(file_len.max(len));
        seg.size = AtomicU64::new(len);
        seg.visible = AtomicU64::new(len);
        // Synced after a scan; after a clean shutdown, by the close.
        seg.synced = AtomicU64::new(len);
        seg.next_offset = AtomicU64::new(next);
        seg.keep_open(file);
        Ok((seg, found))
    }

    /// Indexes built from the batch headers of the first `len` bytes alone
    /// (no CRC checked), if they are whole and in order.
    fn indexes_from_headers(&self, log: &dyn StorageFile, len: u64) -> Option<Indexes> {
        let mut idx = Indexes::new();
        let mut pos = 0u64;
        scan::for_each_header(log, &self.log_path, self.base_offset, len, &mut |h| {
            idx.on_batch(h, pos as u32, self.base_offset, self.index_interval);
            pos += h.total_size() as u64;
        })
        .ok()?;
        Some(idx)
    }

    /// The active segment's index files after a clean shutdown, if they are
    /// present and sane and (with `verify`) the log agrees with the
    /// marker's next offset `next`; read into memory, since new entries
    /// will follow.
    fn load_active_indexes(
        &self,
        log: &dyn StorageFile,
        len: u64,
        next: u64,
        verify: bool,
    ) -> Option<Indexes> {
        let limit = next.checked_sub(self.base_offset)?;
        // At most one entry per batch: a longer file is not this log's index,
        // and is not read whole.
        let max_entries = len / BatchHeader::SIZE as u64 + 1;
        let load = |path: PathBuf, kind: IndexKind, entry: u64| -> Option<Vec<u8>> {
            let f = self.storage.open(&path, false).ok()?;
            if f.len().ok()? > max_entries * entry + TRAILER_SIZE as u64 {
                return None;
            }
            let mut bytes = read_all(&*f).ok()?;
            bytes.truncate(entries_len(kind, &bytes, len)?);
            Some(bytes)
        };
        let offset = load(
            self.index_path(),
            IndexKind::Offset,
            OffsetEntry::SIZE as u64,
        )?;
        let time = load(
            self.time_index_path(),
            IndexKind::Time,
            TimeEntry::SIZE as u64,
        )?;
        if !OffsetIndex::is_sane(&offset, len, limit) || !time_index_is_sane(&time, len, limit) {
            return None;
        }
        let last_entry = entry_count::<OffsetEntry>(&offset)
            .checked_sub(1)
            .map(|i| entry_at::<OffsetEntry>(&offset, i));
        let (pos, offset_there) = last_entry.map_or((0, self.base_offset), |e| {
            (
                u64::from(e.position),
                self.base_offset + u64::from(e.relative_offset),
            )
        });
        // The marker's next offset must be the log's: walk the batch headers
        // from the last index entry (at most an index interval and a batch)
        // to the end, which must be a batch boundary.
        if verify {
            let walked =
                scan::headers_from(log, &self.log_path, (pos, offset_there), len, &mut |_| {});
            if walked.ok()? != next {
                return None;
            }
        }
        Some(Indexes::loaded(
            IndexBytes::Owned(offset),
            IndexBytes::Owned(time),
            len - pos,
        ))
    }

    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn index_path(&self) -> PathBuf {
        self.log_path.with_extension("index")
    }

    fn time_index_path(&self) -> PathBuf {
        self.log_path.with_extension("timeindex")
    }

    /// Bytes in the log file.
    pub fn size(&self) -> Result<u64> {
        self.file()?;
        Ok(self.size.load(Ordering::Acquire))
    }

    /// Bytes in the log file, without opening it if it is not open yet.
    pub fn size_unopened(&self) -> Result<u64> {
        if self.sized.load(Ordering::Acquire) {
            return Ok(self.size.load(Ordering::Acquire));
        }
        self.storage
            .len_of(&self.log_path)
            .map_err(|e| Error::io("stat", &self.log_path, e))
    }

    /// Bytes readers may see.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// The offset after this segment's last batch.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// What a listing of the segment reports (see [`Listing`]): of the
    /// active segment, a consistent moment (the appender updates these
    /// under the same lock); of a sealed one, its log is opened to learn
    /// its size.
    pub fn listing(&self) -> Result<Listing> {
        {
            let indexes = self.indexes.read();
            if let Some(idx) = indexes.as_ref() {
                return Ok(Listing {
                    size: self.size.load(Ordering::Acquire),
                    next_offset: self.next_offset(),
                    max_timestamp: idx.max_timestamp(),
                    active: true,
                });
            }
        }
        Ok(Listing {
            size: self.size()?,
            next_offset: self.next_offset(),
            max_timestamp: None,
            active: false,
        })
    }

    /// Whether it was marked compacted (its batches may end early).
    pub fn is_compacted(&self) -> bool {
        self.compacted
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Appends one encoded batch. The caller is the partition's only writer.
    pub fn append(&self, batch: &[u8], h: &BatchHeader) -> Result<()> {
        let file = self.file()?;
        let pos = self.size.load(Ordering::Acquire);
        let end = pos + batch.len() as u64;
        if end > self.allocated.load(Ordering::Relaxed) {
            self.preallocate(&*file, pos, end);
        }
        if let Err(e) = file.write_all_at(batch, pos) {
            // Take back whatever part of the batch reached the file, so the
            // next append does not land behind a torn batch.
            let _ = file.set_len(pos);
            self.allocated.store(pos, Ordering::Relaxed);
            return Err(Error::io("write", &self.log_path, e));
        }
        // Under the indexes' lock, so that a listing (`Self::listing`) sees
        // the size, the next offset and the largest timestamp of one moment.
        let mut indexes = self.indexes.write();
        if let Some(idx) = indexes.as_mut() {
            idx.on_batch(h, pos as u32, self.base_offset, self.index_interval);
        }
        self.size.store(pos + batch.len() as u64, Ordering::Release);
        self.next_offset.store(h.next_offset(), Ordering::Release);
        Ok(())
    }

    /// Reserves room past `end` (the end of the batch about to be written
    /// at `pos`): as much again as the log holds, between
    /// [`MIN_PREALLOCATE`] and [`MAX_PREALLOCATE`], so a small partition
    /// reserves little and a large one reserves rarely. A failure is not
    /// an error: the write then extends the file itself, as without
    /// preallocation, and reports a full disk if there is one.
    fn preallocate(&self, file: &dyn StorageFile, pos: u64, end: u64) {
        let target = end + end.clamp(MIN_PREALLOCATE, MAX_PREALLOCATE);
        let _ = file.allocate(pos, target - pos);
        self.allocated.store(target, Ordering::Relaxed);
    }

    /// Whether the active segment's offset index has an entry: without one,
    /// a scan at open reads no more than an index interval and a batch, and
    /// writing the index files at close is not worth their cost.
    pub fn has_index_entries(&self) -> bool {
        self.indexes
            .read()
            .as_ref()
            .is_some_and(|i| !i.offset.is_empty())
    }

    /// Cuts the reserved space past the log off the file, so a sealed or
    /// closed segment's file is exactly its log.
    pub fn trim(&self) -> Result<()> {
        let size = self.written();
        if self.allocated.load(Ordering::Relaxed) > size {
            self.file()?
                .set_len(size)
                .map_err(|e| Error::io("truncate", &self.log_path, e))?;
            self.allocated.store(size, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Lets readers see the first `len` bytes.
    pub fn publish(&self, len: u64) {
        self.visible.fetch_max(len, Ordering::AcqRel);
    }

    /// Bytes written, for the writer (no lazy open: the active segment is open).
    pub fn written(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The active segment's indexes, for roll decisions.
    pub fn active_indexes(&self) -> RwLockReadGuard<'_, Option<Indexes>> {
        self.indexes.read()
    }

    /// Makes the log file durable, as far as it is written now.
    pub fn sync(&self) -> Result<()> {
        let size = self.written();
        self.file()?
            .sync_data()
            .map_err(|e| Error::io("fdatasync", &self.log_path, e))?;
        self.synced.fetch_max(size, Ordering::AcqRel);
        Ok(())
    }

    /// Bytes of the log the last successful sync covered.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// Writes the in-memory indexes to their files (the time index ending
    /// with the largest timestamp so far, which a reopen reads back),
    /// without syncing them. The indexes are derived data: a failure here,
    /// or a power cut before they reach the disk, loses nothing (they are
    /// rebuilt from the log), and the caller may go on appending.
    pub fn write_indexes(&self) -> Result<()> {
        // Copy the indexes out, so that readers are not held up by the
        // writes below; the caller is the only writer, so the copy stays
        // current.
        let snapshot = self.indexes.write().as_mut().map(|idx| {
            idx.finish();
            (idx.offset.to_vec(), idx.time.to_vec())
        });
        if let Some((offset, time)) = snapshot {
            let log_size = self.written();
            self.write_index(
                &self.index_path(),
                &encode_file(IndexKind::Offset, &offset, log_size),
            )?;
            self.write_index(
                &self.time_index_path(),
                &encode_file(IndexKind::Time, &time, log_size),
            )?;
        }
        Ok(())
    }

    /// Cuts the reserved space off and makes the log durable (see
    /// `allocated`): then the file is exactly the log.
    pub fn trim_and_sync(&self) -> Result<()> {
        self.trim()?;
        self.sync()
    }

    /// Marks the segment immutable and drops the in-memory indexes (they
    /// are mapped from the files when next needed). After
    /// [`Self::write_indexes`] and [`Self::trim_and_sync`].
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
        *self.indexes.write() = None;
    }

    /// [`Self::write_indexes`], [`Self::trim_and_sync`] and, with `seal`,
    /// [`Self::seal`].
    #[cfg(test)]
    pub fn persist(&self, seal: bool) -> Result<()> {
        self.write_indexes()?;
        self.trim_and_sync()?;
        if seal {
            self.seal();
        }
        Ok(())
    }

    fn write_index(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        // Only the active segment's index files are written in place, and
        // those are never mapped (see storage::mmap).
        // Not synced: an index is derived data, and a torn or missing one
        // fails its trailer check at open and is rebuilt from the log.
        crate::storage::write_unsynced(&*self.storage, path, bytes)
    }

    /// Runs `f` on the indexes: the active segment's, in memory, or a
    /// sealed segment's, mapped (and loaded first if they are not).
    pub fn with_indexes<R>(&self, f: impl FnOnce(&Indexes) -> R) -> Result<R> {
        {
            let guard = self.indexes.read();
            if let Some(idx) = guard.as_ref() {
                return Ok(f(idx));
            }
        }
        let idx = self.mapped_indexes(|| self.load_sealed_indexes())?;
        Ok(f(&idx))
    }

    /// Maps a sealed segment's index files; if either is missing, fails
    /// its trailer check or its sanity check, rebuilds both from the log
    /// (which also checks every batch) and writes them anew.
    fn load_sealed_indexes(&self) -> Result<Indexes> {
        let len = self.size()?;
        let limit = self.next_offset() - self.base_offset;
        let map = |path: PathBuf, kind: IndexKind| -> Option<IndexBytes> {
            let f = self.storage.open(&path, false).ok()?;
            let bytes = f.map_immutable().ok()?;
            let n = entries_len(kind, &bytes, len)?;
            Some(IndexBytes::Shared(bytes, n))
        };
        let offset = map(self.index_path(), IndexKind::Offset);
        let time = map(self.time_index_path(), IndexKind::Time);
        if let (Some(offset), Some(time)) = (offset, time) {
            if OffsetIndex::is_sane(&offset, len, limit) && time_index_is_sane(&time, len, limit) {
                return Ok(Indexes::loaded(offset, time, 0));
            }
        }
        let file = self.file()?;
        let s = scan(
            &*file,
            &self.log_path,
            self.base_offset,
            self.index_interval,
            Mode::Sealed,
        )?;
        let short = if self.compacted {
            s.next_offset > self.next_offset()
        } else {
            s.next_offset != self.next_offset()
        };
        if short {
            // A log cut at a batch boundary scans clean; only the offsets
            // tell that records are missing. (Not the index's stated log
            // size: an index is derived data and may itself be the damage.)
            return Err(Error::corrupt(
                &self.log_path,
                s.valid_len,
                format!(
                    "the sealed segment's records end before offset {}, the next segment starts at {}",
                    s.next_offset,
                    self.next_offset()
                ),
            ));
        }
        let mut idx = s.indexes;
        idx.finish();
        let dir = self.log_path.parent().unwrap_or(Path::new("."));
        // The index is derived data: if it cannot be written now, the one in
        // memory serves and the next open rebuilds it again.
        for (path, kind, entries) in [
            (self.index_path(), IndexKind::Offset, &idx.offset),
            (self.time_index_path(), IndexKind::Time, &idx.time),
        ] {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                let _ = write_atomic(&*self.storage, dir, name, &encode_file(kind, entries, len));
            }
        }
        Ok(idx)
    }

    /// Calls `f` with the header of every batch, in order, reading headers
    /// only (see [`scan::for_each_header`]).
    pub fn for_each_header(&self, f: &mut dyn FnMut(&BatchHeader)) -> Result<()> {
        let file = self.file()?;
        let len = self.size.load(Ordering::Acquire);
        scan::for_each_header(&*file, &self.log_path, self.base_offset, len, f)
    }

    /// Marks a sealed segment as compacted (see `compacted`).
    pub fn compacted(mut self) -> Self {
        self.compacted = true;
        self
    }

    /// The largest timestamp in the segment, if it holds any batch.
    pub fn max_timestamp(&self) -> Result<Option<i64>> {
        self.with_indexes(|i| i.max_timestamp())
    }

    /// Removes the segment's files (retention). With `readers` (someone
    /// else still holds the segment), it stays readable to them: its log
    /// is opened and its indexes loaded first, so reads go on from the
    /// open handle and the maps of the unlinked files (nothing is
    /// truncated or unmapped under them). The log goes first: once it is
    /// unlinked the records are gone, whatever happens to the rest; index
    /// files left by a crash are removed at the next open.
    pub fn remove_files(&self, readers: bool) -> Result<()> {
        if readers {
            self.pin()?;
        }
        self.storage
            .remove_file(&self.log_path)
            .map_err(|e| Error::io("remove", &self.log_path, e))?;
        for path in [self.index_path(), self.time_index_path()] {
            match self.storage.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path, e)),
            }
        }
        Ok(())
    }
}

/// A time index is sane for a log of `len` bytes if its entries are, and
/// it has one at least when the log holds a batch: an index is written
/// with its segment's largest timestamp (`Indexes::finish`), and an empty
/// one would hide the segment from timestamp lookups.
fn time_index_is_sane(time: &[u8], len: u64, limit: u64) -> bool {
    TimeIndex::is_sane(time, limit) && (len == 0 || entry_count::<TimeEntry>(time) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::record::Record;
    use crate::storage::FsStorage;

    fn batch(base: u64, value: &[u8]) -> (Vec<u8>, BatchHeader) {
        let mut b = BatchBuilder::new(1 << 20, 0);
        b.push(&Record::new(value), 1).unwrap();
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(base);
        let h = BatchHeader::decode_from(&bytes).unwrap();
        (bytes, h)
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn the_active_file_is_reserved_ahead_and_trimmed_when_sealed() {
        let tmp = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let seg = SegmentState::create(&Files::new(storage, 8), tmp.path(), 0, 4096).unwrap();
        let (bytes, h) = batch(0, &[7; 1000]);
        seg.append(&bytes, &h).unwrap();
        assert_eq!(seg.written(), bytes.len() as u64);
        if cfg!(target_os = "linux") {
            // At least the minimum reserved past the batch (fallocate;
            // file systems without it keep the file at its log).
            let len = file_len(seg.log_path());
            assert!(
                len >= bytes.len() as u64 + MIN_PREALLOCATE || len == bytes.len() as u64,
                "{len}"
            );
        }
        seg.persist(true).unwrap();
        assert_eq!(file_len(seg.log_path()), bytes.len() as u64);
    }

    #[test]
    fn reopening_after_a_crash_cuts_the_reserved_tail_and_appends_after_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let files = Files::new(storage, 8);
        let seg = SegmentState::create(&files, tmp.path(), 0, 4096).unwrap();
        let mut end = 0;
        for i in 0..3 {
            let (bytes, h) = batch(i, &[i as u8 + 1; 300]);
            seg.append(&bytes, &h).unwrap();
            end += bytes.len() as u64;
        }
        // Fault: a crash (kill -9): no trim, no marker; the file keeps
        // the zeros reserved past the log.
        if cfg!(target_os = "linux") {
            assert!(file_len(seg.log_path()) > end);
        }
        drop(seg);
        let mut seen = Vec::new();
        let (seg, scanned) =
            SegmentState::open_active(&files, tmp.path(), 0, 4096, None, &mut |h| {
                seen.push(h.base_offset)
            })
            .unwrap();
        assert_eq!(scanned, ActiveFound::Scanned);
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!((seg.written(), seg.next_offset()), (end, 3));
        assert_eq!(file_len(seg.log_path()), end);
        let (bytes, h) = batch(3, b"after");
        seg.append(&bytes, &h).unwrap();
        seg.persist(true).unwrap();
        let mut all = Vec::new();
        scan::for_each_header(
            &*seg.file().unwrap(),
            seg.log_path(),
            0,
            end + bytes.len() as u64,
            &mut |h| all.push(h.base_offset),
        )
        .unwrap();
        assert_eq!(all, [0, 1, 2, 3]);
        assert_eq!(file_len(seg.log_path()), end + bytes.len() as u64);
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(
            parse_log_file_name(&log_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_log_file_name("99999999999999999999.log"), None);
        for name in [
            "00000000000000000042.log",
            "00000000000000000042.index",
            "00000000000000000042.timeindex",
        ] {
            assert_eq!(parse_segment_file_name(name), Some(42), "{name}");
        }
        for name in ["42.index", "00000000000000000042.txt", "x.timeindex"] {
            assert_eq!(parse_segment_file_name(name), None, "{name}");
        }
    }
}
