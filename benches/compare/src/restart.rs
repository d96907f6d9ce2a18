//! Restarting: reopen of a large clean log, and recovery after an unclean
//! stop. Every open runs in a child process (its peak RSS is the open's
//! own) and is timed from just before the open call to the log being ready
//! to append (samsa: `Partition::open`; the floor: list the segments, open
//! the newest at its end, and for recovery scan it for a torn tail;
//! commitlog: `CommitLog::new`; SQLite: open, set WAL mode, read
//! `max(id)`). Page caches are warm: the same for every backend.

use crate::child;
use crate::logs;
use crate::params::Params;
use crate::results::{rotated, Entry, Results};
use crate::scratch;
use std::path::{Path, PathBuf};

/// Metric names.
pub const REOPEN_LARGE_MS: &str = "reopen_large_ms";
/// Peak RSS of the child that reopened the large log.
pub const REOPEN_LARGE_RSS: &str = "reopen_large_rss_mib";
/// Reopen of the small log (a tenth of the bytes, as many segments).
pub const REOPEN_SMALL_MS: &str = "reopen_small_ms";
/// Peak RSS of the child that reopened the small log.
pub const REOPEN_SMALL_RSS: &str = "reopen_small_rss_mib";
/// Peak RSS (large) minus peak RSS (small).
pub const REOPEN_RSS_GROWTH: &str = "reopen_rss_growth_mib";
/// Recovery after kill -9.
pub const RECOVERY_MS: &str = "recovery_ms";

const ENTRIES: [Entry; 4] = [Entry::Samsa, Entry::Raw, Entry::Commitlog, Entry::Sqlite];
/// Records per call while filling the large logs (fewer if a segment
/// would hold fewer than four such calls).
const FILL_BATCH: usize = 10;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

struct Built {
    entry: Entry,
    large: PathBuf,
    small: PathBuf,
    count_large: u64,
    count_small: u64,
}

fn build(entry: Entry, dir: &Path, p: &Params, segment_bytes: u64, results: &mut Results) -> Built {
    let large = dir.join(format!("{}-large", entry.key()));
    let small = dir.join(format!("{}-small", entry.key()));
    eprintln!(
        "  building {}: {:.2} GiB and a tenth of it, {} segments each",
        entry.key(),
        p.large_bytes as f64 / (1u64 << 30) as f64,
        p.large_segments
    );
    let batch = |seg: u64| (seg / 4 / logs::VALUE as u64).clamp(1, FILL_BATCH as u64) as usize;
    let (f, count_large) = logs::fill(
        entry,
        &large,
        p.large_bytes,
        segment_bytes,
        batch(segment_bytes),
    );
    f.close();
    let small_segment = segment_bytes / 10;
    let (f, count_small) = logs::fill(
        entry,
        &small,
        p.large_bytes / 10,
        small_segment,
        batch(small_segment),
    );
    f.close();
    let files = |d: &Path| match entry {
        Entry::Sqlite => "one database file".to_owned(),
        _ => format!("{} segment files", scratch::count_files(d, ".log")),
    };
    results.fact(
        format!("2-reopen.{}", entry.key()),
        format!(
            "Reopen, {}: large log {} records in {}, {} on disk; small log {} records in {}.",
            entry.label(),
            count_large,
            files(&large),
            crate::report::size(scratch::allocated_bytes(&large)),
            count_small,
            files(&small),
        ),
    );
    Built {
        entry,
        large,
        small,
        count_large,
        count_small,
    }
}

fn reopen(b: &Built, segment_bytes: u64, large: bool) -> (f64, f64) {
    let (dir, seg, expected) = if large {
        (&b.large, segment_bytes, b.count_large)
    } else {
        (&b.small, segment_bytes / 10, b.count_small)
    };
    let r = child::run(&["open", b.entry.key(), s(dir), &seg.to_string(), "clean"]);
    assert_eq!(
        r["count"] as u64,
        expected,
        "{} reopened with another record count",
        b.entry.key()
    );
    (r["open_ns"] / 1e6, r["hwm_kib"] / 1024.0)
}

/// Measures the reopen of every backend's built logs, `p.reps` times,
/// alternating backends.
fn measure(built: &[Built], p: &Params, segment_bytes: u64, results: &mut Results) {
    for rep in 0..p.reps {
        let entries: Vec<Entry> = built.iter().map(|b| b.entry).collect();
        for entry in rotated(&entries, rep) {
            let b = built.iter().find(|b| b.entry == entry).expect("built");
            let (ms, rss) = reopen(b, segment_bytes, true);
            let (small_ms, small_rss) = reopen(b, segment_bytes, false);
            results.push(REOPEN_LARGE_MS, entry, ms);
            results.push(REOPEN_LARGE_RSS, entry, rss);
            results.push(REOPEN_SMALL_MS, entry, small_ms);
            results.push(REOPEN_SMALL_RSS, entry, small_rss);
            results.push(REOPEN_RSS_GROWTH, entry, rss - small_rss);
            eprintln!(
                "  [{}/{}] reopen {}: {ms:.3} ms, peak RSS {rss:.1} MiB (small log: {small_ms:.3} ms, {small_rss:.1} MiB)",
                rep + 1,
                p.reps,
                entry.key()
            );
        }
    }
}

/// Reopen of a large clean log: built once per backend (untimed), closed
/// cleanly, reopened in a child process every repetition. If the four
/// logs do not fit on the disk together, each backend is built, measured
/// and deleted in turn (then its repetitions are not interleaved).
pub fn run_reopen(p: &Params, scratch_dir: &Path, results: &mut Results) {
    let segment_bytes = (p.large_bytes / p.large_segments).max(4096);
    let idle = child::run(&["idle"]);
    results.fact(
        "2-reopen.idle",
        format!(
            "A child process of this program that opens nothing peaks at {:.1} MiB RSS.",
            idle["hwm_kib"] / 1024.0
        ),
    );
    // Each log with its tenth; SQLite's is about 1.35x its payload, the
    // others' about 1.03x.
    let per_backend = p.large_bytes / 10 * 11 / 10 * 14;
    let all = p.large_bytes / 10 * 11 / 10 * 45;
    let free = scratch::free_bytes(scratch_dir);
    let reserve = 2u64 << 30;
    let together = all + reserve < free;
    if per_backend + reserve > free {
        panic!(
            "the large log needs about {:.1} GiB per backend and {:.1} GiB are free: use --large-gib",
            per_backend as f64 / (1u64 << 30) as f64,
            free as f64 / (1u64 << 30) as f64
        );
    }
    if together {
        let dir = scratch::dir_in(scratch_dir);
        let built: Vec<Built> = ENTRIES
            .iter()
            .map(|&e| build(e, dir.path(), p, segment_bytes, results))
            .collect();
        measure(&built, p, segment_bytes, results);
    } else {
        results.fact(
            "2-reopen.staged",
            "the large logs did not fit on the disk together: each backend was built, measured and deleted in turn",
        );
        for e in ENTRIES {
            let dir = scratch::dir_in(scratch_dir);
            let built = [build(e, dir.path(), p, segment_bytes, results)];
            measure(&built, p, segment_bytes, results);
        }
    }
}

/// Recovery after kill -9: a child fills a log with `p.recovery_bytes` of
/// 1 KiB records (100 per call, nothing synced, all of it written to the
/// files) and is killed with SIGKILL while the log is open. That state is
/// kept; every repetition copies it (untimed) and times the first open in
/// a child process, then checks that every record written survived.
pub fn run_recovery(p: &Params, scratch_dir: &Path, results: &mut Results) {
    let dir = scratch::dir_in(scratch_dir);
    let mut pristine = Vec::new();
    for e in ENTRIES {
        let d = dir.path().join(format!("{}-killed", e.key()));
        std::fs::create_dir_all(&d).expect("create dir");
        let count =
            child::run_and_kill(&["unclean", e.key(), s(&d), &p.recovery_bytes.to_string()]);
        eprintln!("  {}: killed -9 after {count} records", e.key());
        if e != Entry::Sqlite {
            results.fact(
                format!("3-recovery.{}", e.key()),
                format!(
                    "Recovery, {}: {count} records in {} segment file(s) at the kill.",
                    e.label(),
                    scratch::count_files(&d, ".log")
                ),
            );
        }
        pristine.push((e, d, count));
    }
    for rep in 0..p.reps {
        for entry in rotated(&ENTRIES, rep) {
            let (_, killed, count) = pristine
                .iter()
                .find(|(e, ..)| *e == entry)
                .expect("killed log");
            let work = dir.path().join(format!("{}-rep{rep}", entry.key()));
            scratch::copy_tree(killed, &work);
            let r = child::run(&[
                "open",
                entry.key(),
                s(&work),
                &(1u64 << 30).to_string(),
                "recover",
            ]);
            assert_eq!(
                r["count"] as u64,
                *count,
                "{} lost records to kill -9",
                entry.key()
            );
            let ms = r["open_ns"] / 1e6;
            results.push(RECOVERY_MS, entry, ms);
            std::fs::remove_dir_all(&work).expect("remove copy");
            eprintln!(
                "  [{}/{}] recovery {}: {ms:.1} ms",
                rep + 1,
                p.reps,
                entry.key()
            );
        }
    }
}
