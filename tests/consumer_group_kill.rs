//! Scenario: a consumer-group member that commits after processing is
//! killed with SIGKILL (kill -9) at a random moment, again and again, and a
//! new member of the same group takes over each time: at-least-once, no
//! committed record lost to the group.
//!
//! The parent produces records into a `SyncPolicy::Always` topic, then runs
//! children: this test binary re-run with `--exact group_kill_child` and the
//! directory in an environment variable. A child opens the log, subscribes,
//! and for every record a poll returns writes `processed <partition>
//! <offset> <value>` to stdout (flushed) before it commits the poll's
//! positions. The parent kills it after a random number of processed lines
//! plus a random delay (sometimes before it processed anything: while it
//! starts, opens, recovers or joins), then reopens the log and checks, after
//! every kill:
//! - committed offsets never go backwards and never pass the high watermark;
//! - every record below a committed offset was processed by some child;
//! - the child started each partition exactly at the committed offset it
//!   found, and processed offsets without gaps from there, each record with
//!   the value produced at its offset.
//!
//! Between children the parent produces a few more records. The last child
//! runs until it has committed everything; then every record was processed
//! at least once and the committed offsets equal the high watermarks.
//!
//! Kills: `SAMSA_CRASH_ITERATIONS` (default 10); the random schedule comes
//! from `SAMSA_CRASH_SEED` (default: the clock), printed so a failure can be
//! replayed.

mod common;

use common::Rng;
use samsa::{AutoOffsetReset, ConsumerConfig, Log, Record, SyncPolicy, TopicConfig};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

const CHILD_TEST: &str = "group_kill_child";
const ENV_DIR: &str = "SAMSA_GROUP_KILL_CHILD_DIR";
/// Set for the last child: it exits once everything is committed.
const ENV_FINAL: &str = "SAMSA_GROUP_KILL_CHILD_FINAL";
const TOPIC: &str = "orders";
const GROUP: &str = "workers";
const PARTITIONS: u32 = 3;
/// Records produced before the first child.
const INITIAL_RECORDS: u64 = 1200;
/// Small polls, so a child commits often and a kill can land anywhere.
const MAX_POLL_RECORDS: usize = 7;
/// A child that neither finishes nor prints within this is stuck.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn open(dir: &Path) -> samsa::Result<Log> {
    Log::builder().sync(SyncPolicy::Always).open(dir)
}

fn high_watermark(log: &Log, partition: u32) -> u64 {
    log.topic(TOPIC)
        .unwrap()
        .partition(partition)
        .unwrap()
        .high_watermark()
}

/// Not a test of its own: the child process of
/// [`kill_9_loses_no_committed_record`] (a no-op otherwise). Consumes the
/// topic as a member of the group, printing each record before committing
/// the poll that returned it. Without `ENV_FINAL` it polls until killed;
/// with it, it exits once every partition is committed to its end.
#[test]
fn group_kill_child() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let final_run = std::env::var_os(ENV_FINAL).is_some();
    let log = open(Path::new(&dir)).unwrap();
    let mut consumer = log
        .consumer(
            ConsumerConfig::new(GROUP)
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .enable_auto_commit(false)
                .max_poll_records(MAX_POLL_RECORDS),
        )
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "\nSTARTED").unwrap();
    out.flush().unwrap();
    loop {
        let records = consumer.poll(Duration::from_millis(20)).unwrap();
        if !records.is_empty() {
            for r in &records {
                writeln!(
                    out,
                    "processed {} {} {}",
                    r.partition(),
                    r.offset(),
                    String::from_utf8_lossy(r.value().unwrap_or_default())
                )
                .unwrap();
            }
            // Processed (the lines are out) before committed.
            out.flush().unwrap();
            consumer.commit().unwrap();
        }
        let done = consumer.assignment().len() == PARTITIONS as usize
            && (0..PARTITIONS).all(|p| {
                log.committed(GROUP, TOPIC, p).map_or(0, |o| o.offset) == high_watermark(&log, p)
            });
        if done && final_run {
            writeln!(out, "DONE").unwrap();
            out.flush().unwrap();
            consumer.close().unwrap();
            log.close().unwrap();
            return;
        }
    }
}

/// What one child printed.
#[derive(Default)]
struct Run {
    started: bool,
    done: bool,
    /// (partition, offset, value), in the order processed.
    processed: Vec<(u32, u64, String)>,
    transcript: String,
}

impl Run {
    fn note(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("processed ") {
            let mut parts = rest.splitn(3, ' ');
            let p = parts.next().and_then(|s| s.parse().ok());
            let o = parts.next().and_then(|s| s.parse().ok());
            let v = parts.next();
            if let (Some(p), Some(o), Some(v)) = (p, o, v) {
                self.processed.push((p, o, v.to_owned()));
                return;
            }
        }
        match line {
            "STARTED" => self.started = true,
            "DONE" => self.done = true,
            _ => {
                self.transcript.push_str(line);
                self.transcript.push('\n');
            }
        }
    }
}

/// How a child run ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// SIGKILL after this many processed lines, plus the delay.
    KillAfter(u64, Duration),
    /// SIGKILL this long after the start, whatever it is doing.
    KillAt(Duration),
    /// It runs until it has committed everything and exits.
    Finish,
}

fn run_child(dir: &Path, end: End, ctx: &str) -> Run {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(ENV_DIR, dir)
        .env_remove(ENV_FINAL)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let End::Finish = end {
        command.env(ENV_FINAL, "1");
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let mut run = Run::default();
    // Some(reason) if the child stopped by itself or got stuck.
    let mut trouble = None;
    match end {
        End::KillAt(delay) => std::thread::sleep(delay),
        End::KillAfter(after, delay) => {
            while (run.processed.len() as u64) < after {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(line) => run.note(&line),
                    Err(RecvTimeoutError::Disconnected) => {
                        trouble = Some("stopped by itself");
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        trouble = Some("stuck");
                        break;
                    }
                }
            }
            std::thread::sleep(delay);
        }
        End::Finish => loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => run.note(&line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    trouble = Some("stuck");
                    break;
                }
            }
        },
    }
    if !matches!(end, End::Finish) || trouble.is_some() {
        // SIGKILL on Unix.
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    for line in rx.try_iter() {
        run.note(&line);
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let finished_ok = matches!(end, End::Finish) && status.success() && run.done;
    if trouble.is_some() || (matches!(end, End::Finish) && !finished_ok) {
        panic!(
            "{ctx}: the child {} ({status}) after {} records:\n{}\n{stderr}",
            trouble.unwrap_or("did not finish"),
            run.processed.len(),
            run.transcript
        );
    }
    run
}

/// Checks the log after a child: committed offsets moved only forward,
/// stayed within the log, and cover only processed records. Produces
/// `more` records. Returns the committed offsets (0 for none) and the high
/// watermarks.
fn inspect(
    dir: &Path,
    rng: &mut Rng,
    more: u64,
    produced: &mut [Vec<String>],
    processed: &[Vec<u32>],
    before: &[u64],
    ctx: &str,
) -> (Vec<u64>, Vec<u64>) {
    let log = open(dir).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    let mut committed = Vec::new();
    let mut hwms = Vec::new();
    for p in 0..PARTITIONS {
        let c = log.committed(GROUP, TOPIC, p).map_or(0, |o| o.offset);
        let hwm = high_watermark(&log, p);
        assert_eq!(
            hwm,
            produced[p as usize].len() as u64,
            "{ctx}: partition {p}: high watermark vs records produced"
        );
        assert!(
            c >= before[p as usize],
            "{ctx}: partition {p}: committed offset went back from {} to {c}",
            before[p as usize]
        );
        assert!(
            c <= hwm,
            "{ctx}: partition {p}: committed {c} past the high watermark {hwm}"
        );
        if let Some(o) = (0..c).find(|&o| processed[p as usize][o as usize] == 0) {
            panic!("{ctx}: partition {p}: committed {c}, but offset {o} was never processed");
        }
        committed.push(c);
        hwms.push(hwm);
    }
    if more > 0 {
        produce(&log, rng, more, produced);
        for p in 0..PARTITIONS {
            hwms[p as usize] = high_watermark(&log, p);
        }
    }
    log.close().unwrap();
    (committed, hwms)
}

fn produce(log: &Log, rng: &mut Rng, n: u64, produced: &mut [Vec<String>]) {
    let producer = log.producer();
    let mut deliveries = Vec::new();
    let total: usize = produced.iter().map(Vec::len).sum();
    for i in 0..n {
        let value = format!("r{}", total as u64 + i);
        let key = rng.next_u64().to_le_bytes();
        let d = producer
            .send(TOPIC, Record::new(value.as_bytes()).key(&key))
            .unwrap();
        deliveries.push((value, d));
    }
    producer.flush().unwrap();
    for (value, d) in deliveries {
        let md = d.wait().unwrap();
        let p = md.partition as usize;
        assert_eq!(md.offset, Some(produced[p].len() as u64));
        produced[p].push(value);
    }
}

/// Checks one child's records: each partition starts at the committed
/// offset the child found and goes on without gaps, with the produced
/// values; counts them in `processed`.
fn absorb(
    run: &Run,
    start: &[u64],
    produced: &[Vec<String>],
    processed: &mut [Vec<u32>],
    ctx: &str,
) {
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for (p, o, v) in &run.processed {
        assert!(*p < PARTITIONS, "{ctx}: a record of partition {p}");
        let expected = *next.get(p).unwrap_or(&start[*p as usize]);
        assert_eq!(
            *o, expected,
            "{ctx}: partition {p}: processed offset {o} where {expected} was next \
             (the child found committed offset {})",
            start[*p as usize]
        );
        assert_eq!(
            Some(v),
            produced[*p as usize].get(*o as usize),
            "{ctx}: partition {p} offset {o}: value"
        );
        next.insert(*p, o + 1);
        processed[*p as usize][*o as usize] += 1;
    }
}

#[test]
fn kill_9_loses_no_committed_record() {
    let iterations: u64 = std::env::var("SAMSA_CRASH_ITERATIONS")
        .map(|v| v.parse().expect("SAMSA_CRASH_ITERATIONS is a number"))
        .unwrap_or(10);
    let seed: u64 = std::env::var("SAMSA_CRASH_SEED")
        .map(|v| v.parse().expect("SAMSA_CRASH_SEED is a number"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    // Shown with the failure output: replay with SAMSA_CRASH_SEED.
    eprintln!("consumer_group_kill: SAMSA_CRASH_SEED={seed} SAMSA_CRASH_ITERATIONS={iterations}");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut produced: Vec<Vec<String>> = vec![Vec::new(); PARTITIONS as usize];
    {
        let log = open(&dir).unwrap();
        log.create_topic(
            TOPIC,
            TopicConfig::default()
                .partitions(PARTITIONS)
                .sync(SyncPolicy::Always),
        )
        .unwrap();
        produce(&log, &mut rng, INITIAL_RECORDS, &mut produced);
        log.close().unwrap();
    }
    // How often each record was processed, across all children.
    let mut processed: Vec<Vec<u32>> = produced.iter().map(|p| vec![0; p.len()]).collect();
    let mut committed = vec![0u64; PARTITIONS as usize];
    let mut kills_before_processing = 0;
    let mut redelivered_total = 0u64;
    for it in 0..=iterations {
        let last = it == iterations;
        let more = if it == 0 || last {
            0
        } else {
            rng.range(0, 150)
        };
        let ctx = format!("seed {seed}, child {it}");
        let (now, hwms) = inspect(
            &dir,
            &mut rng,
            more,
            &mut produced,
            &processed,
            &committed,
            &ctx,
        );
        committed = now;
        for (p, counts) in processed.iter_mut().enumerate() {
            counts.resize(produced[p].len(), 0);
        }
        let remaining: u64 = hwms.iter().zip(&committed).map(|(h, c)| h - c).sum();
        let end = if last {
            End::Finish
        } else if rng.range(0, 5) == 0 {
            // Anywhere in its start: exec, open, recovery, join.
            End::KillAt(Duration::from_micros(rng.range(0, 40_000)))
        } else {
            // Half the time at once: the child has just printed a poll's
            // records and is committing them.
            let delay = if rng.range(0, 2) == 0 {
                0
            } else {
                rng.range(0, 500)
            };
            End::KillAfter(rng.range(0, remaining.max(1)), Duration::from_micros(delay))
        };
        let ctx = format!("{ctx} ({end:?}, committed {committed:?}, high watermarks {hwms:?})");
        let run = run_child(&dir, end, &ctx);
        if run.processed.is_empty() {
            kills_before_processing += 1;
        }
        let before: u64 = processed.iter().flatten().filter(|&&n| n > 0).count() as u64;
        absorb(&run, &committed, &produced, &mut processed, &ctx);
        let after: u64 = processed.iter().flatten().filter(|&&n| n > 0).count() as u64;
        let again = run.processed.len() as u64 - (after - before);
        redelivered_total += again;
        eprintln!(
            "child {it}: {end:?}: found committed {committed:?} of {hwms:?}, processed {} ({again} again)",
            run.processed.len()
        );
    }
    // After the last child: everything committed, everything processed.
    let ctx = format!("seed {seed}, after the last child");
    let log = open(&dir).unwrap();
    for p in 0..PARTITIONS {
        let hwm = high_watermark(&log, p);
        let c = log.committed(GROUP, TOPIC, p).map(|o| o.offset);
        assert_eq!(
            c,
            Some(hwm),
            "{ctx}: partition {p}: committed offset vs high watermark"
        );
        assert!(c.unwrap() >= committed[p as usize], "{ctx}: went back");
        if let Some(o) = processed[p as usize].iter().position(|&n| n == 0) {
            panic!("{ctx}: partition {p} offset {o} was never processed");
        }
    }
    let lag: u64 = log.lag(GROUP).unwrap().iter().map(|l| l.lag).sum();
    assert_eq!(lag, 0, "{ctx}: lag");
    let total: usize = produced.iter().map(Vec::len).sum();
    eprintln!(
        "consumer_group_kill: {iterations} kills ({kills_before_processing} before any record), \
         {total} records, {redelivered_total} processed again after a kill"
    );
}
