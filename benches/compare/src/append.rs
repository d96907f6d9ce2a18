//! The append workloads (nothing synced): 100-byte records in batches of
//! 1,000; one record per call; 1 KiB records in batches of 1,024 and
//! 64 KiB records in batches of 16 (1 MiB a batch). Each run starts from an
//! empty log in a fresh directory (opened untimed) and times the appends
//! plus whatever hands the last of them to the OS (the floor's final
//! `flush`, the producer's `flush`, the last transaction's commit);
//! dropping the log and deleting the directory are not timed. One record
//! per call, samsa's producer runs twice: idempotent (its default) and
//! transactional, 1,000 sends to a transaction (`transactions.rs`).

use crate::clog::{self, Clog};
use crate::params::Params;
use crate::results::{rotated, Entry, Results};
use crate::samsa_side::{self, Client};
use crate::sqlite::{self, Sqlite};
use crate::transactions::Transactional;
use crate::{check, raw::RawLog, scratch};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::Partition;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// A log being appended to, as every backend offers it.
pub trait Appender {
    /// A batch ready to append: views of the values, made untimed (for
    /// samsa, `Record`s borrowing them; encoding is timed).
    type Batch<'v>;
    /// Makes a batch of `values`.
    fn prepare(values: &[Vec<u8>]) -> Self::Batch<'_>;
    /// Appends a batch with one call (one samsa batch, one commitlog
    /// message set, one SQLite transaction).
    fn append_batch(&mut self, batch: &Self::Batch<'_>);
    /// Appends one record with one call.
    fn append_one(&mut self, value: &[u8]);
    /// Hands everything appended to the OS (no sync).
    fn finish(&mut self);
}

/// One append workload.
pub struct Shape {
    /// Metric name.
    pub key: &'static str,
    /// Title in the table.
    pub title: &'static str,
    /// Bytes of each value.
    pub value_len: usize,
    /// Records per call (1: one record per call).
    pub batch: usize,
    /// Records of one run.
    pub records: u64,
}

impl Shape {
    /// The entries this workload runs: samsa's producer only one record at
    /// a time (the producer batches by itself), idempotent and
    /// transactional in the same repetition (issue 16 compares the two).
    pub fn entries(&self) -> Vec<Entry> {
        let mut v = vec![Entry::Samsa];
        if self.batch == 1 {
            v.push(Entry::SamsaClient);
            v.push(Entry::SamsaTxn);
        }
        v.extend(Entry::PEERS);
        v
    }

    /// Whether the metric is MB/s of payload (else records/s).
    pub fn in_bytes(&self) -> bool {
        self.value_len >= 1024
    }
}

/// The append workloads at `p`'s sizes.
pub fn shapes(p: &Params) -> Vec<Shape> {
    let big = |len: u64| (p.big_value_bytes / len).max(16);
    vec![
        Shape {
            key: "append_100b_batch1000",
            title: "append 100 B records, 1,000 per call",
            value_len: 100,
            batch: 1000,
            records: p.batch_records,
        },
        Shape {
            key: "append_100b_single",
            title: "append 100 B records, one per call",
            value_len: 100,
            batch: 1,
            records: p.single_records,
        },
        Shape {
            key: "append_1kib_batch1024",
            title: "append 1 KiB records, 1,024 per call",
            value_len: 1024,
            batch: 1024,
            records: big(1024),
        },
        Shape {
            key: "append_64kib_batch16",
            title: "append 64 KiB records, 16 per call",
            value_len: 64 << 10,
            batch: 16,
            records: big(64 << 10),
        },
    ]
}

/// Times one run of `shape` on `a`; dropping `a` is not timed.
fn timed<A: Appender>(mut a: A, shape: &Shape, values: &[Vec<u8>]) -> Duration {
    let batch = A::prepare(values);
    let start = Instant::now();
    if shape.batch == 1 {
        for _ in 0..shape.records {
            a.append_one(black_box(&values[0]));
        }
    } else {
        for _ in 0..shape.records / shape.batch as u64 {
            a.append_batch(black_box(&batch));
        }
    }
    a.finish();
    let took = start.elapsed();
    drop(a);
    took
}

/// One run of `shape` on `entry` in the empty directory `dir`.
fn run_one(entry: Entry, shape: &Shape, values: &[Vec<u8>], dir: &Path) -> Duration {
    match entry {
        Entry::Samsa => {
            let p = Partition::open(dir.join("p"), samsa_side::os_config()).expect("open");
            timed(p, shape, values)
        }
        Entry::SamsaClient => {
            let c = Client::open(dir, SyncPolicy::Os, ProducerConfig::default());
            timed(c, shape, values)
        }
        Entry::SamsaTxn => {
            let topic = TopicConfig::default().sync(SyncPolicy::Os);
            let t = Transactional::open(dir, SyncPolicy::Os, topic);
            timed(t, shape, values)
        }
        Entry::Raw => timed(RawLog::create(&dir.join("raw.log")), shape, values),
        Entry::Commitlog => timed(Clog::open(dir, clog::DEFAULT_SEGMENT_BYTES), shape, values),
        Entry::Sqlite => timed(
            Sqlite {
                conn: sqlite::open(dir, false),
            },
            shape,
            values,
        ),
    }
}

/// Runs every append workload `p.reps` times on every backend.
pub fn run(p: &Params, scratch_dir: &Path, results: &mut Results) {
    let shapes = shapes(p);
    for rep in 0..p.reps {
        for shape in &shapes {
            let values = check::batch(0, shape.batch, shape.value_len);
            let records = shape.records / shape.batch as u64 * shape.batch as u64;
            for entry in rotated(&shape.entries(), rep) {
                let dir = scratch::dir_in(scratch_dir);
                let took = run_one(entry, shape, &values, dir.path()).as_secs_f64();
                let rate = if shape.in_bytes() {
                    (records * shape.value_len as u64) as f64 / took / 1e6
                } else {
                    records as f64 / took
                };
                results.push(shape.key, entry, rate);
                eprintln!(
                    "  [{}/{}] {} {}: {:.3} s",
                    rep + 1,
                    p.reps,
                    shape.key,
                    entry.key(),
                    took
                );
            }
        }
    }
}
