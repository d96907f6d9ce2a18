//! Producer tests that need the storage seam: acks against a failing sync,
//! idempotent sequences across a restart with a stable producer id.

use super::*;
use crate::log::LogBuilder;
use crate::storage::faulty::{FaultyStorage, Op};
use crate::storage::{MemStorage, Storage};
use crate::topic::TopicConfig;
use std::path::Path;
use std::time::Duration;

fn faulty_log() -> (FaultyStorage, Log) {
    let faulty = FaultyStorage::new(Arc::new(MemStorage::default()));
    let storage: Arc<dyn Storage> = Arc::new(faulty.clone());
    let log = Log::open_with(storage, Path::new("/log"), LogBuilder::default()).unwrap();
    log.create_topic("t", TopicConfig::default()).unwrap();
    (faulty, log)
}

#[test]
fn acks_leader_is_delivered_once_written_and_acks_all_only_once_synced() {
    for acks in [Acks::Leader, Acks::All] {
        let (faulty, log) = faulty_log();
        let producer = log
            .producer_with(ProducerConfig::default().acks(acks).linger(Duration::ZERO))
            .unwrap();
        // Fault: every fdatasync fails (the topic syncs on every append).
        faulty.arm(Op::Sync, std::io::ErrorKind::Other);
        let result = producer.send("t", Record::new(b"v")).unwrap().wait();
        match acks {
            Acks::Leader => assert_eq!(result.unwrap().offset, 0),
            _ => assert!(
                matches!(
                    result,
                    Err(Error::Io {
                        op: "fdatasync",
                        ..
                    })
                ),
                "{result:?}"
            ),
        }
        // Either way, flush reports that the sync failed.
        assert!(producer.flush().is_err(), "{acks:?}");
    }
}

#[test]
fn a_stable_producer_id_continues_its_sequences_after_restart() {
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::default());
    let open =
        || Log::open_with(storage.clone(), Path::new("/log"), LogBuilder::default()).unwrap();
    let config = ProducerConfig::default()
        .producer_id(42)
        .linger(Duration::ZERO);
    let log = open();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = log.producer_with(config.clone()).unwrap();
    for i in 0..3u8 {
        producer
            .send("t", Record::new(&[i]))
            .unwrap()
            .wait()
            .unwrap();
    }
    producer.close().unwrap();
    log.close().unwrap();

    let log = open();
    let producer = log.producer_with(config).unwrap();
    let md = producer
        .send("t", Record::new(b"after"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.offset, 3, "sequence 3 continues the log's, not 0");
    assert_eq!(producer.producer_id(), Some(42));
}

#[test]
fn a_failed_write_is_retried_as_the_same_batch_and_lands_once() {
    let (faulty, log) = faulty_log();
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .linger(Duration::ZERO)
                .retries(50)
                .retry_backoff(Duration::from_millis(5)),
        )
        .unwrap();
    // Fault: writes fail with ENOSPC for a while, then space comes back.
    faulty.arm(Op::Write, std::io::ErrorKind::StorageFull);
    let delivery = producer.send("t", Record::new(b"persistent")).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    assert!(!delivery.is_done(), "still retrying");
    faulty.disarm();
    assert_eq!(delivery.wait().unwrap().offset, 0);
    producer.flush().unwrap();
    let p = log.topic("t").unwrap().partition(0).unwrap();
    assert_eq!(p.high_watermark(), 1, "written exactly once");
}

#[test]
fn without_retries_a_failed_write_fails_the_delivery() {
    let (faulty, log) = faulty_log();
    let producer = log
        .producer_with(ProducerConfig::default().linger(Duration::ZERO).retries(0))
        .unwrap();
    faulty.arm(Op::Write, std::io::ErrorKind::StorageFull);
    let result = producer.send("t", Record::new(b"x")).unwrap().wait();
    assert!(
        matches!(result, Err(Error::Io { op: "write", .. })),
        "{result:?}"
    );
    faulty.disarm();
    assert!(producer.flush().is_err(), "flush reports the failure once");
    producer
        .send("t", Record::new(b"y"))
        .unwrap()
        .wait()
        .unwrap();
    assert!(producer.flush().is_ok());
}

/// Waiting on a delivery appends its batch at once, whatever the linger:
/// with a linger of a minute, a wait returns in well under it, while a
/// send nobody waits on still lingers (its batch stays open).
#[test]
fn waiting_on_a_delivery_appends_its_batch_at_once() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = log
        .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
        .unwrap();
    let started = std::time::Instant::now();
    for i in 0..20u64 {
        let md = producer
            .send("t", Record::new(b"v"))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.offset, i);
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "20 waits took {:?}: the linger was waited out",
        started.elapsed()
    );
    // Not waited on: it stays in its open batch for the linger.
    let lingering = producer.send("t", Record::new(b"later")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!lingering.is_done());
    assert_eq!(
        log.topic("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .high_watermark(),
        20
    );
    assert_eq!(lingering.wait().unwrap().offset, 20);
}

/// Once its log is closed, a producer's sends fail at once (not only their
/// deliveries).
#[test]
fn a_send_after_the_log_closed_is_refused() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = log.producer();
    producer
        .send("t", Record::new(b"v"))
        .unwrap()
        .wait()
        .unwrap();
    log.close().unwrap();
    assert!(matches!(
        producer.send("t", Record::new(b"w")),
        Err(Error::Closed { .. })
    ));
}
