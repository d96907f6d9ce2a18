//! Producer benchmarks, with their baselines in the same run.
//!
//! - `producer_send_100b`: one thread sends 100,000 single 100-byte records
//!   through `Producer::send` and then `flush`es, to a topic with
//!   `SyncPolicy::Os`; the baseline writes the same records one per call,
//!   length-prefixed, through a 1 MiB `BufWriter` and flushes it. The cost
//!   per send must be a buffered copy, not a syscall.
//! - `producer_durable_threads`: 1 and 4 threads each send records under
//!   `SyncPolicy::Always` and wait for each delivery before sending the next
//!   (a request/response service), with zero linger. Records from threads
//!   that arrive while a sync is running share the next batch and its sync,
//!   so 4 threads should reach several times one thread's records/s.
//! - `producer_send_wait_durable`: one thread sends one record and waits
//!   for its delivery, under `SyncPolicy::Always` and the producer's
//!   default linger (5 ms): a wait appends its batch at once, so this
//!   should cost no more than 1.2x the baseline, a bare
//!   `Partition::append` of one record under `Always` (issue 14).
//! - `producer_send_async_100b`: the workload of `producer_send_100b`
//!   (100,000 sends of 100 bytes, then a flush, `SyncPolicy::Os`) through
//!   the blocking calls and through the async ones
//!   (`send_async(..).await` for each record, then `flush_async().await`),
//!   driven by `futures::executor::block_on` and by a tokio current-thread
//!   runtime. With room in the buffer a send's future is ready at its
//!   first poll, so the async forms should cost within 10% of the
//!   blocking one (issue 15).

mod common;

use common::scratch;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Producer, Record};
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

const SENDS: u64 = 100_000;

fn producer_send_100b(c: &mut Criterion) {
    let value = vec![7u8; 100];
    let mut g = c.benchmark_group("producer_send_100b");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(SENDS));
    g.bench_function("samsa", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmp = scratch();
                let log = Log::open(tmp.path()).expect("open");
                log.create_topic("t", TopicConfig::default().sync(SyncPolicy::Os))
                    .expect("topic");
                let producer = log.producer();
                let start = Instant::now();
                for _ in 0..SENDS {
                    let delivery = producer.send("t", Record::new(&value)).expect("send");
                    black_box(&delivery);
                }
                producer.flush().expect("flush");
                total += start.elapsed();
                drop(producer);
                drop(log);
            }
            total
        })
    });
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmp = scratch();
                let file = std::fs::File::create(tmp.path().join("raw")).expect("create");
                let mut w = BufWriter::with_capacity(1 << 20, file);
                let start = Instant::now();
                for _ in 0..SENDS {
                    w.write_all(&(value.len() as u32).to_le_bytes())
                        .expect("write");
                    w.write_all(black_box(&value)).expect("write");
                }
                w.flush().expect("flush");
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn producer_send_wait_durable(c: &mut Criterion) {
    let mut g = c.benchmark_group("producer_send_wait_durable");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let tmp = scratch();
    let log = Log::open(tmp.path()).expect("open");
    log.create_topic("t", TopicConfig::default().sync(SyncPolicy::Always))
        .expect("topic");
    let producer = log.producer();
    g.bench_function("samsa_send_wait", |b| {
        b.iter(|| {
            let md = producer
                .send("t", Record::new(b"one durable record"))
                .expect("send")
                .wait()
                .expect("delivered");
            black_box(md.offset)
        })
    });
    let p = log
        .create_topic("u", TopicConfig::default().sync(SyncPolicy::Always))
        .expect("topic")
        .partition(0)
        .expect("partition");
    g.bench_function("baseline_partition_append", |b| {
        b.iter(|| {
            black_box(
                p.append(&[Record::new(b"one durable record")])
                    .expect("append"),
            )
        })
    });
    g.finish();
}

fn producer_durable_threads(c: &mut Criterion) {
    const PER_THREAD: u64 = 400;
    let mut g = c.benchmark_group("producer_durable_threads");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for threads in [1u64, 4] {
        g.throughput(Throughput::Elements(PER_THREAD * threads));
        g.bench_function(format!("samsa_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let tmp = scratch();
                    let log = Log::open(tmp.path()).expect("open");
                    log.create_topic("t", TopicConfig::default().sync(SyncPolicy::Always))
                        .expect("topic");
                    let producer = log
                        .producer_with(ProducerConfig::default().linger(Duration::ZERO))
                        .expect("producer");
                    let start = Instant::now();
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            let producer = producer.clone();
                            std::thread::spawn(move || {
                                let value = [9u8; 100];
                                for _ in 0..PER_THREAD {
                                    producer
                                        .send("t", Record::new(&value))
                                        .expect("send")
                                        .wait()
                                        .expect("durable");
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join().expect("sender thread");
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

/// One run of `producer_send_async_100b`: a fresh log and producer, and
/// the time `sends` takes (sending and flushing).
fn time_sends(sends: impl FnOnce(&Producer)) -> Duration {
    let tmp = scratch();
    let log = Log::open(tmp.path()).expect("open");
    log.create_topic("t", TopicConfig::default().sync(SyncPolicy::Os))
        .expect("topic");
    let producer = log.producer();
    let start = Instant::now();
    sends(&producer);
    let elapsed = start.elapsed();
    drop(producer);
    drop(log);
    elapsed
}

/// The async sends and flush of `producer_send_async_100b`.
async fn send_all_async(producer: &Producer, value: &[u8]) {
    for _ in 0..SENDS {
        let delivery = producer
            .send_async("t", Record::new(value))
            .await
            .expect("send");
        black_box(&delivery);
    }
    producer.flush_async().await.expect("flush");
}

fn producer_send_async_100b(c: &mut Criterion) {
    let value = vec![7u8; 100];
    let mut g = c.benchmark_group("producer_send_async_100b");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(SENDS));
    g.bench_function("blocking", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    time_sends(|producer| {
                        for _ in 0..SENDS {
                            let delivery = producer.send("t", Record::new(&value)).expect("send");
                            black_box(&delivery);
                        }
                        producer.flush().expect("flush");
                    })
                })
                .sum()
        })
    });
    g.bench_function("async_futures_block_on", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    time_sends(|producer| {
                        futures::executor::block_on(send_all_async(producer, &value))
                    })
                })
                .sum()
        })
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    g.bench_function("async_tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| time_sends(|producer| runtime.block_on(send_all_async(producer, &value))))
                .sum()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    producer_send_100b,
    producer_send_wait_durable,
    producer_durable_threads,
    producer_send_async_100b
);
criterion_main!(benches);
