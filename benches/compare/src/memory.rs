//! Peak memory while producing: each backend in its own child process
//! fills a new log with `rss_bytes` of 1 KiB records (samsa's producer one
//! `send` at a time with its default 32 MiB buffer, then `flush`; samsa's
//! `Partition` and the peers 1,000 records per call; nothing synced) and
//! reports its peak resident set size (`VmHWM`, which counts mapped file
//! pages it touched as well as heap). Run once per backend, not repeated:
//! the figure hardly moves with machine load, and each run writes the
//! whole size.

use crate::child;
use crate::params::Params;
use crate::results::{Entry, Results};
use crate::scratch;
use std::path::Path;

/// Metric names.
pub const RSS: &str = "produce_peak_rss_mib";
/// MB/s of payload while producing.
pub const RATE: &str = "produce_mb_s";

/// Runs the producing children.
pub fn run(p: &Params, scratch_dir: &Path, results: &mut Results) {
    let entries = [
        Entry::SamsaClient,
        Entry::Samsa,
        Entry::Raw,
        Entry::Commitlog,
        Entry::Sqlite,
    ];
    // SQLite's file is about 1.35x its payload of 1 KiB values.
    let need = p.rss_bytes / 10 * 14 + (2u64 << 30);
    let free = scratch::free_bytes(scratch_dir);
    assert!(
        need < free,
        "producing {:.1} GiB needs about {:.1} GiB free, {:.1} GiB are: use --rss-gib",
        p.rss_bytes as f64 / (1u64 << 30) as f64,
        need as f64 / (1u64 << 30) as f64,
        free as f64 / (1u64 << 30) as f64
    );
    for entry in entries {
        let dir = scratch::dir_in(scratch_dir);
        let d = dir.path().join("log");
        let r = child::run(&[
            "produce",
            entry.key(),
            d.to_str().expect("UTF-8 path"),
            &p.rss_bytes.to_string(),
        ]);
        let mib = r["hwm_kib"] / 1024.0;
        let rate = r["count"] * crate::logs::VALUE as f64 / r["secs"] / 1e6;
        results.push(RSS, entry, mib);
        results.push(RATE, entry, rate);
        eprintln!(
            "  produce {:.2} GiB {}: peak RSS {mib:.1} MiB, {rate:.0} MB/s",
            p.rss_bytes as f64 / (1u64 << 30) as f64,
            entry.key()
        );
    }
}
