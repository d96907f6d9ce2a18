//! The async forms, polled by hand: where a task's waker is left, when it
//! is woken, and what a future dropped midway leaves behind. The
//! appender is held up with failing writes (retried until the fault is
//! disarmed), so a future stays pending for as long as a test needs.

use super::*;
use crate::log::LogBuilder;
use crate::record::Record;
use crate::storage::faulty::{FaultyStorage, Op};
use crate::storage::{MemStorage, Storage};
use crate::topic::TopicConfig;
use futures_core::future::FusedFuture;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Count {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

fn poll<F: Future + ?Sized>(f: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// Waits (up to 20 s) for `cond`.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A log on faulty storage and a producer whose appender retries a
/// failed write every millisecond, for as long as the fault is armed.
fn stalled(config: ProducerConfig) -> (FaultyStorage, Log, Producer) {
    let faulty = FaultyStorage::new(Arc::new(MemStorage::default()));
    let storage: Arc<dyn Storage> = Arc::new(faulty.clone());
    let log = Log::open_with(storage, Path::new("/log"), LogBuilder::default()).unwrap();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = log
        .producer_with(
            config
                .retries(u32::MAX)
                .retry_backoff(Duration::from_millis(1)),
        )
        .unwrap();
    // Fault: every write fails (ENOSPC) until disarmed.
    faulty.arm(Op::Write, std::io::ErrorKind::StorageFull);
    (faulty, log, producer)
}

fn waiting_tasks(producer: &Producer) -> usize {
    producer.handle.shared.acc.lock().queue.tasks.len()
}

fn high_watermark(log: &Log) -> u64 {
    log.topic("t")
        .unwrap()
        .partition(0)
        .unwrap()
        .high_watermark()
}

/// Polled twice, by the same task and then through a clone of its waker,
/// a flush is in the list once; the batch completing wakes it once.
#[test]
fn a_flush_async_task_is_registered_once_and_woken_once() {
    let (faulty, log, producer) =
        stalled(ProducerConfig::default().linger(Duration::from_secs(60)));
    let delivery = producer.send("t", Record::new(b"v")).unwrap();
    let mut flush = pin!(producer.flush_async());
    let (count, waker) = counting();
    assert!(poll(flush.as_mut(), &waker).is_pending());
    assert!(poll(flush.as_mut(), &waker.clone()).is_pending());
    assert_eq!(waiting_tasks(&producer), 1);
    assert_eq!(count.get(), 0, "nothing completed yet");

    faulty.disarm();
    eventually("the flush is woken", || count.get() > 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(count.get(), 1, "woken once");
    assert!(matches!(poll(flush.as_mut(), &waker), Poll::Ready(Ok(()))));
    assert!(flush.is_terminated());
    assert!(poll(flush.as_mut(), &waker).is_pending(), "fused");
    assert_eq!(delivery.wait().unwrap().offset, 0);
    assert_eq!(high_watermark(&log), 1);
    assert_eq!(waiting_tasks(&producer), 0);
}

/// A flush waits for what was sent before the call, not after: the
/// target is taken when it is made.
#[test]
fn a_flush_async_does_not_wait_for_records_sent_after_the_call() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let producer = log
        .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
        .unwrap();
    let mut flush = pin!(producer.flush_async());
    let later = producer.send("t", Record::new(b"later")).unwrap();
    let (_, waker) = counting();
    assert!(matches!(poll(flush.as_mut(), &waker), Poll::Ready(Ok(()))));
    assert!(!later.is_done(), "still lingering in its open batch");
}

/// 124 bytes a record against a 1000-byte buffer: eight fit, the ninth
/// send waits as a task, and is woken, placed and delivered once the
/// appender frees space.
#[test]
fn a_send_async_on_a_full_buffer_is_pending_then_completes_once_space_frees() {
    let (faulty, log, producer) = stalled(
        ProducerConfig::default()
            .linger(Duration::from_secs(60))
            .batch_bytes(500)
            .buffer_bytes(1000),
    );
    let value = [7u8; 100];
    let (count, waker) = counting();
    let mut deliveries = Vec::new();
    for _ in 0..8 {
        let mut send = pin!(producer.send_async("t", Record::new(&value)));
        match poll(send.as_mut(), &waker) {
            Poll::Ready(d) => deliveries.push(d.unwrap()),
            Poll::Pending => panic!("room for eight records"),
        }
        assert!(send.is_terminated());
    }
    let mut ninth = pin!(producer.send_async("t", Record::new(&value)));
    assert!(
        poll(ninth.as_mut(), &waker).is_pending(),
        "the buffer is full"
    );
    assert!(poll(ninth.as_mut(), &waker).is_pending());
    assert_eq!(waiting_tasks(&producer), 1);
    assert!(!ninth.is_terminated());

    faulty.disarm();
    eventually("the send is woken", || count.get() > 0);
    let d = match poll(ninth.as_mut(), &waker) {
        Poll::Ready(d) => d.unwrap(),
        Poll::Pending => panic!("woken with room: {:?}", producer.handle.shared.config),
    };
    assert_eq!(waiting_tasks(&producer), 0);
    deliveries.push(d);
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.wait().unwrap().offset, i as u64);
    }
    producer.flush().unwrap();
    assert_eq!(high_watermark(&log), 9);
}

/// A send future dropped while it waited for space (or before it was
/// ever polled) sent nothing, and left no waker behind.
#[test]
fn a_dropped_send_future_sent_nothing() {
    let (faulty, log, producer) = stalled(
        ProducerConfig::default()
            .linger(Duration::from_secs(60))
            .batch_bytes(500)
            .buffer_bytes(1000),
    );
    let value = [7u8; 100];
    let (_, waker) = counting();
    for _ in 0..8 {
        let _ = producer.send("t", Record::new(&value)).unwrap();
    }
    {
        let mut waiting = pin!(producer.send_async("t", Record::new(b"dropped while waiting")));
        assert!(poll(waiting.as_mut(), &waker).is_pending());
        assert_eq!(waiting_tasks(&producer), 1);
    }
    assert_eq!(waiting_tasks(&producer), 0, "its waker went with it");
    drop(producer.send_async("t", Record::new(b"never polled")));

    faulty.disarm();
    producer.flush().unwrap();
    assert_eq!(high_watermark(&log), 8, "only the sends that resolved");
    let last = producer
        .send("t", Record::new(b"after"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(last.offset, 8);
}

/// A close waits for the flush, then for the threads to end, as a task:
/// each poll returns at once, and once it resolved the producer refuses
/// sends and has no thread left to join.
#[test]
fn a_close_async_waits_for_the_threads_as_a_task() {
    let (faulty, log, producer) = stalled(ProducerConfig::default());
    assert_eq!(producer.handle.shared.acc.lock().queue.threads, 2);
    let delivery = producer.send("t", Record::new(b"last")).unwrap();
    let mut close = pin!(producer.close_async());
    let (count, waker) = counting();
    assert!(
        poll(close.as_mut(), &waker).is_pending(),
        "its flush is stuck"
    );
    assert!(
        !producer.handle.shared.acc.lock().queue.closed,
        "not closed before the flush"
    );

    faulty.disarm();
    let mut seen = 0;
    let flushed = loop {
        eventually("the close is woken", || count.get() > seen);
        seen = count.get();
        if let Poll::Ready(r) = poll(close.as_mut(), &waker) {
            break r;
        }
    };
    flushed.unwrap();
    assert!(close.is_terminated());
    assert_eq!(producer.handle.shared.acc.lock().queue.threads, 0);
    assert!(producer.handle.threads.lock().is_empty(), "joined");
    assert_eq!(delivery.wait().unwrap().offset, 0);
    assert_eq!(high_watermark(&log), 1);
    assert!(matches!(
        producer.send("t", Record::new(b"late")),
        Err(Error::Closed { .. })
    ));
}

/// A send waiting for space when the producer closes is refused, not
/// placed in a buffer nobody appends any more.
#[test]
fn a_send_async_waiting_for_space_is_refused_once_the_producer_closes() {
    let (faulty, _log, producer) = stalled(
        ProducerConfig::default()
            .linger(Duration::from_secs(60))
            .batch_bytes(500)
            .buffer_bytes(1000),
    );
    let value = [7u8; 100];
    for _ in 0..8 {
        let _ = producer.send("t", Record::new(&value)).unwrap();
    }
    let (count, waker) = counting();
    let mut waiting = pin!(producer.send_async("t", Record::new(&value)));
    assert!(poll(waiting.as_mut(), &waker).is_pending());
    // Closed as `close` does once its flush is done (here it never would
    // be, the appender being stuck).
    producer.handle.mark_closed();
    faulty.disarm();
    eventually("the send is woken", || count.get() > 0);
    assert!(matches!(
        poll(waiting.as_mut(), &waker),
        Poll::Ready(Err(Error::Closed { .. }))
    ));
    producer.close().unwrap();
}
