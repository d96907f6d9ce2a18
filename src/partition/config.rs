//! Configuration of a partition log, with Kafka's defaults.

use crate::error::{Error, Result};

/// When appended bytes are made durable with `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Sync before an append is acknowledged (the default). An acknowledged
    /// record survives power loss. Concurrent appenders share one sync
    /// (group commit), and readers see a record only once it is durable.
    #[default]
    Always,
    /// Sync during an append once `ms` milliseconds or `bytes` bytes have
    /// passed since the last sync (a zero disables that trigger), and on
    /// [`flush`](crate::Partition::flush) and close. Appends are
    /// acknowledged once written: a power loss may lose the newest unsynced
    /// records, never older ones; a killed process loses nothing.
    Interval {
        /// Milliseconds between syncs (0: no time trigger).
        ms: u64,
        /// Bytes between syncs (0: no size trigger).
        bytes: u64,
    },
    /// Never sync on the append path; the operating system writes pages
    /// back when it likes. A killed process loses nothing; a power loss may
    /// lose what the OS had not written. Segments are still synced once
    /// when sealed, as Kafka does at roll, so recovery only ever scans the
    /// last segment.
    Os,
}

/// Which time a record's timestamp is (Kafka's `message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's create time: the record's own timestamp, or the time
    /// of the append if it has none (the default).
    #[default]
    CreateTime,
    /// The time the log appended the batch; records' own timestamps are
    /// kept in the batch but every record reads back with the append time.
    LogAppendTime,
}

/// Configuration of one partition log.
///
/// ```
/// use samsa_log::{PartitionConfig, SyncPolicy};
///
/// let config = PartitionConfig::default()
///     .segment_bytes(64 << 20)
///     .sync(SyncPolicy::Interval { ms: 100, bytes: 0 });
/// assert_eq!(config.segment_bytes, 64 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionConfig {
    /// Roll to a new segment before one grows past this many bytes (Kafka's
    /// `segment.bytes`, default 1 GiB, at most 2 GiB - 1). It also caps the
    /// size of one batch.
    pub segment_bytes: u64,
    /// Roll a segment whose first record is older than this (Kafka's
    /// `segment.ms`, default 7 days).
    pub segment_ms: u64,
    /// Bytes of log between two sparse index entries (Kafka's
    /// `index.interval.bytes`, default 4096).
    pub index_interval_bytes: u32,
    /// Roll when either index of a segment reaches this size (Kafka's
    /// `segment.index.bytes`, default 10 MiB).
    pub index_max_bytes: u32,
    /// Largest encoded record accepted (default 1 MiB, like Kafka's
    /// `max.message.bytes`).
    pub max_record_bytes: u32,
    /// When appends are synced.
    pub sync: SyncPolicy,
    /// Create time or log-append time.
    pub timestamp_type: TimestampType,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            index_max_bytes: 10 << 20,
            max_record_bytes: 1 << 20,
            sync: SyncPolicy::Always,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

/// The largest `segment_bytes`: file positions in the index are 32-bit, and
/// a segment may exceed its limit by one batch no larger than the limit.
pub(crate) const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

impl PartitionConfig {
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

    /// Sets [`Self::max_record_bytes`].
    pub fn max_record_bytes(mut self, bytes: u32) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Sets [`Self::sync`].
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// Sets [`Self::timestamp_type`].
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }

    /// Checks every value is in its range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidConfig(what));
        if !(1024..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return bad(format!(
                "segment_bytes must be in 1024..={MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if self.segment_ms == 0 {
            return bad("segment_ms must be at least 1".into());
        }
        if self.index_max_bytes < 64 {
            return bad(format!(
                "index_max_bytes must be at least 64, got {}",
                self.index_max_bytes
            ));
        }
        if self.max_record_bytes == 0 || u64::from(self.max_record_bytes) > MAX_SEGMENT_BYTES {
            return bad(format!(
                "max_record_bytes must be in 1..={MAX_SEGMENT_BYTES}, got {}",
                self.max_record_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_kafka() {
        let c = PartitionConfig::default();
        c.validate().unwrap();
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.sync, SyncPolicy::Always);
    }

    #[test]
    fn out_of_range_values_are_typed_errors() {
        for c in [
            PartitionConfig::default().segment_bytes(10),
            PartitionConfig::default().segment_bytes(1 << 31),
            PartitionConfig::default().segment_ms(0),
            PartitionConfig::default().index_max_bytes(8),
            PartitionConfig::default().max_record_bytes(0),
        ] {
            assert!(
                matches!(c.validate(), Err(Error::InvalidConfig(_))),
                "{c:?}"
            );
        }
    }
}
