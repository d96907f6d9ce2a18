//! The report: a markdown table (printed, and written to `compare.md`) and
//! `compare.json`, with the machine, the parameters, what was done for
//! fairness, and the targets beside the ratios.

use crate::machine::Machine;
use crate::params::Params;
use crate::results::{Entry, Results};
use crate::{append, durable, memory, read, restart, stats, transactions};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// How a metric is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// records per second
    PerSec,
    /// MB (10^6 bytes) of payload per second
    MbPerSec,
    /// microseconds
    Us,
    /// milliseconds
    Ms,
    /// MiB
    Mib,
    /// a factor
    Times,
    /// a plain number
    Plain,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::PerSec => "records/s",
            Unit::MbPerSec => "MB/s",
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::Mib => "MiB",
            Unit::Times => "x",
            Unit::Plain => "",
        }
    }
}

/// A target of the issue, checked against the samsa column.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The ratio to `peer` is at least `min` (ratios: above 1, samsa better).
    Ratio(Entry, f64),
    /// samsa's median is at most this.
    AtMost(f64),
    /// samsa's median is at least this.
    AtLeast(f64),
    /// The ratio to samsa's own `Entry` on the same metric is at least
    /// `min` (issue 16: a feature's cost against the same API without
    /// it); named in the table as the `&str` says.
    Own(Entry, f64, &'static str),
}

struct Row {
    title: String,
    metric: &'static str,
    samsa: Entry,
    unit: Unit,
    higher_is_better: bool,
    /// Whether ratios to the peers mean anything (not for a backend's own
    /// scaling).
    compare: bool,
    targets: Vec<Target>,
}

fn row(title: impl Into<String>, metric: &'static str, samsa: Entry, unit: Unit) -> Row {
    let higher_is_better = matches!(unit, Unit::PerSec | Unit::MbPerSec | Unit::Times);
    Row {
        title: title.into(),
        metric,
        samsa,
        unit,
        higher_is_better,
        compare: true,
        targets: Vec::new(),
    }
}

impl Row {
    fn target(mut self, t: Target) -> Row {
        self.targets.push(t);
        self
    }

    fn own(mut self) -> Row {
        self.compare = false;
        self
    }
}

/// `bytes` in GiB, or MiB below 1 GiB.
pub fn size(bytes: u64) -> String {
    let g = bytes as f64 / (1u64 << 30) as f64;
    let m = bytes as f64 / (1u64 << 20) as f64;
    if g >= 10.0 {
        format!("{g:.0} GiB")
    } else if g >= 1.0 {
        format!("{g:.2} GiB")
    } else {
        format!("{m:.0} MiB")
    }
}

fn rows(p: &Params) -> Vec<Row> {
    use Entry::{Commitlog, Raw, Samsa, SamsaClient, SamsaTxn};
    use Target::{AtLeast, AtMost, Own, Ratio};
    let shapes = append::shapes(p);
    let [b1000, single, k1, k64] = &shapes[..] else {
        unreachable!("four append shapes")
    };
    let large = format!("{} of {} segments", size(p.large_bytes), p.large_segments);
    vec![
        row(b1000.title, b1000.key, Samsa, Unit::PerSec)
            .target(Ratio(Raw, 0.9))
            .target(Ratio(Commitlog, 2.5)),
        row(
            format!("{} (samsa: `Producer::send`, then `flush`)", single.title),
            single.key,
            SamsaClient,
            Unit::PerSec,
        )
        .target(Ratio(Raw, 0.8)),
        row(
            format!(
                "{} (samsa: transactional `Producer`, {} `send`s then `commit_transaction`)",
                single.title,
                thousands(transactions::PER_TXN)
            ),
            single.key,
            SamsaTxn,
            Unit::PerSec,
        )
        .target(Own(SamsaClient, 0.9, "the idempotent `Producer`")),
        row(
            format!("{} (samsa: `Partition::append`)", single.title),
            single.key,
            Samsa,
            Unit::PerSec,
        ),
        row(k1.title, k1.key, Samsa, Unit::MbPerSec).target(Ratio(Raw, 0.95)),
        row(k64.title, k64.key, Samsa, Unit::MbPerSec).target(Ratio(Raw, 0.95)),
        row(
            "read everything back after reopen, verified (samsa: `Partition::read`, every batch's CRC checked)",
            read::METRIC,
            Samsa,
            Unit::PerSec,
        )
        .target(Ratio(Raw, 0.6))
        .target(Ratio(Commitlog, 2.0)),
        row(
            "read everything back after reopen, verified (samsa: `Consumer::poll`)",
            read::METRIC,
            SamsaClient,
            Unit::PerSec,
        )
        .target(Ratio(Raw, 0.6))
        .target(Ratio(Commitlog, 2.0)),
        row(
            format!(
                "read back after reopen a log written in transactions of {}, none aborted (samsa: `Consumer::poll`, `read_uncommitted`)",
                thousands(transactions::PER_TXN)
            ),
            read::TXN_METRIC,
            SamsaClient,
            Unit::PerSec,
        ),
        row(
            format!(
                "read back after reopen a log written in transactions of {}, none aborted (samsa: `Consumer::poll`, `read_committed`)",
                thousands(transactions::PER_TXN)
            ),
            read::TXN_METRIC,
            SamsaTxn,
            Unit::PerSec,
        )
        .target(Own(SamsaClient, 0.9, "`read_uncommitted`")),
        row(
            "durable, sync every 10 records, 1 thread: p50 latency (samsa: `Partition`, `Always`)",
            durable::P50,
            Samsa,
            Unit::Us,
        )
        .target(Ratio(Raw, 1.25)),
        row(
            "durable, 1 thread: p50 latency (samsa: `Producer`, 10 sends, wait)",
            durable::P50,
            SamsaClient,
            Unit::Us,
        )
        .target(Ratio(Raw, 1.25)),
        row("durable, 1 thread: p99 latency (samsa: `Partition`)", durable::P99, Samsa, Unit::Us),
        row("durable, 1 thread: p99 latency (samsa: `Producer`)", durable::P99, SamsaClient, Unit::Us),
        row("durable, 1 thread: records/s (samsa: `Partition`)", durable::RATE_1, Samsa, Unit::PerSec),
        row("durable, 1 thread: records/s (samsa: `Producer`)", durable::RATE_1, SamsaClient, Unit::PerSec),
        row("durable, 4 threads: records/s (samsa: `Partition`)", durable::RATE_4, Samsa, Unit::PerSec),
        row("durable, 4 threads: records/s (samsa: `Producer`)", durable::RATE_4, SamsaClient, Unit::PerSec),
        row(
            "durable, 4 threads / 1 thread, each backend its own (samsa: `Partition`)",
            durable::SCALING,
            Samsa,
            Unit::Times,
        )
        .own()
        .target(AtLeast(3.0)),
        row(
            "durable, 4 threads / 1 thread, each backend its own (samsa: `Producer`)",
            durable::SCALING,
            SamsaClient,
            Unit::Times,
        )
        .own()
        .target(AtLeast(3.0)),
        row(
            format!("reopen a clean log of {large}: time to ready"),
            restart::REOPEN_LARGE_MS,
            Samsa,
            Unit::Ms,
        )
        .target(AtMost(5.0)),
        row(
            format!("reopen a clean log of {large}: peak RSS of the process"),
            restart::REOPEN_LARGE_RSS,
            Samsa,
            Unit::Mib,
        ),
        row(
            "reopen: peak RSS growth from a log a tenth the size (same segment count)",
            restart::REOPEN_RSS_GROWTH,
            Samsa,
            Unit::Mib,
        )
        .own()
        .target(AtMost(1.0)),
        row(
            format!("recovery after kill -9 with {} unsynced in the active segment", size(p.recovery_bytes)),
            restart::RECOVERY_MS,
            Samsa,
            Unit::Ms,
        ),
        row(
            format!("peak RSS while producing {} of 1 KiB records (samsa: `Producer`)", size(p.rss_bytes)),
            memory::RSS,
            SamsaClient,
            Unit::Mib,
        ),
        row(
            format!("peak RSS while producing {} (samsa: `Partition`, 1,000 per call)", size(p.rss_bytes)),
            memory::RSS,
            Samsa,
            Unit::Mib,
        ),
        row("producing 1 KiB records: throughput (samsa: `Producer`)", memory::RATE, SamsaClient, Unit::MbPerSec),
        row("producing 1 KiB records: throughput (samsa: `Partition`)", memory::RATE, Samsa, Unit::MbPerSec),
        row(
            "bytes on disk / payload bytes, 100 B records (allocated blocks after close)",
            read::SPACE,
            Samsa,
            Unit::Plain,
        )
        .target(AtMost(1.10)),
    ]
}

/// `n` with commas between thousands, as the titles write counts.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Three significant digits (no decimals from 100 up).
fn sig(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("{v}");
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 9) as usize;
    format!("{v:.decimals$}")
}

/// A scale for `unit` at `v`: divisor and suffix.
fn scale(unit: Unit, v: f64) -> (f64, String) {
    match unit {
        Unit::PerSec if v >= 1e6 => (1e6, " M/s".into()),
        Unit::PerSec if v >= 1e3 => (1e3, " k/s".into()),
        Unit::PerSec => (1.0, " /s".into()),
        Unit::Times => (1.0, "x".into()),
        Unit::Plain => (1.0, String::new()),
        u => (1.0, format!(" {}", u.name())),
    }
}

fn cell(unit: Unit, values: &[f64]) -> String {
    let med = stats::median(values);
    let (div, suffix) = scale(unit, med);
    if values.len() == 1 {
        return format!("{}{suffix}", sig(med / div));
    }
    format!(
        "{} ({}–{}){suffix}",
        sig(med / div),
        sig(stats::min(values) / div),
        sig(stats::max(values) / div)
    )
}

/// samsa's advantage over a peer: above 1, samsa is better.
fn ratio(r: &Row, samsa: f64, peer: f64) -> f64 {
    if r.higher_is_better {
        samsa / peer
    } else {
        peer / samsa
    }
}

fn target_text(t: Target, r: &Row) -> String {
    match t {
        Target::Ratio(peer, min) if r.higher_is_better => {
            format!("≥ {min}x {}", peer.label())
        }
        Target::Ratio(peer, min) => format!(
            "≤ {:.2}x {}'s {} (ratio ≥ {min})",
            1.0 / min,
            peer.label(),
            if r.unit == Unit::Us {
                "latency"
            } else {
                "value"
            }
        ),
        Target::AtMost(v) => format!("≤ {v}{}", scale(r.unit, v).1),
        Target::AtLeast(v) => format!("≥ {v}{}", scale(r.unit, v).1),
        Target::Own(_, min, name) => format!("issue 16: ≥ {min}x {name}"),
    }
}

/// samsa's ratio to its own baseline of an [`Target::Own`] (no peer column
/// shows it); `None` for other targets or when the numbers are missing.
fn own_ratio(t: Target, r: &Row, results: &Results) -> Option<f64> {
    let Target::Own(base, ..) = t else {
        return None;
    };
    let samsa = stats::median(results.get(r.metric, r.samsa)?);
    let base = stats::median(results.get(r.metric, base)?);
    Some(ratio(r, samsa, base))
}

/// Evaluates a target; `None` when the numbers are missing.
fn met(t: Target, r: &Row, results: &Results) -> Option<bool> {
    let samsa = stats::median(results.get(r.metric, r.samsa)?);
    Some(match t {
        Target::Ratio(peer, min) => {
            let p = stats::median(results.get(r.metric, peer)?);
            ratio(r, samsa, p) >= min
        }
        Target::AtMost(v) => samsa <= v,
        Target::AtLeast(v) => samsa >= v,
        Target::Own(_, min, _) => own_ratio(t, r, results)? >= min,
    })
}

/// What was done for fairness, per backend (also in the README).
const NOTES: [&str; 7] = [
    "Ratio = peer's time / samsa's time (for rates: samsa's rate / the peer's; for latency, memory and space: the peer's value / samsa's), so above 1 samsa is faster or smaller. Cells are medians over the repetitions with min–max in parentheses; ratios and targets use the medians.",
    "Backends alternate within every repetition (each runs first in turn). Every run starts from an empty log in a fresh directory; opening it is not timed, nor is dropping and deleting it. Non-durable runs sync nothing: samsa `SyncPolicy::Os`, the floor's `BufWriter` flushed at the end (timed), commitlog as is, SQLite `synchronous=NORMAL`.",
    "raw floor: length-prefixed records (4-byte length + value) through a 1 MiB `BufWriter`, `fdatasync` for durable runs, read back through a memory map; no CRC, no index. Its reopen lists the segment files and opens the newest; its recovery also scans the newest for a torn tail.",
    "commitlog 0.2: `flush()` only msyncs the index (on Linux an fdatasync of the index range); the segment file is never synced by the crate. Durable runs fdatasync the active segment file through a second handle, then call `flush()`: two syncs per commit, which its layout needs. Batches go through one reused `MessageBuf` (encoding and CRC32C timed); `message_max_bytes` raised to 64 MiB so 1 MiB batches fit. commitlog has no recovery scan: it trusts its index and the file lengths.",
    "SQLite (bundled via rusqlite): WAL mode, table `q(id INTEGER PRIMARY KEY, v BLOB)`, one transaction per batch (per record in the one-per-call run), cached prepared statements; `synchronous=FULL` for durable runs (the WAL synced at every commit), `NORMAL` otherwise; default page size and autocheckpoint. With 4 threads one connection is shared behind a mutex.",
    "samsa: `Partition` (raw workloads) with `SyncPolicy::Os`, or `Always` for durable runs; `Producer` with default config (linger 5 ms, 1 MiB batches, acks all, idempotent) or linger 0 for durable runs, `Consumer` assigned to the partition, up to 100,000 records a poll. Reads ask for 1 MiB at a time on every backend that takes a size.",
    "samsa's transactions (issue 16): the default producer config with a transactional id, `init_transactions` once (untimed), then `begin_transaction`, 1,000 `send`s, `commit_transaction`, against the idempotent producer in the same repetition; the log's own topics (`__transaction_state`) under the run's sync policy, so nothing is synced. The read-back log is also written that way (1,000 records to a committed transaction, nothing aborted) and read whole by a `read_committed` and a `read_uncommitted` consumer in turn; records are counted, not offsets (every commit marker takes one). The ratio is samsa's to itself: transactional / idempotent, `read_committed` / `read_uncommitted`.",
];

/// Writes compare.md and compare.json into `p.out` and returns the
/// markdown.
pub fn write(p: &Params, machine: &Machine, results: &Results, wall_secs: f64) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# samsa compared with a raw-file floor, commitlog and SQLite\n"
    );
    let _ = writeln!(md, "Machine: {}\n", machine.markdown());
    let load_end = load_average();
    let _ = writeln!(
        md,
        "Run: `{}` mode, {} repetitions, {:.1} minutes in all; load average at the end {load_end}. Ratio = peer time / samsa time: above 1, samsa is faster (or smaller).\n",
        p.mode,
        p.reps,
        wall_secs / 60.0
    );
    let _ = writeln!(
        md,
        "| workload | samsa | raw floor | commitlog | SQLite | vs raw | vs commitlog | vs SQLite | target (issue 6 unless noted) |"
    );
    let _ = writeln!(
        md,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut json_rows = Vec::new();
    for r in rows(p) {
        let Some(samsa) = results.get(r.metric, r.samsa) else {
            continue;
        };
        let samsa_med = stats::median(samsa);
        let mut line = format!("| {} | {} |", r.title, cell(r.unit, samsa));
        let mut values = serde_json::Map::new();
        values.insert(r.samsa.key().into(), series(samsa));
        for peer in Entry::PEERS {
            match results.get(r.metric, peer) {
                Some(v) => {
                    let _ = write!(line, " {} |", cell(r.unit, v));
                    values.insert(peer.key().into(), series(v));
                }
                None => {
                    line.push_str(" n/a |");
                    values.insert(peer.key().into(), Value::Null);
                }
            }
        }
        let mut ratios = serde_json::Map::new();
        for peer in Entry::PEERS {
            match results.get(r.metric, peer).filter(|_| r.compare) {
                Some(v) => {
                    let x = ratio(&r, samsa_med, stats::median(v));
                    let _ = write!(line, " {}x |", sig(x));
                    ratios.insert(peer.key().into(), json!(x));
                }
                None => {
                    line.push_str(" — |");
                    ratios.insert(peer.key().into(), Value::Null);
                }
            }
        }
        let mut targets = Vec::new();
        let mut texts = Vec::new();
        for &t in &r.targets {
            let text = target_text(t, &r);
            let m = met(t, &r, results);
            let verdict = match m {
                Some(true) => "**met**",
                Some(false) => "**not met**",
                None => "not measured",
            };
            let own = own_ratio(t, &r, results);
            match own {
                Some(x) => texts.push(format!("{text}: {}x, {verdict}", sig(x))),
                None => texts.push(format!("{text}: {verdict}")),
            }
            targets.push(json!({ "target": text, "met": m, "ratio": own }));
        }
        let _ = writeln!(line, " {} |", texts.join("; "));
        md.push_str(&line);
        json_rows.push(json!({
            "workload": r.title,
            "metric": r.metric,
            "unit": r.unit.name(),
            "better": if r.higher_is_better { "higher" } else { "lower" },
            "samsa_api": r.samsa.label(),
            "values": values,
            "ratios": if r.compare { Value::Object(ratios) } else { Value::Null },
            "targets": targets,
        }));
    }
    let _ = writeln!(md, "\n## How each backend was run\n");
    for n in NOTES {
        let _ = writeln!(md, "- {n}");
    }
    let _ = writeln!(md, "\n## Sizes and facts of this run\n");
    for line in params_lines(p) {
        let _ = writeln!(md, "- {line}");
    }
    for v in results.facts.values() {
        let _ = writeln!(md, "- {v}");
    }

    std::fs::create_dir_all(&p.out).expect("create output directory");
    std::fs::write(p.out.join("compare.md"), &md).expect("write compare.md");
    let doc = json!({
        "machine": machine.json(),
        "mode": p.mode,
        "repetitions": p.reps,
        "wall_seconds": wall_secs,
        "load_average_at_end": load_end,
        "params": params_json(p),
        "ratio": "peer / samsa for times, latencies, memory and space; samsa / peer for rates: above 1, samsa is better",
        "rows": json_rows,
        "notes": NOTES,
        "facts": results.facts,
    });
    let text = serde_json::to_string_pretty(&doc).expect("JSON");
    std::fs::write(p.out.join("compare.json"), text + "\n").expect("write compare.json");
    md
}

/// The 1, 5 and 15 minute load averages now.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn series(v: &[f64]) -> Value {
    json!({
        "median": stats::median(v),
        "min": stats::min(v),
        "max": stats::max(v),
        "values": v,
    })
}

fn params_lines(p: &Params) -> Vec<String> {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    vec![
        format!(
            "Appends: {} records of 100 B in batches of 1,000; {} one per call (samsa's transactional producer: {} transactions); {:.0} MiB each of 1 KiB (1,024 per call) and 64 KiB (16 per call) records.",
            p.batch_records, p.single_records, p.single_records.div_ceil(transactions::PER_TXN as u64), mib(p.big_value_bytes)
        ),
        format!(
            "Read-back: {} records of 100 B, samsa and commitlog in 32 MiB segments, read in 1 MiB reads; samsa's also written in transactions of {}.",
            p.read_records,
            thousands(transactions::PER_TXN)
        ),
        format!(
            "Durable: {} syncs of 10 records of 100 B per run (4 threads: a quarter each).",
            p.durable_syncs
        ),
        format!(
            "Reopen: a clean log of {} in {} segments of 1 KiB records (samsa and the floor roll by bytes on disk, so their counts are close to it; SQLite has one file), and a tenth of it in as many segments; the issue asks for 10 GB (`--full`). Each open in a child process, warm page cache.",
            size(p.large_bytes), p.large_segments
        ),
        format!(
            "Recovery: {} of 1 KiB records (100 per call, not synced) written by a child killed with SIGKILL; the killed state copied for each repetition; every record written must be there after the open.",
            size(p.recovery_bytes)
        ),
        format!(
            "Peak RSS: {} of 1 KiB records produced by a child per backend, once (`VmHWM`); the issue asks for 10 GB (`--full`).",
            size(p.rss_bytes)
        ),
    ]
}

fn params_json(p: &Params) -> Value {
    json!({
        "batch_records": p.batch_records,
        "single_records": p.single_records,
        "big_value_bytes": p.big_value_bytes,
        "read_records": p.read_records,
        "durable_syncs": p.durable_syncs,
        "large_bytes": p.large_bytes,
        "large_segments": p.large_segments,
        "recovery_bytes": p.recovery_bytes,
        "rss_bytes": p.rss_bytes,
        "out": p.out.display().to_string(),
        "data_dir": p.data_dir.as_ref().map(|d| d.display().to_string()),
        "only": p.only,
    })
}

/// Whether `path` exists and is a directory we can write into.
pub fn check_out(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(2_000_000), "2,000,000");
    }
}
