//! Flushing and closing, blocking or as futures.
//!
//! A flush closes the open batches, wakes the appender, and waits until
//! the batches completed count reaches the count enqueued at its start.
//! The blocking forms wait on `Shared::progress`; the futures leave their
//! task's waker in the accumulator's `Wakers`, woken at the same places.
//! An async close then waits, the same way, for the threads to count
//! themselves out, and only then joins them, which returns at once.

use super::accumulator::Accumulator;
use super::wakers::WakerKey;
use super::{Handle, Producer, Shared};
use crate::error::Result;
use futures_core::future::FusedFuture;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

impl Producer {
    /// Appends everything sent so far and waits until it is delivered (per
    /// the producer's [`Acks`](super::Acks); the partitions' sync policies
    /// apply). Returns the first error any batch met since the last flush.
    /// The batches the appender has not taken yet are written in the
    /// calling thread, as a waiting [`Delivery`](super::Delivery) writes
    /// its own: the caller waits anyway, and no hand-off to the producer's
    /// threads and back is added to the wait.
    /// [`Producer::flush_async`] is the same without blocking the thread
    /// (its writes are the producer threads').
    pub fn flush(&self) -> Result<()> {
        let s = &*self.handle.shared;
        s.write_ready_here();
        let mut acc = s.acc.lock();
        let target = s.start_flush(&mut acc);
        while acc.queue.completed < target {
            s.progress.wait(&mut acc);
        }
        acc.queue.first_error.take().map_or(Ok(()), Err)
    }

    /// [`Producer::flush`] as a future that never blocks its thread.
    ///
    /// The flush starts when this is called, not when it is first
    /// polled: the open batches are closed and handed to the appender
    /// now, and the future resolves once every record sent before the
    /// call is delivered (records sent later may be too, but it does not
    /// wait for them), with the first error any batch met since the last
    /// flush. The task is woken as batches complete. Dropping the future
    /// changes nothing: the records are delivered anyway, and an error it
    /// would have returned is left for the next flush.
    ///
    /// ```
    /// use samsa_log::topic::TopicConfig;
    /// use samsa_log::{Log, Record};
    ///
    /// # fn main() -> samsa_log::Result<()> {
    /// let log = Log::in_memory();
    /// log.create_topic("orders", TopicConfig::default())?;
    /// let producer = log.producer();
    /// for i in 0..10u8 {
    ///     let _ = producer.send("orders", Record::new(&[i]))?;
    /// }
    /// futures::executor::block_on(producer.flush_async())?;
    /// let p = log.topic("orders")?.partition(0)?;
    /// assert_eq!(p.high_watermark(), 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn flush_async(&self) -> FlushFuture {
        let shared = self.handle.shared.clone();
        let target = shared.start_flush(&mut shared.acc.lock());
        FlushFuture {
            shared,
            target,
            key: None,
            done: false,
        }
    }

    /// Flushes, then stops the appender thread. Every clone is closed:
    /// later sends get [`Error::Closed`](crate::Error::Closed).
    /// [`Producer::close_async`] is the same without blocking the thread.
    pub fn close(&self) -> Result<()> {
        let flushed = self.flush();
        self.handle.stop();
        flushed
    }

    /// [`Producer::close`] as a future that never blocks its thread: it
    /// flushes as [`Producer::flush_async`] does (starting when called),
    /// then closes the producer (every clone: later sends get
    /// [`Error::Closed`](crate::Error::Closed)) and waits for its threads
    /// to finish what is buffered and end, without a blocking join.
    /// Resolves to the flush's result.
    ///
    /// Dropped before its flush resolved, it closes nothing; dropped
    /// later, the producer is closed and its threads end on their own.
    ///
    /// ```
    /// use samsa_log::topic::TopicConfig;
    /// use samsa_log::{Error, Log, Record};
    ///
    /// # fn main() -> samsa_log::Result<()> {
    /// let log = Log::in_memory();
    /// log.create_topic("orders", TopicConfig::default())?;
    /// let producer = log.producer();
    /// let _ = producer.send("orders", Record::new(b"last"))?;
    /// futures::executor::block_on(producer.close_async())?;
    /// assert!(matches!(producer.send("orders", Record::new(b"late")), Err(Error::Closed { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close_async(&self) -> ProducerCloseFuture<'_> {
        ProducerCloseFuture {
            producer: self,
            state: CloseState::Flushing(self.flush_async()),
            key: None,
        }
    }
}

impl Shared {
    /// Closes every open batch and writes, in this thread, those ready
    /// batches no one else is writing (see `Queue::take_for_caller`).
    fn write_ready_here(&self) {
        loop {
            let batch = {
                let mut acc = self.acc.lock();
                acc.close_expired(None);
                acc.queue.take_for_caller()
            };
            match batch {
                Some(b) => self.write_for_waiter(b),
                None => return,
            }
        }
    }

    /// Starts a flush: closes every open batch and wakes the appender if it
    /// has batches to take; returns the count of batches enqueued so far,
    /// which the flush waits for `completed` to reach.
    ///
    /// A batch not yet completed is ready (the appender's to take, so it is
    /// woken), being written by the appender or by a waiting caller (each
    /// completes its own), or written and waiting for the syncer. Only the
    /// first needs the appender: waking it for nothing costs a blocking
    /// flush a futex call and the appender's lock hand-off, about 7 us of
    /// a transaction's commit, whose flush usually wrote everything in its
    /// own thread (`write_ready_here`).
    fn start_flush(&self, acc: &mut Accumulator) -> u64 {
        acc.close_expired(None);
        if acc.queue.has_work() {
            self.wake.notify_one();
        }
        acc.queue.enqueued
    }
}

/// The future of [`Producer::flush_async`]: `Ok(())` once every record
/// sent before the call is delivered, or the first error since the last
/// flush.
///
/// It does not borrow the producer (it may be spawned); polled again
/// after it resolved, it stays pending ([`FusedFuture::is_terminated`]).
#[must_use = "the flush started, but only awaiting it tells when it ended and whether it failed"]
pub struct FlushFuture {
    shared: Arc<Shared>,
    target: u64,
    /// Where the task's waker is, while it waits.
    key: Option<WakerKey>,
    done: bool,
}

impl fmt::Debug for FlushFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushFuture")
            .field("target", &self.target)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Future for FlushFuture {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Pending;
        }
        let mut acc = this.shared.acc.lock();
        if acc.queue.completed < this.target {
            // Under the lock that batches complete under: no wake-up
            // falls between the look and the registration.
            acc.queue.tasks.register(&mut this.key, cx.waker());
            return Poll::Pending;
        }
        acc.queue.tasks.deregister(&mut this.key);
        this.done = true;
        Poll::Ready(acc.queue.first_error.take().map_or(Ok(()), Err))
    }
}

impl FusedFuture for FlushFuture {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for FlushFuture {
    fn drop(&mut self) {
        if self.key.is_some() {
            self.shared.acc.lock().queue.tasks.deregister(&mut self.key);
        }
    }
}

/// The future of [`Producer::close_async`]: the flush's result, once the
/// producer is closed and its threads have ended.
///
/// Polled again after it resolved, it stays pending
/// ([`FusedFuture::is_terminated`]).
#[must_use = "futures do nothing unless awaited: a ProducerCloseFuture never polled closed nothing"]
pub struct ProducerCloseFuture<'p> {
    producer: &'p Producer,
    state: CloseState,
    /// Where the task's waker is, while it waits for the threads.
    key: Option<WakerKey>,
}

/// How far a close got.
#[derive(Debug)]
enum CloseState {
    Flushing(FlushFuture),
    /// Flushed (with this result) and closed: waiting for the threads.
    Stopping(Result<()>),
    Done,
}

impl fmt::Debug for ProducerCloseFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerCloseFuture")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Future for ProducerCloseFuture<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let handle = &*this.producer.handle;
        loop {
            match std::mem::replace(&mut this.state, CloseState::Done) {
                CloseState::Flushing(mut flush) => match Pin::new(&mut flush).poll(cx) {
                    Poll::Pending => {
                        this.state = CloseState::Flushing(flush);
                        return Poll::Pending;
                    }
                    Poll::Ready(flushed) => {
                        handle.mark_closed();
                        this.state = CloseState::Stopping(flushed);
                    }
                },
                CloseState::Stopping(flushed) => {
                    let mut acc = handle.shared.acc.lock();
                    if acc.queue.threads > 0 {
                        acc.queue.tasks.register(&mut this.key, cx.waker());
                        this.state = CloseState::Stopping(flushed);
                        return Poll::Pending;
                    }
                    acc.queue.tasks.deregister(&mut this.key);
                    drop(acc);
                    // Each thread counted itself out as its last step:
                    // the joins return at once.
                    handle.join();
                    return Poll::Ready(flushed);
                }
                CloseState::Done => return Poll::Pending,
            }
        }
    }
}

impl FusedFuture for ProducerCloseFuture<'_> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, CloseState::Done)
    }
}

impl Drop for ProducerCloseFuture<'_> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let mut acc = self.producer.handle.shared.acc.lock();
            acc.queue.tasks.deregister(&mut self.key);
        }
    }
}

impl Handle {
    /// Closes the producer: later sends are refused, and the appender,
    /// woken, finishes what is buffered and ends (the syncer after it).
    pub(super) fn mark_closed(&self) {
        self.shared.acc.lock().queue.closed = true;
        self.shared.wake.notify_one();
    }

    /// Closes the producer and waits for its threads to end.
    pub(super) fn stop(&self) {
        self.mark_closed();
        self.join();
    }

    /// Joins the threads (each once: a later call finds none).
    pub(super) fn join(&self) {
        // The appender stops first; the syncer after the last written batch.
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}
