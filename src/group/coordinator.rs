//! The group coordinator, inside the log: membership, generations and
//! assignments of consumer groups, as Kafka's `GroupCoordinator` keeps them
//! for its consumers, but called directly instead of over the network.
//!
//! Every change of membership (a join, a leave, a member evicted for not
//! polling within its `max_poll_interval`, partitions added to a subscribed
//! topic) starts a rebalance, in Kafka's two steps. First every member, at
//! its next poll, gives up the partitions it must give up (all of them with
//! an eager assignor, only the moved ones with a cooperative one), running
//! its `on_partitions_revoked` callback, where it may still commit them.
//! When every member has done so (or was evicted for not polling in time),
//! the new generation starts and members learn their new partitions at
//! their next poll. So a partition never has two owners, and a commit is
//! accepted only for partitions the coordinator has the member own at that
//! moment: a member that lost partitions (given up, evicted, fenced)
//! cannot commit them.

use crate::assignor::{Assignor, GroupMember, RangeAssignor};
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::topic::TopicId;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `d` in milliseconds, as the log's clock counts.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How a member joins.
pub(crate) struct JoinRequest<'a> {
    pub topics: Vec<String>,
    pub assignors: &'a [Arc<dyn Assignor>],
    pub instance_id: Option<String>,
    pub max_poll_interval: Duration,
    pub session_timeout: Duration,
}

struct Member {
    topics: Vec<String>,
    assignment: Vec<(String, u32)>,
    /// When it last polled, by the log's clock (ms).
    last_poll: i64,
    max_poll_interval: Duration,
    /// Waiting in an async poll: alive whatever `last_poll` says.
    waiting: bool,
    session_timeout: Duration,
    instance_id: Option<String>,
    /// A static member that closed: it keeps its place (and partitions)
    /// until this deadline, so a restart in time changes nothing.
    departed: Option<i64>,
}

#[derive(Default)]
struct Group {
    /// The group's id, for the events and metrics operators see.
    id: String,
    /// The generation whose assignment is in force.
    generation: u32,
    members: BTreeMap<String, Member>,
    assignor: Option<Arc<dyn Assignor>>,
    /// The topics the current assignment was computed for.
    topics: Topics,
    next_member: u64,
    /// A rebalance waiting for these members to give up partitions.
    rebalance: Option<Pending>,
    /// Member ids of static members whose instance id a newer instance
    /// took over: their polls are refused.
    fenced: BTreeSet<String>,
}

/// A rebalance under way: the assignment it will install, and what each
/// member has yet to give up.
struct Pending {
    target: BTreeMap<String, Vec<(String, u32)>>,
    revoke: BTreeMap<String, Vec<(String, u32)>>,
}

/// What a member learns at a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View {
    /// The group is stable: this generation and these partitions.
    Stable {
        generation: u32,
        assignment: Vec<(String, u32)>,
    },
    /// A rebalance needs these partitions back from the member first.
    Revoke { partitions: Vec<(String, u32)> },
    /// A rebalance waits for other members; keep what you have.
    Wait,
    /// A newer instance with the same `group_instance_id` took this
    /// member's place.
    Fenced,
}

/// A member as [`ConsumerGroup::describe`](crate::ConsumerGroup::describe) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its `group_instance_id`, for static members.
    pub instance_id: Option<String>,
    /// The topics it subscribed to.
    pub topics: Vec<String>,
    /// The partitions it is assigned in the current generation.
    pub assignment: Vec<(String, u32)>,
}

/// A consumer group's state, as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupState {
    /// No members (it may have committed offsets).
    Empty,
    /// Members, and an assignment in force.
    Stable,
    /// Members, and a rebalance waiting for some to give up partitions.
    PreparingRebalance,
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupState::Empty => "Empty",
            GroupState::Stable => "Stable",
            GroupState::PreparingRebalance => "PreparingRebalance",
        })
    }
}

/// A consumer group as [`ConsumerGroup::describe`](crate::ConsumerGroup::describe)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group: String,
    /// Empty, stable, or rebalancing.
    pub state: GroupState,
    /// The current generation (bumped by every rebalance).
    pub generation: u32,
    /// The assignor's protocol name, once a member has joined.
    pub assignor: Option<String>,
    /// The members, by member id.
    pub members: Vec<MemberDescription>,
}

/// All groups of a log.
#[derive(Default)]
pub(crate) struct Coordinator {
    groups: Mutex<BTreeMap<String, Group>>,
    /// Groups changed since their membership was last recorded (see
    /// `membership`); taken after `groups` when both are held.
    unrecorded: Mutex<BTreeSet<String>>,
    /// Whether `unrecorded` has any: the check each poll makes, lock-free.
    any_unrecorded: AtomicBool,
}

impl Coordinator {
    /// Adds a member (or, for a static member whose instance id is known,
    /// hands it the existing member's place without a rebalance) and
    /// returns its member id.
    pub fn join(&self, registry: &Registry, group: &str, req: JoinRequest<'_>) -> Result<String> {
        let mut groups = self.groups.lock();
        let g = groups.entry(group.to_owned()).or_insert_with(|| Group {
            id: group.to_owned(),
            ..Group::default()
        });
        let assignor = match &g.assignor {
            Some(a) if g.members.is_empty() => {
                req.assignors.first().cloned().unwrap_or_else(|| a.clone())
            }
            Some(a) => req
                .assignors
                .iter()
                .find(|x| x.name() == a.name())
                .cloned()
                .ok_or_else(|| Error::InconsistentGroupProtocol {
                    group: group.to_owned(),
                    assignor: a.name().to_owned(),
                })?,
            None => req.assignors.first().cloned().ok_or_else(|| {
                Error::InvalidConfig("a group member needs at least one assignor".into())
            })?,
        };
        g.assignor = Some(assignor);
        let now = registry.now_ms();
        if let Some(id) = &req.instance_id {
            let known = g
                .members
                .iter()
                .find(|(_, m)| m.instance_id.as_deref() == Some(id.as_str()))
                .map(|(k, _)| k.clone());
            if let Some(old_id) = known {
                // The instance restarted (or a second one started): the new
                // one takes the member's place and partitions under a new
                // member id, with no rebalance, and the old id is fenced.
                let mut m = g.members.remove(&old_id).expect("found just now");
                g.next_member += 1;
                let member_id = format!("{id}-{}", g.next_member);
                let same_topics = m.topics == req.topics;
                m.departed = None;
                m.waiting = false;
                m.last_poll = now;
                m.max_poll_interval = req.max_poll_interval;
                m.session_timeout = req.session_timeout;
                m.topics = req.topics;
                g.members.insert(member_id.clone(), m);
                if let Some(p) = &mut g.rebalance {
                    for map in [&mut p.target, &mut p.revoke] {
                        if let Some(v) = map.remove(&old_id) {
                            map.insert(member_id.clone(), v);
                        }
                    }
                }
                g.fenced.insert(old_id);
                if !same_topics {
                    start_rebalance(registry, g);
                }
                self.mark(group);
                return Ok(member_id);
            }
        }
        g.next_member += 1;
        let member_id = format!(
            "{}-{}",
            req.instance_id.as_deref().unwrap_or("consumer"),
            g.next_member
        );
        g.members.insert(
            member_id.clone(),
            Member {
                topics: req.topics,
                assignment: Vec::new(),
                last_poll: now,
                max_poll_interval: req.max_poll_interval,
                waiting: false,
                session_timeout: req.session_timeout,
                instance_id: req.instance_id,
                departed: None,
            },
        );
        start_rebalance(registry, g);
        self.mark(group);
        Ok(member_id)
    }

    /// Removes a member. A static member only departs: its partitions wait
    /// for it until its session timeout.
    pub fn leave(&self, registry: &Registry, group: &str, member_id: &str) {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group) else {
            return;
        };
        let Some(m) = g.members.get_mut(member_id) else {
            return;
        };
        if m.instance_id.is_some() {
            m.departed = Some(registry.now_ms().saturating_add(millis(m.session_timeout)));
            return;
        }
        g.members.remove(member_id);
        start_rebalance(registry, g);
        self.mark(group);
    }

    /// A member's poll: refreshes its liveness, evicts members that went
    /// quiet, starts a rebalance if the subscribed topics grew, and tells
    /// the member what to do; `None` if it is no longer a member (evicted,
    /// or its static instance id taken over) and must rejoin.
    pub fn heartbeat(&self, registry: &Registry, group: &str, member_id: &str) -> Option<View> {
        let mut groups = self.groups.lock();
        let g = groups.get_mut(group)?;
        if g.fenced.contains(member_id) {
            return Some(View::Fenced);
        }
        let now = registry.now_ms();
        let before = g.members.len();
        let shape = (before, g.generation, g.rebalance.is_some());
        // Including the caller: a member that took longer than its
        // max_poll_interval between polls has left the group, as in Kafka,
        // and must rejoin. Time is the log's clock, so a test with a
        // `ManualClock` expires a member by advancing it.
        g.members.retain(|_, m| match m.departed {
            Some(deadline) => now < deadline,
            None => m.waiting || now.saturating_sub(m.last_poll) <= millis(m.max_poll_interval),
        });
        let m = g.members.get_mut(member_id)?;
        m.last_poll = now;
        if g.members.len() != before || current_topics(registry, g) != g.topics {
            start_rebalance(registry, g);
        }
        finish_rebalance_if_ready(registry, g);
        if shape != (g.members.len(), g.generation, g.rebalance.is_some()) {
            self.mark(group);
        }
        Some(match &g.rebalance {
            Some(p) => match p.revoke.get(member_id) {
                Some(partitions) => View::Revoke {
                    partitions: partitions.clone(),
                },
                None => View::Wait,
            },
            None => View::Stable {
                generation: g.generation,
                assignment: g.members[member_id].assignment.clone(),
            },
        })
    }

    /// Starts a rebalance of `group` with its current members, as a join
    /// would (fault injection: `Faults::force_rebalance`).
    #[cfg(feature = "test-util")]
    pub fn force_rebalance(&self, registry: &Registry, group: &str) -> Result<()> {
        let mut groups = self.groups.lock();
        let g = groups.get_mut(group).ok_or_else(|| Error::UnknownGroup {
            group: group.to_owned(),
        })?;
        if !g.members.is_empty() && g.rebalance.is_none() {
            start_rebalance(registry, g);
            self.mark(group);
        }
        Ok(())
    }

    /// The member gave up the partitions a rebalance asked for.
    pub fn revoked(&self, registry: &Registry, group: &str, member_id: &str) {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group) else {
            return;
        };
        if let Some(p) = &mut g.rebalance {
            if let Some(gone) = p.revoke.remove(member_id) {
                if let Some(m) = g.members.get_mut(member_id) {
                    m.assignment.retain(|tp| !gone.contains(tp));
                }
                self.mark(group);
            }
        }
        finish_rebalance_if_ready(registry, g);
    }

    /// Allows the commit of `partitions` by `member_id` if the member is
    /// still in the group and, as the coordinator has it now, owns every
    /// one of them: a member's own partitions, including those a rebalance
    /// is waiting for it to give up (its revocation callback commits them),
    /// whatever generation the member last saw. `take_turn` (the commit's
    /// place in the offset store's order) runs under the coordinator's
    /// lock with the check, so a commit checked before an eviction or a
    /// new generation is written before any commit checked after it: a
    /// stale commit never lands after the new owner's. The write itself
    /// happens outside the lock.
    pub fn commit_with<T>(
        &self,
        group: &str,
        member_id: &str,
        generation: u32,
        partitions: &[(String, u32)],
        take_turn: impl FnOnce() -> T,
    ) -> Result<T> {
        let groups = self.groups.lock();
        let g = groups.get(group).ok_or_else(|| Error::UnknownGroup {
            group: group.to_owned(),
        })?;
        let m = g
            .members
            .get(member_id)
            .filter(|_| !g.fenced.contains(member_id))
            .ok_or_else(|| Error::RebalanceInProgress {
                group: group.to_owned(),
                generation,
                current: g.generation,
            })?;
        for (t, p) in partitions {
            if !m.assignment.iter().any(|(mt, mp)| mt == t && mp == p) {
                return Err(Error::NotAssigned {
                    topic: t.clone(),
                    partition: *p,
                });
            }
        }
        Ok(take_turn())
    }

    /// Allows a commit by a consumer outside the group's membership only
    /// while the group has no members; `take_turn` runs under the
    /// coordinator's lock with the check, so a member joining after it
    /// commits after it.
    pub fn commit_if_empty<T>(&self, group: &str, take_turn: impl FnOnce() -> T) -> Result<T> {
        let groups = self.groups.lock();
        if groups.get(group).is_some_and(|g| !g.members.is_empty()) {
            return Err(Error::GroupNotEmpty {
                group: group.to_owned(),
            });
        }
        Ok(take_turn())
    }

    /// Marks a member as waiting for records in an async poll (`true`) or
    /// back from one (`false`, which counts as a poll). A waiting member
    /// is polling by definition: it is never evicted for exceeding its
    /// `max_poll_interval`, whatever the wait lasts, and needs no timer to
    /// stay in its group. A rebalance wakes it through the append signal.
    pub fn set_waiting(&self, registry: &Registry, group: &str, member_id: &str, waiting: bool) {
        let mut groups = self.groups.lock();
        if let Some(m) = groups
            .get_mut(group)
            .and_then(|g| g.members.get_mut(member_id))
        {
            m.waiting = waiting;
            m.last_poll = registry.now_ms();
        }
    }

    /// Whether the group has no members (a consumer without a group
    /// subscription may then commit for it, and admin may reset it).
    pub fn is_empty(&self, group: &str) -> bool {
        self.groups
            .lock()
            .get(group)
            .is_none_or(|g| g.members.is_empty())
    }

    /// The groups with members or a generation.
    pub fn groups(&self) -> Vec<String> {
        self.groups.lock().keys().cloned().collect()
    }

    /// Forgets an empty group's membership history.
    pub fn remove(&self, group: &str) {
        let mut groups = self.groups.lock();
        if groups.get(group).is_some_and(|g| g.members.is_empty()) {
            groups.remove(group);
            self.mark(group);
        }
    }

    /// Takes up a group its membership record names, at open: the members
    /// it lists were the previous owner's, gone with it, so the group
    /// starts empty, at the recorded generation (so generations keep
    /// counting up across restarts, as Kafka's do). Recorded again if the
    /// record listed members.
    pub fn restore(&self, description: &GroupDescription) {
        let mut groups = self.groups.lock();
        let g = groups
            .entry(description.group.clone())
            .or_insert_with(|| Group {
                id: description.group.clone(),
                ..Group::default()
            });
        g.generation = g.generation.max(description.generation);
        if description.state != GroupState::Empty || !description.members.is_empty() {
            self.mark(&description.group);
        }
    }

    /// Notes that `group` changed since its membership was last recorded.
    fn mark(&self, group: &str) {
        self.unrecorded.lock().insert(group.to_owned());
        self.any_unrecorded.store(true, Ordering::Release);
    }

    /// Whether a group changed since its membership was last recorded.
    pub fn has_unrecorded(&self) -> bool {
        self.any_unrecorded.load(Ordering::Acquire)
    }

    /// The groups changed since they were last recorded, described as
    /// they are now (`None`: the group was removed), and forgotten as
    /// changed: [`Self::unrecord`] gives back those whose record could not
    /// be written.
    pub fn take_unrecorded(&self) -> Vec<(String, Option<GroupDescription>)> {
        let groups = self.groups.lock();
        let mut unrecorded = self.unrecorded.lock();
        self.any_unrecorded.store(false, Ordering::Release);
        std::mem::take(&mut *unrecorded)
            .into_iter()
            .map(|id| {
                let d = groups.get(&id).map(|g| describe(&id, g));
                (id, d)
            })
            .collect()
    }

    /// Marks `groups` changed again (their record was not written).
    pub fn unrecord(&self, groups: impl IntoIterator<Item = String>) {
        for g in groups {
            self.mark(&g);
        }
    }

    pub fn describe(&self, group: &str) -> Option<GroupDescription> {
        let groups = self.groups.lock();
        groups.get(group).map(|g| describe(group, g))
    }
}

/// `g` as [`Coordinator::describe`] reports it.
fn describe(group: &str, g: &Group) -> GroupDescription {
    GroupDescription {
        group: group.to_owned(),
        state: if g.members.is_empty() {
            GroupState::Empty
        } else if g.rebalance.is_some() {
            GroupState::PreparingRebalance
        } else {
            GroupState::Stable
        },
        generation: g.generation,
        assignor: g.assignor.as_ref().map(|a| a.name().to_owned()),
        members: g
            .members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                instance_id: m.instance_id.clone(),
                topics: m.topics.clone(),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
}

/// Partition counts and ids of every topic the members subscribe to
/// (topics that do not exist count as none).
fn current_topics(registry: &Registry, g: &Group) -> Topics {
    let names: BTreeSet<&String> = g.members.values().flat_map(|m| &m.topics).collect();
    let mut topics = Topics::default();
    for name in names {
        if let Ok(t) = registry.topic(name) {
            topics.counts.insert(name.clone(), t.partition_count());
            topics.ids.insert(name.clone(), t.id());
        }
    }
    topics
}

/// The subscribed topics as an assignment sees them.
#[derive(Default, PartialEq)]
struct Topics {
    /// Partition counts, by topic name.
    counts: BTreeMap<String, u32>,
    /// Their ids: a topic deleted and created again under its name is
    /// another topic, whose partitions are assigned anew.
    ids: BTreeMap<String, TopicId>,
}

/// Starts a rebalance: computes the target assignment and what each member
/// must give up first (everything under an eager assignor, only moved
/// partitions under a cooperative one), and wakes members blocked in poll.
/// Members that hold nothing to give up are not waited for.
fn start_rebalance(registry: &Registry, g: &mut Group) {
    g.topics = current_topics(registry, g);
    let Some(assignor) = g.assignor.clone() else {
        return;
    };
    let ids: Vec<String> = g.members.keys().cloned().collect();
    let members: Vec<GroupMember<'_>> = ids
        .iter()
        .map(|id| {
            let m = &g.members[id];
            GroupMember {
                member_id: id,
                topics: &m.topics,
                owned: &m.assignment,
            }
        })
        .collect();
    let mut target = assignor.assign(&members, &g.topics.counts);
    if !is_valid(&target, &members, &g.topics.counts) {
        // A custom assignor broke the contract (a partition twice, or to a
        // member not subscribed to its topic, or left out): the group gets
        // Kafka's range assignment instead of two owners for a partition.
        target = RangeAssignor.assign(&members, &g.topics.counts);
    }
    let mut revoke = BTreeMap::new();
    for (id, m) in &g.members {
        let keep = target.get(id).map(Vec::as_slice).unwrap_or_default();
        let gone: Vec<(String, u32)> = if assignor.cooperative() {
            m.assignment
                .iter()
                .filter(|tp| !keep.contains(tp))
                .cloned()
                .collect()
        } else {
            m.assignment.clone()
        };
        if !gone.is_empty() {
            revoke.insert(id.clone(), gone);
        }
    }
    // Partitions of members that left are free at once.
    g.rebalance = Some(Pending { target, revoke });
    finish_rebalance_if_ready(registry, g);
    registry.signal().notify();
}

/// Whether `target` gives every partition of every subscribed topic to
/// exactly one member subscribed to it, and nothing else.
fn is_valid(
    target: &BTreeMap<String, Vec<(String, u32)>>,
    members: &[GroupMember<'_>],
    counts: &BTreeMap<String, u32>,
) -> bool {
    let mut seen = BTreeSet::new();
    for (id, parts) in target {
        let Some(m) = members.iter().find(|m| m.member_id == id) else {
            return false;
        };
        for (t, p) in parts {
            let exists = counts.get(t).is_some_and(|n| p < n);
            if !exists || !m.topics.contains(t) || !seen.insert((t.clone(), *p)) {
                return false;
            }
        }
    }
    let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    let wanted: usize = counts
        .iter()
        .filter(|(t, _)| subscribed.contains(t))
        .map(|(_, n)| *n as usize)
        .sum();
    seen.len() == wanted
}

/// Installs the target assignment once no member has anything left to give
/// up: a new generation starts.
fn finish_rebalance_if_ready(registry: &Registry, g: &mut Group) {
    let ready = match &g.rebalance {
        Some(p) => p.revoke.keys().all(|id| !g.members.contains_key(id)),
        None => false,
    };
    if !ready {
        return;
    }
    let p = g.rebalance.take().expect("checked above");
    for (id, m) in g.members.iter_mut() {
        m.assignment = p.target.get(id).cloned().unwrap_or_default();
    }
    g.generation += 1;
    crate::meter::rebalanced(&g.id);
    crate::observe::info!(
        group = %g.id,
        generation = g.generation,
        members = g.members.len(),
        assignment = %assignment_summary(g),
        "rebalance done: a new generation's assignment is in force"
    );
    registry.signal().notify();
}

/// Each member's partitions, for the rebalance event:
/// `consumer-1: orders-0 orders-1; consumer-2: orders-2`.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
fn assignment_summary(g: &Group) -> String {
    let members: Vec<String> = g
        .members
        .iter()
        .map(|(id, m)| {
            let parts: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            format!("{id}: {}", parts.join(" "))
        })
        .collect();
    members.join("; ")
}
