//! Waiting, without blocking a thread, for a partition to reach an
//! offset: the building block of an async tailer.

use super::Partition;
use crate::error::Result;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

impl Partition {
    /// A future that resolves once the record at `offset` is readable (the
    /// high watermark passed it), with the high watermark then; at once if
    /// it already is. Woken by the append that publishes the record (the
    /// signal blocking consumers wait on, no timer), on any executor, and
    /// never blocking its thread. A partition closed (or whose topic was
    /// deleted) meanwhile resolves to
    /// [`Error::Closed`](crate::Error::Closed)
    /// ([`Error::UnknownTopic`](crate::Error::UnknownTopic)). Dropping it
    /// changes nothing.
    ///
    /// ```
    /// use samsa_log::{Partition, Record};
    /// use samsa_log::partition::PartitionConfig;
    ///
    /// # fn main() -> samsa_log::Result<()> {
    /// let p = Partition::in_memory(PartitionConfig::default())?;
    /// let waiting = p.wait_for(0); // a future: await it in async code
    /// p.append(&[Record::new(b"first")])?;
    /// # let _ = waiting;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_for(&self, offset: u64) -> WaitForOffset {
        WaitForOffset {
            partition: self.clone(),
            offset,
        }
    }
}

/// The future of [`Partition::wait_for`]: the high watermark once the
/// record at its offset is readable.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForOffset {
    partition: Partition,
    offset: u64,
}

impl Future for WaitForOffset {
    type Output = Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        let p = &self.partition;
        let signal = &p.shared.signal;
        loop {
            // Read before looking, so a publish after the look is seen by
            // the registration below (it then says look again).
            let seen = signal.generation();
            if p.shared.closed.load(Ordering::Acquire) {
                return Poll::Ready(Err(p.closed_error()));
            }
            let hw = p.high_watermark();
            if hw > self.offset {
                return Poll::Ready(Ok(hw));
            }
            if signal.register_task(seen, cx.waker()) {
                return Poll::Pending;
            }
        }
    }
}
