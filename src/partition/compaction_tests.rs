//! Compaction of one partition against a model: random keyed appends and
//! tombstones, clock moves, compaction passes with small key maps (so a
//! pass covers only part of the log), clean reopens and crashes, on disk
//! and in memory. After each step, reading the partition from its start
//! gives records at their original offsets, in order, each the one
//! appended there; every key's latest record is there (a tombstone may be
//! gone once past its retention, and then no older value of its key is
//! left); nothing in the active segment is removed.
//!
//! Cases: 24 by default; `SAMSA_PROPTEST_CASES` for more.

use super::test_support::{cases, Home};
use super::*;
use crate::clock::ManualClock;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Segments of about six 100-byte records, nothing synced on append.
fn config() -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(1024)
        .sync(SyncPolicy::Os)
}

/// What was appended at each offset: key, value (`None`: a tombstone).
type Appended = Vec<(u8, Option<Vec<u8>>)>;

fn value(offset: usize, len: usize) -> Vec<u8> {
    let mut v = (offset as u64).to_le_bytes().to_vec();
    v.resize(len.max(8), offset as u8);
    v
}

fn key(k: u8) -> [u8; 3] {
    [b'k', b'0' + k / 10, b'0' + k % 10]
}

#[derive(Debug, Clone)]
enum Op {
    /// Records as (key, value length or `None` for a tombstone).
    Append(Vec<(u8, Option<usize>)>),
    Advance(i64),
    Compact {
        budget: usize,
        delete_retention_ms: u64,
    },
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec(
            (0u8..12, proptest::option::weighted(0.85, 0usize..150)), 1..6
        ).prop_map(Op::Append),
        2 => (0i64..300).prop_map(Op::Advance),
        3 => (0usize..400, 0u64..400)
            .prop_map(|(budget, delete_retention_ms)| Op::Compact { budget, delete_retention_ms }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn check(p: &Partition, appended: &Appended) {
    assert_eq!(p.high_watermark(), appended.len() as u64);
    let mut seen: Vec<(u64, u8, Option<Vec<u8>>)> = Vec::new();
    let mut at = p.log_start_offset();
    while at < p.high_watermark() {
        let records = p.read(at, 4096).unwrap();
        for r in &records {
            let o = r.offset();
            assert!(o >= at, "offset {o} after {at}: out of order");
            let (k, v) = &appended[o as usize];
            assert_eq!(r.key(), Some(&key(*k)[..]), "key at {o}");
            assert_eq!(r.value(), v.as_deref(), "value at {o}");
            seen.push((o, *k, v.clone()));
            at = o + 1;
        }
        at = at.max(records.next_offset());
    }
    let active = p.segments().unwrap().last().unwrap().base_offset();
    for o in active..appended.len() as u64 {
        assert!(
            seen.iter().any(|s| s.0 == o),
            "offset {o} of the active segment is gone"
        );
    }
    let mut latest: BTreeMap<u8, usize> = BTreeMap::new();
    for (o, (k, _)) in appended.iter().enumerate() {
        latest.insert(*k, o);
    }
    for (k, o) in latest {
        let last_seen = seen.iter().rev().find(|s| s.1 == k);
        match &appended[o].1 {
            Some(_) => assert_eq!(
                last_seen.map(|s| s.0),
                Some(o as u64),
                "key {k}: its latest value (offset {o}) is not the last one read"
            ),
            None => assert!(
                last_seen.is_none_or(|s| s.0 == o as u64),
                "key {k}: deleted at {o}, yet an older value is left: {last_seen:?}"
            ),
        }
    }
}

fn run(home: Home, ops: Vec<Op>) {
    let clock = Arc::new(ManualClock::new(1_000));
    let mut p = home.open(&config(), &clock);
    let mut appended: Appended = Vec::new();
    for op in ops {
        match op {
            Op::Append(recs) => {
                let values: Vec<(u8, Option<Vec<u8>>)> = recs
                    .iter()
                    .enumerate()
                    .map(|(i, (k, len))| (*k, len.map(|l| value(appended.len() + i, l))))
                    .collect();
                let keys: Vec<[u8; 3]> = values.iter().map(|(k, _)| key(*k)).collect();
                let records: Vec<Record<'_>> = values
                    .iter()
                    .zip(&keys)
                    .map(|((_, v), k)| {
                        let r = match v {
                            Some(v) => Record::new(v),
                            None => Record::default(),
                        };
                        r.key(k).timestamp(clock.now_ms())
                    })
                    .collect();
                let info = p.append(&records).unwrap();
                assert_eq!(info.base_offset, appended.len() as u64);
                appended.extend(values);
            }
            Op::Advance(ms) => clock.advance(ms),
            Op::Compact {
                budget,
                delete_retention_ms,
            } => {
                p.compact(CompactionOptions {
                    delete_retention_ms,
                    min_cleanable_dirty_ratio: 0.0,
                    min_compaction_lag_ms: 0,
                    map_budget_bytes: budget,
                })
                .unwrap();
            }
            Op::Reopen => {
                p.close().unwrap();
                p = home.open(&config(), &clock);
            }
            Op::Crash => {
                drop(p);
                p = home.open(&config(), &clock);
            }
        }
        check(&p, &appended);
    }
    // Compaction until nothing is dirty, with a generous map: only the
    // latest record of each key is left in the sealed segments.
    clock.advance(1_000_000);
    let options = CompactionOptions {
        delete_retention_ms: 0,
        min_cleanable_dirty_ratio: 0.0,
        min_compaction_lag_ms: 0,
        map_budget_bytes: 1 << 20,
    };
    p.compact(options).unwrap();
    p.compact(options).unwrap();
    check(&p, &appended);
    p.close().unwrap();
    let p = home.open(&config(), &clock);
    check(&p, &appended);
}

#[test]
fn a_compacted_log_keeps_the_latest_value_of_every_key() {
    let clock = Arc::new(ManualClock::new(1_000));
    let home = Home::disk();
    let p = home.open(&config(), &clock);
    // 40 records over 4 keys, one tombstone: many segments.
    for i in 0..40usize {
        let k = key((i % 4) as u8);
        let v = value(i, 150);
        let r = Record::new(&v).key(&k).timestamp(clock.now_ms());
        p.append(&[if i == 37 {
            Record::default().key(&k)
        } else {
            r
        }])
        .unwrap();
    }
    let before = p.segments().unwrap();
    let done = p
        .compact(CompactionOptions {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionOptions::default()
        })
        .unwrap();
    assert_eq!(
        done.segments as usize,
        before.len() - 1,
        "every sealed segment"
    );
    assert!(done.records_out < done.records_in && done.bytes_out < done.bytes_in);
    let after = p.segments().unwrap();
    assert_eq!(
        after.len(),
        before.len(),
        "segments keep their base offsets"
    );
    let kept: Vec<u64> = {
        let mut v = Vec::new();
        let mut at = 0;
        while at < p.high_watermark() {
            let r = p.read(at, 1 << 16).unwrap();
            v.extend(r.iter().map(|r| r.offset()));
            at = r.next_offset();
        }
        v
    };
    let active = after.last().unwrap().base_offset();
    // In the sealed part only each key's latest record (and the tombstone,
    // within its retention) is left.
    let sealed_kept: Vec<u64> = kept.iter().copied().filter(|&o| o < active).collect();
    assert!(sealed_kept.len() <= 4, "{sealed_kept:?}");
    // Offset lookups still work across the gaps.
    let first = p.read(0, 1).unwrap();
    assert!(first.iter().next().is_some_and(|r| r.offset() > 0));
    let mut appended = Appended::new();
    for i in 0..40usize {
        appended.push(((i % 4) as u8, (i != 37).then(|| value(i, 150))));
    }
    check(&p, &appended);
    // The pass is idempotent, and a second one with nothing dirty is skipped.
    assert_eq!(
        p.compact(CompactionOptions::default()).unwrap(),
        CompactionReport::default()
    );
    p.close().unwrap();
    let p = home.open(&config(), &clock);
    check(&p, &appended);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn compaction_on_disk_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(Home::disk(), ops);
    }

    #[test]
    fn compaction_in_memory_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(Home::memory(), ops);
    }
}

mod power_loss {
    //! Fault: a power cut at every I/O operation of a compaction pass
    //! (cleaned files written and synced, the checkpoint, the renames, the
    //! directory sync), with every way the simulated disk keeps or drops
    //! unsynced writes. Reopening gives, per segment, the old or the
    //! cleaned version, never a mix that loses a key's latest value.

    use super::*;
    use crate::storage::sim::{Damage, SimDisk};

    const DIR: &str = "/p";

    fn open(disk: &SimDisk, clock: &Arc<ManualClock>) -> Result<Partition> {
        let config = PartitionConfig::default()
            .segment_bytes(1024)
            .sync(SyncPolicy::Always);
        let env = PartitionEnv {
            storage: Arc::new(disk.clone()),
            signal: Arc::default(),
            clock: clock.clone(),
            // Small, so that segments are closed and opened again all the
            // time under the model's operations.
            budget: crate::storage::FileBudget::new(2),
            faults: Default::default(),
        };
        Partition::open_alone(&env, Path::new(DIR), config)
    }

    /// Appends (every one durable), then compacts. Returns what was
    /// appended and the operation count before the compaction began.
    fn workload(disk: &SimDisk, appended: &mut Appended) -> Result<u64> {
        let clock = Arc::new(ManualClock::new(1_000));
        let p = open(disk, &clock)?;
        for i in 0..30usize {
            let k = (i % 5) as u8;
            let tomb = i % 11 == 10;
            let v = value(i, 90);
            let kb = key(k);
            let r = if tomb {
                Record::default()
            } else {
                Record::new(&v)
            };
            p.append(&[r.key(&kb).timestamp(clock.now_ms())])?;
            appended.push((k, (!tomb).then_some(v)));
        }
        let before = disk.ops();
        clock.advance(10_000);
        p.compact(CompactionOptions {
            delete_retention_ms: 1_000,
            min_cleanable_dirty_ratio: 0.0,
            min_compaction_lag_ms: 0,
            map_budget_bytes: 1 << 20,
        })?;
        p.close()?;
        Ok(before)
    }

    #[test]
    fn power_loss_at_every_step_of_a_compaction_keeps_every_latest_value() {
        let disk = SimDisk::new();
        let mut appended = Appended::new();
        let start = workload(&disk, &mut appended).expect("a healthy disk");
        let total = disk.ops();
        assert!(total > start + 10, "the compaction did I/O");
        let clock = Arc::new(ManualClock::new(100_000));
        let mut reopened = 0;
        for k in start..=total {
            let disk = SimDisk::new();
            disk.cut_power_at(k);
            let mut seen = Appended::new();
            let _ = workload(&disk, &mut seen);
            for (i, damage) in [Damage::DropAll, Damage::KeepAll, Damage::Seeded(k)]
                .into_iter()
                .enumerate()
            {
                let after = disk.power_loss(damage);
                let p = open(&after, &clock).unwrap_or_else(|e| {
                    panic!(
                        "power cut at {k} of {total}, variant {i}: open: {e}\n{}",
                        disk.trace()
                    )
                });
                // Every append was acknowledged under Always before the
                // compaction began: all of them count.
                check(&p, &appended);
                // And the log still compacts and takes appends.
                p.compact(CompactionOptions {
                    min_cleanable_dirty_ratio: 0.0,
                    ..CompactionOptions::default()
                })
                .unwrap();
                check(&p, &appended);
                p.close().unwrap();
                reopened += 1;
            }
        }
        assert!(reopened > 30);
        eprintln!(
            "compaction power loss: crash_points={} reopens={reopened} violations=0",
            total - start + 1
        );
    }
}

/// Readers read the partition from its start in a loop while another
/// thread appends and compacts: every record read is the one appended at
/// its offset, and nothing but `OffsetOutOfRange` (none expected: the
/// start never moves here) is an error.
#[test]
fn readers_race_compaction_safely() {
    for home in [Home::disk(), Home::memory()] {
        let clock = Arc::new(ManualClock::new(1_000));
        let p = home.open(&config(), &clock);
        let appended: Arc<parking_lot::RwLock<Appended>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let append = |p: &Partition, appended: &parking_lot::RwLock<Appended>, n: usize| {
            for _ in 0..n {
                let mut a = appended.write();
                let o = a.len();
                let k = (o % 7) as u8;
                let v = value(o, 100);
                p.append(&[Record::new(&v).key(&key(k))]).unwrap();
                a.push((k, Some(v)));
            }
        };
        append(&p, &appended, 100);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (p, appended, stop) = (p.clone(), appended.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let mut at = p.log_start_offset();
                        while at < p.high_watermark() {
                            let records = match p.read(at, 2048) {
                                Ok(r) => r,
                                Err(Error::OffsetOutOfRange { .. }) => break,
                                Err(e) => panic!("read at {at}: {e}"),
                            };
                            let a = appended.read();
                            for r in &records {
                                let (k, v) = &a[r.offset() as usize];
                                assert_eq!(r.key(), Some(&key(*k)[..]));
                                assert_eq!(r.value(), v.as_deref());
                            }
                            at = records.next_offset().max(at + 1);
                        }
                    }
                })
            })
            .collect();
        for _ in 0..20 {
            append(&p, &appended, 10);
            p.compact(CompactionOptions {
                min_cleanable_dirty_ratio: 0.0,
                ..CompactionOptions::default()
            })
            .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        check(&p, &appended.read());
    }
}

/// A compact+delete topic: compaction empties the old segments (every
/// record there has a newer one of its key), and retention by time then
/// removes them, as an empty segment holds nothing to keep.
#[test]
fn retention_removes_segments_compaction_emptied() {
    let clock = Arc::new(ManualClock::new(1_000));
    for home in [Home::disk(), Home::memory()] {
        let p = home.open(&config(), &clock);
        for i in 0..40usize {
            let v = value(i, 150);
            p.append(&[Record::new(&v).key(&key(0)).timestamp(clock.now_ms())])
                .unwrap();
        }
        clock.advance(10_000);
        p.append(&[Record::new(b"latest")
            .key(&key(0))
            .timestamp(clock.now_ms())])
            .unwrap();
        let sealed = p.segments().unwrap().len() - 1;
        p.compact(CompactionOptions {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionOptions::default()
        })
        .unwrap();
        let emptied = p
            .segments()
            .unwrap()
            .iter()
            .filter(|s| s.size_bytes() == 0)
            .count();
        assert!(emptied >= sealed - 1, "{emptied} of {sealed} emptied");
        let d = p.enforce_retention(Some(5_000), None).unwrap();
        assert!(d.segments as usize >= emptied, "{d:?}");
        let last = p.read(p.log_start_offset(), 1 << 20).unwrap();
        assert!(last.iter().any(|r| r.value() == Some(&b"latest"[..])));
    }
}

/// The dirty ratio gates a pass, and the compaction lag keeps recent
/// segments out of it.
#[test]
fn dirty_ratio_and_compaction_lag_decide_what_a_pass_touches() {
    let clock = Arc::new(ManualClock::new(1_000));
    let p = Home::memory().open(&config(), &clock);
    let append = |n: usize, k: u8| {
        for i in 0..n {
            let v = value(i, 150);
            p.append(&[Record::new(&v).key(&key(k)).timestamp(clock.now_ms())])
                .unwrap();
        }
    };
    append(30, 0);
    let compact = |ratio: f64, lag_ms: u64| {
        p.compact(CompactionOptions {
            min_cleanable_dirty_ratio: ratio,
            min_compaction_lag_ms: lag_ms,
            ..CompactionOptions::default()
        })
        .unwrap()
    };
    // Everything is dirty (ratio 1.0): a pass at 0.5 runs.
    assert!(compact(0.5, 0).segments > 0);
    // New records over a clean, compacted head (whose one kept record
    // still counts as clean bytes): the dirty share is below 0.99, so
    // nothing runs; at 0.1 it does.
    append(12, 1);
    assert_eq!(compact(0.99, 0), CompactionReport::default());
    assert!(compact(0.1, 0).segments > 0);
    // Segments whose newest record is younger than the lag stay as they
    // are; once the clock passes the lag they are compacted.
    append(30, 2);
    assert_eq!(compact(0.0, 60_000), CompactionReport::default());
    clock.advance(60_001);
    append(1, 3);
    assert!(compact(0.0, 60_000).segments > 0);
}

/// Fault: leftovers of a pass cut short (cleaned files never renamed, one
/// of them garbage) and a segment whose cleaned log was renamed into place
/// but whose index files were not: open removes the leftovers, rebuilds
/// the missing indexes, and every key's latest value reads back; opening
/// twice does the same.
#[test]
fn leftovers_of_an_interrupted_pass_are_resolved_at_open() {
    let clock = Arc::new(ManualClock::new(1_000));
    let home = Home::disk();
    let p = home.open(&config(), &clock);
    let mut appended = Appended::new();
    for i in 0..40usize {
        let k = (i % 3) as u8;
        let v = value(i, 120);
        p.append(&[Record::new(&v).key(&key(k)).timestamp(clock.now_ms())])
            .unwrap();
        appended.push((k, Some(v)));
    }
    p.compact(CompactionOptions {
        min_cleanable_dirty_ratio: 0.0,
        ..CompactionOptions::default()
    })
    .unwrap();
    p.close().unwrap();
    drop(p);
    let Home::Disk(tmp) = &home else {
        unreachable!()
    };
    let dir = tmp.path().join("p");
    let first = dir.join("00000000000000000000");
    std::fs::write(first.with_extension("log.cleaned"), b"garbage").unwrap();
    std::fs::write(first.with_extension("index.cleaned"), [0u8; 24]).unwrap();
    std::fs::write(first.with_extension("timeindex.cleaned"), [9u8; 5]).unwrap();
    std::fs::remove_file(first.with_extension("index")).unwrap();
    std::fs::remove_file(first.with_extension("timeindex")).unwrap();
    for _ in 0..2 {
        let p = home.open(&config(), &clock);
        check(&p, &appended);
        p.close().unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cleaned"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
