//! Scenario: a test suite drives consumer groups' timers with the log's
//! `ManualClock` (issue 14): a member that stops polling is evicted when
//! the clock passes its `max_poll_interval`, a static member that closed
//! keeps its partitions until its `session_timeout` passes, and auto-commit
//! follows `auto_commit_interval`, all without sleeping; and while the
//! clock stands still, nobody is evicted however long the test takes.

use samsa_log::clock::ManualClock;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Log, Record};
use std::sync::Arc;
use std::time::Duration;

fn setup() -> (Arc<ManualClock>, Log) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let log = Log::builder()
        .clock(clock.clone())
        .maintenance_interval(None)
        .in_memory()
        .unwrap();
    log.create_topic("t", TopicConfig::default().partitions(2))
        .unwrap();
    let p = log.producer();
    for i in 0..10 {
        let v = format!("{i}");
        let _ = p.send("t", Record::new(&v).partition(i % 2)).unwrap();
    }
    p.flush().unwrap();
    (clock, log)
}

fn config() -> ConsumerConfig {
    ConsumerConfig::new("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_interval(Duration::from_secs(60))
        .session_timeout(Duration::from_secs(30))
}

fn settle(consumers: &mut [&mut Consumer]) {
    for _ in 0..6 {
        for c in consumers.iter_mut() {
            c.poll(Duration::ZERO).unwrap();
        }
    }
}

#[test]
fn a_member_that_stops_polling_is_evicted_when_the_clock_says_so() {
    let (clock, log) = setup();
    let mut a = log.consumer(config()).unwrap();
    let mut slow = log.consumer(config()).unwrap();
    a.subscribe(&["t"]).unwrap();
    slow.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a, &mut slow]);
    assert_eq!((a.assignment().len(), slow.assignment().len()), (1, 1));
    // Real time passes, the clock does not: nobody is evicted.
    std::thread::sleep(Duration::from_millis(50));
    settle(&mut [&mut a]);
    assert_eq!(a.assignment().len(), 1);
    // Past `slow`'s max_poll_interval by the clock: `a` takes over.
    clock.advance(61_000);
    settle(&mut [&mut a]);
    assert_eq!(a.assignment().len(), 2);
    let d = log.group("g").describe().unwrap();
    assert_eq!(d.members.len(), 1);
}

#[test]
fn a_static_member_keeps_its_partitions_until_its_session_times_out() {
    let (clock, log) = setup();
    let mut a = log.consumer(config().group_instance_id("a")).unwrap();
    let mut b = log.consumer(config().group_instance_id("b")).unwrap();
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a, &mut b]);
    b.close().unwrap();
    clock.advance(29_000);
    settle(&mut [&mut a]);
    assert_eq!(a.assignment().len(), 1, "b's partition waits for it");
    clock.advance(2_000);
    settle(&mut [&mut a]);
    assert_eq!(a.assignment().len(), 2, "b's session timed out");
}

#[test]
fn auto_commit_follows_the_clock() {
    let (clock, log) = setup();
    let mut c = log
        .consumer(
            config()
                .enable_auto_commit(true)
                .auto_commit_interval(Duration::from_secs(5)),
        )
        .unwrap();
    c.subscribe(&["t"]).unwrap();
    let mut seen = 0;
    for _ in 0..6 {
        seen += c.poll(Duration::ZERO).unwrap().len();
    }
    assert_eq!(seen, 10);
    assert_eq!(
        log.group("g").committed("t", 0),
        None,
        "not yet: the clock stood still"
    );
    clock.advance(5_000);
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(log.group("g").committed("t", 0).map(|o| o.offset), Some(5));
    assert_eq!(log.group("g").committed("t", 1).map(|o| o.offset), Some(5));
}
