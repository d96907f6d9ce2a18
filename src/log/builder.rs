//! Options of a log directory, set before it opens.

use super::Log;
use crate::error::Result;
use crate::partition::SyncPolicy;
use crate::storage::{FsStorage, MemStorage};
use crate::topic::TopicConfig;
use std::path::Path;
use std::sync::Arc;

/// Builds a [`Log`] with options other than the defaults.
///
/// ```
/// use samsa::{Log, SyncPolicy, TopicConfig};
///
/// # fn main() -> samsa::Result<()> {
/// let log = Log::builder()
///     .sync(SyncPolicy::Interval { ms: 100, bytes: 0 })
///     .default_topic_config(TopicConfig::default().partitions(3))
///     .in_memory()?;
/// assert_eq!(log.default_topic_config().partitions, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogBuilder {
    pub(crate) sync: SyncPolicy,
    pub(crate) default_topic: TopicConfig,
}

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

    /// The largest record of topics created from the default configuration.
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
