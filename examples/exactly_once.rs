//! Exactly-once stream processing with transactions: consume `input`,
//! transform each record, produce to `output`, and commit the input
//! offsets in the same transaction (Kafka's consume-transform-produce
//! loop, KIP-98 and KIP-447). Kill it at any moment and run it again on
//! the same directory: a `read_committed` reader of `output` sees each
//! input record transformed exactly once.
//!
//! ```sh
//! cargo run --example exactly_once [DIR]          # a temporary directory if none
//! SAMSA_CRASH_AFTER=3 cargo run --example exactly_once /tmp/eo   # dies mid-way
//! cargo run --example exactly_once /tmp/eo        # finishes: still exactly once
//! ```

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::group::OffsetAndMetadata;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::collections::BTreeSet;
use std::time::Duration;

pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
const GROUP: &str = "uppercaser";
const RECORDS: u32 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().join("log"), Into::into);
    let crash_after: Option<usize> = std::env::var("SAMSA_CRASH_AFTER")
        .ok()
        .and_then(|v| v.parse().ok());
    let log = Log::open(&dir)?;
    if log.topic(INPUT).is_err() {
        create_topics(&log)?;
        append_input(&log, 0..RECORDS)?;
    }

    let transactions = process(&log, 100, crash_after)?;
    println!("{transactions} transactions committed in this run");

    // A read_committed reader of the output sees every input exactly once.
    let seen = read_output(&log)?;
    let distinct: BTreeSet<&String> = seen.iter().map(|(_, v)| v).collect();
    println!(
        "output: {} records, {} distinct, of {RECORDS} inputs",
        seen.len(),
        distinct.len()
    );
    assert_eq!(seen.len(), RECORDS as usize, "each input once");
    assert_eq!(distinct.len(), RECORDS as usize, "no duplicates");
    log.close()?;
    Ok(())
}

/// The input and output topics, two partitions each.
pub fn create_topics(log: &Log) -> samsa_log::Result<()> {
    log.create_topic(INPUT, TopicConfig::default().partitions(2))?;
    log.create_topic(OUTPUT, TopicConfig::default().partitions(2))?;
    Ok(())
}

/// Input record `i`: value `event i`, key `i % 10`.
pub fn append_input(log: &Log, events: std::ops::Range<u32>) -> samsa_log::Result<()> {
    let producer = log.producer();
    for i in events {
        let _ = producer.send(
            INPUT,
            Record::new(format!("event {i}")).key(format!("{}", i % 10)),
        )?;
    }
    producer.close()
}

/// The consume-transform-produce loop: polls at most `max_poll_records`
/// inputs at a time and writes their upper-cased copies together with the
/// input offsets in one transaction, until the input is exhausted. Aborts
/// the process with a transaction open after `crash_after` transactions.
/// Returns how many transactions it committed.
pub fn process(
    log: &Log,
    max_poll_records: usize,
    crash_after: Option<usize>,
) -> samsa_log::Result<usize> {
    let mut consumer = log.consumer(
        ConsumerConfig::new(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .isolation_level(IsolationLevel::ReadCommitted)
            .max_poll_records(max_poll_records),
    )?;
    consumer.subscribe(&[INPUT])?;
    // The same transactional id every run: a restarted instance fences
    // the one before it, and aborts what it left open.
    let producer = log.producer_with(ProducerConfig::default().transactional_id("uppercaser-0"))?;
    producer.init_transactions()?;

    let mut transactions = 0;
    loop {
        let records = consumer.poll(Duration::from_millis(100))?;
        if records.is_empty() {
            break;
        }
        producer.begin_transaction()?;
        for r in &records {
            let value = String::from_utf8_lossy(r.value().unwrap_or_default()).to_uppercase();
            let mut out = Record::new(value);
            if let Some(key) = r.key() {
                out = out.key(key.to_vec());
            }
            let _ = producer.send(OUTPUT, out)?;
        }
        // Where the consumer is now: committed with the outputs, or not
        // at all.
        let mut offsets = Vec::new();
        for (topic, partition) in consumer.assignment() {
            let next = consumer.position(&topic, partition)?;
            offsets.push(((topic, partition), OffsetAndMetadata::new(next)));
        }
        producer.send_offsets_to_transaction(&offsets, &consumer.group_metadata()?)?;
        if crash_after == Some(transactions) {
            // Sent, not committed: the next run aborts it.
            producer.flush()?;
            println!("crashing after {transactions} transactions");
            std::process::abort();
        }
        producer.commit_transaction()?;
        transactions += 1;
    }
    producer.close()?;
    consumer.close()?;
    Ok(transactions)
}

/// What a `read_committed` reader sees in the output, as (key, value),
/// partition 0 first, each partition in offset order.
pub fn read_output(log: &Log) -> samsa_log::Result<Vec<(String, String)>> {
    let mut reader = log.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .isolation_level(IsolationLevel::ReadCommitted),
    )?;
    let mut seen = Vec::new();
    for partition in 0..2 {
        reader.assign(&[(OUTPUT, partition)])?;
        loop {
            let records = reader.poll(Duration::ZERO)?;
            if records.is_empty() {
                break;
            }
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            seen.extend(records.iter().map(|r| (text(r.key()), text(r.value()))));
        }
    }
    Ok(seen)
}
