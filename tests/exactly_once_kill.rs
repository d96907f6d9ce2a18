//! Fault: the consume-transform-produce loop of `examples/exactly_once.rs`
//! (the example's own code, compiled in) runs in a separate process that
//! is killed with SIGKILL at a random moment: while it starts, recovers
//! and fences its predecessor, mid-transaction, while it commits, or while
//! it idles at the end of the input. Before each run the parent appends a
//! few more input records. After every kill the output read at
//! `read_committed` must hold exactly one upper-cased copy of each input
//! record the group's committed offsets cover, and of no other: the
//! committed offsets and the outputs moved together. A last run without a
//! kill must then leave every input transformed exactly once, in input
//! order per key.
//!
//! Cycles: `SAMSA_EXACTLY_ONCE_KILL_ITERATIONS`, else
//! `SAMSA_CRASH_ITERATIONS`, else 200. The schedule's seed is
//! `SAMSA_CRASH_SEED` (default: the clock). The test prints
//! `exactly_once_kill: seed=.. cycles=.. records_checked=.. acked=.. ...
//! violations=0` (acked: input records covered by committed offsets at the
//! end).

mod common;

#[allow(dead_code, reason = "the example's main and constants are its own")]
#[path = "../examples/exactly_once.rs"]
mod exactly_once;

use common::*;
use samsa_log::consumer::IsolationLevel;
use samsa_log::Log;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const CHILD_TEST: &str = "exactly_once_child";
const ENV_DIR: &str = "SAMSA_EXACTLY_ONCE_CHILD_DIR";
const ENV_ITERATIONS: &str = "SAMSA_EXACTLY_ONCE_KILL_ITERATIONS";
const DEFAULT_CYCLES: u64 = 200;
/// Small transactions, so a kill lands in the middle of one often.
const MAX_POLL_RECORDS: usize = 5;
/// A child that prints nothing for this long is stuck.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// The group of the example (its `GROUP`).
const GROUP: &str = "uppercaser";

/// Not a test of its own: the child process of
/// [`kill_9_leaves_each_input_transformed_exactly_once`] (a no-op
/// otherwise). Runs the example's loop over the input, then prints `DONE`
/// and waits to be killed or, with nothing left, exits.
#[test]
fn exactly_once_child() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let log = Log::open(&dir).unwrap();
    let say = |line: &str| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "\n{line}").unwrap();
        out.flush().unwrap();
    };
    say("STARTED");
    let transactions = exactly_once::process(&log, MAX_POLL_RECORDS, None).unwrap();
    say(&format!("DONE {transactions}"));
    log.close().unwrap();
}

/// What the log holds after a run, checked against the input.
struct Check {
    /// Input records covered by committed offsets.
    covered: u64,
    /// Output records read.
    outputs: u64,
}

/// Reads the committed offsets and the `read_committed` output and checks
/// that they match: the outputs are exactly the upper-cased inputs below
/// the committed offsets, each once, in input order per key.
fn check(tally: &mut KillTally, log: &Log, ctx: &str) -> Check {
    let input = log.topic(exactly_once::INPUT).unwrap();
    let mut want: Vec<(String, String)> = Vec::new();
    let mut covered = 0;
    for p in 0..input.partition_count() {
        let committed = log
            .group(GROUP)
            .committed(exactly_once::INPUT, p)
            .map_or(0, |o| o.offset);
        let partition = input.partition(p).unwrap();
        tally.check(committed <= partition.high_watermark(), || {
            format!(
                "{ctx}: input {p}: committed {committed} past the end {}",
                partition.high_watermark()
            )
        });
        let mut at = 0;
        while at < committed {
            let records = partition.read(at, 1 << 20).unwrap();
            if records.is_empty() {
                tally.fail(format!("{ctx}: input {p}: nothing at {at}"));
            }
            for r in records.iter().take_while(|r| r.offset() < committed) {
                let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap()).into_owned();
                want.push((text(r.key()), text(r.value()).to_uppercase()));
                at = r.offset() + 1;
            }
        }
        covered += committed;
    }
    let seen = exactly_once::read_output(log).unwrap();
    tally.records_checked += seen.len() as u64;
    // Each input once: the same multiset of (key, value).
    let (mut sorted_want, mut sorted_seen) = (want.clone(), seen.clone());
    sorted_want.sort();
    sorted_seen.sort();
    tally.check(sorted_want == sorted_seen, || {
        let missing: Vec<_> = sorted_want
            .iter()
            .filter(|w| !sorted_seen.contains(w))
            .take(5)
            .collect();
        let extra: Vec<_> = sorted_seen
            .iter()
            .filter(|s| !sorted_want.contains(s))
            .take(5)
            .collect();
        format!(
            "{ctx}: {} outputs for {} committed inputs; missing {missing:?}, extra {extra:?}",
            seen.len(),
            want.len()
        )
    });
    // Per key, in input order: `EVENT i` with i growing.
    let mut last: std::collections::HashMap<&str, u64> = Default::default();
    for (key, value) in &seen {
        let n: u64 = value
            .strip_prefix("EVENT ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                tally.fail(format!("{ctx}: output {value:?} is no transformed input"))
            });
        if let Some(prev) = last.insert(key, n) {
            tally.check(prev < n, || {
                format!("{ctx}: key {key}: EVENT {n} after EVENT {prev}")
            });
        }
    }
    Check {
        covered,
        outputs: seen.len() as u64,
    }
}

fn reopen(tally: &mut KillTally, dir: &Path, ctx: &str) -> Log {
    Log::open(dir).unwrap_or_else(|e| tally.fail(format!("{ctx}: reopen: {e}")))
}

#[test]
fn kill_9_leaves_each_input_transformed_exactly_once() {
    if std::env::var_os(ENV_DIR).is_some() {
        return;
    }
    let cycles = crash_iterations(ENV_ITERATIONS, DEFAULT_CYCLES);
    let seed = crash_seed();
    let mut tally = KillTally::new("exactly_once_kill", seed);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut inputs = 0u32;
    {
        let log = Log::open(&dir).unwrap();
        exactly_once::create_topics(&log).unwrap();
        log.close().unwrap();
    }
    let mut covered_before = 0;
    for cycle in 0..cycles {
        let ctx = format!("cycle {cycle}");
        let log = reopen(&mut tally, &dir, &ctx);
        let more = rng.range(1, 30) as u32;
        exactly_once::append_input(&log, inputs..inputs + more).unwrap();
        inputs += more;
        log.close().unwrap();

        let child = ChildProc::spawn(CHILD_TEST, &[(ENV_DIR, dir.display().to_string())]);
        // Half the kills come after the child has started work (anywhere
        // in its loop); the rest at any moment, start-up included.
        if rng.range(0, 2) == 0 {
            match child.next_line(CHILD_TIMEOUT) {
                Ok(_) => {}
                Err(e) => tally.fail(format!("{ctx}: the child printed nothing: {e:?}")),
            }
        }
        std::thread::sleep(Duration::from_micros(rng.range(0, 40_000)));
        let (status, _, stderr) = child.kill();
        let finished = status.success();
        tally.add(if finished { "finished" } else { "killed" }, 1);
        tally.check(finished || status.code().is_none(), || {
            format!("{ctx}: the child failed ({status}):\n{stderr}")
        });

        let log = reopen(&mut tally, &dir, &ctx);
        let c = check(&mut tally, &log, &ctx);
        tally.check(c.covered >= covered_before, || {
            format!(
                "{ctx}: committed offsets went back: {} inputs covered, {covered_before} before",
                c.covered
            )
        });
        covered_before = c.covered;
        log.close().unwrap();
        tally.cycles += 1;
        tally.end_cycle();
    }

    // A last run to the end of the input, with no kill.
    let child = ChildProc::spawn(CHILD_TEST, &[(ENV_DIR, dir.display().to_string())]);
    let done = loop {
        match child.next_line(CHILD_TIMEOUT) {
            Ok(line) if line.starts_with("DONE") => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    let (status, _, stderr) = child.kill();
    tally.check(done, || format!("last run: no DONE ({status}):\n{stderr}"));
    let log = reopen(&mut tally, &dir, "last run");
    let c = check(&mut tally, &log, "last run");
    tally.check(
        c.covered == u64::from(inputs) && c.outputs == u64::from(inputs),
        || {
            format!(
                "last run: {} of {inputs} inputs committed, {} outputs",
                c.covered, c.outputs
            )
        },
    );
    // Aborted transactions' records are there for read_uncommitted only.
    let uncommitted = read_all_values(&log, IsolationLevel::ReadUncommitted);
    tally.add("aborted_outputs", uncommitted.saturating_sub(c.outputs));
    tally.acked = c.covered;
    log.close().unwrap();
    tally.finish();
}

/// How many output records a reader at `isolation` sees.
fn read_all_values(log: &Log, isolation: IsolationLevel) -> u64 {
    use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
    let mut reader = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .isolation_level(isolation),
        )
        .unwrap();
    reader
        .assign(&[(exactly_once::OUTPUT, 0), (exactly_once::OUTPUT, 1)])
        .unwrap();
    let mut n = 0;
    loop {
        let records = reader.poll(Duration::ZERO).unwrap();
        if records.is_empty() {
            return n;
        }
        n += records.len() as u64;
    }
}
