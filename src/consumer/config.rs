//! Consumer options, with Kafka's names and defaults.

use crate::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor};
use crate::error::{Error, Result};
use crate::partition::IsolationLevel;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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

/// Configuration of a [`Consumer`](crate::Consumer).
///
/// ```
/// use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
///
/// let config = ConsumerConfig::new("billing")
///     .auto_offset_reset(AutoOffsetReset::Earliest)
///     .max_poll_records(100);
/// assert_eq!(config.group_id.as_deref(), Some("billing"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// The consumer group (Kafka's `group.id`). Without one, only
    /// [`assign`](crate::Consumer::assign) is allowed, and commits need a
    /// group id too.
    pub group_id: Option<String>,
    /// Commit the positions of what `poll` returned every
    /// `auto_commit_interval`, before partitions are revoked, and on close
    /// (Kafka's `enable.auto.commit`, default on).
    pub enable_auto_commit: bool,
    /// Kafka's `auto.commit.interval.ms` (default 5 s), by the log's
    /// [`Clock`](crate::clock::Clock).
    pub auto_commit_interval: Duration,
    /// A member that does not poll within this is taken out of its group,
    /// and its partitions go to others (Kafka's `max.poll.interval.ms`,
    /// default 5 minutes). Measured by the log's [`Clock`](crate::clock::Clock):
    /// a test with a [`ManualClock`](crate::clock::ManualClock) evicts a member
    /// by advancing it.
    pub max_poll_interval: Duration,
    /// How long a closed static member (one with a `group_instance_id`)
    /// keeps its partitions waiting for it (Kafka's `session.timeout.ms`,
    /// default 45 s), by the log's [`Clock`](crate::clock::Clock).
    pub session_timeout: Duration,
    /// Assignors in order of preference; the group uses the first member's
    /// first, and later members must list it (Kafka's
    /// `partition.assignment.strategy`, default range then cooperative
    /// sticky).
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// Static membership (Kafka's `group.instance.id`): a member that
    /// restarts within `session_timeout` gets its partitions back without
    /// a rebalance.
    pub group_instance_id: Option<String>,
    /// Where to start without a position.
    pub auto_offset_reset: AutoOffsetReset,
    /// The most records one `poll` returns (Kafka's `max.poll.records`,
    /// default 500).
    pub max_poll_records: usize,
    /// About the most bytes one `poll` reads from one partition (Kafka's
    /// `max.partition.fetch.bytes`, default 1 MiB); at least one batch is
    /// always read.
    pub max_partition_fetch_bytes: usize,
    /// Whether `subscribe` accepts topics that do not exist yet (default
    /// `false`: it fails with [`Error::UnknownTopic`], so a typo is not a
    /// consumer that silently polls nothing). With `true`, a missing topic
    /// joins the subscription when it is created, as Kafka's consumer
    /// waits for one; until then `Consumer::missing_topics` names it.
    pub allow_missing_topics: bool,
    /// Which records of transactions it reads (Kafka's `isolation.level`,
    /// default `ReadUncommitted`).
    pub isolation_level: IsolationLevel,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_interval: Duration::from_secs(300),
            session_timeout: Duration::from_secs(45),
            assignors: vec![Arc::new(RangeAssignor), Arc::new(CooperativeStickyAssignor)],
            group_instance_id: None,
            auto_offset_reset: AutoOffsetReset::Latest,
            max_poll_records: 500,
            max_partition_fetch_bytes: 1 << 20,
            allow_missing_topics: false,
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

impl fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let assignors: Vec<&str> = self.assignors.iter().map(|a| a.name()).collect();
        f.debug_struct("ConsumerConfig")
            .field("group_id", &self.group_id)
            .field("enable_auto_commit", &self.enable_auto_commit)
            .field("auto_commit_interval", &self.auto_commit_interval)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("session_timeout", &self.session_timeout)
            .field("assignors", &assignors)
            .field("group_instance_id", &self.group_instance_id)
            .field("auto_offset_reset", &self.auto_offset_reset)
            .field("max_poll_records", &self.max_poll_records)
            .field("max_partition_fetch_bytes", &self.max_partition_fetch_bytes)
            .field("allow_missing_topics", &self.allow_missing_topics)
            .field("isolation_level", &self.isolation_level)
            .finish()
    }
}

impl ConsumerConfig {
    /// A consumer of group `group_id`, otherwise defaults.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: Some(group_id.into()),
            ..ConsumerConfig::default()
        }
    }

    /// Sets [`Self::enable_auto_commit`].
    pub fn enable_auto_commit(mut self, on: bool) -> Self {
        self.enable_auto_commit = on;
        self
    }

    /// Sets [`Self::auto_commit_interval`].
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Sets [`Self::max_poll_interval`].
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// Sets [`Self::session_timeout`].
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// Sets [`Self::assignors`] to just this one.
    pub fn assignor(mut self, assignor: impl Assignor + 'static) -> Self {
        self.assignors = vec![Arc::new(assignor)];
        self
    }

    /// Sets [`Self::group_instance_id`].
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

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

    /// Sets [`Self::allow_missing_topics`].
    pub fn allow_missing_topics(mut self, allow: bool) -> Self {
        self.allow_missing_topics = allow;
        self
    }

    /// Sets [`Self::isolation_level`].
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation_level = level;
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
