//! Maintenance benchmarks (issue 7): what a retention pass costs, and what
//! maintenance running beside appends costs them.
//!
//! - `retention_1000_segments`: one `enforce_retention` pass deleting 999
//!   sealed segments (of 1,000; the active one stays) of a partition on
//!   disk, opened from a fresh copy of the same directory each iteration
//!   (copy and open untimed). Baseline: unlinking the same 2,997 files
//!   (log and two indexes each) and syncing the directory, which is the
//!   least any deletion of them costs.
//! - `compaction_10pct_live`: one compaction pass over a closed partition
//!   of 200,000 records of 100 bytes over 20,000 keys, each key written 10
//!   times (10% of the records live), in 1 MiB segments, opened from a
//!   fresh copy each iteration. Throughput is MB/s of the segments read;
//!   the space the pass reclaims is printed once. Baseline: reading the
//!   same segment files whole (the least a pass can cost).
//! - `append_beside_maintenance`: appends of 1,000 records of 100 bytes
//!   (`SyncPolicy::Os`) to a partition with a 64 KiB retention limit, while
//!   another thread runs a retention pass every millisecond
//!   ("with_pass_every_1ms", 300,000 times the default rate) or every
//!   100 ms ("with_pass_every_100ms"), and with nothing else running
//!   ("alone"). The ratio alone/with is what maintenance beside the
//!   appender costs it. `append_beside_compaction` is the same with keyed
//!   records (1,000 keys) and compaction passes.

mod common;

use common::{scratch, value};
use criterion::Throughput;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use samsa_log::partition::{CompactionOptions, PartitionConfig, SyncPolicy};
use samsa_log::{Partition, Record};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Segments in the retention fixture.
const SEGMENTS: u64 = 1_000;

fn config() -> PartitionConfig {
    PartitionConfig::default()
        .sync(SyncPolicy::Os)
        .segment_bytes(4096)
}

/// A closed partition of `SEGMENTS` segments, one 3,000-byte record each
/// (so every append after the first rolls), with timestamps 0.
fn fixture(dir: &Path) {
    let p = Partition::open(dir, config()).unwrap();
    let v = value(3_000);
    for _ in 0..SEGMENTS {
        p.append(&[Record::new(&v).timestamp(0)]).unwrap();
    }
    assert_eq!(p.segments().unwrap().len() as u64, SEGMENTS);
    p.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() != ".lock" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs `pass` `iters` times, each on a partition opened from a fresh copy
/// of `pristine` under `scratch`; only `pass` is timed.
fn on_copies(
    iters: u64,
    scratch: &Path,
    pristine: &Path,
    config: &PartitionConfig,
    pass: impl Fn(&Partition),
) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let dir = scratch.join(format!("copy-{i}"));
        copy_dir(pristine, &dir);
        let p = Partition::open(&dir, config.clone()).unwrap();
        let start = Instant::now();
        pass(&p);
        total += start.elapsed();
        drop(p);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    total
}

fn retention(c: &mut Criterion) {
    let tmp = scratch();
    let pristine = tmp.path().join("pristine");
    fixture(&pristine);
    let mut g = c.benchmark_group("retention_1000_segments");
    g.sample_size(10);
    g.bench_function("samsa", |b| {
        b.iter_custom(|iters| {
            on_copies(iters, tmp.path(), &pristine, &config(), |p| {
                // Everything is older than a millisecond: every sealed
                // segment goes.
                let d = p.enforce_retention(Some(1), None).unwrap();
                assert_eq!(d.segments, SEGMENTS - 1);
            })
        })
    });
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let dir = tmp.path().join(format!("copy-{i}"));
                copy_dir(&pristine, &dir);
                let mut names: Vec<_> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| {
                        let ext = p.extension().and_then(|e| e.to_str());
                        matches!(ext, Some("log" | "index" | "timeindex"))
                    })
                    .collect();
                names.sort();
                // All but the last segment's three files.
                names.truncate(names.len() - 3);
                let start = Instant::now();
                for n in &names {
                    std::fs::remove_file(n).unwrap();
                }
                std::fs::File::open(&dir).unwrap().sync_all().unwrap();
                total += start.elapsed();
                std::fs::remove_dir_all(&dir).unwrap();
            }
            total
        })
    });
    g.finish();
}

fn append_beside_maintenance(c: &mut Criterion) {
    let v = value(100);
    let plain: Vec<Record<'_>> = (0..1000).map(|_| Record::new(&v)).collect();
    beside(c, "append_beside_maintenance", &plain, &|p: &Partition| {
        p.enforce_retention(None, Some(64 << 10)).map(drop)
    });
    // Keyed records over 1,000 keys: the compacted log stays small too.
    let keys: Vec<String> = (0..1000).map(|k| format!("key-{k:04}")).collect();
    let keyed: Vec<Record<'_>> = keys.iter().map(|k| Record::new(&v).key(k)).collect();
    let options = CompactionOptions {
        min_cleanable_dirty_ratio: 0.0,
        ..CompactionOptions::default()
    };
    beside(
        c,
        "append_beside_compaction",
        &keyed,
        &move |p: &Partition| p.compact(options).map(drop),
    );
}

/// Times appends of `records` alone (nothing else running; the
/// partition grows to a few GB, in a temporary directory) and with `pass`
/// run on another thread every 1 ms and every 100 ms.
fn beside(
    c: &mut Criterion,
    group: &str,
    records: &[Record<'_>],
    pass: &(dyn Fn(&Partition) -> samsa_log::Result<()> + Sync),
) {
    let mut g = c.benchmark_group(group);
    for every in [None, Some(1), Some(100)] {
        let with = every.is_some();
        let tmp = scratch();
        let p = Partition::open(tmp.path(), config().segment_bytes(1 << 20)).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let passes = with.then(|| {
                s.spawn(|| {
                    let mut n = 0u64;
                    // At least one pass, however short the run (`--test`).
                    loop {
                        pass(&p).unwrap();
                        n += 1;
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(every.unwrap_or(1)));
                    }
                    n
                })
            });
            let name = every.map_or("alone".to_string(), |ms| format!("with_pass_every_{ms}ms"));
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        black_box(p.append(records).unwrap());
                        total += start.elapsed();
                    }
                    total
                })
            });
            stop.store(true, Ordering::Relaxed);
            if let Some(t) = passes {
                assert!(t.join().unwrap() > 0, "no pass ran beside the appends");
            }
        });
    }
    g.finish();
}

/// Records and keys of the compaction fixture.
const COMPACT_RECORDS: u64 = 200_000;
const COMPACT_KEYS: u64 = 20_000;

fn compaction(c: &mut Criterion) {
    let tmp = scratch();
    let pristine = tmp.path().join("pristine");
    let config = PartitionConfig::default()
        .sync(SyncPolicy::Os)
        .segment_bytes(1 << 20);
    let sealed_bytes = {
        let p = Partition::open(&pristine, config.clone()).unwrap();
        let v = value(100);
        for chunk in 0..COMPACT_RECORDS / 1000 {
            let keys: Vec<String> = (0..1000)
                .map(|i| format!("key-{:06}", (chunk * 1000 + i) * 7919 % COMPACT_KEYS))
                .collect();
            let records: Vec<Record<'_>> = keys.iter().map(|k| Record::new(&v).key(k)).collect();
            p.append(&records).unwrap();
        }
        let segs = p.segments().unwrap();
        p.close().unwrap();
        segs[..segs.len() - 1]
            .iter()
            .map(|s| s.size_bytes())
            .sum::<u64>()
    };
    let options = CompactionOptions {
        min_cleanable_dirty_ratio: 0.0,
        ..CompactionOptions::default()
    };
    {
        let dir = tmp.path().join("once");
        copy_dir(&pristine, &dir);
        let p = Partition::open(&dir, config.clone()).unwrap();
        let done = p.compact(options).unwrap();
        eprintln!(
            "compaction_10pct_live: {} sealed segments, {} -> {} bytes ({:.1}% reclaimed), {} -> {} records",
            done.segments,
            done.bytes_in,
            done.bytes_out,
            100.0 * (1.0 - done.bytes_out as f64 / done.bytes_in as f64),
            done.records_in,
            done.records_out
        );
        drop(p);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let mut g = c.benchmark_group("compaction_10pct_live");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(sealed_bytes));
    g.bench_function("samsa", |b| {
        b.iter_custom(|iters| {
            on_copies(iters, tmp.path(), &pristine, &config, |p| {
                black_box(p.compact(options).unwrap());
            })
        })
    });
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for e in std::fs::read_dir(&pristine).unwrap() {
                    let path = e.unwrap().path();
                    if path.extension().and_then(|e| e.to_str()) == Some("log") {
                        black_box(std::fs::read(&path).unwrap());
                    }
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, retention, compaction, append_beside_maintenance);
criterion_main!(benches);
