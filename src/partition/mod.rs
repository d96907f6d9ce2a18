//! The partition log ([`Partition`]), an ordered list of segments, and
//! its settings ([`PartitionConfig`], [`SyncPolicy`]).
//!
//! One writer at a time appends to the active segment (a mutex), while any
//! number of readers read from a snapshot of the segment list and never
//! wait for an fsync. Under [`SyncPolicy::Always`] appenders wait for
//! durability outside the writer lock and share fsyncs (group commit); a
//! record becomes visible to readers (below the high watermark) only once
//! it is durable, so no reader ever sees a record a power loss could take
//! back.

mod append;
mod close;
mod compaction;
#[cfg(test)]
mod compaction_tests;
mod files;
#[cfg(test)]
mod idempotence_model_tests;
#[cfg(test)]
mod idempotence_tests;
pub(crate) mod log_start;
pub(crate) mod marker;
#[cfg(test)]
mod model_tests;
mod open;
#[cfg(test)]
mod policy_tests;
pub(crate) mod producer_snapshot;
mod producer_state;
mod read;
mod recovery;
#[cfg(test)]
mod recovery_tests;
mod retention;
#[cfg(test)]
mod retention_tests;
pub(crate) mod signal;
mod sync;
#[cfg(test)]
mod test_support;
mod transactions;
mod wait;

pub use crate::segment::TimestampOffset;
pub use crate::settings::{CompressionType, PartitionConfig, SyncPolicy, TimestampType};
pub use compaction::{CompactionOptions, CompactionReport};
pub use recovery::PartitionHealth;
pub use retention::DeletedRecords;
pub use transactions::IsolationLevel;
pub use wait::WaitForOffset;

pub(crate) use close::Hold;
pub(crate) use files::PartitionFiles;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::segment::{Files, SegmentState, SegmentWriter};
use crate::storage::{DirLock, FileBudget, FsStorage, MemStorage, Storage};
use crate::test_util::Faults;
use parking_lot::{Mutex, RwLock};
use producer_snapshot::Snapshots;
use producer_state::ProducerState;
use signal::AppendSignal;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use sync::GroupCommit;
pub(crate) use sync::SyncTicket;

/// An append-only, segmented log of records with offsets `0, 1, 2, ...`:
/// Kafka's partition, on disk or in memory.
///
/// Cheap to clone (an `Arc` inside); clones share the same log and may be
/// used from many threads. Appends are serialized; reads run concurrently
/// with appends and with each other.
///
/// ```
/// use samsa_log::partition::PartitionConfig;
/// use samsa_log::{Partition, Record};
///
/// # fn main() -> samsa_log::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let p = Partition::open(dir.path(), PartitionConfig::default())?;
/// let info = p.append(&[Record::new(b"hello").key(b"k"), Record::new(b"world")])?;
/// assert_eq!((info.base_offset, info.last_offset), (0, 1));
///
/// let records = p.read(0, 1 << 20)?;
/// let values: Vec<_> = records.iter().map(|r| r.value().unwrap().to_vec()).collect();
/// assert_eq!(values, [b"hello".to_vec(), b"world".to_vec()]);
/// p.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Partition {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    config: PartitionConfig,
    /// The storage, and the budget of open files shared with the log.
    files: Files,
    /// Ordered by base offset; the last is the active segment.
    segments: RwLock<Vec<Arc<SegmentState>>>,
    writer: Mutex<Writer>,
    commit: GroupCommit,
    high_watermark: AtomicU64,
    log_end: AtomicU64,
    log_start: AtomicU64,
    closed: AtomicBool,
    /// Its topic was deleted (set before `closed`): calls get
    /// `Error::UnknownTopic`.
    deleted: AtomicBool,
    /// Why its recovery after a failed sync gave up, if it did: appends get
    /// `Error::Poisoned` until `reopen` succeeds (see `recovery`).
    poisoned: Mutex<Option<String>>,
    /// The directory's lock, for a partition opened on its own.
    lock: Mutex<Option<DirLock>>,
    /// Files in the directory samsa did not write, found at open and left.
    foreign: Vec<PathBuf>,
    /// Wakes readers waiting for records (shared by a log's partitions).
    signal: Arc<AppendSignal>,
    /// Faults a test armed on the log (feature `test-util`).
    faults: Faults,
    /// A partition of an internal topic: written by samsa only.
    internal: AtomicBool,
    /// A partition of a compacted topic: every record needs a key.
    keys_required: AtomicBool,
    /// Where record timestamps, rolls by age and interval syncs read the
    /// time: the log's clock.
    clock: Arc<dyn Clock>,
    /// Serialises what moves the log start (retention, `delete_records`).
    maintenance: Mutex<()>,
    /// The first offset of the oldest open transaction (`u64::MAX`: none),
    /// set under the writer lock: bounds the last stable offset.
    first_unstable: AtomicU64,
    /// Transactions aborted here, in marker order (see `transactions`).
    aborted: RwLock<Vec<crate::batch::AbortedTxn>>,
    /// Its metrics (feature `metrics`; nothing otherwise).
    meters: crate::meter::PartitionMeters,
}

/// What a partition shares with the rest of its log: the storage, the
/// signal that wakes consumers, the clock.
#[derive(Clone)]
pub(crate) struct PartitionEnv {
    pub storage: Arc<dyn Storage>,
    pub signal: Arc<AppendSignal>,
    pub clock: Arc<dyn Clock>,
    /// Bounds the files the log's segments keep open.
    pub budget: Arc<FileBudget>,
    /// Faults a test armed (feature `test-util`; empty otherwise).
    pub faults: Faults,
}

impl PartitionEnv {
    /// On `storage`, with a signal of its own, the system clock and a
    /// budget of [`DEFAULT_MAX_OPEN_FILES`].
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        PartitionEnv {
            storage,
            signal: Arc::default(),
            clock: Arc::new(SystemClock),
            budget: FileBudget::new(default_max_open_files()),
            faults: Faults::default(),
        }
    }
}

/// The most files a log's segments keep open by default (see
/// [`crate::log::LogBuilder::max_open_files`]): a quarter of the common soft
/// limit of 1,024 descriptors, leaving the rest to the application. Under
/// a lower limit the default is a quarter of that limit (at least 16).
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

/// [`DEFAULT_MAX_OPEN_FILES`], or a quarter of the process's soft limit of
/// descriptors if that is less (at least 16).
pub(crate) fn default_max_open_files() -> usize {
    #[cfg(target_os = "linux")]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(soft) = limit {
            let quarter = usize::try_from(soft / 4).unwrap_or(usize::MAX);
            return quarter.clamp(16, DEFAULT_MAX_OPEN_FILES);
        }
    }
    DEFAULT_MAX_OPEN_FILES
}

/// A partition's state as read from its directory, by open or by an
/// in-process recovery.
struct Loaded {
    writer: Writer,
    segments: Vec<Arc<SegmentState>>,
    start: u64,
    aborted: Vec<crate::batch::AbortedTxn>,
}

impl Loaded {
    fn from(opened: open::Opened, storage: &dyn Storage, dir: &Path, now: i64) -> Result<Loaded> {
        let active = opened.active;
        let next = active.state().next_offset();
        // The checkpoint may lie past the end after a power cut took the
        // log's tail under a weaker sync policy: the start never passes
        // the end, and the checkpoint is moved back durably before
        // anything is appended, or the records appended next at those
        // offsets would fall below it at the next open.
        if opened.checkpointed_start.is_some_and(|c| c > next) {
            log_start::write(storage, dir, next)?;
        }
        let start = opened
            .checkpointed_start
            .map_or(0, |c| c.min(next))
            .max(opened.segments[0].base_offset());
        let writer = Writer {
            active_since_ms: (active.written() > 0).then_some(now),
            active,
            next_offset: next,
            unsynced_bytes: 0,
            last_sync_ms: now,
            last_append_ms: i64::MIN,
            producers: opened.producers,
            snapshots: opened.snapshots,
            marker: opened.marker,
        };
        Ok(Loaded {
            writer,
            segments: opened.segments,
            start,
            aborted: opened.aborted,
        })
    }
}

/// State only the writer touches.
struct Writer {
    /// The active segment's one writer (its state is the last of
    /// `Shared::segments`).
    active: SegmentWriter,
    next_offset: u64,
    unsynced_bytes: u64,
    last_sync_ms: i64,
    /// Wall-clock time of the first append to the active segment in this
    /// process, for `segment_ms` (record timestamps can be anything).
    active_since_ms: Option<i64>,
    /// The last log-append time given, so the next is never earlier.
    last_append_ms: i64,
    /// Idempotent producers' epochs and recent batches, as of `next_offset`.
    producers: ProducerState,
    /// The producer state snapshot files on disk.
    snapshots: Snapshots,
    /// The clean-shutdown marker is on disk and describes the active
    /// segment as it is (see `open::Opened::marker`): voided before the
    /// first change; while it is intact, a close has nothing to write.
    marker: bool,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first appended record.
    pub base_offset: u64,
    /// Offset of the last appended record.
    pub last_offset: u64,
    /// Largest timestamp among the appended records.
    pub max_timestamp: i64,
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partition")
            .field("dir", &self.shared.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("high_watermark", &self.high_watermark())
            .finish()
    }
}

impl Partition {
    /// Opens (creating if needed) the partition log in `dir`, recovering it
    /// if it was not closed cleanly. Takes `dir`'s lock: a second open while
    /// this one lives gets [`Error::Locked`].
    ///
    /// `dir` must be missing, empty, or a partition directory samsa made
    /// (it holds `meta.properties`; one written by samsa 0.1 is recognised
    /// and given one); anything else is [`Error::ForeignDirectory`], and
    /// nothing in it is touched. A partition directory inside a log
    /// (`<log>/topics/<topic>/<n>`) opens under the log's lock instead.
    pub fn open(dir: impl AsRef<Path>, config: PartitionConfig) -> Result<Partition> {
        Partition::open_with(Arc::new(FsStorage), dir.as_ref(), config)
    }

    /// A partition log held in memory, with the same behaviour as one on
    /// disk (sync policies are moot). Starts in microseconds.
    pub fn in_memory(config: PartitionConfig) -> Result<Partition> {
        Partition::open_with(
            Arc::new(MemStorage::default()),
            Path::new("/samsa-memory"),
            config,
        )
    }

    /// [`Self::open`] on `storage`.
    pub(crate) fn open_with(
        storage: Arc<dyn Storage>,
        dir: &Path,
        config: PartitionConfig,
    ) -> Result<Partition> {
        Partition::open_alone(&PartitionEnv::new(storage), dir, config)
    }

    /// A partition on its own (not a log's): it takes its directory, and
    /// its lock, itself.
    pub(crate) fn open_alone(
        env: &PartitionEnv,
        dir: &Path,
        config: PartitionConfig,
    ) -> Result<Partition> {
        config.validate()?;
        let lock = open::claim_alone(&*env.storage, dir)?;
        Partition::open_in(env, dir, config, Some(lock))
    }

    /// Opens the partition in `dir`, holding `lock` (`None` for a log's
    /// partition: the log holds the lock of the whole directory).
    pub(crate) fn open_in(
        env: &PartitionEnv,
        dir: &Path,
        config: PartitionConfig,
        lock: Option<DirLock>,
    ) -> Result<Partition> {
        let PartitionEnv {
            storage,
            signal,
            clock,
            budget,
            faults,
        } = env.clone();
        config.validate()?;
        let files = Files { storage, budget };
        let mut opened = open::open_dir(&files, dir, config.index_interval_bytes)?;
        let foreign = std::mem::take(&mut opened.foreign);
        let loaded = Loaded::from(opened, &*files.storage, dir, clock.now_ms())?;
        let next = loaded.writer.next_offset;
        let meters = crate::meter::PartitionMeters::new(dir);
        #[cfg(feature = "metrics")]
        {
            let mut size = 0;
            for seg in &loaded.segments {
                size += seg.size_unopened()?;
            }
            meters.opened(size, loaded.start, next);
        }
        let first_unstable = loaded
            .writer
            .producers
            .first_unstable_offset()
            .unwrap_or(u64::MAX);
        Ok(Partition {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                config,
                files,
                segments: RwLock::new(loaded.segments),
                writer: Mutex::new(loaded.writer),
                commit: GroupCommit::new(next),
                high_watermark: AtomicU64::new(next),
                log_end: AtomicU64::new(next),
                log_start: AtomicU64::new(loaded.start),
                closed: AtomicBool::new(false),
                deleted: AtomicBool::new(false),
                poisoned: Mutex::new(None),
                lock: Mutex::new(lock),
                foreign,
                signal,
                faults,
                internal: AtomicBool::new(false),
                keys_required: AtomicBool::new(false),
                clock,
                maintenance: Mutex::new(()),
                first_unstable: AtomicU64::new(first_unstable),
                aborted: RwLock::new(loaded.aborted),
                meters,
            }),
        })
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Files in the partition's directory that samsa did not write, found
    /// when it opened: left where they are, never removed.
    pub(crate) fn foreign_files(&self) -> &[PathBuf] {
        &self.shared.foreign
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &PartitionConfig {
        &self.shared.config
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.shared.log_start.load(Ordering::Acquire)
    }

    /// One past the last offset readers can see. Under
    /// [`SyncPolicy::Always`] everything below it is durable.
    pub fn high_watermark(&self) -> u64 {
        self.shared.high_watermark.load(Ordering::Acquire)
    }

    /// One past the last offset written (acknowledged or not yet).
    pub fn log_end_offset(&self) -> u64 {
        self.shared.log_end.load(Ordering::Acquire)
    }

    /// The error for a call on a closed partition: `Closed`, or
    /// `UnknownTopic` once its topic was deleted.
    fn closed_error(&self) -> Error {
        if self.shared.deleted.load(Ordering::Acquire) {
            return Error::UnknownTopic {
                name: self.topic_name(),
            };
        }
        Error::Closed {
            path: self.shared.dir.clone(),
        }
    }

    fn ensure_open(&self) -> Result<()> {
        let s = &*self.shared;
        if s.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        if let Some(cause) = &*s.poisoned.lock() {
            return Err(Error::Poisoned {
                path: s.dir.clone(),
                cause: cause.clone(),
            });
        }
        Ok(())
    }

    /// Now, by the partition's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Marks the partition as one of an internal topic's.
    pub(crate) fn mark_internal(&self) {
        self.shared.internal.store(true, Ordering::Relaxed);
    }

    /// Marks the partition as one of a compacted topic's: appends of
    /// records without a key are refused.
    pub(crate) fn mark_compacted(&self) {
        self.set_compacted(true);
    }

    /// Whether this is a compacted topic's partition (its records need
    /// keys), as the topic's cleanup policy now says.
    pub(crate) fn set_compacted(&self, compacted: bool) {
        self.shared
            .keys_required
            .store(compacted, Ordering::Relaxed);
    }

    /// `Error::KeyRequired` if this is a compacted topic's partition and a
    /// record has no key.
    pub(crate) fn check_keys(&self, records: &[Record<'_>]) -> Result<()> {
        if self.shared.keys_required.load(Ordering::Relaxed)
            && records.iter().any(|r| r.key.is_none())
        {
            return Err(Error::KeyRequired {
                topic: self.topic_name(),
            });
        }
        Ok(())
    }

    /// The name of the topic directory this partition lies in.
    fn topic_name(&self) -> String {
        let topic = self.shared.dir.parent().and_then(Path::file_name);
        topic.map_or_else(String::new, |t| t.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PartitionConfig {
        PartitionConfig::default()
            .segment_bytes(4096)
            .index_interval_bytes(256)
    }

    #[test]
    fn appends_roll_and_read_across_segments() {
        let p = Partition::in_memory(small()).unwrap();
        let v = [7u8; 300];
        for i in 0..50u64 {
            let info = p
                .append(&[Record::new(&v[..]).timestamp(i as i64)])
                .unwrap();
            assert_eq!(info.base_offset, i);
        }
        let segs = p.segments().unwrap();
        assert!(segs.len() > 3, "{segs:?}");
        assert!(segs[..segs.len() - 1].iter().all(|s| !s.is_active()));
        let mut at = 0;
        while at < 50 {
            let r = p.read(at, 1000).unwrap();
            assert!(!r.is_empty());
            for rec in &r {
                assert_eq!(rec.offset(), at);
                at += 1;
            }
        }
        assert!(p.read(50, 100).unwrap().is_empty());
        assert!(matches!(
            p.read(51, 100),
            Err(Error::OffsetOutOfRange {
                requested: 51,
                start: 0,
                end: 50
            })
        ));
    }

    #[test]
    fn read_in_the_middle_of_a_batch_starts_at_the_offset() {
        let p = Partition::in_memory(PartitionConfig::default()).unwrap();
        let recs: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
        let batch: Vec<Record<'_>> = recs.iter().map(Record::new).collect();
        p.append(&batch).unwrap();
        let r = p.read(4, 1 << 20).unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(r.iter().next().unwrap().value(), Some(&b"v4"[..]));
        assert_eq!(r.next_offset(), 10);
    }

    #[test]
    fn offset_for_timestamp_finds_the_earliest_at_or_after() {
        let p = Partition::in_memory(small()).unwrap();
        let v = [1u8; 200];
        // Timestamps not monotonic: 0, 10, 5, 20, 15, ...
        for i in 0..60i64 {
            let ts = if i % 2 == 0 { i * 5 } else { i * 5 - 10 };
            p.append(&[Record::new(&v[..]).timestamp(ts)]).unwrap();
        }
        let all: Vec<(u64, i64)> = {
            let mut out = Vec::new();
            let mut at = 0;
            while at < p.high_watermark() {
                let r = p.read(at, 1 << 20).unwrap();
                out.extend(r.iter().map(|r| (r.offset(), r.timestamp())));
                at = r.next_offset();
            }
            out
        };
        for target in -5..320 {
            let want = all.iter().find(|(_, t)| *t >= target).copied();
            let got = p
                .offset_for_timestamp(target)
                .unwrap()
                .map(|t| (t.offset, t.timestamp));
            assert_eq!(got, want, "target {target}");
        }
    }

    #[test]
    fn oversize_record_fails_and_writes_nothing() {
        let p = Partition::in_memory(PartitionConfig::default().max_record_bytes(100)).unwrap();
        let big = [0u8; 101];
        let err = p
            .append(&[Record::new(b"small"), Record::new(&big[..])])
            .unwrap_err();
        assert!(
            matches!(err, Error::RecordTooLarge { max: 100, .. }),
            "{err}"
        );
        assert_eq!(p.high_watermark(), 0);
        assert_eq!(p.segments().unwrap()[0].size_bytes(), 0);
        assert!(matches!(p.append(&[]), Err(Error::EmptyAppend)));
    }

    #[test]
    fn closed_partition_refuses_work_and_releases_the_lock() {
        let storage: Arc<dyn Storage> = Arc::new(MemStorage::default());
        let dir = Path::new("/p");
        let p = Partition::open_with(storage.clone(), dir, PartitionConfig::default()).unwrap();
        assert!(matches!(
            Partition::open_with(storage.clone(), dir, PartitionConfig::default()),
            Err(Error::Locked { .. })
        ));
        p.append(&[Record::new(b"x")]).unwrap();
        p.close().unwrap();
        assert!(matches!(
            p.append(&[Record::new(b"y")]),
            Err(Error::Closed { .. })
        ));
        assert!(matches!(p.read(0, 10), Err(Error::Closed { .. })));
        let again = Partition::open_with(storage, dir, PartitionConfig::default()).unwrap();
        assert_eq!(again.high_watermark(), 1);
    }
}
