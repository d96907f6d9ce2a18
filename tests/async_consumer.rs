//! Scenario: async services consume with `recv`, `recv_batch` and
//! `stream` (issue 15), under tokio (current-thread and multi-thread),
//! smol and futures' `block_on`: records arrive once, in order per
//! partition, across rebalances of a group of tasks; a waiting member stays
//! in its group however long it waits; and futures cancelled at random
//! points lose nothing and skip nothing.

mod common;

use common::{sleep, Rng};
use futures::future::{self, Either};
use futures::StreamExt;
use samsa_log::clock::ManualClock;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::group::{GroupState, OffsetAndMetadata};
use samsa_log::record::OwnedRecord;
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Log, Record};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const TOPIC: &str = "events";

fn group_consumer(log: &Log, group: &str) -> Consumer {
    log.consumer(ConsumerConfig::new(group).auto_offset_reset(AutoOffsetReset::Earliest))
        .unwrap()
}

/// Every record of `TOPIC`, received exactly once: per partition the
/// offsets `0..high watermark`, and the value sent at each.
fn assert_each_once(log: &Log, got: &[OwnedRecord], what: &str) {
    let topic = log.topic(TOPIC).unwrap();
    let mut by_partition: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for r in got {
        by_partition.entry(r.partition).or_default().push(r.offset);
        let p = topic.partition(r.partition).unwrap();
        let stored = p.read(r.offset, 1).unwrap();
        let stored = stored.iter().next().unwrap();
        assert_eq!(stored.value(), r.value.as_deref(), "{what}: value");
    }
    for (i, p) in topic.partitions().iter().enumerate() {
        let mut offsets = by_partition.remove(&(i as u32)).unwrap_or_default();
        offsets.sort_unstable();
        let want: Vec<u64> = (0..p.high_watermark()).collect();
        assert_eq!(offsets, want, "{what}: partition {i}");
    }
}

/// Offsets strictly increase within each partition, in arrival order.
fn assert_in_order(got: &[OwnedRecord], what: &str) {
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    for r in got {
        if let Some(prev) = last.insert(r.partition, r.offset) {
            assert!(
                r.offset > prev,
                "{what}: {} after {prev} on {}",
                r.offset,
                r.partition
            );
        }
    }
}

/// The group's committed offsets equal the high watermarks.
fn assert_committed_to_the_end(log: &Log, group: &str, what: &str) {
    let committed = log.group(group).offsets();
    for (i, p) in log.topic(TOPIC).unwrap().partitions().iter().enumerate() {
        let c = &committed[&(TOPIC.to_owned(), i as u32)];
        assert_eq!(c.offset, p.high_watermark(), "{what}: partition {i}");
    }
}

/// Produce and consume in one task (joined futures, no spawning): runs
/// on any executor. Deliveries are awaited, records come from `recv`,
/// `recv_batch` and `stream` in turn, then the group commits and closes.
async fn produce_and_consume(log: Log) {
    log.create_topic(TOPIC, TopicConfig::default().partitions(3))
        .unwrap();
    const N: u64 = 300;
    let producer = log.producer();
    let produce = async {
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for i in 0..N {
            let record = Record::new(format!("v{i}")).key(format!("k{}", i % 7));
            let md = producer.send(TOPIC, record).unwrap().await.unwrap();
            let expected = next.entry(md.partition).or_default();
            assert_eq!((&*md.topic, md.offset), (TOPIC, *expected));
            *expected += 1;
            if i % 50 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let mut consumer = group_consumer(&log, "billing");
    consumer.subscribe(&[TOPIC]).unwrap();
    let consume = async {
        let mut got = Vec::new();
        while got.len() < 100 {
            got.push(consumer.recv().await.unwrap());
        }
        while got.len() < 200 {
            let batch = consumer.recv_batch().await.unwrap();
            got.extend(batch.iter().map(|r| r.into_owned()));
        }
        let mut stream = consumer.stream();
        while (got.len() as u64) < N {
            got.push(stream.next().await.unwrap().unwrap());
        }
        drop(stream);
        got
    };
    let ((), got) = future::join(produce, consume).await;
    assert_eq!(got.len() as u64, N, "no more records than sent");
    assert_each_once(&log, &got, "one task");
    assert_in_order(&got, "one task");
    consumer.commit_async().await.unwrap();
    consumer.close_async().await.unwrap();
    assert_committed_to_the_end(&log, "billing", "committed where it stopped");
}

#[tokio::test]
async fn one_task_under_tokio_current_thread_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    produce_and_consume(Log::open(tmp.path()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_under_tokio_multi_thread() {
    produce_and_consume(Log::in_memory()).await;
}

#[test]
fn one_task_under_smol() {
    smol::block_on(produce_and_consume(Log::in_memory()));
}

#[test]
fn one_task_under_futures_block_on() {
    futures::executor::block_on(produce_and_consume(Log::in_memory()));
}

/// A group of consumer tasks, started and stopped at different times, and
/// a producer task: every record reaches exactly one member, in order per
/// partition, across the rebalances; each member stops once all arrived
/// and closes (committing what it handed out). `spawn` runs a task on the
/// executor under test.
async fn group_pipeline<S, H>(log: Log, spawn: S)
where
    S: Fn(Pin<Box<dyn Future<Output = Vec<OwnedRecord>> + Send>>) -> H,
    H: Future<Output = Vec<OwnedRecord>>,
{
    log.create_topic(TOPIC, TopicConfig::default().partitions(4))
        .unwrap();
    const N: usize = 2_000;
    let total = Arc::new(AtomicUsize::new(0));
    let producer = log.producer();
    let produce = {
        let producer = producer.clone();
        spawn(Box::pin(async move {
            for i in 0..N {
                let record = Record::new(format!("v{i}")).key(format!("k{}", i % 31));
                let delivery = producer.send(TOPIC, record).unwrap();
                if i % 100 == 99 {
                    delivery.await.unwrap();
                    sleep(Duration::from_millis(3)).await;
                }
            }
            producer.flush().unwrap();
            Vec::new()
        }))
    };
    // Member 0 leaves after a third of the records; members 1 and 2 join
    // late; each rebalance moves partitions between running tasks.
    let members: Vec<_> = (0..3)
        .map(|m| {
            let log = log.clone();
            let total = total.clone();
            spawn(Box::pin(async move {
                sleep(Duration::from_millis(15 * m as u64)).await;
                let mut consumer = group_consumer(&log, "pipeline");
                consumer.subscribe(&[TOPIC]).unwrap();
                let mut got = Vec::new();
                let mut stream = consumer.stream();
                loop {
                    // A timeout cancels the pending `next` now and then.
                    let tick = sleep(Duration::from_millis(10));
                    match future::select(stream.next(), Box::pin(tick)).await {
                        Either::Left((Some(r), _)) => {
                            got.push(r.unwrap());
                            total.fetch_add(1, Ordering::SeqCst);
                        }
                        Either::Left((None, _)) => panic!("the stream ended"),
                        Either::Right(_) => {}
                    }
                    if total.load(Ordering::SeqCst) >= N || (m == 0 && got.len() >= N / 3) {
                        break;
                    }
                }
                drop(stream);
                consumer.close_async().await.unwrap();
                got
            }))
        })
        .collect();
    let (_, got) = future::join(produce, future::join_all(members)).await;
    for (m, g) in got.iter().enumerate() {
        assert_in_order(g, &format!("member {m}"));
    }
    let all: Vec<OwnedRecord> = got.into_iter().flatten().collect();
    assert_eq!(all.len(), N, "each record once");
    assert_each_once(&log, &all, "group");
    assert_committed_to_the_end(&log, "pipeline", "group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_tokio_tasks_gets_every_record_once_across_rebalances() {
    let tmp = tempfile::tempdir().unwrap();
    group_pipeline(Log::open(tmp.path()).unwrap(), |f| async move {
        tokio::spawn(f).await.unwrap()
    })
    .await;
}

#[tokio::test]
async fn a_group_of_tasks_on_a_current_thread_runtime() {
    group_pipeline(Log::in_memory(), |f| async move {
        tokio::spawn(f).await.unwrap()
    })
    .await;
}

#[test]
fn a_group_of_smol_tasks_gets_every_record_once_across_rebalances() {
    let ex = smol::Executor::new();
    smol::block_on(ex.run(group_pipeline(Log::in_memory(), |f| ex.spawn(f))));
}

struct Flag(AtomicUsize);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_waiting_member_stays_in_its_group_however_long_it_waits() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let log = Log::builder().clock(clock.clone()).in_memory().unwrap();
    log.create_topic(TOPIC, TopicConfig::default().partitions(2))
        .unwrap();
    let config = ConsumerConfig::new("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_interval(Duration::from_secs(1));
    let mut waiting = log.consumer(config.clone()).unwrap();
    waiting.subscribe(&[TOPIC]).unwrap();
    let mut idle = log.consumer(config.clone()).unwrap();
    idle.subscribe(&[TOPIC]).unwrap();
    idle.poll(Duration::ZERO).unwrap();

    let woken = Arc::new(Flag(AtomicUsize::new(0)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut recv = Box::pin(waiting.recv());
    assert!(recv.as_mut().poll(&mut cx).is_pending(), "nothing to read");

    // Ten times the max_poll_interval: the idle member (not polling) is
    // gone, the waiting one (polling, in an async recv) is not.
    clock.advance(10_000);
    let mut third = log.consumer(config).unwrap();
    third.subscribe(&[TOPIC]).unwrap();
    third.poll(Duration::ZERO).unwrap();
    let members = log.group("g").describe().unwrap().members;
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(
        woken.0.load(Ordering::SeqCst) > 0,
        "the rebalance woke the task"
    );

    // The waiting member follows the rebalance (committing its position
    // on the commit thread before it gives a partition up), the new one
    // gets its share, and an append reaches whoever owns the partition.
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.group("g").describe().unwrap().state != GroupState::Stable
        || third.assignment().is_empty()
    {
        assert!(Instant::now() < deadline, "the rebalance never ended");
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        third.poll(Duration::from_millis(5)).unwrap();
    }
    let owners: Vec<_> = log
        .group("g")
        .describe()
        .unwrap()
        .members
        .iter()
        .map(|m| m.assignment.len())
        .collect();
    assert_eq!(owners, [1, 1], "one partition each");
    let theirs = third.assignment()[0].1;
    let mine = 1 - theirs;
    // Writes on the commit thread since the task's last poll (its commit
    // before the hand-over, the group's membership record) publish too,
    // and may have taken its wake-up: poll until it waits through a quiet
    // moment, so the wake-up checked below is the append's.
    let before = loop {
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        let before = woken.0.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        if woken.0.load(Ordering::SeqCst) == before {
            break before;
        }
    };
    log.topic(TOPIC)
        .unwrap()
        .partition(mine)
        .unwrap()
        .append(&[Record::new(b"for the waiting one")])
        .unwrap();
    assert!(
        woken.0.load(Ordering::SeqCst) > before,
        "woken by the append"
    );
    match recv.as_mut().poll(&mut cx) {
        Poll::Ready(r) => assert_eq!(r.unwrap().partition, mine),
        Poll::Pending => panic!("the record is there"),
    }
}

#[test]
fn a_dropped_stream_or_recv_consumes_only_what_it_returned() {
    let log = Log::in_memory();
    log.create_topic(TOPIC, TopicConfig::default()).unwrap();
    let p = log.topic(TOPIC).unwrap().partition(0).unwrap();
    let records: Vec<_> = (0..10).map(|i| Record::new(format!("r{i}"))).collect();
    p.append(&records).unwrap();
    let mut consumer = group_consumer(&log, "g");
    consumer.assign(&[(TOPIC, 0)]).unwrap();
    // The stream fetched all ten and handed out two.
    let mut stream = consumer.stream();
    let first = futures::executor::block_on(stream.next()).unwrap().unwrap();
    let second = futures::executor::block_on(stream.next()).unwrap().unwrap();
    assert_eq!((first.offset, second.offset), (0, 1));
    drop(stream);
    assert_eq!(consumer.position(TOPIC, 0).unwrap(), 2);
    // One more from recv; then the blocking poll returns the rest.
    assert_eq!(
        futures::executor::block_on(consumer.recv()).unwrap().offset,
        2
    );
    let rest = consumer.poll(Duration::ZERO).unwrap();
    let offsets: Vec<u64> = rest.iter().map(|r| r.offset()).collect();
    assert_eq!(offsets, (3..10).collect::<Vec<_>>());
    // A recv dropped while it waits consumed nothing either.
    {
        let waker = Waker::from(Arc::new(Flag(AtomicUsize::new(0))));
        let mut recv = Box::pin(consumer.recv());
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    assert_eq!(consumer.position(TOPIC, 0).unwrap(), 10);
    p.append(&[Record::new(b"r10")]).unwrap();
    assert_eq!(
        futures::executor::block_on(consumer.recv()).unwrap().offset,
        10
    );
}

/// Polls `f` up to `polls` times (yielding to the runtime in between),
/// then drops it: the random cancellation of the test below.
async fn poll_a_few<F: Future + Unpin>(f: &mut F, polls: u64) -> Option<F::Output> {
    for _ in 0..polls {
        if let Poll::Ready(v) = futures::poll!(&mut *f) {
            return Some(v);
        }
        tokio::task::yield_now().await;
    }
    None
}

#[tokio::test]
async fn futures_cancelled_at_random_lose_nothing_and_skip_nothing() {
    let seed = common::crash_seed();
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open(tmp.path()).unwrap();
    log.create_topic(TOPIC, TopicConfig::default().partitions(3))
        .unwrap();
    const N: usize = 600;
    let producer = log.producer();
    let produce = {
        let producer = producer.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                let d = producer
                    .send(TOPIC, Record::new(format!("v{i}")).key(format!("{i}")))
                    .unwrap();
                if i % 40 == 0 {
                    d.wait().unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            producer.flush().unwrap();
        })
    };
    let mut consumer = log
        .consumer(
            ConsumerConfig::new("cancel")
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .max_poll_records(7)
                .auto_commit_interval(Duration::from_millis(5)),
        )
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut got: Vec<OwnedRecord> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < N {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: stuck at {}",
            got.len()
        );
        let polls = rng.range(0, 4);
        match rng.range(0, 4) {
            0 => {
                let mut f = consumer.recv();
                if let Some(r) = poll_a_few(&mut f, polls).await {
                    got.push(r.unwrap());
                }
            }
            1 => {
                let mut f = consumer.recv_batch();
                if let Some(r) = poll_a_few(&mut f, polls).await {
                    got.extend(r.unwrap().iter().map(|r| r.into_owned()));
                }
            }
            2 => {
                let mut stream = consumer.stream();
                for _ in 0..rng.range(1, 10) {
                    let mut next = stream.next();
                    match poll_a_few(&mut next, polls).await {
                        Some(r) => got.push(r.unwrap().unwrap()),
                        None => break,
                    }
                }
            }
            _ => {
                // A commit started and dropped is still written; one
                // awaited succeeds.
                let commit = consumer.commit_async();
                if rng.range(0, 2) == 0 {
                    commit.await.unwrap();
                }
            }
        }
    }
    produce.join().unwrap();
    assert_eq!(got.len(), N, "seed {seed}");
    assert_each_once(&log, &got, &format!("seed {seed}"));
    assert_in_order(&got, &format!("seed {seed}"));
    consumer.close_async().await.unwrap();
    assert_committed_to_the_end(&log, "cancel", &format!("seed {seed}"));
}

#[tokio::test]
async fn close_async_commits_before_the_next_owner_starts() {
    let log = Log::in_memory();
    log.create_topic(TOPIC, TopicConfig::default()).unwrap();
    let p = log.topic(TOPIC).unwrap().partition(0).unwrap();
    let records: Vec<_> = (0..10).map(|i| Record::new(format!("r{i}"))).collect();
    p.append(&records).unwrap();
    let mut first = group_consumer(&log, "handover");
    first.subscribe(&[TOPIC]).unwrap();
    for i in 0..4 {
        assert_eq!(first.recv().await.unwrap().offset, i);
    }
    first.close_async().await.unwrap();
    let mut second = group_consumer(&log, "handover");
    second.subscribe(&[TOPIC]).unwrap();
    assert_eq!(
        second.recv().await.unwrap().offset,
        4,
        "resumes after the 4 handed out"
    );
}

#[test]
fn async_commits_from_many_threads_are_written_in_order_and_never_stall() {
    // Commits checked on several threads at once go to the one commit
    // thread: each must be queued in the order it was checked, or the
    // thread would wait for a commit queued behind the one it runs.
    let log = Log::in_memory();
    log.create_topic(TOPIC, TopicConfig::default().partitions(4))
        .unwrap();
    for p in 0..4 {
        let records: Vec<_> = (0..500).map(|i| Record::new(format!("r{i}"))).collect();
        log.topic(TOPIC)
            .unwrap()
            .partition(p)
            .unwrap()
            .append(&records)
            .unwrap();
    }
    let threads: Vec<_> = (0..4u32)
        .map(|p| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut consumer = log
                    .consumer(ConsumerConfig::new("many").enable_auto_commit(false))
                    .unwrap();
                consumer.assign(&[(TOPIC, p)]).unwrap();
                let mut pending = Vec::new();
                for offset in 1..=500u64 {
                    let offsets = [((TOPIC.to_owned(), p), OffsetAndMetadata::new(offset))];
                    pending.push(consumer.commit_offsets_async(&offsets));
                    if offset % 50 == 0 {
                        for c in pending.drain(..) {
                            futures::executor::block_on(c).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    for t in threads {
        while !t.is_finished() {
            assert!(Instant::now() < deadline, "the commits stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
        t.join().unwrap();
    }
    assert_committed_to_the_end(&log, "many", "last commit wins");
}
