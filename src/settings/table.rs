//! The table of topic and partition settings: each declared once, here.
//! Everything else about a setting (its fields, default, setters, range
//! check, key in `topic.properties`) follows from its entry; see
//! [`define_settings!`](super::define) for the form of an entry.

use super::define::define_settings;
use super::values::{CleanupPolicy, CompressionType, SyncPolicy, TimestampType};
use crate::compression::{GZIP_DEFAULT_LEVEL, GZIP_LEVELS, ZSTD_DEFAULT_LEVEL, ZSTD_LEVELS};
use crate::error::{Error, Result};

/// The largest `segment_bytes`: file positions in the index are 32-bit, and
/// a segment may exceed its limit by one batch no larger than the limit.
pub(crate) const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

/// The most partitions one topic may have: a bound on files and memory.
pub(crate) const MAX_PARTITIONS: u32 = 100_000;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

define_settings! {
    /// Configuration of one partition log.
    ///
    /// ```
    /// use samsa_log::partition::{PartitionConfig, SyncPolicy};
    ///
    /// let config = PartitionConfig::default()
    ///     .segment_bytes(64 << 20)
    ///     .sync(SyncPolicy::Interval { ms: 100, bytes: 0 });
    /// assert_eq!(config.segment_bytes, 64 << 20);
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct PartitionConfig;

    /// Configuration of a topic: partition count, retention and compaction,
    /// and the settings of every partition log in it (those of
    /// [`PartitionConfig`]).
    ///
    /// ```
    /// use samsa_log::topic::{CleanupPolicy, TopicConfig};
    ///
    /// let config = TopicConfig::default()
    ///     .partitions(4)
    ///     .retention_ms(Some(24 * 60 * 60 * 1000))
    ///     .cleanup_policy(CleanupPolicy::Delete);
    /// assert_eq!(config.partitions, 4);
    /// ```
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct TopicConfig;

    /// Number of partitions (default 1). Partitions can be added later,
    /// never removed.
    partitions: u32 {
        scope: topic,
        default: 1,
        key: "partitions",
        range: 1..=MAX_PARTITIONS,
    }

    /// Roll to a new segment before one grows past this many bytes (Kafka's
    /// `segment.bytes`, default 1 GiB, at least 1 KiB, at most 2 GiB - 1).
    /// It also caps the size of one batch.
    segment_bytes: u64 {
        scope: partition,
        default: 1 << 30,
        key: "segment.bytes",
        range: 1024..=MAX_SEGMENT_BYTES,
    }

    /// Roll a segment whose first record is older than this (Kafka's
    /// `segment.ms`, default 7 days).
    segment_ms: u64 {
        scope: partition,
        default: 7 * DAY_MS,
        key: "segment.ms",
        range: 1..,
    }

    /// Bytes of log between two sparse index entries (Kafka's
    /// `index.interval.bytes`, default 4096).
    index_interval_bytes: u32 {
        scope: partition,
        default: 4096,
        key: "index.interval.bytes",
    }

    /// Roll when either index of a segment reaches this size (Kafka's
    /// `segment.index.bytes`, default 10 MiB, at least 64).
    index_max_bytes: u32 {
        scope: partition,
        default: 10 << 20,
        key: "segment.index.bytes",
        range: 64..,
    }

    /// Kafka's `retention.ms`: how long records are kept (default 7 days;
    /// `None`: forever).
    retention_ms: Option<u64> {
        scope: topic,
        default: Some(7 * DAY_MS),
        key: "retention.ms",
        range: 1..,
    }

    /// Kafka's `retention.bytes`: the most bytes one partition keeps
    /// (default `None`: no limit).
    retention_bytes: Option<u64> {
        scope: topic,
        default: None,
        key: "retention.bytes",
        range: 1..,
    }

    /// Kafka's `cleanup.policy`: whether old records are deleted,
    /// compacted or both (default [`CleanupPolicy::Delete`]).
    cleanup_policy: CleanupPolicy {
        scope: topic,
        default: CleanupPolicy::Delete,
        key: "cleanup.policy",
    }

    /// Kafka's `delete.retention.ms`: how long a tombstone (a key with no
    /// value) stays readable in a compacted topic after its batch's newest
    /// timestamp, so consumers that are behind still see the delete
    /// (default 1 day).
    delete_retention_ms: u64 {
        scope: topic,
        default: DAY_MS,
        key: "delete.retention.ms",
        absent_before: "compaction",
    }

    /// Kafka's `min.cleanable.dirty.ratio`: the least share of a compacted
    /// partition's sealed bytes that must be dirty (not yet compacted) for
    /// a compaction pass to run, in `0.0..=1.0` (default 0.5).
    min_cleanable_dirty_ratio: f64 {
        scope: topic,
        default: 0.5,
        key: "min.cleanable.dirty.ratio",
        absent_before: "compaction",
        range: 0.0..=1.0,
    }

    /// Kafka's `min.compaction.lag.ms`: how long a record stays
    /// uncompacted after its segment's newest timestamp (default 0).
    min_compaction_lag_ms: u64 {
        scope: topic,
        default: 0,
        key: "min.compaction.lag.ms",
        absent_before: "compaction",
    }

    /// Largest encoded record accepted (Kafka's `max.message.bytes`,
    /// default 1 MiB, at most 2 GiB - 1).
    max_record_bytes: u32 {
        scope: partition,
        default: 1 << 20,
        key: "max.message.bytes",
        range: 1..=MAX_SEGMENT_BYTES as u32,
    }

    /// Create time or log-append time (Kafka's `message.timestamp.type`,
    /// default [`TimestampType::CreateTime`]).
    timestamp_type: TimestampType {
        scope: partition,
        default: TimestampType::CreateTime,
        key: "message.timestamp.type",
    }

    /// How batches are stored compressed (Kafka's `compression.type`,
    /// default [`CompressionType::Producer`]: as the producer sent them).
    /// A codec needs its cargo feature.
    compression_type: CompressionType {
        scope: partition,
        default: CompressionType::Producer,
        key: "compression.type",
        absent_before: "compression",
    }

    /// The gzip level the log compresses batches at (Kafka's
    /// `compression.gzip.level`, 1 to 9, default 6).
    compression_gzip_level: u32 {
        scope: partition,
        default: GZIP_DEFAULT_LEVEL,
        key: "compression.gzip.level",
        absent_before: "compression",
        range: GZIP_LEVELS,
    }

    /// The zstd level the log compresses batches at (Kafka's
    /// `compression.zstd.level`, 1 to 22, default 3).
    compression_zstd_level: u32 {
        scope: partition,
        default: ZSTD_DEFAULT_LEVEL,
        key: "compression.zstd.level",
        absent_before: "compression",
        range: ZSTD_LEVELS,
    }

    /// When appends are synced (default [`SyncPolicy::Always`]). A
    /// [`TopicConfig`] leaves it `None` by default: its partitions then
    /// take the log's policy ([`LogBuilder::sync`](crate::log::LogBuilder::sync)).
    sync: SyncPolicy {
        scope: inherited,
        default: SyncPolicy::Always,
        key: "sync",
    }
}

impl TopicConfig {
    /// The configuration with the setting Kafka calls `key` (as
    /// [`Self::to_properties`] names it: `retention.ms`, `cleanup.policy`,
    /// ...) set to `value`, written as `topic.properties` writes it
    /// (`-1` for no limit, as in Kafka). An unknown key or a value that does not
    /// parse or is out of range is [`Error::InvalidConfig`]: how
    /// `samsa topics create --config k=v` reads its settings.
    pub fn with_property(&self, key: &str, value: &str) -> Result<TopicConfig> {
        let mut pairs = self.to_properties();
        let known: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        let Some(slot) = pairs.iter_mut().find(|(k, _)| *k == key) else {
            return Err(Error::InvalidConfig(format!(
                "unknown setting {key:?}; the settings are {}",
                known.join(", ")
            )));
        };
        slot.1 = value.to_owned();
        let text = crate::properties::encode("settings", &pairs);
        let invalid = |e: Error| {
            let why = match e {
                Error::Corrupt { reason, .. } => reason,
                other => other.to_string(),
            };
            Error::InvalidConfig(format!("{key}={value}: {why}"))
        };
        let path = std::path::Path::new(key);
        let mut fields = crate::properties::decode(text.as_bytes(), path).map_err(invalid)?;
        let config = TopicConfig::from_properties(&mut fields).map_err(invalid)?;
        fields.finish().map_err(invalid)?;
        Ok(config)
    }

    /// The configuration of each partition log, with `default_sync` (the
    /// log's) where the topic sets no sync policy of its own.
    pub(crate) fn partition_config(&self, default_sync: SyncPolicy) -> PartitionConfig {
        self.partition_config_over(&PartitionConfig::default().sync(default_sync))
    }
}
