//! Maintenance benchmarks (issue 7): what a retention pass costs, and what
//! maintenance running beside appends costs them.
//!
//! - `retention_1000_segments`: one `enforce_retention` pass deleting 999
//!   sealed segments (of 1,000; the active one stays) of a partition on
//!   disk, opened from a fresh copy of the same directory each iteration
//!   (copy and open untimed). Baseline: unlinking the same 2,997 files
//!   (log and two indexes each) and syncing the directory, which is the
//!   least any deletion of them costs.
//! - `append_beside_maintenance`: appends of 1,000 records of 100 bytes
//!   (`SyncPolicy::Os`) to a partition with a 64 KiB retention limit, while
//!   another thread runs a retention pass every millisecond
//!   ("with_pass_every_1ms", 300,000 times the default rate) or every
//!   100 ms ("with_pass_every_100ms"), and with no other thread, the same
//!   passes run between appends, untimed ("alone"). The ratio alone/with is
//!   what maintenance beside the appender costs it.

mod common;

use common::{scratch, value};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use samsa::{Partition, PartitionConfig, Record, SyncPolicy};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

fn retention(c: &mut Criterion) {
    let tmp = scratch();
    let pristine = tmp.path().join("pristine");
    fixture(&pristine);
    let mut g = c.benchmark_group("retention_1000_segments");
    g.sample_size(10);
    g.bench_function("samsa", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let dir = tmp.path().join(format!("copy-{i}"));
                copy_dir(&pristine, &dir);
                let p = Partition::open(&dir, config()).unwrap();
                let start = Instant::now();
                // Everything is older than a millisecond: every sealed
                // segment goes.
                let d = p.enforce_retention(Some(1), None).unwrap();
                total += start.elapsed();
                assert_eq!(d.segments, SEGMENTS - 1);
                drop(p);
                std::fs::remove_dir_all(&dir).unwrap();
            }
            total
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
    let records: Vec<Record<'_>> = (0..1000).map(|_| Record::new(&v)).collect();
    let mut g = c.benchmark_group("append_beside_maintenance");
    for every in [None, Some(1), Some(100)] {
        let with = every.is_some();
        let tmp = scratch();
        let p = Partition::open(tmp.path(), config().segment_bytes(1 << 20)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let passes = with.then(|| {
            let (p, stop) = (p.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    p.enforce_retention(None, Some(64 << 10)).unwrap();
                    n += 1;
                    std::thread::sleep(Duration::from_millis(every.unwrap_or(1)));
                }
                n
            })
        });
        let name = every.map_or("alone".to_string(), |ms| format!("with_pass_every_{ms}ms"));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let start = Instant::now();
                    black_box(p.append(&records).unwrap());
                    total += start.elapsed();
                    if !with && i % 8 == 0 {
                        // Untimed: keeps the partition as small as the
                        // other thread keeps it in the "with" run.
                        p.enforce_retention(None, Some(64 << 10)).unwrap();
                    }
                }
                total
            })
        });
        stop.store(true, Ordering::Relaxed);
        if let Some(t) = passes {
            let n = t.join().unwrap();
            assert!(n > 0, "no retention pass ran beside the appends");
        }
    }
    g.finish();
}

criterion_group!(benches, retention, append_beside_maintenance);
criterion_main!(benches);
