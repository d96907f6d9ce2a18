//! Partition assignors: which member of a consumer group reads which
//! partition.
//!
//! Beside the group coordinator, not under it: an assignor sees only the
//! members (their ids, subscriptions and what they owned last generation)
//! and the partition count of every subscribed topic, and returns who gets
//! what. The coordinator computes one assignment per generation and acts
//! on it. Three of Kafka's built-in strategies are here under Kafka's
//! protocol names: [`RangeAssignor`] (`"range"`), [`RoundRobinAssignor`]
//! (`"roundrobin"`) and [`CooperativeStickyAssignor`]
//! (`"cooperative-sticky"`); anything implementing [`Assignor`] can stand
//! in for them.

mod range;
mod round_robin;
mod sticky;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::CooperativeStickyAssignor;

use std::collections::BTreeMap;

/// One member of a group as the assignor sees it.
///
/// Borrowed from the coordinator for the duration of one
/// [`Assignor::assign`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMember<'a> {
    /// The member's id, unique within the group. Assignments are keyed by
    /// it, and the built-in assignors order members by it.
    pub member_id: &'a str,
    /// Topics the member subscribed to, in any order. A topic absent from
    /// the partition counts passed to [`Assignor::assign`] does not exist
    /// (yet) and gets no partitions.
    pub topics: &'a [String],
    /// Partitions the member owned in the previous generation, as
    /// `(topic, partition)`; empty for a new member. Only sticky assignors
    /// look at it.
    pub owned: &'a [(String, u32)],
}

impl GroupMember<'_> {
    /// Whether the member subscribed to `topic`.
    pub fn subscribes(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
}

/// An assignment: every member's partitions, keyed by member id.
type Assignment = BTreeMap<String, Vec<(String, u32)>>;

/// Decides which member of a group reads which partition: one method,
/// called by the group coordinator once per generation.
///
/// # Contract
///
/// The coordinator passes:
///
/// - `members`: every member of the new generation, with distinct
///   [`member_id`](GroupMember::member_id)s, in no particular order.
/// - `partitions`: the partition count of every topic any member
///   subscribes to; a subscribed topic missing from the map does not
///   exist and has no partitions. The map may hold other topics too, which
///   nobody subscribes to and which get no members.
///
/// The assignor returns:
///
/// - an entry, maybe an empty list, for every member id, and no other
///   keys;
/// - every partition `0..count` of every topic some member subscribes to,
///   given to exactly one member that subscribes to that topic; a member
///   subscribed to nothing gets nothing, and members beyond the partition
///   count get empty lists (they stay idle until a partition frees up);
/// - the same answer for the same input, so that assignments can be
///   reproduced and tested.
///
/// The built-in assignors also list each member's partitions sorted by
/// topic, then partition. An answer outside this contract is a bug in the
/// assignor, not something the coordinator repairs.
///
/// The coordinator holds assignors as `Arc<dyn Assignor>` or
/// `Box<dyn Assignor>` and may call them from any thread, hence
/// `Send + Sync`; a rebalance waits for the call, so keep it quick.
///
/// # Eager or cooperative
///
/// [`cooperative`](Assignor::cooperative) says how a rebalance hands
/// partitions over. Eager (the default, like Kafka's `EAGER` protocol):
/// every member gives up all its partitions, and the rebalance listener's
/// `on_partitions_revoked` sees all of them, before the new assignment
/// takes effect. Cooperative (Kafka's `COOPERATIVE`): an assignor that
/// keeps partitions where they were lets members keep reading those
/// through the rebalance, and only the partitions that move to another
/// member are revoked from their old owner.
///
/// # A custom assignor
///
/// ```
/// use samsa_log::group::{Assignor, GroupMember};
/// use std::collections::BTreeMap;
///
/// /// Hot standby: for each topic, the subscriber with the smallest member
/// /// id reads every partition, and the others wait to take over.
/// struct Failover;
///
/// impl Assignor for Failover {
///     fn name(&self) -> &str {
///         "failover"
///     }
///
///     fn assign(
///         &self,
///         members: &[GroupMember<'_>],
///         partitions: &BTreeMap<String, u32>,
///     ) -> BTreeMap<String, Vec<(String, u32)>> {
///         let mut assignment: BTreeMap<String, Vec<(String, u32)>> = members
///             .iter()
///             .map(|m| (m.member_id.to_string(), Vec::new()))
///             .collect();
///         for (topic, &count) in partitions {
///             let active = members
///                 .iter()
///                 .filter(|m| m.subscribes(topic))
///                 .map(|m| m.member_id)
///                 .min();
///             if let Some(active) = active {
///                 let reads = assignment.get_mut(active).unwrap();
///                 reads.extend((0..count).map(|p| (topic.clone(), p)));
///             }
///         }
///         assignment
///     }
/// }
///
/// let topics = vec!["orders".to_string()];
/// let members = [
///     GroupMember { member_id: "b", topics: &topics, owned: &[] },
///     GroupMember { member_id: "a", topics: &topics, owned: &[] },
/// ];
/// let partitions = BTreeMap::from([("orders".to_string(), 3)]);
///
/// // Through a trait object, as the group coordinator holds it.
/// let assignor: Box<dyn Assignor> = Box::new(Failover);
/// let assignment = assignor.assign(&members, &partitions);
/// assert_eq!(assignment["a"].len(), 3);
/// assert!(assignment["b"].is_empty());
/// assert!(!assignor.cooperative());
/// ```
pub trait Assignor: Send + Sync {
    /// The strategy's name, as Kafka's group protocol spells it: `"range"`,
    /// `"roundrobin"`, `"cooperative-sticky"`, or a custom one's own.
    fn name(&self) -> &str;

    /// Every member's partitions for the next generation, keyed by member
    /// id, given the `members` and the partition count of every subscribed
    /// topic. See the trait's contract.
    fn assign(
        &self,
        members: &[GroupMember<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, Vec<(String, u32)>>;

    /// Whether a rebalance revokes only the partitions that move to
    /// another member (cooperative) rather than every partition (eager).
    /// `false` unless overridden; see "Eager or cooperative" above.
    fn cooperative(&self) -> bool {
        false
    }
}

/// The members sorted by id, the first of any repeated id kept: the
/// contract promises distinct ids, and a repeat must not panic or hand out
/// a partition twice.
fn sorted_members<'m, 'a>(members: &'m [GroupMember<'a>]) -> Vec<&'m GroupMember<'a>> {
    let mut sorted: Vec<_> = members.iter().collect();
    // Stable, so among equal ids the first stays first and survives dedup.
    sorted.sort_by_key(|m| m.member_id);
    sorted.dedup_by_key(|m| m.member_id);
    sorted
}

/// An empty list for every member.
fn empty_assignment(members: &[GroupMember<'_>]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.to_string(), Vec::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sorted_members_orders_by_id_and_keeps_the_first_of_a_repeat() {
        let first = topics(&["a"]);
        let second = topics(&["b"]);
        let members = [
            GroupMember {
                member_id: "m2",
                topics: &first,
                owned: &[],
            },
            GroupMember {
                member_id: "m1",
                topics: &first,
                owned: &[],
            },
            GroupMember {
                member_id: "m2",
                topics: &second,
                owned: &[],
            },
        ];
        let sorted = sorted_members(&members);
        let ids: Vec<_> = sorted.iter().map(|m| m.member_id).collect();
        assert_eq!(ids, ["m1", "m2"]);
        assert_eq!(sorted[1].topics, &first[..]);
    }

    #[test]
    fn subscribes_matches_whole_names() {
        let t = topics(&["orders", "audit"]);
        let m = GroupMember {
            member_id: "m",
            topics: &t,
            owned: &[],
        };
        assert!(m.subscribes("orders"));
        assert!(!m.subscribes("order"));
        assert!(!m.subscribes(""));
    }

    #[test]
    fn names_and_protocols_are_kafkas() {
        let all: [(Arc<dyn Assignor>, &str, bool); 3] = [
            (Arc::new(RangeAssignor), "range", false),
            (Arc::new(RoundRobinAssignor), "roundrobin", false),
            (
                Arc::new(CooperativeStickyAssignor),
                "cooperative-sticky",
                true,
            ),
        ];
        for (assignor, name, cooperative) in all {
            assert_eq!(assignor.name(), name);
            assert_eq!(assignor.cooperative(), cooperative);
        }
    }

    #[test]
    fn no_members_no_assignment() {
        let partitions = BTreeMap::from([("t".to_string(), 4)]);
        let all: [&dyn Assignor; 3] = [
            &RangeAssignor,
            &RoundRobinAssignor,
            &CooperativeStickyAssignor,
        ];
        for assignor in all {
            assert!(assignor.assign(&[], &partitions).is_empty());
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn built_ins_are_send_and_sync() {
        assert_send_sync::<RangeAssignor>();
        assert_send_sync::<RoundRobinAssignor>();
        assert_send_sync::<CooperativeStickyAssignor>();
        assert_send_sync::<Box<dyn Assignor>>();
    }
}
