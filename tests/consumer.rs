//! Scenario: consuming assigned partitions with `Consumer`, on disk and in
//! memory: poll returns records in order and blocks until an append wakes
//! it, positions and seeks (by offset, time, earliest, latest, shift), the
//! auto_offset_reset policies, pause and resume, fairness across
//! partitions, and bad input.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, Offset};
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Record};
use std::time::{Duration, Instant};

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

fn produce(log: &Log, topic: &str, partition: u32, values: &[&str], ts: i64) {
    let producer = log.producer();
    for (i, v) in values.iter().enumerate() {
        let _d = producer
            .send(
                topic,
                Record::new(v).partition(partition).timestamp(ts + i as i64),
            )
            .unwrap();
    }
    producer.flush().unwrap();
}

fn earliest() -> ConsumerConfig {
    ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest)
}

fn values(records: &samsa_log::consumer::ConsumerRecords) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn poll_returns_records_in_order_and_advances_the_position() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        produce(&log, "t", 0, &["a", "b", "c", "d", "e"], 1000);
        let mut c = log.consumer(earliest().max_poll_records(3)).unwrap();
        c.assign(&[("t", 0)]).unwrap();
        let first = c.poll(Duration::from_millis(10)).unwrap();
        assert_eq!(values(&first), ["a", "b", "c"], "{what}");
        let r = first.iter().next().unwrap();
        assert_eq!(
            (r.topic(), r.partition(), r.offset(), r.timestamp()),
            ("t", 0, 0, 1000)
        );
        assert_eq!(c.position("t", 0).unwrap(), 3);
        assert_eq!(
            values(&c.poll(Duration::from_millis(10)).unwrap()),
            ["d", "e"],
            "{what}"
        );
        let start = Instant::now();
        assert!(c.poll(Duration::from_millis(50)).unwrap().is_empty());
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "{what}: waited the timeout"
        );
    });
}

#[test]
fn poll_wakes_when_a_record_is_appended() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        let mut c = log.consumer(ConsumerConfig::default()).unwrap();
        c.assign(&[("t", 0), ("t", 1)]).unwrap();
        assert!(c.poll(Duration::ZERO).unwrap().is_empty());
        let producer = log.producer();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            producer
                .send("t", Record::new(b"late").partition(1))
                .unwrap()
                .wait()
                .unwrap();
        });
        let start = Instant::now();
        let r = c.poll(Duration::from_secs(30)).unwrap();
        assert_eq!(values(&r), ["late"], "{what}");
        // Woken by the append: far sooner than the 30 s timeout.
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        t.join().unwrap();
    });
}

#[test]
fn seek_by_offset_time_earliest_and_latest() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        produce(&log, "t", 0, &["a", "b", "c", "d"], 100);
        let mut c = log.consumer(earliest()).unwrap();
        c.assign(&[("t", 0)]).unwrap();
        c.seek("t", 0, Offset::At(2)).unwrap();
        assert_eq!(
            values(&c.poll(Duration::ZERO).unwrap()),
            ["c", "d"],
            "{what}"
        );
        c.seek("t", 0, Offset::Earliest).unwrap();
        assert_eq!(c.position("t", 0).unwrap(), 0);
        c.seek("t", 0, Offset::Timestamp(101)).unwrap();
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(
            c.position("t", 0).unwrap(),
            p.offset_for_timestamp(101).unwrap().unwrap().offset,
            "{what}: seek by time matches offset_for_timestamp"
        );
        assert_eq!(values(&c.poll(Duration::ZERO).unwrap()), ["b", "c", "d"]);
        c.seek("t", 0, Offset::Timestamp(10_000)).unwrap();
        assert_eq!(
            c.position("t", 0).unwrap(),
            4,
            "{what}: nothing that recent: the end"
        );
        c.seek("t", 0, Offset::Latest).unwrap();
        assert!(c.poll(Duration::ZERO).unwrap().is_empty());
        // Shifts move from the position, clamped to the log.
        c.seek("t", 0, Offset::ShiftBy(-3)).unwrap();
        assert_eq!(c.position("t", 0).unwrap(), 1, "{what}");
        assert_eq!(values(&c.poll(Duration::ZERO).unwrap()), ["b", "c", "d"]);
        c.seek("t", 0, Offset::ShiftBy(-100)).unwrap();
        assert_eq!(
            c.position("t", 0).unwrap(),
            0,
            "{what}: clamped to the start"
        );
        c.seek("t", 0, Offset::ShiftBy(100)).unwrap();
        assert_eq!(c.position("t", 0).unwrap(), 4, "{what}: clamped to the end");
    });
}

#[test]
fn auto_offset_reset_policies() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        produce(&log, "t", 0, &["old"], 0);
        let mut latest = log.consumer(ConsumerConfig::default()).unwrap();
        latest.assign(&[("t", 0)]).unwrap();
        assert_eq!(
            latest.position("t", 0).unwrap(),
            1,
            "{what}: latest skips what is there"
        );
        let mut first = log.consumer(earliest()).unwrap();
        first.assign(&[("t", 0)]).unwrap();
        assert_eq!(
            values(&first.poll(Duration::ZERO).unwrap()),
            ["old"],
            "{what}"
        );

        let none = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::None);
        let mut strict = log.consumer(none).unwrap();
        strict.assign(&[("t", 0)]).unwrap();
        assert!(
            matches!(strict.poll(Duration::ZERO), Err(Error::NoOffset { .. })),
            "{what}"
        );
        strict.seek("t", 0, Offset::At(7)).unwrap();
        assert!(
            matches!(
                strict.poll(Duration::ZERO),
                Err(Error::OffsetOutOfRange {
                    requested: 7,
                    start: 0,
                    end: 1
                })
            ),
            "{what}"
        );
        // With a reset policy, a position past the end is reset instead.
        first.seek("t", 0, Offset::At(7)).unwrap();
        assert_eq!(
            values(&first.poll(Duration::ZERO).unwrap()),
            ["old"],
            "{what}"
        );
    });
}

#[test]
fn pause_resume_and_fairness_across_partitions() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        let many: Vec<String> = (0..50).map(|i| format!("p0-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        produce(&log, "t", 0, &many, 0);
        produce(&log, "t", 1, &["p1-0"], 0);
        let mut c = log.consumer(earliest().max_poll_records(10)).unwrap();
        c.assign(&[("t", 0), ("t", 1)]).unwrap();
        // Partition 0 alone could fill every poll; turns make 1 come first soon.
        let mut seen_p1_after = None;
        for i in 0..3 {
            let r = c.poll(Duration::ZERO).unwrap();
            assert!(r.len() <= 10);
            if r.iter().any(|r| r.partition() == 1) {
                seen_p1_after = Some(i);
                break;
            }
        }
        assert!(seen_p1_after.is_some(), "{what}: partition 1 starved");

        c.pause(&[("t", 0)]).unwrap();
        assert_eq!(c.paused(), [("t".to_string(), 0)]);
        produce(&log, "t", 1, &["p1-1"], 0);
        let r = c.poll(Duration::ZERO).unwrap();
        assert!(
            r.iter().all(|r| r.partition() == 1),
            "{what}: paused partition returned records"
        );
        let before = c.position("t", 0).unwrap();
        c.resume(&[("t", 0)]).unwrap();
        let r = c.poll(Duration::ZERO).unwrap();
        assert_eq!(
            r.iter().next().unwrap().offset(),
            before,
            "{what}: resumes where it paused"
        );
    });
}

#[test]
fn assignment_changes_and_bad_input() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        produce(&log, "t", 0, &["a", "b"], 0);
        let mut c = log.consumer(earliest().max_poll_records(1)).unwrap();
        c.assign(&[("t", 0)]).unwrap();
        c.poll(Duration::ZERO).unwrap();
        c.assign(&[("t", 1), ("t", 0)]).unwrap();
        assert_eq!(
            c.position("t", 0).unwrap(),
            1,
            "{what}: a kept partition keeps its position"
        );
        assert_eq!(c.assignment().len(), 2);
        assert!(matches!(
            c.assign(&[("nope", 0)]),
            Err(Error::UnknownTopic { .. })
        ));
        assert!(matches!(
            c.assign(&[("t", 5)]),
            Err(Error::UnknownPartition { .. })
        ));
        assert_eq!(
            c.assignment().len(),
            2,
            "{what}: a failed assign changes nothing"
        );
        // A partition that does not exist says how many there are; one
        // that exists but is not this consumer's says that.
        let partitions = log.topic("t").unwrap().partition_count();
        assert!(matches!(
            c.seek("t", 9, Offset::Earliest),
            Err(Error::UnknownPartition { partition: 9, partitions: n, .. }) if n == partitions
        ));
        c.assign(&[("t", 0)]).unwrap();
        assert!(matches!(
            c.seek("t", 1, Offset::Earliest),
            Err(Error::NotAssigned { partition: 1, .. })
        ));
        assert!(matches!(
            c.position("nope", 0),
            Err(Error::UnknownTopic { .. })
        ));
        assert!(matches!(
            log.consumer(ConsumerConfig::default().max_poll_records(0)),
            Err(Error::InvalidConfig(_))
        ));
    });
}
