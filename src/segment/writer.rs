//! The active segment's writer: the one value through which a segment is
//! appended to, trimmed, given its index files and sealed.
//!
//! The partition's writer owns the one [`SegmentWriter`] of its active
//! segment, so "only the writer appends" is `&mut self`, and sealing
//! consumes it: a sealed segment has no writer left to write through.
//! Readers share the segment's [`SegmentState`] (its `Arc`), which the
//! writer updates as it appends (the size, the next offset, the indexes in
//! memory) and syncs and publishes through, from the group commit's
//! leader too (see `partition::sync`).

use super::scan::{self, scan, scan_visiting, Mode};
use super::{time_index_is_sane, ActiveFound, Files, Indexes, Phase, SegmentState};
use crate::batch::BatchHeader;
use crate::batch::ControlType;
use crate::error::{Error, Result};
use crate::index::{
    encode_file, entries_len, entry_at, entry_count, Entry, IndexBytes, IndexKind, OffsetEntry,
    OffsetIndex, TimeEntry, TRAILER_SIZE,
};
use crate::storage::{read_all, CheckedStorage, NamedFile, StorageFile};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The least an active segment's file is grown ahead of its log.
const MIN_PREALLOCATE: u64 = 64 << 10;
/// The most an active segment's file is grown ahead of its log: the bound
/// on the zero tail a recovery reads past.
const MAX_PREALLOCATE: u64 = 8 << 20;

/// The writer of the active segment (see the module docs).
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    seg: Arc<SegmentState>,
    /// Bytes written to the log file: the log's length (readers see it as
    /// the segment's size). The file may be longer (see `allocated`).
    written: u64,
    /// Bytes of the file reserved ahead of `written` (zero-filled), so an
    /// fdatasync after an append inside them writes data only. Trimmed
    /// back to `written` when the segment is sealed or the partition
    /// closes; recovery treats a zero tail as the log's end.
    allocated: u64,
}

impl SegmentWriter {
    /// Creates a new, empty, active segment.
    pub fn create(files: &Files, dir: &Path, base: u64, index_interval: u32) -> Result<Self> {
        let seg = SegmentState::active(files, dir, base, index_interval);
        let file = seg.storage.create_file(&seg.log_path)?;
        // A leftover file of this name holds nothing the log still needs.
        // Truncate only then: on ext4 a truncate to zero makes the close of
        // the file force out all its delayed data (auto_da_alloc), a
        // needless flush of a whole segment.
        let len = file.stat()?;
        if len != 0 {
            file.truncate(0)?;
        }
        seg.keep_open(file.into_raw());
        Ok(SegmentWriter {
            seg: Arc::new(seg),
            written: 0,
            allocated: 0,
        })
    }

    /// The active segment as found at open. With `clean` (the next offset
    /// and log size a clean shutdown recorded), trusts the files if they
    /// match; otherwise scans the log, truncates a torn tail and rebuilds
    /// the indexes, calling `on_batch` with each valid batch's header. The
    /// answer says which it did.
    pub fn open(
        files: &Files,
        dir: &Path,
        base: u64,
        index_interval: u32,
        clean: Option<(u64, u64)>,
        on_batch: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
    ) -> Result<(Self, ActiveFound)> {
        let mut seg = SegmentState::active(files, dir, base, index_interval);
        let path = seg.log_path.clone();
        let file = seg.storage.open_or_create(&path)?;
        let len = file.stat()?;
        // A marker is only believed for a log of the size it names, and for
        // no more records than the log has bytes.
        let clean = clean.filter(|&(next, size)| {
            size == len && next.checked_sub(base).is_some_and(|n| n <= len)
        });
        let trusted =
            clean.and_then(|(next, _)| seg.load_active_indexes(file.raw(), len, next, true));
        let (len, next, indexes, found) = match (trusted, clean) {
            (Some(indexes), Some((next, _))) => (len, next, indexes, ActiveFound::Trusted),
            (_, Some((next, _))) => {
                // The log or its indexes disagree with the marker. After a
                // clean shutdown the whole log was synced, so a strict scan
                // decides: a whole log is the truth (the marker or the
                // indexes were wrong); a damaged one is kept as the marker
                // describes it, and reads of the damaged batch report it.
                // Producer state is replayed by the caller either way.
                match scan(file.raw(), &path, base, index_interval, Mode::Sealed) {
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
                            .load_active_indexes(file.raw(), len, next, false)
                            .or_else(|| seg.indexes_from_headers(file.raw(), len))
                            .unwrap_or_else(Indexes::new);
                        (len, next, indexes, ActiveFound::Damaged)
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {
                let s = scan_visiting(
                    file.raw(),
                    &path,
                    base,
                    index_interval,
                    Mode::Tail,
                    on_batch,
                )?;
                if s.torn_tail {
                    crate::observe::warning!(
                        path = %path.display(),
                        kept_bytes = s.valid_len,
                        next_offset = s.next_offset,
                        "torn tail cut: a batch the last stop left half written"
                    );
                    file.truncate(s.valid_len)?;
                }
                // What survived an unclean stop may sit only in the page
                // cache; make it durable before anyone reads it, so a later
                // power loss cannot take back what a reader has seen.
                file.fdatasync()?;
                (s.valid_len, s.next_offset, s.indexes, ActiveFound::Scanned)
            }
        };
        *seg.phase.get_mut() = Phase::Active(indexes);
        // Whatever the file holds past the log is reserved space from
        // before the stop, or has just been truncated away.
        let file_len = file.stat()?;
        seg.size = AtomicU64::new(len);
        seg.visible = AtomicU64::new(len);
        // Synced after a scan; after a clean shutdown, by the close.
        seg.synced = AtomicU64::new(len);
        seg.next_offset = AtomicU64::new(next);
        seg.keep_open(file.into_raw());
        let writer = SegmentWriter {
            seg: Arc::new(seg),
            written: len,
            allocated: file_len.max(len),
        };
        Ok((writer, found))
    }

    /// The segment as its readers share it.
    pub fn state(&self) -> &Arc<SegmentState> {
        &self.seg
    }

    pub fn base_offset(&self) -> u64 {
        self.seg.base_offset()
    }

    /// Bytes written to the log.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one encoded batch.
    pub fn append(&mut self, batch: &[u8], h: &BatchHeader) -> Result<()> {
        let file = self.seg.file()?;
        let pos = self.written;
        let end = pos + batch.len() as u64;
        if end > self.allocated {
            self.preallocate(&*file, pos, end);
        }
        let wrote = NamedFile::new(&*file, &self.seg.log_path).write_at(batch, pos);
        if let Err(e) = wrote {
            // Take back whatever part of the batch reached the file, so the
            // next append does not land behind a torn batch.
            let _ = file.set_len(pos);
            self.allocated = pos;
            return Err(e);
        }
        let seg = &*self.seg;
        // Under the phase's lock, so that a listing (`SegmentState::listing`)
        // sees the size, the next offset and the largest timestamp of one
        // moment.
        let mut phase = seg.phase.write();
        if let Phase::Active(idx) = &mut *phase {
            idx.on_batch(h, pos as u32, seg.base_offset, seg.index_interval);
        }
        seg.size.store(end, Ordering::Release);
        seg.next_offset.store(h.next_offset(), Ordering::Release);
        drop(phase);
        self.written = end;
        Ok(())
    }

    /// Reserves room past `end` (the end of the batch about to be written
    /// at `pos`): as much again as the log holds, between
    /// [`MIN_PREALLOCATE`] and [`MAX_PREALLOCATE`], so a small partition
    /// reserves little and a large one reserves rarely. A failure is not
    /// an error: the write then extends the file itself, as without
    /// preallocation, and reports a full disk if there is one.
    fn preallocate(&mut self, file: &dyn StorageFile, pos: u64, end: u64) {
        let target = end + end.clamp(MIN_PREALLOCATE, MAX_PREALLOCATE);
        let _ = file.allocate(pos, target - pos);
        self.allocated = target;
    }

    /// Whether the offset index has an entry: without one, a scan at open
    /// reads no more than an index interval and a batch, and writing the
    /// index files at close is not worth their cost.
    pub fn has_index_entries(&self) -> bool {
        match &*self.seg.phase.read() {
            Phase::Active(i) => !i.offset.is_empty(),
            Phase::Sealed => false,
        }
    }

    /// Whether either index has no room for another entry within
    /// `max_bytes`: the segment must roll.
    pub fn indexes_full(&self, max_bytes: usize) -> bool {
        match &*self.seg.phase.read() {
            Phase::Active(i) => i.is_full(max_bytes),
            Phase::Sealed => true,
        }
    }

    /// Cuts the reserved space past the log off the file, so a sealed or
    /// closed segment's file is exactly its log.
    pub fn trim(&mut self) -> Result<()> {
        if self.allocated > self.written {
            self.seg.log_file()?.truncate(self.written)?;
            self.allocated = self.written;
        }
        Ok(())
    }

    /// Makes the log durable as far as it is written now (see
    /// [`SegmentState::sync`]).
    pub fn sync(&self) -> Result<()> {
        self.seg.sync()
    }

    /// Bytes of the log the last successful sync covered.
    pub fn synced(&self) -> u64 {
        self.seg.synced()
    }

    /// Lets readers see everything written.
    pub fn publish(&self) {
        self.seg.publish(self.written);
    }

    /// Writes the in-memory indexes to their files (the time index ending
    /// with the largest timestamp so far, which a reopen reads back),
    /// without syncing them. The indexes are derived data: a failure here,
    /// or a power cut before they reach the disk, loses nothing (they are
    /// rebuilt from the log), and the caller may go on appending.
    pub fn write_indexes(&mut self) -> Result<()> {
        // Copy the indexes out, so that readers are not held up by the
        // writes below; this is the only writer, so the copy stays
        // current.
        let snapshot = match &mut *self.seg.phase.write() {
            Phase::Active(idx) => {
                idx.finish();
                Some((idx.offset.to_vec(), idx.time.to_vec()))
            }
            Phase::Sealed => None,
        };
        if let Some((offset, time)) = snapshot {
            let log_size = self.written;
            self.write_index(
                &self.seg.index_path(),
                &encode_file(IndexKind::Offset, &offset, log_size),
            )?;
            self.write_index(
                &self.seg.time_index_path(),
                &encode_file(IndexKind::Time, &time, log_size),
            )?;
        }
        Ok(())
    }

    fn write_index(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        // Only the active segment's index files are written in place, and
        // those are never mapped (see storage::mmap).
        // Not synced: an index is derived data, and a torn or missing one
        // fails its trailer check at open and is rebuilt from the log.
        crate::storage::write_unsynced(&*self.seg.storage, path, bytes)
    }

    /// Cuts the reserved space off and makes the log durable (see
    /// `allocated`): then the file is exactly the log.
    pub fn trim_and_sync(&mut self) -> Result<()> {
        self.trim()?;
        self.sync()
    }

    /// Makes the segment immutable: its in-memory indexes are dropped
    /// (they are mapped from the files when next needed), and no writer is
    /// left. After [`Self::write_indexes`] and [`Self::trim_and_sync`].
    pub fn seal(self) -> Arc<SegmentState> {
        *self.seg.phase.write() = Phase::Sealed;
        self.seg
    }

    /// [`Self::write_indexes`], [`Self::trim_and_sync`] and [`Self::seal`].
    #[cfg(test)]
    pub fn persist(mut self) -> Result<Arc<SegmentState>> {
        self.write_indexes()?;
        self.trim_and_sync()?;
        Ok(self.seal())
    }
}

impl SegmentState {
    /// Indexes built from the batch headers of the first `len` bytes alone
    /// (no CRC checked), if they are whole and in order.
    fn indexes_from_headers(&self, log: &dyn StorageFile, len: u64) -> Option<Indexes> {
        let mut idx = Indexes::new();
        let mut pos = 0u64;
        scan::for_each_header(log, &self.log_path, self.base_offset, len, &mut |h, _| {
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
            let walked = scan::headers_from(
                log,
                &self.log_path,
                (pos, offset_there),
                len,
                &mut |_, _| {},
            );
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::record::Record;
    use crate::storage::{FsStorage, Storage};

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
        let mut seg = SegmentWriter::create(&Files::new(storage, 8), tmp.path(), 0, 4096).unwrap();
        let path = seg.state().log_path().to_path_buf();
        let (bytes, h) = batch(0, &[7; 1000]);
        seg.append(&bytes, &h).unwrap();
        assert_eq!(seg.written(), bytes.len() as u64);
        if cfg!(target_os = "linux") {
            // At least the minimum reserved past the batch (fallocate;
            // file systems without it keep the file at its log).
            let len = file_len(&path);
            assert!(
                len >= bytes.len() as u64 + MIN_PREALLOCATE || len == bytes.len() as u64,
                "{len}"
            );
        }
        let sealed = seg.persist().unwrap();
        assert!(sealed.is_sealed());
        assert_eq!(file_len(&path), bytes.len() as u64);
    }

    #[test]
    fn reopening_after_a_crash_cuts_the_reserved_tail_and_appends_after_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let files = Files::new(storage, 8);
        let mut seg = SegmentWriter::create(&files, tmp.path(), 0, 4096).unwrap();
        let path = seg.state().log_path().to_path_buf();
        let mut end = 0;
        for i in 0..3 {
            let (bytes, h) = batch(i, &[i as u8 + 1; 300]);
            seg.append(&bytes, &h).unwrap();
            end += bytes.len() as u64;
        }
        // Fault: a crash (kill -9): no trim, no marker; the file keeps
        // the zeros reserved past the log.
        if cfg!(target_os = "linux") {
            assert!(file_len(&path) > end);
        }
        drop(seg);
        let mut seen = Vec::new();
        let (mut seg, scanned) =
            SegmentWriter::open(&files, tmp.path(), 0, 4096, None, &mut |h, _| {
                seen.push(h.base_offset)
            })
            .unwrap();
        assert_eq!(scanned, ActiveFound::Scanned);
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!((seg.written(), seg.state().next_offset()), (end, 3));
        assert_eq!(file_len(&path), end);
        let (bytes, h) = batch(3, b"after");
        seg.append(&bytes, &h).unwrap();
        let seg = seg.persist().unwrap();
        let mut all = Vec::new();
        scan::for_each_header(
            &*seg.file().unwrap(),
            seg.log_path(),
            0,
            end + bytes.len() as u64,
            &mut |h, _| all.push(h.base_offset),
        )
        .unwrap();
        assert_eq!(all, [0, 1, 2, 3]);
        assert_eq!(file_len(&path), end + bytes.len() as u64);
    }
}
