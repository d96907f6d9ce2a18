//! Retention and `delete_records` on one partition, on disk and in memory:
//! examples for each rule, readers racing deletions, and a model test of
//! random appends, clock moves, retention passes, `delete_records`, clean
//! reopens and crashes.
//!
//! Cases of the model test: 24 by default; `SAMSA_PROPTEST_CASES` for more.

use super::test_support::{cases, Home};
use super::*;
use crate::clock::ManualClock;
use proptest::prelude::*;

/// Segments of about six 100-byte records (the smallest allowed).
fn small() -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(1024)
        .sync(SyncPolicy::Os)
}

fn value(offset: u64) -> Vec<u8> {
    let mut v = offset.to_le_bytes().to_vec();
    v.resize(100, offset as u8);
    v
}

/// Appends one record at timestamp `ts`.
fn append(p: &Partition, ts: i64) -> u64 {
    let v = value(p.log_end_offset());
    p.append(&[Record::new(&v).timestamp(ts)])
        .unwrap()
        .base_offset
}

/// Every record from the log start to the high watermark is the one
/// appended at its offset, and below the start is out of range.
fn check_contents(p: &Partition) {
    let start = p.log_start_offset();
    let mut at = start;
    while at < p.high_watermark() {
        let records = p.read(at, 1 << 16).unwrap();
        for r in &records {
            assert_eq!(r.offset(), at, "offsets are dense from the start");
            assert_eq!(r.value(), Some(&value(at)[..]));
            at += 1;
        }
    }
    if start > 0 {
        assert!(matches!(
            p.read(start - 1, 100),
            Err(Error::OffsetOutOfRange { start: s, .. }) if s == start
        ));
    }
}

fn both(test: impl Fn(Home)) {
    test(Home::disk());
    test(Home::memory());
}

#[test]
fn delete_records_moves_the_start_and_survives_restarts() {
    both(|home| {
        let clock = Arc::new(ManualClock::new(1_000));
        let p = home.open(&small(), &clock);
        for _ in 0..20 {
            append(&p, 1_000);
        }
        let segments_before = p.segments().unwrap().len();
        let d = p.delete_records(10).unwrap();
        assert_eq!(d.log_start_offset, 10);
        assert_eq!(p.log_start_offset(), 10);
        assert!(d.segments > 0, "segments wholly below 10 go");
        assert_eq!(
            p.segments().unwrap().len() as u64,
            segments_before as u64 - d.segments
        );
        assert!(p.segments().unwrap()[0].base_offset() <= 10);
        check_contents(&p);
        // Below the start changes nothing; past the high watermark is refused.
        assert_eq!(p.delete_records(5).unwrap().segments, 0);
        assert!(matches!(
            p.delete_records(21),
            Err(Error::OffsetOutOfRange {
                requested: 21,
                start: 10,
                end: 20
            })
        ));
        // Fault: a crash (no close): the start is in the checkpoint.
        drop(p);
        let p = home.open(&small(), &clock);
        assert_eq!(p.log_start_offset(), 10);
        check_contents(&p);
        // Up to the high watermark: everything, the active segment stays.
        p.delete_records(20).unwrap();
        p.close().unwrap();
        let p = home.open(&small(), &clock);
        assert_eq!((p.log_start_offset(), p.high_watermark()), (20, 20));
        assert_eq!(append(&p, 1_000), 20);
        check_contents(&p);
    });
}

#[test]
fn retention_by_time_deletes_old_sealed_segments_only() {
    both(|home| {
        let clock = Arc::new(ManualClock::new(0));
        let p = home.open(&small(), &clock);
        // Timestamps 0..30 in steps of 1 ms, ten or so segments.
        for ts in 0..30 {
            append(&p, ts);
        }
        clock.set(100);
        // Records newer than 100 - 80 = 20 must stay.
        let d = p.enforce_retention(Some(80), None).unwrap();
        assert!(d.segments > 0);
        let start = p.log_start_offset();
        assert!(start <= 20, "a record with timestamp >= 20 was deleted");
        assert_eq!(p.segments().unwrap()[0].base_offset(), start);
        check_contents(&p);
        // Everything old: all sealed segments go, the active one stays.
        clock.set(10_000);
        p.enforce_retention(Some(80), None).unwrap();
        let segs = p.segments().unwrap();
        assert_eq!(segs.len(), 1);
        assert!(segs[0].is_active());
        assert_eq!(p.log_start_offset(), segs[0].base_offset());
        check_contents(&p);
        drop(p);
        let p = home.open(&small(), &clock);
        assert_eq!(p.segments().unwrap().len(), 1);
        check_contents(&p);
    });
}

#[test]
fn retention_by_size_keeps_at_least_the_limit() {
    both(|home| {
        let clock = Arc::new(ManualClock::new(0));
        let p = home.open(&small(), &clock);
        for _ in 0..40 {
            append(&p, 0);
        }
        let total =
            |p: &Partition| -> u64 { p.segments().unwrap().iter().map(|s| s.size_bytes()).sum() };
        let limit = 1_000;
        let d = p.enforce_retention(None, Some(limit)).unwrap();
        assert!(d.segments > 0 && d.bytes > 0);
        let segs = p.segments().unwrap();
        // Kafka's rule: a segment goes only if what stays still holds the
        // limit; so what stays holds it, and without its oldest would not.
        assert!(total(&p) >= limit);
        assert!(total(&p) - segs[0].size_bytes() < limit);
        check_contents(&p);
        assert_eq!(p.enforce_retention(None, Some(limit)).unwrap().segments, 0);
    });
}

/// Readers keep reading from the start while another thread deletes
/// under them: every read returns the right records or
/// `OffsetOutOfRange`, never another error, never wrong data.
#[test]
fn readers_race_deletions_safely() {
    both(|home| {
        let clock = Arc::new(ManualClock::new(0));
        let p = home.open(&small(), &clock);
        for _ in 0..300 {
            append(&p, 0);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (p, stop) = (p.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut out_of_range = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let mut at = p.log_start_offset();
                        loop {
                            match p.read(at, 500) {
                                Ok(records) if records.is_empty() => break,
                                Ok(records) => {
                                    for r in &records {
                                        assert_eq!(r.value(), Some(&value(r.offset())[..]));
                                    }
                                    at = records.next_offset();
                                }
                                Err(Error::OffsetOutOfRange { .. }) => {
                                    out_of_range += 1;
                                    break;
                                }
                                Err(e) => panic!("read at {at}: {e}"),
                            }
                        }
                    }
                    out_of_range
                })
            })
            .collect();
        for before in (10..300).step_by(10) {
            p.delete_records(before).unwrap();
            append(&p, 0);
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        check_contents(&p);
    });
}

#[derive(Debug, Clone)]
enum Op {
    /// Records with these timestamps.
    Append(Vec<i64>),
    Advance(i64),
    Retention {
        ms: Option<u64>,
        bytes: Option<u64>,
    },
    /// Delete below `high watermark * num / 8`.
    DeleteRecords(u8),
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(0i64..1_000, 1..8).prop_map(Op::Append),
        2 => (0i64..500).prop_map(Op::Advance),
        3 => (proptest::option::of(1u64..1_000), proptest::option::of(1u64..3_000))
            .prop_map(|(ms, bytes)| Op::Retention { ms, bytes }),
        2 => (0u8..=8).prop_map(Op::DeleteRecords),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

/// The model: each record's timestamp by offset, and the least start the
/// partition may have (it never moves back).
fn run(home: Home, ops: Vec<Op>) {
    let clock = Arc::new(ManualClock::new(1_000));
    let config = small();
    let mut p = home.open(&config, &clock);
    let mut stamps: Vec<i64> = Vec::new();
    let mut min_start = 0;
    for op in ops {
        match op {
            Op::Append(ts) => {
                for t in ts {
                    assert_eq!(append(&p, t), stamps.len() as u64);
                    stamps.push(t);
                }
            }
            Op::Advance(ms) => clock.advance(ms),
            Op::Retention { ms, bytes } => {
                let before = p.segments().unwrap();
                p.enforce_retention(ms, bytes).unwrap();
                let after = p.segments().unwrap();
                let gone = &before[..before.len() - after.len()];
                let now = clock.now_ms();
                for seg in gone {
                    assert!(!seg.is_active(), "the active segment was deleted");
                    // No record newer than the time limit went by time
                    // alone: the segment was old, or the size rule took it.
                    let newest = stamps[seg.base_offset() as usize..seg.next_offset() as usize]
                        .iter()
                        .max()
                        .copied();
                    let old = ms.is_some_and(|ms| newest.is_some_and(|t| t < now - ms as i64));
                    assert!(
                        old || bytes.is_some(),
                        "segment {} was not due",
                        seg.base_offset()
                    );
                }
                if let Some(limit) = bytes {
                    let total: u64 = after.iter().map(|s| s.size_bytes()).sum();
                    if !gone.is_empty() && ms.is_none() {
                        assert!(total >= limit, "size retention went below its limit");
                    }
                }
            }
            Op::DeleteRecords(num) => {
                let before = p.high_watermark() * u64::from(num) / 8;
                p.delete_records(before).unwrap();
                assert!(p.log_start_offset() >= before);
            }
            Op::Reopen => {
                p.close().unwrap();
                p = home.open(&config, &clock);
            }
            Op::Crash => {
                // Under `Os` a crash of the process loses nothing written.
                drop(p);
                p = home.open(&config, &clock);
            }
        }
        let start = p.log_start_offset();
        assert!(
            start >= min_start,
            "the log start moved back: {start} < {min_start}"
        );
        min_start = start;
        assert_eq!(p.high_watermark(), stamps.len() as u64);
        check_contents(&p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn retention_on_disk_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(Home::disk(), ops);
    }

    #[test]
    fn retention_in_memory_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(Home::memory(), ops);
    }
}
