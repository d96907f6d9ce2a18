//! Range: each topic split into contiguous ranges, one per subscriber.

use super::{empty_assignment, sorted_members, Assignor, GroupMember};
use std::collections::BTreeMap;

/// Kafka's `"range"` strategy (its consumer's long-time default): each
/// topic on its own, split into contiguous ranges over the members that
/// subscribe to it.
///
/// For a topic of `P` partitions and `N` subscribers sorted by member id,
/// each subscriber gets `P / N` consecutive partitions and the first
/// `P % N` get one more; subscribers beyond `P` get none. Topics are
/// assigned independently, so with several topics of the same size the
/// first members get the extra partition of every one of them, and
/// partition `i` of co-partitioned topics lands on the same member, which
/// is what joins across topics want.
///
/// Previous ownership plays no part: a member joining or leaving can move
/// most partitions. The same input always gives the same assignment.
///
/// ```
/// use samsa_log::group::{Assignor, GroupMember, RangeAssignor};
/// use std::collections::BTreeMap;
///
/// // Kafka's own example: two members, two topics of three partitions.
/// let topics = vec!["t0".to_string(), "t1".to_string()];
/// let members = [
///     GroupMember { member_id: "c0", topics: &topics, owned: &[] },
///     GroupMember { member_id: "c1", topics: &topics, owned: &[] },
/// ];
/// let partitions = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
/// let assignment = RangeAssignor.assign(&members, &partitions);
///
/// let tp = |t: &str, p| (t.to_string(), p);
/// assert_eq!(assignment["c0"], [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]);
/// assert_eq!(assignment["c1"], [tp("t0", 2), tp("t1", 2)]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    /// `"range"`.
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        members: &[GroupMember<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, Vec<(String, u32)>> {
        let mut assignment = empty_assignment(members);
        let members = sorted_members(members);
        // Topics in name order, so each member's list comes out sorted.
        for (topic, &count) in partitions {
            let subscribers: Vec<&str> = members
                .iter()
                .filter(|m| m.subscribes(topic))
                .map(|m| m.member_id)
                .collect();
            if subscribers.is_empty() {
                continue;
            }
            // At most u32::MAX subscribers get a partition; the u32 casts
            // below only ever see values up to `count`.
            let n = u32::try_from(subscribers.len()).unwrap_or(u32::MAX);
            let (each, extra) = (count / n, count % n);
            let mut start = 0;
            for (i, member) in subscribers.iter().enumerate() {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                let len = each + u32::from(i < extra);
                if len == 0 {
                    break; // every later subscriber gets nothing too
                }
                let reads = assignment
                    .get_mut(*member)
                    .expect("every member has an entry");
                reads.extend((start..start + len).map(|p| (topic.clone(), p)));
                start += len;
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
    fn remainder_goes_to_the_first_members_by_id() {
        let t = vec!["t".to_string()];
        // Given out of order: the assignor sorts by id.
        let members = [
            GroupMember {
                member_id: "c",
                topics: &t,
                owned: &[],
            },
            GroupMember {
                member_id: "a",
                topics: &t,
                owned: &[],
            },
            GroupMember {
                member_id: "b",
                topics: &t,
                owned: &[],
            },
        ];
        let partitions = BTreeMap::from([("t".to_string(), 8)]);
        let got = RangeAssignor.assign(&members, &partitions);
        assert_eq!(got["a"], [tp("t", 0), tp("t", 1), tp("t", 2)]);
        assert_eq!(got["b"], [tp("t", 3), tp("t", 4), tp("t", 5)]);
        assert_eq!(got["c"], [tp("t", 6), tp("t", 7)]);
    }

    #[test]
    fn members_beyond_the_partition_count_get_empty_lists() {
        let t = vec!["t".to_string()];
        let ids = ["m0", "m1", "m2", "m3"];
        let members: Vec<_> = ids
            .iter()
            .map(|id| GroupMember {
                member_id: id,
                topics: &t,
                owned: &[],
            })
            .collect();
        let partitions = BTreeMap::from([("t".to_string(), 2)]);
        let got = RangeAssignor.assign(&members, &partitions);
        assert_eq!(got.len(), 4);
        assert_eq!(got["m0"], [tp("t", 0)]);
        assert_eq!(got["m1"], [tp("t", 1)]);
        assert!(got["m2"].is_empty() && got["m3"].is_empty());
    }

    #[test]
    fn missing_and_empty_topics_give_nothing() {
        let t = vec!["gone".to_string(), "empty".to_string()];
        let members = [GroupMember {
            member_id: "m",
            topics: &t,
            owned: &[],
        }];
        let partitions = BTreeMap::from([("empty".to_string(), 0), ("other".to_string(), 3)]);
        let got = RangeAssignor.assign(&members, &partitions);
        assert_eq!(got, BTreeMap::from([("m".to_string(), vec![])]));
    }
}
