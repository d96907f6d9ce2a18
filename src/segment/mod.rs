//! Segments: a partition log is a list of them, each a `.log` file of
//! batches plus its offset and time indexes, all named by the segment's
//! 20-digit base offset (`docs/FORMAT.md`). [`Segment`], from
//! [`Partition::segments`](crate::Partition::segments), is a read-only
//! handle on one: it reads its records, looks offsets and timestamps up,
//! [verifies](Segment::verify) itself into a [`SegmentReport`] and
//! [copies](Segment::copy_to) its log out for archiving.

// Layer 2. The active segment keeps its indexes in memory (they are
// rebuilt from the log after a crash anyway) and writes them out when it is
// sealed or the partition closes. Its life cycle is in types: the
// partition's writer owns its one `SegmentWriter` (`&mut self` appends,
// trim, index files; `seal` consumes it), while readers share its
// `SegmentState`, whose `Phase` says whether it is active or sealed.
// `Segment` is the public read-only handle on a `SegmentState`.
//
// A sealed segment is immutable; its files are opened and its indexes
// mapped lazily, on first use, so opening a log of many segments costs
// nothing per segment.

mod handle;
mod hole;
mod index_builder;
mod read;
mod reader;
mod scan;
pub(crate) mod txn_index;
mod verify;
mod view;
mod writer;

pub use verify::{BadBatch, IndexMismatch, SegmentIndex, SegmentReport};
pub use view::{BatchLocation, Segment, SegmentFiles, TimestampOffset};

pub(crate) use index_builder::Indexes;
pub(crate) use read::batch_error;
pub(crate) use reader::{BatchReader, Step};
pub(crate) use scan::{check_batch, scan, Mode};
pub(crate) use writer::SegmentWriter;

use crate::batch::BatchHeader;
use crate::batch::ControlType;
use crate::error::{Error, Result};
use crate::index::{
    encode_file, entries_len, entry_count, IndexBytes, IndexKind, OffsetIndex, TimeEntry, TimeIndex,
};
use crate::storage::{write_atomic, CheckedStorage, FileBudget, Storage};
use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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
        .or_else(|| name.strip_suffix(".timeindex"))
        .or_else(|| name.strip_suffix(".txnindex"))?;
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

/// How [`SegmentWriter::open`] found the active segment.
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

/// Where a segment is in its life.
#[derive(Debug)]
enum Phase {
    /// Taking appends through its [`SegmentWriter`], which keeps its
    /// indexes here, in memory, for readers to look up in (they are
    /// rebuilt from the log after a crash anyway).
    Active(Indexes),
    /// Immutable: its indexes are mapped from their files on first use and
    /// kept with its open files (see `handle`).
    Sealed,
}

/// One segment of a partition log: the state its readers share. The
/// active segment's is written through its [`SegmentWriter`] only.
#[derive(Debug)]
pub(crate) struct SegmentState {
    base_offset: u64,
    log_path: PathBuf,
    storage: Arc<dyn Storage>,
    /// The open log file and mapped indexes, under the log's budget.
    handle: Arc<handle::Handle>,
    /// Bytes written to the log file: the log's length (the active
    /// segment's file may be longer: see `SegmentWriter::allocated`).
    size: AtomicU64,
    /// Whether `size` is known: for a sealed segment found at open, only
    /// once its file was first opened.
    sized: AtomicBool,
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
    /// Where it is in its life: active (with its indexes in memory) or
    /// sealed. Only its [`SegmentWriter`] changes it.
    phase: RwLock<Phase>,
    index_interval: u32,
}

impl SegmentState {
    fn new(
        files: &Files,
        dir: &Path,
        base_offset: u64,
        index_interval: u32,
        next_offset: u64,
        phase: Phase,
    ) -> Self {
        SegmentState {
            base_offset,
            log_path: dir.join(log_file_name(base_offset)),
            storage: files.storage.clone(),
            handle: handle::Handle::new(files.budget.clone()),
            size: AtomicU64::new(0),
            // The active segment's size is what its writer wrote; a sealed
            // one's is learned when its file is first opened.
            sized: AtomicBool::new(matches!(phase, Phase::Active(_))),
            compacted: false,
            visible: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            next_offset: AtomicU64::new(next_offset),
            phase: RwLock::new(phase),
            index_interval,
        }
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
        SegmentState::new(files, dir, base, index_interval, next_offset, Phase::Sealed)
    }

    /// An active segment based at `base`, with empty in-memory indexes
    /// (its writer fills them as it appends or scans).
    fn active(files: &Files, dir: &Path, base: u64, index_interval: u32) -> Self {
        let indexes = Phase::Active(Indexes::new());
        SegmentState::new(files, dir, base, index_interval, base, indexes)
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

    /// The aborted-transaction index's path (see `txn_index`).
    pub fn txn_index_path(&self) -> PathBuf {
        self.log_path.with_extension(txn_index::EXTENSION)
    }

    /// The transactions aborted by markers in this segment, as its
    /// `.txnindex` says (none without one); `None` if the file is damaged.
    pub fn read_txn_index(&self) -> Result<Option<Vec<crate::batch::AbortedTxn>>> {
        let path = self.txn_index_path();
        let Some(file) = self.storage.open_if_exists(&path)? else {
            return Ok(Some(Vec::new()));
        };
        // At most one marker per offset: a longer file is damaged, and is
        // not read into memory.
        let most = (self.next_offset() - self.base_offset).saturating_mul(txn_index::ENTRY as u64);
        if file.stat()? > most {
            return Ok(None);
        }
        let bytes =
            crate::storage::read_all(file.raw()).map_err(|e| Error::io("read", path.clone(), e))?;
        Ok(txn_index::decode(
            &bytes,
            self.base_offset,
            self.next_offset(),
        ))
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
        self.storage.stat(&self.log_path)
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
    /// under the phase's lock); of a sealed one, its log is opened to learn
    /// its size.
    pub fn listing(&self) -> Result<Listing> {
        {
            let phase = self.phase.read();
            if let Phase::Active(idx) = &*phase {
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

    /// Whether it is sealed: immutable, its writer gone.
    pub fn is_sealed(&self) -> bool {
        matches!(*self.phase.read(), Phase::Sealed)
    }

    /// Lets readers see the first `len` bytes.
    pub fn publish(&self, len: u64) {
        self.visible.fetch_max(len, Ordering::AcqRel);
    }

    /// Makes the log file durable, as far as it is written now. Called by
    /// the writer, and by whichever appender leads a group commit (outside
    /// the writer's lock: see `partition::sync`), which is why it is not
    /// the writer's alone.
    pub fn sync(&self) -> Result<()> {
        let size = self.size.load(Ordering::Acquire);
        self.log_file()?.fdatasync()?;
        self.synced.fetch_max(size, Ordering::AcqRel);
        Ok(())
    }

    /// Bytes of the log the last successful sync covered.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// Runs `f` on the indexes: the active segment's, in memory, or a
    /// sealed segment's, mapped (and loaded first if they are not).
    pub fn with_indexes<R>(&self, f: impl FnOnce(&Indexes) -> R) -> Result<R> {
        {
            let phase = self.phase.read();
            if let Phase::Active(idx) = &*phase {
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
        let _why = match (offset, time) {
            (Some(offset), Some(time)) => {
                if OffsetIndex::is_sane(&offset, len, limit)
                    && time_index_is_sane(&time, len, limit)
                {
                    return Ok(Indexes::loaded(offset, time, 0));
                }
                "an entry points outside the segment or out of order"
            }
            _ => "missing, or failing its trailer check",
        };
        crate::observe::warning!(
            path = %self.log_path.display(),
            reason = %_why,
            "index rebuilt: a sealed segment's index files were rebuilt from its log"
        );
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
    /// only (see [`scan::for_each_header`]), and the marker of each control
    /// batch.
    pub fn for_each_header(
        &self,
        f: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
    ) -> Result<()> {
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
        self.storage.remove(&self.log_path)?;
        for path in [
            self.index_path(),
            self.time_index_path(),
            self.txn_index_path(),
        ] {
            self.storage.remove_if_exists(&path)?;
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
            "00000000000000000042.txnindex",
        ] {
            assert_eq!(parse_segment_file_name(name), Some(42), "{name}");
        }
        for name in ["42.index", "00000000000000000042.txt", "x.timeindex"] {
            assert_eq!(parse_segment_file_name(name), None, "{name}");
        }
    }
}
