//! What the partition's model and example tests share: the proptest case
//! count, and a place (a temp directory or an in-memory store) to open a
//! partition again and again with a test clock.

use super::{Partition, PartitionConfig, PartitionEnv};
use crate::clock::ManualClock;
use crate::storage::{FsStorage, MemStorage, Storage};
use std::path::PathBuf;
use std::sync::Arc;

/// Cases of a model proptest: 24 by default, `SAMSA_PROPTEST_CASES` for
/// more.
pub(crate) fn cases() -> u32 {
    std::env::var("SAMSA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// Where a test's partition lives across reopens.
pub(crate) enum Home {
    Disk(tempfile::TempDir),
    Memory(Arc<MemStorage>),
}

impl Home {
    pub fn disk() -> Home {
        Home::Disk(tempfile::tempdir().unwrap())
    }

    pub fn memory() -> Home {
        Home::Memory(Arc::new(MemStorage::default()))
    }

    /// Opens the partition there with `config`, reading time from `clock`.
    pub fn open(&self, config: &PartitionConfig, clock: &Arc<ManualClock>) -> Partition {
        let (storage, dir): (Arc<dyn Storage>, PathBuf) = match self {
            Home::Disk(t) => (Arc::new(FsStorage), t.path().join("p")),
            Home::Memory(m) => (m.clone(), PathBuf::from("/p")),
        };
        let env = PartitionEnv {
            storage,
            signal: Arc::default(),
            clock: clock.clone(),
            // Small, so that segments are closed and opened again all the
            // time under the model's operations.
            budget: crate::storage::FileBudget::new(3),
            faults: Default::default(),
        };
        Partition::open_alone(&env, &dir, config.clone()).unwrap()
    }
}
