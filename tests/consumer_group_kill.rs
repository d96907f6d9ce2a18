//! Fault: a consumer-group member that commits after processing is killed
//! with SIGKILL (kill -9) at a random moment, again and again, and a new
//! member of the same group takes over each time: at-least-once, no
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
//! - every record of the topic is still there, byte-identical (value, and a
//!   key that hashes to its partition), and nothing else is;
//! - committed offsets never go backwards and never pass the high watermark;
//! - every record below a committed offset was processed by some child;
//! - the child started each partition exactly at the committed offset it
//!   found, and processed offsets without gaps from there, each record with
//!   the value produced at its offset.
//!
//! Every other child consumes with the async API instead: `recv_batch`
//! under a 20 ms timeout (which cancels it) and `commit_async` (written on
//! the commit thread), on a tokio current-thread runtime; the same checks
//! hold.
//!
//! Between children the parent produces a few more records. The last child
//! runs until it has committed everything; then every record was processed
//! at least once and the committed offsets equal the high watermarks.
//!
//! Kills: `SAMSA_GROUP_KILL_ITERATIONS`, else `SAMSA_CRASH_ITERATIONS` (soak
//! runs set thousands), else 100. The random schedule comes from
//! `SAMSA_CRASH_SEED` (default: the clock), printed so a failure can be
//! replayed. At the end the test prints `consumer_group_kill: seed=..
//! cycles=.. records_checked=.. acked=.. processed=.. ... violations=0`
//! (records checked: records of the topic compared with what was produced
//! after each reopen, plus processed records compared with the log; acked:
//! records the parent produced with `Acks::All` and saw delivered).

mod common;

use common::{crash_iterations, crash_seed, KillTally, Rng};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::kafka_partition_for_key;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
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
/// Set for every other child: it consumes with the async API
/// (`recv_batch` under a timeout, which cancels it, and `commit_async`,
/// written on the commit thread) on a tokio current-thread runtime.
const ENV_ASYNC: &str = "SAMSA_GROUP_KILL_CHILD_ASYNC";
const ENV_ITERATIONS: &str = "SAMSA_GROUP_KILL_ITERATIONS";
/// Kills in CI: with the other kill loops, a few hundred in well under a
/// minute and a half of a debug build on two cores.
const DEFAULT_CYCLES: u64 = 100;
const TOPIC: &str = "orders";
const GROUP: &str = "workers";
const PARTITIONS: u32 = 3;
/// Records produced before the first child.
const INITIAL_RECORDS: u64 = 300;
/// Most records the parent produces between two children: about what a
/// child processes before its kill, so the group keeps up and the log
/// stays small enough to reread whole after every kill.
const MORE_RECORDS_MAX: u64 = 40;
/// Most processed records before a kill: every commit is an fsync, and
/// this bounds a cycle's work.
const PROCESSED_BEFORE_KILL_MAX: u64 = 80;
/// Small polls, so a child commits often and a kill can land anywhere.
const MAX_POLL_RECORDS: usize = 7;
/// A child that neither finishes nor prints within this is stuck.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// What the parent produced at each offset of a partition: key and value.
type Produced = Vec<Vec<([u8; 8], String)>>;

fn open(dir: &Path) -> samsa_log::Result<Log> {
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
    let runtime = std::env::var_os(ENV_ASYNC).map(|_| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    });
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
        let records = match &runtime {
            Some(rt) => rt.block_on(async {
                // A timeout drops the pending recv_batch: nothing consumed.
                tokio::time::timeout(Duration::from_millis(20), consumer.recv_batch())
                    .await
                    .unwrap_or_else(|_| Ok(Default::default()))
            }),
            None => consumer.poll(Duration::from_millis(20)),
        }
        .unwrap();
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
            match &runtime {
                Some(rt) => rt.block_on(consumer.commit_async()).unwrap(),
                None => consumer.commit().unwrap(),
            }
        }
        let done = consumer.assignment().len() == PARTITIONS as usize
            && (0..PARTITIONS).all(|p| {
                log.group(GROUP).committed(TOPIC, p).map_or(0, |o| o.offset)
                    == high_watermark(&log, p)
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

fn run_child(tally: &mut KillTally, dir: &Path, end: End, asynchronous: bool, ctx: &str) -> Run {
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
    command.env_remove(ENV_ASYNC);
    if asynchronous {
        command.env(ENV_ASYNC, "1");
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
        tally.fail(format!(
            "{ctx}: the child {} ({status}) after {} records:\n{}\n{stderr}",
            trouble.unwrap_or("did not finish"),
            run.processed.len(),
            run.transcript
        ));
    }
    run
}

/// Checks the log after a child: every record is still what was produced,
/// committed offsets moved only forward, stayed within the log, and cover
/// only processed records. Produces `more` records. Returns the committed
/// offsets (0 for none) and the high watermarks.
#[expect(clippy::too_many_arguments, reason = "the loop's whole state, named")]
fn inspect(
    tally: &mut KillTally,
    dir: &Path,
    rng: &mut Rng,
    more: u64,
    produced: &mut Produced,
    processed: &[Vec<u32>],
    before: &[u64],
    ctx: &str,
) -> (Vec<u64>, Vec<u64>) {
    let log = open(dir).unwrap_or_else(|e| tally.fail(format!("{ctx}: reopen: {e}")));
    let mut committed = Vec::new();
    let mut hwms = Vec::new();
    for p in 0..PARTITIONS {
        let c = log.group(GROUP).committed(TOPIC, p).map_or(0, |o| o.offset);
        let hwm = high_watermark(&log, p);
        let want = &produced[p as usize];
        tally.check(hwm == want.len() as u64, || {
            format!(
                "{ctx}: partition {p}: high watermark {hwm} vs {} records produced",
                want.len()
            )
        });
        // The whole partition, record by record, against what was produced.
        let part = log.topic(TOPIC).unwrap().partition(p).unwrap();
        let mut at = 0;
        while at < hwm {
            let records = part
                .read(at, 1 << 20)
                .unwrap_or_else(|e| tally.fail(format!("{ctx}: partition {p}: read at {at}: {e}")));
            if records.is_empty() {
                tally.fail(format!("{ctx}: partition {p}: read at {at} is empty"));
            }
            for r in &records {
                let ok = r.offset() == at
                    && want.get(at as usize).is_some_and(|(k, v)| {
                        r.key() == Some(&k[..])
                            && r.value() == Some(v.as_bytes())
                            && kafka_partition_for_key(k, PARTITIONS) == p
                    });
                tally.check(ok, || {
                    format!(
                        "{ctx}: partition {p} offset {at}: read offset {} key {:?} value {:?}, produced {:?}",
                        r.offset(),
                        r.key(),
                        r.value().map(String::from_utf8_lossy),
                        want.get(at as usize)
                    )
                });
                tally.records_checked += 1;
                at += 1;
            }
        }
        tally.check(c >= before[p as usize], || {
            format!(
                "{ctx}: partition {p}: committed offset went back from {} to {c}",
                before[p as usize]
            )
        });
        tally.check(c <= hwm, || {
            format!("{ctx}: partition {p}: committed {c} past the high watermark {hwm}")
        });
        if let Some(o) = (0..c).find(|&o| {
            processed[p as usize]
                .get(o as usize)
                .is_none_or(|&n| n == 0)
        }) {
            tally.check(false, || {
                format!("{ctx}: partition {p}: committed {c}, but offset {o} was never processed")
            });
        }
        committed.push(c);
        hwms.push(hwm);
    }
    tally.end_cycle();
    if more > 0 {
        produce(tally, &log, rng, more, produced);
        for p in 0..PARTITIONS {
            hwms[p as usize] = high_watermark(&log, p);
        }
    }
    log.close().unwrap();
    (committed, hwms)
}

fn produce(tally: &mut KillTally, log: &Log, rng: &mut Rng, n: u64, produced: &mut Produced) {
    let producer = log.producer();
    let mut deliveries = Vec::new();
    let total: usize = produced.iter().map(Vec::len).sum();
    for i in 0..n {
        let value = format!("r{}", total as u64 + i);
        let key = rng.next_u64().to_le_bytes();
        let d = producer
            .send(TOPIC, Record::new(value.as_bytes()).key(&key))
            .unwrap();
        deliveries.push((key, value, d));
    }
    producer.flush().unwrap();
    for (key, value, d) in deliveries {
        let md = d.wait().unwrap();
        let p = md.partition as usize;
        assert_eq!(
            md.offset,
            produced[p].len() as u64,
            "delivered at an offset other than the partition's end"
        );
        produced[p].push((key, value));
        tally.acked += 1;
    }
}

/// Checks one child's records: each partition starts at the committed
/// offset the child found and goes on without gaps, with the produced
/// values; counts them in `processed`.
fn absorb(
    tally: &mut KillTally,
    run: &Run,
    start: &[u64],
    produced: &Produced,
    processed: &mut [Vec<u32>],
    ctx: &str,
) {
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for (p, o, v) in &run.processed {
        if *p >= PARTITIONS || *o >= produced[*p as usize].len() as u64 {
            tally.fail(format!(
                "{ctx}: processed partition {p} offset {o}, which was never produced"
            ));
        }
        let expected = *next.get(p).unwrap_or(&start[*p as usize]);
        tally.check(*o == expected, || {
            format!(
                "{ctx}: partition {p}: processed offset {o} where {expected} was next \
                 (the child found committed offset {})",
                start[*p as usize]
            )
        });
        tally.check(produced[*p as usize][*o as usize].1 == *v, || {
            format!("{ctx}: partition {p} offset {o}: processed value {v:?}")
        });
        tally.records_checked += 1;
        next.insert(*p, o + 1);
        processed[*p as usize][*o as usize] += 1;
    }
    tally.end_cycle();
}

/// Fault: SIGKILL of a group member that commits after processing, at a
/// random moment, cycle after cycle (see the module docs for the checks).
#[test]
fn kill_9_loses_no_committed_record() {
    let iterations = crash_iterations(ENV_ITERATIONS, DEFAULT_CYCLES);
    let seed = crash_seed();
    // Shown with the failure output: replay with SAMSA_CRASH_SEED.
    eprintln!("consumer_group_kill: SAMSA_CRASH_SEED={seed} cycles {iterations}");
    let mut tally = KillTally::new("consumer_group_kill", seed);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut produced: Produced = vec![Vec::new(); PARTITIONS as usize];
    {
        let log = open(&dir).unwrap();
        log.create_topic(
            TOPIC,
            TopicConfig::default()
                .partitions(PARTITIONS)
                .sync(SyncPolicy::Always),
        )
        .unwrap();
        produce(&mut tally, &log, &mut rng, INITIAL_RECORDS, &mut produced);
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
            rng.range(0, MORE_RECORDS_MAX + 1)
        };
        let ctx = format!("seed {seed}, child {it}");
        let (now, hwms) = inspect(
            &mut tally,
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
            let most = remaining.min(PROCESSED_BEFORE_KILL_MAX);
            End::KillAfter(rng.range(0, most + 1), Duration::from_micros(delay))
        };
        let ctx = format!("{ctx} ({end:?}, committed {committed:?}, high watermarks {hwms:?})");
        // Every other child consumes with the async API.
        let asynchronous = tally.cycles % 2 == 1;
        let ctx = format!("{ctx}{}", if asynchronous { " (async)" } else { "" });
        let run = run_child(&mut tally, &dir, end, asynchronous, &ctx);
        if !last {
            tally.cycles += 1;
        }
        if run.processed.is_empty() {
            kills_before_processing += 1;
        }
        let before: u64 = processed.iter().flatten().filter(|&&n| n > 0).count() as u64;
        absorb(
            &mut tally,
            &run,
            &committed,
            &produced,
            &mut processed,
            &ctx,
        );
        let after: u64 = processed.iter().flatten().filter(|&&n| n > 0).count() as u64;
        let again = run.processed.len() as u64 - (after - before);
        tally.add("processed", run.processed.len() as u64);
        redelivered_total += again;
    }
    // After the last child: everything committed, everything processed.
    let ctx = format!("seed {seed}, after the last child");
    let log = open(&dir).unwrap_or_else(|e| tally.fail(format!("{ctx}: reopen: {e}")));
    for p in 0..PARTITIONS {
        let hwm = high_watermark(&log, p);
        let c = log.group(GROUP).committed(TOPIC, p).map(|o| o.offset);
        tally.check(c == Some(hwm), || {
            format!("{ctx}: partition {p}: committed offset {c:?} vs high watermark {hwm}")
        });
        tally.check(c >= Some(committed[p as usize]), || {
            format!("{ctx}: went back")
        });
        if let Some(o) = processed[p as usize].iter().position(|&n| n == 0) {
            tally.check(false, || {
                format!("{ctx}: partition {p} offset {o} was never processed")
            });
        }
    }
    let lag: u64 = log.group(GROUP).lag().unwrap().iter().map(|l| l.lag).sum();
    tally.check(lag == 0, || format!("{ctx}: lag {lag}"));
    tally.add("redelivered", redelivered_total);
    tally.add("kills_before_processing", kills_before_processing);
    tally.add("committed", committed_total(&log));
    tally.finish();
}

fn committed_total(log: &Log) -> u64 {
    (0..PARTITIONS)
        .map(|p| log.group(GROUP).committed(TOPIC, p).map_or(0, |o| o.offset))
        .sum()
}
