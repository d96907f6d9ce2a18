//! A topic's configuration, with Kafka's names and defaults.

use crate::error::{Error, Result};
use crate::partition::{PartitionConfig, SyncPolicy, TimestampType};

/// What happens to old segments (Kafka's `cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Delete whole segments past the retention time or size (default).
    #[default]
    Delete,
    /// Keep at least the latest record of every key.
    Compact,
    /// Compact, and also delete past retention.
    CompactDelete,
}

/// The most partitions one topic may have: a bound on files and memory.
pub(crate) const MAX_PARTITIONS: u32 = 100_000;

/// Kafka's default `delete.retention.ms`: 1 day.
pub(crate) const DEFAULT_DELETE_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

/// Kafka's default `min.cleanable.dirty.ratio`.
pub(crate) const DEFAULT_MIN_CLEANABLE_DIRTY_RATIO: f64 = 0.5;

/// Configuration of a topic: partition count and the settings of every
/// partition log in it.
///
/// ```
/// use samsa_log::{CleanupPolicy, TopicConfig};
///
/// let config = TopicConfig::default()
///     .partitions(4)
///     .retention_ms(Some(24 * 60 * 60 * 1000))
///     .cleanup_policy(CleanupPolicy::Delete);
/// assert_eq!(config.partitions, 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TopicConfig {
    /// Number of partitions (default 1). Partitions can be added later,
    /// never removed.
    pub partitions: u32,
    /// Kafka's `segment.bytes` (default 1 GiB).
    pub segment_bytes: u64,
    /// Kafka's `segment.ms` (default 7 days).
    pub segment_ms: u64,
    /// Kafka's `index.interval.bytes` (default 4096).
    pub index_interval_bytes: u32,
    /// Kafka's `segment.index.bytes` (default 10 MiB).
    pub index_max_bytes: u32,
    /// Kafka's `retention.ms`: how long records are kept (default 7 days;
    /// `None`: forever).
    pub retention_ms: Option<u64>,
    /// Kafka's `retention.bytes`: the most bytes one partition keeps
    /// (default `None`: no limit).
    pub retention_bytes: Option<u64>,
    /// Kafka's `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// Kafka's `delete.retention.ms`: how long a tombstone (a key with no
    /// value) stays readable in a compacted topic after its batch's newest
    /// timestamp, so consumers that are behind still see the delete
    /// (default 1 day).
    pub delete_retention_ms: u64,
    /// Kafka's `min.cleanable.dirty.ratio`: the least share of a compacted
    /// partition's sealed bytes that must be dirty (not yet compacted) for
    /// a compaction pass to run, in `0.0..=1.0` (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// Kafka's `min.compaction.lag.ms`: how long a record stays
    /// uncompacted after its segment's newest timestamp (default 0).
    pub min_compaction_lag_ms: u64,
    /// Kafka's `max.message.bytes`: the largest encoded record (default 1 MiB).
    pub max_record_bytes: u32,
    /// When appends are synced; `None` takes the log's default.
    pub sync: Option<SyncPolicy>,
    /// Kafka's `message.timestamp.type`.
    pub timestamp_type: TimestampType,
}

impl Default for TopicConfig {
    fn default() -> Self {
        let p = PartitionConfig::default();
        TopicConfig {
            partitions: 1,
            segment_bytes: p.segment_bytes,
            segment_ms: p.segment_ms,
            index_interval_bytes: p.index_interval_bytes,
            index_max_bytes: p.index_max_bytes,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: DEFAULT_DELETE_RETENTION_MS,
            min_cleanable_dirty_ratio: DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
            min_compaction_lag_ms: 0,
            max_record_bytes: p.max_record_bytes,
            sync: None,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

impl TopicConfig {
    /// Sets [`Self::partitions`].
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// Sets [`Self::segment_bytes`].
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets [`Self::segment_ms`].
    pub fn segment_ms(mut self, ms: u64) -> Self {
        self.segment_ms = ms;
        self
    }

    /// Sets [`Self::index_interval_bytes`].
    pub fn index_interval_bytes(mut self, bytes: u32) -> Self {
        self.index_interval_bytes = bytes;
        self
    }

    /// Sets [`Self::index_max_bytes`].
    pub fn index_max_bytes(mut self, bytes: u32) -> Self {
        self.index_max_bytes = bytes;
        self
    }

    /// Sets [`Self::retention_ms`].
    pub fn retention_ms(mut self, ms: Option<u64>) -> Self {
        self.retention_ms = ms;
        self
    }

    /// Sets [`Self::retention_bytes`].
    pub fn retention_bytes(mut self, bytes: Option<u64>) -> Self {
        self.retention_bytes = bytes;
        self
    }

    /// Sets [`Self::cleanup_policy`].
    pub fn cleanup_policy(mut self, policy: CleanupPolicy) -> Self {
        self.cleanup_policy = policy;
        self
    }

    /// Sets [`Self::delete_retention_ms`].
    pub fn delete_retention_ms(mut self, ms: u64) -> Self {
        self.delete_retention_ms = ms;
        self
    }

    /// Sets [`Self::min_cleanable_dirty_ratio`].
    pub fn min_cleanable_dirty_ratio(mut self, ratio: f64) -> Self {
        self.min_cleanable_dirty_ratio = ratio;
        self
    }

    /// Sets [`Self::min_compaction_lag_ms`].
    pub fn min_compaction_lag_ms(mut self, ms: u64) -> Self {
        self.min_compaction_lag_ms = ms;
        self
    }

    /// Sets [`Self::max_record_bytes`].
    pub fn max_record_bytes(mut self, bytes: u32) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Sets [`Self::sync`].
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = Some(policy);
        self
    }

    /// Sets [`Self::timestamp_type`].
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }

    /// The configuration of each partition log, with `default_sync` where
    /// the topic sets no sync policy of its own.
    pub(crate) fn partition_config(&self, default_sync: SyncPolicy) -> PartitionConfig {
        PartitionConfig::default()
            .segment_bytes(self.segment_bytes)
            .segment_ms(self.segment_ms)
            .index_interval_bytes(self.index_interval_bytes)
            .index_max_bytes(self.index_max_bytes)
            .max_record_bytes(self.max_record_bytes)
            .sync(self.sync.unwrap_or(default_sync))
            .timestamp_type(self.timestamp_type)
    }

    /// Checks every value is in its range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            return Err(Error::InvalidConfig(format!(
                "partitions must be in 1..={MAX_PARTITIONS}, got {}",
                self.partitions
            )));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return Err(Error::InvalidConfig(format!(
                "min_cleanable_dirty_ratio must be in 0.0..=1.0, got {}",
                self.min_cleanable_dirty_ratio
            )));
        }
        if self.retention_ms == Some(0) || self.retention_bytes == Some(0) {
            return Err(Error::InvalidConfig(
                "retention_ms and retention_bytes must be positive (None: no limit)".into(),
            ));
        }
        self.partition_config(SyncPolicy::Always).validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = TopicConfig::default();
        c.validate().unwrap();
        assert_eq!(c.partitions, 1);
        assert_eq!(c.retention_ms, Some(604_800_000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Delete);
    }

    #[test]
    fn bad_values_are_refused() {
        for c in [
            TopicConfig::default().partitions(0),
            TopicConfig::default().partitions(MAX_PARTITIONS + 1),
            TopicConfig::default().retention_ms(Some(0)),
            TopicConfig::default().segment_bytes(1),
        ] {
            assert!(
                matches!(c.validate(), Err(Error::InvalidConfig(_))),
                "{c:?}"
            );
        }
    }

    #[test]
    fn the_topic_sync_policy_wins_over_the_default() {
        let c = TopicConfig::default().sync(SyncPolicy::Os);
        assert_eq!(c.partition_config(SyncPolicy::Always).sync, SyncPolicy::Os);
        let d = TopicConfig::default();
        assert_eq!(d.partition_config(SyncPolicy::Os).sync, SyncPolicy::Os);
    }
}
