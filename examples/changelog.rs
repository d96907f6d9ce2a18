//! A compacted topic as the changelog of a key-value store, rebuilt by
//! replay after a restart: the pattern stream processors (Kafka Streams'
//! state stores) use.
//!
//! Every change of an account's balance is a record keyed by the account;
//! closing an account is a tombstone (the key, no value). The topic's
//! cleanup policy is `Compact`, so maintenance keeps only each account's
//! latest record (and, for `delete_retention_ms`, the tombstones) in the
//! sealed segments: the log stays about as large as the state, not the
//! history, and a restart replays it from the start to rebuild the map.
//!
//! Run with `cargo run --example changelog`.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Log, Record};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const TOPIC: &str = "balances";

/// Opens the log; maintenance (compaction) runs when `maintain` is called.
fn open(dir: &Path) -> samsa_log::Result<Log> {
    Log::builder().maintenance_interval(None).open(dir)
}

/// Replays the changelog from the start into a map: the store's state.
fn replay(log: &Log) -> samsa_log::Result<HashMap<String, i64>> {
    let mut consumer = log.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(10_000),
    )?;
    consumer.assign(&[(TOPIC, 0)])?;
    let end = log.topic(TOPIC)?.partition(0)?.high_watermark();
    let mut state = HashMap::new();
    while consumer.position(TOPIC, 0)? < end {
        for r in &consumer.poll(Duration::from_secs(1))? {
            let account = String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned();
            match r.value() {
                Some(v) => state.insert(account, i64::from_le_bytes(v.try_into().unwrap())),
                None => state.remove(&account),
            };
        }
    }
    Ok(state)
}

fn log_bytes(log: &Log) -> samsa_log::Result<u64> {
    let p = log.topic(TOPIC)?.partition(0)?;
    Ok(p.segments()?.iter().map(|s| s.size_bytes()).sum())
}

fn main() -> samsa_log::Result<()> {
    let tmp = std::env::temp_dir().join(format!("samsa-changelog-{}", std::process::id()));
    let log = open(&tmp)?;
    let topic = log.create_topic(
        TOPIC,
        TopicConfig::default()
            .cleanup_policy(CleanupPolicy::Compact)
            .segment_bytes(64 << 10)
            // Tombstones go once they are an hour old; compact as soon as
            // anything is dirty (the default waits for half the log).
            .delete_retention_ms(60 * 60 * 1000)
            .min_cleanable_dirty_ratio(0.0),
    )?;
    let p = topic.partition(0)?;

    // 100 accounts, 100 updates each, in a random-looking order; every
    // tenth account is closed at the end.
    let mut expected = HashMap::new();
    for round in 0..100i64 {
        for a in 0..100i64 {
            let account = format!("acct-{:03}", (a * 37 + round) % 100);
            let balance = round * 1_000 + a;
            p.append(&[Record::new(&balance.to_le_bytes()).key(&account)])?;
            expected.insert(account, balance);
        }
    }
    for a in (0..100).step_by(10) {
        let account = format!("acct-{a:03}");
        p.append(&[Record::default().key(&account)])?; // a tombstone
        expected.remove(&account);
    }
    let before = log_bytes(&log)?;
    let report = log.maintain()?;
    let after = log_bytes(&log)?;
    println!(
        "{} records, {before} bytes; compaction rewrote {} segments: {after} bytes",
        p.high_watermark(),
        report.segments_compacted
    );
    assert!(after < before / 2, "the history shrank to about the state");
    log.close()?;
    drop(log);

    // A restart: the store is rebuilt from the compacted changelog.
    let log = open(&tmp)?;
    let state = replay(&log)?;
    assert_eq!(state, expected);
    println!(
        "after restart: {} accounts rebuilt by replay, {} closed",
        state.len(),
        100 - state.len()
    );
    log.close()?;
    std::fs::remove_dir_all(&tmp).ok();
    Ok(())
}
