//! Durable appends: every step appends 10 records of 100 bytes and makes
//! them durable before the next, from 1 thread (per-step latency p50 / p99,
//! records/s) and from 4 threads (records/s, and its ratio to 1 thread in
//! the same repetition). Each run starts from an empty log.
//!
//! - samsa (Partition): `SyncPolicy::Always`, one `append` of 10 records
//!   (acknowledged after `fdatasync`; concurrent appenders share one).
//! - samsa (Producer): a topic under `Always`, linger 0; 10 `send`s, then
//!   each `Delivery` waited for.
//! - raw floor: 10 records through the `BufWriter`, `flush`, `fdatasync`.
//!   Threads share the writer behind a mutex and `fdatasync` outside it,
//!   each through its own handle (concurrent syncs may be merged by ext4's
//!   journal, not by the floor).
//! - commitlog: one 10-message append, `fdatasync` of the active segment,
//!   then `flush()` (an `msync` of the index). Threads share the log
//!   behind a mutex; the segment sync runs outside it.
//! - SQLite: one transaction of 10 inserts with `synchronous=FULL` (the WAL
//!   synced at commit). Threads share one connection behind a mutex (a
//!   connection per thread would spend its time in SQLite's busy-wait
//!   sleeps, not in syncs).

use crate::clog::{self, Clog};
use crate::params::Params;
use crate::raw::RawLog;
use crate::results::{rotated, Entry, Results};
use crate::samsa_side::{self, Client, TOPIC};
use crate::{check, scratch, sqlite, stats};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::{Partition, Record};
use std::path::Path;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Records per sync.
pub const PER_SYNC: usize = 10;
const VALUE: usize = 100;
/// Thread counts compared.
pub const THREADS: [usize; 2] = [1, 4];

/// Metric names.
pub const P50: &str = "durable_1t_p50";
/// p99 latency of one thread's steps.
pub const P99: &str = "durable_1t_p99";
/// records/s of one thread.
pub const RATE_1: &str = "durable_1t_rate";
/// records/s of four threads.
pub const RATE_4: &str = "durable_4t_rate";
/// four threads' records/s over one thread's, same repetition.
pub const SCALING: &str = "durable_4t_scaling";

/// Runs `threads` threads of `steps` steps each, every thread making its
/// step with `make` once started; returns the wall time (all threads
/// released together) and every step's latency.
fn run_threads<F: FnMut()>(
    threads: usize,
    steps: usize,
    make: impl Fn() -> F + Sync,
) -> (Duration, Vec<Duration>) {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (make, barrier) = (&make, &barrier);
                s.spawn(move || {
                    let mut step = make();
                    let mut lat = Vec::with_capacity(steps);
                    barrier.wait();
                    for _ in 0..steps {
                        let start = Instant::now();
                        step();
                        lat.push(start.elapsed());
                    }
                    lat
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let lat: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("durable thread"))
            .collect();
        (start.elapsed(), lat)
    })
}

/// One durable run of `entry` in the empty directory `dir`.
fn run_one(entry: Entry, threads: usize, steps: usize, dir: &Path) -> (Duration, Vec<Duration>) {
    let values = check::batch(0, PER_SYNC, VALUE);
    match entry {
        Entry::Samsa => {
            let p = Partition::open(dir.join("p"), samsa_side::always_config()).expect("open");
            let records: Vec<Record<'_>> = values.iter().map(Record::new).collect();
            let out = run_threads(threads, steps, || {
                let (p, records) = (&p, &records);
                move || {
                    p.append(records).expect("samsa durable append");
                }
            });
            drop(p);
            out
        }
        Entry::SamsaClient => {
            let config = ProducerConfig::default().linger(Duration::ZERO);
            let c = Client::open(dir, SyncPolicy::Always, config);
            let out = run_threads(threads, steps, || {
                let mut pending = Vec::with_capacity(PER_SYNC);
                let (producer, values) = (&c.producer, &values);
                move || {
                    for v in values {
                        pending.push(producer.send(TOPIC, Record::new(v)).expect("send"));
                    }
                    for d in pending.drain(..) {
                        d.wait().expect("samsa durable delivery");
                    }
                }
            });
            drop(c);
            out
        }
        Entry::SamsaTxn => unreachable!("durable runs have no transactional entry"),
        Entry::Raw => {
            let log = Mutex::new(RawLog::create(&dir.join("raw.log")));
            run_threads(threads, steps, || {
                let file = log
                    .lock()
                    .expect("raw lock")
                    .file()
                    .try_clone()
                    .expect("clone");
                let (log, values) = (&log, &values);
                move || {
                    {
                        let mut w = log.lock().expect("raw lock");
                        for v in values {
                            w.append(v);
                        }
                        w.flush();
                    }
                    file.sync_data().expect("raw fdatasync");
                }
            })
        }
        Entry::Commitlog => {
            let log = Mutex::new(Clog::open(dir, clog::DEFAULT_SEGMENT_BYTES));
            let out = run_threads(threads, steps, || {
                let segment = clog::active_segment(dir);
                let (log, values) = (&log, &values);
                move || {
                    log.lock().expect("commitlog lock").append_values(values);
                    segment.sync_data().expect("commitlog segment fdatasync");
                    log.lock()
                        .expect("commitlog lock")
                        .log
                        .flush()
                        .expect("commitlog flush");
                }
            });
            assert_eq!(
                clog::segment_files(dir).len(),
                1,
                "the durable run rolled commitlog's segment"
            );
            out
        }
        Entry::Sqlite => {
            let conn = Mutex::new(sqlite::open(dir, true));
            run_threads(threads, steps, || {
                let (conn, values) = (&conn, &values);
                move || sqlite::insert(&mut conn.lock().expect("sqlite lock"), values)
            })
        }
    }
}

/// Runs the durable workloads `p.reps` times on every backend.
pub fn run(p: &Params, scratch_dir: &Path, results: &mut Results) {
    let entries = [
        Entry::Samsa,
        Entry::SamsaClient,
        Entry::Raw,
        Entry::Commitlog,
        Entry::Sqlite,
    ];
    for rep in 0..p.reps {
        let mut one_thread = std::collections::HashMap::new();
        for threads in THREADS {
            let steps = (p.durable_syncs / threads).max(1);
            for entry in rotated(&entries, rep) {
                let dir = scratch::dir_in(scratch_dir);
                let (wall, mut lat) = run_one(entry, threads, steps, dir.path());
                let rate = (threads * steps * PER_SYNC) as f64 / wall.as_secs_f64();
                if threads == 1 {
                    let p50 = stats::percentile(&mut lat, 0.50).as_secs_f64() * 1e6;
                    let p99 = stats::percentile(&mut lat, 0.99).as_secs_f64() * 1e6;
                    results.push(P50, entry, p50);
                    results.push(P99, entry, p99);
                    results.push(RATE_1, entry, rate);
                    one_thread.insert(entry, rate);
                } else {
                    results.push(RATE_4, entry, rate);
                    results.push(SCALING, entry, rate / one_thread[&entry]);
                }
                eprintln!(
                    "  [{}/{}] durable {threads} thread(s) {}: {rate:.0} records/s",
                    rep + 1,
                    p.reps,
                    entry.key()
                );
            }
        }
    }
}
