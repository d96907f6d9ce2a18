//! Scenario: the process is killed with SIGKILL (kill -9) at a random
//! moment while appending under `SyncPolicy::Always`: between appends, in
//! the middle of one, during a segment roll, or while it is still opening
//! and recovering the log. After every kill the log must reopen as a prefix
//! of what was sent, dense from offset 0, holding every acknowledged record
//! byte-identical. The same directory is reused across kills, so the log
//! grows through many crash-and-recover cycles.
//!
//! The appending process is this test binary itself, re-run with
//! `--exact crash_child_appender` and the directory in an environment
//! variable. Iterations: `SAMSA_CRASH_ITERATIONS` (default 20); the random
//! schedule comes from `SAMSA_CRASH_SEED` (default: the clock), printed so a
//! failure can be replayed.

mod common;

use common::*;
use samsa::{Partition, PartitionConfig, SyncPolicy};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_TEST: &str = "crash_child_appender";
const ENV_DIR: &str = "SAMSA_CRASH_CHILD_DIR";
const ENV_DATA_SEED: &str = "SAMSA_CRASH_CHILD_DATA_SEED";
const ENV_SEGMENT_BYTES: &str = "SAMSA_CRASH_CHILD_SEGMENT_BYTES";

/// Segment size for the iterations that roll often: room for the largest
/// generated batch (four records of up to 5 KB), small enough to roll every
/// few dozen records.
const SMALL_SEGMENT_BYTES: u64 = 32 << 10;

fn config(segment_bytes: u64) -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(segment_bytes)
        .index_interval_bytes(1024)
        .sync(SyncPolicy::Always)
}

/// Records per append at `offset`: 1 to 4, a function of the offset only,
/// so what the child sends from any point on is fixed in advance.
fn batch_len(data_seed: u64, offset: u64) -> u64 {
    1 + mix(data_seed ^ offset.rotate_left(17)) % 4
}

/// Not a test of its own: the child process of
/// [`kill_9_never_loses_an_acknowledged_record`] (a no-op otherwise). Opens
/// the partition and appends `gen_rec(seed, offset)` forever, printing
/// `ACK <last offset>` (flushed) after each acknowledged append.
#[test]
fn crash_child_appender() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let env_u64 = |name: &str| -> u64 { std::env::var(name).unwrap().parse().unwrap() };
    let data_seed = env_u64(ENV_DATA_SEED);
    let p = Partition::open(&dir, config(env_u64(ENV_SEGMENT_BYTES))).unwrap();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "\nOPENED {}", p.high_watermark()).unwrap();
    out.flush().unwrap();
    loop {
        let n = batch_len(data_seed, p.log_end_offset());
        let info = append_gen(&p, data_seed, n).unwrap();
        writeln!(out, "ACK {}", info.last_offset).unwrap();
        out.flush().unwrap();
    }
}

/// What one child run did before it was killed.
struct Run {
    /// The largest acknowledged offset, if any append was acknowledged.
    max_acked: Option<u64>,
    acks: u64,
    /// The high watermark the child found when it opened, if it got there.
    opened_at: Option<u64>,
}

/// Starts a child appending into `dir`, kills it with SIGKILL after
/// `kill_after` acknowledgements plus `delay`, and collects every
/// acknowledgement it printed (including those printed before the kill
/// landed).
fn run_child(
    dir: &Path,
    data_seed: u64,
    segment_bytes: u64,
    kill_after: u64,
    delay: Duration,
) -> Run {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(ENV_DIR, dir)
        .env(ENV_DATA_SEED, data_seed.to_string())
        .env(ENV_SEGMENT_BYTES, segment_bytes.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut run = Run {
        max_acked: None,
        acks: 0,
        opened_at: None,
    };
    let mut transcript = String::new();
    let mut note = |line: &str, run: &mut Run| {
        if let Some(o) = line.strip_prefix("ACK ") {
            let o: u64 = o.parse().unwrap();
            assert!(run.max_acked < Some(o), "acknowledgements went backwards");
            run.max_acked = Some(o);
            run.acks += 1;
        } else if let Some(hw) = line.strip_prefix("OPENED ") {
            run.opened_at = Some(hw.parse().unwrap());
        } else {
            transcript.push_str(line);
            transcript.push('\n');
        }
    };
    let mut ended_early = false;
    while run.acks < kill_after {
        match lines.next() {
            Some(line) => note(&line.unwrap(), &mut run),
            None => {
                ended_early = true;
                break;
            }
        }
    }
    std::thread::sleep(delay);
    // SIGKILL on Unix.
    let _ = child.kill();
    let status = child.wait().unwrap();
    for line in lines {
        note(&line.unwrap(), &mut run);
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        !ended_early,
        "the child stopped by itself ({status}) after {} acks:\n{transcript}\n{stderr}",
        run.acks
    );
    run
}

#[test]
fn kill_9_never_loses_an_acknowledged_record() {
    let iterations: u64 = std::env::var("SAMSA_CRASH_ITERATIONS")
        .map(|v| v.parse().expect("SAMSA_CRASH_ITERATIONS is a number"))
        .unwrap_or(20);
    let seed: u64 = std::env::var("SAMSA_CRASH_SEED")
        .map(|v| v.parse().expect("SAMSA_CRASH_SEED is a number"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    // Shown with the failure output: replay with SAMSA_CRASH_SEED.
    eprintln!("crash_kill: SAMSA_CRASH_SEED={seed} SAMSA_CRASH_ITERATIONS={iterations}");
    let mut rng = Rng::new(seed);
    let data_seed = seed;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let mut max_acked: Option<u64> = None;
    let mut hw_before = 0u64;
    let mut killed_while_opening = 0;
    for it in 0..iterations {
        let segment_bytes = if rng.range(0, 3) == 0 {
            SMALL_SEGMENT_BYTES
        } else {
            1 << 30
        };
        // Now and then kill before any acknowledgement: while the child
        // starts, opens or recovers the log.
        let (kill_after, delay) = if rng.range(0, 8) == 0 {
            (0, Duration::from_micros(rng.range(0, 10_000)))
        } else {
            (
                rng.range(1, 150),
                Duration::from_micros(rng.range(0, 2_000)),
            )
        };
        let ctx = format!(
            "seed {seed}, iteration {it} (segment_bytes {segment_bytes}, kill after {kill_after} acks + {delay:?})"
        );
        let run = run_child(&dir, data_seed, segment_bytes, kill_after, delay);
        if run.opened_at.is_none() {
            killed_while_opening += 1;
        }
        if let Some(at) = run.opened_at {
            assert!(
                at >= hw_before,
                "{ctx}: the child opened at {at}, below the HW {hw_before}"
            );
        }
        max_acked = max_acked.max(run.max_acked);

        let p = Partition::open(&dir, config(segment_bytes))
            .unwrap_or_else(|e| panic!("{ctx}: reopen after kill: {e}"));
        let hw = p.high_watermark();
        if let Some(acked) = max_acked {
            assert!(
                hw > acked,
                "{ctx}: acknowledged offset {acked} lost: HW {hw}"
            );
        }
        assert!(
            hw >= hw_before,
            "{ctx}: the log shrank from {hw_before} to {hw}"
        );
        // Dense from 0, each record what the child would have sent there:
        // the whole log in large reads, the part this child added (and a
        // little before it) batch by batch.
        let all = read_all_with(&p, 1 << 20).unwrap_or_else(|e| panic!("{ctx}: read: {e}"));
        assert_eq!(all.len() as u64, hw, "{ctx}: record count vs HW");
        for (o, r) in all.iter().enumerate() {
            assert_eq!(
                r,
                &gen_rec(data_seed, o as u64),
                "{ctx}: record {o} differs"
            );
        }
        let mut at = hw_before.saturating_sub(10);
        while at < hw {
            let r = p
                .read(at, 1)
                .unwrap_or_else(|e| panic!("{ctx}: read at {at}: {e}"));
            for rec in &r {
                assert_eq!(
                    Rec::from_ref(&rec),
                    gen_rec(data_seed, at),
                    "{ctx}: read at {at}"
                );
                at += 1;
            }
        }
        // Whole batches only: the log ends where an append of the child's
        // schedule ends.
        let mut end = 0;
        while end < hw {
            end += batch_len(data_seed, end);
        }
        assert_eq!(end, hw, "{ctx}: the log ends inside a batch");
        hw_before = hw;
        if rng.range(0, 2) == 0 {
            p.close().unwrap();
        } else {
            drop(p);
        }
    }
    eprintln!(
        "crash_kill: {iterations} kills, {} records, {killed_while_opening} kills before open completed",
        hw_before
    );
    assert!(max_acked.is_some(), "no append was ever acknowledged");
}
