//! A client's thread of its own for a blocking librdkafka call that an
//! async caller awaits (the consumer's commits, the producer's flushes):
//! started on first use, started again if it ended, running its jobs in
//! the order they came, and ending with its client, whose drop closes the
//! queue.

use std::sync::{mpsc, Mutex, PoisonError};

/// One client's worker thread, once started, and its queue of jobs.
pub(crate) struct Worker<J> {
    name: &'static str,
    queue: Mutex<Option<mpsc::Sender<J>>>,
}

impl<J: Send + 'static> Worker<J> {
    /// A worker whose thread, when it starts, is named `name`.
    pub fn new(name: &'static str) -> Self {
        Worker {
            name,
            queue: Mutex::new(None),
        }
    }

    /// Queues `job` for the thread; if none runs, first starts one on
    /// `run`, which takes the jobs until the queue closes. Fails only if
    /// no thread could start.
    pub fn submit(
        &self,
        job: J,
        run: impl FnOnce(mpsc::Receiver<J>) + Send + 'static,
    ) -> std::io::Result<()> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match &*queue {
            Some(q) => match q.send(job) {
                Ok(()) => return Ok(()),
                // The thread ended (it panicked): start another.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (q, jobs) = mpsc::channel();
        // Queued before the thread starts, while this side holds the
        // receiver: the send cannot fail.
        let _ = q.send(job);
        std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || run(jobs))?;
        *queue = Some(q);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_in_order_on_one_thread_and_a_dead_one_is_replaced() {
        let worker = Worker::new("samsa-test-worker");
        let (seen, heard) = mpsc::channel();
        let run = |seen: mpsc::Sender<(u32, std::thread::ThreadId)>| {
            move |jobs: mpsc::Receiver<u32>| {
                for j in jobs {
                    assert_ne!(j, 99, "job 99 ends the thread");
                    let _ = seen.send((j, std::thread::current().id()));
                }
            }
        };
        for j in 0..5 {
            worker.submit(j, run(seen.clone())).expect("submit");
        }
        let first: Vec<_> = heard.iter().take(5).collect();
        assert_eq!(
            first.iter().map(|(j, _)| *j).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(first.iter().all(|(_, t)| *t == first[0].1), "one thread");

        // A job that panics ends the thread; the next submit starts another.
        worker.submit(99, run(seen.clone())).expect("submit");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            worker.submit(7, run(seen.clone())).expect("submit");
            if let Ok((7, t)) = heard.recv_timeout(std::time::Duration::from_millis(100)) {
                assert_ne!(t, first[0].1, "a new thread");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no new thread");
        }
    }
}
