//! Read everything back after reopen, verified: 100-byte records written
//! in batches of 1,000 (samsa and commitlog rolling at 32 MiB, so most of
//! the log is in sealed segments), closed; then each repetition reopens
//! (untimed) and reads the whole log in order, checking every record's
//! sequence number, the count and a checksum. samsa's `Partition::read` and
//! its consumer check every batch's CRC32C; commitlog checks every
//! message's CRC32C; the floor and SQLite check nothing (SQLite has no
//! checksums on pages by default). Also measures bytes on disk per byte of
//! payload, from the closed logs.
//!
//! For issue 16, samsa also writes the same records in transactions
//! (1,000 to a committed transaction, nothing aborted; `transactions.rs`),
//! and each repetition reads that log through a `read_committed` consumer
//! and a `read_uncommitted` one, in turn first: what `read_committed`
//! costs when there is nothing to hide (the last stable offset, the
//! aborted-transaction lookup, the markers skipped).

use crate::check::{self, Check};
use crate::clog::{self, Clog};
use crate::params::Params;
use crate::results::{rotated, Entry, Results};
use crate::samsa_side::{self, TOPIC};
use crate::{raw, scratch, sqlite, transactions};
use commitlog::CommitLog;
use samsa_log::consumer::IsolationLevel;
use samsa_log::partition::SyncPolicy;
use samsa_log::topic::TopicConfig;
use samsa_log::Log;
use std::path::{Path, PathBuf};
use std::time::Instant;

const VALUE: usize = 100;
const BATCH: usize = 1000;
/// Segment size of samsa and commitlog for this workload.
const SEGMENT_BYTES: u64 = 32 << 20;
/// Metric names.
pub const METRIC: &str = "read_after_reopen";
/// samsa's log written in transactions, read at either isolation level
/// (`SamsaClient`: `read_uncommitted`, `SamsaTxn`: `read_committed`).
pub const TXN_METRIC: &str = "read_after_reopen_txn";
/// On-disk bytes / payload bytes.
pub const SPACE: &str = "space_100b";

struct Logs {
    samsa: PathBuf,
    /// samsa's log written in transactions.
    samsa_txn: PathBuf,
    raw: PathBuf,
    commitlog: PathBuf,
    sqlite: PathBuf,
}

/// Writes the same records to every backend and closes them.
fn write_all(dir: &Path, total: u64, results: &mut Results) -> Logs {
    let logs = Logs {
        samsa: dir.join("samsa"),
        samsa_txn: dir.join("samsa-txn"),
        raw: dir.join("raw"),
        commitlog: dir.join("commitlog"),
        sqlite: dir.join("sqlite"),
    };
    for d in [&logs.raw, &logs.commitlog, &logs.sqlite] {
        std::fs::create_dir_all(d).expect("create dir");
    }
    let log = Log::open(&logs.samsa).expect("open samsa");
    let topic = log
        .create_topic(
            TOPIC,
            TopicConfig::default()
                .sync(SyncPolicy::Os)
                .segment_bytes(SEGMENT_BYTES),
        )
        .expect("topic");
    let p = topic.partition(0).expect("partition 0");
    let mut rawlog = raw::RawLog::create(&logs.raw.join("raw.log"));
    let mut cl = Clog::open(&logs.commitlog, SEGMENT_BYTES as usize);
    let mut conn = sqlite::open(&logs.sqlite, false);
    let mut first = 0;
    while first < total {
        let n = (total - first).min(BATCH as u64) as usize;
        let values = check::batch(first, n, VALUE);
        let records: Vec<samsa_log::Record<'_>> =
            values.iter().map(samsa_log::Record::new).collect();
        p.append(&records).expect("samsa append");
        for v in &values {
            rawlog.append(v);
        }
        cl.append_values(&values);
        sqlite::insert(&mut conn, &values);
        first += n as u64;
    }
    let samsa_dir = p.dir().to_path_buf();
    log.close().expect("close samsa");
    rawlog.flush();
    drop((rawlog, cl, conn));
    let txn = transactions::write_log(&logs.samsa_txn, total, VALUE, SEGMENT_BYTES);
    results.fact(
        "1-read.transactions",
        format!(
            "Read-back log written in transactions (samsa): {total} records in {} committed transactions of {} records, {} offsets with the markers, {} segment files.",
            total.div_ceil(transactions::PER_TXN as u64),
            transactions::PER_TXN,
            txn.offsets,
            txn.segments
        ),
    );

    let payload = (total * VALUE as u64) as f64;
    for (entry, d) in [
        (Entry::Samsa, samsa_dir.as_path()),
        (Entry::Raw, logs.raw.as_path()),
        (Entry::Commitlog, logs.commitlog.as_path()),
        (Entry::Sqlite, logs.sqlite.as_path()),
    ] {
        let bytes = scratch::allocated_bytes(d);
        results.push(SPACE, entry, bytes as f64 / payload);
    }
    results.fact(
        "1-read.segments",
        format!(
            "Read-back log: samsa {} segment files, commitlog {}.",
            scratch::count_files(&samsa_dir, ".log"),
            clog::segment_files(&logs.commitlog).len()
        ),
    );
    logs
}

/// Reopens (untimed) and reads `entry`'s log whole; returns the seconds
/// the read took.
fn read_one(entry: Entry, logs: &Logs, total: u64) -> f64 {
    let (took, got) = match entry {
        Entry::Samsa | Entry::SamsaClient => {
            let log = Log::open(&logs.samsa).expect("reopen samsa");
            let start = Instant::now();
            let got = if entry == Entry::Samsa {
                let p = log.topic(TOPIC).expect("t").partition(0).expect("p0");
                samsa_side::read_partition(&p)
            } else {
                samsa_side::read_consumer(&log, total, IsolationLevel::ReadUncommitted)
            };
            let took = start.elapsed();
            log.close().expect("close samsa");
            (took, got)
        }
        Entry::SamsaTxn => unreachable!("read_committed reads the transactional log only"),
        Entry::Raw => {
            let start = Instant::now();
            let got = raw::read_all(&logs.raw.join("raw.log"));
            (start.elapsed(), got)
        }
        Entry::Commitlog => {
            let log = CommitLog::new(clog::options(&logs.commitlog, SEGMENT_BYTES as usize))
                .expect("reopen commitlog");
            let start = Instant::now();
            let got = clog::read_all(&log);
            (start.elapsed(), got)
        }
        Entry::Sqlite => {
            let conn = sqlite::open(&logs.sqlite, false);
            let start = Instant::now();
            let got = sqlite::read_all(&conn);
            (start.elapsed(), got)
        }
    };
    assert_eq!(
        got,
        Check::expected(total, VALUE),
        "{} read back something else",
        entry.key()
    );
    took.as_secs_f64()
}

/// Reopens (untimed) samsa's log written in transactions and reads it
/// whole through a consumer: `read_committed` for `SamsaTxn`,
/// `read_uncommitted` for `SamsaClient`; returns the seconds the read took.
fn read_txn(entry: Entry, logs: &Logs, total: u64) -> f64 {
    let isolation = match entry {
        Entry::SamsaTxn => IsolationLevel::ReadCommitted,
        Entry::SamsaClient => IsolationLevel::ReadUncommitted,
        other => unreachable!("{} has no transactional log", other.key()),
    };
    let log = Log::open(&logs.samsa_txn).expect("reopen samsa");
    let start = Instant::now();
    let got = samsa_side::read_consumer(&log, total, isolation);
    let took = start.elapsed();
    log.close().expect("close samsa");
    assert_eq!(
        got,
        Check::expected(total, VALUE),
        "samsa at {isolation:?} read back something else"
    );
    took.as_secs_f64()
}

/// Writes the log once per backend (samsa's twice), then reads it back
/// `p.reps` times.
pub fn run(p: &Params, scratch_dir: &Path, results: &mut Results) {
    let dir = scratch::dir_in(scratch_dir);
    let total = p.read_records;
    eprintln!("  writing {total} records of {VALUE} B to every backend");
    let logs = write_all(dir.path(), total, results);
    let entries = [
        Entry::Samsa,
        Entry::SamsaClient,
        Entry::Raw,
        Entry::Commitlog,
        Entry::Sqlite,
    ];
    for rep in 0..p.reps {
        for entry in rotated(&entries, rep) {
            let took = read_one(entry, &logs, total);
            results.push(METRIC, entry, total as f64 / took);
            eprintln!(
                "  [{}/{}] {METRIC} {}: {took:.3} s",
                rep + 1,
                p.reps,
                entry.key()
            );
        }
        for entry in rotated(&[Entry::SamsaTxn, Entry::SamsaClient], rep) {
            let took = read_txn(entry, &logs, total);
            results.push(TXN_METRIC, entry, total as f64 / took);
            eprintln!(
                "  [{}/{}] {TXN_METRIC} {}: {took:.3} s",
                rep + 1,
                p.reps,
                entry.key()
            );
        }
    }
}
