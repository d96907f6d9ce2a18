//! Fault injection for test suites that use samsa as their fake broker
//! (cargo feature `test-util`): what Kafka's `MockProducer.errorNext` and
//! `MockConsumer.setPollException` give, on the real code paths.
//!
//! [`Log::faults`](crate::Log::faults) hands out a [`Faults`] handle. Each
//! fault is armed for one operation on one topic or group and fails the
//! next such operation with the chosen [`Error`](crate::Error), once; faults armed for
//! the same target fail the operations that follow, in order. Nothing is
//! written, read or committed by an operation a fault failed.
//!
//! Without the feature, the hooks compile to nothing: `Faults` is then an
//! empty private type and every check is a constant `None`.

#[cfg(feature = "test-util")]
pub use armed::Faults;
#[cfg(feature = "test-util")]
pub(crate) use armed::RebalanceTarget;
#[cfg(not(feature = "test-util"))]
pub(crate) use disarmed::Faults;

#[cfg(feature = "test-util")]
mod armed {
    use crate::error::{Error, Result};
    use parking_lot::Mutex;
    use std::collections::VecDeque;
    use std::fmt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Which operation a fault fails.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        Append,
        Commit,
        Poll,
    }

    struct Armed {
        op: Op,
        /// The topic (appends) or group (commits, polls).
        target: String,
        error: Error,
    }

    #[derive(Default)]
    struct Inner {
        /// How many faults are armed: the hooks' lock-free fast path.
        count: AtomicUsize,
        armed: Mutex<VecDeque<Armed>>,
        /// The log's groups, for `force_rebalance` (set at open; it holds
        /// the log weakly, as the log owns this).
        groups: Mutex<Option<Arc<dyn RebalanceTarget>>>,
    }

    /// What `force_rebalance` needs of the log: implemented by the log, so
    /// that this module does not depend on it.
    pub(crate) trait RebalanceTarget: Send + Sync {
        fn force_rebalance(&self, group: &str) -> Result<()>;
    }

    /// Faults armed on one log: see the [module docs](crate::test_util).
    ///
    /// ```
    /// use samsa_log::topic::TopicConfig;
    /// use samsa_log::{Error, Log, Record};
    ///
    /// # fn main() -> samsa_log::Result<()> {
    /// let log = Log::in_memory();
    /// let orders = log.create_topic("orders", TopicConfig::default())?;
    /// log.faults().fail_next_append("orders", Error::InvalidConfig("injected".into()));
    /// let p = orders.partition(0)?;
    /// assert!(matches!(p.append(&[Record::new(b"a")]), Err(Error::InvalidConfig(_))));
    /// assert_eq!(p.append(&[Record::new(b"b")])?.base_offset, 0);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Clone, Default)]
    pub struct Faults {
        inner: Arc<Inner>,
    }

    impl fmt::Debug for Faults {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Faults")
                .field("pending", &self.pending())
                .finish()
        }
    }

    impl Faults {
        /// Fails the next append to any partition of `topic` (through a
        /// `Partition` or a producer's batch) with `error`, before anything
        /// is written. A producer retries an [`Error::Io`] as it would a
        /// real one (its `retries` setting); any other error fails the
        /// batch's deliveries.
        pub fn fail_next_append(&self, topic: &str, error: Error) {
            self.arm(Op::Append, topic, error);
        }

        /// Fails the next commit of group `group` (`commit`,
        /// `commit_offsets`, `commit_record`, `commit_offset` or an
        /// auto-commit) with `error`; nothing is committed.
        pub fn fail_next_commit(&self, group: &str, error: Error) {
            self.arm(Op::Commit, group, error);
        }

        /// Fails the next `poll` of a consumer of group `group` with
        /// `error` (Kafka's `MockConsumer.setPollException`); the poll
        /// returns no records and its position does not move.
        pub fn fail_next_poll(&self, group: &str, error: Error) {
            self.arm(Op::Poll, group, error);
        }

        /// Starts a rebalance of `group` now, as a member joining or
        /// leaving would: at their next `poll` its members give up what
        /// the assignor moves (everything, under an eager assignor) and get
        /// their new assignments, running their rebalance callbacks. A
        /// group without members has nothing to rebalance;
        /// [`Error::UnknownGroup`] if the log has never seen it.
        pub fn force_rebalance(&self, group: &str) -> Result<()> {
            let groups = self.inner.groups.lock().clone();
            match groups {
                Some(groups) => groups.force_rebalance(group),
                None => Err(Error::UnknownGroup {
                    group: group.to_owned(),
                }),
            }
        }

        /// How many armed faults have not failed an operation yet.
        pub fn pending(&self) -> usize {
            self.inner.count.load(Ordering::Acquire)
        }

        /// Disarms every fault not yet hit.
        pub fn clear(&self) {
            let mut armed = self.inner.armed.lock();
            armed.clear();
            self.inner.count.store(0, Ordering::Release);
        }

        fn arm(&self, op: Op, target: &str, error: Error) {
            let mut armed = self.inner.armed.lock();
            armed.push_back(Armed {
                op,
                target: target.to_owned(),
                error,
            });
            self.inner.count.store(armed.len(), Ordering::Release);
        }

        /// The log the faults act on (set once, at open).
        pub(crate) fn attach(&self, groups: Arc<dyn RebalanceTarget>) {
            *self.inner.groups.lock() = Some(groups);
        }

        fn take(&self, op: Op, target: impl FnOnce() -> String) -> Option<Error> {
            if self.inner.count.load(Ordering::Acquire) == 0 {
                return None;
            }
            let target = target();
            let mut armed = self.inner.armed.lock();
            let i = armed
                .iter()
                .position(|a| a.op == op && a.target == target)?;
            let hit = armed.remove(i)?;
            self.inner.count.store(armed.len(), Ordering::Release);
            Some(hit.error)
        }

        pub(crate) fn take_append(&self, topic: impl FnOnce() -> String) -> Option<Error> {
            self.take(Op::Append, topic)
        }

        pub(crate) fn take_commit(&self, group: &str) -> Option<Error> {
            self.take(Op::Commit, || group.to_owned())
        }

        pub(crate) fn take_poll(&self, group: &str) -> Option<Error> {
            self.take(Op::Poll, || group.to_owned())
        }
    }
}

#[cfg(not(feature = "test-util"))]
mod disarmed {
    use crate::error::Error;

    /// Without the `test-util` feature: nothing can be armed, and every
    /// check is a constant `None` the compiler removes.
    #[derive(Debug, Clone, Copy, Default)]
    pub(crate) struct Faults {
        // Not a unit struct, so that both forms are made by `default()`.
        _none: (),
    }

    impl Faults {
        #[inline(always)]
        pub(crate) fn take_append(&self, _topic: impl FnOnce() -> String) -> Option<Error> {
            None
        }

        #[inline(always)]
        pub(crate) fn take_commit(&self, _group: &str) -> Option<Error> {
            None
        }

        #[inline(always)]
        pub(crate) fn take_poll(&self, _group: &str) -> Option<Error> {
            None
        }
    }
}
