//! I/O errors at every operation, on the simulated disk.
//!
//! The workload of [`power_loss_tests`](super::power_loss_tests) runs with
//! one fault injected: EIO or ENOSPC on the k-th write (once, or from then
//! on), or a failed fsync (once, or from then on), for every k. Then:
//! - the operation that hit the fault returns a typed error (`Error::Io`
//!   naming the operation, the file and the cause), never a panic; or, for
//!   a fault on a derived file written on the side (a producer snapshot at
//!   a roll, an index of a topic being deleted), it succeeds and the file
//!   is rebuilt when needed;
//! - a partition whose fsync failed acknowledges nothing while the fault
//!   lasts (it never acknowledges a record it cannot make durable), and
//!   recovers in-process once it clears: the next append is acknowledged,
//!   with no reopen;
//! - with the fault cleared, every append the still-open log acknowledges
//!   is durable;
//! - after a power cut on top (only synced data kept, and seeded damage),
//!   reopening recovers everything acknowledged, as the power-loss suite
//!   checks it, and new appends continue.

use super::power_loss_tests::{a_codec, check, check_continues, env, open, run, tail, Model};
use super::Log;
use crate::error::Error;
use crate::partition::SyncPolicy;
use crate::record::Record;
use crate::storage::sim::{Damage, Fault, OpClass, SimDisk};
use crate::topic::CompressionType;
use std::io::ErrorKind;

/// The partition directory named by the trace's failed fsync, if it was a
/// partition's file.
fn failed_fsync_partition(trace: &str) -> Option<(String, u32)> {
    let line = trace.lines().find(|l| l.ends_with(" FAILED"))?;
    let path = line.strip_suffix(" FAILED")?.split("fsync ").nth(1)?;
    let mut parts = path.strip_prefix("/log/topics/")?.split('/');
    let topic = parts.next()?.to_owned();
    let partition = parts.next()?.parse().ok()?;
    // A segment file of the partition: its data, not an index written at
    // close nor the directory.
    parts
        .next()?
        .ends_with(".log")
        .then_some((topic, partition))
}

/// Appends one record to every partition of every topic; returns those
/// acknowledged as (topic, partition, offset).
fn append_everywhere(log: &Log) -> Vec<(String, u32, u64)> {
    let mut acked = Vec::new();
    // Not the offset store: its records are commits, not free values.
    for name in log.topics().into_iter().filter(|t| !t.starts_with("__")) {
        let Ok(topic) = log.topic(&name) else {
            continue;
        };
        for (n, p) in (0u32..).zip(topic.partitions()) {
            if let Ok(info) = p.append(&[Record::new(b"late")]) {
                acked.push((name.clone(), n, info.base_offset));
            }
        }
    }
    acked
}

/// What one run under a fault showed.
#[derive(Debug, Default)]
struct Seen {
    /// The fault reached the workload as an error.
    hit: bool,
    /// A partition's fsync failed; its later append was refused while the
    /// fault lasted, and acknowledged once it cleared.
    recovered_after_failed_fsync: bool,
    records_checked: u64,
}

fn one_fault(fault: Fault, seeds: u64, compression: CompressionType) -> Seen {
    let disk = SimDisk::new();
    disk.inject(fault);
    let mut m = Model::compressed(compression);
    let ctx = |what: String| {
        format!(
            "{fault:?}: {what}\nlast operations:\n{}",
            tail(&disk.trace(), 20)
        )
    };
    let log = match open(&disk, SyncPolicy::Always) {
        Ok(log) => Some(log),
        Err(Error::Io { .. }) => None,
        Err(e) => panic!("{}", ctx(format!("open failed with an untyped error: {e}"))),
    };
    let mut seen = Seen {
        hit: log.is_none(),
        ..Seen::default()
    };
    let mut late = Vec::new();
    if let Some(log) = &log {
        if let Err(e) = run(log, &mut m) {
            seen.hit = true;
            assert!(
                matches!(e, Error::Io { .. }),
                "{}",
                ctx(format!("not an I/O error: {e}"))
            );
        }
        let mut failed = None;
        if fault.on == OpClass::Sync {
            if let Some((topic, n)) = failed_fsync_partition(&disk.trace()) {
                if let Ok(p) = log.topic(&topic).and_then(|t| t.partition(n)) {
                    if fault.persist {
                        // Nothing is acknowledged while the fault lasts.
                        let again = p.append_records(&[Record::new(b"while failing")]);
                        assert!(
                            matches!(again, Err(Error::Io { .. } | Error::Closed { .. })),
                            "{}",
                            ctx(format!("{topic}/{n} while its fsync fails: {again:?}"))
                        );
                    }
                    failed = Some((topic, n, p));
                }
            }
        }
        disk.heal();
        late = append_everywhere(log);
        if let Some((topic, n, p)) = failed {
            // Once the fault cleared, the late append (or, for the offset
            // store, which takes no free values, a flush) recovered it
            // in-process, unless the failed sync was its close.
            let flushed = p.flush();
            let recovered = late.iter().any(|(t, q, _)| *t == topic && *q == n)
                || (topic.starts_with("__") && flushed.is_ok());
            let closed = matches!(flushed, Err(Error::Closed { .. }));
            assert!(
                recovered || closed,
                "{}",
                ctx(format!(
                    "{topic}/{n} did not recover once the fault cleared: {flushed:?}"
                ))
            );
            seen.recovered_after_failed_fsync = recovered;
        }
        for (topic, n, offset) in &late {
            // The model learns the acknowledged late records of `events`:
            // whatever a failed append tried before them is not there.
            if let Some(tried) = m
                .appended
                .get_mut(*n as usize)
                .filter(|_| topic == "events")
            {
                let o = *offset as usize;
                assert!(
                    o >= m.acked[*n as usize],
                    "{}",
                    ctx(format!("late append at {o}"))
                );
                tried.truncate(o);
                tried.push(b"late".to_vec());
                m.acked[*n as usize] = o + 1;
            }
        }
    }
    disk.heal();
    let variants = [Damage::DropAll, Damage::KeepAll]
        .into_iter()
        .chain((0..seeds).map(|s| Damage::Seeded(fault.nth * 100 + s)));
    for damage in variants {
        let after = disk.power_loss(damage);
        let reopened = open(&after, SyncPolicy::Always)
            .unwrap_or_else(|e| panic!("{}", ctx(format!("{damage:?}: reopen: {e}"))));
        let n = check(&reopened, &m, SyncPolicy::Always)
            .unwrap_or_else(|why| panic!("{}", ctx(format!("{damage:?}: {why}"))));
        seen.records_checked += n as u64;
        for (topic, partition, offset) in &late {
            let p = reopened.topic(topic).and_then(|t| t.partition(*partition));
            let found = p.and_then(|p| p.read(*offset, 1 << 20)).map(|r| {
                r.iter()
                    .next()
                    .is_some_and(|r| r.offset() == *offset && r.value() == Some(&b"late"[..]))
            });
            assert!(
                matches!(found, Ok(true)),
                "{}",
                ctx(format!(
                    "{damage:?}: acknowledged {topic}/{partition}@{offset} lost: {found:?}"
                ))
            );
        }
        reopened.close().unwrap();
        check_continues(&after, SyncPolicy::Always)
            .unwrap_or_else(|why| panic!("{}", ctx(format!("{damage:?}: {why}"))));
    }
    seen
}

fn every_fault(on: OpClass, kinds: &[ErrorKind]) {
    every_fault_with(on, kinds, CompressionType::Producer);
}

fn every_fault_with(on: OpClass, kinds: &[ErrorKind], compression: CompressionType) {
    let disk = SimDisk::new();
    let mut clean = Model::compressed(compression);
    open(&disk, SyncPolicy::Always)
        .and_then(|log| run(&log, &mut clean))
        .expect("the workload runs on a healthy disk");
    let total = disk.ops_of(on);
    let seeds = env("SAMSA_POWER_LOSS_VARIANTS", 4) / 2;
    let (mut runs, mut hits, mut recovered, mut records) = (0, 0, 0, 0);
    for &kind in kinds {
        for persist in [false, true] {
            for nth in 0..total {
                let seen = one_fault(
                    Fault {
                        on,
                        nth,
                        kind,
                        persist,
                    },
                    seeds,
                    compression,
                );
                runs += 1;
                hits += u64::from(seen.hit);
                recovered += u64::from(seen.recovered_after_failed_fsync);
                records += seen.records_checked;
            }
        }
    }
    eprintln!(
        "io_faults {on:?} {kinds:?} {compression:?}: operations={total} fault_runs={runs} \
         surfaced_as_errors={hits} recovered_in_process_after_failed_fsync={recovered} \
         records_checked={records} violations=0"
    );
    // Every fault that persists is seen by the workload.
    assert!(hits >= total, "{hits} of {runs} faults surfaced");
    if on == OpClass::Sync {
        assert!(recovered > 10, "the recovery check ran {recovered} times");
    }
}

#[test]
fn eio_and_enospc_on_every_write_lose_nothing_acknowledged() {
    every_fault(OpClass::Write, &[ErrorKind::Other, ErrorKind::StorageFull]);
}

#[test]
fn a_failed_fsync_is_recovered_in_process_and_loses_nothing_acknowledged() {
    every_fault(OpClass::Sync, &[ErrorKind::Other]);
}

#[test]
fn io_errors_under_compressed_batches_lose_nothing_acknowledged() {
    if let Some(codec) = a_codec() {
        every_fault_with(OpClass::Write, &[ErrorKind::StorageFull], codec);
        every_fault_with(OpClass::Sync, &[ErrorKind::Other], codec);
    }
}

#[test]
fn the_failed_fsync_is_found_in_the_trace() {
    let trace = "#1 write /log/topics/a/0/x.log @0 +5\n#2 fsync /log/topics/a/0/x.log FAILED";
    assert_eq!(failed_fsync_partition(trace), Some(("a".into(), 0)));
    assert_eq!(
        failed_fsync_partition("#2 fsync dir /log/topics/a/0 FAILED"),
        None
    );
}

/// One partition's fsync fails: the log says which and why, the rest of
/// the log goes on, and a maintenance pass recovers it once the cause
/// clears, with no append to it and no reopen.
#[test]
fn a_failed_partition_is_reported_and_recovered_by_maintenance() {
    use crate::partition::PartitionHealth;
    use crate::storage::faulty::{FaultyStorage, Op};
    use crate::storage::MemStorage;
    use crate::topic::TopicConfig;
    use std::sync::Arc;

    let faulty = FaultyStorage::new(Arc::new(MemStorage::default()));
    let log = Log::open_with(
        Arc::new(faulty.clone()),
        std::path::Path::new("/log"),
        Log::builder().maintenance_interval(None),
    )
    .unwrap();
    let t = log
        .create_topic("a", TopicConfig::default().partitions(2))
        .unwrap();
    let (p0, p1) = (t.partition(0).unwrap(), t.partition(1).unwrap());
    p0.append(&[Record::new(b"kept")]).unwrap();
    assert!(log.health().is_healthy());

    faulty.arm_on(
        Op::Sync,
        ErrorKind::StorageFull,
        "a/0/00000000000000000000.log",
    );
    let err = p0.append(&[Record::new(b"lost")]).unwrap_err();
    assert!(err.to_string().contains("fdatasync"), "{err}");
    let health = log.health();
    assert_eq!(health.unhealthy.len(), 1, "{health:?}");
    let u = &health.unhealthy[0];
    assert_eq!((u.topic.as_str(), u.partition), ("a", 0));
    assert!(
        matches!(&u.health, PartitionHealth::Recovering { cause } if cause.contains("fdatasync")),
        "{u:?}"
    );
    // The rest of the log is not held up.
    p1.append(&[Record::new(b"other")]).unwrap();
    // While the cause lasts, maintenance tries and reports why it could not.
    assert!(log.maintain().is_err());
    assert!(!log.health().is_healthy());

    faulty.disarm();
    log.maintain().unwrap();
    assert!(log.health().is_healthy(), "{:?}", log.health());
    assert_eq!(p0.high_watermark(), 1);
    assert_eq!(p0.append(&[Record::new(b"next")]).unwrap().base_offset, 1);
    log.close().unwrap();
}
