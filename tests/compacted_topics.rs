//! Compacted topics refuse records without a key (Kafka does too), through
//! every way of appending, on disk and in memory, after growth and after
//! a restart; other topics take them.

mod common;

use common::assert_open_corrupt;
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Error, Log, Record};

fn on_both(f: impl Fn(&str, Log, &dyn Fn(Log) -> Log)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let reopen = |log: Log| {
        log.close().unwrap();
        drop(log);
        Log::open(&dir).unwrap()
    };
    f("disk", Log::open(&dir).unwrap(), &reopen);
    f("memory", Log::in_memory(), &|log| log);
}

fn refused(r: samsa_log::Result<impl std::fmt::Debug>, topic: &str) -> bool {
    matches!(r, Err(Error::KeyRequired { topic: t }) if t == topic)
}

#[test]
fn keyless_records_are_refused_by_compacted_topics_only() {
    on_both(|what, log, reopen| {
        for (name, policy) in [
            ("state", CleanupPolicy::Compact),
            ("both", CleanupPolicy::CompactDelete),
        ] {
            let t = log
                .create_topic(name, TopicConfig::default().cleanup_policy(policy))
                .unwrap();
            let p = t.partition(0).unwrap();
            // The whole append is refused, keyed records included.
            let mixed = [Record::new(b"v").key(b"k"), Record::new(b"no key")];
            assert!(refused(p.append(&mixed), name), "{what} {name}");
            assert_eq!(p.high_watermark(), 0, "{what}: nothing written");
            p.append(&[Record::new(b"v").key(b"k")]).unwrap();
            // A tombstone has a key and no value: accepted.
            p.append(&[Record::default().key(b"k")]).unwrap();
            let producer = log.producer();
            assert!(
                refused(producer.send(name, Record::new(b"x")), name),
                "{what}"
            );
            let d = producer.send(name, Record::new(b"x").key(b"k")).unwrap();
            producer.flush().unwrap();
            assert!(d.wait().is_ok(), "{what}");
            assert_eq!(p.high_watermark(), 3, "{what}");
        }
        // Partitions added later, and the topic after a restart, refuse too.
        log.add_partitions("state", 1).unwrap();
        let log = reopen(log);
        let t = log.topic("state").unwrap();
        for p in t.partitions() {
            assert!(refused(p.append(&[Record::new(b"x")]), "state"), "{what}");
        }
        // A topic with cleanup policy delete takes keyless records.
        let q = log.create_topic("queue", TopicConfig::default()).unwrap();
        q.partition(0)
            .unwrap()
            .append(&[Record::new(b"x")])
            .unwrap();
        let d = log.producer().send("queue", Record::new(b"y")).unwrap();
        assert!(d.wait().is_ok(), "{what}");
        log.close().unwrap();
    });
}

/// Log::maintain compacts by the topic's own settings: nothing while its
/// segments are younger than `min_compaction_lag_ms`, then the old values
/// go; the settings survive a restart.
#[test]
fn maintenance_compacts_by_the_topics_settings() {
    use samsa_log::clock::{Clock, ManualClock};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let open = || {
        Log::builder()
            .clock(clock.clone())
            .maintenance_interval(None)
            .open(&dir)
            .unwrap()
    };
    let log = open();
    let config = TopicConfig::default()
        .cleanup_policy(CleanupPolicy::Compact)
        .segment_bytes(1024)
        .min_cleanable_dirty_ratio(0.0)
        .min_compaction_lag_ms(60 * 60 * 1000);
    let t = log.create_topic("state", config.clone()).unwrap();
    let p = t.partition(0).unwrap();
    let v = [7u8; 150];
    for _ in 0..30 {
        p.append(&[Record::new(&v).key(b"k").timestamp(clock.now_ms())])
            .unwrap();
    }
    assert_eq!(
        log.maintain().unwrap().segments_compacted,
        0,
        "within the lag"
    );
    log.close().unwrap();
    drop(log);
    clock.advance(2 * 60 * 60 * 1000);
    let log = open();
    assert_eq!(log.topic("state").unwrap().config(), config);
    let report = log.maintain().unwrap();
    assert!(report.segments_compacted > 0, "{report:?}");
    assert!(report.compacted_bytes_out < report.compacted_bytes_in);
    log.close().unwrap();
    drop(log);

    // Fault: the cleaner checkpoint damaged (a flipped bit, then cut
    // short): open is Corrupt naming it, never a guess at which segments
    // compaction has rewritten.
    let file = dir.join("topics/state/0/cleaner-offset-checkpoint");
    let pristine = std::fs::read(&file).unwrap();
    let mut flipped = pristine.clone();
    flipped[9] ^= 0x10;
    for (what, bytes) in [
        ("a flipped bit", flipped),
        ("cut short", pristine[..9].to_vec()),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        assert_open_corrupt(&dir, &file, what);
    }
    std::fs::write(&file, &pristine).unwrap();
    open().close().unwrap();
}
