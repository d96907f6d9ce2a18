//! Consumer groups as an administrator sees them: [`ConsumerGroup`], from
//! [`Log::group`](crate::Log::group): describe, committed offsets, lag, reset (with a dry
//! run), delete. Kafka's Admin API and `kafka-consumer-groups`, in process.

use super::coordinator::{GroupDescription, GroupState};
use super::offsets::OffsetAndMetadata;
use super::Groups;
use crate::error::{Error, Result};
use crate::offset::Offset;
use crate::partition::IsolationLevel;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How far a group is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The group's committed offset, if any.
    pub committed: Option<u64>,
    /// The partition's high watermark.
    pub high_watermark: u64,
    /// The partition's last stable offset: the high watermark unless a
    /// transaction is open on it.
    pub last_stable_offset: u64,
    /// Offsets between the committed offset (or the log start, without
    /// one, or when the log start passed it) and the end a member reads
    /// to: the high watermark, or the last stable offset for
    /// [`ConsumerGroup::lag_at`] `ReadCommitted`.
    pub lag: u64,
}

/// One partition's move in a reset: where the group's offset was, and where
/// it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetChange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The committed offset before, if any.
    pub from: Option<u64>,
    /// The committed offset after.
    pub to: u64,
}

/// A consumer group of a log, to look at and administer: from
/// [`Log::group`](crate::Log::group). Cheap to clone; it holds the log's
/// groups and the group's id, so
/// a group that does not exist yet (or any more) is a valid handle whose
/// calls say so.
///
/// ```
/// use samsa_log::consumer::{ConsumerConfig, Offset};
/// use samsa_log::group::GroupState;
/// use samsa_log::topic::TopicConfig;
/// use samsa_log::{Log, Record};
///
/// # fn main() -> samsa_log::Result<()> {
/// let log = Log::in_memory();
/// log.create_topic("orders", TopicConfig::default())?;
/// for v in ["a", "b", "c"] {
///     log.producer().send("orders", Record::new(v))?.wait()?;
/// }
/// let mut c = log.consumer(ConsumerConfig::new("billing"))?;
/// c.assign(&[("orders", 0)])?;
/// c.commit_offsets(&[(("orders".into(), 0), samsa_log::group::OffsetAndMetadata::new(1))])?;
/// drop(c);
///
/// let billing = log.group("billing");
/// assert_eq!(billing.describe()?.state, GroupState::Empty);
/// assert_eq!(billing.lag()?[0].lag, 2);
/// // A dry run says what a reset would do, and does nothing.
/// let plan = billing.plan_reset("orders", Offset::ShiftBy(1))?;
/// assert_eq!((plan[0].from, plan[0].to), (Some(1), 2));
/// assert_eq!(billing.committed("orders", 0).map(|o| o.offset), Some(1));
/// billing.reset_offsets("orders", Offset::Latest)?;
/// assert_eq!(billing.lag()?[0].lag, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ConsumerGroup {
    groups: Arc<Groups>,
    id: String,
}

impl fmt::Debug for ConsumerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerGroup")
            .field("id", &self.id)
            .finish()
    }
}

impl ConsumerGroup {
    /// The handle on group `id` of the log whose groups are `groups`.
    pub(crate) fn new(groups: Arc<Groups>, id: &str) -> ConsumerGroup {
        ConsumerGroup {
            groups,
            id: id.to_owned(),
        }
    }
}

impl ConsumerGroup {
    /// The group's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// State, generation, assignor and members (with their assignments);
    /// [`Error::UnknownGroup`] for a group with neither members nor
    /// committed offsets.
    pub fn describe(&self) -> Result<GroupDescription> {
        if let Some(d) = self.groups.coordinator.describe(&self.id) {
            return Ok(d);
        }
        if self.groups.offsets.groups().contains(&self.id) {
            return Ok(GroupDescription {
                group: self.id.clone(),
                state: GroupState::Empty,
                generation: 0,
                assignor: None,
                members: Vec::new(),
            });
        }
        Err(self.unknown())
    }

    fn unknown(&self) -> Error {
        Error::UnknownGroup {
            group: self.id.clone(),
        }
    }

    /// The committed offset on `topic`/`partition`.
    pub fn committed(&self, topic: &str, partition: u32) -> Option<OffsetAndMetadata> {
        self.groups.offsets.committed(&self.id, topic, partition)
    }

    /// Every committed offset, by topic and partition (Kafka's
    /// `listConsumerGroupOffsets`).
    pub fn offsets(&self) -> BTreeMap<(String, u32), OffsetAndMetadata> {
        self.groups.offsets.of_group(&self.id).into_iter().collect()
    }

    /// The lag on every partition of every topic the group committed
    /// offsets for or its members subscribe to: high watermark minus
    /// committed offset, as `kafka-consumer-groups --describe` shows it.
    /// For a group whose members read at `ReadCommitted`, see
    /// [`Self::lag_at`].
    pub fn lag(&self) -> Result<Vec<PartitionLag>> {
        self.lag_at(IsolationLevel::ReadUncommitted)
    }

    /// The lag as members reading at `isolation` have it: under
    /// `ReadCommitted`, against the last stable offset, since records of
    /// a transaction still open are not theirs to read yet (Kafka's
    /// consumer lag metrics do the same).
    pub fn lag_at(&self, isolation: IsolationLevel) -> Result<Vec<PartitionLag>> {
        let mut topics: Vec<String> = self.offsets().into_keys().map(|(t, _)| t).collect();
        if let Some(d) = self.groups.coordinator.describe(&self.id) {
            topics.extend(d.members.into_iter().flat_map(|m| m.topics));
        }
        topics.sort();
        topics.dedup();
        let mut out = Vec::new();
        for t in topics {
            let Ok(topic) = self.groups.registry.topic(&t) else {
                continue;
            };
            for (n, p) in (0u32..).zip(topic.partitions()) {
                let committed = self.committed(&t, n).map(|o| o.offset);
                let from = committed.unwrap_or(0).max(p.log_start_offset());
                out.push(PartitionLag {
                    topic: t.clone(),
                    partition: n,
                    committed,
                    high_watermark: p.high_watermark(),
                    last_stable_offset: p.last_stable_offset(),
                    lag: p.end_offset(isolation).saturating_sub(from),
                });
            }
        }
        Ok(out)
    }

    /// What [`Self::reset_offsets`] would do, changing nothing (the dry
    /// run `kafka-consumer-groups --reset-offsets` does by default).
    pub fn plan_reset(&self, topic: &str, to: Offset) -> Result<Vec<OffsetChange>> {
        let t = self.groups.registry.topic(topic)?;
        let mut plan = Vec::new();
        for (n, p) in (0u32..).zip(t.partitions()) {
            let (start, end) = (p.log_start_offset(), p.high_watermark());
            let from = self.committed(topic, n).map(|o| o.offset);
            let target = match to {
                Offset::Earliest => start,
                Offset::Latest => end,
                Offset::At(o) => o,
                Offset::Timestamp(ms) => p.offset_for_timestamp(ms)?.map_or(end, |t| t.offset),
                Offset::ShiftBy(by) => {
                    let base = from.unwrap_or(start);
                    base.saturating_add_signed(by)
                }
            };
            plan.push(OffsetChange {
                topic: topic.to_owned(),
                partition: n,
                from,
                to: target.clamp(start, end),
            });
        }
        Ok(plan)
    }

    /// Sets the group's committed offsets of these partitions, each to its
    /// own offset (Kafka's `Admin::alterConsumerGroupOffsets`): how a
    /// group's position is carried over when its topic is copied to
    /// another log. Only for a group without active members
    /// ([`Error::GroupNotEmpty`] otherwise, as in Kafka); a partition that
    /// does not exist is [`Error::UnknownPartition`] (or
    /// [`Error::UnknownTopic`]), and nothing is committed then.
    pub fn alter_offsets(&self, offsets: &[(&str, u32, u64)]) -> Result<()> {
        self.refuse_if_active()?;
        let mut commits = Vec::with_capacity(offsets.len());
        for &(topic, partition, offset) in offsets {
            let t = self.groups.registry.topic(topic)?;
            if partition >= t.partition_count() {
                return Err(Error::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                    partitions: t.partition_count(),
                });
            }
            commits.push((
                (topic.to_owned(), partition),
                Some(OffsetAndMetadata::new(offset)),
            ));
        }
        self.groups
            .offsets
            .commit(&self.groups.registry, &self.id, &commits)
    }

    /// Moves the group's committed offsets on every partition of `topic`
    /// (Kafka's `kafka-consumer-groups --reset-offsets --execute`) and
    /// returns what moved. Only for a group without active members:
    /// [`Error::GroupNotEmpty`] otherwise, as in Kafka.
    pub fn reset_offsets(&self, topic: &str, to: Offset) -> Result<Vec<OffsetChange>> {
        self.refuse_if_active()?;
        let plan = self.plan_reset(topic, to)?;
        let commits: Vec<_> = plan
            .iter()
            .map(|c| {
                (
                    (c.topic.clone(), c.partition),
                    Some(OffsetAndMetadata::new(c.to)),
                )
            })
            .collect();
        self.groups
            .offsets
            .commit(&self.groups.registry, &self.id, &commits)?;
        Ok(plan)
    }

    /// Deletes the group's committed offsets of `topic` (Kafka's
    /// `deleteConsumerGroupOffsets`). Only for a group without active
    /// members: [`Error::GroupNotEmpty`] otherwise.
    pub fn delete_offsets(&self, topic: &str) -> Result<()> {
        self.refuse_if_active()?;
        let commits: Vec<_> = self
            .offsets()
            .into_keys()
            .filter(|(t, _)| t == topic)
            .map(|k| (k, None))
            .collect();
        self.groups
            .offsets
            .commit(&self.groups.registry, &self.id, &commits)
    }

    /// Deletes the group: its committed offsets and what is known of it.
    /// Only for a group without active members: [`Error::GroupNotEmpty`]
    /// otherwise; [`Error::UnknownGroup`] for one that does not exist.
    pub fn delete(&self) -> Result<()> {
        self.refuse_if_active()?;
        let commits: Vec<_> = self.offsets().into_keys().map(|k| (k, None)).collect();
        if commits.is_empty() && self.groups.coordinator.describe(&self.id).is_none() {
            return Err(self.unknown());
        }
        self.groups
            .offsets
            .commit(&self.groups.registry, &self.id, &commits)?;
        self.groups.coordinator.remove(&self.id);
        self.groups.record_membership()
    }

    fn refuse_if_active(&self) -> Result<()> {
        if !self.groups.coordinator.is_empty(&self.id) {
            return Err(Error::GroupNotEmpty {
                group: self.id.clone(),
            });
        }
        Ok(())
    }
}
