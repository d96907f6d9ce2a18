//! Options of a log directory, set before it opens.

use super::Log;
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::partition::{default_max_open_files, CompactionOptions, SyncPolicy};
use crate::storage::{FsStorage, MemStorage};
use crate::topic::TopicConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Log`] with options other than the defaults.
///
/// ```
/// use samsa_log::partition::SyncPolicy;
/// use samsa_log::topic::TopicConfig;
/// use samsa_log::Log;
///
/// # fn main() -> samsa_log::Result<()> {
/// let log = Log::builder()
///     .sync(SyncPolicy::Interval { ms: 100, bytes: 0 })
///     .default_topic_config(TopicConfig::default().partitions(3))
///     .in_memory()?;
/// assert_eq!(log.default_topic_config().partitions, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LogBuilder {
    pub(crate) sync: SyncPolicy,
    pub(crate) default_topic: TopicConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) maintenance_interval: Option<Duration>,
    pub(crate) cleaner_buffer_bytes: usize,
    pub(crate) max_open_files: usize,
}

impl Default for LogBuilder {
    fn default() -> Self {
        LogBuilder {
            sync: SyncPolicy::default(),
            default_topic: TopicConfig::default(),
            clock: Arc::new(SystemClock),
            maintenance_interval: Some(DEFAULT_MAINTENANCE_INTERVAL),
            cleaner_buffer_bytes: CompactionOptions::default().map_budget_bytes,
            max_open_files: default_max_open_files(),
        }
    }
}

/// How often the maintenance thread runs by default: Kafka's
/// `log.retention.check.interval.ms`, 5 minutes.
pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(300);

impl LogBuilder {
    /// The sync policy of every topic that does not set its own (default
    /// [`SyncPolicy::Always`]).
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// What [`Log::default_topic_config`] returns: a starting point for
    /// [`Log::create_topic`].
    pub fn default_topic_config(mut self, config: TopicConfig) -> Self {
        self.default_topic = config;
        self
    }

    /// The clock the log reads the time from (default [`SystemClock`]):
    /// record timestamps, segment rolls by age, interval syncs and
    /// retention by time. Tests set a [`crate::clock::ManualClock`] here and run
    /// [`Log::maintain`] themselves.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How often the log's maintenance thread applies retention (see
    /// [`Log::maintain`]); default [`DEFAULT_MAINTENANCE_INTERVAL`].
    /// `None` starts no thread: maintenance then runs only when
    /// [`Log::maintain`] is called.
    pub fn maintenance_interval(mut self, interval: Option<Duration>) -> Self {
        self.maintenance_interval = interval;
        self
    }

    /// Memory for a compaction pass's key map (Kafka's
    /// `log.cleaner.dedupe.buffer.size`; default 16 MiB): a partition with
    /// more keys than fit is compacted over several passes. The other
    /// compaction settings are the topic's ([`TopicConfig`]).
    pub fn cleaner_buffer_bytes(mut self, bytes: usize) -> Self {
        self.cleaner_buffer_bytes = bytes;
        self
    }

    /// The most segment files the log keeps open at once (default
    /// [`crate::partition::DEFAULT_MAX_OPEN_FILES`], 256, or a quarter of the
    /// process's soft descriptor limit if that is lower, at least 16):
    /// every partition's active segment
    /// and every sealed segment read since holds its log file open (and a
    /// sealed one up to three read-only maps: its two indexes and, on
    /// disk, its log, which reads borrow instead of copying) until the budget
    /// needs room; then the least recently used are closed, to be opened
    /// again when next used. So a log of any number of partitions and
    /// segments fits under the process's descriptor limit beside the
    /// application's own files. Beyond it samsa holds the log's lock file,
    /// and, while a call runs, a descriptor or two per calling thread
    /// (a file being read or written, a directory being synced); see
    /// `docs/RELIABILITY.md`. At least 1.
    pub fn max_open_files(mut self, files: usize) -> Self {
        self.max_open_files = files;
        self
    }

    /// Sets [`TopicConfig::max_record_bytes`] of the default topic
    /// configuration (see [`Self::default_topic_config`]).
    pub fn max_record_bytes(mut self, bytes: u32) -> Self {
        self.default_topic.max_record_bytes = bytes;
        self
    }

    /// Opens (creating if needed) the log in `dir`, taking its lock.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Log> {
        Log::open_with(Arc::new(FsStorage), dir.as_ref(), self)
    }

    /// A log in memory: the same API and semantics, no files.
    pub fn in_memory(self) -> Result<Log> {
        Log::open_with(Arc::new(MemStorage::default()), Path::new("/samsa"), self)
    }
}
