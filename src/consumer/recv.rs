//! The consumer's async API: [`Consumer::recv`] (one owned record),
//! [`Consumer::recv_batch`] (what `poll` returns), [`Consumer::stream`]
//! (a `Stream` of owned records), async commits and close.
//!
//! Runtime-agnostic: a waiting future leaves its `Waker` on the log's
//! append signal, which the append that publishes records (and every
//! rebalance of a group) wakes; no timer, no thread per consumer. Nothing
//! here blocks the task's thread on disk I/O: reads come from the
//! partitions' memory maps (a page not in the page cache is read in, as
//! with any mapped file), and commits, an append to `__consumer_offsets`
//! (with an fsync under `SyncPolicy::Always`), are written on the log's
//! commit thread (`samsa-commit`, one per log, started by the first async
//! commit, stopped after a second without work).
//!
//! Cancellation: positions move only when a record is handed out, so a
//! future dropped before it resolved consumed nothing, and the next call
//! returns the same records.

use super::group::{Io, Step};
use super::{Consumer, ConsumerRecords};
use crate::error::{Error, Result};
use crate::group::committer::Completion;
use crate::group::OffsetAndMetadata;
use crate::record::OwnedRecord;
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

impl Consumer {
    /// The next record from the assigned, unpaused partitions, waiting as
    /// long as it takes (wrap it in your runtime's timeout to bound the
    /// wait): the async form of [`Self::poll`], one owned record at a
    /// time, so it can be kept across `.await` points and sent to other
    /// tasks. Records come in offset order within each partition;
    /// partitions take turns as in `poll`.
    ///
    /// Everything `poll` does happens here too: a group member follows
    /// rebalances (running its listener), auto-commits every
    /// `auto_commit_interval` (on the commit thread, see
    /// [`Self::commit_async`]) and stays in its group however long it
    /// waits (a member waiting here is polling: `max_poll_interval` bounds
    /// the time between calls, not the wait). The partition's position
    /// moves past the record when it is returned; a `Recv` dropped
    /// before it resolved consumed nothing.
    ///
    /// ```
    /// use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
    /// use samsa_log::{Log, Record};
    /// # fn main() -> samsa_log::Result<()> {
    /// let log = Log::in_memory();
    /// log.create_topic("orders", Default::default())?;
    /// let mut consumer = log.consumer(ConsumerConfig::new("billing").auto_offset_reset(AutoOffsetReset::Earliest))?;
    /// consumer.subscribe(&["orders"])?;
    /// log.producer().send("orders", Record::new(b"book"))?.wait()?;
    /// // In async code: `let record = consumer.recv().await?;`
    /// let record = futures::executor::block_on(consumer.recv())?;
    /// assert_eq!(record.value.as_deref(), Some(&b"book"[..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { consumer: self }
    }

    /// The async form of [`Self::poll`] with no timeout: the records there
    /// are now, or the first ones appended, as `poll` returns them (at
    /// most `max_poll_records`, borrowing the partitions' buffers, no
    /// copies). Positions move when it resolves; dropped before, it
    /// consumed nothing.
    pub fn recv_batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { consumer: self }
    }

    /// The records as a [`Stream`] of owned records,
    /// [`Self::recv`] after `recv`: it never ends while the log is open
    /// (a closed log yields [`Error::Closed`] once, then the stream ends).
    /// Other errors are yielded as items and the stream goes on. Dropping
    /// it skips nothing: positions move only past records it yielded.
    pub fn stream(&mut self) -> RecordStream<'_> {
        RecordStream {
            consumer: self,
            ended: false,
        }
    }

    /// [`Self::commit`] without blocking: the positions of every assigned
    /// partition are checked against the group now (a member evicted or
    /// fenced gets [`Error::RebalanceInProgress`] from the future) and
    /// written on the commit thread, in the order commits were made. The
    /// commit is written whether or not the future is awaited; awaiting it
    /// tells the outcome. So a rebalance listener, which cannot await, may
    /// start one and drop the future.
    pub fn commit_async(&mut self) -> CommitFuture {
        let all = self.assignment();
        let offsets = self.positions_of(&all);
        self.commit_offsets_async(&offsets)
    }

    /// [`Self::commit_offsets`] without blocking, as [`Self::commit_async`].
    pub fn commit_offsets_async(
        &mut self,
        offsets: &[((String, u32), OffsetAndMetadata)],
    ) -> CommitFuture {
        CommitFuture(match self.commit_offsets_offloaded(offsets) {
            Ok(done) => CommitState::Writing(done),
            Err(e) => CommitState::Done(Some(Err(e))),
        })
    }

    /// [`Self::close`] without blocking: commits (with auto-commit on) on
    /// the commit thread, then leaves the group once the commit is written,
    /// so the partitions' next owner starts where this consumer stopped.
    /// Dropped before it resolved, the consumer leaves at once (the commit
    /// is still written, perhaps after the next owner read the previous
    /// one: records after it are read twice, never skipped).
    pub fn close_async(mut self) -> ConsumerCloseFuture {
        let mut outcome = Ok(());
        let mut commit = None;
        if !std::mem::replace(&mut self.closed, true)
            && self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && !self.assigned.is_empty()
        {
            let all = self.assignment();
            let offsets = self.positions_of(&all);
            match self.commit_offsets_offloaded(&offsets) {
                Ok(done) => commit = Some(done),
                Err(e) => outcome = forgiven(Err(e)),
            }
        }
        ConsumerCloseFuture {
            consumer: Some(self),
            commit,
            outcome: Some(outcome),
        }
    }

    /// Marks the member waiting (or back) at its group's coordinator.
    /// Marked again at every wait, since a rejoin (after an eviction or a
    /// fencing) makes the consumer a new member.
    fn mark_waiting(&mut self, waiting: bool) {
        if !waiting && !self.waiting {
            return;
        }
        self.waiting = waiting;
        if let (Some(m), Some(group)) = (&self.membership, &self.config.group_id) {
            self.log
                .coordinator()
                .set_waiting(self.log.registry(), group, &m.member_id, waiting);
        }
    }

    /// The wait shared by the futures: follows the group, then `take`s
    /// what there is; with nothing, leaves the task's waker on the append
    /// signal.
    fn poll_wait<T>(
        &mut self,
        cx: &mut Context<'_>,
        take: impl FnMut(&mut Self) -> Result<Option<T>>,
    ) -> Poll<Result<T>> {
        let outcome = self.poll_wait_marked(cx, take);
        self.mark_waiting(outcome.is_pending());
        outcome
    }

    fn poll_wait_marked<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(&mut Self) -> Result<Option<T>>,
    ) -> Poll<Result<T>> {
        if self.closed {
            return Poll::Ready(Err(Error::Closed {
                path: self.log.dir().to_path_buf(),
            }));
        }
        if let Some(group) = &self.config.group_id {
            if let Some(injected) = self.log.armed_faults().take_poll(group) {
                return Poll::Ready(Err(injected));
            }
        }
        let signal = self.log.signal().clone();
        loop {
            // Read before looking, so an append (or a rebalance) after the
            // look makes the registration below fail: look again.
            let seen = signal.generation();
            if self.membership.is_some() {
                match self.poll_sync_group(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
                if let Err(e) = self.maybe_auto_commit_offloaded() {
                    return Poll::Ready(Err(e));
                }
            }
            match take(self) {
                Ok(Some(v)) => return Poll::Ready(Ok(v)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if signal.register_task(seen, cx.waker()) {
                return Poll::Pending;
            }
        }
    }

    /// Follows the group with commits on the commit thread; pending while
    /// a revocation waits for its commit (the commit wakes the task).
    fn poll_sync_group(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let step = self.poll_sync_steps(cx);
        // What the dance changed, for readers outside the process:
        // written on the commit thread, never on the task's.
        self.log.record_groups_in_background();
        step
    }

    fn poll_sync_steps(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            if let Some(mut r) = self.revoking.take() {
                if Pin::new(&mut r.done).poll(cx).is_pending() {
                    self.revoking = Some(r);
                    return Poll::Pending;
                }
                // Handed over whatever the commit's outcome, as `poll` does.
                self.finish_revoke(&r.partitions);
            }
            match self.sync_step(Io::Offload) {
                Ok(Step::Done) => return Poll::Ready(Ok(())),
                Ok(Step::Again | Step::Committing) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// The next record for `recv`: buffered, or fetched now.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<OwnedRecord>> {
        if let Some(r) = self.take_buffered() {
            return Poll::Ready(Ok(r));
        }
        if let Err(e) = self.check_committing() {
            return Poll::Ready(Err(e));
        }
        self.poll_wait(cx, |c| {
            c.fill()?;
            Ok(c.take_buffered())
        })
    }
}

/// A commit error that means the group moved on: the partitions' next
/// owner commits from here, so closing is not a failure.
fn forgiven(outcome: Result<()>) -> Result<()> {
    match outcome {
        Err(Error::RebalanceInProgress { .. } | Error::NotAssigned { .. }) => Ok(()),
        other => other,
    }
}

/// The future of [`Consumer::recv`]: the next record.
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a> {
    consumer: &'a mut Consumer,
}

impl Future for Recv<'_> {
    type Output = Result<OwnedRecord>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<OwnedRecord>> {
        self.consumer.poll_recv(cx)
    }
}

impl Drop for Recv<'_> {
    fn drop(&mut self) {
        self.consumer.mark_waiting(false);
    }
}

impl fmt::Debug for Recv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

/// The future of [`Consumer::recv_batch`]: the next records, as `poll`
/// returns them.
#[must_use = "futures do nothing unless awaited"]
pub struct RecvBatch<'a> {
    consumer: &'a mut Consumer,
}

impl Future for RecvBatch<'_> {
    type Output = Result<ConsumerRecords>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<ConsumerRecords>> {
        let c = &mut *self.consumer;
        // Records fetched for `recv` did not move their positions: they
        // are fetched again, and returned here.
        c.fetched = None;
        if let Err(e) = c.check_committing() {
            return Poll::Ready(Err(e));
        }
        c.poll_wait(cx, |c| {
            let records = c.fetch()?;
            Ok((!records.is_empty()).then_some(records))
        })
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        self.consumer.mark_waiting(false);
    }
}

impl fmt::Debug for RecvBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBatch").finish_non_exhaustive()
    }
}

/// The stream of [`Consumer::stream`]: owned records, one
/// [`Consumer::recv`] at a time.
#[must_use = "streams do nothing unless polled"]
pub struct RecordStream<'a> {
    consumer: &'a mut Consumer,
    ended: bool,
}

impl Stream for RecordStream<'_> {
    type Item = Result<OwnedRecord>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = self.consumer.poll_recv(cx);
        if let Poll::Ready(Err(Error::Closed { .. })) = next {
            self.ended = true;
        }
        next.map(Some)
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        self.consumer.mark_waiting(false);
    }
}

impl fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordStream")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// The future of [`Consumer::commit_async`]: the commit's outcome, once
/// written. Dropping it does not cancel the commit.
#[derive(Debug)]
#[must_use = "the commit is written anyway; await it to learn its outcome"]
pub struct CommitFuture(CommitState);

#[derive(Debug)]
enum CommitState {
    /// Refused at once, or resolved (then `None`).
    Done(Option<Result<()>>),
    Writing(Completion<()>),
}

impl Future for CommitFuture {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match &mut self.0 {
            CommitState::Done(outcome) => Poll::Ready(outcome.take().unwrap_or(Ok(()))),
            CommitState::Writing(done) => {
                let outcome = std::task::ready!(Pin::new(done).poll(cx));
                self.0 = CommitState::Done(None);
                Poll::Ready(outcome)
            }
        }
    }
}

/// The future of [`Consumer::close_async`]: the final commit's outcome,
/// once written and the group left.
#[must_use = "futures do nothing unless awaited"]
pub struct ConsumerCloseFuture {
    consumer: Option<Consumer>,
    commit: Option<Completion<()>>,
    outcome: Option<Result<()>>,
}

impl Future for ConsumerCloseFuture {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(commit) = &mut self.commit {
            let written = std::task::ready!(Pin::new(commit).poll(cx));
            self.commit = None;
            if self.outcome.as_ref().is_some_and(Result::is_ok) {
                self.outcome = Some(forgiven(written));
            }
        }
        // Dropping the consumer leaves the group (it is closed: no second
        // commit).
        drop(self.consumer.take());
        Poll::Ready(self.outcome.take().unwrap_or(Ok(())))
    }
}

impl fmt::Debug for ConsumerCloseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerCloseFuture")
            .field("committing", &self.commit.is_some())
            .finish_non_exhaustive()
    }
}
