//! The consumer's side of consumer groups: subscribe, follow rebalances
//! (running the listener's callbacks inside `poll`), commit.

use super::{Assigned, Consumer, ConsumerRecord};
use crate::error::{Error, Result};
use crate::group::committer::Completion;
use crate::group::coordinator::{JoinRequest, View};
use crate::group::offsets::{CommitEntry, CommitTurn};
use crate::group::OffsetAndMetadata;
use std::sync::Arc;

/// Callbacks a group member runs inside `poll` when its partitions change,
/// like Kafka's `ConsumerRebalanceListener`. Each gets the consumer, so it
/// may commit (in `on_partitions_revoked`, before the partitions go to
/// another member) or seek (in `on_partitions_assigned`).
pub trait RebalanceListener: Send {
    /// These partitions are about to go to other members. Commits of them
    /// still succeed here.
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[(String, u32)]) {
        let _ = (consumer, partitions);
    }

    /// These partitions are now this member's.
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[(String, u32)]) {
        let _ = (consumer, partitions);
    }

    /// These partitions were taken away without a revocation (the member
    /// was evicted for not polling within `max_poll_interval`); others may
    /// own them already, so commits of them fail. By default the same as
    /// a revocation.
    fn on_partitions_lost(&mut self, consumer: &mut Consumer, partitions: &[(String, u32)]) {
        self.on_partitions_revoked(consumer, partitions);
    }
}

/// Where a group member's commits are written: on the calling thread
/// (the blocking API) or on the commit thread (from async code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Io {
    Inline,
    Offload,
}

/// Where [`Consumer::sync_step`] left the group dance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// In step with the group: fetch.
    Done,
    /// Something changed: ask the coordinator again.
    Again,
    /// Giving partitions up once their commit (in `revoking`) is written.
    Committing,
}

/// A revocation waiting for its commit on the commit thread.
pub(super) struct Revoking {
    pub partitions: Vec<(String, u32)>,
    pub done: Completion<()>,
}

/// The consumer's membership of its group.
pub(super) struct Membership {
    pub topics: Vec<String>,
    pub member_id: String,
    /// The generation of the assignment the consumer holds (0: none yet).
    pub generation: u32,
}

impl Consumer {
    fn group_id(&self) -> Result<String> {
        self.config
            .group_id
            .clone()
            .ok_or_else(|| Error::InvalidConfig("consumer groups need a group_id".into()))
    }

    /// Joins the consumer's group, subscribed to `topics` (Kafka's
    /// `subscribe`): the group's assignor gives this member a share of
    /// their partitions, which `poll` picks up.
    ///
    /// A name outside Kafka's rule is [`Error::InvalidTopicName`]; a topic
    /// that does not exist is [`Error::UnknownTopic`], unless the config
    /// sets `allow_missing_topics` (then it is picked up when created).
    /// On an error the subscription is unchanged.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        let group = self.group_id()?;
        for &topic in topics {
            crate::topic::name::validate(
                topic,
                topic.starts_with(crate::topic::name::INTERNAL_PREFIX),
            )?;
            if !self.config.allow_missing_topics {
                self.log.topic(topic)?;
            }
        }
        if self.membership.is_none() && !self.assigned.is_empty() {
            return Err(Error::InvalidConfig(
                "a consumer with assigned partitions cannot also subscribe".into(),
            ));
        }
        if self.membership.is_some() {
            // As unsubscribe: commit, revoke (with the callback), leave, so
            // no partition is kept at a stale position past the rejoin.
            match self.unsubscribe() {
                Err(Error::RebalanceInProgress { .. } | Error::NotAssigned { .. }) | Ok(()) => {}
                Err(e) => return Err(e),
            }
        }
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let member_id = self.join(&group, topics.clone())?;
        self.log.record_groups();
        self.membership = Some(Membership {
            topics,
            member_id,
            generation: 0,
        });
        Ok(())
    }

    /// As [`Self::subscribe`], with callbacks run inside `poll` when this
    /// member's partitions change.
    pub fn subscribe_with(
        &mut self,
        topics: &[&str],
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        self.listener = Some(Box::new(listener));
        self.subscribe(topics)
    }

    /// The subscribed topics that do not exist (yet): empty unless the
    /// config sets `allow_missing_topics` and a topic is still to be
    /// created (or was deleted since).
    pub fn missing_topics(&self) -> Vec<String> {
        let Some(m) = &self.membership else {
            return Vec::new();
        };
        m.topics
            .iter()
            .filter(|t| self.log.topic(t).is_err())
            .cloned()
            .collect()
    }

    /// Leaves the group (after an auto-commit) and drops the assignment.
    pub fn unsubscribe(&mut self) -> Result<()> {
        let committed = self.auto_commit_now();
        let revoked = self.assignment();
        if self.membership.is_some() && !revoked.is_empty() {
            self.with_listener(|l, c| l.on_partitions_revoked(c, &revoked));
        }
        self.leave();
        self.set_assigned(Vec::new());
        committed
    }

    fn join(&self, group: &str, topics: Vec<String>) -> Result<String> {
        self.log.coordinator().join(
            self.log.registry(),
            group,
            JoinRequest {
                topics,
                assignors: &self.config.assignors,
                instance_id: self.config.group_instance_id.clone(),
                max_poll_interval: self.config.max_poll_interval,
                session_timeout: self.config.session_timeout,
            },
        )
    }

    /// Leaves the group, if a member.
    pub(super) fn leave(&mut self) {
        if let (Some(m), Some(group)) = (self.membership.take(), self.config.group_id.as_deref()) {
            self.log
                .coordinator()
                .leave(self.log.registry(), group, &m.member_id);
            self.log.record_groups();
        }
    }

    fn with_listener(&mut self, f: impl FnOnce(&mut dyn RebalanceListener, &mut Consumer)) {
        if let Some(mut l) = self.listener.take() {
            f(&mut *l, self);
            self.listener = Some(l);
        }
    }

    /// Follows the group: gives up what a rebalance asks for, takes what a
    /// new generation assigns, rejoins after an eviction. Runs the
    /// listener's callbacks. Commits (before giving partitions up) are
    /// written on this thread.
    pub(super) fn sync_group(&mut self) -> Result<()> {
        // A revocation an async `recv` left waiting for its commit: the
        // coordinator asks again, and it is done here, on this thread
        // (the commit on the commit thread is written first, in turn).
        self.revoking = None;
        let synced = loop {
            match self.sync_step(Io::Inline) {
                Ok(Step::Done) => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        // What the dance changed, for readers outside the process.
        self.log.record_groups();
        synced
    }

    /// One answer of the coordinator, acted on. With [`Io::Offload`], a
    /// commit before giving partitions up goes to the commit thread and
    /// the revocation waits in `self.revoking` ([`Step::Committing`]) for
    /// the caller to finish it with [`Self::finish_revoke`].
    pub(super) fn sync_step(&mut self, io: Io) -> Result<Step> {
        let group = self.group_id()?;
        let Some(m) = &self.membership else {
            return Ok(Step::Done);
        };
        let member_id = m.member_id.clone();
        let view = self
            .log
            .coordinator()
            .heartbeat(self.log.registry(), &group, &member_id);
        match view {
            None => {
                let lost = self.assignment();
                self.set_assigned(Vec::new());
                if !lost.is_empty() {
                    self.with_listener(|l, c| l.on_partitions_lost(c, &lost));
                }
                let topics = self
                    .membership
                    .as_ref()
                    .map(|m| m.topics.clone())
                    .unwrap_or_default();
                let member_id = self.join(&group, topics)?;
                if let Some(m) = &mut self.membership {
                    m.member_id = member_id;
                    m.generation = 0;
                }
                Ok(Step::Again)
            }
            Some(View::Revoke { partitions }) => {
                // The coordinator may ask back partitions of a generation
                // this member never took up (it had not polled since):
                // only what the member holds is revoked.
                let partitions: Vec<(String, u32)> = partitions
                    .into_iter()
                    .filter(|(t, p)| {
                        self.assigned
                            .iter()
                            .any(|a| *a.topic == **t && a.partition == *p)
                    })
                    .collect();
                if self.config.enable_auto_commit {
                    // Hand the partitions over where this member got to. A
                    // failed commit does not stop the hand-over.
                    let offsets = self.positions_of(&partitions);
                    match io {
                        Io::Offload if !offsets.is_empty() => {
                            if let Ok(done) = self.commit_offsets_offloaded(&offsets) {
                                self.revoking = Some(Revoking { partitions, done });
                                return Ok(Step::Committing);
                            }
                        }
                        _ => {
                            let _ = self.commit_offsets(&offsets);
                        }
                    }
                }
                self.finish_revoke(&partitions);
                Ok(Step::Again)
            }
            Some(View::Wait) => Ok(Step::Done),
            Some(View::Fenced) => {
                self.set_assigned(Vec::new());
                self.membership = None;
                Err(Error::Fenced {
                    group,
                    instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
                })
            }
            Some(View::Stable {
                generation,
                assignment,
            }) => {
                if self
                    .membership
                    .as_ref()
                    .is_some_and(|m| m.generation == generation)
                {
                    return Ok(Step::Done);
                }
                let added = self.take_assignment(&group, &assignment)?;
                if let Some(m) = &mut self.membership {
                    m.generation = generation;
                }
                if !added.is_empty() {
                    self.with_listener(|l, c| l.on_partitions_assigned(c, &added));
                }
                Ok(Step::Done)
            }
        }
    }

    /// Gives up `partitions` (committed already, if auto-commit is on):
    /// runs the listener, drops them, tells the coordinator.
    pub(super) fn finish_revoke(&mut self, partitions: &[(String, u32)]) {
        if !partitions.is_empty() {
            self.with_listener(|l, c| l.on_partitions_revoked(c, partitions));
        }
        let mut kept = std::mem::take(&mut self.assigned);
        kept.retain(|a| {
            !partitions
                .iter()
                .any(|(t, p)| *t == *a.topic && *p == a.partition)
        });
        self.set_assigned(kept);
        if let (Some(m), Ok(group)) = (&self.membership, self.group_id()) {
            self.log
                .coordinator()
                .revoked(self.log.registry(), &group, &m.member_id);
        }
    }

    /// Installs `assignment`, keeping the positions of partitions already
    /// held and starting new ones at the group's committed offsets; returns
    /// the new ones.
    fn take_assignment(
        &mut self,
        group: &str,
        assignment: &[(String, u32)],
    ) -> Result<Vec<(String, u32)>> {
        let mut next = Vec::with_capacity(assignment.len());
        let mut added = Vec::new();
        for (topic, partition) in assignment {
            let kept = self
                .assigned
                .iter()
                .position(|a| *a.topic == **topic && a.partition == *partition);
            // A kept partition of a deleted topic is a new one now.
            let kept = kept.filter(|&i| !self.assigned[i].handle.is_deleted());
            match kept {
                Some(i) => next.push(self.assigned.swap_remove(i)),
                None => {
                    next.push(Assigned {
                        topic: Arc::from(topic.as_str()),
                        partition: *partition,
                        handle: self.log.topic(topic)?.partition(*partition)?,
                        position: self
                            .log
                            .committed(group, topic, *partition)
                            .map(|o| o.offset),
                        paused: false,
                    });
                    added.push((topic.clone(), *partition));
                }
            }
        }
        self.set_assigned(next);
        Ok(added)
    }

    /// The current positions of `partitions`, as commits.
    pub(super) fn positions_of(
        &self,
        partitions: &[(String, u32)],
    ) -> Vec<((String, u32), OffsetAndMetadata)> {
        self.assigned
            .iter()
            .filter(|a| {
                partitions
                    .iter()
                    .any(|(t, p)| *t == *a.topic && *p == a.partition)
            })
            .filter_map(|a| {
                a.position.map(|o| {
                    (
                        (a.topic.to_string(), a.partition),
                        OffsetAndMetadata::new(o),
                    )
                })
            })
            .collect()
    }

    /// Commits the positions of every assigned partition: everything the
    /// polls so far returned is processed (Kafka's `commitSync()`).
    pub fn commit(&mut self) -> Result<()> {
        let all = self.assignment();
        let offsets = self.positions_of(&all);
        self.commit_offsets(&offsets)
    }

    /// Commits these offsets for the consumer's group. A group member may
    /// commit only partitions the group has it own right now, which
    /// includes those it is giving up in `on_partitions_revoked`; a member
    /// evicted or fenced gets [`Error::RebalanceInProgress`], one that no
    /// longer owns a partition [`Error::NotAssigned`]. A consumer of
    /// manually assigned partitions may commit only while the group has no
    /// members ([`Error::GroupNotEmpty`]).
    pub fn commit_offsets(&mut self, offsets: &[((String, u32), OffsetAndMetadata)]) -> Result<()> {
        let (group, commits, turn) =
            self.check_commit(offsets, |group, commits, turn| (group, commits, turn))?;
        self.log
            .offset_store()
            .commit_in_turn(turn, self.log.registry(), &group, &commits)?;
        self.last_commit = self.log.now_ms();
        Ok(())
    }

    /// [`Self::commit_offsets`] written on the commit thread: checked
    /// now, against the group as it is now, and written in that order.
    pub(super) fn commit_offsets_offloaded(
        &mut self,
        offsets: &[((String, u32), OffsetAndMetadata)],
    ) -> Result<Completion<()>> {
        let log = self.log.clone();
        // Queued with the check, under the coordinator's lock: the commit
        // thread runs commits in the order of their turns, and never waits
        // for a turn whose commit is queued behind the one it runs.
        let done = self.check_commit(offsets, move |group, commits, turn| {
            let writer = log.clone();
            log.committer().submit(move || {
                writer
                    .offset_store()
                    .commit_in_turn(turn, writer.registry(), &group, &commits)
            })
        })??;
        self.last_commit = self.log.now_ms();
        Ok(done)
    }

    /// Checks a commit against the group (a member's own partitions, or
    /// no members for a consumer outside the group) and takes its turn in
    /// the offset store's order, with no I/O; then, still under the
    /// coordinator's lock, hands the group, the commits as the store takes
    /// them and the turn to `then`.
    fn check_commit<T>(
        &mut self,
        offsets: &[((String, u32), OffsetAndMetadata)],
        then: impl FnOnce(String, Vec<CommitEntry>, CommitTurn) -> T,
    ) -> Result<T> {
        let group = self.group_id()?;
        if let Some(injected) = self.log.armed_faults().take_commit(&group) {
            return Err(injected);
        }
        let partitions: Vec<(String, u32)> = offsets.iter().map(|(tp, _)| tp.clone()).collect();
        let commits: Vec<_> = offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), Some(o.clone())))
            .collect();
        let store = self.log.offset_store();
        let named = group.clone();
        let under_lock = move || then(named, commits, store.turn());
        let coordinator = self.log.coordinator();
        match &self.membership {
            Some(m) => {
                coordinator.commit_with(&group, &m.member_id, m.generation, &partitions, under_lock)
            }
            None => coordinator.commit_if_empty(&group, under_lock),
        }
    }

    /// Commits `record` as processed: its partition's committed offset
    /// becomes the offset after it, where the group resumes (Kafka's
    /// `commitSync(Map.of(tp, new OffsetAndMetadata(record.offset() + 1)))`
    /// in one call). The same rules as [`Self::commit_offsets`].
    pub fn commit_record(&mut self, record: &ConsumerRecord<'_>) -> Result<()> {
        self.commit_offset(record.topic(), record.partition(), record.offset() + 1)
    }

    /// Commits `offset`, the next offset to read, for `topic`/`partition`.
    /// The same rules as [`Self::commit_offsets`].
    pub fn commit_offset(&mut self, topic: &str, partition: u32, offset: u64) -> Result<()> {
        self.commit_offsets(&[(
            (topic.to_owned(), partition),
            OffsetAndMetadata::new(offset),
        )])
    }

    /// The consumer's group, member id and generation, for offsets
    /// committed inside a producer's transaction
    /// ([`Producer::send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction)),
    /// which are fenced as this consumer's own commits are.
    pub fn group_metadata(&self) -> Result<crate::group::ConsumerGroupMetadata> {
        Ok(crate::group::ConsumerGroupMetadata {
            group_id: self.group_id()?,
            member_id: self.membership.as_ref().map(|m| m.member_id.clone()),
            generation: self.membership.as_ref().map_or(0, |m| m.generation),
        })
    }

    /// The group's committed offset on an assigned partition.
    pub fn committed(&self, topic: &str, partition: u32) -> Result<Option<OffsetAndMetadata>> {
        Ok(self.log.committed(&self.group_id()?, topic, partition))
    }

    /// Commits now if auto-commit is on and the consumer has a group.
    pub(super) fn auto_commit_now(&mut self) -> Result<()> {
        if self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && !self.assigned.is_empty()
        {
            return self.commit();
        }
        Ok(())
    }

    /// Commits if auto-commit is on and the interval has passed.
    pub(super) fn maybe_auto_commit(&mut self) -> Result<()> {
        if self.auto_commit_due() {
            match self.auto_commit_now() {
                // The next poll rejoins; the commit waits for that.
                Err(Error::RebalanceInProgress { .. }) => {}
                other => other?,
            }
            self.last_commit = self.log.now_ms();
        }
        Ok(())
    }

    fn auto_commit_due(&self) -> bool {
        let interval =
            i64::try_from(self.config.auto_commit_interval.as_millis()).unwrap_or(i64::MAX);
        self.log.now_ms().saturating_sub(self.last_commit) >= interval
    }

    /// [`Self::maybe_auto_commit`] for async code: the commit is written on
    /// the commit thread and its outcome checked by a later `recv`; one at
    /// a time.
    pub(super) fn maybe_auto_commit_offloaded(&mut self) -> Result<()> {
        self.check_committing()?;
        if self.committing.is_some()
            || !self.auto_commit_due()
            || !self.config.enable_auto_commit
            || self.config.group_id.is_none()
            || self.assigned.is_empty()
        {
            return Ok(());
        }
        let all = self.assignment();
        let offsets = self.positions_of(&all);
        match self.commit_offsets_offloaded(&offsets) {
            Ok(done) => self.committing = Some(done),
            // The next poll rejoins; the commit waits for that.
            Err(Error::RebalanceInProgress { .. }) => {}
            Err(e) => return Err(e),
        }
        self.last_commit = self.log.now_ms();
        Ok(())
    }

    /// The outcome of the auto-commit on the commit thread, once written:
    /// its error, unless the group moved on meanwhile (as the blocking
    /// auto-commit, which the next poll's rejoin makes good).
    pub(super) fn check_committing(&mut self) -> Result<()> {
        let Some(outcome) = self.committing.as_ref().and_then(Completion::try_take) else {
            return Ok(());
        };
        self.committing = None;
        match outcome {
            Err(Error::RebalanceInProgress { .. } | Error::NotAssigned { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
