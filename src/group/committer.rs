//! The commit thread: commits made from async code (`Consumer::commit_async`
//! and the commits an async `recv` makes for auto-commit and before
//! giving partitions up) are written here, never on the task's thread: a
//! commit is an append to `__consumer_offsets` and, under
//! `SyncPolicy::Always`, an fsync.
//!
//! At most one thread per log, started by the first async commit and
//! stopped after a second without work, so a log whose users never commit
//! from async code never has it. Commits run one at a time, in the order
//! they were checked (see `offsets::CommitTurn`).

use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long the thread waits for work before it stops.
const IDLE: Duration = Duration::from_secs(1);

/// The thread's name, as errors and debuggers show it.
const NAME: &str = "samsa-commit";

type Job = Box<dyn FnOnce() + Send>;

/// Runs commits on the commit thread, starting it when needed.
#[derive(Debug, Default)]
pub(crate) struct Committer {
    /// The running thread's queue; `None` when no thread runs. The thread
    /// clears it under this lock before it stops, so a job is never sent
    /// to a thread that will not run it.
    queue: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

impl Committer {
    /// Runs `work` on the commit thread; the returned [`Completion`]
    /// resolves to its result. Fails only if the thread cannot be started.
    pub fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<Completion<T>> {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let done = Done(slot.clone());
        let job: Job = Box::new(move || done.complete(work()));
        let mut queue = self.queue.lock();
        let job = match queue.as_ref() {
            Some(q) => match q.send(job) {
                Ok(()) => return Ok(Completion(slot)),
                // The thread died without clearing its queue: start another.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel();
        // Cannot fail: `rx` is alive.
        let _ = tx.send(job);
        let shared = self.queue.clone();
        std::thread::Builder::new()
            .name(NAME.into())
            .spawn(move || run(&rx, &shared))
            .map_err(|e| Error::io("spawn commit thread", NAME, e))?;
        *queue = Some(tx);
        Ok(Completion(slot))
    }
}

/// The thread: runs jobs until it has had none for [`IDLE`].
fn run(rx: &mpsc::Receiver<Job>, queue: &Mutex<Option<mpsc::Sender<Job>>>) {
    loop {
        match rx.recv_timeout(IDLE) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut q = queue.lock();
                // A job sent just before the lock was taken still runs.
                match rx.try_recv() {
                    Ok(job) => {
                        drop(q);
                        job();
                    }
                    Err(_) => {
                        *q = None;
                        return;
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
struct Slot<T> {
    result: Option<Result<T>>,
    waker: Option<Waker>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            result: None,
            waker: None,
        }
    }
}

/// The job's end of a [`Completion`]: dropped without a result (the job
/// never ran), it completes with an error, so no one waits forever.
struct Done<T>(Arc<Mutex<Slot<T>>>);

impl<T> Done<T> {
    fn complete(self, result: Result<T>) {
        self.set(result);
    }

    fn set(&self, result: Result<T>) {
        let mut slot = self.0.lock();
        if slot.result.is_none() {
            slot.result = Some(result);
        }
        let waker = slot.waker.take();
        drop(slot);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Done<T> {
    fn drop(&mut self) {
        if self.0.lock().result.is_none() {
            self.set(Err(Error::io(
                "commit",
                NAME,
                std::io::Error::other("the commit thread stopped before the commit ran"),
            )));
        }
    }
}

/// The result of a job on the commit thread, once it ran: a future, and
/// [`Self::try_take`] for a look without waiting.
#[derive(Debug)]
pub(crate) struct Completion<T>(Arc<Mutex<Slot<T>>>);

impl<T> Completion<T> {
    /// The result, if the job has run.
    pub fn try_take(&self) -> Option<Result<T>> {
        self.0.lock().result.take()
    }
}

impl<T> Future for Completion<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut slot = self.0.lock();
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                match &mut slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;

    #[test]
    fn jobs_run_in_order_off_the_callers_thread() {
        let c = Committer::default();
        let me = std::thread::current().id();
        let order = Arc::new(Mutex::new(Vec::new()));
        let done: Vec<_> = (0..20)
            .map(|i| {
                let order = order.clone();
                c.submit(move || {
                    assert_ne!(std::thread::current().id(), me);
                    order.lock().push(i);
                    Ok(i * 2)
                })
                .unwrap()
            })
            .collect();
        let results: Vec<i32> = done.into_iter().map(|d| block_on(d).unwrap()).collect();
        assert_eq!(results, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(*order.lock(), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn the_thread_stops_when_idle_and_starts_again_for_new_work() {
        let c = Committer::default();
        assert_eq!(block_on(c.submit(|| Ok(1)).unwrap()).unwrap(), 1);
        assert!(c.queue.lock().is_some());
        let deadline = std::time::Instant::now() + IDLE * 5;
        while c.queue.lock().is_some() {
            assert!(std::time::Instant::now() < deadline, "never stopped");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(block_on(c.submit(|| Ok(2)).unwrap()).unwrap(), 2);
    }

    #[test]
    fn errors_come_back_and_a_job_that_never_ran_completes_with_one() {
        let c = Committer::default();
        let e = block_on(
            c.submit(|| -> Result<()> { Err(Error::EmptyAppend) })
                .unwrap(),
        );
        assert!(matches!(e, Err(Error::EmptyAppend)));
        let slot = Arc::new(Mutex::new(Slot::<()>::default()));
        drop(Done(slot.clone()));
        let never = Completion(slot);
        assert!(matches!(never.try_take(), Some(Err(Error::Io { .. }))));
    }
}
