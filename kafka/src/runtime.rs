//! The async runtime rdkafka's futures run on: two threads for the whole
//! process, whatever the number of consumers and producers.
//!
//! rdkafka needs a runtime to spawn one task per `StreamConsumer` (a loop
//! that wakes the consumer's waiting futures every half
//! `max.poll.interval.ms`, so that a consumer awaiting an idle topic still
//! polls in time to stay in its group) and for the delays of a producer
//! retrying a full queue. Its `naive-runtime` spends a thread on each task
//! and on each delay, and a consumer's loop outlives the consumer by up to
//! half that interval. Here the tasks share one thread (futures-executor's
//! pool, of size one) and the delays one timer thread (futures-timer's),
//! both started on first use. samsa's own rule: a guest bounds the threads
//! it takes.

use futures_executor::ThreadPool;
use rdkafka::util::AsyncRuntime;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake};
use std::thread::Thread;
use std::time::Duration;

/// Wakes the thread blocked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to its end on this thread, parking it while the future
/// waits: the blocking calls' way of waiting on rdkafka's futures. Unlike
/// futures-executor's `block_on`, which panics when called inside another
/// of its executors, it may be called from any code, a test's
/// `block_on(async { ... })` included.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// rdkafka's runtime for the adapter's consumers and producers.
pub(crate) struct Shared;

fn pool() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        ThreadPool::builder()
            .pool_size(1)
            .name_prefix("samsa-kafka-wake")
            .create()
            .ok()
    })
    .as_ref()
}

impl AsyncRuntime for Shared {
    type Delay = futures_timer::Delay;

    fn spawn<T>(task: T)
    where
        T: Future<Output = ()> + Send + 'static,
    {
        match pool() {
            Some(pool) => pool.spawn_ok(task),
            // No pool thread to be had (the process is at its limit): the
            // task runs on a thread of its own, or, without one either,
            // not at all. rdkafka spawns only consumers' wake loops; a
            // consumer without one still gets every record, but one that
            // awaits an idle topic for longer than `max.poll.interval.ms`
            // may be taken for wedged and leave its group (its next `recv`
            // joins again).
            None => {
                let _ = std::thread::Builder::new()
                    .name("samsa-kafka-wake".into())
                    .spawn(move || block_on(task));
            }
        }
    }

    fn delay_for(duration: Duration) -> Self::Delay {
        futures_timer::Delay::new(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    #[test]
    fn block_on_waits_and_nests() {
        // Inside another executor's `block_on`, where futures-executor's
        // own would panic.
        let out = futures_executor::block_on(async {
            block_on(async {
                Shared::delay_for(Duration::from_millis(20)).await;
                7
            })
        });
        assert_eq!(out, 7);
    }

    #[test]
    fn tasks_run_and_delays_end() {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        for i in 0..3 {
            let tx = tx.clone();
            Shared::spawn(async move {
                Shared::delay_for(Duration::from_millis(50)).await;
                let _ = tx.send(i);
            });
        }
        let mut got: Vec<i32> = (0..3)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("a task ran")
            })
            .collect();
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        // The three delays ran together on the one pool thread.
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
