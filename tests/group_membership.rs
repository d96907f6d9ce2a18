//! Scenario: an operator describes the consumer groups of a live log from
//! outside its owner (issue 17: `samsa groups describe` shows members and
//! assignments). The owner records each group's membership in
//! `__consumer_groups` after every change; a read-only open reads it back.
//! Checked: the record follows joins, rebalances and leaves and agrees
//! with the owner's own description; a restart keeps the generation and
//! records the old members gone; a deleted group disappears; an in-memory
//! log records the same way.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::group::{GroupDescription, GroupState, RecordedGroup};
use samsa_log::read_only::ReadOnlyLog;
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Log, Record};
use std::time::{Duration, Instant};

fn config() -> ConsumerConfig {
    ConsumerConfig::new("billing")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
}

/// Polls every consumer until each holds partitions and the group is
/// stable.
fn settle(log: &Log, consumers: &mut [&mut Consumer]) {
    for _ in 0..200 {
        for c in consumers.iter_mut() {
            c.poll(Duration::from_millis(5)).unwrap();
        }
        let d = log.group("billing").describe().unwrap();
        if d.state == GroupState::Stable && consumers.iter().all(|c| !c.assignment().is_empty()) {
            return;
        }
    }
    panic!("the group never settled");
}

/// Waits (the owner records in the background) until the recorded group
/// satisfies `ok`; returns it.
fn recorded_until(
    reader: &ReadOnlyLog,
    ok: impl Fn(&Option<RecordedGroup>) -> bool,
) -> Option<RecordedGroup> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = reader.describe_group("billing").unwrap();
        if ok(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "the record never got there: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn owner_view(log: &Log) -> GroupDescription {
    log.group("billing").describe().unwrap()
}

#[test]
fn a_reader_sees_members_and_assignments_as_the_owner_has_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    log.create_topic("orders", TopicConfig::default().partitions(4))
        .unwrap();
    log.producer()
        .send("orders", Record::new(b"x"))
        .unwrap()
        .wait()
        .unwrap();
    let reader = Log::open_read_only(&dir).unwrap();
    assert_eq!(reader.describe_group("billing").unwrap(), None);

    let mut a = log.consumer(config()).unwrap();
    a.subscribe(&["orders"]).unwrap();
    settle(&log, &mut [&mut a]);
    let want = owner_view(&log);
    assert_eq!(want.members.len(), 1);
    let got = recorded_until(&reader, |g| {
        g.as_ref().map(|g| &g.description) == Some(&want)
    });
    assert!(got.unwrap().recorded_at_ms > 0);

    // A second member: a rebalance shares the four partitions.
    let mut b = log.consumer(config()).unwrap();
    b.subscribe(&["orders"]).unwrap();
    settle(&log, &mut [&mut a, &mut b]);
    let want = owner_view(&log);
    assert_eq!(want.members.len(), 2);
    let got = recorded_until(&reader, |g| {
        g.as_ref().map(|g| &g.description) == Some(&want)
    })
    .unwrap()
    .description;
    let mut partitions: Vec<u32> = got
        .members
        .iter()
        .flat_map(|m| m.assignment.iter().map(|(_, p)| *p))
        .collect();
    partitions.sort();
    assert_eq!(partitions, [0, 1, 2, 3], "each partition to one member");
    assert!(got.members.iter().all(|m| m.topics == ["orders"]));
    assert!(reader.groups().unwrap().contains(&"billing".to_owned()));

    // Both leave: the group is recorded empty, its generation kept.
    let generation = want.generation;
    a.close().unwrap();
    b.close().unwrap();
    let got = recorded_until(&reader, |g| {
        g.as_ref()
            .is_some_and(|g| g.description.state == GroupState::Empty)
    })
    .unwrap();
    assert!(got.description.members.is_empty());
    assert!(got.description.generation >= generation);
    log.close().unwrap();
}

#[test]
fn a_restart_keeps_the_generation_and_records_the_old_members_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let generation = {
        let log = Log::open(&dir).unwrap();
        log.create_topic("orders", TopicConfig::default().partitions(2))
            .unwrap();
        let mut a = log.consumer(config()).unwrap();
        a.subscribe(&["orders"]).unwrap();
        settle(&log, &mut [&mut a]);
        // The owner goes away with the member still in: as a kill leaves
        // it, the last record lists the member.
        let generation = owner_view(&log).generation;
        log.close().unwrap();
        std::mem::forget(a);
        generation
    };
    let recorded = Log::open_read_only(&dir)
        .unwrap()
        .describe_group("billing")
        .unwrap()
        .unwrap()
        .description;
    assert_eq!(recorded.state, GroupState::Stable);
    assert_eq!(recorded.members.len(), 1);

    let log = Log::open(&dir).unwrap();
    let restored = owner_view(&log);
    assert_eq!(restored.state, GroupState::Empty);
    assert_eq!(restored.generation, generation);
    assert!(log.groups().contains(&"billing".to_owned()));
    let reader = Log::open_read_only(&dir).unwrap();
    let got = reader.describe_group("billing").unwrap().unwrap();
    assert_eq!(got.description, restored, "recorded gone at open");

    // The next member starts a later generation.
    let mut a = log.consumer(config()).unwrap();
    a.subscribe(&["orders"]).unwrap();
    settle(&log, &mut [&mut a]);
    assert!(owner_view(&log).generation > generation);
    a.close().unwrap();

    // Deleting the group deletes its record.
    log.group("billing").delete().unwrap();
    assert_eq!(reader.describe_group("billing").unwrap(), None);
    assert!(!reader.groups().unwrap().contains(&"billing".to_owned()));
    log.close().unwrap();
    let log = Log::open(&dir).unwrap();
    assert!(log.group("billing").describe().is_err(), "gone for good");
    log.close().unwrap();
}

#[test]
fn an_in_memory_log_records_membership_too() {
    let log = Log::in_memory();
    log.create_topic("orders", TopicConfig::default()).unwrap();
    let mut a = log.consumer(config()).unwrap();
    a.subscribe(&["orders"]).unwrap();
    settle(&log, &mut [&mut a]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while log
        .topic("__consumer_groups")
        .map_or(0, |t| t.partition(0).unwrap().high_watermark())
        == 0
    {
        assert!(Instant::now() < deadline, "nothing recorded");
        std::thread::sleep(Duration::from_millis(10));
    }
    let want = owner_view(&log);
    assert_eq!(want.members.len(), 1);
    assert_eq!(want.members[0].assignment, [("orders".to_owned(), 0)]);
}
