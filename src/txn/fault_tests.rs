//! Faults during transactions, on the simulated disk. The workload: four
//! transactions, each writing `k-a` to `t`/0 and `k-b` to `t`/1 and
//! committing `in`/0's offset k + 1 for group `tg`.
//!
//! - A power cut at every I/O operation of a fault-free run, with only the
//!   synced data kept, everything kept, and seeded damage: after a reopen
//!   each transaction is all or nothing for `read_committed` readers, its
//!   offsets are committed if and only if its records are visible, every
//!   acknowledged commit is there, and nothing stays open.
//! - An I/O error (EIO or ENOSPC on a write, a failed fsync) at every
//!   write and sync of a fault-free run, once: the call that meets it
//!   returns a typed error and the application handles it as Kafka's
//!   documentation says (a failed commit is called again; any other
//!   failure aborts the transaction, which is then run again). With no
//!   reopen, every transaction ends committed exactly once, the same
//!   invariants hold, and nothing stays open; then after a power cut too.

use crate::error::{Error, Result};
use crate::group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::log::Log;
use crate::partition::SyncPolicy;
use crate::producer::{Compression, ProducerConfig};
use crate::record::Record;
use crate::storage::sim::{Damage, Fault, OpClass, SimDisk};
use crate::topic::TopicConfig;
use crate::Producer;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TXNS: u64 = 4;

fn open(disk: &SimDisk) -> Result<Log> {
    Log::open_with(
        Arc::new(disk.clone()),
        Path::new("/log"),
        Log::builder()
            .sync(SyncPolicy::Always)
            .maintenance_interval(None),
    )
}

/// The topics, the input and an initialised transactional producer
/// compressing with `codec`.
fn setup(disk: &SimDisk, codec: Compression) -> Result<(Log, Producer)> {
    let log = open(disk)?;
    log.create_topic("t", TopicConfig::default().partitions(2))?;
    log.create_topic("in", TopicConfig::default())?;
    log.topic("in")?.partition(0)?.append(&[
        Record::new(b"i0"),
        Record::new(b"i1"),
        Record::new(b"i2"),
        Record::new(b"i3"),
    ])?;
    let producer = log.producer_with(
        ProducerConfig::default()
            .transactional_id("pl")
            .linger(Duration::ZERO)
            .retries(0)
            .compression(codec),
    )?;
    producer.init_transactions()?;
    Ok((log, producer))
}

/// Transaction `k` up to its commit: begun, its two records sent, its
/// offset added.
fn fill(producer: &Producer, k: u64) -> Result<()> {
    producer.begin_transaction()?;
    let _ = producer.send("t", Record::new(format!("{k}-a")).partition(0))?;
    let _ = producer.send("t", Record::new(format!("{k}-b")).partition(1))?;
    let group = ConsumerGroupMetadata {
        group_id: "tg".into(),
        member_id: None,
        generation: 0,
    };
    let offsets = [(("in".to_owned(), 0), OffsetAndMetadata::new(k + 1))];
    producer.send_offsets_to_transaction(&offsets, &group)
}

/// Checks what `log` shows: the transactions visible to `read_committed`
/// readers are 0..n, whole on both partitions; the group's offset is n
/// (none for n = 0); no transaction is open. Returns n.
fn check(log: &Log, ctx: &str) -> u64 {
    let Ok(t) = log.topic("t") else {
        return 0;
    };
    let visible = |p: u32| -> Vec<String> {
        let part = t.partition(p).unwrap();
        let mut out = Vec::new();
        let mut from = part.log_start_offset();
        while from < part.last_stable_offset() {
            let r = part.read_committed(from, 1 << 20).unwrap();
            out.extend(
                r.iter()
                    .map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned()),
            );
            from = r.next_offset();
        }
        out
    };
    let (a, b) = (visible(0), visible(1));
    let n = a.len() as u64;
    let want_a: Vec<String> = (0..n).map(|i| format!("{i}-a")).collect();
    let want_b: Vec<String> = (0..n).map(|i| format!("{i}-b")).collect();
    assert_eq!(a, want_a, "{ctx}: partition 0");
    assert_eq!(b, want_b, "{ctx}: partition 1, all or nothing");
    let committed = log.group("tg").committed("in", 0).map(|o| o.offset);
    assert_eq!(
        committed,
        (n > 0).then_some(n),
        "{ctx}: offsets iff the records"
    );
    // Nothing stays open: read_committed readers are not held.
    for p in 0..2 {
        let part = t.partition(p).unwrap();
        assert_eq!(part.last_stable_offset(), part.high_watermark(), "{ctx}");
    }
    n
}

/// The codecs the suites run with: none, and one this build has.
fn codecs() -> Vec<Compression> {
    let mut codecs = vec![Compression::None];
    match Compression::available()
        .into_iter()
        .find(|c| *c != Compression::None)
    {
        Some(c) => codecs.push(c),
        None => eprintln!("compressed run skipped: no codec feature in this build"),
    }
    codecs
}

#[test]
fn after_a_power_cut_at_every_io_each_transaction_is_all_or_nothing() {
    for codec in codecs() {
        power_cut_at_every_io(codec);
    }
}

fn power_cut_at_every_io(codec: Compression) {
    // Returns the disk and how many transactions were acknowledged.
    let run = |cut: Option<u64>| -> (SimDisk, u64) {
        let disk = SimDisk::new();
        if let Some(k) = cut {
            disk.cut_power_at(k);
        }
        let mut acked = 0;
        let mut work = || -> Result<()> {
            let (log, producer) = setup(&disk, codec)?;
            for k in 0..TXNS {
                fill(&producer, k)?;
                producer.commit_transaction()?;
                acked = k + 1;
            }
            producer.close()?;
            log.close()
        };
        let _ = work();
        (disk, acked)
    };
    let (disk, acked) = run(None);
    assert_eq!(acked, TXNS);
    let steps = disk.ops();
    let mut checked = 0;
    for k in 0..=steps {
        let (disk, acked) = run(Some(k));
        for damage in [Damage::DropAll, Damage::KeepAll, Damage::Seeded(k)] {
            let after = disk.power_loss(damage);
            let ctx = format!("cut at {k} of {steps}, {damage:?}, {acked} acknowledged");
            let log = open(&after).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
            let n = check(&log, &ctx);
            assert!(
                n >= acked,
                "{ctx}: an acknowledged commit was lost ({n} visible)"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Runs transaction `k` to its commit as an application handles errors:
/// a failed commit is called again; any other failure aborts the
/// transaction, and it runs again. Returns the errors met.
fn run_to_commit(producer: &Producer, k: u64, ctx: &str) -> Vec<Error> {
    let mut errors = Vec::new();
    for _ in 0..4 {
        if let Err(e) = fill(producer, k) {
            errors.push(e);
            if let Err(e) = producer.abort_transaction() {
                errors.push(e);
                producer.abort_transaction().unwrap_or_else(|e| {
                    panic!("{ctx}: transaction {k}: a second abort: {e}; before: {errors:?}")
                });
            }
            continue;
        }
        match producer.commit_transaction() {
            Ok(()) => return errors,
            Err(e) => errors.push(e),
        }
        match producer.commit_transaction() {
            Ok(()) => return errors,
            // A send of the transaction failed: only an abort helps.
            Err(e @ Error::TransactionState { .. }) => {
                errors.push(e);
                producer
                    .abort_transaction()
                    .unwrap_or_else(|e| panic!("{ctx}: transaction {k}: abort: {e}"));
            }
            Err(e) => panic!("{ctx}: transaction {k}: a retried commit: {e}; before: {errors:?}"),
        }
    }
    panic!("{ctx}: transaction {k} never committed: {errors:?}");
}

#[test]
fn after_an_io_error_at_any_write_or_sync_transactions_commit_whole_in_process() {
    for codec in codecs() {
        io_error_at_any_write_or_sync(codec);
    }
}

fn io_error_at_any_write_or_sync(codec: Compression) {
    // The operations of a fault-free run, by class.
    let disk = SimDisk::new();
    let (log, producer) = setup(&disk, codec).unwrap();
    let (writes_before, syncs_before) = (disk.ops_of(OpClass::Write), disk.ops_of(OpClass::Sync));
    for k in 0..TXNS {
        fill(&producer, k).unwrap();
        producer.commit_transaction().unwrap();
    }
    let (writes, syncs) = (disk.ops_of(OpClass::Write), disk.ops_of(OpClass::Sync));
    drop((producer, log));

    let mut faults = Vec::new();
    for nth in writes_before..writes {
        for kind in [ErrorKind::Other, ErrorKind::StorageFull] {
            faults.push(Fault {
                on: OpClass::Write,
                nth,
                kind,
                persist: false,
            });
        }
    }
    for nth in syncs_before..syncs {
        faults.push(Fault {
            on: OpClass::Sync,
            nth,
            kind: ErrorKind::Other,
            persist: false,
        });
    }
    let mut met = 0;
    for fault in faults {
        let disk = SimDisk::new();
        let (log, producer) = setup(&disk, codec).unwrap();
        disk.inject(fault);
        let ctx = format!("{fault:?} {codec}");
        let mut errors = Vec::new();
        for k in 0..TXNS {
            errors.extend(run_to_commit(&producer, k, &ctx));
        }
        for e in &errors {
            // Typed, and an I/O error names the operation and the file.
            let ok = match e {
                Error::Io { path, .. } => path.starts_with("/log"),
                Error::TransactionState { .. } => true,
                _ => false,
            };
            assert!(ok, "{ctx}: {e:?}\n{}", disk.trace());
        }
        met += u64::from(!errors.is_empty());
        assert_eq!(check(&log, &ctx), TXNS, "{ctx}: every transaction, once");
        producer.close().unwrap();
        drop(log);
        for damage in [Damage::DropAll, Damage::KeepAll] {
            let ctx = format!("{ctx}, then a power cut, {damage:?}");
            let log = open(&disk.power_loss(damage)).unwrap();
            assert_eq!(check(&log, &ctx), TXNS, "{ctx}");
        }
    }
    assert!(met > 20, "the faults reached the workload {met} times");
}
