//! What a segment keeps open: its log file and, once sealed, its mapped
//! indexes and (on disk) its mapped log, counted against the log's descriptor budget
//! (`storage::budget`). Opened on first use, closed again when the budget
//! needs room (the next use opens them again by name), kept for good
//! ("pinned") once the files are about to be removed or replaced while a
//! reader may hold the segment: that reader keeps reading the old files,
//! which can no longer be opened by name.

use super::{Indexes, SegmentState};
use crate::error::Result;
use crate::storage::{
    CheckedStorage, Evictable, FileBudget, NamedFile, SharedBytes, Slot, StorageFile,
};
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// A segment's open files.
pub(crate) struct Handle {
    budget: Arc<FileBudget>,
    resident: Mutex<Option<Resident>>,
    /// Used since the budget's last sweep.
    used: AtomicBool,
    /// Never closed by the budget (see the module docs).
    pinned: AtomicBool,
}

/// What is open.
struct Resident {
    file: Arc<dyn StorageFile>,
    /// A sealed segment's indexes, mapped (or rebuilt in memory); `None`
    /// until first needed.
    maps: Option<Arc<Indexes>>,
    /// A sealed segment's log, mapped for reads that borrow instead of
    /// copying; `None` until first read, or where the storage maps nothing.
    log_map: Option<SharedBytes>,
    _slot: Slot,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("open", &self.resident.lock().is_some())
            .field("pinned", &self.pinned.load(Ordering::Relaxed))
            .finish()
    }
}

impl Handle {
    pub fn new(budget: Arc<FileBudget>) -> Arc<Handle> {
        Arc::new(Handle {
            budget,
            resident: Mutex::new(None),
            used: AtomicBool::new(false),
            pinned: AtomicBool::new(false),
        })
    }
}

impl Evictable for Handle {
    fn evict(&self) -> bool {
        let mut r = self.resident.lock();
        if self.pinned.load(Ordering::Acquire) {
            return false;
        }
        // Dropping it closes the file and unmaps the indexes once no call
        // still uses them (they hold their own references).
        r.take().is_some()
    }

    fn take_used(&self) -> bool {
        self.used.swap(false, Ordering::Relaxed)
    }
}

impl SegmentState {
    /// The log file: open already, or opened now (by name, read-write),
    /// which may close other segments' files to stay within the budget.
    /// The first open of a sealed segment learns its size.
    pub fn file(&self) -> Result<Arc<dyn StorageFile>> {
        let h = &self.handle;
        h.used.store(true, Ordering::Relaxed);
        if let Some(r) = &*h.resident.lock() {
            return Ok(r.file.clone());
        }
        let file = match self.storage.open_file(&self.log_path) {
            Ok(f) => f,
            Err(e) => {
                // Deleted meanwhile (retention, compaction): it was pinned
                // first, open, and that copy serves this reader too.
                if let Some(r) = &*h.resident.lock() {
                    return Ok(r.file.clone());
                }
                return Err(e);
            }
        };
        if !self.sized.load(Ordering::Acquire) {
            // Only a sealed segment gets here, and its length never
            // changes: every racing opener stores the same value.
            let len = file.stat()?;
            self.size.store(len, Ordering::Release);
            self.visible.store(len, Ordering::Release);
            self.sized.store(true, Ordering::Release);
        }
        Ok(self.keep_open(file.into_raw()))
    }

    /// [`file`](Self::file), named by the log's path in its errors.
    pub fn log_file(&self) -> Result<NamedFile<'_>> {
        Ok(NamedFile::new(self.file()?, &self.log_path))
    }

    /// Keeps `file` (this segment's log, just opened) open under the
    /// budget, or the one another caller kept meanwhile; returns it.
    pub(super) fn keep_open(&self, file: Arc<dyn StorageFile>) -> Arc<dyn StorageFile> {
        let h = &self.handle;
        // Taken before the lock below: making room closes other segments'
        // files, which takes their locks.
        let weak = Arc::downgrade(h) as Weak<dyn Evictable>;
        let slot = h.budget.acquire(weak);
        let mut r = h.resident.lock();
        if let Some(kept) = &*r {
            return kept.file.clone();
        }
        *r = Some(Resident {
            file: file.clone(),
            maps: None,
            log_map: None,
            _slot: slot,
        });
        file
    }

    /// A sealed segment's mapped indexes, loaded (with `load`) if they are
    /// not, and kept with the open file.
    pub(super) fn mapped_indexes(
        &self,
        load: impl FnOnce() -> Result<Indexes>,
    ) -> Result<Arc<Indexes>> {
        let h = &self.handle;
        h.used.store(true, Ordering::Relaxed);
        if let Some(Resident { maps: Some(m), .. }) = &*h.resident.lock() {
            return Ok(m.clone());
        }
        let loaded = Arc::new(load()?);
        if let Some(r) = &mut *h.resident.lock() {
            // Loaded by another caller meanwhile (a pin): those are kept.
            return Ok(r.maps.get_or_insert(loaded).clone());
        }
        // Closed again meanwhile: used this once, loaded again next time.
        Ok(loaded)
    }

    /// A sealed segment's log mapped whole, kept with the open file: `None`
    /// for the active segment, where the storage maps nothing (in memory,
    /// read-only beside an owner), or when the map fails (address space,
    /// `vm.max_map_count`): reads then copy, and the next one maps again.
    pub(super) fn log_map(&self) -> Option<SharedBytes> {
        if !self.is_sealed() {
            return None;
        }
        let file = self.file().ok()?;
        if let Some(Resident {
            log_map: Some(m), ..
        }) = &*self.handle.resident.lock()
        {
            return Some(m.clone());
        }
        let map = match file.map_sealed() {
            Ok(map) => map?,
            Err(_e) => {
                crate::observe::debug!(
                    path = %self.log_path.display(),
                    error = %_e,
                    "segment read without a map: mapping its log failed"
                );
                return None;
            }
        };
        if let Some(r) = &mut *self.handle.resident.lock() {
            // The same open file: closed and opened again meanwhile, it
            // would be another map of the same bytes, which is as good.
            return Some(r.log_map.get_or_insert(map).clone());
        }
        Some(map)
    }

    /// Closes its files now (the partition is closed or deleted), pinned
    /// or not. A call using them keeps its own copy until it is done.
    pub fn close_files(&self) {
        self.handle.resident.lock().take();
    }

    /// Whether its files are kept open for good: they are about to be (or
    /// were) removed or replaced, so their names no longer lead to them.
    pub fn is_pinned(&self) -> bool {
        self.handle.pinned.load(Ordering::Acquire)
    }

    /// Keeps the segment's files open for good (see the module docs),
    /// opening them (and mapping the indexes of a sealed one) first.
    pub fn pin(&self) -> Result<()> {
        {
            let _r = self.handle.resident.lock();
            self.handle.pinned.store(true, Ordering::Release);
        }
        self.file()?;
        // A segment whose index cannot be loaded is read by scanning its
        // log, which the open handle still allows.
        let _ = self.with_indexes(|_| ());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, BatchHeader, ProducerFields};
    use crate::record::Record;
    use crate::segment::{Files, SegmentWriter};
    use crate::storage::{FsStorage, MemStorage, Storage};
    use std::path::Path;

    /// Segments of `n` batches of 10 records each, all sealed but the last.
    fn segments(files: &Files, dir: &Path, count: u64, n: u64) -> Vec<Arc<SegmentState>> {
        files.storage.create_dir_all(dir).unwrap();
        (0..count)
            .map(|i| {
                let base = i * n * 10;
                let mut w = SegmentWriter::create(files, dir, base, 4096).unwrap();
                for b in 0..n {
                    let mut builder = BatchBuilder::new(1 << 20, 0);
                    for r in 0..10 {
                        let v = format!("record {}", base + b * 10 + r);
                        builder.push(&Record::new(v.as_bytes()), 1).unwrap();
                    }
                    let bytes = builder
                        .finish(ProducerFields::NONE)
                        .into_bytes_at(base + b * 10);
                    let h = BatchHeader::decode_from(&bytes).unwrap();
                    w.append(&bytes, &h).unwrap();
                    w.state().publish(w.written());
                }
                if i + 1 == count {
                    w.state().clone()
                } else {
                    w.persist().unwrap()
                }
            })
            .collect()
    }

    fn values(r: &crate::batch::Records) -> Vec<String> {
        r.iter()
            .map(|r| String::from_utf8(r.value().unwrap().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn sealed_segments_on_disk_are_read_through_their_map_which_outlives_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        // Room for one open segment: every read below closes another's.
        let files = Files::new(storage, 1);
        let segs = segments(&files, tmp.path(), 3, 4);
        let first = segs[0]
            .read(5, 1 << 20, u64::MAX, 1 << 20)
            .unwrap()
            .unwrap();
        assert!(
            first.is_borrowed(),
            "a sealed segment's read borrows its map"
        );
        assert_eq!(first.len(), 35);
        assert_eq!(values(&first)[0], "record 5");
        // The active segment is copied: it still grows, and a failed sync
        // may cut it back.
        let last = segs[2]
            .read(80, 1 << 20, u64::MAX, 1 << 20)
            .unwrap()
            .unwrap();
        assert!(!last.is_borrowed());
        assert_eq!(values(&last)[0], "record 80");
        // Closed by the budget and removed: the map a read holds stays.
        assert!(segs[0].handle.resident.lock().is_none());
        std::fs::remove_file(segs[0].log_path()).unwrap();
        let expected: Vec<String> = (5..40).map(|i| format!("record {i}")).collect();
        assert_eq!(values(&first), expected);
        // The next read of a closed segment maps it again.
        let second = segs[1].read(40, 100, u64::MAX, 1 << 20).unwrap().unwrap();
        assert!(second.is_borrowed());
        assert_eq!(values(&second)[..2], ["record 40", "record 41"]);
    }

    #[test]
    fn in_memory_sealed_segments_are_copied() {
        let files = Files::new(Arc::new(MemStorage::default()), 4);
        let segs = segments(&files, Path::new("/p"), 2, 2);
        let r = segs[0]
            .read(0, 1 << 20, u64::MAX, 1 << 20)
            .unwrap()
            .unwrap();
        assert!(!r.is_borrowed());
        assert_eq!(values(&r).len(), 20);
    }

    #[test]
    fn segments_stay_within_the_budget() {
        let files = Files::new(Arc::new(MemStorage::default()), 4);
        files.storage.create_dir_all(Path::new("/p")).unwrap();
        let segs: Vec<Arc<SegmentState>> = (0..10)
            .map(|i| {
                let w = SegmentWriter::create(&files, Path::new("/p"), i * 10, 4096).unwrap();
                w.state().clone()
            })
            .collect();
        assert!(files.budget.open() <= 4, "{}", files.budget.open());
        let open = segs
            .iter()
            .filter(|s| s.handle.resident.lock().is_some())
            .count();
        assert_eq!(open, files.budget.open());
        for s in &segs {
            s.file().unwrap();
            assert!(files.budget.open() <= 4);
        }
    }
}
