//! Partition benchmarks: samsa against a raw-file floor, in the same
//! criterion group so the ratios can be read from one run.
//!
//! The floor ("baseline") is what a log costs with nothing but the bytes:
//! length-prefixed records (`u32` length, then the value) through a 1 MiB
//! `BufWriter` to a plain file, no CRC, no index; read back through a 1 MiB
//! `BufReader` into one reused buffer; made durable with `sync_data`.
//!
//! Workloads (DESIGN.md, "Performance"):
//!
//! - `append_100b_batch1000`: 100-byte values, 1,000 per `append`.
//! - `append_100b_single`: 100-byte values, one per `append`.
//! - `append_1kib_batch1024` and `append_64kib_batch16`: ~1 MiB batches.
//! - `read_after_reopen`: everything written (100 MB of 100-byte values),
//!   closed, reopened, read back in 1 MiB reads.
//! - `durable_sync_every_10`: a sync every 10 records; p50/p99 of the
//!   per-iteration latency are printed after the group.
//!
//! Appends use `SyncPolicy::Os` unless the workload is about durability.
//! Files are written in a fresh temporary directory (under `$TMPDIR`, or
//! `$SAMSA_BENCH_DIR` if set) that is replaced, outside the timing, every
//! 256 MiB, so a long run never fills the disk. Everything stays in the
//! page cache: these are CPU and syscall costs, not device speed, except
//! for the durable group.

mod common;

use common::{raw_read_all, scratch, touch, value, Latencies, RAW_BUFFER_BYTES};
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::{Partition, Record};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes written to one directory before it is replaced (untimed).
const ROTATE_BYTES: u64 = 256 << 20;
/// Size of each read of the read workload.
const READ_BYTES: usize = 1 << 20;
/// Payload written for the read workload.
const READ_PAYLOAD_BYTES: usize = 100_000_000;

fn os_config() -> PartitionConfig {
    PartitionConfig::default().sync(SyncPolicy::Os)
}

/// The floor: length-prefixed records through a buffered writer.
struct RawLog {
    out: BufWriter<File>,
}

impl RawLog {
    fn create(path: &Path) -> RawLog {
        let file = File::create(path).expect("create raw log");
        RawLog {
            out: BufWriter::with_capacity(RAW_BUFFER_BYTES, file),
        }
    }

    fn append(&mut self, value: &[u8]) {
        self.out
            .write_all(&(value.len() as u32).to_le_bytes())
            .expect("write length");
        self.out.write_all(value).expect("write value");
    }

    fn flush(&mut self) {
        self.out.flush().expect("flush raw log");
    }

    fn sync(&mut self) {
        self.flush();
        self.out.get_ref().sync_data().expect("sync raw log");
    }
}

/// Reads a partition from offset 0 to its high watermark, touching every
/// value; returns (records, checksum).
fn samsa_read_all(p: &Partition) -> (u64, u64) {
    let end = p.high_watermark();
    let (mut at, mut count, mut sum) = (0u64, 0u64, 0u64);
    while at < end {
        let records = p.read(at, READ_BYTES).expect("read");
        for r in &records {
            count += 1;
            sum += touch(r.value().unwrap_or_default());
        }
        at = records.next_offset();
    }
    (count, sum)
}

/// As [`samsa_read_all`], segment by segment through `Segment::read`.
fn segments_read_all(p: &Partition) -> (u64, u64) {
    let (mut count, mut sum) = (0u64, 0u64);
    for s in p.segments().expect("segments") {
        let mut at = s.base_offset();
        while at < s.next_offset() {
            let records = s.read(at, READ_BYTES).expect("segment read");
            for r in &records {
                count += 1;
                sum += touch(r.value().unwrap_or_default());
            }
            at = records.next_offset();
        }
    }
    (count, sum)
}

/// Runs `iters` calls of `step` on a sink opened by `open` in a scratch
/// directory, replacing the directory (untimed) every `per_dir` calls.
/// `finish` (timed) ends each run, for writes still buffered.
fn run_rotating<S>(
    iters: u64,
    per_dir: u64,
    mut open: impl FnMut(&Path) -> S,
    mut step: impl FnMut(&mut S),
    mut finish: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(per_dir.max(1));
        let dir = scratch();
        let mut sink = open(dir.path());
        let start = Instant::now();
        for _ in 0..n {
            step(&mut sink);
        }
        finish(&mut sink);
        total += start.elapsed();
        // Dropped without close: closing would fsync what is about to be
        // deleted anyway.
        drop(sink);
        drop(dir);
        left -= n;
    }
    total
}

/// One append workload: `batch` values of `value_len` bytes per iteration,
/// samsa (one `append` of the batch, or one per record with `single`)
/// against the baseline.
fn append_group(c: &mut Criterion, name: &str, value_len: usize, batch: usize, single: bool) {
    let v = value(value_len);
    let records: Vec<Record<'_>> = (0..batch).map(|_| Record::new(&v)).collect();
    let bytes_per_iter = (value_len * batch) as u64;
    let per_dir = ROTATE_BYTES / bytes_per_iter;

    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    if single {
        g.throughput(Throughput::Elements(batch as u64));
    } else {
        g.throughput(Throughput::Bytes(bytes_per_iter));
    }
    g.bench_function("samsa", |b| {
        b.iter_custom(|iters| {
            run_rotating(
                iters,
                per_dir,
                |dir| Partition::open(dir.join("p"), os_config()).expect("open"),
                |p| {
                    if single {
                        for r in &records {
                            black_box(p.append(std::slice::from_ref(r)).expect("append"));
                        }
                    } else {
                        black_box(p.append(&records).expect("append"));
                    }
                },
                |_| {},
            )
        })
    });
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            run_rotating(
                iters,
                per_dir,
                |dir| RawLog::create(&dir.join("raw.log")),
                |raw| {
                    for _ in 0..batch {
                        raw.append(&v);
                    }
                },
                RawLog::flush,
            )
        })
    });
    g.finish();
}

fn append_100b_batch1000(c: &mut Criterion) {
    append_group(c, "append_100b_batch1000", 100, 1000, false);
}

fn append_100b_single(c: &mut Criterion) {
    append_group(c, "append_100b_single", 100, 1, true);
}

fn append_1kib_batch1024(c: &mut Criterion) {
    append_group(c, "append_1kib_batch1024", 1024, 1024, false);
}

fn append_64kib_batch16(c: &mut Criterion) {
    append_group(c, "append_64kib_batch16", 64 << 10, 16, false);
}

/// Writes `READ_PAYLOAD_BYTES` of 100-byte values to a partition (closed,
/// then reopened) and to a raw file, then reads each back in full per
/// iteration. The partition rolls every 32 MiB, so most reads are of
/// sealed segments, as in a long-lived log.
fn read_after_reopen(c: &mut Criterion) {
    const VALUE: usize = 100;
    const BATCH: usize = 1000;
    let v = value(VALUE);
    let records: Vec<Record<'_>> = (0..BATCH).map(|_| Record::new(&v)).collect();
    let batches = READ_PAYLOAD_BYTES / (VALUE * BATCH);
    let total = (batches * BATCH) as u64;

    let dir = scratch();
    let config = os_config().segment_bytes(32 << 20);
    let path = dir.path().join("p");
    let p = Partition::open(&path, config.clone()).expect("open");
    for _ in 0..batches {
        p.append(&records).expect("append");
    }
    p.close().expect("close");
    drop(p);
    let p = Partition::open(&path, config).expect("reopen");
    assert_eq!(p.high_watermark(), total);

    let raw_path = dir.path().join("raw.log");
    let mut raw = RawLog::create(&raw_path);
    for _ in 0..total {
        raw.append(&v);
    }
    raw.flush();
    drop(raw);

    let mut g = c.benchmark_group("read_after_reopen");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(total * VALUE as u64));
    g.bench_function("samsa", |b| {
        b.iter(|| {
            let (n, sum) = samsa_read_all(&p);
            assert_eq!(n, total);
            black_box(sum)
        })
    });
    // The same records through the public `Segment` handles (what a
    // dump tool or an archiver reads), and every segment verified (each
    // batch's CRC, the indexes against the log).
    g.bench_function("samsa_segments", |b| {
        b.iter(|| {
            let (n, sum) = segments_read_all(&p);
            assert_eq!(n, total);
            black_box(sum)
        })
    });
    g.bench_function("samsa_verify", |b| {
        b.iter(|| {
            let mut records = 0;
            for s in p.segments().expect("segments") {
                let report = s.verify().expect("verify");
                assert!(report.is_ok());
                records += report.records;
            }
            assert_eq!(records, total);
        })
    });
    g.bench_function("baseline", |b| {
        b.iter(|| {
            let (n, sum) = raw_read_all(&raw_path);
            assert_eq!(n, total);
            black_box(sum)
        })
    });
    g.finish();
    p.close().expect("close");
}

/// A sync every 10 records of 100 bytes: samsa `Always` with a batch of 10
/// per append; samsa `Os` with 10 single appends and a `flush`; the
/// baseline writing 10 records, flushing and `sync_data`. One partition or
/// file per benchmark (1 KB per iteration stays small).
fn durable_sync_every_10(c: &mut Criterion) {
    const N: usize = 10;
    let v = value(100);
    let records: Vec<Record<'_>> = (0..N).map(|_| Record::new(&v)).collect();
    let dir = scratch();

    let mut g = c.benchmark_group("durable_sync_every_10");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(N as u64));

    let mut always = Latencies::new("durable_sync_every_10", "samsa_always_batch10");
    let p = Partition::open(
        dir.path().join("always"),
        PartitionConfig::default().sync(SyncPolicy::Always),
    )
    .expect("open");
    g.bench_function(BenchmarkId::new("samsa", "always_batch10"), |b| {
        b.iter_custom(|iters| {
            always.time(iters, || {
                black_box(p.append(&records).expect("append"));
            })
        })
    });
    p.close().expect("close");

    let mut os = Latencies::new("durable_sync_every_10", "samsa_os_single10_flush");
    let p = Partition::open(dir.path().join("os"), os_config()).expect("open");
    g.bench_function(BenchmarkId::new("samsa", "os_single10_flush"), |b| {
        b.iter_custom(|iters| {
            os.time(iters, || {
                for r in &records {
                    black_box(p.append(std::slice::from_ref(r)).expect("append"));
                }
                p.flush().expect("flush");
            })
        })
    });
    p.close().expect("close");

    let mut base = Latencies::new("durable_sync_every_10", "baseline_write10_sync");
    let mut raw = RawLog::create(&dir.path().join("raw.log"));
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            base.time(iters, || {
                for _ in 0..N {
                    raw.append(&v);
                }
                raw.sync();
            })
        })
    });
    g.finish();

    for l in [&mut always, &mut os, &mut base] {
        l.report();
    }
}

/// Prints, once, on-disk bytes over payload bytes for 100,000 records of
/// 100-byte values appended in batches of 1,000 (every file of the closed
/// partition's directory counted). Not a timing.
fn space_overhead(_: &mut Criterion) {
    let v = value(100);
    let records: Vec<Record<'_>> = (0..1000).map(|_| Record::new(&v)).collect();
    let dir = scratch();
    let path = dir.path().join("p");
    let p = Partition::open(&path, os_config()).expect("open");
    for _ in 0..100 {
        p.append(&records).expect("append");
    }
    p.close().expect("close");
    let mut on_disk = 0;
    for entry in std::fs::read_dir(&path).expect("list") {
        on_disk += entry.expect("entry").metadata().expect("stat").len();
    }
    let payload = 100_000 * 100;
    eprintln!(
        "space_overhead: 100,000 x 100-byte values in batches of 1,000: {on_disk} bytes on disk \
         for {payload} bytes of values, ratio {:.4} (baseline: 1.0400)",
        on_disk as f64 / payload as f64
    );
}

criterion_group!(
    benches,
    space_overhead,
    append_100b_batch1000,
    append_100b_single,
    append_1kib_batch1024,
    append_64kib_batch16,
    read_after_reopen,
    durable_sync_every_10
);
criterion_main!(benches);
