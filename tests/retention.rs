//! Retention through the public API, on disk and in memory: by time with a
//! manual clock, by size, `delete_records`, restarts after each, consumers
//! whose position falls below the log start, lag, and the maintenance
//! thread.

mod common;

use common::assert_open_corrupt;
use samsa_log::clock::{Clock, ManualClock};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Error, Log, Record};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Segments of about six 100-byte records (the smallest allowed), three
/// partitions.
fn topic() -> TopicConfig {
    TopicConfig::default().partitions(3).segment_bytes(1024)
}

/// Opens the log at `dir` (in memory if `None`) with `clock` and no
/// maintenance thread: the tests run `maintain` themselves.
fn open(dir: Option<&Path>, clock: &Arc<ManualClock>) -> Log {
    let b = Log::builder()
        .clock(clock.clone())
        .maintenance_interval(None);
    match dir {
        Some(d) => b.open(d).unwrap(),
        None => b.in_memory().unwrap(),
    }
}

/// Runs `f` on disk (with a restart function that reopens the directory)
/// and in memory (where "restart" keeps the same log).
fn on_both(f: impl Fn(&str, &dyn Fn(Log) -> Log, Log, &Arc<ManualClock>)) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let dir = tmp.path().join("log");
    let reopen = |log: Log| {
        log.close().unwrap();
        drop(log);
        open(Some(&dir), &clock)
    };
    f("disk", &reopen, open(Some(&dir), &clock), &clock);
    let clock = Arc::new(ManualClock::new(0));
    f("memory", &|log| log, open(None, &clock), &clock);
}

fn value(partition: u32, offset: u64) -> Vec<u8> {
    let mut v = format!("p{partition}-o{offset}-").into_bytes();
    v.resize(100, b'.');
    v
}

/// Appends `n` records at the clock's time to every partition of `t`.
fn produce(log: &Log, t: &str, n: u64, clock: &ManualClock) {
    let topic = log.topic(t).unwrap();
    for (i, p) in topic.partitions().into_iter().enumerate() {
        for _ in 0..n {
            let v = value(i as u32, p.log_end_offset());
            // Keyed: compacted topics take only keyed records.
            p.append(&[Record::new(&v).key(b"k").timestamp(clock.now_ms())])
                .unwrap();
        }
    }
}

/// Every partition of `t` holds exactly its records from its log start to
/// its high watermark.
fn check(log: &Log, t: &str) {
    for (i, p) in log.topic(t).unwrap().partitions().into_iter().enumerate() {
        let mut at = p.log_start_offset();
        while at < p.high_watermark() {
            let records = p.read(at, 1 << 16).unwrap();
            for r in &records {
                assert_eq!(r.offset(), at);
                assert_eq!(r.value(), Some(&value(i as u32, at)[..]));
                at += 1;
            }
        }
    }
}

fn starts(log: &Log, t: &str) -> Vec<u64> {
    let topic = log.topic(t).unwrap();
    topic
        .partitions()
        .iter()
        .map(|p| p.log_start_offset())
        .collect()
}

#[test]
fn retention_by_time_follows_the_clock_and_survives_restarts() {
    on_both(|what, reopen, log, clock| {
        log.create_topic("q", topic().retention_ms(Some(60_000)))
            .unwrap();
        clock.set(1_000_000);
        produce(&log, "q", 30, clock);
        clock.advance(120_000);
        produce(&log, "q", 30, clock);
        // The first thirty records of each partition are two minutes old,
        // past the one-minute retention; the last thirty are new.
        let report = log.maintain().unwrap();
        assert!(report.segments_deleted >= 3 * 3, "{what}: {report:?}");
        for s in starts(&log, "q") {
            // Only the segment holding both old and new records stays.
            assert!((20..=30).contains(&s), "{what}: start {s}");
        }
        check(&log, "q");
        let before = starts(&log, "q");
        let log = reopen(log);
        assert_eq!(starts(&log, "q"), before, "{what}: restart");
        check(&log, "q");
        // A later pass with nothing due deletes nothing.
        assert_eq!(log.maintain().unwrap().segments_deleted, 0, "{what}");
        log.close().unwrap();
    });
}

#[test]
fn retention_by_size_is_per_partition() {
    on_both(|what, reopen, log, clock| {
        log.create_topic("q", topic().retention_ms(None).retention_bytes(Some(1_500)))
            .unwrap();
        produce(&log, "q", 60, clock);
        let report = log.maintain().unwrap();
        assert!(report.bytes_deleted > 0, "{what}");
        let log = reopen(log);
        for p in log.topic("q").unwrap().partitions() {
            let segs = p.segments().unwrap();
            let total: u64 = segs.iter().map(|s| s.size_bytes()).sum();
            assert!(total >= 1_500, "{what}: {total}");
            assert!(total - segs[0].size_bytes() < 1_500, "{what}: {total}");
            assert_eq!(p.log_start_offset(), segs[0].base_offset());
        }
        check(&log, "q");
        log.close().unwrap();
    });
}

#[test]
fn compacted_topics_keep_their_records() {
    on_both(|what, _, log, clock| {
        log.create_topic(
            "c",
            topic()
                .retention_ms(Some(1))
                .cleanup_policy(CleanupPolicy::Compact),
        )
        .unwrap();
        produce(&log, "c", 20, clock);
        clock.advance(1_000_000);
        assert_eq!(log.maintain().unwrap().segments_deleted, 0, "{what}");
        assert_eq!(starts(&log, "c"), [0, 0, 0]);
        log.close().unwrap();
    });
}

#[test]
fn delete_records_through_the_log() {
    on_both(|what, reopen, log, clock| {
        log.create_topic("q", topic()).unwrap();
        produce(&log, "q", 10, clock);
        let d = log.delete_records("q", 1, 7).unwrap();
        assert_eq!(d.log_start_offset, 7, "{what}");
        assert_eq!(starts(&log, "q"), [0, 7, 0]);
        assert!(matches!(
            log.delete_records("q", 1, 11),
            Err(Error::OffsetOutOfRange {
                requested: 11,
                start: 7,
                end: 10
            })
        ));
        assert!(matches!(
            log.delete_records("q", 3, 1),
            Err(Error::UnknownPartition { .. })
        ));
        assert!(matches!(
            log.delete_records("__consumer_offsets", 0, 0),
            Err(Error::InvalidTopicName { .. })
        ));
        let log = reopen(log);
        assert_eq!(starts(&log, "q"), [0, 7, 0], "{what}: restart");
        check(&log, "q");
        log.close().unwrap();
    });
}

#[test]
fn consumers_below_the_log_start_follow_auto_offset_reset() {
    on_both(|what, _, log, clock| {
        log.create_topic("q", topic().partitions(1)).unwrap();
        produce(&log, "q", 10, clock);
        // A group reads 3 records and commits, then the first 6 are deleted.
        let config = ConsumerConfig::new("g")
            .max_poll_records(3)
            .enable_auto_commit(false);
        let mut c = log
            .consumer(config.clone().auto_offset_reset(AutoOffsetReset::Earliest))
            .unwrap();
        c.subscribe(&["q"]).unwrap();
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while got < 3 {
            assert!(Instant::now() < deadline, "{what}: no records to consume");
            got += c.poll(Duration::from_secs(1)).unwrap().len();
        }
        assert_eq!(got, 3, "{what}");
        c.commit().unwrap();
        c.close().unwrap();
        log.delete_records("q", 0, 6).unwrap();
        // Lag counts from the log start, not from the committed offset.
        let lag = log.group("g").lag().unwrap();
        assert_eq!((lag[0].committed, lag[0].lag), (Some(3), 4), "{what}");

        // Earliest: the group resumes at the new start.
        let mut c = log
            .consumer(config.clone().auto_offset_reset(AutoOffsetReset::Earliest))
            .unwrap();
        c.subscribe(&["q"]).unwrap();
        let records = c.poll(Duration::from_secs(5)).unwrap();
        let first = records.iter().next().expect("records after the reset");
        assert_eq!(first.offset(), 6, "{what}");
        c.close().unwrap();

        // Latest: it skips to the end and sees only what comes next.
        let mut c = log
            .consumer(config.clone().auto_offset_reset(AutoOffsetReset::Latest))
            .unwrap();
        c.subscribe(&["q"]).unwrap();
        assert!(
            c.poll(Duration::from_millis(50)).unwrap().is_empty(),
            "{what}"
        );
        produce(&log, "q", 1, clock);
        let records = c.poll(Duration::from_secs(5)).unwrap();
        assert_eq!(
            records.iter().next().map(|r| r.offset()),
            Some(10),
            "{what}"
        );
        c.close().unwrap();

        // None: the position is out of range, and the consumer says so.
        let mut c = log
            .consumer(config.auto_offset_reset(AutoOffsetReset::None))
            .unwrap();
        c.subscribe(&["q"]).unwrap();
        let err = c.poll(Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::OffsetOutOfRange {
                    requested: 3,
                    start: 6,
                    ..
                }
            ),
            "{what}: {err}"
        );
        log.close().unwrap();
    });
}

#[test]
fn the_maintenance_thread_applies_retention_on_its_own() {
    let clock = Arc::new(ManualClock::new(0));
    let log = Log::builder()
        .clock(clock.clone())
        .maintenance_interval(Some(Duration::from_millis(5)))
        .in_memory()
        .unwrap();
    log.create_topic("q", topic().partitions(1).retention_ms(Some(10)))
        .unwrap();
    produce(&log, "q", 20, &clock);
    clock.advance(1_000);
    // Waits for an event, not a duration: the thread's pass moving the start.
    let deadline = Instant::now() + Duration::from_secs(30);
    while starts(&log, "q")[0] == 0 {
        assert!(Instant::now() < deadline, "no maintenance pass in 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    check(&log, "q");
    // Closing stops the thread; maintenance after close is refused.
    log.close().unwrap();
    assert!(matches!(log.maintain(), Err(Error::Closed { .. })));
}

/// Fault: the log start checkpoint damaged on disk (a flipped bit, cut
/// short, grown) while the log is closed: opening is `Corrupt` naming it,
/// never a start guessed low. Removing the file is the documented way
/// out, and accepts that records the checkpoint deleted come back.
#[test]
fn a_damaged_log_start_checkpoint_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let clock = Arc::new(ManualClock::new(0));
    let log = open(Some(&dir), &clock);
    log.create_topic("q", topic().partitions(1)).unwrap();
    produce(&log, "q", 10, &clock);
    log.delete_records("q", 0, 4).unwrap();
    log.close().unwrap();
    drop(log);
    let file = dir.join("topics/q/0/log-start-offset");
    let pristine = std::fs::read(&file).unwrap();
    let mut flipped = pristine.clone();
    flipped[7] ^= 0x04;
    let mut grown = pristine.clone();
    grown.push(0);
    for (what, bytes) in [
        ("a flipped bit", flipped),
        ("cut short", pristine[..10].to_vec()),
        ("grown", grown),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        assert_open_corrupt(&dir, &file, what);
    }
    std::fs::write(&file, &pristine).unwrap();
    let log = open(Some(&dir), &clock);
    assert_eq!(starts(&log, "q"), [4]);
    log.close().unwrap();
    drop(log);
    std::fs::remove_file(&file).unwrap();
    let log = open(Some(&dir), &clock);
    assert_eq!(starts(&log, "q"), [0], "without the checkpoint");
    check(&log, "q");
    log.close().unwrap();
}
