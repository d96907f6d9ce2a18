//! Proptest: random sequences of consumer-group operations against a model
//! of the group, on disk and in memory, under each built-in assignor. The
//! operations: a member joins, polls, commits, commits past the end,
//! closes, unsubscribes and subscribes again, goes quiet past its
//! `max_poll_interval`; records are produced; everyone polls until the
//! group settles. Some members commit inside `on_partitions_revoked`.
//!
//! Every consumer is driven from the test thread, so the only
//! nondeterminism is when a member with a short `max_poll_interval` gets
//! evicted; the model learns about evictions from `describe_group` and
//! asserts them where they are certain (a member whose last poll is older
//! than its interval when another member polls), never that one did not
//! happen (except for members with a two-minute interval).
//!
//! Checked after every operation:
//! - membership: the coordinator's members are exactly the open consumers
//!   that were not evicted; a join adds one member, a close removes one, a
//!   poll of an evicted member rejoins it under a new id;
//! - no partition has two owners: the coordinator's assignments are
//!   disjoint, every member that was not evicted holds (consumer side) a
//!   subset of what the coordinator assigns it, and those are disjoint too;
//!   only an evicted member that has not polled since (a zombie) may still
//!   believe it holds a partition that is someone else's, and it can neither
//!   fetch nor commit;
//! - the rebalance callbacks tell the truth: the consumer's `assignment()`
//!   is what its assigned / revoked / lost callbacks add up to;
//! - records arrive only from held partitions, in offset order, without
//!   gaps, starting at the committed offset for a newly assigned partition,
//!   each with the value produced at that offset;
//! - a commit succeeds only for a member that was not evicted; committed
//!   offsets change only through successful commits (including ones made
//!   inside `on_partitions_revoked`; such a commit is still refused, as
//!   from an older generation, when a cooperative member has not polled
//!   since the last generation started, and the model accepts that), never
//!   go backwards, never pass the high watermark, and every record below a
//!   committed offset was delivered to some member (at-least-once);
//! - a settled group gives every partition to exactly one member, balanced.
//!
//! At the end every member closes (on disk the log is also closed and
//! reopened: the committed offsets survive), a fresh member drains the
//! topic from the committed offsets, and every produced record was
//! delivered at least once across the run.
//!
//! Cases: 32 per storage by default; `SAMSA_PROPTEST_CASES` overrides.

use proptest::prelude::*;
use proptest::sample::Index;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, RebalanceListener};
use samsa_log::group::{
    CooperativeStickyAssignor, OffsetAndMetadata, RangeAssignor, RoundRobinAssignor,
};
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Error, Log, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "t";
const GROUP: &str = "g";
/// `max_poll_interval` of members that may go quiet.
const SHORT: Duration = Duration::from_millis(30);
/// `max_poll_interval` of members that must never be evicted in a case.
const LONG: Duration = Duration::from_secs(120);
/// How long a quiet member stays quiet (while the others keep polling).
const QUIET: Duration = Duration::from_millis(45);
/// The group timers run on the log's clock, in whole milliseconds as in
/// Kafka: a member is certainly overdue only once this much more than its
/// interval has passed.
const TICK: Duration = Duration::from_millis(1);
/// Poll timeout of a poll operation: the model never waits for records.
const POLL: Duration = Duration::from_millis(1);
/// Poll timeout while settling or while a member is quiet: rounds of polls
/// stay well inside `SHORT`, so members that poll are not evicted even on
/// a busy machine.
const ROUND_POLL: Duration = Duration::ZERO;
/// A settle or a drain that takes longer than this is a failure.
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy)]
enum Assignors {
    Range,
    RoundRobin,
    CooperativeSticky,
}

#[derive(Debug, Clone)]
enum Op {
    /// A new consumer subscribes.
    Join {
        short: bool,
        max_poll_records: usize,
        /// Its `on_partitions_revoked` commits.
        commit_on_revoke: bool,
    },
    Poll(Index),
    Commit(Index),
    /// `commit_offsets` one past the high watermark: always refused.
    CommitPastEnd(Index),
    Close(Index),
    /// `unsubscribe`, then `subscribe` again.
    Rejoin(Index),
    /// One short-interval member stops polling for `QUIET`; the others
    /// keep polling and one of them evicts it.
    Quiet(Index),
    Produce(usize),
    /// Everyone polls until nothing changes: a stable generation.
    Settle,
}

#[derive(Debug, Clone)]
struct Case {
    partitions: u32,
    strategy: Assignors,
    ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<bool>(), 1usize..=5, any::<bool>()).prop_map(
            |(short, max_poll_records, commit_on_revoke)| Op::Join {
                short,
                max_poll_records,
                commit_on_revoke,
            }
        ),
        10 => any::<Index>().prop_map(Op::Poll),
        4 => any::<Index>().prop_map(Op::Commit),
        1 => any::<Index>().prop_map(Op::CommitPastEnd),
        1 => any::<Index>().prop_map(Op::Close),
        1 => any::<Index>().prop_map(Op::Rejoin),
        1 => any::<Index>().prop_map(Op::Quiet),
        3 => (1usize..=12).prop_map(Op::Produce),
        1 => Just(Op::Settle),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..=4,
        prop_oneof![
            Just(Assignors::Range),
            Just(Assignors::RoundRobin),
            Just(Assignors::CooperativeSticky),
        ],
        proptest::collection::vec(op(), 5..60),
    )
        .prop_map(|(partitions, strategy, ops)| Case {
            partitions,
            strategy,
            ops,
        })
}

/// What a member's rebalance callbacks reported, in order.
#[derive(Debug)]
enum Event {
    Revoked {
        partitions: Vec<u32>,
        /// The outcome of the commit made inside the callback, if any.
        commit: Option<Result<(), Error>>,
    },
    Assigned(Vec<u32>),
    Lost(Vec<u32>),
}

fn numbers(partitions: &[(String, u32)]) -> Vec<u32> {
    partitions
        .iter()
        .map(|(t, p)| {
            assert_eq!(t, TOPIC, "a partition of a topic nobody subscribed to");
            *p
        })
        .collect()
}

struct Listener {
    events: Arc<Mutex<Vec<Event>>>,
    commit_on_revoke: bool,
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[(String, u32)]) {
        let commit = self.commit_on_revoke.then(|| consumer.commit());
        self.events.lock().unwrap().push(Event::Revoked {
            partitions: numbers(partitions),
            commit,
        });
    }

    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.events
            .lock()
            .unwrap()
            .push(Event::Assigned(numbers(partitions)));
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.events
            .lock()
            .unwrap()
            .push(Event::Lost(numbers(partitions)));
    }
}

fn fenced(e: &Error) -> bool {
    matches!(
        e,
        Error::RebalanceInProgress { .. } | Error::NotAssigned { .. }
    )
}

/// One consumer of the group, as the model sees it.
struct Member {
    /// Join order, for messages.
    name: usize,
    consumer: Consumer,
    /// The member id the coordinator gave it (learnt from `describe_group`).
    id: String,
    short: bool,
    events: Arc<Mutex<Vec<Event>>>,
    /// The partitions it holds, each with its position: the next offset it
    /// returns (`None`: no committed offset when it got the partition and
    /// nothing delivered since, so the log start, 0).
    held: BTreeMap<u32, Option<u64>>,
    /// When its last poll (or its subscribe) returned: the coordinator saw
    /// it alive no later than this.
    last_poll: Instant,
}

#[derive(Debug, Default)]
struct Stats {
    polls: u64,
    delivered: u64,
    commits_ok: u64,
    commits_fenced: u64,
    revoke_commits_ok: u64,
    revoke_commits_fenced: u64,
    evictions: u64,
    rejoins: u64,
    zombie_overlaps: u64,
    settles: u64,
}

struct World {
    what: &'static str,
    log: Log,
    dir: Option<PathBuf>,
    partitions: u32,
    strategy: Assignors,
    members: Vec<Member>,
    joined: usize,
    /// Every produced value, per partition, by offset.
    produced: Vec<Vec<String>>,
    /// Whether each produced record was delivered to some member.
    delivered: Vec<Vec<bool>>,
    /// The model of the group's committed offsets.
    committed: Vec<Option<u64>>,
    trace: Vec<String>,
    stats: Stats,
}

impl World {
    #[track_caller]
    fn fail(&self, msg: String) -> ! {
        let tail = self.trace.len().saturating_sub(60);
        panic!(
            "{} ({:?}, {} partitions): {msg}\nlast operations:\n  {}\nstats: {:?}",
            self.what,
            self.strategy,
            self.partitions,
            self.trace[tail..].join("\n  "),
            self.stats
        );
    }

    fn note(&mut self, line: String) {
        self.trace.push(line);
    }

    /// The group's generation (0 before anyone joined).
    fn generation(&self) -> u32 {
        self.log.group(GROUP).describe().map_or(0, |d| d.generation)
    }

    /// The coordinator's members and their assignments.
    fn group(&self) -> BTreeMap<String, BTreeSet<u32>> {
        match self.log.group(GROUP).describe() {
            Ok(d) => d
                .members
                .into_iter()
                .map(|m| {
                    let ps = numbers(&m.assignment).into_iter().collect();
                    (m.member_id, ps)
                })
                .collect(),
            Err(Error::UnknownGroup { .. }) => BTreeMap::new(),
            Err(e) => self.fail(format!("describe_group: {e}")),
        }
    }

    fn hwm(&self, p: u32) -> u64 {
        self.log
            .topic(TOPIC)
            .unwrap()
            .partition(p)
            .unwrap()
            .high_watermark()
    }

    fn config(&self, short: bool, max_poll_records: usize) -> ConsumerConfig {
        let config = ConsumerConfig::new(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_interval(if short { SHORT } else { LONG })
            .max_poll_records(max_poll_records);
        match self.strategy {
            Assignors::Range => config.assignor(RangeAssignor),
            Assignors::RoundRobin => config.assignor(RoundRobinAssignor),
            Assignors::CooperativeSticky => config.assignor(CooperativeStickyAssignor),
        }
    }

    fn apply(&mut self, op: &Op) {
        let n = self.members.len();
        match op {
            Op::Join {
                short,
                max_poll_records,
                commit_on_revoke,
            } => self.join(*short, *max_poll_records, *commit_on_revoke),
            Op::Poll(i) if n > 0 => {
                self.poll(i.index(n), POLL);
            }
            Op::Commit(i) if n > 0 => self.commit(i.index(n)),
            Op::CommitPastEnd(i) if n > 0 => self.commit_past_end(i.index(n)),
            Op::Close(i) if n > 0 => self.close(i.index(n)),
            Op::Rejoin(i) if n > 0 => self.rejoin(i.index(n)),
            Op::Quiet(i) => {
                let short: Vec<usize> = (0..n).filter(|&j| self.members[j].short).collect();
                if !short.is_empty() {
                    self.quiet(short[i.index(short.len())]);
                }
            }
            Op::Produce(k) => self.produce(*k),
            Op::Settle => self.settle(),
            _ => {}
        }
        self.check();
    }

    fn join(&mut self, short: bool, max_poll_records: usize, commit_on_revoke: bool) {
        let name = self.joined;
        self.joined += 1;
        self.note(format!(
            "m{name} joins (short {short}, max_poll_records {max_poll_records}, commit_on_revoke {commit_on_revoke})"
        ));
        let before = self.group();
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut consumer = self
            .log
            .consumer(self.config(short, max_poll_records))
            .unwrap();
        let listener = Listener {
            events: events.clone(),
            commit_on_revoke,
        };
        if let Err(e) = consumer.subscribe_with(&[TOPIC], listener) {
            self.fail(format!("m{name}: subscribe: {e}"));
        }
        let last_poll = Instant::now();
        let after = self.group();
        let new: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        if new.len() != 1 || before.keys().any(|k| !after.contains_key(k)) {
            self.fail(format!(
                "m{name}: a join must add exactly one member and remove none: {before:?} -> {after:?}"
            ));
        }
        let id = new[0].clone();
        self.members.push(Member {
            name,
            consumer,
            id,
            short,
            events,
            held: BTreeMap::new(),
            last_poll,
        });
    }

    /// Polls member `i` and checks what came back; whether anything about
    /// the group changed (callbacks ran, members came or went, a generation
    /// started).
    fn poll(&mut self, i: usize, timeout: Duration) -> bool {
        self.stats.polls += 1;
        let before = self.group();
        let generation = self.generation();
        let start = Instant::now();
        // Certain evictions: members whose last poll is older than their
        // interval when this poll starts.
        let overdue: Vec<(usize, String)> = self
            .members
            .iter()
            .filter(|m| {
                m.short
                    && before.contains_key(&m.id)
                    && start.duration_since(m.last_poll) > SHORT + TICK
            })
            .map(|m| (m.name, m.id.clone()))
            .collect();
        let name = self.members[i].name;
        let result = self.members[i].consumer.poll(timeout);
        self.members[i].last_poll = Instant::now();
        let records = match result {
            Ok(r) => r,
            Err(e) => self.fail(format!("m{name}: poll: {e}")),
        };
        let after = self.group();
        // A generation can start at this poll with nothing for this member
        // to report (it gave up nothing it held, got nothing new).
        let changed = before.keys().ne(after.keys()) || self.generation() != generation;

        // Membership.
        let old_id = self.members[i].id.clone();
        let new: Vec<String> = after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .cloned()
            .collect();
        let rejoined = !after.contains_key(&old_id);
        if rejoined {
            if new.len() != 1 {
                self.fail(format!(
                    "m{name} ({old_id}) is no member after its poll and did not rejoin: {before:?} -> {after:?}"
                ));
            }
            self.members[i].id = new[0].clone();
            if before.contains_key(&old_id) {
                // Evicted by its own poll: it was overdue itself.
                self.stats.evictions += 1;
            }
        } else if !new.is_empty() {
            self.fail(format!(
                "m{name}'s poll added members {new:?}: {before:?} -> {after:?}"
            ));
        }
        for (who, id) in &overdue {
            if after.contains_key(id) {
                self.fail(format!(
                    "m{who} ({id}) did not poll for more than its max_poll_interval {SHORT:?}, \
                     yet m{name}'s poll did not evict it"
                ));
            }
        }
        for id in before.keys() {
            if *id != old_id && !after.contains_key(id) {
                self.stats.evictions += 1;
                if let Some(m) = self.members.iter().find(|m| m.id == *id) {
                    if !m.short {
                        self.fail(format!(
                            "m{} ({id}) with a {LONG:?} max_poll_interval was evicted",
                            m.name
                        ));
                    }
                }
            }
        }

        // The callbacks, in order.
        let (events, lost) = self.callbacks(i, false);
        if lost && !rejoined {
            self.fail(format!(
                "m{name}: partitions lost but still a member as {old_id}"
            ));
        }
        self.check_assignment(i);

        // The records.
        for r in &records {
            let (p, o) = (r.partition(), r.offset());
            if r.topic() != TOPIC {
                self.fail(format!("m{name}: a record of topic {}", r.topic()));
            }
            let Some(&position) = self.members[i].held.get(&p) else {
                self.fail(format!(
                    "m{name}: a record of partition {p} (offset {o}) it does not hold"
                ));
            };
            let expected = position.unwrap_or(0);
            if o != expected {
                self.fail(format!(
                    "m{name}: partition {p}: offset {o} where {expected} was next (position {position:?})"
                ));
            }
            let value = self.produced[p as usize].get(o as usize);
            if r.value() != value.map(String::as_bytes) {
                self.fail(format!(
                    "m{name}: partition {p} offset {o}: value {:?}, produced {value:?}",
                    r.value().map(String::from_utf8_lossy)
                ));
            }
            self.delivered[p as usize][o as usize] = true;
            self.members[i].held.insert(p, Some(o + 1));
            self.stats.delivered += 1;
        }
        self.note(format!(
            "m{name} polls: {} records{}{}",
            records.len(),
            if rejoined {
                format!(", rejoined as {}", self.members[i].id)
            } else {
                String::new()
            },
            if before.keys().ne(after.keys()) {
                format!(", members {:?} -> {:?}", before.keys(), after.keys())
            } else {
                String::new()
            }
        ));
        changed || !events.is_empty()
    }

    /// Takes member `i`'s callback reports and applies them to the model;
    /// the reports, and whether partitions were lost. A member that was
    /// evicted (`zombie`) cannot commit, even while revoking.
    fn callbacks(&mut self, i: usize, zombie: bool) -> (Vec<Event>, bool) {
        let name = self.members[i].name;
        let events: Vec<Event> = std::mem::take(&mut *self.members[i].events.lock().unwrap());
        let mut lost = false;
        for event in &events {
            self.note(format!("  m{name}: {event:?}"));
            match event {
                Event::Revoked { partitions, commit } => {
                    if let Some(result) = commit {
                        match result {
                            Ok(()) if zombie => self.fail(format!(
                                "m{name} was evicted, yet its commit while revoking succeeded"
                            )),
                            Ok(()) => {
                                self.stats.revoke_commits_ok += 1;
                                let held = self.members[i].held.clone();
                                self.committed_now(name, &held);
                            }
                            // The listener's contract says this commit
                            // succeeds, but a cooperative member that has
                            // not polled since the last generation began is
                            // refused as stale. Accepted (counted) here.
                            Err(e) if fenced(e) => self.stats.revoke_commits_fenced += 1,
                            Err(e) => self.fail(format!("m{name}: commit while revoking: {e}")),
                        }
                    }
                    for p in partitions {
                        if self.members[i].held.remove(p).is_none() {
                            self.fail(format!(
                                "m{name}: partition {p} revoked, but it never held it"
                            ));
                        }
                    }
                }
                Event::Lost(partitions) => {
                    lost = true;
                    let held: Vec<u32> = self.members[i].held.keys().copied().collect();
                    if *partitions != held {
                        self.fail(format!(
                            "m{name}: lost {partitions:?} while holding {held:?}"
                        ));
                    }
                    self.members[i].held.clear();
                }
                Event::Assigned(partitions) => {
                    for &p in partitions {
                        let at = self.committed[p as usize];
                        if self.members[i].held.insert(p, at).is_some() {
                            self.fail(format!("m{name}: assigned {p}, which it already held"));
                        }
                    }
                }
            }
        }
        (events, lost)
    }

    /// Member `i` leaves the group (`unsubscribe`: its partitions are
    /// revoked, its callback may commit them) and joins again under a new
    /// member id.
    fn rejoin(&mut self, i: usize) {
        let name = self.members[i].name;
        let before = self.group();
        let old_id = self.members[i].id.clone();
        let zombie = !before.contains_key(&old_id);
        let result = self.members[i].consumer.unsubscribe();
        self.note(format!(
            "m{name} ({old_id}{}) unsubscribes: {result:?}",
            if zombie { ", evicted" } else { "" }
        ));
        if let Err(e) = result {
            self.fail(format!("m{name}: unsubscribe: {e}"));
        }
        let (events, _) = self.callbacks(i, zombie);
        if events.iter().any(|e| !matches!(e, Event::Revoked { .. })) {
            self.fail(format!("m{name}: unsubscribe reported {events:?}"));
        }
        if !self.members[i].held.is_empty() {
            self.fail(format!(
                "m{name}: unsubscribed, yet its callbacks left it {:?}",
                self.members[i].held
            ));
        }
        self.check_assignment(i);
        let left = self.group();
        let mut expected = before.clone();
        expected.remove(&old_id);
        if left.keys().ne(expected.keys()) {
            self.fail(format!(
                "m{name} ({old_id}) unsubscribed: members {:?} -> {:?}",
                before.keys(),
                left.keys()
            ));
        }
        if let Err(e) = self.members[i].consumer.subscribe(&[TOPIC]) {
            self.fail(format!("m{name}: subscribe again: {e}"));
        }
        self.members[i].last_poll = Instant::now();
        let after = self.group();
        let new: Vec<&String> = after.keys().filter(|k| !left.contains_key(*k)).collect();
        if new.len() != 1 || left.keys().any(|k| !after.contains_key(k)) {
            self.fail(format!(
                "m{name}: subscribing again must add exactly one member: {left:?} -> {after:?}"
            ));
        }
        self.members[i].id = new[0].clone();
        self.stats.rejoins += 1;
        self.note(format!("m{name} subscribes again as {}", new[0]));
    }

    /// The consumer's own view matches what its callbacks said.
    fn check_assignment(&self, i: usize) {
        let m = &self.members[i];
        let actual: BTreeSet<u32> = numbers(&m.consumer.assignment()).into_iter().collect();
        let model: BTreeSet<u32> = m.held.keys().copied().collect();
        if actual != model {
            self.fail(format!(
                "m{}: assignment() {actual:?}, but the callbacks add up to {model:?}",
                m.name
            ));
        }
    }

    /// A commit of member `name` holding `held` succeeded: the committed
    /// offsets are now its positions.
    fn committed_now(&mut self, name: usize, held: &BTreeMap<u32, Option<u64>>) {
        for (&p, &position) in held {
            let now = self.log.group(GROUP).committed(TOPIC, p).map(|o| o.offset);
            let old = self.committed[p as usize];
            let ok = match position {
                Some(x) => now == Some(x),
                // Not yet resolved, or resolved to the log start.
                None => now == old || now == Some(0),
            };
            if !ok {
                self.fail(format!(
                    "m{name} committed partition {p} at position {position:?}, \
                     but the committed offset is {now:?} (was {old:?})"
                ));
            }
            if now < old {
                self.fail(format!(
                    "m{name}: committed offset of partition {p} went back from {old:?} to {now:?}"
                ));
            }
            self.committed[p as usize] = now;
        }
    }

    fn commit(&mut self, i: usize) {
        let name = self.members[i].name;
        let zombie = !self.group().contains_key(&self.members[i].id);
        let result = self.members[i].consumer.commit();
        self.note(format!(
            "m{name} commits{}: {result:?}",
            if zombie { " (evicted)" } else { "" }
        ));
        match result {
            Ok(()) if zombie => self.fail(format!("m{name} was evicted, yet its commit succeeded")),
            Ok(()) => {
                self.stats.commits_ok += 1;
                let held = self.members[i].held.clone();
                self.committed_now(name, &held);
            }
            Err(Error::RebalanceInProgress { .. }) => self.stats.commits_fenced += 1,
            Err(e @ Error::NotAssigned { .. }) if zombie => {
                self.fail(format!("m{name} was evicted: {e}, not RebalanceInProgress"))
            }
            Err(Error::NotAssigned { .. }) => self.stats.commits_fenced += 1,
            Err(e) => self.fail(format!("m{name}: commit: {e}")),
        }
    }

    fn commit_past_end(&mut self, i: usize) {
        let name = self.members[i].name;
        let p = self.members[i].held.keys().next().copied().unwrap_or(0);
        let past = self.hwm(p) + 1;
        let result = self.members[i]
            .consumer
            .commit_offsets(&[((TOPIC.to_owned(), p), OffsetAndMetadata::new(past))]);
        self.note(format!(
            "m{name} commits {past} on partition {p}, past the end: {result:?}"
        ));
        match result {
            Ok(()) => self.fail(format!(
                "m{name}: committed {past} on partition {p}, past its high watermark"
            )),
            Err(Error::OffsetOutOfRange { .. }) => {}
            Err(e) if fenced(&e) => {}
            Err(e) => self.fail(format!("m{name}: commit past the end: {e}")),
        }
    }

    fn close(&mut self, i: usize) {
        let m = self.members.remove(i);
        let before = self.group();
        let name = m.name;
        let id = m.id.clone();
        let result = m.consumer.close();
        self.note(format!("m{name} ({id}) closes: {result:?}"));
        if let Err(e) = result {
            self.fail(format!("m{name}: close: {e}"));
        }
        let after = self.group();
        let mut expected = before.clone();
        expected.remove(&id);
        if after.keys().ne(expected.keys()) {
            self.fail(format!(
                "m{name} ({id}) closed: members {:?} -> {:?}",
                before.keys(),
                after.keys()
            ));
        }
    }

    fn quiet(&mut self, q: usize) {
        let name = self.members[q].name;
        self.note(format!("m{name} goes quiet"));
        let start = Instant::now();
        let mut others_polled = false;
        loop {
            std::thread::sleep(Duration::from_millis(5));
            let done = start.elapsed() > QUIET;
            for j in 0..self.members.len() {
                if j != q {
                    self.poll(j, ROUND_POLL);
                    others_polled |= done;
                }
            }
            if done {
                break;
            }
        }
        let evicted = !self.group().contains_key(&self.members[q].id);
        if others_polled && !evicted {
            self.fail(format!(
                "m{name} did not poll for {QUIET:?}, past its {SHORT:?} max_poll_interval, \
                 yet it is still a member"
            ));
        }
        self.note(format!("m{name} was quiet; evicted {evicted}"));
    }

    fn produce(&mut self, k: usize) {
        let producer = self.log.producer();
        let mut deliveries = Vec::with_capacity(k);
        for _ in 0..k {
            let n: usize = self.produced.iter().map(Vec::len).sum::<usize>() + deliveries.len();
            let v = format!("record-{n}");
            let d = producer
                .send(TOPIC, Record::new(&v).key(&v))
                .unwrap_or_else(|e| self.fail(format!("send: {e}")));
            deliveries.push((v, d));
        }
        producer
            .flush()
            .unwrap_or_else(|e| self.fail(format!("flush: {e}")));
        for (v, d) in deliveries {
            let md = d
                .wait()
                .unwrap_or_else(|e| self.fail(format!("delivery: {e}")));
            let p = md.partition as usize;
            if md.offset != self.produced[p].len() as u64 {
                self.fail(format!(
                    "produced {v} at {:?} of partition {p}, expected {}",
                    md.offset,
                    self.produced[p].len()
                ));
            }
            self.produced[p].push(v);
            self.delivered[p].push(false);
        }
        self.note(format!("produce {k}"));
    }

    /// Everyone polls, round after round, until a round changes nothing;
    /// then the generation is stable and must cover every partition once,
    /// evenly.
    fn settle(&mut self) {
        self.note("settle".into());
        if self.members.is_empty() {
            return;
        }
        self.stats.settles += 1;
        let start = Instant::now();
        loop {
            let mut changed = false;
            for i in 0..self.members.len() {
                changed |= self.poll(i, ROUND_POLL);
            }
            self.check();
            if !changed {
                break;
            }
            if start.elapsed() > PATIENCE {
                self.fail(format!("the group did not settle within {PATIENCE:?}"));
            }
        }
        let group = self.group();
        let mut owners: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for m in &self.members {
            let held: BTreeSet<u32> = m.held.keys().copied().collect();
            match group.get(&m.id) {
                Some(assigned) if *assigned == held => {}
                other => self.fail(format!(
                    "settled, yet m{} ({}) holds {held:?} while the coordinator assigns {other:?}",
                    m.name, m.id
                )),
            }
            for &p in &held {
                owners.entry(p).or_default().push(m.name);
            }
        }
        let all: Vec<u32> = (0..self.partitions).collect();
        if owners.keys().copied().ne(all.iter().copied()) || owners.values().any(|o| o.len() != 1) {
            self.fail(format!(
                "settled: every partition needs exactly one owner: {owners:?}"
            ));
        }
        let counts: Vec<usize> = self.members.iter().map(|m| m.held.len()).collect();
        let (lo, hi) = (
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
        );
        if hi - lo > 1 {
            self.fail(format!("settled but unbalanced: {counts:?}"));
        }
        self.note(format!("settled: owners {owners:?}"));
    }

    /// The invariants that hold after every operation.
    fn check(&mut self) {
        let group = self.group();
        // Members: exactly the open consumers that were not evicted.
        let ids: BTreeSet<&String> = self.members.iter().map(|m| &m.id).collect();
        if let Some(stranger) = group.keys().find(|k| !ids.contains(k)) {
            self.fail(format!(
                "{stranger} is a member, but no open consumer is: {group:?}"
            ));
        }
        // The coordinator's assignments are disjoint.
        let mut owner: BTreeMap<u32, &String> = BTreeMap::new();
        for (id, ps) in &group {
            for p in ps {
                if *p >= self.partitions {
                    self.fail(format!(
                        "{id} is assigned partition {p}, which does not exist"
                    ));
                }
                if let Some(other) = owner.insert(*p, id) {
                    self.fail(format!(
                        "the coordinator assigns partition {p} to {other} and {id}: {group:?}"
                    ));
                }
            }
        }
        // Consumers that were not evicted hold a part of their coordinator
        // assignment (the rest they pick up at their next poll), so no two
        // of them hold the same partition.
        let mut holder: BTreeMap<u32, usize> = BTreeMap::new();
        for m in &self.members {
            let held: BTreeSet<u32> = m.held.keys().copied().collect();
            let Some(assigned) = group.get(&m.id) else {
                if !m.short {
                    self.fail(format!("m{} with a {LONG:?} interval was evicted", m.name));
                }
                continue;
            };
            if !held.is_subset(assigned) {
                self.fail(format!(
                    "m{} ({}) holds {held:?}, beyond its assignment {assigned:?}",
                    m.name, m.id
                ));
            }
            for p in held {
                if let Some(other) = holder.insert(p, m.name) {
                    self.fail(format!("partition {p} is held by m{other} and m{}", m.name));
                }
            }
        }
        let zombie_overlaps = self
            .members
            .iter()
            .filter(|m| !group.contains_key(&m.id))
            .flat_map(|m| m.held.keys())
            .filter(|p| holder.contains_key(p))
            .count() as u64;
        self.stats.zombie_overlaps += zombie_overlaps;
        for i in 0..self.members.len() {
            self.check_assignment(i);
        }
        // Committed offsets: only changed by commits, within the log,
        // and covering only delivered records.
        for p in 0..self.partitions {
            let now = self.log.group(GROUP).committed(TOPIC, p).map(|o| o.offset);
            let model = self.committed[p as usize];
            if now != model {
                self.fail(format!(
                    "partition {p}: committed offset {now:?}, expected {model:?}"
                ));
            }
            let hwm = self.hwm(p);
            if hwm != self.produced[p as usize].len() as u64 {
                self.fail(format!(
                    "partition {p}: high watermark {hwm}, {} produced",
                    self.produced[p as usize].len()
                ));
            }
            if let Some(c) = now {
                if c > hwm {
                    self.fail(format!(
                        "partition {p}: committed {c} past the high watermark {hwm}"
                    ));
                }
                if let Some(o) = (0..c).find(|&o| !self.delivered[p as usize][o as usize]) {
                    self.fail(format!(
                        "partition {p}: committed {c}, but offset {o} was never delivered"
                    ));
                }
            }
        }
    }

    /// Everyone closes; on disk the log is reopened; a fresh member drains
    /// the topic from the committed offsets.
    fn finish(mut self) {
        self.settle();
        self.check();
        for m in std::mem::take(&mut self.members) {
            if let Err(e) = m.consumer.close() {
                self.fail(format!("m{}: close: {e}", m.name));
            }
        }
        if !self.group().is_empty() {
            self.fail(format!(
                "members left after every consumer closed: {:?}",
                self.group()
            ));
        }
        if let Some(dir) = &self.dir {
            self.log.close().unwrap();
            self.log = Log::open(dir).unwrap_or_else(|e| self.fail(format!("reopen: {e}")));
            self.note("log closed and reopened".into());
            self.check();
        }
        self.note("a fresh member drains".into());
        let mut last = self
            .log
            .consumer(self.config(false, 500))
            .unwrap_or_else(|e| self.fail(format!("consumer: {e}")));
        last.subscribe(&[TOPIC]).unwrap();
        let mut next: Vec<u64> = self.committed.iter().map(|c| c.unwrap_or(0)).collect();
        let start = Instant::now();
        // Until it holds every partition (it is the only member) and has
        // read each to the end.
        while last.assignment().len() != self.partitions as usize
            || (0..self.partitions).any(|p| next[p as usize] < self.hwm(p))
        {
            if start.elapsed() > PATIENCE {
                self.fail(format!(
                    "the draining member stopped at {next:?} (committed {:?})",
                    self.committed
                ));
            }
            let records = last
                .poll(Duration::from_millis(10))
                .unwrap_or_else(|e| self.fail(format!("drain poll: {e}")));
            for r in &records {
                let (p, o) = (r.partition() as usize, r.offset());
                if o != next[p] {
                    self.fail(format!(
                        "drain: partition {p} offset {o} where {} was next (committed {:?})",
                        next[p], self.committed[p]
                    ));
                }
                if r.value() != Some(self.produced[p][o as usize].as_bytes()) {
                    self.fail(format!("drain: partition {p} offset {o}: wrong value"));
                }
                self.delivered[p][o as usize] = true;
                next[p] = o + 1;
            }
        }
        for (p, d) in self.delivered.iter().enumerate() {
            if let Some(o) = d.iter().position(|&x| !x) {
                self.fail(format!(
                    "partition {p} offset {o} was never delivered (at-least-once)"
                ));
            }
        }
        last.commit()
            .unwrap_or_else(|e| self.fail(format!("drain commit: {e}")));
        for p in 0..self.partitions {
            let c = self.log.group(GROUP).committed(TOPIC, p).map(|o| o.offset);
            let hwm = self.hwm(p);
            if c.unwrap_or(0) != hwm || c < self.committed[p as usize] {
                self.fail(format!(
                    "partition {p}: committed {c:?} after the drain, high watermark {hwm}"
                ));
            }
        }
        let lag: u64 = self
            .log
            .group(GROUP)
            .lag()
            .unwrap()
            .iter()
            .map(|l| l.lag)
            .sum();
        if lag != 0 {
            self.fail(format!("lag {lag} after the drain"));
        }
        last.close().unwrap();
        eprintln!(
            "{} {:?} {} partitions, {} ops: {:?}",
            self.what,
            self.strategy,
            self.partitions,
            self.trace.len(),
            self.stats
        );
    }
}

fn run(on_disk: bool, case: Case) {
    let tmp = tempfile::tempdir().unwrap();
    let (what, log, dir) = if on_disk {
        let dir = tmp.path().join("log");
        ("disk", Log::open(&dir).unwrap(), Some(dir))
    } else {
        ("memory", Log::in_memory(), None)
    };
    log.create_topic(TOPIC, TopicConfig::default().partitions(case.partitions))
        .unwrap();
    let n = case.partitions as usize;
    let mut world = World {
        what,
        log,
        dir,
        partitions: case.partitions,
        strategy: case.strategy,
        members: Vec::new(),
        joined: 0,
        produced: vec![Vec::new(); n],
        delivered: vec![Vec::new(); n],
        committed: vec![None; n],
        trace: Vec::new(),
        stats: Stats::default(),
    };
    for op in &case.ops {
        world.apply(op);
    }
    world.finish();
}

fn config() -> ProptestConfig {
    let cases = std::env::var("SAMSA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    ProptestConfig {
        cases,
        // Each case sleeps a little; keep shrinking bounded.
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn group_model_in_memory(case in case()) {
        run(false, case);
    }

    #[test]
    fn group_model_on_disk(case in case()) {
        run(true, case);
    }
}
