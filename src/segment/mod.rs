//! Layer 2: one segment: a `.log` file of batches plus its offset and time
//! indexes, all named by the segment's 20-digit base offset.
//!
//! The active segment keeps its indexes in memory (they are rebuilt from
//! the log after a crash anyway) and writes them out when it is sealed or
//! the partition closes. A sealed segment is immutable; its files are
//! opened and its indexes mapped lazily, on first use, so opening a log of
//! many segments costs nothing per segment.

mod hole;
mod index_builder;
mod read;
mod reader;
mod scan;

pub(crate) use index_builder::Indexes;
pub(crate) use scan::{scan, scan_visiting, Mode};

use crate::batch::BatchHeader;
use crate::error::{Error, Result};
use crate::index::{
    encode_file, entries_len, entry_at, entry_count, Entry, IndexBytes, IndexKind, OffsetEntry,
    OffsetIndex, TimeEntry, TimeIndex, TRAILER_SIZE,
};
use crate::storage::{read_all, write_atomic, Storage, StorageFile};
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

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

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: u64,
    log_path: PathBuf,
    storage: Arc<dyn Storage>,
    /// Opened on first use for sealed segments.
    file: OnceLock<Arc<dyn StorageFile>>,
    /// Bytes written to the log file.
    size: AtomicU64,
    /// Bytes readers may see: whole batches whose append met the sync policy.
    visible: AtomicU64,
    /// The offset after the last batch (for a sealed segment opened lazily,
    /// the next segment's base: an upper bound).
    next_offset: AtomicU64,
    sealed: AtomicBool,
    /// `None` until a sealed segment's index files are loaded.
    indexes: RwLock<Option<Indexes>>,
    index_interval: u32,
}

impl Segment {
    fn new(
        storage: Arc<dyn Storage>,
        dir: &Path,
        base_offset: u64,
        index_interval: u32,
        next_offset: u64,
        indexes: Option<Indexes>,
    ) -> Self {
        Segment {
            base_offset,
            log_path: dir.join(log_file_name(base_offset)),
            storage,
            file: OnceLock::new(),
            size: AtomicU64::new(0),
            visible: AtomicU64::new(0),
            next_offset: AtomicU64::new(next_offset),
            sealed: AtomicBool::new(indexes.is_none()),
            indexes: RwLock::new(indexes),
            index_interval,
        }
    }

    /// Creates a new, empty, active segment.
    pub fn create(
        storage: Arc<dyn Storage>,
        dir: &Path,
        base: u64,
        index_interval: u32,
    ) -> Result<Self> {
        let seg = Segment::new(
            storage,
            dir,
            base,
            index_interval,
            base,
            Some(Indexes::new()),
        );
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
        let _ = seg.file.set(file);
        Ok(seg)
    }

    /// A sealed segment, touched on first use. `next_offset` is the base
    /// of the segment after it.
    pub fn sealed(
        storage: Arc<dyn Storage>,
        dir: &Path,
        base: u64,
        next_offset: u64,
        index_interval: u32,
    ) -> Self {
        Segment::new(storage, dir, base, index_interval, next_offset, None)
    }

    /// The active segment as found at open. With `clean` (the next offset
    /// and log size a clean shutdown recorded), trusts the files if they
    /// match; otherwise scans the log, truncates a torn tail and rebuilds
    /// the indexes, calling `on_batch` with each valid batch's header. The
    /// flag returned says whether it scanned (so `on_batch` saw every batch).
    pub fn open_active(
        storage: Arc<dyn Storage>,
        dir: &Path,
        base: u64,
        index_interval: u32,
        clean: Option<(u64, u64)>,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(Self, bool)> {
        let mut seg = Segment::new(
            storage,
            dir,
            base,
            index_interval,
            base,
            Some(Indexes::new()),
        );
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
        let (len, next, indexes, scanned) = match (trusted, clean) {
            (Some(indexes), Some((next, _))) => (len, next, indexes, false),
            (_, Some((next, _))) => {
                // The log or its indexes disagree with the marker. After a
                // clean shutdown the whole log was synced, so a strict scan
                // decides: a whole log is the truth (the marker or the
                // indexes were wrong); a damaged one is kept as the marker
                // describes it, and reads of the damaged batch report it.
                // Producer state is replayed by the caller either way.
                match scan(&*file, &path, base, index_interval, Mode::Sealed) {
                    Ok(s) => (s.valid_len, s.next_offset, s.indexes, false),
                    Err(e @ Error::Corrupt { .. }) => {
                        let indexes = seg.load_active_indexes(&*file, len, next, false);
                        (len, next, indexes.ok_or(e)?, false)
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
                (s.valid_len, s.next_offset, s.indexes, true)
            }
        };
        *seg.indexes.get_mut() = Some(indexes);
        seg.size = AtomicU64::new(len);
        seg.visible = AtomicU64::new(len);
        seg.next_offset = AtomicU64::new(next);
        let _ = seg.file.set(file);
        Ok((seg, scanned))
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

    /// The log file, opened on first use. Opening a sealed segment fixes
    /// its size.
    pub fn file(&self) -> Result<&Arc<dyn StorageFile>> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = self
            .storage
            .open(&self.log_path, false)
            .map_err(|e| Error::io("open", &self.log_path, e))?;
        let len = f.len().map_err(|e| Error::io("stat", &self.log_path, e))?;
        // Only a sealed segment gets here, and its length never changes:
        // every racing opener stores the same value.
        Ok(self.file.get_or_init(|| {
            self.size.store(len, Ordering::Release);
            self.visible.store(len, Ordering::Release);
            f
        }))
    }

    /// Bytes in the log file.
    pub fn size(&self) -> Result<u64> {
        self.file()?;
        Ok(self.size.load(Ordering::Acquire))
    }

    /// Bytes readers may see.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// The offset after this segment's last batch.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Appends one encoded batch. The caller is the partition's only writer.
    pub fn append(&self, batch: &[u8], h: &BatchHeader) -> Result<()> {
        let file = self.file()?;
        let pos = self.size.load(Ordering::Acquire);
        if let Err(e) = file.write_all_at(batch, pos) {
            // Take back whatever part of the batch reached the file, so the
            // next append does not land behind a torn batch.
            let _ = file.set_len(pos);
            return Err(Error::io("write", &self.log_path, e));
        }
        if let Some(idx) = self.indexes.write().as_mut() {
            idx.on_batch(h, pos as u32, self.base_offset, self.index_interval);
        }
        self.size.store(pos + batch.len() as u64, Ordering::Release);
        self.next_offset.store(h.next_offset(), Ordering::Release);
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

    /// Makes the log file durable.
    pub fn sync(&self) -> Result<()> {
        self.file()?
            .sync_data()
            .map_err(|e| Error::io("fdatasync", &self.log_path, e))
    }

    /// Writes the in-memory indexes to their files (the time index ending
    /// with the largest timestamp so far, which a reopen reads back) and
    /// syncs everything. With `seal`, also marks the segment immutable and
    /// drops the in-memory copies (they are mapped from the files when next
    /// needed).
    pub fn persist(&self, seal: bool) -> Result<()> {
        // Copy the indexes out, so that readers are not held up by the
        // writes and fsyncs below; the caller is the only writer, so the
        // copy stays current.
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
        self.sync()?;
        if seal {
            self.sealed.store(true, Ordering::Release);
            *self.indexes.write() = None;
        }
        Ok(())
    }

    fn write_index(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        // Only the active segment's index files are written in place, and
        // those are never mapped (see storage::mmap).
        let f = self
            .storage
            .open(path, true)
            .map_err(|e| Error::io("create", path, e))?;
        f.set_len(0)
            .and_then(|()| f.write_all_at(bytes, 0))
            .and_then(|()| f.sync_data())
            .map_err(|e| Error::io("write", path, e))
    }

    /// Runs `f` on the indexes, loading a sealed segment's first.
    pub fn with_indexes<R>(&self, f: impl FnOnce(&Indexes) -> R) -> Result<R> {
        {
            let guard = self.indexes.read();
            if let Some(idx) = guard.as_ref() {
                return Ok(f(idx));
            }
        }
        let mut w = self.indexes.write();
        if w.is_none() {
            *w = Some(self.load_sealed_indexes()?);
        }
        let r = RwLockWriteGuard::downgrade(w);
        Ok(f(r.as_ref().expect("indexes were just loaded")))
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
        let s = scan(
            &**self.file()?,
            &self.log_path,
            self.base_offset,
            self.index_interval,
            Mode::Sealed,
        )?;
        if s.next_offset != self.next_offset() {
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
        scan::for_each_header(&**file, &self.log_path, self.base_offset, len, f)
    }

    /// The largest timestamp in the segment, if it holds any batch.
    pub fn max_timestamp(&self) -> Result<Option<i64>> {
        self.with_indexes(|i| i.max_timestamp())
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
    }
}
