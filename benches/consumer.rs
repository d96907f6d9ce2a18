//! Consumer benchmarks, with their baselines in the same run.
//!
//! - `consume_100b`: 1,000,000 records of 100 bytes (1,000 per append, one
//!   partition, `SyncPolicy::Os`, 32 MiB segments as in the partition
//!   bench's `read_after_reopen`), written, the log closed and reopened,
//!   then read whole per iteration by a fresh consumer
//!   (`AutoOffsetReset::Earliest`, `max_poll_records` 100,000, the default
//!   1 MiB `max_partition_fetch_bytes`) polling until every record is seen,
//!   every value touched. The baseline is the partition bench's raw-file
//!   floor: the same values length-prefixed (`u32` length, then the value)
//!   in a plain file, read back through a 1 MiB `BufReader`. A third entry,
//!   `partition_read`, reads the same partition with `Partition::read` in
//!   1 MiB reads, so the consumer's own cost shows; `read_only_read`
//!   the same through `Log::open_read_only` beside the open owner
//!   (positioned reads into a buffer instead of the owner's memory maps).
//!   `recv_batch_async`
//!   and `stream_async` read the same through the async API under
//!   `futures::executor::block_on`: the batches `poll` returns, and one
//!   owned (copied) record at a time.
//! - `poll_wakeup_latency`: a consumer thread blocked in `poll(30 s)` on an
//!   empty partition; the bench thread appends one 100-byte record and the
//!   time from just before the append call to `poll` returning with it in
//!   the consumer thread is the measurement. `append` goes through
//!   `Partition::append` on the topic's partition (`SyncPolicy::Os`, no
//!   producer linger); `producer_send` through `Producer::send` with zero
//!   linger (one more thread hop: the producer's appender). Before each
//!   append the bench thread sleeps about 100 us and, on Linux, waits until
//!   the consumer thread is asleep (`/proc/self/task/<tid>/stat`), so every
//!   wake-up is of a consumer really blocked. The `_async` entries do the
//!   same with the consumer thread running a tokio current-thread runtime
//!   whose task awaits `Consumer::recv` (the thread parks while the task
//!   waits; the append's wake-up reaches it through the task's waker).
//!   p50, p99, p99.9 and max of every iteration criterion ran (warm-up
//!   included) are printed after the group.
//! - `rebalance_8_members_64_partitions`: a topic of 64 partitions in an
//!   in-memory log and 8 consumers of one group (default config: range
//!   assignor, auto-commit on, so every member commits its positions as it
//!   gives partitions up), all driven by the bench thread calling
//!   `poll(Duration::ZERO)` on each member in turn. Once the group is
//!   stable (every partition assigned, to one member, in every member's
//!   `assignment()`), `leave` times from just before one member's `close`
//!   to the moment the 7 left hold all 64 partitions between them, each a
//!   share, polled round-robin; the group is then brought back to 8 by a
//!   new member, untimed. `join` times a 9th member's `subscribe` until
//!   the 9 hold all 64; the 9th then closes, untimed. p50, p99 and the
//!   polls per rebalance are printed after the group.
//!
//! Files are written in a fresh temporary directory (under `$TMPDIR`, or
//! `$SAMSA_BENCH_DIR` if set); everything stays in the page cache.

mod common;

use common::{raw_read_all, scratch, touch, value, Latencies, RAW_BUFFER_BYTES};
use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::read_only::ReadOnlyPartition;
use samsa_log::record::Records;
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Log, Partition, Record};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Records of the throughput workload.
const CONSUME_RECORDS: u64 = 1_000_000;
/// Value size of every workload.
const VALUE: usize = 100;
/// Records per append when filling the throughput workload's partition.
const BATCH: usize = 1000;
/// How long the latency workload's consumer blocks in one `poll`.
const LONG_POLL: Duration = Duration::from_secs(30);

fn os_topic() -> TopicConfig {
    TopicConfig::default().sync(SyncPolicy::Os)
}

/// How `consume_all` takes the records.
#[derive(Clone, Copy)]
enum Take {
    /// `poll`, blocking.
    Poll,
    /// `recv_batch().await` (the same batches, without copies).
    RecvBatch,
    /// `stream().next().await`: one owned record at a time.
    Stream,
}

/// Reads every record of partition 0 of `topic` through a fresh consumer;
/// returns (records, checksum). The async forms run under
/// `futures::executor::block_on`.
fn consume_all(log: &Log, topic: &str, total: u64, take: Take) -> (u64, u64) {
    let mut consumer = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .max_poll_records(100_000),
        )
        .expect("consumer");
    consumer.assign(&[(topic, 0)]).expect("assign");
    let (mut count, mut sum) = (0u64, 0u64);
    match take {
        Take::Poll | Take::RecvBatch => {
            while count < total {
                let records = match take {
                    Take::Poll => consumer.poll(Duration::from_secs(1)),
                    _ => futures::executor::block_on(consumer.recv_batch()),
                }
                .expect("poll");
                assert!(!records.is_empty(), "poll timed out at {count} of {total}");
                for r in &records {
                    count += 1;
                    sum += touch(r.value().unwrap_or_default());
                }
            }
        }
        Take::Stream => futures::executor::block_on(async {
            let mut stream = consumer.stream();
            while count < total {
                let r = stream.next().await.expect("open").expect("record");
                count += 1;
                sum += touch(r.value.as_deref().unwrap_or_default());
            }
        }),
    }
    (count, sum)
}

/// Reads a partition from offset 0 to its high watermark in 1 MiB reads,
/// touching every value; returns (records, checksum).
fn partition_read_all(p: &Partition) -> (u64, u64) {
    read_all_with(p.high_watermark(), |at| p.read(at, 1 << 20).expect("read"))
}

/// [`partition_read_all`] through a read-only open beside the owner.
fn read_only_read_all(p: &ReadOnlyPartition) -> (u64, u64) {
    read_all_with(p.end_offset().expect("end"), |at| {
        p.read(at, 1 << 20).expect("read")
    })
}

/// Reads from 0 to `end` with `read`, touching every value; returns
/// (records, checksum).
fn read_all_with(end: u64, read: impl Fn(u64) -> Records) -> (u64, u64) {
    let (mut at, mut count, mut sum) = (0u64, 0u64, 0u64);
    while at < end {
        let records = read(at);
        for r in &records {
            count += 1;
            sum += touch(r.value().unwrap_or_default());
        }
        at = records.next_offset();
    }
    (count, sum)
}

/// Writes length-prefixed values to a plain file: the floor.
fn raw_write(path: &Path, v: &[u8], n: u64) {
    let file = File::create(path).expect("create raw log");
    let mut out = BufWriter::with_capacity(RAW_BUFFER_BYTES, file);
    for _ in 0..n {
        out.write_all(&(v.len() as u32).to_le_bytes())
            .expect("write length");
        out.write_all(v).expect("write value");
    }
    out.flush().expect("flush raw log");
}

fn consume_100b(c: &mut Criterion) {
    let v = value(VALUE);
    let records: Vec<Record<'_>> = (0..BATCH).map(|_| Record::new(&v)).collect();
    let dir = scratch();
    let log_dir = dir.path().join("log");
    {
        let log = Log::open(&log_dir).expect("open");
        log.create_topic("t", os_topic().segment_bytes(32 << 20))
            .expect("topic");
        let p = log.topic("t").expect("t").partition(0).expect("p0");
        for _ in 0..CONSUME_RECORDS / BATCH as u64 {
            p.append(&records).expect("append");
        }
        log.close().expect("close");
    }
    let log = Log::open(&log_dir).expect("reopen");
    let p = log.topic("t").expect("t").partition(0).expect("p0");
    assert_eq!(p.high_watermark(), CONSUME_RECORDS);
    let raw_path = dir.path().join("raw.log");
    raw_write(&raw_path, &v, CONSUME_RECORDS);

    let mut g = c.benchmark_group("consume_100b");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(CONSUME_RECORDS));
    for (name, take) in [
        ("samsa", Take::Poll),
        ("recv_batch_async", Take::RecvBatch),
        ("stream_async", Take::Stream),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let (n, sum) = consume_all(&log, "t", CONSUME_RECORDS, take);
                assert_eq!(n, CONSUME_RECORDS);
                black_box(sum)
            })
        });
    }
    g.bench_function("partition_read", |b| {
        b.iter(|| {
            let (n, sum) = partition_read_all(&p);
            assert_eq!(n, CONSUME_RECORDS);
            black_box(sum)
        })
    });
    let reader = Log::open_read_only(&log_dir)
        .expect("open read-only")
        .partition("t", 0)
        .expect("read-only p0");
    g.bench_function("read_only_read", |b| {
        b.iter(|| {
            let (n, sum) = read_only_read_all(&reader);
            assert_eq!(n, CONSUME_RECORDS);
            black_box(sum)
        })
    });
    g.bench_function("baseline", |b| {
        b.iter(|| {
            let (n, sum) = raw_read_all(&raw_path);
            assert_eq!(n, CONSUME_RECORDS);
            black_box(sum)
        })
    });
    g.finish();
    log.close().expect("close");
}

/// A consumer thread that, over and over, says it is about to poll, blocks
/// in `poll` until one record arrives, and sends back the instant `poll`
/// returned.
struct BlockedConsumer {
    ready: mpsc::Receiver<()>,
    returned: mpsc::Receiver<Instant>,
    /// `/proc/self/task/<tid>/stat` of the consumer thread, where readable.
    stat: Option<PathBuf>,
    thread: std::thread::JoinHandle<()>,
}

impl BlockedConsumer {
    fn start(log: &Log, topic: &str, wait: Wait) -> Self {
        let mut consumer = log
            .consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Latest))
            .expect("consumer");
        consumer.assign(&[(topic, 0)]).expect("assign");
        // Fix the position now, before any record of the benchmark.
        consumer.position(topic, 0).expect("position");
        let (ready_tx, ready) = mpsc::channel();
        let (returned_tx, returned) = mpsc::channel();
        let (stat_tx, stat_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("consumer".into())
            .spawn(move || {
                let stat = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name().map(|tid| tid.to_owned()))
                    .map(|tid| Path::new("/proc/self/task").join(tid).join("stat"));
                stat_tx.send(stat).expect("send tid");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                loop {
                    if ready_tx.send(()).is_err() {
                        return;
                    }
                    let at = match wait {
                        Wait::Poll => {
                            let (at, records) = loop {
                                let records = consumer.poll(LONG_POLL).expect("poll");
                                if !records.is_empty() {
                                    break (Instant::now(), records);
                                }
                            };
                            assert_eq!(records.len(), 1);
                            for r in &records {
                                black_box(touch(r.value().unwrap_or_default()));
                            }
                            at
                        }
                        Wait::Recv => runtime.block_on(async {
                            let r = consumer.recv().await.expect("recv");
                            let at = Instant::now();
                            black_box(touch(r.value.as_deref().unwrap_or_default()));
                            at
                        }),
                    };
                    if returned_tx.send(at).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn consumer");
        let stat = stat_rx.recv().expect("consumer tid");
        BlockedConsumer {
            ready,
            returned,
            stat,
            thread,
        }
    }

    /// Waits until the consumer is blocked in `poll`, then times `append`
    /// (which must make one record visible) up to `poll` returning it.
    fn wake(&self, append: impl FnOnce()) -> Duration {
        self.ready.recv().expect("consumer ready");
        std::thread::sleep(Duration::from_micros(100));
        if let Some(stat) = &self.stat {
            let give_up = Instant::now() + Duration::from_millis(100);
            while !is_sleeping(stat) && Instant::now() < give_up {
                std::hint::spin_loop();
            }
        }
        let start = Instant::now();
        append();
        let returned = self.returned.recv().expect("consumer returned");
        returned.saturating_duration_since(start)
    }

    /// Stops the thread: `wake` must append one more record.
    fn stop(self, append: impl FnOnce()) {
        drop(self.ready);
        drop(self.returned);
        append();
        self.thread.join().expect("consumer thread");
    }
}

/// How the consumer thread waits for the record.
#[derive(Clone, Copy)]
enum Wait {
    /// Blocked in `poll`.
    Poll,
    /// A task awaiting `recv` on a tokio current-thread runtime, whose
    /// thread parks while the task waits.
    Recv,
}

/// Whether the thread of this `stat` file is asleep (state `S`).
fn is_sleeping(stat: &Path) -> bool {
    let Ok(s) = std::fs::read_to_string(stat) else {
        return true;
    };
    // "tid (comm) S ...": the state follows the last ')'.
    s.rfind(')')
        .and_then(|i| s[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "S")
}

/// One entry of `poll_wakeup_latency` (named by `latencies`): a consumer
/// of `topic` waiting as `wait` says, woken by `append` each iteration.
fn bench_wakeups(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    log: &Log,
    topic: &str,
    wait: Wait,
    latencies: &mut Latencies,
    append: impl Fn() + Copy,
) {
    let consumer = BlockedConsumer::start(log, topic, wait);
    g.bench_function(latencies.name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let took = consumer.wake(append);
                latencies.samples.push(took);
                total += took;
            }
            total
        })
    });
    consumer.stop(append);
}

fn poll_wakeup_latency(c: &mut Criterion) {
    let v = value(VALUE);
    let dir = scratch();
    let log = Log::open(dir.path().join("log")).expect("open");
    log.create_topic("direct", os_topic()).expect("topic");
    log.create_topic("producer", os_topic()).expect("topic");

    let mut g = c.benchmark_group("poll_wakeup_latency");
    // Each iteration also sleeps about 100 us untimed, so criterion's
    // estimate (wall time) leaves several thousand iterations per entry.
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));

    let p = log
        .topic("direct")
        .expect("direct")
        .partition(0)
        .expect("p0");
    let append = || {
        black_box(p.append(&[Record::new(&v)]).expect("append"));
    };
    let mut direct = Latencies::new("poll_wakeup_latency", "append");
    let mut direct_async = Latencies::new("poll_wakeup_latency", "append_async");
    for (wait, latencies) in [(Wait::Poll, &mut direct), (Wait::Recv, &mut direct_async)] {
        bench_wakeups(&mut g, &log, "direct", wait, latencies, append);
    }

    let mut sent = Latencies::new("poll_wakeup_latency", "producer_send");
    let producer = log
        .producer_with(ProducerConfig::default().linger(Duration::ZERO))
        .expect("producer");
    let send = || {
        // Not waited on: the consumer's wake-up is the measurement, and
        // `close` below reports any failed delivery.
        let delivery = producer
            .send("producer", Record::new(&v).partition(0))
            .expect("send");
        black_box(&delivery);
    };
    let mut sent_async = Latencies::new("poll_wakeup_latency", "producer_send_async");
    for (wait, latencies) in [(Wait::Poll, &mut sent), (Wait::Recv, &mut sent_async)] {
        bench_wakeups(&mut g, &log, "producer", wait, latencies, send);
    }
    producer.close().expect("close producer");
    g.finish();
    log.close().expect("close");

    for l in [&mut direct, &mut direct_async, &mut sent, &mut sent_async] {
        l.report();
    }
}

/// Partitions of the rebalance workload's topic.
const REBALANCE_PARTITIONS: u32 = 64;
/// Members of its group when stable.
const REBALANCE_MEMBERS: usize = 8;
/// Polls (of any member) after which a rebalance counts as stuck.
const MAX_REBALANCE_POLLS: usize = 100_000;

/// A new member of the rebalance workload's group, subscribed.
fn member(log: &Log) -> Consumer {
    let mut c = log
        .consumer(ConsumerConfig::new("bench"))
        .expect("consumer");
    c.subscribe(&["t"]).expect("subscribe");
    c
}

/// Polls the members round-robin, `poll(Duration::ZERO)` each, until every
/// partition is in some member's `assignment()` and every member has a
/// share; returns the number of polls. With the range assignor (eager), no
/// member holds a partition of the old generation once the new one starts,
/// so the shares then add up to the 64 partitions only when every member
/// took its new assignment; `check_stable` confirms it, untimed.
fn poll_until_stable(members: &mut [Consumer]) -> usize {
    let mut held: Vec<usize> = members.iter().map(|c| c.assignment().len()).collect();
    let mut polls = 0;
    loop {
        for (i, c) in members.iter_mut().enumerate() {
            black_box(c.poll(Duration::ZERO).expect("poll"));
            polls += 1;
            held[i] = c.assignment().len();
            if held.iter().sum::<usize>() == REBALANCE_PARTITIONS as usize
                && held.iter().all(|&n| n > 0)
            {
                return polls;
            }
        }
        assert!(
            polls < MAX_REBALANCE_POLLS,
            "no stable assignment after {polls} polls: {held:?}"
        );
    }
}

/// Every partition with exactly one member, in the members' own view and
/// in the coordinator's.
fn check_stable(log: &Log, members: &[Consumer]) {
    let mut seen = BTreeSet::new();
    for c in members {
        for (t, p) in c.assignment() {
            assert_eq!(t, "t");
            assert!(seen.insert(p), "partition {p} has two owners");
        }
    }
    assert_eq!(seen, (0..REBALANCE_PARTITIONS).collect::<BTreeSet<_>>());
    let d = log.group("bench").describe().expect("describe");
    assert_eq!(d.members.len(), members.len());
    assert_eq!(
        d.members.iter().map(|m| m.assignment.len()).sum::<usize>(),
        REBALANCE_PARTITIONS as usize
    );
}

fn rebalance_8_members_64_partitions(c: &mut Criterion) {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default().partitions(REBALANCE_PARTITIONS))
        .expect("topic");
    let mut members: Vec<Consumer> = (0..REBALANCE_MEMBERS).map(|_| member(&log)).collect();
    poll_until_stable(&mut members);
    check_stable(&log, &members);

    let mut g = c.benchmark_group("rebalance_8_members_64_partitions");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));

    let mut left = Latencies::new("rebalance_8_members_64_partitions", "leave");
    let mut leave_polls = Vec::new();
    g.bench_function("leave", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The longest-standing member leaves.
                let gone = members.remove(0);
                let start = Instant::now();
                gone.close().expect("close");
                let polls = poll_until_stable(&mut members);
                let took = start.elapsed();
                check_stable(&log, &members);
                left.samples.push(took);
                leave_polls.push(polls);
                total += took;
                // Back to 8, untimed.
                members.push(member(&log));
                poll_until_stable(&mut members);
                check_stable(&log, &members);
            }
            total
        })
    });

    let mut joined = Latencies::new("rebalance_8_members_64_partitions", "join");
    let mut join_polls = Vec::new();
    g.bench_function("join", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                members.push(member(&log));
                let polls = poll_until_stable(&mut members);
                let took = start.elapsed();
                check_stable(&log, &members);
                joined.samples.push(took);
                join_polls.push(polls);
                total += took;
                // Back to 8, untimed.
                members.pop().expect("the 9th").close().expect("close");
                poll_until_stable(&mut members);
                check_stable(&log, &members);
            }
            total
        })
    });
    g.finish();
    for c in members {
        c.close().expect("close");
    }

    for (l, polls) in [(&mut left, &leave_polls), (&mut joined, &join_polls)] {
        l.report();
        if !polls.is_empty() {
            eprintln!(
                "rebalance_8_members_64_partitions/{}: {:.1} polls per rebalance (min {}, max {})",
                l.name,
                polls.iter().sum::<usize>() as f64 / polls.len() as f64,
                polls.iter().min().expect("some"),
                polls.iter().max().expect("some"),
            );
        }
    }
}

criterion_group!(
    benches,
    consume_100b,
    poll_wakeup_latency,
    rebalance_8_members_64_partitions
);
criterion_main!(benches);
