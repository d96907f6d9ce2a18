//! Layer 5: the log directory. Owns one directory (an exclusive lock),
//! creates, lists and deletes topics.
//!
//! Layout: `<dir>/.lock`, `<dir>/topics/<topic>/topic.properties` and
//! `<dir>/topics/<topic>/<partition>/` (a partition log). A topic's
//! metadata file is the commit point of its creation and of every change
//! to its partition count: what is on disk without it was never visible.

mod builder;
#[cfg(test)]
mod io_fault_tests;
mod maintenance;
#[cfg(test)]
mod power_loss_tests;

pub use builder::{LogBuilder, DEFAULT_MAINTENANCE_INTERVAL};
pub use maintenance::MaintenanceReport;

use crate::error::{Error, Result};
use crate::group::coordinator::Coordinator;
use crate::group::offsets::OffsetStore;
use crate::partition::signal::AppendSignal;
use crate::partition::Partition;
use crate::storage::{read_all, write_atomic, DirLock, Storage};
use crate::topic::{name, partition_dir, properties, Topic, TopicConfig};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const TOPICS_DIR: &str = "topics";
const DELETED_DIR: &str = "deleted";

/// A log directory: named topics of partition logs, owned by one process.
///
/// `Log` is `Send + Sync` and cheap to clone (an `Arc` inside).
/// [`Log::in_memory`] gives the same API without files, as a fake broker
/// for tests.
///
/// ```
/// use samsa::{Log, Record, TopicConfig};
///
/// # fn main() -> samsa::Result<()> {
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
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    options: LogBuilder,
    topics: RwLock<BTreeMap<String, Topic>>,
    /// Serialises topic creation, deletion and growth.
    admin: Mutex<()>,
    lock: Mutex<Option<DirLock>>,
    closed: AtomicBool,
    /// Makes the names of deleted topics' directories unique.
    deletions: AtomicU64,
    /// Shared by every partition: wakes consumers waiting for records.
    signal: Arc<AppendSignal>,
    /// Consumer groups' membership and assignments.
    coordinator: Coordinator,
    /// Committed offsets, loaded from `__consumer_offsets` at open.
    offsets: OffsetStore,
    /// The background thread applying retention.
    maintenance: maintenance::Maintenance,
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
            .field("dir", &self.inner.dir)
            .field("topics", &self.topics())
            .finish()
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir` with default options.
    /// A second open of the same directory, from this process or another,
    /// gets [`Error::Locked`] until this log is closed or dropped.
    pub fn open(dir: impl AsRef<Path>) -> Result<Log> {
        Log::builder().open(dir)
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

    pub(crate) fn open_with(
        storage: Arc<dyn Storage>,
        dir: &Path,
        options: LogBuilder,
    ) -> Result<Log> {
        options.default_topic.validate()?;
        storage
            .create_dir_all(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
        let lock = storage
            .lock_dir(dir)
            .map_err(|e| Error::io("lock", dir, e))?
            .ok_or_else(|| Error::Locked {
                path: dir.to_path_buf(),
            })?;
        let topics_dir = dir.join(TOPICS_DIR);
        storage
            .create_dir_all(&topics_dir)
            .map_err(|e| Error::io("create directory", &topics_dir, e))?;
        let deleted = dir.join(DELETED_DIR);
        if storage.dir_exists(&deleted) {
            // What a delete_topic cut short left: already unlinked from
            // topics/, so no longer part of the log.
            storage
                .remove_dir_all(&deleted)
                .map_err(|e| Error::io("remove", &deleted, e))?;
        }
        let signal = Arc::new(AppendSignal::default());
        let mut topics = BTreeMap::new();
        let names = storage
            .list_dirs(&topics_dir)
            .map_err(|e| Error::io("list", &topics_dir, e))?;
        for topic in names {
            if let Some(t) = open_topic(&storage, &topics_dir, &topic, &options, &signal)? {
                topics.insert(topic, t);
            }
        }
        storage
            .sync_dir(&topics_dir)
            .map_err(|e| Error::io("fsync directory", &topics_dir, e))?;
        let log = Log {
            inner: Arc::new(LogInner {
                dir: dir.to_path_buf(),
                storage,
                options,
                topics: RwLock::new(topics),
                admin: Mutex::new(()),
                lock: Mutex::new(Some(lock)),
                closed: AtomicBool::new(false),
                deletions: AtomicU64::new(0),
                signal,
                coordinator: Coordinator::default(),
                offsets: OffsetStore::default(),
                maintenance: maintenance::Maintenance::default(),
            }),
        };
        log.inner.offsets.load(&log)?;
        log.inner.offsets.clamp_to_high_watermarks(&log)?;
        if let Some(interval) = log.inner.options.maintenance_interval {
            maintenance::Maintenance::start(&log.inner, interval)?;
        }
        Ok(log)
    }

    pub(crate) fn coordinator(&self) -> &Coordinator {
        &self.inner.coordinator
    }

    pub(crate) fn offset_store(&self) -> &OffsetStore {
        &self.inner.offsets
    }

    /// Now, by the log's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.options.clock.now_ms()
    }

    /// The signal every partition of this log announces new records on.
    pub(crate) fn signal(&self) -> &Arc<AppendSignal> {
        &self.inner.signal
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration given to the builder as the default for topics.
    pub fn default_topic_config(&self) -> TopicConfig {
        self.inner.options.default_topic.clone()
    }

    fn ensure_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed {
                path: self.inner.dir.clone(),
            });
        }
        Ok(())
    }

    fn topics_dir(&self) -> PathBuf {
        self.inner.dir.join(TOPICS_DIR)
    }

    /// Creates a topic. The name must follow Kafka's rule (see
    /// [`Error::InvalidTopicName`]); an invalid name or configuration, or
    /// an existing name, is an error and nothing is created on disk.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        name::validate(name, false)?;
        self.create(name, config)
    }

    /// Creates one of samsa's internal topics (named `__...`).
    pub(crate) fn create_internal_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        name::validate(name, true)?;
        self.create(name, config)
    }

    fn create(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        config.validate()?;
        let _admin = self.inner.admin.lock();
        self.ensure_open()?;
        if self.inner.topics.read().contains_key(name) {
            return Err(Error::TopicExists {
                name: name.to_owned(),
            });
        }
        let storage = &self.inner.storage;
        let topics_dir = self.topics_dir();
        let dir = topics_dir.join(name);
        if storage.dir_exists(&dir) {
            // Left by a creation that failed earlier in this process.
            storage
                .remove_dir_all(&dir)
                .map_err(|e| Error::io("remove", &dir, e))?;
        }
        let created = (|| {
            storage
                .create_dir_all(&dir)
                .map_err(|e| Error::io("create directory", &dir, e))?;
            let topic = Topic::open(
                storage,
                &dir,
                name,
                config.clone(),
                self.inner.options.sync,
                &self.inner.signal,
                &self.inner.options.clock,
            )?;
            write_properties(&**storage, &dir, name, &config)?;
            storage
                .sync_dir(&topics_dir)
                .map_err(|e| Error::io("fsync directory", &topics_dir, e))?;
            Ok(topic)
        })();
        match created {
            Ok(topic) => {
                self.inner
                    .topics
                    .write()
                    .insert(name.to_owned(), topic.clone());
                Ok(topic)
            }
            Err(e) => {
                let _ = storage.remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// The topic called `name`, or [`Error::UnknownTopic`].
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.ensure_open()?;
        self.inner
            .topics
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic {
                name: name.to_owned(),
            })
    }

    /// The names of all topics, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// Deletes a topic and all its records. Its partitions are closed:
    /// handles to them get [`Error::Closed`] afterwards. Internal topics
    /// cannot be deleted ([`Error::InvalidTopicName`]).
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        refuse_internal(name)?;
        let _admin = self.inner.admin.lock();
        self.ensure_open()?;
        let topic = self.topic(name)?;
        // Close first, so no append lands in a directory being removed.
        let closed = topic.close();
        let storage = &self.inner.storage;
        let deleted = self.inner.dir.join(DELETED_DIR);
        let n = self.inner.deletions.fetch_add(1, Ordering::Relaxed);
        // Named by the counter alone: a topic name of 249 bytes plus a
        // counter could pass the 255-byte limit of a file name.
        let grave = deleted.join(n.to_string());
        storage
            .create_dir_all(&deleted)
            .and_then(|()| storage.rename(topic.dir(), &grave))
            .and_then(|()| storage.sync_dir(&self.topics_dir()))
            .map_err(|e| Error::io("delete topic", topic.dir(), e))?;
        self.inner.topics.write().remove(name);
        // The rename made the deletion durable; a failure to remove the
        // files now only leaves them for the next open to remove.
        let _ = storage.remove_dir_all(&grave);
        // A partition that failed to close cleanly is gone all the same.
        drop(closed);
        Ok(())
    }

    /// Adds `count` partitions to a topic (partitions are never removed,
    /// as in Kafka) and returns the new partition count. Internal topics
    /// cannot be grown ([`Error::InvalidTopicName`]).
    pub fn add_partitions(&self, name: &str, count: u32) -> Result<u32> {
        refuse_internal(name)?;
        let _admin = self.inner.admin.lock();
        self.ensure_open()?;
        let topic = self.topic(name)?;
        let mut config = topic.config();
        let old = config.partitions;
        config.partitions = old.saturating_add(count);
        if count == 0 {
            return Err(Error::InvalidConfig("add at least one partition".into()));
        }
        config.validate()?;
        let storage = &self.inner.storage;
        let pc = config.partition_config(self.inner.options.sync);
        let more = (old..config.partitions)
            .map(|p| {
                Partition::open_signalled(
                    storage.clone(),
                    &partition_dir(topic.dir(), p),
                    pc.clone(),
                    self.inner.signal.clone(),
                    self.inner.options.clock.clone(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        write_properties(&**storage, topic.dir(), name, &config)?;
        topic.extend(config.clone(), more);
        Ok(config.partitions)
    }

    /// Closes every partition (each then reopens without recovery) and
    /// releases the directory lock. Every clone of this log is closed.
    pub fn close(&self) -> Result<()> {
        let _admin = self.inner.admin.lock();
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // No retention pass may run on partitions being closed.
        self.inner.maintenance.shut_down();
        let mut first = Ok(());
        for topic in self.inner.topics.read().values() {
            if let Err(e) = topic.close() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        drop(self.inner.lock.lock().take());
        first
    }
}

fn write_properties(
    storage: &dyn Storage,
    dir: &Path,
    name: &str,
    config: &TopicConfig,
) -> Result<()> {
    write_atomic(
        storage,
        dir,
        properties::FILE_NAME,
        properties::encode(name, config).as_bytes(),
    )
    .map_err(|e| Error::io("write", dir.join(properties::FILE_NAME), e))
}

/// Opens the topic in `topics_dir/name`, or cleans up after a creation cut
/// short (`None`). A directory whose name is not a topic name is not
/// samsa's and is left alone.
/// Internal topics (`__consumer_offsets`) are samsa's: users may read
/// them, not change them (Kafka refuses too).
pub(crate) fn refuse_internal(topic: &str) -> Result<()> {
    if topic.starts_with(name::INTERNAL_PREFIX) {
        return Err(Error::InvalidTopicName {
            name: topic.to_owned(),
            reason: "internal topics are written by samsa only",
        });
    }
    Ok(())
}

/// `Error::Corrupt` (naming the metadata file) if the partition directory
/// `pdir`, which the topic's metadata does not account for, holds records:
/// a creation or growth cut short never appended any, so the metadata is
/// what is damaged, and the records are not deleted on its word.
fn refuse_if_it_holds_records(storage: &dyn Storage, pdir: &Path, metadata: &Path) -> Result<()> {
    let names = storage.list(pdir).map_err(|e| Error::io("list", pdir, e))?;
    for name in names.iter().filter(|n| n.ends_with(".log")) {
        let log = pdir.join(name);
        let len = storage
            .open(&log, false)
            .and_then(|f| f.len())
            .map_err(|e| Error::io("stat", &log, e))?;
        if len > 0 {
            return Err(Error::corrupt(
                metadata,
                0,
                format!(
                    "the topic metadata does not count partition {}, which holds records ({})",
                    pdir.display(),
                    log.display()
                ),
            ));
        }
    }
    Ok(())
}

fn open_topic(
    storage: &Arc<dyn Storage>,
    topics_dir: &Path,
    name: &str,
    options: &LogBuilder,
    signal: &Arc<AppendSignal>,
) -> Result<Option<Topic>> {
    if name::validate(name, name.starts_with(name::INTERNAL_PREFIX)).is_err() {
        return Ok(None);
    }
    let dir = topics_dir.join(name);
    let path = dir.join(properties::FILE_NAME);
    if !storage.exists(&path) {
        // The metadata file is written last: without it the topic was never
        // created, and no record was ever appended to it; records mean the
        // file was lost, and the partitions are kept for the operator.
        for p in storage
            .list_dirs(&dir)
            .map_err(|e| Error::io("list", &dir, e))?
        {
            refuse_if_it_holds_records(&**storage, &dir.join(&p), &path)?;
        }
        storage
            .remove_dir_all(&dir)
            .map_err(|e| Error::io("remove", &dir, e))?;
        return Ok(None);
    }
    let file = storage
        .open(&path, false)
        .map_err(|e| Error::io("open", &path, e))?;
    let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
    if len > properties::MAX_BYTES {
        return Err(Error::corrupt(
            &path,
            0,
            format!("{len} bytes is too long for topic metadata"),
        ));
    }
    let bytes = read_all(&*file).map_err(|e| Error::io("read", &path, e))?;
    let (stored, config) = properties::decode(&bytes, &path)?;
    if stored != name {
        return Err(Error::corrupt(
            &path,
            0,
            format!("metadata names topic {stored:?}, but its directory is {name:?}"),
        ));
    }
    // Partition directories past the count were made by an add_partitions
    // that did not reach its commit point: empty, never visible.
    for p in storage
        .list_dirs(&dir)
        .map_err(|e| Error::io("list", &dir, e))?
    {
        if p.parse::<u32>().is_ok_and(|p| p >= config.partitions) {
            let pdir = dir.join(&p);
            refuse_if_it_holds_records(&**storage, &pdir, &path)?;
            storage
                .remove_dir_all(&pdir)
                .map_err(|e| Error::io("remove", &pdir, e))?;
        }
    }
    for p in 0..config.partitions {
        let pdir = partition_dir(&dir, p);
        if !storage.dir_exists(&pdir) {
            return Err(Error::corrupt(
                &path,
                0,
                format!("partition {p} of {} is missing", config.partitions),
            ));
        }
    }
    Topic::open(
        storage,
        &dir,
        name,
        config,
        options.sync,
        signal,
        &options.clock,
    )
    .map(Some)
}
