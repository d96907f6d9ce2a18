//! Layer 4: a topic, a named set of partitions with one configuration.

mod config;
pub(crate) mod name;
pub(crate) mod properties;

pub use config::{CleanupPolicy, TopicConfig};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::partition::signal::AppendSignal;
use crate::partition::{Partition, SyncPolicy};
use crate::storage::Storage;
use parking_lot::RwLock;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A topic: its name, configuration and partitions. Cheap to clone; a
/// handle stays valid while the topic exists, and sees partitions added
/// later.
#[derive(Clone)]
pub struct Topic {
    inner: Arc<TopicInner>,
}

struct TopicInner {
    name: String,
    dir: PathBuf,
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
        storage: &Arc<dyn Storage>,
        dir: &Path,
        name: &str,
        config: TopicConfig,
        default_sync: SyncPolicy,
        signal: &Arc<AppendSignal>,
        clock: &Arc<dyn Clock>,
    ) -> Result<Topic> {
        let pc = config.partition_config(default_sync);
        let partitions = (0..config.partitions)
            .map(|p| {
                Partition::open_signalled(
                    storage.clone(),
                    &partition_dir(dir, p),
                    pc.clone(),
                    signal.clone(),
                    clock.clone(),
                )
            })
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
                dir: dir.to_path_buf(),
                partition_count: AtomicU32::new(partitions.len() as u32),
                state: RwLock::new((config, partitions)),
            }),
        })
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
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

    /// Every partition, in number order.
    pub fn partitions(&self) -> Vec<Partition> {
        self.inner.state.read().1.clone()
    }

    /// Adds already opened partitions and the configuration that counts
    /// them.
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

    /// Closes every partition; the first error is returned after all were
    /// tried.
    pub(crate) fn close(&self) -> Result<()> {
        let mut first = Ok(());
        for p in self.partitions() {
            if let Err(e) = p.close() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}
