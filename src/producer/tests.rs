//! Producer tests that need the storage seam: acks against a failing sync,
//! idempotent sequences across a restart with a stable producer id; and
//! the waiter's own writes (caller-runs) beside the appender's.

use super::*;
use crate::log::LogBuilder;
use crate::record::Record;
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

/// Both ways: with zero linger the appender and the waiter race for the
/// batch; with a long one the waiter always writes (and syncs) it itself.
#[test]
fn acks_leader_is_delivered_once_written_and_acks_all_only_once_synced() {
    for (acks, linger) in [Acks::Leader, Acks::All]
        .into_iter()
        .flat_map(|a| [(a, Duration::ZERO), (a, Duration::from_secs(60))])
    {
        let (faulty, log) = faulty_log();
        let producer = log
            .producer_with(ProducerConfig::default().acks(acks).linger(linger))
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
        assert!(producer.flush().is_err(), "{acks:?} {linger:?}");
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

/// A waiter whose batch the appender has not taken writes it in its own
/// thread: here while the appender is stuck retrying another topic's
/// batch. A batch of the partition the appender holds waits its turn, and
/// lands after the appender's.
#[test]
fn a_waiter_writes_its_own_batch_while_the_appender_is_busy() {
    let (faulty, log) = faulty_log();
    log.create_topic("busy", TopicConfig::default()).unwrap();
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .linger(Duration::ZERO)
                .retries(10_000)
                .retry_backoff(Duration::from_millis(1)),
        )
        .unwrap();
    // Fault: writes to topic `busy` fail (ENOSPC) until disarmed; the
    // appender retries its batch meanwhile.
    faulty.arm_on(
        Op::Write,
        std::io::ErrorKind::StorageFull,
        &format!("busy/0/{}", crate::segment::log_file_name(0)),
    );
    let stuck = producer.send("busy", Record::new(b"first")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!stuck.is_done(), "the appender is retrying it");

    // Another partition: the waiter writes it, the appender still stuck.
    let md = producer
        .send("t", Record::new(b"mine"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!((&*md.topic, md.offset), ("t", 0));
    assert!(!stuck.is_done(), "written by the waiter, not the appender");

    // The appender's partition: the next batch waits for its turn.
    let next = {
        let producer = producer.clone();
        std::thread::spawn(move || {
            producer
                .send("busy", Record::new(b"second"))
                .unwrap()
                .wait()
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    assert!(!next.is_finished(), "it waits behind the stuck batch");
    faulty.disarm();
    assert_eq!(stuck.wait().unwrap().offset, 0);
    assert_eq!(next.join().unwrap().unwrap().offset, 1);
    producer.close().unwrap();
}

/// Many threads send to two partitions, some records waited on (so their
/// waiters write batches themselves), some not (so the appender does),
/// with idempotence on: every record lands once, each thread's records in
/// the order it sent them, at the offsets their deliveries report, and no
/// batch breaks its partition's sequence (the partition would refuse it).
#[test]
fn concurrent_waiters_keep_each_partitions_order_and_sequences() {
    const THREADS: u32 = 6;
    const SENDS: u32 = 500;
    let log = Log::in_memory();
    for linger in [0, 50, 100, 300, 1000].map(Duration::from_micros) {
        let name = format!("t{}", linger.as_micros());
        log.create_topic(
            &name,
            TopicConfig::default()
                .partitions(2)
                .sync(crate::partition::SyncPolicy::Always),
        )
        .unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(linger))
            .unwrap();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (producer, name) = (producer.clone(), name.clone());
                std::thread::spawn(move || {
                    let mut landed = Vec::new();
                    let mut pending = Vec::new();
                    for i in 0..SENDS {
                        let value = [t.to_be_bytes(), i.to_be_bytes()].concat();
                        // Even threads to partition 0, odd ones spread.
                        let p = if t % 2 == 0 { 0 } else { i % 2 };
                        let d = producer
                            .send(&name, Record::new(&value).partition(p))
                            .unwrap();
                        pending.push((i, d));
                        // Wait on every third record (and so on the ones
                        // still pending before it).
                        if i % 3 == t % 3 {
                            for (i, d) in pending.drain(..).rev() {
                                let md = d.wait().unwrap();
                                landed.push((md.partition, md.offset, t, i));
                            }
                        }
                    }
                    for (i, d) in pending {
                        let md = d.wait().unwrap();
                        landed.push((md.partition, md.offset, t, i));
                    }
                    landed
                })
            })
            .collect();
        let mut landed: Vec<(u32, u64, u32, u32)> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        producer.close().unwrap();
        landed.sort_unstable();
        assert_eq!(landed.len(), (THREADS * SENDS) as usize);

        let topic = log.topic(&name).unwrap();
        let mut on_disk = Vec::new();
        for (n, p) in (0u32..).zip(topic.partitions()) {
            let mut last = vec![None::<u32>; THREADS as usize];
            let mut at = p.log_start_offset();
            while at < p.log_end_offset() {
                let records = p.read(at, 1 << 20).unwrap();
                for r in records.iter() {
                    let v = r.value().unwrap();
                    let t = u32::from_be_bytes(v[..4].try_into().unwrap());
                    let i = u32::from_be_bytes(v[4..].try_into().unwrap());
                    let before = &mut last[t as usize];
                    assert!(
                        before.is_none_or(|b| b < i),
                        "{linger:?}: partition {n}: thread {t}'s record {i} after {before:?}"
                    );
                    *before = Some(i);
                    on_disk.push((n, r.offset(), t, i));
                }
                at = records.next_offset();
            }
        }
        assert!(
            on_disk == landed,
            "{linger:?}: the log is not what was reported"
        );
    }
}

/// A send that opens a batch while the appender sleeps until an older
/// batch's linger deadline does not wake it (the awaited send's saving),
/// yet still lands once its own linger is over, unwaited; and so does one
/// whose older neighbour was taken by its waiter meanwhile.
#[test]
fn a_batch_opened_while_the_appender_lingers_lands_after_its_linger() {
    let linger = Duration::from_millis(150);
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default().partitions(3))
        .unwrap();
    let producer = log
        .producer_with(ProducerConfig::default().linger(linger))
        .unwrap();
    let send = |p: u32| producer.send("t", Record::new(b"v").partition(p)).unwrap();
    let landed = |d: &Delivery, by: Duration| {
        let start = std::time::Instant::now();
        while !d.is_done() && start.elapsed() < by {
            std::thread::sleep(Duration::from_millis(2));
        }
        d.is_done()
    };
    // The appender parks with nothing to do: the first send must wake it.
    std::thread::sleep(Duration::from_millis(20));
    let first = send(0);
    std::thread::sleep(linger / 3);
    let second = send(1);
    let third = send(2);
    // Its waiter takes the batch the appender's deadline is for.
    let md = send(0).wait().unwrap();
    assert_eq!(md.offset, 1, "in the first batch, after the first record");
    assert!(!second.is_done() && !third.is_done(), "still lingering");
    assert!(landed(&second, Duration::from_secs(20)), "never appended");
    assert!(landed(&third, Duration::from_secs(20)), "never appended");
    assert_eq!(first.wait().unwrap().offset, 0);
}

/// A batch that a send closes because the next record would not fit goes
/// to the appender at once, even while the appender sleeps until the
/// linger deadline of an older batch.
#[test]
fn a_batch_closed_by_the_next_record_is_appended_without_waiting_out_the_linger() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .linger(Duration::from_secs(60))
                .batch_bytes(1000),
        )
        .unwrap();
    // The appender parks with nothing to do; the first send wakes it, and
    // it sleeps until that batch's deadline, a minute away.
    std::thread::sleep(Duration::from_millis(20));
    let value = [1u8; 100];
    // 124 bytes a record against the buffer: 8 fit, the 9th closes them.
    let first = producer.send("t", Record::new(&value)).unwrap();
    for _ in 0..8 {
        let _ = producer.send("t", Record::new(&value)).unwrap();
    }
    let start = std::time::Instant::now();
    while !first.is_done() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(first.is_done(), "the closed batch waited for the linger");
    assert_eq!(first.wait().unwrap().offset, 0);
}

/// A close whose wake-up reaches the appender while it is busy writing
/// (so nobody is waiting for it) is not lost: a batch still lingering is
/// appended once the appender is free, not after its linger of a minute.
#[test]
fn a_close_while_the_appender_writes_does_not_wait_out_the_linger() {
    let (faulty, log) = faulty_log();
    log.create_topic("busy", TopicConfig::default()).unwrap();
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .linger(Duration::from_secs(60))
                .retries(10_000)
                .retry_backoff(Duration::from_millis(1)),
        )
        .unwrap();
    // Fault: writes to topic `busy` fail (ENOSPC) until disarmed; the
    // appender retries its batch meanwhile.
    faulty.arm_on(
        Op::Write,
        std::io::ErrorKind::StorageFull,
        &format!("busy/0/{}", crate::segment::log_file_name(0)),
    );
    let stuck = producer.send("busy", Record::new(b"first")).unwrap();
    drop(producer.flush_async());
    std::thread::sleep(Duration::from_millis(30));
    assert!(!stuck.is_done(), "the appender is retrying it");
    // The appender is busy: neither this new batch nor the close wakes it.
    let lingering = producer.send("t", Record::new(b"lingering")).unwrap();
    producer.handle.mark_closed();
    faulty.disarm();
    let start = std::time::Instant::now();
    while !lingering.is_done() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(lingering.is_done(), "the close was lost: the batch lingers");
    assert_eq!(stuck.wait().unwrap().offset, 0);
    assert_eq!(lingering.wait().unwrap().offset, 0);
}
