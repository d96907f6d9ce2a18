//! I/O errors at every operation, on the simulated disk.
//!
//! The workload of [`power_loss_tests`](super::power_loss_tests) runs with
//! one fault injected: EIO or ENOSPC on the k-th write (once, or from then
//! on), or a failed fsync (once, or from then on), for every k. Then:
//! - the operation that hit the fault returns a typed error
//!   (`Error::Io`, or `Error::Poisoned` once a partition has seen a failed
//!   fsync), never a panic; or, for a fault on a derived file written on
//!   the side (a producer snapshot at a roll, an index of a topic being
//!   deleted), it succeeds and the file is rebuilt when needed;
//! - a partition whose fsync failed refuses every later append, even after
//!   the disk recovers: it never acknowledges a record it cannot make
//!   durable;
//! - with the fault cleared, an append the still-open log does acknowledge
//!   is durable;
//! - after a power cut on top (only synced data kept, and seeded damage),
//!   reopening recovers everything acknowledged, as the power-loss suite
//!   checks it, and new appends continue.

use super::power_loss_tests::{check, check_continues, env, open, run, tail, Model};
use super::Log;
use crate::error::Error;
use crate::partition::SyncPolicy;
use crate::record::Record;
use crate::storage::sim::{Damage, Fault, OpClass, SimDisk};
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
    /// A partition's fsync failed and its later append was refused.
    refused_after_failed_fsync: bool,
    records_checked: u64,
}

fn one_fault(fault: Fault, seeds: u64) -> Seen {
    let disk = SimDisk::new();
    disk.inject(fault);
    let mut m = Model::default();
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
                matches!(e, Error::Io { .. } | Error::Poisoned { .. }),
                "{}",
                ctx(format!("not an I/O error: {e}"))
            );
        }
        if fault.on == OpClass::Sync {
            if let Some((topic, n)) = failed_fsync_partition(&disk.trace()) {
                disk.heal();
                let p = log.topic(&topic).and_then(|t| t.partition(n));
                if let Ok(p) = p {
                    let again = p.append_records(&[Record::new(b"after a failed fsync")]);
                    // Closed if the failed fsync was the partition's close.
                    assert!(
                        matches!(again, Err(Error::Poisoned { .. } | Error::Closed { .. })),
                        "{}",
                        ctx(format!("{topic}/{n} after its fsync failed: {again:?}"))
                    );
                    seen.refused_after_failed_fsync = true;
                }
            }
        }
        disk.heal();
        late = append_everywhere(log);
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
    let disk = SimDisk::new();
    open(&disk, SyncPolicy::Always)
        .and_then(|log| run(&log, &mut Model::default()))
        .expect("the workload runs on a healthy disk");
    let total = disk.ops_of(on);
    let seeds = env("SAMSA_POWER_LOSS_VARIANTS", 4) / 2;
    let (mut runs, mut hits, mut refused, mut records) = (0, 0, 0, 0);
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
                );
                runs += 1;
                hits += u64::from(seen.hit);
                refused += u64::from(seen.refused_after_failed_fsync);
                records += seen.records_checked;
            }
        }
    }
    eprintln!(
        "io_faults {on:?} {kinds:?}: operations={total} fault_runs={runs} \
         surfaced_as_errors={hits} refused_after_failed_fsync={refused} \
         records_checked={records} violations=0"
    );
    // Every fault that persists is seen by the workload.
    assert!(hits >= total, "{hits} of {runs} faults surfaced");
    if on == OpClass::Sync {
        assert!(refused > 10, "the poisoning check ran {refused} times");
    }
}

#[test]
fn eio_and_enospc_on_every_write_lose_nothing_acknowledged() {
    every_fault(OpClass::Write, &[ErrorKind::Other, ErrorKind::StorageFull]);
}

#[test]
fn a_failed_fsync_poisons_and_loses_nothing_acknowledged() {
    every_fault(OpClass::Sync, &[ErrorKind::Other]);
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
