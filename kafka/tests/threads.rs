//! What the adapter takes of its host's threads: `flush_async` runs on one
//! flush thread per producer, however many flushes are awaited at once,
//! and that thread ends with the producer.
//!
//! Linux only (threads are counted by name in `/proc/self/task`); one test
//! in this binary, so that no other test's threads are counted.

#[allow(dead_code, reason = "the samsa back ends are the fidelity suite's")]
mod backends;

use backends::{Backend, MockKafka};
use samsa_log::client::{AdminClient, AsyncProducerClient, ProducerClient};
use samsa_log::producer::ProducerConfig;
use samsa_log::Record;
use std::time::{Duration, Instant};

/// The threads of this process named `name` (as the kernel keeps it: at
/// most 15 bytes).
fn threads_named(name: &str) -> usize {
    let name = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task (Linux)")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn concurrent_flushes_share_one_thread_that_ends_with_the_producer() {
    if !std::path::Path::new("/proc/self/task").exists() {
        println!("SKIPPED: no /proc/self/task to count threads in (not Linux)");
        return;
    }
    let kafka = MockKafka::new();
    kafka.admin().create_topic("flushed", 1).expect("create");
    let p = kafka.producer(ProducerConfig::default());
    assert_eq!(threads_named("samsa-kafka-flush"), 0, "no flush yet");

    // 16 flushes asked for at once (each starts when made), each after
    // records of its own: every one resolves, with all records delivered.
    let mut flushes = Vec::new();
    for i in 0..16u32 {
        for j in 0..10u32 {
            let v = format!("{i}-{j}");
            let _ = p.send("flushed", Record::new(v.as_bytes())).expect("send");
        }
        flushes.push(p.flush_async());
    }
    for outcome in futures_executor::block_on(await_all(flushes)) {
        outcome.expect("flush");
    }
    assert_eq!(kafka.admin().end_offsets("flushed").expect("ends"), [160]);
    assert_eq!(
        threads_named("samsa-kafka-flush"),
        1,
        "one flush thread for the producer, however many flushes"
    );

    drop(p);
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads_named("samsa-kafka-flush") > 0 {
        assert!(
            Instant::now() < deadline,
            "the flush thread outlived its producer by 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Awaits every future, in order (each flush was asked of the thread when
/// its future was made, so they are all pending at once).
async fn await_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    for f in futures {
        out.push(f.await);
    }
    out
}
