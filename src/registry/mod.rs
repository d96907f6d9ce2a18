//! Layer 5a: the topic registry of a log directory: the topics by name,
//! and their creation, deletion and growth; what every partition of the
//! log shares (storage, clock, append signal, file budget).
//!
//! It is carved out of [`Log`](crate::Log) so that the consumer groups
//! (coordinator and offset store) can look topics up and write their
//! internal topic without depending on the log that owns them, as Kafka
//! keeps its `LogManager` apart from its group coordinator. `Log` is the
//! façade over the registry, the groups and the directory's lock.

pub(crate) mod layout;
mod topics;

pub(crate) use topics::{refuse_internal, write_properties};

use crate::error::{Error, Result};
use crate::partition::signal::AppendSignal;
use crate::partition::PartitionEnv;
use crate::settings::SyncPolicy;
use crate::storage::Storage;
use crate::topic::Topic;
use parking_lot::{Mutex, MutexGuard, RwLock};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The topics of one log directory.
pub(crate) struct Registry {
    dir: PathBuf,
    /// The storage, the append signal, the clock and the file budget every
    /// partition shares.
    env: PartitionEnv,
    /// The log's sync policy, for topics that do not set their own.
    sync: SyncPolicy,
    topics: RwLock<BTreeMap<String, Topic>>,
    /// Serialises topic creation, deletion and growth, and the log's close.
    admin: Mutex<()>,
    closed: AtomicBool,
    /// Makes the names of deleted topics' directories unique.
    deletions: AtomicU64,
}

impl Registry {
    /// The registry of the log in `dir`, holding the `topics` open found
    /// there; `deletions` is the first free name in `deleted/`.
    pub fn new(
        dir: &Path,
        env: PartitionEnv,
        sync: SyncPolicy,
        topics: BTreeMap<String, Topic>,
        deletions: u64,
    ) -> Registry {
        Registry {
            dir: dir.to_path_buf(),
            env,
            sync,
            topics: RwLock::new(topics),
            admin: Mutex::new(()),
            closed: AtomicBool::new(false),
            deletions: AtomicU64::new(deletions),
        }
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the log's partitions share.
    pub fn env(&self) -> &PartitionEnv {
        &self.env
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.env.storage
    }

    /// Now, by the log's clock.
    pub fn now_ms(&self) -> i64 {
        self.env.clock.now_ms()
    }

    /// The signal every partition of the log announces new records on.
    pub fn signal(&self) -> &Arc<AppendSignal> {
        &self.env.signal
    }

    /// Every topic, by name.
    pub fn all(&self) -> Vec<Topic> {
        self.topics.read().values().cloned().collect()
    }

    /// Holds off topic creation, deletion and growth while it lives.
    pub fn admin(&self) -> MutexGuard<'_, ()> {
        self.admin.lock()
    }

    /// Marks the log closed; whether it already was.
    pub fn set_closed(&self) -> bool {
        self.closed.swap(true, Ordering::AcqRel)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }
}
