//! Scenario: several threads append at once while others read the log as
//! it grows, across segment rolls. Injected "fault": contention and
//! interleaving (writers racing for the writer lock and sharing group
//! commits, readers racing appends, rolls and syncs). Every acknowledged
//! record must appear exactly once at its acknowledged offset, offsets must
//! be dense, each writer's records must keep its send order, and readers
//! must never fail or see past the high watermark.

mod common;

use common::*;
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::{Partition, Record};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const WRITERS: u32 = 4;
const READERS: u64 = 2;
const BATCHES_PER_WRITER: u32 = 400;

/// The value of writer `w`'s record number `seq`: the pair, then
/// deterministic bytes of a length that varies from 0 to ~1 KB.
fn value(w: u32, seq: u32) -> Vec<u8> {
    let len = (mix(u64::from(w) << 32 | u64::from(seq)) % 1000) as usize;
    let mut v = Vec::with_capacity(8 + len);
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&bytes_for(u64::from(w), u64::from(seq), 3, len));
    v
}

/// Writer and sequence number of a value written by [`value`].
fn decode(v: &[u8]) -> (u32, u32) {
    (
        u32::from_le_bytes(v[0..4].try_into().unwrap()),
        u32::from_le_bytes(v[4..8].try_into().unwrap()),
    )
}

fn key(w: u32) -> Vec<u8> {
    format!("writer-{w}").into_bytes()
}

/// One writer: appends batches of 1 to 3 records, returning the offset of
/// every record as acknowledged: `(offset, writer, seq)`.
fn write(p: &Partition, w: u32) -> Vec<(u64, u32, u32)> {
    let k = key(w);
    let mut acked = Vec::new();
    let mut seq = 0u32;
    for b in 0..BATCHES_PER_WRITER {
        let n = 1 + (b + w) % 3;
        let values: Vec<Vec<u8>> = (seq..seq + n).map(|s| value(w, s)).collect();
        let records: Vec<Record<'_>> = values
            .iter()
            .map(|v| Record::new(v).key(&k).timestamp(i64::from(seq)))
            .collect();
        let info = p.append(&records).unwrap();
        assert_eq!(info.last_offset - info.base_offset + 1, u64::from(n));
        for i in 0..n {
            acked.push((info.base_offset + u64::from(i), w, seq + i));
        }
        seq += n;
    }
    acked
}

/// One reader: reads from 0 as the log grows until the writers are done
/// and it has read everything, checking every record on the way. Returns
/// how many records it read.
fn read(p: &Partition, writers_done: &AtomicBool, id: u64) -> u64 {
    let mut rng = Rng::new(id);
    let mut next_seq = [0u32; WRITERS as usize];
    let mut at = 0u64;
    loop {
        let done = writers_done.load(Ordering::Acquire);
        let hw = p.high_watermark();
        if at == hw {
            if done {
                return at;
            }
            std::thread::yield_now();
            continue;
        }
        assert!(at < hw, "reader {id}: at {at} past the HW {hw}");
        let max_bytes = [1, 100, 4096, 1 << 20][rng.range(0, 4) as usize];
        let r = p
            .read(at, max_bytes)
            .unwrap_or_else(|e| panic!("reader {id}: read at {at} (HW {hw}): {e}"));
        let hw_after = p.high_watermark();
        assert!(
            !r.is_empty(),
            "reader {id}: read at {at} below the HW {hw} is empty"
        );
        for rec in &r {
            assert_eq!(rec.offset(), at, "reader {id}: offsets not dense");
            assert!(
                rec.offset() < hw_after,
                "reader {id}: saw offset {} past the HW {hw_after}",
                rec.offset()
            );
            let v = rec.value().expect("every record has a value");
            let (w, seq) = decode(v);
            assert!(w < WRITERS, "reader {id}: unknown writer {w} at {at}");
            assert_eq!(
                seq, next_seq[w as usize],
                "reader {id}: writer {w}'s records out of send order at {at}"
            );
            assert!(
                v == value(w, seq),
                "reader {id}: value of ({w}, {seq}) at {at} differs"
            );
            assert_eq!(rec.key(), Some(&key(w)[..]));
            next_seq[w as usize] += 1;
            at += 1;
        }
        assert_eq!(r.next_offset(), at, "reader {id}");
    }
}

/// Runs the writers and readers against `p`, then checks the final log
/// against every acknowledgement. Returns the acknowledgements.
fn run(p: &Partition, what: &str) -> Vec<(u64, u32, u32)> {
    let acked = Mutex::new(Vec::new());
    let writers_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|id| {
                let writers_done = &writers_done;
                s.spawn(move || read(p, writers_done, id))
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let acked = &acked;
                s.spawn(move || {
                    let mine = write(p, w);
                    acked.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        writers_done.store(true, Ordering::Release);
        let total = p.high_watermark();
        for r in readers {
            assert_eq!(r.join().unwrap(), total, "{what}: a reader stopped early");
        }
    });
    let mut acked = acked.into_inner().unwrap();
    acked.sort_unstable();
    check_final(p, &acked, what);
    acked
}

/// The log holds exactly the acknowledged records, each at its offset.
fn check_final(p: &Partition, acked: &[(u64, u32, u32)], what: &str) {
    let total = acked.len() as u64;
    assert_eq!(
        p.high_watermark(),
        total,
        "{what}: HW vs acknowledged records"
    );
    for (i, &(offset, _, _)) in acked.iter().enumerate() {
        assert_eq!(
            offset, i as u64,
            "{what}: acknowledged offsets are not dense / unique"
        );
    }
    let log = read_all(p).unwrap();
    assert_eq!(log.len(), acked.len(), "{what}");
    for (rec, &(offset, w, seq)) in log.iter().zip(acked) {
        assert_eq!(rec.offset, offset, "{what}");
        assert!(
            rec.value.as_deref() == Some(&value(w, seq)[..]),
            "{what}: value at {offset}"
        );
    }
    let mut per_writer = [0u32; WRITERS as usize];
    for &(_, w, seq) in acked {
        assert_eq!(seq, per_writer[w as usize], "{what}: writer {w}'s order");
        per_writer[w as usize] += 1;
    }
}

fn config(sync: SyncPolicy) -> PartitionConfig {
    // Small segments, so rolls happen under the readers' feet.
    PartitionConfig::default()
        .segment_bytes(64 << 10)
        .index_interval_bytes(1024)
        .sync(sync)
}

fn on_disk(sync: SyncPolicy) {
    let tmp = tempfile::tempdir().unwrap();
    let what = format!("disk, {sync:?}");
    let p = Partition::open(tmp.path(), config(sync)).unwrap();
    let acked = run(&p, &what);
    assert!(p.segments().unwrap().len() > 3, "{what}: rolls happened");
    p.close().unwrap();
    let p = Partition::open(tmp.path(), config(sync)).unwrap();
    check_final(&p, &acked, &format!("{what}, reopened"));
    p.close().unwrap();
}

#[test]
fn concurrent_appends_and_reads_on_disk_sync_always() {
    on_disk(SyncPolicy::Always);
}

#[test]
fn concurrent_appends_and_reads_on_disk_sync_os() {
    on_disk(SyncPolicy::Os);
}

#[test]
fn concurrent_appends_and_reads_on_disk_sync_interval() {
    on_disk(SyncPolicy::Interval { ms: 1, bytes: 8192 });
}

#[test]
fn concurrent_appends_and_reads_in_memory() {
    for sync in [SyncPolicy::Always, SyncPolicy::Os] {
        let p = Partition::in_memory(config(sync)).unwrap();
        run(&p, &format!("memory, {sync:?}"));
        assert!(p.segments().unwrap().len() > 3, "rolls happened");
        p.close().unwrap();
    }
}
