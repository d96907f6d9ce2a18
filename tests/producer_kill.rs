//! Fault: a process that produces durably through the public `Producer`
//! (`Acks::All`, idempotence on: the defaults) into a `SyncPolicy::Always`
//! topic, and in most runs also consumes the same topic in a group and
//! commits after processing, is killed with SIGKILL (kill -9) at a random
//! moment: with batches lingering in the producer's buffer, written and
//! waiting for their fsync, mid-commit, mid-rebalance, or while the process
//! is still starting, opening and recovering the log (and, in the first
//! runs, creating `__consumer_offsets`).
//!
//! The child is this test binary re-run with `--exact producer_kill_child`.
//! It finds the highest sequence number in the topic and sends the records
//! after it, `gen_rec(seed, seq)` with a `seq` header, keeping a random
//! number of deliveries in flight and printing `ACK <seq> <partition>
//! <offset>` once each is delivered; its consumer thread prints `PROC
//! <partition> <offset> <seq>` for each record before committing the poll.
//! After every kill the parent reopens the log and checks:
//! - each partition is dense from offset 0, holds what it held before the
//!   kill as a prefix, and every record is byte-identical to the record of
//!   its sequence number (key, value, headers, timestamp);
//! - no sequence number appears twice (no duplicate from a retried batch),
//!   sequence numbers rise within a partition, and keyed records sit in the
//!   partition Kafka's partitioner gives their key;
//! - every delivery the child reported is there, at its offset;
//! - records the consumer processed are the log's records at those
//!   offsets, contiguous from the committed offset the child found;
//!   committed offsets never go back or pass the high watermark, and every
//!   record below them was processed;
//! - the recovered log takes new records from a new producer at the next
//!   offsets (now and then the parent sends a few itself).
//!
//! The same directory serves `CYCLES_PER_DIR` kills, then a fresh one
//! starts, so a soak run's checks stay linear in its length.
//!
//! Cycles: `SAMSA_PRODUCER_KILL_ITERATIONS`, else `SAMSA_CRASH_ITERATIONS`
//! (soak runs set thousands), else 100. The random schedule comes from
//! `SAMSA_CRASH_SEED` (default: the clock), printed so a failure can be
//! replayed. At the end the test prints `producer_kill: seed=.. cycles=..
//! records_checked=.. acked=.. ... violations=0` (records checked: compared
//! byte for byte after a reopen; acked: deliveries the children reported).

mod common;

use common::*;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::kafka_partition_for_key;
use samsa_log::record::{Header, RecordRef};
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record, Topic};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

const CHILD_TEST: &str = "producer_kill_child";
const ENV_DIR: &str = "SAMSA_PRODUCER_KILL_CHILD_DIR";
const ENV_DATA_SEED: &str = "SAMSA_PRODUCER_KILL_CHILD_DATA_SEED";
/// Deliveries the child keeps in flight.
const ENV_WINDOW: &str = "SAMSA_PRODUCER_KILL_CHILD_WINDOW";
/// Set when the child also consumes and commits.
const ENV_CONSUME: &str = "SAMSA_PRODUCER_KILL_CHILD_CONSUME";
const ENV_ITERATIONS: &str = "SAMSA_PRODUCER_KILL_ITERATIONS";
/// Cycles in CI: with the other kill loops, a few hundred in well under a
/// minute and a half of a debug build on two cores.
const DEFAULT_CYCLES: u64 = 100;
/// Kills against one directory before a fresh one.
const CYCLES_PER_DIR: u64 = 250;
const TOPIC: &str = "events";
const GROUP: &str = "processors";
const PARTITIONS: u32 = 3;
/// Small segments, so appends roll segments now and then.
const SEGMENT_BYTES: u64 = 64 << 10;
/// Small polls, so the consumer commits often and a kill can land anywhere.
const MAX_POLL_RECORDS: usize = 7;
/// A child that prints nothing for this long is stuck.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn open(dir: &Path) -> samsa_log::Result<Log> {
    Log::builder().sync(SyncPolicy::Always).open(dir)
}

/// The record with sequence number `seq`: `gen_rec(data_seed, seq)` with a
/// first header `seq` holding the number, at `offset`.
fn expected(data_seed: u64, seq: u64, offset: u64) -> Rec {
    let mut r = gen_rec(data_seed, seq);
    r.offset = offset;
    r.headers
        .insert(0, ("seq".to_owned(), Some(seq.to_le_bytes().to_vec())));
    r
}

/// The sequence number in a record's first header, if it has one.
fn seq_of(r: &RecordRef<'_>) -> Option<u64> {
    let h = r.headers().next()?;
    (h.key == "seq").then(|| h.value?.try_into().ok().map(u64::from_le_bytes))?
}

/// One past the highest sequence number in the topic (0 if empty): each
/// partition's last record holds its highest.
fn next_seq(topic: &Topic) -> u64 {
    topic
        .partitions()
        .iter()
        .filter(|p| p.high_watermark() > 0)
        .map(|p| {
            let r = p.read(p.high_watermark() - 1, 1 << 20).unwrap();
            let last = r.iter().last().expect("the last record reads back");
            seq_of(&last).expect("every record has a seq header") + 1
        })
        .max()
        .unwrap_or(0)
}

/// Writes one whole line to stdout and flushes it: a single `write` to the
/// pipe, so lines of the two threads never interleave.
fn say(out: &Mutex<()>, line: String) {
    let _one_at_a_time = out.lock().unwrap();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdout.flush().unwrap();
}

/// Ends the child when its consumer thread meets an error: the parent sees
/// the child stop by itself, with this line in the transcript.
fn consumer_failed(out: &Mutex<()>, op: &str, e: samsa_log::Error) -> ! {
    say(out, format!("consumer {op} failed: {e}"));
    std::process::exit(3)
}

/// Not a test of its own: the child process of
/// [`kill_9_loses_no_delivered_record`] (a no-op otherwise). Produces
/// records forever, printing each delivery; with `ENV_CONSUME`, a second
/// thread consumes the topic in a group, printing each record before it
/// commits the poll that returned it.
#[test]
fn producer_kill_child() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let env_u64 = |name: &str| -> u64 { std::env::var(name).unwrap().parse().unwrap() };
    let data_seed = env_u64(ENV_DATA_SEED);
    let window = env_u64(ENV_WINDOW) as usize;
    let out: &'static Mutex<()> = Box::leak(Box::new(Mutex::new(())));
    let log = open(Path::new(&dir)).unwrap();
    let topic = log.topic(TOPIC).unwrap();
    let mut seq = next_seq(&topic);
    say(out, format!("\nOPENED {seq}"));
    if std::env::var_os(ENV_CONSUME).is_some() {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut consumer = log
                .consumer(
                    ConsumerConfig::new(GROUP)
                        .auto_offset_reset(AutoOffsetReset::Earliest)
                        .enable_auto_commit(false)
                        .max_poll_records(MAX_POLL_RECORDS),
                )
                .unwrap();
            consumer.subscribe(&[TOPIC]).unwrap();
            loop {
                let records = consumer
                    .poll(Duration::from_millis(20))
                    .unwrap_or_else(|e| consumer_failed(out, "poll", e));
                for r in &records {
                    let seq = r.headers().next().map(|h| {
                        u64::from_le_bytes(
                            h.value
                                .unwrap_or_default()
                                .try_into()
                                .expect("an 8-byte seq header"),
                        )
                    });
                    let seq = seq.expect("every record has a seq header");
                    say(out, format!("PROC {} {} {seq}", r.partition(), r.offset()));
                }
                // Processed (the lines are out) before committed.
                if !records.is_empty() {
                    if let Err(e) = consumer.commit() {
                        consumer_failed(out, "commit", e);
                    }
                }
            }
        });
    }
    let producer = log.producer();
    let mut in_flight = VecDeque::new();
    loop {
        while in_flight.len() < window {
            let r = expected(data_seed, seq, 0);
            let headers: Vec<Header<'_>> = r
                .headers
                .iter()
                .map(|(k, v)| common::header(k, v))
                .collect();
            let mut record = match &r.value {
                Some(v) => Record::new(v),
                None => Record::default(),
            };
            if let Some(k) = &r.key {
                record = record.key(k);
            }
            let d = producer
                .send(TOPIC, record.headers(&headers).timestamp(r.timestamp))
                .unwrap();
            in_flight.push_back((seq, d));
            seq += 1;
        }
        let (s, d) = in_flight.pop_front().unwrap();
        let md = d.wait().unwrap();
        say(out, format!("ACK {s} {} {}", md.partition, md.offset));
    }
}

/// What one child printed before it was killed.
#[derive(Default)]
struct Run {
    /// The sequence number it started from, if it got that far.
    opened: Option<u64>,
    /// (seq, partition, offset) of each reported delivery.
    acks: Vec<(u64, u32, u64)>,
    /// (partition, offset, seq) of each processed record, in order.
    processed: Vec<(u32, u64, u64)>,
    transcript: String,
}

impl Run {
    fn note(&mut self, line: &str) {
        let nums: Vec<u64> = line
            .split(' ')
            .skip(1)
            .map_while(|w| w.parse().ok())
            .collect();
        match (line.split(' ').next(), nums.as_slice()) {
            (Some("OPENED"), &[seq]) => self.opened = Some(seq),
            (Some("ACK"), &[seq, p, o]) => self.acks.push((seq, p as u32, o)),
            (Some("PROC"), &[p, o, seq]) => self.processed.push((p as u32, o, seq)),
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
    /// SIGKILL after this many deliveries, plus the delay.
    KillAfter(u64, Duration),
    /// SIGKILL this long after the start, whatever it is doing.
    KillAt(Duration),
}

fn run_child(
    tally: &mut KillTally,
    dir: &Path,
    data_seed: u64,
    window: u64,
    consume: bool,
    end: End,
    ctx: &str,
) -> Run {
    let mut envs = vec![
        (ENV_DIR, dir.display().to_string()),
        (ENV_DATA_SEED, data_seed.to_string()),
        (ENV_WINDOW, window.to_string()),
    ];
    if consume {
        envs.push((ENV_CONSUME, "1".to_owned()));
    }
    let child = ChildProc::spawn(CHILD_TEST, &envs);
    let mut run = Run::default();
    let mut trouble = None;
    match end {
        End::KillAt(delay) => std::thread::sleep(delay),
        End::KillAfter(after, delay) => {
            while (run.acks.len() as u64) < after {
                match child.next_line(CHILD_TIMEOUT) {
                    Ok(line) => run.note(&line),
                    Err(e) => {
                        trouble = Some(e);
                        break;
                    }
                }
            }
            std::thread::sleep(delay);
        }
    }
    let (status, rest, stderr) = child.kill();
    for line in rest {
        run.note(&line);
    }
    if let Some(e) = trouble {
        tally.fail(format!(
            "{ctx}: the child {} ({status}) after {} deliveries:\n{}\n{stderr}",
            if e == NoLine::Ended {
                "stopped by itself"
            } else {
                "got stuck"
            },
            run.acks.len(),
            run.transcript
        ));
    }
    run
}

/// What the parent knows of the log: the sequence number at each offset
/// of each partition, and how often each record was processed.
#[derive(Default)]
struct Model {
    seqs: Vec<Vec<u64>>,
    processed: Vec<Vec<u32>>,
    committed: Vec<u64>,
    /// One past the highest sequence number in the log.
    next_seq: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            seqs: vec![Vec::new(); PARTITIONS as usize],
            processed: vec![Vec::new(); PARTITIONS as usize],
            committed: vec![0; PARTITIONS as usize],
            next_seq: 0,
        }
    }
}

/// Reads the reopened log back whole and checks it against the model and
/// what the child reported; the model then holds the log as found.
fn check_log(
    tally: &mut KillTally,
    log: &Log,
    data_seed: u64,
    run: &Run,
    model: &mut Model,
    ctx: &str,
) {
    let topic = log.topic(TOPIC).unwrap();
    // Where each sequence number is: (partition, offset).
    let mut at_seq: HashMap<u64, (u32, u64)> = HashMap::new();
    let mut found: Vec<Vec<u64>> = Vec::new();
    for p in 0..PARTITIONS {
        let part = topic.partition(p).unwrap();
        let hw = part.high_watermark();
        let mut seqs: Vec<u64> = Vec::with_capacity(hw as usize);
        let mut at = 0;
        while at < hw {
            let records = part
                .read(at, 1 << 20)
                .unwrap_or_else(|e| tally.fail(format!("{ctx}: partition {p}: read at {at}: {e}")));
            if records.is_empty() {
                tally.fail(format!(
                    "{ctx}: partition {p}: read at {at} below the HW {hw} is empty"
                ));
            }
            for r in &records {
                tally.check(r.offset() == at, || {
                    format!(
                        "{ctx}: partition {p}: offset {} where {at} was next",
                        r.offset()
                    )
                });
                let Some(seq) = seq_of(&r) else {
                    tally.fail(format!("{ctx}: partition {p} offset {at}: no seq header"));
                };
                let got = Rec::from_ref(&r);
                let want = expected(data_seed, seq, at);
                tally.check(got == want, || {
                    format!("{ctx}: partition {p} offset {at} (seq {seq}): {got:?} vs {want:?}")
                });
                tally.records_checked += 1;
                if let Some(k) = &got.key {
                    let home = kafka_partition_for_key(k, PARTITIONS);
                    tally.check(home == p, || {
                        format!("{ctx}: seq {seq}: keyed for partition {home}, found in {p}")
                    });
                }
                if let Some(prev) = at_seq.insert(seq, (p, at)) {
                    tally.check(false, || {
                        format!("{ctx}: seq {seq} twice: at {prev:?} and at ({p}, {at})")
                    });
                }
                if let Some(&last) = seqs.last() {
                    tally.check(seq > last, || {
                        format!("{ctx}: partition {p} offset {at}: seq {seq} after seq {last}")
                    });
                }
                seqs.push(seq);
                at += 1;
            }
        }
        // What was there before the kill is still there (a prefix).
        let old = &model.seqs[p as usize];
        tally.check(seqs.len() >= old.len(), || {
            format!(
                "{ctx}: partition {p} shrank from {} to {} records",
                old.len(),
                seqs.len()
            )
        });
        tally.check(seqs.starts_with(old) || seqs.len() < old.len(), || {
            let i = old.iter().zip(&seqs).position(|(a, b)| a != b).unwrap();
            format!(
                "{ctx}: partition {p} offset {i}: seq {} before the kill, {} after",
                old[i], seqs[i]
            )
        });
        // Records new since the last check came from this child.
        for (o, &seq) in seqs.iter().enumerate().skip(old.len()) {
            tally.check(run.opened.is_some_and(|n| seq >= n), || {
                format!(
                    "{ctx}: partition {p} offset {o}: new seq {seq}, but the child opened at {:?}",
                    run.opened
                )
            });
        }
        found.push(seqs);
    }
    if let Some(n) = run.opened {
        tally.check(n == model.next_seq, || {
            format!(
                "{ctx}: the child started at seq {n}, the log ended at {}",
                model.next_seq
            )
        });
    }
    // Every reported delivery is in the log, where it was reported.
    for &(seq, p, o) in &run.acks {
        tally.check(at_seq.get(&seq) == Some(&(p, o)), || {
            format!(
                "{ctx}: seq {seq} delivered at ({p}, {o}), found at {:?}",
                at_seq.get(&seq)
            )
        });
    }
    tally.acked += run.acks.len() as u64;

    // The consumer: what it processed is the log; commits cover only that.
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for (p, counts) in model.processed.iter_mut().enumerate() {
        counts.resize(found[p].len(), 0);
    }
    for &(p, o, seq) in &run.processed {
        let in_log = found.get(p as usize).and_then(|s| s.get(o as usize));
        tally.check(in_log == Some(&seq), || {
            format!("{ctx}: processed seq {seq} at ({p}, {o}), the log has {in_log:?} there")
        });
        if in_log.is_none() {
            continue;
        }
        let start = model.committed[p as usize];
        let want = *next.get(&p).unwrap_or(&start);
        tally.check(o == want, || {
            format!(
                "{ctx}: partition {p}: processed offset {o} where {want} was next \
                 (the child found committed offset {start})"
            )
        });
        next.insert(p, o + 1);
        model.processed[p as usize][o as usize] += 1;
        tally.records_checked += 1;
    }
    tally.add("processed", run.processed.len() as u64);
    for p in 0..PARTITIONS {
        let c = log.group(GROUP).committed(TOPIC, p).map_or(0, |o| o.offset);
        let hw = found[p as usize].len() as u64;
        let before = model.committed[p as usize];
        tally.check(c >= before, || {
            format!("{ctx}: partition {p}: committed offset went back from {before} to {c}")
        });
        tally.check(c <= hw, || {
            format!("{ctx}: partition {p}: committed {c} past the high watermark {hw}")
        });
        let counts = &model.processed[p as usize];
        if let Some(o) = (0..c).find(|&o| counts.get(o as usize).is_none_or(|&n| n == 0)) {
            tally.check(false, || {
                format!("{ctx}: partition {p}: committed {c}, but offset {o} was never processed")
            });
        }
        model.committed[p as usize] = c;
    }
    model.next_seq = at_seq.keys().max().map_or(0, |s| s + 1);
    model.seqs = found;
}

/// A new producer sends `n` records after the highest sequence number;
/// each must land at its partition's next offset.
fn append_more(
    tally: &mut KillTally,
    log: &Log,
    data_seed: u64,
    n: u64,
    model: &mut Model,
    ctx: &str,
) {
    let producer = log.producer();
    let mut deliveries = Vec::new();
    for seq in model.next_seq..model.next_seq + n {
        let r = expected(data_seed, seq, 0);
        let headers: Vec<Header<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| common::header(k, v))
            .collect();
        let mut record = match &r.value {
            Some(v) => Record::new(v),
            None => Record::default(),
        };
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        let d = producer
            .send(TOPIC, record.headers(&headers).timestamp(r.timestamp))
            .unwrap_or_else(|e| tally.fail(format!("{ctx}: send after recovery: {e}")));
        deliveries.push((seq, d));
    }
    for (seq, d) in deliveries {
        let md = d
            .wait()
            .unwrap_or_else(|e| tally.fail(format!("{ctx}: delivery after recovery: {e}")));
        let seqs = &mut model.seqs[md.partition as usize];
        let want = seqs.len() as u64;
        tally.check(md.offset == want, || {
            format!(
                "{ctx}: seq {seq} sent after recovery landed at ({}, {:?}), not at offset {want}",
                md.partition, md.offset
            )
        });
        seqs.push(seq);
    }
    producer.close().unwrap();
    model.next_seq += n;
    tally.add("parent_appended", n);
}

fn create_topic(dir: &Path) {
    let log = open(dir).unwrap();
    log.create_topic(
        TOPIC,
        TopicConfig::default()
            .partitions(PARTITIONS)
            .segment_bytes(SEGMENT_BYTES)
            .index_interval_bytes(1024)
            .retention_ms(None)
            .sync(SyncPolicy::Always)
            .compression_type(test_compression()),
    )
    .unwrap();
    log.close().unwrap();
}

/// Fault: SIGKILL of a child producing through `Producer` and consuming
/// and committing, at a random moment, cycle after cycle (see the module
/// docs for the checks).
#[test]
fn kill_9_loses_no_delivered_record() {
    let iterations = crash_iterations(ENV_ITERATIONS, DEFAULT_CYCLES);
    let seed = crash_seed();
    // Shown with the failure output: replay with SAMSA_CRASH_SEED.
    eprintln!("producer_kill: SAMSA_CRASH_SEED={seed} cycles {iterations}");
    let mut tally = KillTally::new("producer_kill", seed);
    let mut rng = Rng::new(seed);
    let data_seed = seed;
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = tmp.path().join("log0");
    create_topic(&dir);
    let mut model = Model::new();
    let mut kills_before_open = 0;
    for it in 0..iterations {
        if it > 0 && it % CYCLES_PER_DIR == 0 {
            std::fs::remove_dir_all(&dir).unwrap();
            dir = tmp.path().join(format!("log{}", it / CYCLES_PER_DIR));
            create_topic(&dir);
            model = Model::new();
        }
        let window = rng.range(1, 33);
        let consume = rng.range(0, 4) != 0;
        let end = if rng.range(0, 6) == 0 {
            // Anywhere in its start: exec, open, recovery, joining the group.
            End::KillAt(Duration::from_micros(rng.range(0, 30_000)))
        } else {
            End::KillAfter(rng.range(0, 60), Duration::from_micros(rng.range(0, 2_000)))
        };
        let ctx =
            format!("seed {seed}, iteration {it} ({end:?}, window {window}, consume {consume})");
        let run = run_child(&mut tally, &dir, data_seed, window, consume, end, &ctx);
        tally.cycles += 1;
        if run.opened.is_none() {
            kills_before_open += 1;
        }
        let log = open(&dir).unwrap_or_else(|e| tally.fail(format!("{ctx}: reopen: {e}")));
        check_log(&mut tally, &log, data_seed, &run, &mut model, &ctx);
        tally.end_cycle();
        if rng.range(0, 2) == 0 {
            let n = rng.range(1, 6);
            append_more(&mut tally, &log, data_seed, n, &mut model, &ctx);
            tally.end_cycle();
        }
        if rng.range(0, 2) == 0 {
            log.close().unwrap();
        } else {
            drop(log);
        }
    }
    tally.add("kills_before_open", kills_before_open);
    tally.finish();
}
