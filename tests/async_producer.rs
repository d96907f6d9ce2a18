//! Scenario: producing from async code (issue 15), under four executors
//! (tokio current-thread and multi-thread, smol, `futures`' block_on):
//! awaited deliveries report where their records landed; `flush_async`
//! returns once everything sent is readable; after `close_async` every
//! send is refused; a send into a full buffer parks its task, not its
//! thread, and loses nothing; and futures dropped at random points leave
//! in the log exactly the sends that resolved, once each.

mod common;

use common::Rng;
use futures::FutureExt;
use samsa_log::producer::{
    kafka_partition_for_key, DeliveryFuture, FlushFuture, ProducerCloseFuture, ProducerConfig,
    SendFuture,
};
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Producer, Record};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tempfile::TempDir;

/// Each scenario as four tests, one per executor.
macro_rules! on_every_executor {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn tokio_current_thread() {
                super::$scenario().await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tokio_multi_thread() {
                super::$scenario().await
            }

            #[test]
            fn smol() {
                smol::block_on(super::$scenario())
            }

            #[test]
            fn futures_block_on() {
                futures::executor::block_on(super::$scenario())
            }
        }
    )*};
}

on_every_executor!(
    awaited_deliveries_report_where_records_landed,
    flush_async_returns_once_everything_sent_is_readable,
    after_close_async_every_send_is_refused,
    a_full_buffer_parks_the_task_not_the_thread,
    dropped_futures_leave_exactly_the_resolved_sends,
);

/// A log on disk (with its directory) and one in memory.
fn logs() -> Vec<(&'static str, Option<TempDir>, Log)> {
    let tmp = tempfile::tempdir().unwrap();
    let disk = Log::open(tmp.path().join("log")).unwrap();
    vec![
        ("disk", Some(tmp), disk),
        ("memory", None, Log::in_memory()),
    ]
}

/// Every record value of every partition of `topic`, by partition.
fn contents(log: &Log, topic: &str) -> BTreeMap<u32, Vec<Vec<u8>>> {
    let t = log.topic(topic).unwrap();
    let mut out = BTreeMap::new();
    for (i, p) in (0u32..).zip(t.partitions()) {
        let mut values = Vec::new();
        let mut at = p.log_start_offset();
        while at < p.high_watermark() {
            let r = p.read(at, 1 << 20).unwrap();
            values.extend(r.iter().map(|r| r.value().unwrap().to_vec()));
            at = r.next_offset();
        }
        out.insert(i, values);
    }
    out
}

/// A 100-byte value that starts with `id`.
fn value(id: u64) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.resize(100, 0xab);
    v
}

fn id_of(value: &[u8]) -> u64 {
    u64::from_be_bytes(value[..8].try_into().unwrap())
}

/// A producer with a buffer of a few records: sends soon wait for space.
fn tiny_buffer(log: &Log) -> Producer {
    log.producer_with(
        ProducerConfig::default()
            .linger(Duration::from_millis(1))
            .batch_bytes(256)
            .buffer_bytes(1024),
    )
    .unwrap()
}

/// Returns `Pending` once, waking its task at once: lets the executor run
/// whatever else is ready, as any runtime's `yield_now` does.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Polls `inner`, counting the polls that left it pending and the ticks
/// of `ticker` that happened while it was.
struct Watched<'a, F> {
    inner: F,
    ticker: &'a Cell<u64>,
    pending_since: Option<u64>,
    pending_polls: &'a Cell<u64>,
    ticks_while_pending: &'a Cell<u64>,
}

impl<F: Future + Unpin> Future for Watched<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = Pin::new(&mut self.inner).poll(cx);
        let now = self.ticker.get();
        match out {
            Poll::Pending => {
                self.pending_polls.set(self.pending_polls.get() + 1);
                self.pending_since.get_or_insert(now);
            }
            Poll::Ready(_) => {
                if let Some(since) = self.pending_since {
                    self.ticks_while_pending
                        .set(self.ticks_while_pending.get() + (now - since));
                }
            }
        }
        out
    }
}

#[test]
fn the_futures_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<SendFuture<'static, 'static>>();
    send::<FlushFuture>();
    send::<ProducerCloseFuture<'static>>();
    send::<DeliveryFuture>();
}

async fn awaited_deliveries_report_where_records_landed() {
    for (what, _dir, log) in logs() {
        log.create_topic("t", TopicConfig::default().partitions(3))
            .unwrap();
        let producer = log.producer();
        let mut pending = Vec::new();
        let mut landed: BTreeMap<u32, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for i in 0..120u64 {
            let key = format!("key-{}", i % 7);
            let record = Record::new(value(i)).key(key.clone());
            let delivery = producer.send_async("t", record).await.unwrap();
            pending.push((i, key, delivery));
            // Every fifth send awaits the ones before it (oldest first).
            if i % 5 == 4 {
                for (i, key, delivery) in pending.drain(..) {
                    let md = delivery.await.unwrap();
                    assert_eq!(&*md.topic, "t", "{what}");
                    assert_eq!(
                        md.partition,
                        kafka_partition_for_key(key.as_bytes(), 3),
                        "{what}: {key}"
                    );
                    landed
                        .entry(md.partition)
                        .or_default()
                        .push((md.offset, value(i)));
                }
            }
        }
        let stored = contents(&log, "t");
        for (p, records) in &landed {
            let offsets: Vec<u64> = records.iter().map(|r| r.0).collect();
            let consecutive: Vec<u64> = (0..records.len() as u64).collect();
            assert_eq!(offsets, consecutive, "{what}: partition {p}'s offsets");
            let values: Vec<&Vec<u8>> = records.iter().map(|r| &r.1).collect();
            assert_eq!(
                values,
                stored[p].iter().collect::<Vec<_>>(),
                "{what}: partition {p} holds what its deliveries reported"
            );
        }
        assert_eq!(landed.values().map(Vec::len).sum::<usize>(), 120, "{what}");
        producer.close_async().await.unwrap();
    }
}

async fn flush_async_returns_once_everything_sent_is_readable() {
    for (what, _dir, log) in logs() {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        // A linger of a minute: only the flush appends the batches.
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
            .unwrap();
        for i in 0..500u64 {
            let record = Record::new(value(i)).partition((i % 2) as u32);
            let _fire_and_forget = producer.send_async("t", record).await.unwrap();
        }
        producer.flush_async().await.unwrap();
        let stored = contents(&log, "t");
        for p in 0..2u64 {
            let ids: Vec<u64> = stored[&(p as u32)].iter().map(|v| id_of(v)).collect();
            let sent: Vec<u64> = (0..500).filter(|i| i % 2 == p).collect();
            assert_eq!(ids, sent, "{what}: partition {p}");
        }
        // Nothing sent since: a second flush returns at once.
        producer.flush_async().await.unwrap();
    }
}

async fn after_close_async_every_send_is_refused() {
    for (what, _dir, log) in logs() {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
            .unwrap();
        let clone = producer.clone();
        let delivery = producer
            .send_async("t", Record::new(value(0)))
            .await
            .unwrap();
        producer.close_async().await.unwrap();
        // The buffered record was appended before the threads ended.
        assert_eq!(delivery.await.unwrap().offset, 0, "{what}");
        let refused = producer.send_async("t", Record::new(value(1))).await;
        assert!(matches!(refused, Err(Error::Closed { .. })), "{what}");
        let refused = clone.send("t", Record::new(value(2)));
        assert!(matches!(refused, Err(Error::Closed { .. })), "{what}");
        // Closing again, or flushing, has nothing left to do.
        producer.flush_async().await.unwrap();
        clone.close_async().await.unwrap();
        assert_eq!(contents(&log, "t")[&0].len(), 1, "{what}");
    }
}

async fn a_full_buffer_parks_the_task_not_the_thread() {
    const SENDS: u64 = 3000;
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default().partitions(3))
        .unwrap();
    let producer = tiny_buffer(&log);
    let ticker = Cell::new(0u64);
    let done = Cell::new(false);
    let pending_polls = Cell::new(0u64);
    let ticks_while_pending = Cell::new(0u64);
    // In the same task as the sends: if a send blocked its thread, this
    // would not tick until it returned.
    let ticking = async {
        while !done.get() {
            ticker.set(ticker.get() + 1);
            YieldNow(false).await;
        }
    };
    let sending = async {
        let mut deliveries = Vec::new();
        for i in 0..SENDS {
            let record = Record::new(value(i)).partition((i % 3) as u32);
            let send = Watched {
                inner: producer.send_async("t", record),
                ticker: &ticker,
                pending_since: None,
                pending_polls: &pending_polls,
                ticks_while_pending: &ticks_while_pending,
            };
            deliveries.push((i, send.await.unwrap()));
        }
        producer.flush_async().await.unwrap();
        done.set(true);
        deliveries
    };
    let ((), deliveries) = futures::join!(ticking, sending);
    assert!(
        pending_polls.get() > 0,
        "no send ever waited for space: the buffer is not tiny"
    );
    assert!(
        ticks_while_pending.get() > 0,
        "the other future never ran while a send waited"
    );

    // Every record once, each partition in the order sent, where its
    // delivery says.
    let stored = contents(&log, "t");
    for p in 0..3u64 {
        let ids: Vec<u64> = stored[&(p as u32)].iter().map(|v| id_of(v)).collect();
        let sent: Vec<u64> = (0..SENDS).filter(|i| i % 3 == p).collect();
        assert_eq!(ids, sent, "partition {p}");
    }
    for (i, delivery) in deliveries {
        let md = delivery.await.unwrap();
        assert_eq!(md.partition as u64, i % 3);
        assert_eq!(md.offset, i / 3, "record {i}");
    }
}

/// What a round of the cancellation loop did with its send.
#[derive(Debug, Default)]
struct Tally {
    unpolled: u64,
    dropped_pending: u64,
    resolved: u64,
    deliveries_dropped: u64,
    deliveries_polled_once: u64,
    deliveries_awaited: u64,
}

async fn dropped_futures_leave_exactly_the_resolved_sends() {
    // A fixed schedule by default; SAMSA_ASYNC_SEED tries others.
    let seed = std::env::var("SAMSA_ASYNC_SEED").map_or(15, |s| s.parse().expect("a number"));
    let mut rng = Rng::new(seed);
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default().partitions(2))
        .unwrap();
    // Records of about 400 bytes against 1 KiB: the third waits for space.
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .linger(Duration::from_millis(1))
                .batch_bytes(1024)
                .buffer_bytes(1024),
        )
        .unwrap();
    let mut tally = Tally::default();
    // Sends that resolved to a delivery, by id; and where the awaited
    // deliveries said their records are.
    let mut sent = Vec::new();
    let mut reported = Vec::new();
    for id in 0..2000u64 {
        let mut v = value(id);
        v.resize(400, 0xcd);
        let record = Record::new(v).partition((id % 2) as u32);
        let mut send = producer.send_async("t", record);
        let delivery = match rng.range(0, 4) {
            0 => {
                tally.unpolled += 1;
                continue;
            }
            // Polled once, then dropped if it had to wait.
            1 | 2 => match (&mut send).now_or_never() {
                Some(delivery) => delivery.unwrap(),
                None => {
                    tally.dropped_pending += 1;
                    continue;
                }
            },
            _ => send.await.unwrap(),
        };
        tally.resolved += 1;
        sent.push(id);
        match rng.range(0, 3) {
            0 => {
                tally.deliveries_dropped += 1;
                drop(delivery);
            }
            1 => {
                // Handed to the appender by its first poll, then dropped.
                tally.deliveries_polled_once += 1;
                let mut future = delivery.into_future();
                if let Some(md) = (&mut future).now_or_never() {
                    reported.push((id, md.unwrap()));
                }
            }
            _ => {
                tally.deliveries_awaited += 1;
                reported.push((id, delivery.await.unwrap()));
            }
        }
        // Now and then the task lets the producer catch up.
        if rng.range(0, 50) == 0 {
            YieldNow(false).await;
        }
    }
    producer.flush_async().await.unwrap();
    eprintln!("dropped_futures_leave_exactly_the_resolved_sends: seed={seed} {tally:?}");
    assert!(
        tally.dropped_pending > 0,
        "seed {seed}: no send was dropped while waiting: {tally:?}"
    );

    let stored = contents(&log, "t");
    for p in 0..2u64 {
        let ids: Vec<u64> = stored[&(p as u32)].iter().map(|v| id_of(v)).collect();
        let expected: Vec<u64> = sent.iter().copied().filter(|id| id % 2 == p).collect();
        assert_eq!(
            ids, expected,
            "seed {seed}: partition {p} holds exactly the resolved sends, in order"
        );
    }
    for (id, md) in reported {
        let at = &stored[&md.partition][md.offset as usize];
        assert_eq!(id_of(at), id, "seed {seed}: record {id} is where reported");
    }
}

/// Many tasks on a multi-thread runtime, each sending through its own
/// clone and awaiting each delivery: every record lands once, each
/// task's in the order it sent them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_send_concurrently() {
    const TASKS: u64 = 4;
    const SENDS: u64 = 300;
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = tiny_buffer(&log);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let producer = producer.clone();
            tokio::spawn(async move {
                for i in 0..SENDS {
                    let id = t * SENDS + i;
                    let delivery = producer.send_async("t", Record::new(value(id))).await?;
                    // Every other delivery awaited; the rest left to the flush.
                    if i % 2 == 0 {
                        delivery.await?;
                    }
                }
                producer.flush_async().await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stored = contents(&log, "t");
    let mut last = vec![None::<u64>; TASKS as usize];
    for v in &stored[&0] {
        let id = id_of(v);
        let (t, i) = ((id / SENDS) as usize, id % SENDS);
        assert!(
            last[t].is_none_or(|l| l < i),
            "task {t}: {i} after {last:?}"
        );
        last[t] = Some(i);
    }
    assert_eq!(stored[&0].len() as u64, TASKS * SENDS);
    producer.close_async().await.unwrap();
}
