//! Scenario: consumer groups, on disk and in memory. Members of a group
//! share a topic's partitions (each to exactly one member) while another
//! group reads everything; members come, go and get evicted; the
//! rebalance callbacks run inside poll, revocations before assignments;
//! commits are fenced by generation; committed offsets survive a restart;
//! static members come back without a rebalance; the admin operations.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, Offset, RebalanceListener};
use samsa_log::group::{CooperativeStickyAssignor, GroupState, OffsetAndMetadata};
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Error, Log, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

fn group(id: &str) -> ConsumerConfig {
    ConsumerConfig::new(id)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
}

fn produce(log: &Log, topic: &str, n: usize) {
    let producer = log.producer();
    for i in 0..n {
        let v = format!("{i}");
        let _d = producer.send(topic, Record::new(&v).key(&v)).unwrap();
    }
    producer.flush().unwrap();
}

/// Polls until `want` records came back or a few empty polls in a row.
fn drain(c: &mut Consumer, want: usize) -> Vec<(String, u32, u64)> {
    let mut out = Vec::new();
    let mut empty = 0;
    while out.len() < want && empty < 20 {
        let r = c.poll(Duration::from_millis(20)).unwrap();
        if r.is_empty() {
            empty += 1;
        }
        out.extend(
            r.iter()
                .map(|r| (r.topic().to_owned(), r.partition(), r.offset())),
        );
    }
    out
}

/// Each partition's high watermark, in partition order.
fn high_watermarks(log: &Log, topic: &str) -> Vec<u64> {
    log.topic(topic)
        .unwrap()
        .partitions()
        .iter()
        .map(|p| p.high_watermark())
        .collect()
}

fn assigned(c: &Consumer) -> BTreeSet<(String, u32)> {
    c.assignment().into_iter().collect()
}

#[test]
fn members_share_partitions_and_another_group_reads_everything() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(4))
            .unwrap();
        produce(&log, "t", 200);
        let mut a = log.consumer(group("g1")).unwrap();
        let mut b = log.consumer(group("g1")).unwrap();
        a.subscribe(&["t"]).unwrap();
        b.subscribe(&["t"]).unwrap();
        // Both poll until the group is stable with both members.
        let mut got = Vec::new();
        for _ in 0..50 {
            got.extend(drain(&mut a, 1));
            got.extend(drain(&mut b, 1));
            if !a.assignment().is_empty() && !b.assignment().is_empty() {
                break;
            }
        }
        got.extend(drain(&mut a, 200));
        got.extend(drain(&mut b, 200));
        let (pa, pb) = (assigned(&a), assigned(&b));
        assert!(
            pa.is_disjoint(&pb),
            "{what}: a partition with two owners: {pa:?} {pb:?}"
        );
        assert_eq!(
            pa.len() + pb.len(),
            4,
            "{what}: every partition has an owner"
        );
        let unique: BTreeSet<_> = got.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            200,
            "{what}: every record delivered to the group"
        );

        let mut other = log.consumer(group("g2")).unwrap();
        other.subscribe(&["t"]).unwrap();
        assert_eq!(
            drain(&mut other, 200).len(),
            200,
            "{what}: the second group reads everything"
        );
    });
}

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[(String, u32)]) {
        // Commit before giving the partitions up: allowed here.
        let result = consumer.commit();
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {partitions:?} commit {}", result.is_ok()));
    }

    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {partitions:?}"));
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.0.lock().unwrap().push(format!("lost {partitions:?}"));
    }
}

#[test]
fn rebalance_callbacks_run_in_poll_and_revocations_may_commit() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        produce(&log, "t", 20);
        let events = Recorder::default();
        let mut a = log.consumer(group("g")).unwrap();
        a.subscribe_with(&["t"], events.clone()).unwrap();
        drain(&mut a, 20);
        assert_eq!(assigned(&a).len(), 2, "{what}");
        let mut b = log.consumer(group("g")).unwrap();
        b.subscribe(&["t"]).unwrap();
        for _ in 0..20 {
            a.poll(Duration::from_millis(5)).unwrap();
            b.poll(Duration::from_millis(5)).unwrap();
        }
        assert_eq!((assigned(&a).len(), assigned(&b).len()), (1, 1), "{what}");
        let log_lines = events.0.lock().unwrap().clone();
        assert!(
            log_lines[0].starts_with("assigned"),
            "{what}: {log_lines:?}"
        );
        assert!(
            log_lines
                .iter()
                .any(|l| l.starts_with("revoked") && l.ends_with("commit true")),
            "{what}: {log_lines:?}"
        );
        // The revocation's commit stored a's positions.
        let committed: u64 = (0..2)
            .filter_map(|p| log.group("g").committed("t", p))
            .map(|o| o.offset)
            .sum();
        assert_eq!(committed, 20, "{what}");
        // b resumes where a committed: nothing left to read.
        assert!(
            drain(&mut b, 1).is_empty(),
            "{what}: no record delivered twice after a clean handover"
        );
    });
}

#[test]
fn a_member_that_stops_polling_is_evicted_and_cannot_commit() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        produce(&log, "t", 10);
        let quick = group("g").max_poll_interval(Duration::from_millis(100));
        let mut a = log.consumer(quick.clone()).unwrap();
        let mut slow = log.consumer(quick).unwrap();
        a.subscribe(&["t"]).unwrap();
        slow.subscribe(&["t"]).unwrap();
        for _ in 0..10 {
            a.poll(Duration::from_millis(2)).unwrap();
            slow.poll(Duration::from_millis(2)).unwrap();
        }
        assert_eq!(assigned(&slow).len(), 1, "{what}");
        // `slow` stops polling past its max_poll_interval; `a` keeps on.
        for _ in 0..15 {
            a.poll(Duration::from_millis(20)).unwrap();
        }
        assert_eq!(
            assigned(&a).len(),
            2,
            "{what}: a took over the evicted member's partition"
        );
        let err = slow.commit().unwrap_err();
        assert!(
            matches!(err, Error::RebalanceInProgress { .. }),
            "{what}: {err}"
        );
        // Polling again rejoins (the partitions were lost) and rebalances.
        for _ in 0..20 {
            slow.poll(Duration::from_millis(2)).unwrap();
            a.poll(Duration::from_millis(2)).unwrap();
        }
        assert_eq!(
            (assigned(&a).len(), assigned(&slow).len()),
            (1, 1),
            "{what}"
        );
    });
}

#[test]
fn committed_offsets_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    {
        let log = Log::open(&dir).unwrap();
        log.create_topic("t", TopicConfig::default()).unwrap();
        produce(&log, "t", 10);
        let mut c = log.consumer(group("g").max_poll_records(4)).unwrap();
        c.subscribe(&["t"]).unwrap();
        assert_eq!(drain(&mut c, 4).len(), 4);
        c.commit().unwrap();
        c.close().unwrap();
        log.close().unwrap();
    }
    let log = Log::open(&dir).unwrap();
    assert_eq!(log.group("g").committed("t", 0).unwrap().offset, 4);
    let mut c = log.consumer(group("g")).unwrap();
    c.subscribe(&["t"]).unwrap();
    let rest = drain(&mut c, 6);
    assert_eq!(
        rest.first().map(|r| r.2),
        Some(4),
        "resumes at the committed offset"
    );
    assert_eq!(rest.len(), 6);
}

#[test]
fn no_committed_offset_and_no_reset_is_an_error() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        produce(&log, "t", 1);
        let mut c = log
            .consumer(group("g").auto_offset_reset(AutoOffsetReset::None))
            .unwrap();
        c.subscribe(&["t"]).unwrap();
        let mut result = Ok(samsa_log::consumer::ConsumerRecords::default());
        for _ in 0..5 {
            result = c.poll(Duration::from_millis(5));
            if result.is_err() {
                break;
            }
        }
        assert!(
            matches!(result, Err(Error::NoOffset { .. })),
            "{what}: {result:?}"
        );
    });
}

#[test]
fn a_static_member_returns_without_a_rebalance() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        let config = |id: &str| {
            group("g")
                .group_instance_id(id)
                .session_timeout(Duration::from_secs(30))
        };
        let mut a = log.consumer(config("a")).unwrap();
        let mut b = log.consumer(config("b")).unwrap();
        a.subscribe(&["t"]).unwrap();
        b.subscribe(&["t"]).unwrap();
        for _ in 0..10 {
            a.poll(Duration::from_millis(2)).unwrap();
            b.poll(Duration::from_millis(2)).unwrap();
        }
        let before = (assigned(&a), log.group("g").describe().unwrap().generation);
        b.close().unwrap();
        a.poll(Duration::from_millis(5)).unwrap();
        assert_eq!(
            assigned(&a),
            before.0,
            "{what}: a keeps its share while b may return"
        );
        let mut b = log.consumer(config("b")).unwrap();
        b.subscribe(&["t"]).unwrap();
        b.poll(Duration::from_millis(5)).unwrap();
        assert_eq!(assigned(&b).len(), 1, "{what}: b got its partition back");
        assert_eq!(
            log.group("g").describe().unwrap().generation,
            before.1,
            "{what}: no rebalance"
        );
    });
}

#[test]
fn added_partitions_are_assigned() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(1))
            .unwrap();
        let mut c = log.consumer(group("g")).unwrap();
        c.subscribe(&["t"]).unwrap();
        c.poll(Duration::from_millis(5)).unwrap();
        log.add_partitions("t", 2).unwrap();
        for _ in 0..5 {
            c.poll(Duration::from_millis(5)).unwrap();
        }
        assert_eq!(assigned(&c).len(), 3, "{what}");
    });
}

#[test]
fn cooperative_sticky_revokes_only_moved_partitions() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(6))
            .unwrap();
        let config = group("g").assignor(CooperativeStickyAssignor);
        let events = Recorder::default();
        let mut a = log.consumer(config.clone()).unwrap();
        a.subscribe_with(&["t"], events.clone()).unwrap();
        a.poll(Duration::from_millis(5)).unwrap();
        assert_eq!(assigned(&a).len(), 6);
        let mut b = log.consumer(config).unwrap();
        b.subscribe(&["t"]).unwrap();
        b.poll(Duration::from_millis(2)).unwrap();
        assert_eq!(
            log.group("g").describe().unwrap().state,
            GroupState::PreparingRebalance,
            "{what}: a must give up partitions before b gets them"
        );
        for _ in 0..10 {
            a.poll(Duration::from_millis(2)).unwrap();
            b.poll(Duration::from_millis(2)).unwrap();
        }
        assert_eq!((assigned(&a).len(), assigned(&b).len()), (3, 3), "{what}");
        assert_eq!(
            log.group("g").describe().unwrap().state,
            GroupState::Stable,
            "{what}"
        );
        let revoked: Vec<String> = events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("revoked"))
            .cloned()
            .collect();
        assert_eq!(revoked.len(), 1, "{what}: {revoked:?}");
        assert_eq!(
            revoked[0].matches("\"t\"").count(),
            3,
            "{what}: only the 3 moved partitions: {revoked:?}"
        );
    });
}

#[test]
fn admin_describe_lag_reset_delete() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        produce(&log, "t", 10);
        let mut c = log.consumer(group("g")).unwrap();
        c.subscribe(&["t"]).unwrap();
        drain(&mut c, 10);
        c.commit().unwrap();
        let d = log.group("g").describe().unwrap();
        assert_eq!(
            (d.state, d.members.len()),
            (GroupState::Stable, 1),
            "{what}"
        );
        assert_eq!(d.members[0].assignment.len(), 2);
        let lag: u64 = log.group("g").lag().unwrap().iter().map(|l| l.lag).sum();
        assert_eq!(lag, 0, "{what}");
        produce(&log, "t", 5);
        let lag: u64 = log.group("g").lag().unwrap().iter().map(|l| l.lag).sum();
        assert_eq!(lag, 5, "{what}");
        assert!(matches!(
            log.group("g").reset_offsets("t", Offset::Earliest),
            Err(Error::GroupNotEmpty { .. })
        ));
        assert!(matches!(
            log.group("g").delete(),
            Err(Error::GroupNotEmpty { .. })
        ));
        c.close().unwrap();
        log.group("g").reset_offsets("t", Offset::Earliest).unwrap();
        let lag: u64 = log.group("g").lag().unwrap().iter().map(|l| l.lag).sum();
        assert_eq!(lag, 15, "{what}");
        assert_eq!(log.group("g").describe().unwrap().state, GroupState::Empty);
        assert!(log.groups().contains(&"g".to_string()));
        log.group("g").delete().unwrap();
        assert!(log.group("g").committed("t", 0).is_none(), "{what}");
        assert!(matches!(
            log.group("g").describe(),
            Err(Error::UnknownGroup { .. })
        ));
        let per_partition: BTreeMap<u32, u64> = log
            .group("nobody")
            .lag()
            .unwrap()
            .iter()
            .map(|l| (l.partition, l.lag))
            .collect();
        assert!(per_partition.is_empty());
    });
}

#[test]
fn admin_dry_run_shift_and_delete_offsets() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        log.create_topic("u", TopicConfig::default()).unwrap();
        produce(&log, "t", 20);
        produce(&log, "u", 4);
        let mut c = log.consumer(group("g")).unwrap();
        c.assign(&[("t", 0), ("t", 1), ("u", 0)]).unwrap();
        c.commit_offsets(&[
            (("t".into(), 0), OffsetAndMetadata::new(3)),
            (("u".into(), 0), OffsetAndMetadata::new(2)),
        ])
        .unwrap();
        drop(c);
        let g = log.group("g");
        let hw = high_watermarks(&log, "t");
        assert_eq!(hw.iter().sum::<u64>(), 20, "{what}");

        // A dry run changes nothing and says where each partition goes.
        let before = g.offsets();
        let plan = g.plan_reset("t", Offset::ShiftBy(-5)).unwrap();
        assert_eq!(g.offsets(), before, "{what}: a dry run wrote");
        assert_eq!((plan[0].from, plan[0].to), (Some(3), 0), "{what}: clamped");
        assert_eq!((plan[1].from, plan[1].to), (None, 0), "{what}");
        let plan = g.plan_reset("t", Offset::ShiftBy(1_000)).unwrap();
        assert_eq!(plan[0].to, hw[0], "{what}: clamped to the high watermark");
        assert_eq!(plan[1].to, hw[1], "{what}");
        let plan = g.plan_reset("t", Offset::At(u64::MAX)).unwrap();
        assert_eq!(plan[1].to, hw[1], "{what}");

        // Executing it does what the plan said.
        let done = g.reset_offsets("t", Offset::ShiftBy(2)).unwrap();
        assert_eq!(
            (done[0].from, done[0].to),
            (Some(3), 5.min(hw[0])),
            "{what}"
        );
        assert_eq!(g.committed("t", 0).map(|o| o.offset), Some(done[0].to));
        assert_eq!(g.committed("t", 1).map(|o| o.offset), Some(done[1].to));
        assert!(matches!(
            g.plan_reset("nope", Offset::Latest),
            Err(Error::UnknownTopic { .. })
        ));

        // Deleting one topic's offsets leaves the other's.
        g.delete_offsets("t").unwrap();
        let left: Vec<_> = g.offsets().into_keys().collect();
        assert_eq!(left, vec![("u".to_string(), 0)], "{what}");
        assert_eq!(log.groups(), vec!["g".to_string()], "{what}");
        g.delete().unwrap();
        assert!(log.groups().is_empty(), "{what}");
    });
}

#[test]
fn commit_a_record_or_an_offset() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        produce(&log, "t", 5);
        let mut c = log.consumer(group("g")).unwrap();
        c.assign(&[("t", 0)]).unwrap();
        let polled = c.poll(Duration::from_millis(100)).unwrap();
        let third = polled.iter().nth(2).unwrap();
        c.commit_record(&third).unwrap();
        assert_eq!(c.committed("t", 0).unwrap().unwrap().offset, 3, "{what}");
        c.commit_offset("t", 0, 5).unwrap();
        assert_eq!(log.group("g").committed("t", 0).unwrap().offset, 5);
        assert!(matches!(
            c.commit_offset("t", 0, 6),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert!(matches!(
            c.commit_offset("nope", 0, 0),
            Err(Error::UnknownTopic { .. })
        ));
        assert_eq!(log.group("g").committed("t", 0).unwrap().offset, 5);
    });
}

#[test]
fn subscribe_needs_a_group_and_does_not_mix_with_assign() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let mut solo = log.consumer(ConsumerConfig::default()).unwrap();
    assert!(matches!(
        solo.subscribe(&["t"]),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(solo.commit(), Err(Error::InvalidConfig(_))));
    let mut c = log.consumer(group("g")).unwrap();
    c.subscribe(&["t"]).unwrap();
    assert!(matches!(
        c.assign(&[("t", 0)]),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn a_second_instance_with_the_same_id_fences_the_first() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        let config = group("g").group_instance_id("worker-1");
        let mut old = log.consumer(config.clone()).unwrap();
        old.subscribe(&["t"]).unwrap();
        old.poll(Duration::from_millis(5)).unwrap();
        assert_eq!(assigned(&old).len(), 2);
        let generation = log.group("g").describe().unwrap().generation;
        let mut new = log.consumer(config).unwrap();
        new.subscribe(&["t"]).unwrap();
        new.poll(Duration::from_millis(5)).unwrap();
        assert_eq!(
            assigned(&new).len(),
            2,
            "{what}: the new instance takes the place"
        );
        assert_eq!(
            log.group("g").describe().unwrap().generation,
            generation,
            "{what}: no rebalance"
        );
        let err = old.poll(Duration::from_millis(5)).unwrap_err();
        assert!(matches!(err, Error::Fenced { .. }), "{what}: {err}");
        assert!(old.assignment().is_empty());
    });
}

#[test]
fn consumers_producers_and_logs_cross_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Consumer>();
    send::<samsa_log::Producer>();
    sync::<samsa_log::Producer>();
    send::<Log>();
    sync::<Log>();
}

#[test]
fn a_member_is_never_told_it_lost_partitions_it_never_held() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(4))
            .unwrap();
        let events = Recorder::default();
        let mut a = log.consumer(group("g")).unwrap();
        a.subscribe_with(&["t"], events.clone()).unwrap();
        // b joins before a ever polled: a held nothing when the rebalance began.
        let mut b = log.consumer(group("g")).unwrap();
        b.subscribe(&["t"]).unwrap();
        for _ in 0..10 {
            a.poll(Duration::from_millis(2)).unwrap();
            b.poll(Duration::from_millis(2)).unwrap();
        }
        let lines = events.0.lock().unwrap().clone();
        assert!(
            lines.iter().all(|l| !l.starts_with("revoked")),
            "{what}: {lines:?}"
        );
        assert_eq!(assigned(&a).len() + assigned(&b).len(), 4, "{what}");
    });
}

#[test]
fn subscribing_again_gives_up_the_partitions_first() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(1))
            .unwrap();
        produce(&log, "t", 10);
        let mut a = log.consumer(group("g").max_poll_records(2)).unwrap();
        a.subscribe(&["t"]).unwrap();
        assert_eq!(a.poll(Duration::from_millis(1)).unwrap().len(), 2);
        a.commit().unwrap();
        let mut b = log.consumer(group("g")).unwrap();
        b.subscribe(&["t"]).unwrap();
        // a subscribes again: it must not keep partition 0 at its position.
        a.subscribe(&["t"]).unwrap();
        assert!(a.assignment().is_empty(), "{what}: {:?}", a.assignment());
        let got = drain(&mut b, 8);
        assert_eq!(got.first().map(|r| r.2), Some(2), "{what}");
        b.commit().unwrap();
        assert_eq!(log.group("g").committed("t", 0).unwrap().offset, 10);
        b.close().unwrap();
        drain(&mut a, 1);
        a.commit().unwrap();
        assert_eq!(
            log.group("g").committed("t", 0).unwrap().offset,
            10,
            "{what}: committed went back"
        );
    });
}

struct CommitOnRevoke(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(&mut self, c: &mut Consumer, partitions: &[(String, u32)]) {
        let result = c.commit();
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {partitions:?}: {result:?}"));
    }
}

#[test]
fn a_revocation_may_commit_even_after_a_generation_the_member_did_not_see() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        let producer = log.producer();
        for i in 0..10u32 {
            let _d = producer
                .send("t", Record::new(&i.to_le_bytes()).partition(i % 2))
                .unwrap();
        }
        producer.flush().unwrap();
        let config = || group("g").assignor(CooperativeStickyAssignor);
        let t = Duration::from_millis(1);
        let mut a = log.consumer(config()).unwrap();
        a.subscribe(&["t"]).unwrap();
        a.poll(t).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut b = log.consumer(config()).unwrap();
        b.subscribe_with(&["t"], CommitOnRevoke(events.clone()))
            .unwrap();
        a.poll(t).unwrap();
        let read = b.poll(t).unwrap().len();
        assert!(read > 0, "{what}");
        // A new generation starts while b is not polling, then another
        // member joins and b must give a partition back.
        a.close().unwrap();
        let mut c = log.consumer(config()).unwrap();
        c.subscribe(&["t"]).unwrap();
        b.poll(t).unwrap();
        let lines = events.lock().unwrap().clone();
        assert!(!lines.is_empty(), "{what}: b gave nothing up");
        assert!(
            lines.iter().all(|l| l.ends_with("Ok(())")),
            "{what}: {lines:?}"
        );
        assert_eq!(
            log.group("g").committed("t", 1).map(|o| o.offset),
            Some(5),
            "{what}"
        );
    });
}

/// Fault: a custom assignor that gives every partition to every member.
struct Greedy;

impl samsa_log::group::Assignor for Greedy {
    fn name(&self) -> &str {
        "greedy"
    }

    fn assign(
        &self,
        members: &[samsa_log::group::GroupMember<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, Vec<(String, u32)>> {
        let all: Vec<(String, u32)> = partitions
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
            .collect();
        members
            .iter()
            .map(|m| (m.member_id.to_string(), all.clone()))
            .collect()
    }
}

#[test]
fn a_broken_custom_assignor_never_gives_a_partition_two_owners() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(4))
            .unwrap();
        let mut a = log.consumer(group("g").assignor(Greedy)).unwrap();
        let mut b = log.consumer(group("g").assignor(Greedy)).unwrap();
        a.subscribe(&["t"]).unwrap();
        b.subscribe(&["t"]).unwrap();
        for _ in 0..10 {
            a.poll(Duration::from_millis(2)).unwrap();
            b.poll(Duration::from_millis(2)).unwrap();
        }
        let (pa, pb) = (assigned(&a), assigned(&b));
        assert!(pa.is_disjoint(&pb), "{what}: {pa:?} {pb:?}");
        assert_eq!(pa.len() + pb.len(), 4, "{what}");
    });
}

/// The trial: `subscribe(&["nope"])` then `poll` returned nothing,
/// with no word anywhere. A missing topic is now `UnknownTopic` at
/// `subscribe`; a consumer that means to wait for a topic says so, and
/// `missing_topics` names what it waits for.
#[test]
fn subscribing_to_a_missing_topic_is_an_error_unless_allowed() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let mut c = log.consumer(group("g")).unwrap();
        assert!(
            matches!(c.subscribe(&["t", "nope"]), Err(Error::UnknownTopic { ref name }) if name == "nope"),
            "{what}"
        );
        assert!(
            matches!(
                c.subscribe(&["bad name"]),
                Err(Error::InvalidTopicName { .. })
            ),
            "{what}"
        );
        // Nothing was joined: the group has no member.
        assert_eq!(
            log.group("g")
                .describe()
                .map(|d| d.members.len())
                .unwrap_or(0),
            0,
            "{what}"
        );

        let mut c = log.consumer(group("g").allow_missing_topics(true)).unwrap();
        c.subscribe(&["t", "late"]).unwrap();
        assert_eq!(c.missing_topics(), ["late"], "{what}");
        assert!(c.poll(Duration::from_millis(10)).unwrap().is_empty());
        log.create_topic("late", TopicConfig::default()).unwrap();
        produce(&log, "late", 3);
        assert!(c.missing_topics().is_empty(), "{what}");
        let mut got = 0;
        for _ in 0..50 {
            got += c.poll(Duration::from_millis(50)).unwrap().len();
            if got == 3 {
                break;
            }
        }
        assert_eq!(got, 3, "{what}: the late topic's records");
    });
}

#[test]
fn alter_offsets_sets_each_partition_and_refuses_an_active_group() {
    on_both(|_, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        produce(&log, "t", 10);
        let g = log.group("moved");
        g.alter_offsets(&[("t", 0, 3), ("t", 1, 1)]).unwrap();
        assert_eq!(g.committed("t", 0).map(|o| o.offset), Some(3));
        assert_eq!(g.committed("t", 1).map(|o| o.offset), Some(1));
        // A partition that does not exist: an error, and nothing set.
        assert!(matches!(
            g.alter_offsets(&[("t", 0, 9), ("t", 2, 0)]),
            Err(Error::UnknownPartition { partition: 2, .. })
        ));
        assert_eq!(g.committed("t", 0).map(|o| o.offset), Some(3));
        assert!(matches!(
            g.alter_offsets(&[("nowhere", 0, 0)]),
            Err(Error::UnknownTopic { .. })
        ));
        // A member reads from the offsets set.
        let mut c = log.consumer(group("moved")).unwrap();
        c.subscribe(&["t"]).unwrap();
        let ends = high_watermarks(&log, "t");
        let got = drain(&mut c, 10);
        assert_eq!(got.len() as u64, ends[0] - 3 + ends[1] - 1, "{got:?}");
        assert!(got
            .iter()
            .all(|(_, p, o)| (*p == 0 && *o >= 3) || (*p == 1 && *o >= 1)));
        // While it is a member, the group's offsets are its to commit.
        assert!(matches!(
            g.alter_offsets(&[("t", 0, 0)]),
            Err(Error::GroupNotEmpty { .. })
        ));
    });
}
