//! Round-robin: all partitions dealt to the members in turn.

use super::{empty_assignment, sorted_members, Assignor, GroupMember};
use std::collections::BTreeMap;

/// Kafka's `"roundrobin"` strategy: every partition of every subscribed
/// topic, sorted by topic then partition, dealt to the members sorted by
/// id in turn, like cards.
///
/// A member not subscribed to a partition's topic is skipped, and the turn
/// moves past it for good: the deal goes on from the member after the one
/// who took the partition. When every member subscribes to the same
/// topics, partition counts differ by at most one between members; when
/// subscriptions differ, the skips can leave the assignment unbalanced
/// (see the second example), which [`CooperativeStickyAssignor`] avoids.
///
/// Previous ownership plays no part: a member joining or leaving can move
/// most partitions. The same input always gives the same assignment.
///
/// ```
/// use samsa_log::group::{Assignor, GroupMember, RoundRobinAssignor};
/// use std::collections::BTreeMap;
///
/// let tp = |t: &str, p| (t.to_string(), p);
/// let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
///
/// // Kafka's examples. Two members, two topics of three partitions:
/// let both = names(&["t0", "t1"]);
/// let members = [
///     GroupMember { member_id: "c0", topics: &both, owned: &[] },
///     GroupMember { member_id: "c1", topics: &both, owned: &[] },
/// ];
/// let partitions = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
/// let assignment = RoundRobinAssignor.assign(&members, &partitions);
/// assert_eq!(assignment["c0"], [tp("t0", 0), tp("t0", 2), tp("t1", 1)]);
/// assert_eq!(assignment["c1"], [tp("t0", 1), tp("t1", 0), tp("t1", 2)]);
///
/// // Different subscriptions: c2 alone reads t2, and ends up with most.
/// let (s0, s1, s2) = (names(&["t0"]), names(&["t0", "t1"]), names(&["t0", "t1", "t2"]));
/// let members = [
///     GroupMember { member_id: "c0", topics: &s0, owned: &[] },
///     GroupMember { member_id: "c1", topics: &s1, owned: &[] },
///     GroupMember { member_id: "c2", topics: &s2, owned: &[] },
/// ];
/// let partitions = BTreeMap::from([
///     ("t0".to_string(), 1),
///     ("t1".to_string(), 2),
///     ("t2".to_string(), 3),
/// ]);
/// let assignment = RoundRobinAssignor.assign(&members, &partitions);
/// assert_eq!(assignment["c0"], [tp("t0", 0)]);
/// assert_eq!(assignment["c1"], [tp("t1", 0)]);
/// assert_eq!(assignment["c2"], [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
/// ```
///
/// [`CooperativeStickyAssignor`]: crate::group::CooperativeStickyAssignor
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    /// `"roundrobin"`.
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        members: &[GroupMember<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, Vec<(String, u32)>> {
        let mut assignment = empty_assignment(members);
        let members = sorted_members(members);
        let mut turn = 0;
        for (topic, &count) in partitions {
            if !members.iter().any(|m| m.subscribes(topic)) {
                continue; // also guarantees the skipping below ends
            }
            for partition in 0..count {
                while !members[turn].subscribes(topic) {
                    turn = (turn + 1) % members.len();
                }
                let reads = assignment
                    .get_mut(members[turn].member_id)
                    .expect("every member has an entry");
                reads.push((topic.clone(), partition));
                turn = (turn + 1) % members.len();
            }
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: u32) -> (String, u32) {
        (topic.to_string(), partition)
    }

    #[test]
    fn deals_one_each_in_member_order_across_topics() {
        let t = vec!["a".to_string(), "b".to_string()];
        let members = [
            GroupMember {
                member_id: "y",
                topics: &t,
                owned: &[],
            },
            GroupMember {
                member_id: "x",
                topics: &t,
                owned: &[],
            },
            GroupMember {
                member_id: "z",
                topics: &t,
                owned: &[],
            },
        ];
        let partitions = BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 3)]);
        let got = RoundRobinAssignor.assign(&members, &partitions);
        // a0 a1 b0 b1 b2 dealt to x y z x y.
        assert_eq!(got["x"], [tp("a", 0), tp("b", 1)]);
        assert_eq!(got["y"], [tp("a", 1), tp("b", 2)]);
        assert_eq!(got["z"], [tp("b", 0)]);
    }

    #[test]
    fn a_member_subscribed_to_nothing_is_skipped() {
        let t = vec!["t".to_string()];
        let members = [
            GroupMember {
                member_id: "a",
                topics: &t,
                owned: &[],
            },
            GroupMember {
                member_id: "b",
                topics: &[],
                owned: &[],
            },
            GroupMember {
                member_id: "c",
                topics: &t,
                owned: &[],
            },
        ];
        let partitions = BTreeMap::from([("t".to_string(), 4)]);
        let got = RoundRobinAssignor.assign(&members, &partitions);
        assert_eq!(got["a"], [tp("t", 0), tp("t", 2)]);
        assert!(got["b"].is_empty());
        assert_eq!(got["c"], [tp("t", 1), tp("t", 3)]);
    }
}
