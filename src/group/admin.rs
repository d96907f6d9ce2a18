//! Admin operations on consumer groups: list, describe, lag, reset, delete.

use super::coordinator::GroupDescription;
use super::offsets::OffsetAndMetadata;
use crate::error::{Error, Result};
use crate::log::Log;

/// Where [`Log::reset_offsets`] moves a group's committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// Each partition's log start offset.
    Earliest,
    /// Each partition's high watermark.
    Latest,
    /// This offset on every partition (clamped to the partition's range).
    To(u64),
    /// The earliest offset with a timestamp at or after this (the high
    /// watermark if none).
    Timestamp(i64),
}

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
    /// Records between the committed offset (or the log start, without
    /// one, or when the log start passed it) and the high watermark.
    pub lag: u64,
}

impl Log {
    /// Every consumer group with members or committed offsets.
    pub fn groups(&self) -> Vec<String> {
        let mut g = self.coordinator().groups();
        g.extend(self.offset_store().groups());
        g.sort();
        g.dedup();
        g
    }

    /// State, generation, assignor and members of a group.
    pub fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        if let Some(d) = self.coordinator().describe(group) {
            return Ok(d);
        }
        if self.offset_store().groups().iter().any(|g| g == group) {
            return Ok(GroupDescription {
                group: group.to_owned(),
                state: "Empty",
                generation: 0,
                assignor: None,
                members: Vec::new(),
            });
        }
        Err(Error::UnknownGroup {
            group: group.to_owned(),
        })
    }

    /// The group's committed offset on `topic`/`partition`.
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Option<OffsetAndMetadata> {
        self.offset_store().committed(group, topic, partition)
    }

    /// The group's lag on every partition of every topic it committed
    /// offsets for or its members subscribe to: high watermark minus
    /// committed offset.
    pub fn lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let mut topics: Vec<String> = self
            .offset_store()
            .of_group(group)
            .into_iter()
            .map(|((t, _), _)| t)
            .collect();
        if let Some(d) = self.coordinator().describe(group) {
            topics.extend(d.members.into_iter().flat_map(|m| m.topics));
        }
        topics.sort();
        topics.dedup();
        let mut out = Vec::new();
        for t in topics {
            let Ok(topic) = self.topic(&t) else { continue };
            for (i, p) in topic.partitions().into_iter().enumerate() {
                let committed = self.committed(group, &t, i as u32).map(|o| o.offset);
                let hw = p.high_watermark();
                let from = committed.unwrap_or(0).max(p.log_start_offset());
                out.push(PartitionLag {
                    topic: t.clone(),
                    partition: i as u32,
                    committed,
                    high_watermark: hw,
                    lag: hw.saturating_sub(from),
                });
            }
        }
        Ok(out)
    }

    /// Moves the group's committed offsets on every partition of `topic`
    /// (Kafka's `kafka-consumer-groups --reset-offsets`). Only for a group
    /// without active members: [`Error::GroupNotEmpty`] otherwise.
    pub fn reset_offsets(&self, group: &str, topic: &str, to: OffsetReset) -> Result<()> {
        if !self.coordinator().is_empty(group) {
            return Err(Error::GroupNotEmpty {
                group: group.to_owned(),
            });
        }
        let t = self.topic(topic)?;
        let mut commits = Vec::new();
        for (i, p) in t.partitions().into_iter().enumerate() {
            let (start, end) = (p.log_start_offset(), p.high_watermark());
            let offset = match to {
                OffsetReset::Earliest => start,
                OffsetReset::Latest => end,
                OffsetReset::To(n) => n.clamp(start, end),
                OffsetReset::Timestamp(ms) => p.offset_for_timestamp(ms)?.map_or(end, |t| t.offset),
            };
            commits.push((
                (topic.to_owned(), i as u32),
                Some(OffsetAndMetadata::new(offset)),
            ));
        }
        self.offset_store().commit(self, group, &commits)
    }

    /// Deletes a group's committed offsets. Only for a group without active
    /// members: [`Error::GroupNotEmpty`] otherwise.
    pub fn delete_group(&self, group: &str) -> Result<()> {
        if !self.coordinator().is_empty(group) {
            return Err(Error::GroupNotEmpty {
                group: group.to_owned(),
            });
        }
        let commits: Vec<_> = self
            .offset_store()
            .of_group(group)
            .into_iter()
            .map(|(k, _)| (k, None))
            .collect();
        if commits.is_empty() && self.coordinator().describe(group).is_none() {
            return Err(Error::UnknownGroup {
                group: group.to_owned(),
            });
        }
        self.offset_store().commit(self, group, &commits)?;
        self.coordinator().remove(group);
        Ok(())
    }
}
