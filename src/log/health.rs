//! What a log reports about itself: its unhealthy partitions and the files
//! in its directory that are not samsa's.

use super::Log;
use crate::partition::PartitionHealth;
use std::path::PathBuf;

/// How a log is doing, as [`Log::health`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogHealth {
    /// Every partition that is not [`PartitionHealth::Healthy`], and why.
    pub unhealthy: Vec<UnhealthyPartition>,
    /// What [`Log::foreign_files`] reports.
    pub foreign_files: Vec<PathBuf>,
    /// Segment files held open now (see [`crate::log::LogBuilder::max_open_files`]).
    pub open_files: usize,
    /// The most it keeps open.
    pub max_open_files: usize,
}

impl LogHealth {
    /// Whether every partition is healthy.
    pub fn is_healthy(&self) -> bool {
        self.unhealthy.is_empty()
    }
}

/// One partition that is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnhealthyPartition {
    /// Its topic.
    pub topic: String,
    /// Its number.
    pub partition: u32,
    /// How it is doing, and why.
    pub health: PartitionHealth,
}

impl Log {
    /// How the log is doing: which partitions are recovering after a
    /// failed sync or poisoned (and why), and what it found in its
    /// directory that samsa did not write. Cheap: nothing is read from
    /// disk.
    pub fn health(&self) -> LogHealth {
        let topics: Vec<_> = self.registry().all();
        let mut unhealthy = Vec::new();
        for topic in topics {
            for (n, p) in (0u32..).zip(topic.partitions()) {
                let health = p.health();
                if health != PartitionHealth::Healthy {
                    unhealthy.push(UnhealthyPartition {
                        topic: topic.name().to_owned(),
                        partition: n,
                        health,
                    });
                }
            }
        }
        let budget = &self.registry().env().budget;
        LogHealth {
            unhealthy,
            foreign_files: self.foreign_files(),
            open_files: budget.open(),
            max_open_files: budget.max(),
        }
    }
}
