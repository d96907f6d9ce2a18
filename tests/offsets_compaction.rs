//! `__consumer_offsets` is compacted like any compacted topic: after its
//! segment rolls (by age, here through a manual clock), maintenance keeps
//! only each group's latest commit per partition and the deleted group's
//! tombstones, and the committed offsets read back the same, also after a
//! restart.

use samsa_log::clock::ManualClock;
use samsa_log::consumer::ConsumerConfig;
use samsa_log::group::OffsetAndMetadata;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::sync::Arc;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Log {
    Log::builder()
        .clock(clock.clone())
        .maintenance_interval(None)
        .open(dir)
        .unwrap()
}

fn commit(log: &Log, group: &str, offset: u64) {
    let mut c = log
        .consumer(ConsumerConfig::new(group).enable_auto_commit(false))
        .unwrap();
    c.assign(&[("t", 0)]).unwrap();
    c.commit_offsets(&[(("t".to_owned(), 0), OffsetAndMetadata::new(offset))])
        .unwrap();
    c.close().unwrap();
}

fn offsets_records(log: &Log) -> u64 {
    let p = log
        .topic("__consumer_offsets")
        .unwrap()
        .partition(0)
        .unwrap();
    let mut n = 0;
    let mut at = p.log_start_offset();
    while at < p.high_watermark() {
        let r = p.read(at, 1 << 20).unwrap();
        n += r.iter().count() as u64;
        at = r.next_offset();
    }
    n
}

#[test]
fn the_offset_store_is_compacted_and_commits_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let log = open(&dir, &clock);
    let t = log.create_topic("t", TopicConfig::default()).unwrap();
    let p = t.partition(0).unwrap();
    for i in 0..100u32 {
        p.append(&[Record::new(&i.to_le_bytes()[..])]).unwrap();
    }
    for offset in 0..=100 {
        commit(&log, "billing", offset);
    }
    commit(&log, "audit", 42);
    log.group("audit").delete().unwrap();
    let before = offsets_records(&log);
    assert!(before >= 103, "{before}");
    // A week later (the offset store's segments roll by age, as every
    // topic's do), one more commit seals the old segment.
    clock.advance(8 * DAY_MS);
    commit(&log, "billing", 100);
    let report = log.maintain().unwrap();
    assert!(report.segments_compacted >= 1, "{report:?}");
    let after = offsets_records(&log);
    assert!(after <= 4, "{before} commit records compacted to {after}");
    assert_eq!(
        log.group("billing").committed("t", 0).map(|o| o.offset),
        Some(100)
    );
    assert!(log.group("audit").committed("t", 0).is_none());
    log.close().unwrap();
    drop(log);
    let log = open(&dir, &clock);
    assert_eq!(
        log.group("billing").committed("t", 0).map(|o| o.offset),
        Some(100)
    );
    assert!(log.group("audit").committed("t", 0).is_none());
    log.close().unwrap();
}
