//! The log: one directory of topics ([`Log`]), opened with the options of
//! a [`LogBuilder`]; what its health and maintenance passes report.
//!
//! Layout (`docs/FORMAT.md`): `<dir>/meta.properties` (whose directory
//! this is), `<dir>/.lock`, `<dir>/topics/<topic>/topic.properties` and
//! `<dir>/topics/<topic>/<partition>/` (a partition log). samsa removes
//! only names it writes: whatever else it finds is left in place and
//! reported ([`Log::foreign_files`]).

// Layer 5, the façade over the topic registry (`registry`), the consumer
// groups (`group`) and the directory's lock. A topic's metadata file is
// the commit point of its creation and of every change to its partition
// count: what is on disk without it was never visible.

mod builder;
#[cfg(test)]
mod full_disk_tests;
mod health;
#[cfg(test)]
mod io_fault_tests;
mod maintenance;
mod open;
#[cfg(test)]
mod power_loss_tests;
mod topics;

pub use crate::partition::DEFAULT_MAX_OPEN_FILES;
pub use builder::{LogBuilder, DEFAULT_MAINTENANCE_INTERVAL};
pub use health::{LogHealth, UnhealthyPartition};
pub use maintenance::MaintenanceReport;

use crate::error::Result;
use crate::group::committer::Committer;
use crate::group::coordinator::Coordinator;
use crate::group::offsets::{OffsetAndMetadata, OffsetStore};
use crate::group::{ConsumerGroup, Groups};
use crate::partition::signal::AppendSignal;
use crate::partition::Partition;
use crate::registry::Registry;
use crate::storage::DirLock;
use crate::topic::{Topic, TopicConfig};
use parking_lot::Mutex;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A log directory: named topics of partition logs, owned by one process.
///
/// `Log` is `Send + Sync` and cheap to clone (an `Arc` inside).
/// [`Log::in_memory`] gives the same API without files, as a fake broker
/// for tests.
///
/// ```
/// use samsa_log::topic::TopicConfig;
/// use samsa_log::{Log, Record};
///
/// # fn main() -> samsa_log::Result<()> {
/// let log = Log::in_memory();
/// let orders = log.create_topic("orders", TopicConfig::default().partitions(4))?;
/// orders.partition(2)?.append(&[Record::new(b"book").key(b"alice")])?;
/// assert_eq!(log.topics(), ["orders"]);
/// assert_eq!(log.topic("orders")?.partition(2)?.high_watermark(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Log {
    inner: Arc<LogInner>,
}

struct LogInner {
    /// The topics, and what their partitions share.
    registry: Arc<Registry>,
    /// The consumer groups: coordinator and committed offsets.
    groups: Arc<Groups>,
    options: LogBuilder,
    lock: Mutex<Option<DirLock>>,
    /// What open found in the directory that samsa did not write, and
    /// left in place.
    foreign: Vec<PathBuf>,
    /// The background thread applying retention.
    maintenance: maintenance::Maintenance,
    /// Transactional ids, their producers and open transactions.
    txns: crate::txn::coordinator::TxnCoordinator,
}

/// The log's groups as `force_rebalance` reaches them: weakly, since the
/// faults live inside the log.
#[cfg(feature = "test-util")]
struct GroupsOf(std::sync::Weak<LogInner>);

#[cfg(feature = "test-util")]
impl crate::test_util::RebalanceTarget for GroupsOf {
    fn force_rebalance(&self, group: &str) -> Result<()> {
        let inner = self.0.upgrade().ok_or_else(|| crate::Error::UnknownGroup {
            group: group.to_owned(),
        })?;
        let log = Log { inner };
        log.ensure_open()?;
        log.coordinator().force_rebalance(log.registry(), group)?;
        log.record_groups_in_background();
        Ok(())
    }
}

impl Drop for LogInner {
    fn drop(&mut self) {
        // The thread holds the log weakly; it exits at its next wake-up.
        self.maintenance.stop.stop();
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir())
            .field("topics", &self.topics())
            .finish()
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir` with default options.
    /// A second open of the same directory, from this process or another,
    /// gets [`Error::Locked`](crate::Error::Locked) until this log is closed or dropped.
    pub fn open(dir: impl AsRef<Path>) -> Result<Log> {
        Log::builder().open(dir)
    }

    /// Opens the log in `dir` read-only, beside its owner (another process,
    /// or this one): no lock, no writes, reads of what the owner has
    /// written whole, following its appends, rolls, retention, compaction
    /// and restarts. See [`crate::read_only`].
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<crate::read_only::ReadOnlyLog> {
        crate::read_only::ReadOnlyLog::open(dir.as_ref())
    }

    /// A log in memory, with default options: the same API and semantics
    /// as on disk, no files, ready in microseconds.
    pub fn in_memory() -> Log {
        Log::builder()
            .in_memory()
            .expect("the default options are valid and memory cannot fail to open")
    }

    /// Options before opening.
    pub fn builder() -> LogBuilder {
        LogBuilder::default()
    }

    pub(crate) fn coordinator(&self) -> &Coordinator {
        &self.inner.groups.coordinator
    }

    pub(crate) fn offset_store(&self) -> &OffsetStore {
        &self.inner.groups.offsets
    }

    /// The transaction coordinator.
    pub(crate) fn txns(&self) -> &crate::txn::coordinator::TxnCoordinator {
        &self.inner.txns
    }

    /// The thread async commits are written on.
    pub(crate) fn committer(&self) -> &Committer {
        &self.inner.groups.committer
    }

    /// Records the membership of groups that changed (see
    /// `group::membership`), on this thread: the blocking API calls it
    /// after the changes it makes. A failure is logged and the groups are
    /// recorded at a later change: the records only describe.
    pub(crate) fn record_groups(&self) {
        let groups = &self.inner.groups;
        if groups.recorder.due(&groups.registry, &groups.coordinator) {
            let _ = groups.record_membership();
        }
    }

    /// [`Self::record_groups`] on the commit thread, for async code.
    pub(crate) fn record_groups_in_background(&self) {
        self.inner.groups.record_membership_in_background();
    }

    /// The consumer group `id`, to look at and administer.
    pub fn group(&self, id: &str) -> ConsumerGroup {
        ConsumerGroup::new(self.inner.groups.clone(), id)
    }

    /// The ids of every consumer group with members or committed offsets,
    /// sorted.
    pub fn groups(&self) -> Vec<String> {
        let mut g = self.coordinator().groups();
        g.extend(self.offset_store().groups());
        g.sort();
        g.dedup();
        g
    }

    /// The committed offset of `group` on `topic`/`partition`.
    pub(crate) fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Option<OffsetAndMetadata> {
        self.offset_store().committed(group, topic, partition)
    }

    /// The topic registry under this façade.
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Faults a test armed on this log (empty without `test-util`).
    pub(crate) fn armed_faults(&self) -> &crate::test_util::Faults {
        &self.inner.registry.env().faults
    }

    /// Fault injection for tests (feature `test-util`): fail the next
    /// append to a topic, commit or poll of a group with a chosen error, or
    /// force a group to rebalance. See [`crate::test_util`].
    #[cfg(feature = "test-util")]
    pub fn faults(&self) -> crate::test_util::Faults {
        self.inner.registry.env().faults.clone()
    }

    /// Now, by the log's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.registry.now_ms()
    }

    /// The signal every partition of this log announces new records on.
    pub(crate) fn signal(&self) -> &Arc<AppendSignal> {
        self.inner.registry.signal()
    }

    /// Files and directories inside the log's directory that samsa did not
    /// write, as found when the log opened (sorted): samsa leaves them
    /// where they are and never removes them. Non-empty means someone else
    /// put files here, or the log was pointed at a directory in use.
    pub fn foreign_files(&self) -> Vec<PathBuf> {
        self.inner.foreign.clone()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        self.inner.registry.dir()
    }

    /// The configuration given to the builder as the default for topics.
    pub fn default_topic_config(&self) -> TopicConfig {
        self.inner.options.default_topic.clone()
    }

    /// Whether [`Log::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.registry.is_closed()
    }

    fn ensure_open(&self) -> Result<()> {
        self.inner.registry.ensure_open()
    }

    /// Closes every partition (each then reopens without recovery) and
    /// releases the directory lock. Every clone of this log is closed.
    /// Partitions not changed since the log opened cost nothing; the others
    /// are closed by up to [`crate::log::CLOSE_THREADS`] threads at once, as their
    /// syncs (under the weaker sync policies) then overlap.
    pub fn close(&self) -> Result<()> {
        let registry = &self.inner.registry;
        // The groups as they are at the close, for readers of the
        // directory; a failure is logged, and costs only that description.
        let _ = self.inner.groups.record_membership();
        let _admin = registry.admin();
        if registry.set_closed() {
            return Ok(());
        }
        // No retention pass may run on partitions being closed.
        self.inner.maintenance.shut_down();
        let partitions: Vec<Partition> =
            registry.all().iter().flat_map(Topic::partitions).collect();
        let first = close_all(&partitions);
        drop(self.inner.lock.lock().take());
        first
    }
}

/// The most threads [`Log::close`] closes partitions with, for a moment.
pub const CLOSE_THREADS: usize = 8;

/// Closes `partitions`, on up to [`CLOSE_THREADS`] threads (one per 64
/// partitions; fewer if a thread cannot be started). Every partition is
/// closed; the first error is returned.
fn close_all(partitions: &[Partition]) -> Result<()> {
    let next = AtomicUsize::new(0);
    let first = Mutex::new(None);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(p) = partitions.get(i) else { return };
        if let Err(e) = p.close() {
            first.lock().get_or_insert(e);
        }
    };
    let helpers = (partitions.len() / 64).min(CLOSE_THREADS - 1);
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            let started = std::thread::Builder::new()
                .name("samsa-close".into())
                .spawn_scoped(scope, work);
            if started.is_err() {
                break;
            }
        }
        work();
    });
    match first.into_inner() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
