//! Cooperative sticky: balanced, moving as few partitions as it can.

use super::{empty_assignment, sorted_members, Assignor, GroupMember};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

/// Kafka's `"cooperative-sticky"` strategy: a balanced assignment that
/// leaves as many partitions as it can with the members that owned them
/// in the previous generation, used with cooperative rebalancing
/// ([`cooperative`](Assignor::cooperative) is `true`), so members keep
/// reading their unmoved partitions through a rebalance.
///
/// # Balance
///
/// No partition could move to another member subscribed to its topic and
/// leave the two closer in size: whenever a member holds a partition of a
/// topic that a second member also subscribes to, the first holds at most
/// one partition more than the second. So members with the same
/// subscriptions differ by at most one partition, and when every member
/// subscribes to the same topics, `P` partitions over `N` members give
/// each `P / N` or `P / N + 1`. (With differing subscriptions, sizes can
/// still differ by more where only a chain of moves through a third
/// member would even them out: the rule looks at pairs of members.)
///
/// # Stickiness
///
/// Each member's [`owned`](GroupMember::owned) partitions are kept first.
/// Owned partitions whose topic the member no longer subscribes to, or
/// which no longer exist, are dropped; a partition claimed by two members
/// (stale data) stays with the one whose id sorts first. Partitions nobody
/// kept go to the least loaded subscriber; then, while the balance rule
/// above is broken, the largest member hands one partition to the smallest
/// eligible one, choosing a partition it did not own before if it has one.
/// Last, a member that gave up a partition it owned while getting a new
/// one of the same topic swaps back with the partition's new holder.
///
/// When every member subscribes to the same topics this moves the fewest
/// partitions any balanced assignment can: only partitions a member owns
/// beyond its share. In particular, when a member joins a balanced group
/// of `N`, at most `ceil(P / (N + 1))` partitions move, all to the new
/// member; when a member leaves, only its partitions move.
///
/// # Cooperative handover
///
/// The answer is the target assignment: every partition has an owner. A
/// partition that moves from one member to another is (by the trait's
/// contract for cooperative assignors) revoked from its old owner before
/// the new one starts reading it, and nothing else is revoked. Kafka's
/// client gets the same effect by leaving moved partitions out of the
/// first assignment and handing them over in a second rebalance; in
/// process, the group coordinator can do the handover within one.
///
/// The same input always gives the same assignment, whatever the order of
/// `members`.
///
/// ```
/// use samsa_log::group::{Assignor, CooperativeStickyAssignor, GroupMember};
/// use std::collections::BTreeMap;
///
/// let topics = vec!["orders".to_string()];
/// let partitions = BTreeMap::from([("orders".to_string(), 6)]);
/// let first = CooperativeStickyAssignor.assign(
///     &[
///         GroupMember { member_id: "a", topics: &topics, owned: &[] },
///         GroupMember { member_id: "b", topics: &topics, owned: &[] },
///     ],
///     &partitions,
/// );
/// assert_eq!((first["a"].len(), first["b"].len()), (3, 3));
///
/// // "c" joins: it takes one partition from each, the rest stay put.
/// let second = CooperativeStickyAssignor.assign(
///     &[
///         GroupMember { member_id: "a", topics: &topics, owned: &first["a"] },
///         GroupMember { member_id: "b", topics: &topics, owned: &first["b"] },
///         GroupMember { member_id: "c", topics: &topics, owned: &[] },
///     ],
///     &partitions,
/// );
/// assert_eq!(second["c"].len(), 2);
/// assert!(second["a"].iter().all(|p| first["a"].contains(p)));
/// assert!(second["b"].iter().all(|p| first["b"].contains(p)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    /// `"cooperative-sticky"`.
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn assign(
        &self,
        members: &[GroupMember<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, Vec<(String, u32)>> {
        let mut assignment = empty_assignment(members);
        let mut plan = Plan::new(members, partitions);
        plan.keep_owned();
        plan.place_free();
        plan.balance();
        plan.swap_back();
        plan.into_assignment(&mut assignment);
        assignment
    }

    /// `true`: only partitions that move are revoked.
    fn cooperative(&self) -> bool {
        true
    }
}

/// A partition while planning: (topic index, partition). Topic indexes
/// follow topic names, so this sorts as `(topic, partition)` does.
type Part = (usize, u32);

/// The partitions of topic `t`, as a range of a set of [`Part`]s.
fn of_topic(t: usize) -> RangeInclusive<Part> {
    (t, 0)..=(t, u32::MAX)
}

/// One member while planning.
struct Member<'m> {
    id: &'m str,
    /// The topics it subscribes to, by index, ascending.
    topics: Vec<usize>,
    /// What it says it owned last generation, unchecked.
    claims: &'m [(String, u32)],
    /// Of `claims`, what it may keep: see [`Plan::keep_owned`].
    owned: BTreeSet<Part>,
    /// What it holds in the plan and owned before: part of `owned`.
    kept: BTreeSet<Part>,
    /// What it holds in the plan and did not own before.
    fresh: BTreeSet<Part>,
}

impl Member<'_> {
    fn count(&self) -> usize {
        self.kept.len() + self.fresh.len()
    }
}

/// The assignment being worked out, over the topics somebody subscribes
/// to that have partitions, with members indexed by size so that each
/// move costs a few set operations rather than a scan of the group.
struct Plan<'m> {
    /// `(name, partition count)` by topic index, in name order.
    topics: Vec<(&'m str, u32)>,
    /// Members in id order, ids distinct.
    members: Vec<Member<'m>>,
    /// Members subscribed to some topic, largest first, then in id order.
    by_size: BTreeSet<(Reverse<usize>, usize)>,
    /// Each topic's subscribers, smallest first, then in id order.
    subscribers: Vec<BTreeSet<(usize, usize)>>,
}

impl<'m> Plan<'m> {
    fn new(members: &'m [GroupMember<'m>], partitions: &'m BTreeMap<String, u32>) -> Self {
        let members = sorted_members(members);
        let topics: Vec<(&str, u32)> = partitions
            .iter()
            .filter(|&(topic, &count)| count > 0 && members.iter().any(|m| m.subscribes(topic)))
            .map(|(topic, &count)| (topic.as_str(), count))
            .collect();
        let members: Vec<Member<'m>> = members
            .iter()
            .map(|m| Member {
                id: m.member_id,
                topics: (0..topics.len())
                    .filter(|&t| m.subscribes(topics[t].0))
                    .collect(),
                claims: m.owned,
                owned: BTreeSet::new(),
                kept: BTreeSet::new(),
                fresh: BTreeSet::new(),
            })
            .collect();
        let mut by_size = BTreeSet::new();
        let mut subscribers = vec![BTreeSet::new(); topics.len()];
        for (m, member) in members.iter().enumerate() {
            if !member.topics.is_empty() {
                by_size.insert((Reverse(0), m));
            }
            for &t in &member.topics {
                subscribers[t].insert((0, m));
            }
        }
        Plan {
            topics,
            members,
            by_size,
            subscribers,
        }
    }

    /// The assignment: every member's partitions, sorted.
    fn into_assignment(self, assignment: &mut BTreeMap<String, Vec<(String, u32)>>) {
        for member in &self.members {
            let mut parts: Vec<Part> = member.kept.iter().chain(&member.fresh).copied().collect();
            parts.sort_unstable();
            let reads = assignment
                .get_mut(member.id)
                .expect("every member has an entry");
            reads.extend(
                parts
                    .into_iter()
                    .map(|(t, p)| (self.topics[t].0.to_string(), p)),
            );
        }
    }

    /// Step 1: every member keeps what it owned and may still hold: a
    /// partition that exists, of a topic it still subscribes to, that no
    /// member earlier in id order claimed too.
    fn keep_owned(&mut self) {
        let index: BTreeMap<&str, usize> = self
            .topics
            .iter()
            .enumerate()
            .map(|(t, &(name, _))| (name, t))
            .collect();
        let mut taken: BTreeSet<Part> = BTreeSet::new();
        for m in 0..self.members.len() {
            let claims = self.members[m].claims;
            for (topic, p) in claims {
                let Some(&t) = index.get(topic.as_str()) else {
                    continue; // deleted, or nobody subscribes any more
                };
                let subscribed = self.members[m].topics.binary_search(&t).is_ok();
                if subscribed && *p < self.topics[t].1 && taken.insert((t, *p)) {
                    self.members[m].owned.insert((t, *p));
                    self.give(m, (t, *p));
                }
            }
        }
    }

    /// Step 2: partitions nobody kept, most constrained first (fewest
    /// subscribers), each to its least loaded subscriber.
    fn place_free(&mut self) {
        let taken: BTreeSet<Part> = self
            .members
            .iter()
            .flat_map(|m| m.kept.iter().copied())
            .collect();
        let mut free: Vec<Part> = (0..self.topics.len())
            .flat_map(|t| (0..self.topics[t].1).map(move |p| (t, p)))
            .filter(|q| !taken.contains(q))
            .collect();
        free.sort_by_key(|&(t, p)| (self.subscribers[t].len(), t, p));
        for q in free {
            let to = self
                .least_loaded(q.0, None)
                .expect("topics listed have a subscriber");
            self.give(to, q);
        }
    }

    /// Step 3: while some member holds a partition that a subscriber with
    /// at least two fewer partitions could take, the largest such member
    /// gives one away. Each move lowers the sum of squared sizes, so this
    /// ends.
    fn balance(&mut self) {
        loop {
            let Some(&(Reverse(min), _)) = self.by_size.last() else {
                return;
            };
            let mut chosen = None;
            for &(Reverse(count), from) in &self.by_size {
                if count < min + 2 {
                    break; // nobody from here on can give
                }
                if let Some(found) = self.best_move(from) {
                    chosen = Some((from, found));
                    break;
                }
            }
            let Some((from, (q, to))) = chosen else {
                return;
            };
            self.take(from, q);
            self.give(to, q);
        }
    }

    /// Step 4: undo pointless trades that chains of moves can leave when
    /// subscriptions differ. A member that gave up a partition it owned
    /// but holds a new one of the same topic swaps it back with the
    /// owned partition's new holder: sizes and the topics each holds stay
    /// the same, so balance does too, and one more partition is kept.
    fn swap_back(&mut self) {
        let mut holder: BTreeMap<Part, usize> = BTreeMap::new();
        for (m, member) in self.members.iter().enumerate() {
            holder.extend(member.kept.iter().chain(&member.fresh).map(|&q| (q, m)));
        }
        loop {
            let mut swapped = false;
            for x in 0..self.members.len() {
                let member = &self.members[x];
                let lost: Vec<Part> = member.owned.difference(&member.kept).copied().collect();
                for q in lost {
                    let Some(&new) = self.members[x].fresh.range(of_topic(q.0)).next() else {
                        continue;
                    };
                    let z = holder[&q]; // not x: x does not hold q
                    self.take(z, q);
                    self.give(z, new);
                    self.take(x, new);
                    self.give(x, q);
                    holder.insert(q, x);
                    holder.insert(new, z);
                    swapped = true;
                }
            }
            if !swapped {
                return;
            }
        }
    }

    /// The partition `from` should give away and who takes it, if any
    /// subscriber of one of its topics holds at least two fewer. Prefers a
    /// partition `from` did not own before (free to move), then the
    /// smallest receiver, then the first topic; within a topic the
    /// highest partition.
    fn best_move(&self, from: usize) -> Option<(Part, usize)> {
        let giver = &self.members[from];
        let mut best: Option<((bool, usize, usize), Part, usize)> = None;
        for &t in &giver.topics {
            let Some(to) = self.least_loaded(t, Some(from)) else {
                continue;
            };
            let to_count = self.members[to].count();
            if to_count + 2 > giver.count() {
                continue;
            }
            let (was_owned, q) = match giver.fresh.range(of_topic(t)).next_back() {
                Some(&q) => (false, q),
                None => match giver.kept.range(of_topic(t)).next_back() {
                    Some(&q) => (true, q),
                    None => continue,
                },
            };
            let key = (was_owned, to_count, t);
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, q, to));
            }
        }
        best.map(|(_, q, to)| (q, to))
    }

    /// The subscriber of topic `t` holding the fewest partitions (the
    /// first by id among equals), other than `except`.
    fn least_loaded(&self, t: usize, except: Option<usize>) -> Option<usize> {
        self.subscribers[t]
            .iter()
            .map(|&(_, m)| m)
            .find(|&m| Some(m) != except)
    }

    /// Member `m` now holds `q`.
    fn give(&mut self, m: usize, q: Part) {
        self.resize(m, |member| {
            if member.owned.contains(&q) {
                member.kept.insert(q);
            } else {
                member.fresh.insert(q);
            }
        });
    }

    /// Member `m` no longer holds `q`.
    fn take(&mut self, m: usize, q: Part) {
        self.resize(m, |member| {
            member.kept.remove(&q);
            member.fresh.remove(&q);
        });
    }

    /// Applies `change` to member `m` and keeps the size indexes right.
    fn resize(&mut self, m: usize, change: impl FnOnce(&mut Member<'m>)) {
        let before = self.members[m].count();
        change(&mut self.members[m]);
        let after = self.members[m].count();
        if before == after {
            return;
        }
        self.by_size.remove(&(Reverse(before), m));
        self.by_size.insert((Reverse(after), m));
        for &t in &self.members[m].topics {
            self.subscribers[t].remove(&(before, m));
            self.subscribers[t].insert((after, m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: u32) -> (String, u32) {
        (topic.to_string(), partition)
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn sticky(
        members: &[GroupMember<'_>],
        partitions: &[(&str, u32)],
    ) -> BTreeMap<String, Vec<(String, u32)>> {
        let partitions = partitions
            .iter()
            .map(|&(t, n)| (t.to_string(), n))
            .collect();
        CooperativeStickyAssignor.assign(members, &partitions)
    }

    #[test]
    fn a_new_group_is_dealt_in_turn() {
        let t = names(&["t"]);
        let members = [
            GroupMember {
                member_id: "b",
                topics: &t,
                owned: &[],
            },
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
        ];
        let got = sticky(&members, &[("t", 7)]);
        assert_eq!(got["a"], [tp("t", 0), tp("t", 3), tp("t", 6)]);
        assert_eq!(got["b"], [tp("t", 1), tp("t", 4)]);
        assert_eq!(got["c"], [tp("t", 2), tp("t", 5)]);
    }

    #[test]
    fn owned_partitions_stay_when_balanced_even_if_scattered() {
        let t = names(&["t"]);
        let a_owns = [tp("t", 0), tp("t", 5), tp("t", 2)];
        let b_owns = [tp("t", 4), tp("t", 1), tp("t", 3)];
        let members = [
            GroupMember {
                member_id: "a",
                topics: &t,
                owned: &a_owns,
            },
            GroupMember {
                member_id: "b",
                topics: &t,
                owned: &b_owns,
            },
        ];
        let got = sticky(&members, &[("t", 6)]);
        assert_eq!(got["a"], [tp("t", 0), tp("t", 2), tp("t", 5)]);
        assert_eq!(got["b"], [tp("t", 1), tp("t", 3), tp("t", 4)]);
    }

    #[test]
    fn stale_claims_are_dropped_and_double_claims_go_to_the_first_id() {
        let t = names(&["t"]);
        // "x" was deleted, "u" is no longer subscribed, t9 no longer exists,
        // and both claim t0 and t1.
        let a_owns = [tp("x", 0), tp("u", 0), tp("t", 9), tp("t", 0), tp("t", 1)];
        let b_owns = [tp("t", 1), tp("t", 0), tp("t", 2)];
        let members = [
            GroupMember {
                member_id: "b",
                topics: &t,
                owned: &b_owns,
            },
            GroupMember {
                member_id: "a",
                topics: &t,
                owned: &a_owns,
            },
        ];
        let got = sticky(&members, &[("t", 4), ("u", 2)]);
        assert_eq!(got["a"], [tp("t", 0), tp("t", 1)]);
        assert_eq!(got["b"], [tp("t", 2), tp("t", 3)]);
    }

    #[test]
    fn a_partition_only_one_member_can_read_goes_to_it_first() {
        // Round-robin would give "a" t1's partitions 0 and 2 and leave "b"
        // with t1p1 plus all of t2: five against three.
        let (only_t1, both) = (names(&["t1"]), names(&["t1", "t2"]));
        let members = [
            GroupMember {
                member_id: "a",
                topics: &only_t1,
                owned: &[],
            },
            GroupMember {
                member_id: "b",
                topics: &both,
                owned: &[],
            },
        ];
        let got = sticky(&members, &[("t1", 4), ("t2", 4)]);
        assert_eq!(got["a"], (0..4).map(|p| tp("t1", p)).collect::<Vec<_>>());
        assert_eq!(got["b"], (0..4).map(|p| tp("t2", p)).collect::<Vec<_>>());
    }

    #[test]
    fn a_leaving_member_frees_only_its_own_partitions() {
        let t = names(&["t"]);
        // "a" held t0..t2 and left; "b" and "c" held the rest.
        let (b, c) = ([tp("t", 3), tp("t", 4)], [tp("t", 5), tp("t", 6)]);
        let members = [
            GroupMember {
                member_id: "b",
                topics: &t,
                owned: &b,
            },
            GroupMember {
                member_id: "c",
                topics: &t,
                owned: &c,
            },
        ];
        let got = sticky(&members, &[("t", 7)]);
        assert!(b.iter().all(|q| got["b"].contains(q)));
        assert!(c.iter().all(|q| got["c"].contains(q)));
        assert_eq!(got["b"].len() + got["c"].len(), 7);
        assert!(got["b"].len().abs_diff(got["c"].len()) <= 1);
    }

    #[test]
    fn an_overloaded_owner_gives_away_its_newest_partitions_first() {
        // "a" owned everything; it keeps its share and sheds the highest.
        let t = names(&["t"]);
        let all: Vec<_> = (0..6).map(|p| tp("t", p)).collect();
        let members = [
            GroupMember {
                member_id: "a",
                topics: &t,
                owned: &all,
            },
            GroupMember {
                member_id: "b",
                topics: &t,
                owned: &[],
            },
            GroupMember {
                member_id: "c",
                topics: &t,
                owned: &[],
            },
        ];
        let got = sticky(&members, &[("t", 6)]);
        assert_eq!(got["a"], [tp("t", 0), tp("t", 1)]);
        assert_eq!(got["b"].len(), 2);
        assert_eq!(got["c"].len(), 2);
    }

    #[test]
    fn a_giver_hands_over_a_partition_it_did_not_own_first() {
        // Found by a random search over mixed subscriptions: m0 is given
        // the free t1 partitions, then must give one t1 partition to m1;
        // giving a new one rather than one it owned keeps 11 of the 13
        // owned partitions where the opposite choice keeps 10.
        let (all, t1, t02) = (
            names(&["t0", "t1", "t2"]),
            names(&["t1"]),
            names(&["t0", "t2"]),
        );
        let m0 = [
            tp("t1", 1),
            tp("t1", 2),
            tp("t1", 5),
            tp("t2", 0),
            tp("t2", 3),
            tp("t2", 9),
        ];
        let m1 = [tp("t1", 3)];
        let m2 = [
            tp("t0", 0),
            tp("t2", 1),
            tp("t2", 4),
            tp("t2", 5),
            tp("t2", 6),
            tp("t2", 8),
        ];
        let members = [
            GroupMember {
                member_id: "m0",
                topics: &all,
                owned: &m0,
            },
            GroupMember {
                member_id: "m1",
                topics: &t1,
                owned: &m1,
            },
            GroupMember {
                member_id: "m2",
                topics: &t02,
                owned: &m2,
            },
        ];
        let got = sticky(&members, &[("t0", 1), ("t1", 6), ("t2", 10)]);
        let kept = members
            .iter()
            .map(|m| {
                m.owned
                    .iter()
                    .filter(|q| got[m.member_id].contains(q))
                    .count()
            })
            .sum::<usize>();
        assert_eq!(kept, 11, "{got:?}");
    }

    #[test]
    fn member_order_does_not_matter() {
        let (t1, t12) = (names(&["t1"]), names(&["t1", "t2"]));
        let owned = [tp("t1", 2), tp("t2", 0)];
        let members = [
            GroupMember {
                member_id: "m3",
                topics: &t12,
                owned: &owned,
            },
            GroupMember {
                member_id: "m1",
                topics: &t1,
                owned: &[],
            },
            GroupMember {
                member_id: "m2",
                topics: &t12,
                owned: &[],
            },
        ];
        let parts = [("t1", 5), ("t2", 3)];
        let forward = sticky(&members, &parts);
        let mut reversed = members;
        reversed.reverse();
        assert_eq!(forward, sticky(&reversed, &parts));
    }
}
