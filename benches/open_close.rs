//! Opening and closing a log of many partitions (issue 13: 10,000
//! partitions close in under 2 s and reopen in under 1 s).
//!
//! A log of 10 topics of 1,000 partitions, one record each, on the scratch
//! directory's file system (`$SAMSA_BENCH_DIR`, else the temp directory).
//! Each iteration is timed alone (`iter_custom`); what makes the log dirty
//! between them (an append to every partition) is not timed.
//!
//! - `close_10000_partitions/samsa_dirty_always`: every partition was
//!   appended to since the log opened, under `SyncPolicy::Always` (so its
//!   data is synced already): indexes, markers.
//! - `.../samsa_dirty_os`: the same under `SyncPolicy::Os`: each close also
//!   syncs its partition's log (spread over `CLOSE_THREADS` threads).
//! - `.../samsa_clean`: nothing changed since open: nothing to write.
//! - `.../baseline`: the least a clean shutdown of so many partitions can
//!   write: one 33-byte file (a marker) rewritten in place (opened, written
//!   at 0, closed: no truncate, no sync) in each of 10,000 directories.
//! - `open_10000_partitions/samsa`: `Log::open` of the log closed cleanly.
//! - `.../baseline`: the least an open can read: each of the 10,000
//!   directories listed and one 33-byte file in it read.
//!
//! `cargo bench --bench open_close`; the figures are in
//! `docs/PERFORMANCE.md`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use samsa_log::partition::SyncPolicy;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOPICS: u32 = 10;
const PER_TOPIC: u32 = 1_000;

fn open(dir: &Path, sync: SyncPolicy) -> Log {
    Log::builder()
        .sync(sync)
        .maintenance_interval(None)
        .open(dir)
        .expect("open")
}

/// A log of 10,000 partitions, closed cleanly.
fn make(dir: &Path, sync: SyncPolicy) {
    let log = open(dir, sync);
    for t in 0..TOPICS {
        log.create_topic(
            &format!("t{t}"),
            TopicConfig::default().partitions(PER_TOPIC),
        )
        .expect("create");
    }
    dirty(&log);
    log.close().expect("close");
}

/// Appends one record to every partition.
fn dirty(log: &Log) {
    for t in 0..TOPICS {
        for p in log.topic(&format!("t{t}")).expect("topic").partitions() {
            p.append(&[Record::new(b"x")]).expect("append");
        }
    }
}

/// The baseline's 10,000 directories, laid out as a log's partitions,
/// each holding its 33-byte file.
fn raw_dirs(root: &Path) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = (0..TOPICS)
        .flat_map(|t| (0..PER_TOPIC).map(move |p| root.join(format!("t{t}/{p}"))))
        .collect();
    for d in &dirs {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::write(d.join("marker"), [7u8; 33]).expect("write");
    }
    dirs
}

fn close(c: &mut Criterion) {
    let mut g = c.benchmark_group("close_10000_partitions");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, sync) in [
        ("samsa_dirty_always", SyncPolicy::Always),
        ("samsa_dirty_os", SyncPolicy::Os),
    ] {
        let tmp = common::scratch();
        let dir = tmp.path().join("log");
        make(&dir, sync);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let log = open(&dir, sync);
                    dirty(&log);
                    let start = Instant::now();
                    log.close().expect("close");
                    total += start.elapsed();
                }
                total
            })
        });
    }
    let tmp = common::scratch();
    let dir = tmp.path().join("log");
    make(&dir, SyncPolicy::Always);
    g.bench_function("samsa_clean", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let log = open(&dir, SyncPolicy::Always);
                let start = Instant::now();
                log.close().expect("close");
                total += start.elapsed();
            }
            total
        })
    });
    let dirs = raw_dirs(&tmp.path().join("raw"));
    g.bench_function("baseline", |b| {
        b.iter(|| {
            use std::os::unix::fs::FileExt;
            for d in &dirs {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("marker"))
                    .expect("open");
                f.write_all_at(&[7u8; 33], 0).expect("write");
            }
        })
    });
    g.finish();
}

fn reopen(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_10000_partitions");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    let tmp = common::scratch();
    let dir = tmp.path().join("log");
    make(&dir, SyncPolicy::Always);
    g.bench_function("samsa", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let log = open(&dir, SyncPolicy::Always);
                total += start.elapsed();
                log.close().expect("close");
            }
            total
        })
    });
    let dirs = raw_dirs(&tmp.path().join("raw"));
    g.bench_function("baseline", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &dirs {
                n += std::fs::read_dir(d).expect("list").count();
                n += std::fs::read(d.join("marker")).expect("read").len();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, close, reopen);
criterion_main!(benches);
