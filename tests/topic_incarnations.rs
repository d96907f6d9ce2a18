//! Scenario: a topic deleted and created again under its name is a new
//! topic (a new `TopicId`, as Kafka's topic ids make it), on disk and in
//! memory. Handles to the old one notice: a producer's sends fail with
//! `UnknownTopic` while no topic has the name, then go to the new one; a
//! subscribed consumer (eager or cooperative) and one with assigned
//! partitions read the new topic from its start, by their reset policy;
//! the groups' committed offsets of the old topic are gone, also after a
//! restart.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::group::{CooperativeStickyAssignor, OffsetAndMetadata};
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Error, Log, Record};
use std::time::Duration;

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

/// Values of every record polled until `want` came or polls ran dry.
fn drain(c: &mut Consumer, want: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut empty = 0;
    while out.len() < want && empty < 30 {
        let r = c.poll(Duration::from_millis(20)).unwrap();
        if r.is_empty() {
            empty += 1;
        }
        out.extend(
            r.iter()
                .map(|r| String::from_utf8(r.value().unwrap().to_vec()).unwrap()),
        );
    }
    out.sort();
    out
}

fn send_all(log: &Log, values: &[&str]) {
    let p = log.producer();
    for v in values {
        p.send("d", Record::new(v.as_bytes()))
            .unwrap()
            .wait()
            .unwrap();
    }
}

#[test]
fn a_producer_follows_the_name_to_the_new_topic() {
    on_both(|what, log| {
        let first = log.create_topic("d", TopicConfig::default()).unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::ZERO))
            .unwrap();
        producer
            .send("d", Record::new(b"old"))
            .unwrap()
            .wait()
            .unwrap();
        log.delete_topic("d").unwrap();
        // While no topic has the name: UnknownTopic, not Closed.
        for _ in 0..3 {
            match producer.send("d", Record::new(b"lost")) {
                Err(Error::UnknownTopic { name }) => assert_eq!(name, "d", "{what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        let second = log.create_topic("d", TopicConfig::default()).unwrap();
        assert_ne!(first.id(), second.id(), "{what}");
        let md = producer
            .send("d", Record::new(b"new"))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.offset, 0, "{what}: the new topic starts empty");
        let r = second.partition(0).unwrap().read(0, 1 << 20).unwrap();
        let values: Vec<_> = r.iter().map(|r| r.value().unwrap().to_vec()).collect();
        assert_eq!(values, [b"new".to_vec()], "{what}");
        producer.close().unwrap();
    });
}

#[test]
fn a_delivery_in_flight_to_a_deleted_topic_fails_with_unknown_topic() {
    on_both(|what, log| {
        log.create_topic("d", TopicConfig::default()).unwrap();
        // A long linger keeps the batch open across the deletion.
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
            .unwrap();
        let pending = producer.send("d", Record::new(b"late")).unwrap();
        log.delete_topic("d").unwrap();
        log.create_topic("d", TopicConfig::default()).unwrap();
        // The next send moves to the new topic; the open batch of the old
        // one is closed and fails.
        let next = producer.send("d", Record::new(b"next")).unwrap();
        producer.flush().unwrap_err();
        match pending.wait() {
            Err(Error::UnknownTopic { name }) => assert_eq!(name, "d", "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(next.wait().unwrap().offset, 0, "{what}");
    });
}

fn subscribed_consumer_reads_the_new_topic(cooperative: bool) {
    on_both(|what, log| {
        log.create_topic("d", TopicConfig::default().partitions(2))
            .unwrap();
        send_all(&log, &["a", "b", "c"]);
        let mut config = ConsumerConfig::new("g")
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false);
        if cooperative {
            config = config.assignor(CooperativeStickyAssignor);
        }
        let mut c = log.consumer(config).unwrap();
        c.subscribe(&["d"]).unwrap();
        assert_eq!(drain(&mut c, 3), ["a", "b", "c"], "{what}");
        c.commit().unwrap();
        assert!(
            log.group("g").committed("d", 0).is_some()
                || log.group("g").committed("d", 1).is_some()
        );

        // Deleted and created again between two polls.
        log.delete_topic("d").unwrap();
        assert_eq!(
            log.group("g").committed("d", 0),
            None,
            "{what}: commits forgotten"
        );
        assert_eq!(
            log.group("g").committed("d", 1),
            None,
            "{what}: commits forgotten"
        );
        log.create_topic("d", TopicConfig::default().partitions(2))
            .unwrap();
        send_all(&log, &["x", "y"]);
        assert_eq!(
            drain(&mut c, 2),
            ["x", "y"],
            "{what}: cooperative {cooperative}"
        );
        // Commits go to the new topic.
        c.commit().unwrap();
        let total: u64 = (0..2)
            .filter_map(|p| log.group("g").committed("d", p))
            .map(|o| o.offset)
            .sum();
        assert_eq!(total, 2, "{what}");
    });
}

#[test]
fn a_subscribed_consumer_reads_the_new_topic_from_its_start() {
    subscribed_consumer_reads_the_new_topic(false);
}

#[test]
fn a_cooperative_member_reads_the_new_topic_from_its_start() {
    subscribed_consumer_reads_the_new_topic(true);
}

#[test]
fn an_assigned_consumer_moves_to_the_new_topic() {
    on_both(|what, log| {
        log.create_topic("d", TopicConfig::default()).unwrap();
        send_all(&log, &["a", "b"]);
        let mut c = log
            .consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest))
            .unwrap();
        c.assign(&[("d", 0)]).unwrap();
        assert_eq!(drain(&mut c, 2), ["a", "b"], "{what}");
        log.delete_topic("d").unwrap();
        // Nothing to read while the topic is gone, and no error.
        assert!(
            c.poll(Duration::from_millis(10)).unwrap().is_empty(),
            "{what}"
        );
        log.create_topic("d", TopicConfig::default()).unwrap();
        send_all(&log, &["z"]);
        assert_eq!(drain(&mut c, 1), ["z"], "{what}");
        assert_eq!(c.position("d", 0).unwrap(), 1, "{what}");
    });
}

#[test]
fn commits_of_a_deleted_topic_stay_gone_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    {
        let log = Log::open(&dir).unwrap();
        log.create_topic("d", TopicConfig::default()).unwrap();
        log.create_topic("kept", TopicConfig::default()).unwrap();
        send_all(&log, &["a"]);
        let mut c = log.consumer(ConsumerConfig::new("g")).unwrap();
        c.assign(&[("d", 0), ("kept", 0)]).unwrap();
        c.commit_offsets(&[
            (("d".into(), 0), OffsetAndMetadata::new(1)),
            (("kept".into(), 0), OffsetAndMetadata::new(0)),
        ])
        .unwrap();
        drop(c);
        log.delete_topic("d").unwrap();
        log.create_topic("d", TopicConfig::default()).unwrap();
        log.close().unwrap();
    }
    let log = Log::open(&dir).unwrap();
    assert_eq!(log.group("g").committed("d", 0), None);
    assert_eq!(
        log.group("g").committed("kept", 0),
        Some(OffsetAndMetadata::new(0))
    );
}
