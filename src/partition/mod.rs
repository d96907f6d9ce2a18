//! Layer 3: the partition log, an ordered list of segments.
//!
//! One writer at a time appends to the active segment (a mutex), while any
//! number of readers read from a snapshot of the segment list and never
//! wait for an fsync. Under [`SyncPolicy::Always`] appenders wait for
//! durability outside the writer lock and share fsyncs (group commit); a
//! record becomes visible to readers (below the high watermark) only once
//! it is durable, so no reader ever sees a record a power loss could take
//! back.

mod compaction;
#[cfg(test)]
mod compaction_tests;
mod config;
mod files;
#[cfg(test)]
mod idempotence_model_tests;
#[cfg(test)]
mod idempotence_tests;
mod log_start;
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

pub use compaction::{Compacted, CompactionOptions};
pub use config::{PartitionConfig, SyncPolicy, TimestampType};
pub use recovery::PartitionHealth;
pub use retention::Deleted;

pub(crate) use files::PartitionFiles;

use crate::batch::{BatchBuilder, BatchHeader, EncodedBatch, ProducerFields};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::segment::{Files, Segment};
use crate::storage::{DirLock, FileBudget, FsStorage, MemStorage, Storage};
use marker::CleanShutdown;
use parking_lot::{Mutex, RwLock};
use producer_snapshot::Snapshots;
use producer_state::{ProducerState, Verdict};
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
/// use samsa::{Partition, PartitionConfig, Record};
///
/// # fn main() -> samsa::Result<()> {
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
    segments: RwLock<Vec<Arc<Segment>>>,
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
    /// A partition of an internal topic: written by samsa only.
    internal: AtomicBool,
    /// A partition of a compacted topic: every record needs a key.
    keys_required: AtomicBool,
    /// Where record timestamps, rolls by age and interval syncs read the
    /// time: the log's clock.
    clock: Arc<dyn Clock>,
    /// Serialises what moves the log start (retention, `delete_records`).
    maintenance: Mutex<()>,
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
        }
    }
}

/// The most files a log's segments keep open by default (see
/// [`crate::LogBuilder::max_open_files`]): a quarter of the common soft
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
    segments: Vec<Arc<Segment>>,
    start: u64,
}

impl Loaded {
    fn from(opened: open::Opened, storage: &dyn Storage, dir: &Path, now: i64) -> Result<Loaded> {
        let active = opened
            .segments
            .last()
            .expect("open_dir returns a segment")
            .clone();
        let next = active.next_offset();
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
        })
    }
}

/// State only the writer touches.
struct Writer {
    active: Arc<Segment>,
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
    /// segment as it is (see `open::Opened::marker`): removed before the
    /// first change; while it is there, a close has nothing to write.
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

/// The answer of [`Partition::offset_for_timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The earliest offset whose record has a timestamp `>=` the target.
    pub offset: u64,
    /// That record's timestamp.
    pub timestamp: i64,
}

/// A snapshot of one segment, as [`Partition::segments`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Offset of the segment's first record; also its file name.
    pub base_offset: u64,
    /// The offset after its last record (for a sealed segment not read
    /// since open: the next segment's base offset).
    pub next_offset: u64,
    /// Bytes in its log file.
    pub size_bytes: u64,
    /// Whether it is sealed (immutable) or the active segment.
    pub sealed: bool,
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
        } = env.clone();
        config.validate()?;
        let files = Files { storage, budget };
        let mut opened = open::open_dir(&files, dir, config.index_interval_bytes)?;
        let foreign = std::mem::take(&mut opened.foreign);
        let loaded = Loaded::from(opened, &*files.storage, dir, clock.now_ms())?;
        let next = loaded.writer.next_offset;
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
                internal: AtomicBool::new(false),
                keys_required: AtomicBool::new(false),
                clock,
                maintenance: Mutex::new(()),
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

    /// Appends `records` as one batch and returns their offsets once the
    /// sync policy is met. A record over `max_record_bytes` fails the whole
    /// append with [`Error::RecordTooLarge`], and nothing is written.
    ///
    /// The partitions of internal topics (`__consumer_offsets`) are written
    /// by samsa only: appending to one is [`Error::InvalidTopicName`].
    pub fn append(&self, records: &[Record<'_>]) -> Result<AppendInfo> {
        if self.shared.internal.load(Ordering::Relaxed) {
            return Err(Error::InvalidTopicName {
                name: self.topic_name(),
                reason: "internal topics are written by samsa only",
            });
        }
        self.check_keys(records)?;
        self.append_records(records)
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
        self.shared.keys_required.store(true, Ordering::Relaxed);
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

    /// [`Self::append`] without the internal-topic check: samsa's own
    /// writes to its internal topics.
    pub(crate) fn append_records(&self, records: &[Record<'_>]) -> Result<AppendInfo> {
        if records.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let now = self.now_ms();
        // Room for as many records as the first with its framing: the
        // batch buffer is allocated once when records are alike (the
        // usual batch), and grows by doubling when they are not. A pass
        // over every record to size it exactly cost more than it saved.
        let estimate = records
            .len()
            .saturating_mul(estimated_size(&records[0]))
            .min(self.shared.config.segment_bytes as usize);
        let mut builder = BatchBuilder::new(self.shared.config.max_record_bytes as usize, estimate);
        for r in records {
            builder.push(r, now)?;
        }
        self.append_encoded(builder.finish(ProducerFields::NONE), now)
    }

    /// Appends one batch encoded by a [`BatchBuilder`]; the log assigns its
    /// base offset.
    ///
    /// A batch with a producer id (`>= 0`) is checked against the
    /// partition's producer state first, as Kafka's log does: a retry of one
    /// of the producer's last five batches is not written again, and the
    /// answer is the original append's; an older epoch is
    /// [`Error::ProducerFenced`]; a batch that does not continue the
    /// producer's sequence is [`Error::OutOfOrderSequence`]. Neither error
    /// writes anything.
    pub(crate) fn append_encoded(&self, mut batch: EncodedBatch, now: i64) -> Result<AppendInfo> {
        let (info, sync) = self.write_encoded(&mut batch, now)?;
        if let Some(target) = sync {
            self.sync_through(target)?;
        }
        Ok(info)
    }

    /// The first half of [`Self::append_encoded`]: writes the batch (or
    /// finds it a duplicate) and returns where it landed, plus the offset
    /// the caller must then pass to [`Self::sync_through`] before the append
    /// counts as done under the sync policy, if any. A producer writes its
    /// next batch while the previous one syncs, so concurrent senders share
    /// fsyncs. The batch is borrowed, so the very same batch (same producer
    /// sequence) can be retried after an error.
    pub(crate) fn write_encoded(
        &self,
        batch: &mut EncodedBatch,
        now: i64,
    ) -> Result<(AppendInfo, Option<SyncTicket>)> {
        let s = &*self.shared;
        let len = batch.as_bytes().len();
        let mut h = BatchHeader::decode_from(batch.as_bytes())
            .map_err(|e| Error::InvalidConfig(format!("encoded batch is malformed: {e}")))?;
        if len as u64 > s.config.segment_bytes {
            return Err(Error::BatchTooLarge {
                size: len,
                max: s.config.segment_bytes,
            });
        }
        self.recover_if_failed()?;
        let mut w = s.writer.lock();
        self.ensure_open()?;
        if let Some(failure) = s.commit.failure() {
            // Failed again since the recovery above: the next call recovers.
            return Err(failure);
        }
        self.take_marker(&mut w)?;
        if let Verdict::Duplicate(original) = w.producers.check(&h)? {
            // The original may still be waiting for its sync: answer a
            // retry no sooner than the original append would have been.
            let sync = (s.config.sync == SyncPolicy::Always)
                .then(|| s.commit.ticket(original.last_offset + 1));
            return Ok((original, sync));
        }
        if self.should_roll(&w, &h, len, now) {
            self.roll(&mut w)?;
        }
        if s.config.timestamp_type == TimestampType::LogAppendTime {
            // Stamped under the writer lock, so append times never go
            // backwards along the offsets.
            let ts = s.clock.now_ms().max(w.last_append_ms);
            w.last_append_ms = ts;
            batch.set_log_append_time(ts);
            h.base_timestamp = ts;
            h.max_timestamp = ts;
        }
        let base = w.next_offset;
        batch.assign_base_offset(base);
        h.base_offset = base;
        w.active.append(batch.as_bytes(), &h)?;
        w.producers.record(&h);
        let next = h.next_offset();
        w.next_offset = next;
        w.unsynced_bytes += len as u64;
        w.active_since_ms.get_or_insert(now);
        s.log_end.store(next, Ordering::Release);
        let sync = match s.config.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval { ms, bytes } => {
                self.publish(&w);
                (bytes > 0 && w.unsynced_bytes >= bytes)
                    || (ms > 0 && now - w.last_sync_ms >= ms as i64)
            }
            SyncPolicy::Os => {
                self.publish(&w);
                false
            }
        };
        let ticket = sync.then(|| s.commit.ticket(next));
        drop(w);
        let info = AppendInfo {
            base_offset: base,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
        };
        Ok((info, ticket))
    }

    /// Where producer `producer_id` left this partition: its epoch and the
    /// next sequence number it should use.
    pub(crate) fn resume_producer(&self, producer_id: i64) -> (i16, i32) {
        self.shared.writer.lock().producers.resume(producer_id)
    }

    /// Lets readers see everything written so far.
    fn publish(&self, w: &Writer) {
        w.active.publish(w.active.written());
        self.advance_high_watermark(w.next_offset);
    }

    /// Moves the high watermark to `next` (never back) and wakes readers
    /// waiting for records.
    fn advance_high_watermark(&self, next: u64) {
        if self.shared.high_watermark.fetch_max(next, Ordering::AcqRel) < next {
            self.shared.signal.notify();
        }
    }

    fn should_roll(&self, w: &Writer, h: &BatchHeader, len: usize, now: i64) -> bool {
        let seg = &w.active;
        let size = seg.written();
        if size == 0 {
            return false;
        }
        let c = &self.shared.config;
        let last_relative = w.next_offset + u64::from(h.last_offset_delta) - seg.base_offset();
        size + len as u64 > c.segment_bytes
            || last_relative > u64::from(u32::MAX)
            || w.active_since_ms
                .is_some_and(|t| now.saturating_sub(t) >= c.segment_ms as i64)
            || seg
                .active_indexes()
                .as_ref()
                .is_none_or(|i| i.is_full(c.index_max_bytes as usize))
    }

    /// Seals the active segment (indexes written, log synced) and starts a
    /// new one. Every segment but the last is therefore durable, which is
    /// why recovery scans only the last.
    ///
    /// A failed write (an index file, the new segment's file) changes
    /// nothing the writer relies on: the segment stays active, and the
    /// next append tries the roll again. A failed sync fails the partition
    /// (see `recovery`): what reached the disk is then unknown.
    ///
    /// In between, it snapshots the producer state as of the new segment's
    /// base offset, as Kafka does at roll, so a recovery reads the headers
    /// of the active segment only.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        let s = &*self.shared;
        w.active.write_indexes()?;
        self.synced(w.active.trim_and_sync())?;
        self.publish(w);
        s.commit.mark_durable(w.next_offset);
        self.snapshot_producers(w);
        let seg = Segment::create(
            &s.files,
            &s.dir,
            w.next_offset,
            s.config.index_interval_bytes,
        )?;
        if s.config.sync != SyncPolicy::Os {
            self.synced(
                s.files
                    .storage
                    .sync_dir(&s.dir)
                    .map_err(|e| Error::io("fsync directory", &s.dir, e)),
            )?;
        }
        w.active.seal();
        let seg = Arc::new(seg);
        s.segments.write().push(seg.clone());
        w.active = seg;
        w.active_since_ms = None;
        Ok(())
    }

    /// Passes a sync's result on, failing the partition if it failed.
    fn synced<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.shared.commit.fail(e);
        }
        result
    }

    /// Waits until every offset below the ticket's is durable, leading a
    /// sync if none is running (group commit).
    pub(crate) fn sync_through(&self, ticket: SyncTicket) -> Result<()> {
        let s = &*self.shared;
        s.commit.wait(ticket, || {
            let (seg, size, next) = {
                let mut w = s.writer.lock();
                w.unsynced_bytes = 0;
                w.last_sync_ms = s.clock.now_ms();
                (w.active.clone(), w.active.written(), w.next_offset)
            };
            seg.sync()?;
            seg.publish(size);
            self.advance_high_watermark(next);
            Ok(next)
        })
    }

    /// Makes everything appended so far durable, whatever the sync policy.
    /// A partition whose sync failed recovers first (see
    /// [`Partition::reopen`]).
    pub fn flush(&self) -> Result<()> {
        self.ensure_open()?;
        self.recover_if_failed()?;
        let ticket = {
            let _w = self.shared.writer.lock();
            self.shared.commit.ticket(self.log_end_offset())
        };
        self.sync_through(ticket)
    }

    /// Voids the clean-shutdown marker (durably), if it is still intact:
    /// the active segment is about to change.
    fn take_marker(&self, w: &mut Writer) -> Result<()> {
        if w.marker {
            let s = &*self.shared;
            open::void_marker(&*s.files.storage, &s.dir)?;
            w.marker = false;
        }
        Ok(())
    }

    /// Writes a snapshot of the producer state as of the log end (at a
    /// roll; a close puts it in the marker). It is derived data (open can
    /// replay the log instead), so a failure to write it is not an error,
    /// as for a rebuilt index.
    fn snapshot_producers(&self, w: &mut Writer) {
        let s = &*self.shared;
        let _ = w
            .snapshots
            .write(&*s.files.storage, &s.dir, w.next_offset, &w.producers);
    }

    /// Syncs what is not synced yet, writes the active segment's indexes, a
    /// snapshot of the producer state and the clean-shutdown marker (so the
    /// next open skips recovery), and releases the directory lock and every
    /// open file. A partition not changed since it was opened has nothing
    /// to write: its close costs no I/O. Every clone of
    /// this partition is closed. Dropping a partition without closing it
    /// loses nothing either; the next open then scans the active segment.
    /// A partition whose sync failed recovers first; if it cannot, it is
    /// closed all the same and the error returned.
    pub fn close(&self) -> Result<()> {
        let s = &*self.shared;
        let recovered = match s.closed.load(Ordering::Acquire) {
            true => Ok(()),
            false => self.recover_if_failed(),
        };
        let w = s.writer.lock();
        if s.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = recovered.and_then(|()| {
            if let Some(cause) = &*s.poisoned.lock() {
                return Err(Error::Poisoned {
                    path: s.dir.clone(),
                    cause: cause.clone(),
                });
            }
            if let Some(failure) = s.commit.failure() {
                return Err(failure);
            }
            if w.marker {
                // Nothing changed since open: the files are as the marker
                // says.
                return Ok(());
            }
            // An active segment without an index entry is scanned at open
            // (an index interval and a batch at most) faster than its
            // index files are written here. (The producer state goes into
            // the marker.)
            if w.active.has_index_entries() {
                w.active.write_indexes()?;
            }
            w.active.trim()?;
            if w.active.synced() < w.active.written() {
                self.synced(w.active.sync())?;
            }
            self.publish(&w);
            s.commit.mark_durable(w.next_offset);
            let marker = CleanShutdown {
                base_offset: w.active.base_offset(),
                next_offset: w.next_offset,
                log_size: w.active.written(),
            };
            open::write_marker(&*s.files.storage, &s.dir, &marker, &w.producers)
        });
        self.close_files();
        drop(s.lock.lock().take());
        result
    }
}

/// A partition held still by [`Partition::hold`].
pub(crate) struct Hold<'a> {
    _maintenance: parking_lot::MutexGuard<'a, ()>,
    _writer: parking_lot::MutexGuard<'a, Writer>,
}

impl Partition {
    /// Holds the partition still until the hold is dropped: no append,
    /// roll, retention pass or compaction runs meanwhile (reads do).
    pub(crate) fn hold(&self) -> Hold<'_> {
        let maintenance = self.shared.maintenance.lock();
        Hold {
            _maintenance: maintenance,
            _writer: self.shared.writer.lock(),
        }
    }

    /// Its topic is deleted: every later call gets
    /// [`Error::UnknownTopic`], and nothing more is written (its files are
    /// going away).
    pub(crate) fn mark_deleted(&self) {
        self.shared.deleted.store(true, Ordering::Release);
        self.shared.closed.store(true, Ordering::Release);
        self.close_files();
        self.shared.signal.notify();
    }

    /// Gives back every descriptor and map its segments hold: it is
    /// closed, and takes no more calls.
    fn close_files(&self) {
        for seg in self.shared.segments.read().iter() {
            seg.close_files();
        }
    }

    /// Whether its topic was deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.shared.deleted.load(Ordering::Acquire)
    }
}

/// A record's payload plus a generous allowance for its framing.
fn estimated_size(r: &Record<'_>) -> usize {
    let headers: usize = r
        .headers
        .iter()
        .map(|h| h.key.len() + h.value.len() + 4)
        .sum();
    r.value.map_or(0, <[u8]>::len) + r.key.map_or(0, <[u8]>::len) + headers + 12
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
        assert!(segs[..segs.len() - 1].iter().all(|s| s.sealed));
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
        assert_eq!(p.segments().unwrap()[0].size_bytes, 0);
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
