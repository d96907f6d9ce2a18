//! Scenario: a service owns a log directory and writes to it, and an
//! operator reads it read-only from another process (issue 17). The
//! writer is a child process (this test binary re-run) appending to two
//! topics under `SyncPolicy::Always`, rolling small segments and running
//! retention (topic `r`, by size) and compaction (topic `c`, unique keys:
//! every segment is rewritten and swapped, and nothing superseded) after
//! every few appends. It is killed with SIGKILL at random moments and
//! restarted, while this process tails both topics read-only throughout
//! (`Log::open_read_only`). The reader must see:
//! - on `c`, every record the writer acknowledged, in order, each once,
//!   byte for byte, and nothing else;
//! - on `r`, records in order, each once and byte for byte, skipping only
//!   to the log start when retention deleted what it had not read yet;
//! - no error but `OffsetOutOfRange` on `r` (never a damaged batch, never
//!   a crash: a batch being written is simply not visible yet).
//!
//! Cycles: `SAMSA_READ_ONLY_KILL_ITERATIONS`, else `SAMSA_CRASH_ITERATIONS`,
//! else 30. Seed: `SAMSA_CRASH_SEED`. The test prints
//! `read_only_kill: seed=.. cycles=.. records_checked=.. acked=.. ...`.

mod common;

use common::*;
use samsa_log::partition::SyncPolicy;
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Error, Log, Record};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD_TEST: &str = "read_only_writer_child";
const ENV_DIR: &str = "SAMSA_READ_ONLY_CHILD_DIR";
const ENV_FINAL: &str = "SAMSA_READ_ONLY_CHILD_FINAL";
const ENV_ITERATIONS: &str = "SAMSA_READ_ONLY_KILL_ITERATIONS";
const DEFAULT_CYCLES: u64 = 30;
/// Records the last (unkilled) run appends to each topic.
const FINAL_RECORDS: u64 = 300;
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// The value of the record at `offset` of `topic`: a function of both, so
/// a restarted writer goes on where the log ends, and a reader can check
/// any record it sees.
fn value(topic: &str, offset: u64) -> Vec<u8> {
    let mut v = format!("{topic}-{offset:08}-").into_bytes();
    v.resize(40 + (offset % 97) as usize, b'a' + (offset % 26) as u8);
    v
}

fn open_writer(dir: &Path) -> Log {
    Log::builder()
        .sync(SyncPolicy::Always)
        .maintenance_interval(None)
        .open(dir)
        .unwrap()
}

/// Not a test of its own: the writer process of
/// [`a_reader_follows_a_writer_killed_and_restarted`] (a no-op
/// otherwise). Appends one record at a time to `r` and `c`, printing
/// `ACK <topic> <offset>` after each, and runs retention and compaction
/// every 20 appends; forever, or (`ENV_FINAL`) `FINAL_RECORDS` more, then
/// `DONE <end of r> <end of c>`.
#[test]
fn read_only_writer_child() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let final_run = std::env::var_os(ENV_FINAL).is_some();
    let log = open_writer(Path::new(&dir));
    if log.topic("r").is_err() {
        log.create_topic(
            "r",
            TopicConfig::default()
                .segment_bytes(4096)
                .retention_bytes(Some(64 << 10)),
        )
        .unwrap();
        log.create_topic(
            "c",
            TopicConfig::default()
                .segment_bytes(4096)
                .cleanup_policy(CleanupPolicy::Compact)
                .min_cleanable_dirty_ratio(0.0),
        )
        .unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nSTARTED").unwrap();
    out.flush().unwrap();
    let parts = ["r", "c"].map(|t| (t, log.topic(t).unwrap().partition(0).unwrap()));
    let mut n = 0u64;
    while !final_run || n < FINAL_RECORDS {
        for (topic, p) in &parts {
            let at = p.high_watermark();
            let key = format!("{topic}{at}");
            let info = p
                .append(&[Record::new(value(topic, at)).key(key.as_bytes())])
                .unwrap();
            assert_eq!(info.base_offset, at);
            writeln!(out, "ACK {topic} {at}").unwrap();
        }
        out.flush().unwrap();
        n += 1;
        if n.is_multiple_of(20) {
            log.maintain().unwrap();
        }
    }
    let ends = parts.map(|(_, p)| p.high_watermark());
    writeln!(out, "DONE {} {}", ends[0], ends[1]).unwrap();
    out.flush().unwrap();
    log.close().unwrap();
}

/// What the reader of one topic has seen.
#[derive(Debug, Default)]
struct Seen {
    /// The next offset to read.
    next: u64,
    records: u64,
    /// Offsets skipped because retention deleted them first.
    skipped: u64,
    violations: Vec<String>,
}

/// Tails `topic` read-only until `stop` and its end is `until` (once
/// known), checking each record.
fn tail(dir: &Path, topic: &'static str, seen: Arc<Mutex<Seen>>, stop: Arc<Mutex<Option<u64>>>) {
    let ro = loop {
        // The writer creates the log: wait for it.
        match Log::open_read_only(dir) {
            Ok(ro) => match ro.partition(topic, 0) {
                Ok(_) => break ro.with_poll_interval(Duration::from_millis(1)),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            },
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let p = ro.partition(topic, 0).unwrap();
    loop {
        let from = seen.lock().unwrap().next;
        if stop.lock().unwrap().is_some_and(|end| from >= end) {
            return;
        }
        match p.poll(from, 64 << 10, Duration::from_millis(20)) {
            Ok(records) => {
                let mut s = seen.lock().unwrap();
                for r in &records {
                    let next = s.next;
                    let mut problem = None;
                    if r.offset() < next || r.value() != Some(&value(topic, r.offset())[..]) {
                        problem = Some(format!(
                            "{topic}: read offset {} (expected from {next}) value {:?}",
                            r.offset(),
                            r.value().map(String::from_utf8_lossy)
                        ));
                    } else if topic == "c" && r.offset() != next {
                        problem = Some(format!("{topic}: offset {} after {next}", r.offset()));
                    }
                    if let Some(p) = problem.filter(|_| s.violations.len() < 10) {
                        s.violations.push(p);
                    }
                    s.next = r.offset() + 1;
                    s.records += 1;
                }
                s.next = s.next.max(records.next_offset());
            }
            Err(Error::OffsetOutOfRange { start, .. }) if topic == "r" && start > from => {
                let mut s = seen.lock().unwrap();
                s.skipped += start - from;
                s.next = start;
            }
            Err(e) => {
                let mut s = seen.lock().unwrap();
                s.violations.push(format!("{topic}: read at {from}: {e}"));
                return;
            }
        }
    }
}

#[test]
fn a_reader_follows_a_writer_killed_and_restarted() {
    if std::env::var_os(ENV_DIR).is_some() {
        return;
    }
    let cycles = crash_iterations(ENV_ITERATIONS, DEFAULT_CYCLES);
    let seed = crash_seed();
    let mut tally = KillTally::new("read_only_kill", seed);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let envs = [(ENV_DIR, dir.display().to_string())];

    // The first writer makes the log; then the readers start.
    let first = ChildProc::spawn(CHILD_TEST, &envs);
    first.next_line(CHILD_TIMEOUT).unwrap();
    let stops = [(); 2].map(|_| Arc::new(Mutex::new(None)));
    let seen = [(); 2].map(|_| Arc::new(Mutex::new(Seen::default())));
    let readers: Vec<_> = ["r", "c"]
        .into_iter()
        .enumerate()
        .map(|(i, topic)| {
            let (dir, seen, stop) = (dir.clone(), seen[i].clone(), stops[i].clone());
            std::thread::spawn(move || tail(&dir, topic, seen, stop))
        })
        .collect();
    let mut acked_c = 0u64;
    let mut child = Some(first);
    for cycle in 0..cycles {
        let c = child
            .take()
            .unwrap_or_else(|| ChildProc::spawn(CHILD_TEST, &envs));
        std::thread::sleep(Duration::from_micros(rng.range(0, 150_000)));
        let (status, lines, stderr) = c.kill();
        for l in &lines {
            if let Some(o) = l.strip_prefix("ACK c ") {
                acked_c = acked_c.max(o.parse::<u64>().unwrap() + 1);
            }
        }
        tally.check(status.code().is_none(), || {
            format!("cycle {cycle}: the writer failed ({status}):\n{stderr}")
        });
        tally.cycles += 1;
    }
    // A last writer that finishes, then the readers catch up to its end.
    let last = ChildProc::spawn(
        CHILD_TEST,
        &[
            (ENV_DIR, dir.display().to_string()),
            (ENV_FINAL, "1".into()),
        ],
    );
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let ends = loop {
        match last.next_line(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => {
                if let Some(rest) = l.strip_prefix("DONE ") {
                    let e: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                    break e;
                }
                if let Some(o) = l.strip_prefix("ACK c ") {
                    acked_c = acked_c.max(o.parse::<u64>().unwrap() + 1);
                }
            }
            Err(e) => tally.fail(format!("the last writer did not finish: {e:?}")),
        }
    };
    // Then it closes the log and exits.
    while last.next_line(CHILD_TIMEOUT).is_ok() {}
    let (status, _, stderr) = last.kill();
    tally.check(status.success(), || {
        format!("last writer: {status}\n{stderr}")
    });
    for (stop, end) in stops.iter().zip(&ends) {
        *stop.lock().unwrap() = Some(*end);
    }
    for r in readers {
        r.join().unwrap();
    }
    let [r, c] = seen.map(|s| std::mem::take(&mut *s.lock().unwrap()));
    for s in [&r, &c] {
        for v in &s.violations {
            tally.check(false, || v.clone());
        }
    }
    tally.check(c.next == ends[1] && c.records == ends[1], || {
        format!(
            "c: read {} records up to {}, the log ends at {}",
            c.records, c.next, ends[1]
        )
    });
    tally.check(c.records >= acked_c, || {
        format!("c: {} records read, {acked_c} acknowledged", c.records)
    });
    tally.check(
        r.next == ends[0] && r.records + r.skipped == ends[0],
        || {
            format!(
                "r: {} read and {} skipped, the log ends at {}",
                r.records, r.skipped, ends[0]
            )
        },
    );
    tally.records_checked = r.records + c.records;
    tally.acked = acked_c;
    tally.add("skipped_by_retention", r.skipped);
    tally.finish();
}
