//! Consumer options, with Kafka's names and defaults.

use crate::error::{Error, Result};

/// Where a consumer starts on a partition it has no position on, or whose
/// position fell outside the log (Kafka's `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The log start offset: every record still in the log.
    Earliest,
    /// The high watermark: only records appended from now on (Kafka's
    /// default).
    #[default]
    Latest,
    /// No default: [`Consumer::poll`](crate::Consumer::poll) fails with
    /// [`Error::NoOffset`] (or [`Error::OffsetOutOfRange`] for a position
    /// outside the log) until the application seeks.
    None,
}

/// A position to [`seek`](crate::Consumer::seek) to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The log start offset.
    Earliest,
    /// The high watermark: the next record to be appended.
    Latest,
    /// This offset.
    At(u64),
    /// The earliest offset whose timestamp is at or after this many
    /// milliseconds since the epoch, like Kafka's `offsetsForTimes`; the
    /// high watermark if no record is that recent.
    Timestamp(i64),
}

/// Configuration of a [`Consumer`](crate::Consumer).
///
/// ```
/// use samsa::{AutoOffsetReset, ConsumerConfig};
///
/// let config = ConsumerConfig::default()
///     .auto_offset_reset(AutoOffsetReset::Earliest)
///     .max_poll_records(100);
/// assert_eq!(config.max_poll_records, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// Where to start without a position.
    pub auto_offset_reset: AutoOffsetReset,
    /// The most records one `poll` returns (Kafka's `max.poll.records`,
    /// default 500).
    pub max_poll_records: usize,
    /// About the most bytes one `poll` reads from one partition (Kafka's
    /// `max.partition.fetch.bytes`, default 1 MiB); at least one batch is
    /// always read.
    pub max_partition_fetch_bytes: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Latest,
            max_poll_records: 500,
            max_partition_fetch_bytes: 1 << 20,
        }
    }
}

impl ConsumerConfig {
    /// Sets [`Self::auto_offset_reset`].
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// Sets [`Self::max_poll_records`].
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.max_poll_records = records;
        self
    }

    /// Sets [`Self::max_partition_fetch_bytes`].
    pub fn max_partition_fetch_bytes(mut self, bytes: usize) -> Self {
        self.max_partition_fetch_bytes = bytes;
        self
    }

    /// Checks every value is in its range.
    pub fn validate(&self) -> Result<()> {
        if self.max_poll_records == 0 {
            return Err(Error::InvalidConfig(
                "max_poll_records must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
