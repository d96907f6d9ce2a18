//! Topics: [`Topic`], a named set of partitions with one
//! [`TopicConfig`] (Kafka's topic settings), and its [`TopicId`].

mod files;
mod id;
pub(crate) mod name;
pub(crate) mod properties;

pub use crate::compression::Compression;
pub use crate::settings::{CleanupPolicy, CompressionType, TopicConfig};
pub(crate) use files::{parse_partition_dir, TopicFiles};
pub use id::{ParseTopicIdError, TopicId};

use crate::error::{Error, Result};
use crate::partition::{Partition, PartitionEnv, SyncPolicy};
use crate::record::OwnedRecord;
use parking_lot::RwLock;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// A topic: its name, id, configuration and partitions. Cheap to clone; a
/// handle stays valid while the topic exists, and sees partitions added
/// later. Once the topic is deleted, its partitions answer
/// [`Error::UnknownTopic`]; a topic created again under the same name is
/// another topic, with another [`TopicId`].
#[derive(Clone)]
pub struct Topic {
    inner: Arc<TopicInner>,
}

struct TopicInner {
    name: String,
    id: TopicId,
    dir: PathBuf,
    /// Set once the topic is deleted: holders look it up again by name.
    deleted: AtomicBool,
    /// Configuration and partitions change together when partitions are
    /// added.
    state: RwLock<(TopicConfig, Vec<Partition>)>,
    /// `state`'s partition count, readable without the lock: a producer
    /// checks it on every send. Stored (under the write lock) after the
    /// partitions are in, so a reader that sees a count finds them.
    partition_count: AtomicU32,
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.inner.name)
            .field("id", &self.inner.id)
            .field("partitions", &self.partition_count())
            .finish()
    }
}

/// The directory of partition `p` inside a topic's directory.
pub(crate) fn partition_dir(topic_dir: &Path, p: u32) -> PathBuf {
    topic_dir.join(p.to_string())
}

impl Topic {
    /// Opens partitions `0..config.partitions` in `dir`, creating any that
    /// do not exist yet.
    pub(crate) fn open(
        env: &PartitionEnv,
        dir: &Path,
        name: &str,
        id: TopicId,
        config: TopicConfig,
        default_sync: SyncPolicy,
    ) -> Result<Topic> {
        let pc = config.partition_config(default_sync);
        let partitions = (0..config.partitions)
            .map(|p| Partition::open_in(env, &partition_dir(dir, p), pc.clone(), None))
            .collect::<Result<Vec<_>>>()?;
        if name.starts_with(name::INTERNAL_PREFIX) {
            partitions.iter().for_each(Partition::mark_internal);
        }
        if config.cleanup_policy != CleanupPolicy::Delete {
            partitions.iter().for_each(Partition::mark_compacted);
        }
        Ok(Topic {
            inner: Arc::new(TopicInner {
                name: name.to_owned(),
                id,
                dir: dir.to_path_buf(),
                deleted: AtomicBool::new(false),
                partition_count: AtomicU32::new(partitions.len() as u32),
                state: RwLock::new((config, partitions)),
            }),
        })
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic's id: a topic created again under a deleted topic's name
    /// has a new one.
    pub fn id(&self) -> TopicId {
        self.inner.id
    }

    /// Whether the topic was deleted (a new one may have its name now).
    pub(crate) fn is_deleted(&self) -> bool {
        self.inner.deleted.load(Ordering::Acquire)
    }

    /// Marks the topic deleted.
    pub(crate) fn mark_deleted(&self) {
        self.inner.deleted.store(true, Ordering::Release);
    }

    /// The topic's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The topic's configuration; `partitions` is the current count.
    pub fn config(&self) -> TopicConfig {
        self.inner.state.read().0.clone()
    }

    /// How many partitions the topic has, numbered from 0.
    pub fn partition_count(&self) -> u32 {
        self.inner.partition_count.load(Ordering::Acquire)
    }

    /// Partition number `partition`, or [`Error::UnknownPartition`].
    pub fn partition(&self, partition: u32) -> Result<Partition> {
        let state = self.inner.state.read();
        state
            .1
            .get(partition as usize)
            .cloned()
            .ok_or_else(|| Error::UnknownPartition {
                topic: self.inner.name.clone(),
                partition,
                partitions: state.1.len() as u32,
            })
    }

    /// Every record the topic holds now (from each partition's log start
    /// to its high watermark), partition by partition in offset order,
    /// owned: for tests, what Kafka's `MockProducer.history()` gives.
    pub fn history(&self) -> Result<Vec<OwnedRecord>> {
        let mut out = Vec::new();
        for (n, p) in (0u32..).zip(self.partitions()) {
            let mut at = p.log_start_offset();
            while at < p.high_watermark() {
                let r = p.read(at, 1 << 20)?;
                out.extend(r.iter().map(|r| OwnedRecord::copy_of(self.name(), n, &r)));
                at = r.next_offset();
            }
        }
        Ok(out)
    }

    /// Every partition, in number order.
    pub fn partitions(&self) -> Vec<Partition> {
        self.inner.state.read().1.clone()
    }

    /// Adds already opened partitions and the configuration that counts
    /// them.
    /// Takes `config` (same partition count) as the topic's: what the
    /// maintenance pass reads next, and the keys its partitions require.
    pub(crate) fn set_config(&self, config: TopicConfig) {
        let mut state = self.inner.state.write();
        let compacted = config.cleanup_policy != CleanupPolicy::Delete;
        state.1.iter().for_each(|p| p.set_compacted(compacted));
        state.0 = config;
    }

    pub(crate) fn extend(&self, config: TopicConfig, more: Vec<Partition>) {
        let mut state = self.inner.state.write();
        if config.cleanup_policy != CleanupPolicy::Delete {
            more.iter().for_each(Partition::mark_compacted);
        }
        state.1.extend(more);
        state.0 = config;
        self.inner
            .partition_count
            .store(state.1.len() as u32, Ordering::Release);
    }
}
