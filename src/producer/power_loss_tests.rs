//! Power loss at every I/O operation under a running `Producer`.
//!
//! A producer (`Acks::All`, idempotence on, its appender and syncer
//! threads) sends keyed records to two partitions that roll segments; the
//! power is cut at operation `k` for every `k` of a fault-free run. The
//! threads make the order of operations vary a little from run to run, so
//! a point names "the k-th operation of this run", and a failing run
//! prints its trace. After each cut, for only-synced, everything-written
//! and seeded damage, the reopened log must hold:
//! - every record whose delivery succeeded, at the offset it reported,
//!   byte-identical;
//! - no record twice (idempotence) and, per partition, records in the
//!   order they were sent;
//! - nothing that was never sent;
//! - room for new appends at the log end.

use crate::error::Result;
use crate::log::{Log, LogBuilder};
use crate::partition::SyncPolicy;
use crate::producer::{Acks, ProducerConfig};
use crate::record::Record;
use crate::storage::sim::{Damage, SimDisk};
use crate::test_support::block_on;
use crate::topic::TopicConfig;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TOPIC: &str = "p";
const RECORDS: usize = 40;

fn open(disk: &SimDisk) -> Result<Log> {
    let builder = LogBuilder::default().sync(SyncPolicy::Always);
    Log::open_with(Arc::new(disk.clone()), Path::new("/log"), builder)
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("record-{i:04}-").into_bytes();
    v.resize(60 + i * 7 % 90, b'a' + (i % 26) as u8);
    v
}

/// Sends every record; returns the deliveries that succeeded as
/// (partition, offset, index of the record).
fn workload(disk: &SimDisk) -> Vec<(u32, u64, usize)> {
    let Ok(log) = open(disk) else {
        return Vec::new();
    };
    let config = TopicConfig::default().partitions(2).segment_bytes(1024);
    if log.create_topic(TOPIC, config).is_err() {
        return Vec::new();
    }
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .acks(Acks::All)
                .linger(Duration::from_micros(200))
                .retries(2)
                .retry_backoff(Duration::from_millis(1)),
        )
        .expect("a valid configuration");
    let values: Vec<Vec<u8>> = (0..RECORDS).map(value).collect();
    let mut deliveries = Vec::new();
    // Odd records go through the async forms (`send_async`, an awaited
    // delivery, `flush_async`), even ones through the blocking calls:
    // the same guarantees under the same power cuts.
    for (i, v) in values.iter().enumerate() {
        let key = [b'k', (i % 5) as u8];
        let record = Record::new(v).key(&key);
        let sent = if i % 2 == 1 {
            block_on(producer.send_async(TOPIC, record))
        } else {
            producer.send(TOPIC, record)
        };
        if let Ok(d) = sent {
            deliveries.push((i, d));
        }
    }
    let _ = block_on(producer.flush_async());
    let acked = deliveries
        .into_iter()
        .filter_map(|(i, d)| {
            let m = if i % 2 == 1 { block_on(d) } else { d.wait() }.ok()?;
            Some((m.partition, m.offset, i))
        })
        .collect();
    let _ = producer.close();
    let _ = log.close();
    acked
}

/// Checks one reopened disk; returns the records compared.
fn check(after: &SimDisk, acked: &[(u32, u64, usize)]) -> std::result::Result<usize, String> {
    let log = open(after).map_err(|e| format!("open: {e}"))?;
    let Ok(topic) = log.topic(TOPIC) else {
        return if acked.is_empty() {
            Ok(0)
        } else {
            Err("the topic of acknowledged records is gone".into())
        };
    };
    let mut seen = BTreeSet::new();
    let mut found = BTreeSet::new();
    for (n, p) in (0u32..).zip(topic.partitions()) {
        let mut last = None;
        let mut at = p.log_start_offset();
        while at < p.log_end_offset() {
            let records = p
                .read(at, 1 << 20)
                .map_err(|e| format!("read {n}@{at}: {e}"))?;
            for r in records.iter() {
                let v = r.value().unwrap_or_default();
                let i = (0..RECORDS)
                    .find(|&i| value(i) == v)
                    .ok_or_else(|| format!("{n}@{}: a record never sent", r.offset()))?;
                if !seen.insert(i) {
                    return Err(format!("record {i} twice"));
                }
                if last.is_some_and(|l| l >= i) {
                    return Err(format!("{n}@{}: record {i} after {last:?}", r.offset()));
                }
                last = Some(i);
                found.insert((n, r.offset(), i));
            }
            at = records.next_offset();
        }
    }
    if let Some(lost) = acked.iter().find(|a| !found.contains(a)) {
        return Err(format!(
            "acknowledged (partition, offset, record) {lost:?} lost"
        ));
    }
    let p = topic.partition(0).map_err(|e| e.to_string())?;
    let end = p.log_end_offset();
    let info = p
        .append(&[Record::new(b"after")])
        .map_err(|e| e.to_string())?;
    if info.base_offset != end {
        return Err(format!(
            "append after recovery at {}, end {end}",
            info.base_offset
        ));
    }
    log.close().map_err(|e| e.to_string())?;
    Ok(seen.len())
}

#[test]
fn power_loss_under_a_running_producer_loses_no_delivered_record() {
    let disk = SimDisk::new();
    let acked = workload(&disk);
    assert_eq!(acked.len(), RECORDS, "a healthy disk delivers everything");
    let total = disk.ops();
    let seeds = std::env::var("SAMSA_POWER_LOSS_VARIANTS").map_or(2, |v| v.parse().unwrap());
    let (mut points, mut variants, mut records) = (0, 0, 0);
    for k in 0..total {
        let disk = SimDisk::new();
        disk.cut_power_at(k);
        let acked = workload(&disk);
        points += 1;
        let damages = [Damage::DropAll, Damage::KeepAll]
            .into_iter()
            .chain((0..seeds).map(|s| Damage::Seeded(k * 1000 + s)));
        for damage in damages {
            match check(&disk.power_loss(damage), &acked) {
                Ok(n) => records += n,
                Err(why) => panic!(
                    "power cut at operation {k} of ~{total}, {damage:?}: {why}\ntrace:\n{}",
                    disk.trace()
                ),
            }
            variants += 1;
        }
    }
    eprintln!(
        "power_loss producer: crash_points={points} damage_variants={variants} \
         records_checked={records} violations=0"
    );
}
