//! Scenario: a transactional producer (issue 16) writes to several
//! partitions and commits consumer offsets in one transaction; a
//! `read_committed` consumer sees a transaction's records only once it
//! commits, never those of an aborted one; a newer producer with the same
//! transactional id fences the older; calls out of order get a typed
//! error; a transaction a crash left open is aborted at the next open. On
//! disk and in memory.

mod common;

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::group::OffsetAndMetadata;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Producer, Record};
use std::time::Duration;

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

fn transactional(log: &Log, id: &str) -> Producer {
    let p = log
        .producer_with(ProducerConfig::default().transactional_id(id))
        .unwrap();
    p.init_transactions().unwrap();
    p
}

/// Every value a consumer at `isolation` reads from `topic` (all
/// partitions), from the start.
fn read(log: &Log, topic: &str, isolation: IsolationLevel) -> Vec<String> {
    let mut c = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .isolation_level(isolation),
        )
        .unwrap();
    let n = log.topic(topic).unwrap().partition_count();
    let parts: Vec<(&str, u32)> = (0..n).map(|p| (topic, p)).collect();
    c.assign(&parts).unwrap();
    let mut out = Vec::new();
    loop {
        let r = c.poll(Duration::ZERO).unwrap();
        if r.is_empty() {
            out.sort();
            return out;
        }
        out.extend(
            r.iter()
                .map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned()),
        );
    }
}

fn committed(log: &Log, topic: &str) -> Vec<String> {
    read(log, topic, IsolationLevel::ReadCommitted)
}

#[test]
fn a_commit_shows_every_record_at_once_and_an_abort_none() {
    on_both(|what, log| {
        log.create_topic("out", topic_config().partitions(3))
            .unwrap();
        let p = transactional(&log, "tx");
        p.begin_transaction().unwrap();
        for i in 0..9 {
            let _ = p
                .send("out", Record::new(format!("a{i}")).partition(i % 3))
                .unwrap();
        }
        p.flush().unwrap();
        assert!(committed(&log, "out").is_empty(), "{what}: open");
        assert_eq!(read(&log, "out", IsolationLevel::ReadUncommitted).len(), 9);
        p.commit_transaction().unwrap();
        assert_eq!(committed(&log, "out").len(), 9, "{what}: committed");

        p.begin_transaction().unwrap();
        let _ = p.send("out", Record::new("b").partition(1)).unwrap();
        p.abort_transaction().unwrap();
        let seen = committed(&log, "out");
        assert_eq!(seen.len(), 9, "{what}: {seen:?}");
        assert!(!seen.contains(&"b".to_owned()));
    });
}

#[test]
fn offsets_sent_to_a_transaction_commit_with_it_and_only_then() {
    on_both(|what, log| {
        log.create_topic("in", topic_config()).unwrap();
        log.create_topic("out", topic_config()).unwrap();
        let input = log.topic("in").unwrap().partition(0).unwrap();
        input
            .append(&[Record::new(b"x"), Record::new(b"y")])
            .unwrap();
        let p = transactional(&log, "etl");
        let offsets = |n| [(("in".to_owned(), 0), OffsetAndMetadata::new(n))];
        let mut consumer = log.consumer(ConsumerConfig::new("etl-group")).unwrap();
        consumer.subscribe(&["in"]).unwrap();
        let _ = consumer.poll(Duration::ZERO).unwrap();
        let group = consumer.group_metadata().unwrap();

        p.begin_transaction().unwrap();
        let _ = p.send("out", Record::new("X")).unwrap();
        p.send_offsets_to_transaction(&offsets(1), &group).unwrap();
        p.abort_transaction().unwrap();
        assert_eq!(log.group("etl-group").committed("in", 0), None, "{what}");

        p.begin_transaction().unwrap();
        let _ = p.send("out", Record::new("X")).unwrap();
        p.send_offsets_to_transaction(&offsets(1), &group).unwrap();
        p.commit_transaction().unwrap();
        assert_eq!(
            log.group("etl-group").committed("in", 0).map(|o| o.offset),
            Some(1),
            "{what}"
        );
        assert_eq!(committed(&log, "out"), ["X"]);
    });
}

#[test]
fn a_newer_producer_of_the_id_fences_the_older_one() {
    on_both(|what, log| {
        log.create_topic("out", topic_config()).unwrap();
        let zombie = transactional(&log, "tx");
        zombie.begin_transaction().unwrap();
        let _ = zombie.send("out", Record::new("zombie")).unwrap();
        zombie.flush().unwrap();
        let fresh = transactional(&log, "tx");
        // The zombie's open transaction was aborted; its later sends and
        // its commit fail.
        let _ = zombie.send("out", Record::new("late"));
        let e = zombie.commit_transaction().unwrap_err();
        assert!(matches!(e, Error::ProducerFenced { .. }), "{what}: {e:?}");
        fresh.begin_transaction().unwrap();
        let _ = fresh.send("out", Record::new("fresh")).unwrap();
        fresh.commit_transaction().unwrap();
        assert_eq!(committed(&log, "out"), ["fresh"], "{what}");
    });
}

#[test]
fn calls_out_of_order_are_typed_errors() {
    let log = Log::in_memory();
    log.create_topic("out", topic_config()).unwrap();
    let p = log
        .producer_with(ProducerConfig::default().transactional_id("tx"))
        .unwrap();
    let state = |r: samsa_log::Result<()>| matches!(r, Err(Error::TransactionState { .. }));
    assert!(state(p.begin_transaction()), "before init_transactions");
    p.init_transactions().unwrap();
    assert!(matches!(
        p.send("out", Record::new("outside")),
        Err(Error::TransactionState { .. })
    ));
    assert!(state(p.commit_transaction()), "nothing open");
    p.begin_transaction().unwrap();
    assert!(state(p.begin_transaction()), "already open");
    p.abort_transaction().unwrap();
    assert!(matches!(
        log.producer_with(
            ProducerConfig::default()
                .transactional_id("x")
                .idempotence(false)
        ),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn a_transaction_left_open_by_a_crash_is_aborted_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let log = Log::open(tmp.path()).unwrap();
        log.create_topic("out", topic_config().partitions(2))
            .unwrap();
        let p = transactional(&log, "tx");
        p.begin_transaction().unwrap();
        let _ = p
            .send("out", Record::new("committed").partition(0))
            .unwrap();
        p.commit_transaction().unwrap();
        p.begin_transaction().unwrap();
        let _ = p.send("out", Record::new("open").partition(1)).unwrap();
        p.flush().unwrap();
        // The process dies here: no commit, no abort.
    }
    let log = Log::open(tmp.path()).unwrap();
    assert_eq!(committed(&log, "out"), ["committed"]);
    let p = log.topic("out").unwrap().partition(1).unwrap();
    // Nothing holds read_committed readers back.
    let mut c = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .isolation_level(IsolationLevel::ReadCommitted),
        )
        .unwrap();
    c.assign(&[("out", 1)]).unwrap();
    let _ = c.poll(Duration::ZERO).unwrap();
    assert_eq!(c.position("out", 1).unwrap(), p.high_watermark());
    // A new producer of the id carries on.
    let again = transactional(&log, "tx");
    again.begin_transaction().unwrap();
    let _ = again
        .send("out", Record::new("again").partition(1))
        .unwrap();
    again.commit_transaction().unwrap();
    assert_eq!(committed(&log, "out"), ["again", "committed"]);
}

#[test]
fn offsets_of_partitions_a_member_lost_are_refused_kip_447() {
    let log = Log::in_memory();
    log.create_topic("in", topic_config().partitions(2))
        .unwrap();
    log.create_topic("out", topic_config()).unwrap();
    let member = |log: &Log| {
        let mut c = log
            .consumer(ConsumerConfig::new("g").enable_auto_commit(false))
            .unwrap();
        c.subscribe(&["in"]).unwrap();
        c
    };
    let mut a = member(&log);
    let _ = a.poll(Duration::ZERO).unwrap();
    assert_eq!(a.assignment().len(), 2, "alone, it has both");
    let mut b = member(&log);
    for _ in 0..20 {
        let _ = a.poll(Duration::ZERO).unwrap();
        let _ = b.poll(Duration::ZERO).unwrap();
    }
    assert_eq!((a.assignment().len(), b.assignment().len()), (1, 1));
    let lost = b.assignment()[0].1;
    let kept = a.assignment()[0].1;
    let p = transactional(&log, "tx");
    p.begin_transaction().unwrap();
    let offset = |partition| [(("in".to_owned(), partition), OffsetAndMetadata::new(0))];
    let meta = a.group_metadata().unwrap();
    assert!(matches!(
        p.send_offsets_to_transaction(&offset(lost), &meta),
        Err(Error::NotAssigned { .. })
    ));
    p.send_offsets_to_transaction(&offset(kept), &meta).unwrap();
    // A consumer outside the membership, while the group has members.
    let outsider = samsa_log::group::ConsumerGroupMetadata {
        group_id: "g".into(),
        member_id: None,
        generation: 0,
    };
    assert!(matches!(
        p.send_offsets_to_transaction(&offset(kept), &outsider),
        Err(Error::GroupNotEmpty { .. })
    ));
    p.commit_transaction().unwrap();
    assert_eq!(
        log.group("g").committed("in", kept).map(|o| o.offset),
        Some(0)
    );
    assert_eq!(log.group("g").committed("in", lost), None);
}

#[test]
fn read_committed_lag_and_latest_stop_at_the_last_stable_offset() {
    on_both(|what, log| {
        log.create_topic("t", topic_config()).unwrap();
        let plain = log.producer();
        let _ = plain.send("t", Record::new("before")).unwrap();
        plain.flush().unwrap();
        let tx = transactional(&log, "tx");
        tx.begin_transaction().unwrap();
        for i in 0..3 {
            let _ = tx.send("t", Record::new(format!("open{i}"))).unwrap();
        }
        tx.flush().unwrap();
        let _ = plain.send("t", Record::new("after")).unwrap();
        plain.flush().unwrap();
        let partition = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(partition.high_watermark(), 5, "{what}");
        assert_eq!(
            partition.last_stable_offset(),
            1,
            "{what}: the open txn starts at 1"
        );

        // A group that committed offset 0: lag to the high watermark for
        // read_uncommitted, to the LSO for read_committed.
        let group = log.group("g");
        let mut c = log
            .consumer(
                ConsumerConfig::new("g")
                    .auto_offset_reset(AutoOffsetReset::Earliest)
                    .enable_auto_commit(false)
                    .isolation_level(IsolationLevel::ReadCommitted),
            )
            .unwrap();
        c.assign(&[("t", 0)]).unwrap();
        c.commit_offsets(&[(("t".to_owned(), 0), OffsetAndMetadata::new(0))])
            .unwrap();
        let lag = |isolation| group.lag_at(isolation).unwrap()[0].clone();
        let uncommitted = lag(IsolationLevel::ReadUncommitted);
        assert_eq!(
            (uncommitted.lag, uncommitted.last_stable_offset),
            (5, 1),
            "{what}"
        );
        assert_eq!(group.lag().unwrap()[0], uncommitted, "{what}");
        assert_eq!(lag(IsolationLevel::ReadCommitted).lag, 1, "{what}");
        assert_eq!(c.current_lag("t", 0).unwrap(), 1, "{what}");

        // Latest, for a read_committed consumer, is the LSO.
        c.seek("t", 0, samsa_log::consumer::Offset::Latest).unwrap();
        assert_eq!(c.position("t", 0).unwrap(), 1, "{what}");
        assert_eq!(c.current_lag("t", 0).unwrap(), 0, "{what}");
        let mut latest = log
            .consumer(ConsumerConfig::default().isolation_level(IsolationLevel::ReadCommitted))
            .unwrap();
        latest.assign(&[("t", 0)]).unwrap();
        assert_eq!(
            latest.position("t", 0).unwrap(),
            1,
            "{what}: reset to latest"
        );

        // A consumer waiting on the open transaction wakes when it commits.
        let waiter = std::thread::spawn(move || {
            let r = c.poll(Duration::from_secs(20)).unwrap();
            let values: Vec<String> = r
                .iter()
                .map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned())
                .collect();
            (values, std::time::Instant::now())
        });
        std::thread::sleep(Duration::from_millis(50));
        let committed_at = std::time::Instant::now();
        tx.commit_transaction().unwrap();
        let (values, woke) = waiter.join().unwrap();
        assert_eq!(values, ["open0", "open1", "open2", "after"], "{what}");
        assert!(
            woke.duration_since(committed_at) < Duration::from_secs(10),
            "{what}: woken by the commit, not the poll's timeout"
        );
        // The marker takes an offset: the end is 6 at both levels now.
        assert_eq!(partition.last_stable_offset(), 6, "{what}");
        assert_eq!(lag(IsolationLevel::ReadCommitted).lag, 6, "{what}");
    });
}

/// Topics as the suite runs them: stored in `SAMSA_TEST_COMPRESSION`'s
/// codec, if set.
fn topic_config() -> TopicConfig {
    TopicConfig::default().compression_type(common::test_compression())
}
