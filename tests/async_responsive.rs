//! Scenario: a consumer waits for records inside a current-thread tokio
//! runtime (what `#[tokio::test]` gives) while a ticker task runs beside
//! it (issue 15): the runtime keeps the ticker's pace within 20%, since
//! `recv` waits by leaving its waker, not by blocking the thread. A test
//! binary of its own, so no other test competes for the cores while it
//! counts.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "events";

fn group_consumer(log: &Log, group: &str) -> samsa_log::Consumer {
    log.consumer(ConsumerConfig::new(group).auto_offset_reset(AutoOffsetReset::Earliest))
        .unwrap()
}

#[tokio::test]
async fn a_current_thread_runtime_keeps_its_pace_while_a_consumer_waits() {
    let log = Log::in_memory();
    log.create_topic(TOPIC, TopicConfig::default()).unwrap();
    let mut consumer = group_consumer(&log, "slow");
    consumer.subscribe(&[TOPIC]).unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            // A stalled runtime loses ticks rather than catching up.
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let appender = {
        let p = log.topic(TOPIC).unwrap().partition(0).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            p.append(&[Record::new(b"late")]).unwrap();
        })
    };
    let start = Instant::now();
    let record = consumer.recv().await.unwrap();
    let waited = start.elapsed();
    let ticked = ticks.load(Ordering::SeqCst);
    ticker.abort();
    appender.join().unwrap();
    assert_eq!(record.value.as_deref(), Some(&b"late"[..]));
    // One tick every 10 ms while the consumer waited, within 20%.
    let expected = waited.as_millis() as usize / 10;
    assert!(
        ticked * 5 >= expected * 4,
        "{ticked} ticks in {waited:?}: the runtime stalled"
    );
}
