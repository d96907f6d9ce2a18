//! Micro-benches of the hot inner pieces (issue 6, "Tuning"): encode,
//! decode, CRC, index lookup and the producer's accumulator, so that a
//! regression in one of them shows in `cargo bench` even when the
//! end-to-end benches hide it behind the kernel.
//!
//! Every bench goes through the public API, with as little else around
//! the piece as the API allows (in-memory partitions, no files, no
//! syscalls); what else each one pays is listed below, so that the pieces
//! can be told apart by subtraction. There is no baseline: compare a run
//! with the one before (criterion prints the change against the last run
//! saved under `target/criterion/`).
//!
//! - `encode/batch1000_100b`, `encode/batch1000_1kib`: one
//!   `Partition::append` of 1,000 records (100-byte or 1 KiB values, no
//!   key) to an in-memory partition: every record encoded into one batch
//!   (varints and copies), the batch's CRC, and one copy of the batch into
//!   the in-memory file (which zero-fills its new bytes, then copies). A
//!   new partition every 4 MiB (untimed) keeps that file small, so the
//!   bench does not time page faults of a growing buffer.
//! - `decode/read_iter_*`: `Partition::read` of one batch of 1,000 records
//!   of 100-byte values from an in-memory partition, then every record
//!   walked (offset, timestamp, key, value, every header): the copy out of
//!   the file, the CRC, the check of every record's framing, and the walk.
//!   `decode/iter_*`: the same walk over the `Records` already read, which
//!   checks nothing again: the walk alone. `*_100b`: values only;
//!   `*_100b_key_header`: with a 16-byte key and one header (`trace-id`,
//!   16 bytes), so key and header parsing count.
//! - `crc/1mib`: crc32fast over 1 MiB: the fastest any CRC check can go
//!   on this CPU.
//!   `crc/batch1000_100b`: the CRC of a real batch of 1,000 100-byte
//!   records, read back from a `.log` file, computed as a read does (bytes
//!   0..13, then 17..end) and checked against the stored one.
//! - `index/read_offset`: `Partition::read(offset, 1)` at pseudo-random
//!   offsets of a sealed segment of 262,144 single-record batches (100-byte
//!   values), every batch but the first with an offset and a time index
//!   entry: as many entries as a full 1 GiB segment has at the default
//!   4 KiB interval (2 MiB and 3 MiB of index). Each read is two floor
//!   searches of the offset index (the batch holding the offset, then a
//!   batch boundary to end at), an 8 KiB window for the batch header, and
//!   the one 163-byte batch copied and checked.
//!   `index/offset_for_timestamp`: `Partition::offset_for_timestamp` at
//!   pseudo-random timestamps of the same segment (one per batch,
//!   increasing): a floor search of the time index, then of the offset
//!   index, the same window, and the batch parsed.
//! - `producer/send_100b`: `Producer::send` of one 100-byte record to a
//!   topic of an in-memory log, with `Acks::None` and a 256 MiB buffer, so
//!   a send never waits for the appender thread (which appends full 1 MiB
//!   batches on the other core): what `send` does on the caller's thread
//!   (the producer's lock, the topic lookup, the partitioner, the clock,
//!   the encoding into the open batch, the `Delivery`). A new log every
//!   500,000 sends; the `flush` before it is dropped is not timed.

mod common;

use common::{touch, value};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::producer::{Acks, ProducerConfig};
use samsa_log::record::{Header, Records};
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Partition, Record};
use std::time::{Duration, Instant};

/// Records in the batch of the encode, decode and CRC benches.
const BATCH_RECORDS: usize = 1000;
/// Bytes appended to one in-memory partition before it is replaced: a file
/// grown to 64 MiB costs more in page faults than the encoding (53 us
/// against 20 us an append, measured).
const ROTATE_BYTES: usize = 4 << 20;
/// Index entries of the index benches' sealed segment: 1 GiB / 4 KiB.
const INDEX_ENTRIES: u64 = 1 << 18;
/// Timestamp of the index segment's first record; each next one is 1 ms
/// later.
const INDEX_FIRST_TIMESTAMP: i64 = 1_700_000_000_000;
/// Sends into one in-memory log before it is replaced.
const SENDS_PER_LOG: u64 = 500_000;

/// In-memory partitions have nothing to sync; `Os` skips the bookkeeping.
fn config() -> PartitionConfig {
    PartitionConfig::default().sync(SyncPolicy::Os)
}

/// Short runs: each piece takes nanoseconds to microseconds.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g
}

fn encode(c: &mut Criterion) {
    let mut g = group(c, "encode");
    for (name, len) in [("batch1000_100b", 100), ("batch1000_1kib", 1024)] {
        let v = value(len);
        let records: Vec<Record<'_>> = (0..BATCH_RECORDS).map(|_| Record::new(&v)).collect();
        let per_partition = (ROTATE_BYTES / (len * BATCH_RECORDS)).max(2) as u64;
        g.throughput(Throughput::Elements(BATCH_RECORDS as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(per_partition);
                    let p = Partition::in_memory(config()).expect("in-memory partition");
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(p.append(&records).expect("append"));
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
    }
    g.finish();
}

/// Everything of every record that the optimizer cannot drop.
fn walk(records: &Records) -> u64 {
    let mut sum = 0u64;
    for r in records {
        sum = sum
            .wrapping_add(r.offset())
            .wrapping_add(r.timestamp() as u64)
            .wrapping_add(touch(r.key().unwrap_or_default()))
            .wrapping_add(touch(r.value().unwrap_or_default()));
        for h in r.headers() {
            sum = sum.wrapping_add(h.key.len() as u64 + touch(h.value.unwrap_or_default()));
        }
    }
    sum
}

fn decode(c: &mut Criterion) {
    let v = value(100);
    let key = value(16);
    let trace = value(16);
    let headers = [Header::new("trace-id", &trace)];
    let mut g = group(c, "decode");
    g.throughput(Throughput::Elements(BATCH_RECORDS as u64));
    for (shape, record) in [
        ("100b", Record::new(&v)),
        (
            "100b_key_header",
            Record::new(&v).key(&key).headers(&headers),
        ),
    ] {
        let p = Partition::in_memory(config()).expect("in-memory partition");
        p.append(&vec![record; BATCH_RECORDS]).expect("append");
        let held = p.read(0, 1 << 20).expect("read");
        assert_eq!(held.len(), BATCH_RECORDS);
        assert_eq!(held.iter().count(), BATCH_RECORDS);
        g.bench_function(format!("read_iter_{shape}"), |b| {
            b.iter(|| black_box(walk(&p.read(0, 1 << 20).expect("read"))))
        });
        g.bench_function(format!("iter_{shape}"), |b| {
            b.iter(|| black_box(walk(black_box(&held))))
        });
    }
    g.finish();
}

/// The bytes of the first batch of a `.log` file of 1,000 records of
/// 100-byte values, as the partition wrote it.
fn written_batch() -> Vec<u8> {
    let dir = common::scratch();
    let path = dir.path().join("p");
    let p = Partition::open(&path, config()).expect("open");
    let v = value(100);
    p.append(&vec![Record::new(&v); BATCH_RECORDS])
        .expect("append");
    p.close().expect("close");
    let log = std::fs::read(path.join(format!("{:020}.log", 0))).expect("read the log file");
    // docs/FORMAT.md: `batch_length` (u32 LE at 8..12) counts the bytes
    // after it.
    let len = u32::from_le_bytes(log[8..12].try_into().expect("4 bytes")) as usize + 12;
    log[..len].to_vec()
}

/// A batch's CRC as stored: of bytes 0..13, then 17..end.
fn batch_crc(batch: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&batch[..13]);
    h.update(&batch[17..]);
    h.finalize()
}

fn crc(c: &mut Criterion) {
    let mut g = group(c, "crc");
    let mib = value(1 << 20);
    g.throughput(Throughput::Bytes(mib.len() as u64));
    g.bench_function("1mib", |b| b.iter(|| crc32fast::hash(black_box(&mib))));
    let batch = written_batch();
    let stored = u32::from_le_bytes(batch[13..17].try_into().expect("4 bytes"));
    assert_eq!(
        batch_crc(&batch),
        stored,
        "the CRC covers what FORMAT.md says"
    );
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("batch1000_100b", |b| {
        b.iter(|| batch_crc(black_box(&batch)))
    });
    g.finish();
}

/// `n` pseudo-random numbers below `bound` (xorshift64*, fixed seed).
fn spread(n: usize, bound: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
        })
        .collect()
}

/// An in-memory partition whose first segment is sealed with
/// `INDEX_ENTRIES` single-record batches, every one but the first with its
/// own offset and time index entry; record `i` has timestamp
/// `INDEX_FIRST_TIMESTAMP + i`.
fn indexed_partition() -> Partition {
    let v = value(100);
    let record = |i: u64| Record::new(&v).timestamp(INDEX_FIRST_TIMESTAMP + i as i64);
    let probe = Partition::in_memory(config()).expect("in-memory partition");
    probe.append(&[record(0)]).expect("append");
    let batch_bytes = probe.segments().expect("segments")[0].size_bytes();
    // An interval below one batch gives every batch after the first an
    // entry; the segment rolls on the batch after the last that fits.
    let p = Partition::in_memory(
        config()
            .segment_bytes(batch_bytes * INDEX_ENTRIES)
            .index_interval_bytes(64),
    )
    .expect("in-memory partition");
    for i in 0..=INDEX_ENTRIES {
        p.append(&[record(i)]).expect("append");
    }
    let segments = p.segments().expect("segments");
    assert!(!segments[0].is_active(), "the first segment is sealed");
    assert_eq!(segments[0].next_offset(), INDEX_ENTRIES);
    p
}

fn index(c: &mut Criterion) {
    let p = indexed_partition();
    let targets = spread(4096, INDEX_ENTRIES);
    for &t in &targets[..64] {
        let r = p.read(t, 1).expect("read");
        assert_eq!(r.iter().map(|r| r.offset()).collect::<Vec<_>>(), [t]);
        let found = p
            .offset_for_timestamp(INDEX_FIRST_TIMESTAMP + t as i64)
            .expect("offset_for_timestamp")
            .expect("a record that recent");
        assert_eq!(found.offset, t);
    }
    let mut g = group(c, "index");
    g.throughput(Throughput::Elements(1));
    g.bench_function("read_offset", |b| {
        let mut i = 0;
        b.iter(|| {
            let t = targets[i % targets.len()];
            i += 1;
            black_box(p.read(t, 1).expect("read").len())
        })
    });
    g.bench_function("offset_for_timestamp", |b| {
        let mut i = 0;
        b.iter(|| {
            let t = targets[i % targets.len()];
            i += 1;
            black_box(
                p.offset_for_timestamp(INDEX_FIRST_TIMESTAMP + t as i64)
                    .expect("offset_for_timestamp"),
            )
        })
    });
    g.finish();
}

fn producer(c: &mut Criterion) {
    let v = value(100);
    let mut g = group(c, "producer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("send_100b", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(SENDS_PER_LOG);
                let log = Log::in_memory();
                log.create_topic("t", TopicConfig::default().sync(SyncPolicy::Os))
                    .expect("topic");
                let producer = log
                    .producer_with(
                        ProducerConfig::default()
                            .acks(Acks::None)
                            .buffer_bytes(256 << 20),
                    )
                    .expect("producer");
                let start = Instant::now();
                for _ in 0..n {
                    let delivery = producer.send("t", Record::new(&v)).expect("send");
                    black_box(&delivery);
                }
                total += start.elapsed();
                producer.flush().expect("flush");
                left -= n;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, encode, decode, crc, index, producer);
criterion_main!(benches);
