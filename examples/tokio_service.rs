//! samsa as the durable queue of a tokio service: producer tasks await
//! their deliveries, a consumer group of three tasks shares the topic's
//! partitions, and a graceful shutdown (Ctrl-C, or here once everything
//! sent was processed) lets every consumer commit what it processed and
//! leave its group. No `spawn_blocking`, no bridge thread: every samsa
//! call in a task either returns at once or is awaited.
//!
//! Run it with `cargo run --example tokio_service [DIR]` (a temporary
//! directory if none is given); run it twice on the same directory and the
//! second run's consumers start where the first one's stopped.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const TOPIC: &str = "orders";
const PRODUCERS: usize = 2;
const PER_PRODUCER: usize = 5_000;
const CONSUMERS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().join("log"), Into::into);
    let log = Log::open(&dir)?;
    if log.topic(TOPIC).is_err() {
        log.create_topic(TOPIC, TopicConfig::default().partitions(6))?;
    }

    // Shutdown: flipped on Ctrl-C, or once everything sent was processed.
    let (shutdown, stop) = watch::channel(false);
    let done = Arc::new(AtomicUsize::new(0));

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|n| {
            let log = log.clone();
            let mut stop = stop.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut consumer = log.consumer(
                    ConsumerConfig::new("billing").auto_offset_reset(AutoOffsetReset::Earliest),
                )?;
                consumer.subscribe(&[TOPIC])?;
                let (mut processed, mut bytes) = (0u64, 0usize);
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        // Cancelled by the shutdown, `recv` consumed nothing.
                        record = consumer.recv() => {
                            let record = record?;
                            // The "processing", done before the next recv: so
                            // the positions the consumer commits cover only
                            // processed records.
                            bytes += record.value.map_or(0, |v| v.len());
                            processed += 1;
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                // Commits the positions (what was processed) on samsa's
                // commit thread, then leaves the group.
                consumer.close_async().await?;
                println!("consumer {n}: processed {processed} records ({bytes} bytes)");
                Ok::<u64, samsa_log::Error>(processed)
            })
        })
        .collect();

    let producer = log.producer();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|n| {
            let producer = producer.clone();
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER {
                    let record =
                        Record::new(format!("order {n}-{i}")).key(format!("customer-{}", i % 100));
                    // Waits for buffer space without blocking the runtime.
                    let delivery = producer.send_async(TOPIC, record).await?;
                    if i % 1_000 == 999 {
                        // Written (and synced per the sync policy) by the
                        // producer's threads; the task is woken when done.
                        let md = delivery.await?;
                        println!(
                            "producer {n}: {} records, last at {}@{}",
                            i + 1,
                            md.partition,
                            md.offset
                        );
                    }
                }
                Ok::<(), samsa_log::Error>(())
            })
        })
        .collect();
    for p in producers {
        p.await??;
    }
    producer.flush_async().await?;

    // Shut down on Ctrl-C, or when the group has processed everything.
    let drained = async {
        while done.load(Ordering::SeqCst) < PRODUCERS * PER_PRODUCER {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("Ctrl-C: shutting down"),
        _ = drained => println!("everything processed: shutting down"),
    }
    shutdown.send(true)?;
    let mut total = 0;
    for c in consumers {
        total += c.await??;
    }
    println!("{total} records processed by {CONSUMERS} consumers");
    for ((topic, partition), committed) in log.group("billing").offsets() {
        let end = log.topic(&topic)?.partition(partition)?.high_watermark();
        println!(
            "{topic}/{partition}: committed {} of {end}",
            committed.offset
        );
    }
    producer.close_async().await?;
    log.close()?;
    Ok(())
}
