//! Looking inside a log another process owns: [`ReadOnlyLog`], from
//! [`Log::open_read_only`](crate::Log::open_read_only), and its
//! [`ReadOnlyPartition`]s (Chronicle Queue's readers of a live queue,
//! kcat's one-line look at a topic, in process).
//!
//! A read-only log takes no lock (the owner's keeps excluding other
//! writers) and never writes, truncates, creates or deletes a file: its
//! storage refuses every change, and its reads are positioned reads, never
//! memory maps. It reads what the owner has written whole (see
//! [`ReadOnlyPartition::end_offset`]) and follows the owner's appends,
//! rolls, retention, compaction and restarts (see the partition's docs).
//! Consumer groups stay the owner's: a read-only log reads the groups'
//! committed offsets and the membership the owner records, measures their
//! lag, and commits nothing.

mod dump;
mod partition;

pub use dump::{dump_file, BatchInfo, DumpItem};
pub use partition::ReadOnlyPartition;

use crate::error::{Error, Result};
use crate::group::{membership, offsets, OffsetAndMetadata, PartitionLag, RecordedGroup};
use crate::identity::{self, DirKind};
use crate::registry::layout::{Root, TOPICS_DIR};
use crate::storage::{CheckedStorage, FsStorage, ReadOnlyStorage, Storage};
use crate::topic::{parse_partition_dir, partition_dir, properties, TopicConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often [`ReadOnlyPartition::poll`] looks for new records by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A log directory open read-only, beside its owner (see the module
/// docs). Cheap to open: it reads a topic's files only when asked.
#[derive(Debug, Clone)]
pub struct ReadOnlyLog {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    poll_interval: Duration,
}

impl ReadOnlyLog {
    /// Opens `dir` read-only. It must be a samsa log directory:
    /// [`Error::ForeignDirectory`] otherwise, and [`Error::Io`] if there
    /// is none.
    pub(crate) fn open(dir: &Path) -> Result<ReadOnlyLog> {
        let storage: Arc<dyn Storage> = Arc::new(ReadOnlyStorage(Arc::new(FsStorage)));
        if !storage.dir_exists(dir) {
            return Err(Error::io(
                "open",
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such log directory"),
            ));
        }
        identity::inspect(&*storage, dir, DirKind::Log, &Root)?;
        Ok(ReadOnlyLog {
            storage,
            dir: dir.to_path_buf(),
            poll_interval: DEFAULT_POLL_INTERVAL,
        })
    }

    /// The same log, whose partitions' [`poll`](ReadOnlyPartition::poll)
    /// look for new records every `interval` (a stat and a read of the
    /// last segment's new bytes each time).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn topic_dir(&self, topic: &str) -> PathBuf {
        self.dir.join(TOPICS_DIR).join(topic)
    }

    /// The topics, by name, internal ones (`__consumer_offsets`,
    /// `__transaction_state`) left out.
    pub fn topics(&self) -> Result<Vec<String>> {
        let mut names = self.all_topics()?;
        names.retain(|n| !n.starts_with("__"));
        Ok(names)
    }

    /// The topics, by name, internal ones included.
    pub fn all_topics(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .storage
            .list_directories(&self.dir.join(TOPICS_DIR))?
            .into_iter()
            .filter(|n| {
                self.storage
                    .exists(&self.topic_dir(n).join(properties::FILE_NAME))
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The settings `topic` was created (or last altered) with.
    pub fn topic_config(&self, topic: &str) -> Result<TopicConfig> {
        let path = self.topic_dir(topic).join(properties::FILE_NAME);
        let Some(file) = self.storage.open_if_exists(&path)? else {
            return Err(unknown(topic));
        };
        Ok(properties::decode(&file.read_all()?, &path)?.config)
    }

    /// How many partitions `topic` has now.
    pub fn partition_count(&self, topic: &str) -> Result<u32> {
        let dir = self.topic_dir(topic);
        if !self.storage.dir_exists(&dir) {
            return Err(unknown(topic));
        }
        let count = self
            .storage
            .list_directories(&dir)?
            .iter()
            .filter_map(|n| parse_partition_dir(n))
            .count();
        Ok(count as u32)
    }

    /// Partition `partition` of `topic`.
    pub fn partition(&self, topic: &str, partition: u32) -> Result<ReadOnlyPartition> {
        let dir = partition_dir(&self.topic_dir(topic), partition);
        if !self.storage.dir_exists(&dir) {
            return Err(if self.storage.dir_exists(&self.topic_dir(topic)) {
                Error::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                    partitions: self.partition_count(topic)?,
                }
            } else {
                unknown(topic)
            });
        }
        // What its compressed batches may decompress to: the topic's
        // max.message.bytes (the default, should its settings not read).
        let max_record_bytes = self
            .topic_config(topic)
            .map_or(TopicConfig::default().max_record_bytes, |c| {
                c.max_record_bytes
            });
        Ok(ReadOnlyPartition::new(
            self.storage.clone(),
            dir,
            topic,
            partition,
            self.poll_interval,
            max_record_bytes as usize,
        ))
    }

    /// Every committed offset, by group, topic and partition, as the
    /// owner's offset store holds them durably (the latest commit of each
    /// wins, a deletion removes it).
    pub fn committed_offsets(&self) -> Result<BTreeMap<offsets::Key, OffsetAndMetadata>> {
        self.latest(offsets::TOPIC, offsets::decode_key, |_, v| {
            offsets::decode_value(v)
        })
    }

    /// The groups with committed offsets or a membership record, sorted.
    pub fn groups(&self) -> Result<Vec<String>> {
        let mut groups: Vec<String> = self
            .committed_offsets()?
            .into_keys()
            .map(|(g, _, _)| g)
            .collect();
        groups.extend(self.recorded_groups()?.into_keys());
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// `group` as the owner last recorded it: state, generation, assignor,
    /// members and their assignments (see [`RecordedGroup`]); `None` for
    /// a group the owner never recorded (one whose offsets only consumers
    /// outside any membership committed, or written by a samsa that did
    /// not record membership yet).
    ///
    /// The owner records a group just after each change (a join, a leave,
    /// a rebalance, a revocation), on its commit thread, and at its close;
    /// so the record trails a change by a moment.
    pub fn describe_group(&self, group: &str) -> Result<Option<RecordedGroup>> {
        Ok(self.recorded_groups()?.remove(group))
    }

    fn recorded_groups(&self) -> Result<BTreeMap<String, RecordedGroup>> {
        self.latest(membership::TOPIC, membership::decode_key, |g, v| {
            membership::decode_value(g, v)
        })
    }

    /// The latest value of every key in the internal topic `topic` (none
    /// if it does not exist): a tombstone removes its key, and a record
    /// that does not decode (a newer samsa's, say) is passed over.
    fn latest<K: Ord, V>(
        &self,
        topic: &str,
        key: impl Fn(&[u8]) -> Option<K>,
        value: impl Fn(&K, &[u8]) -> Option<V>,
    ) -> Result<BTreeMap<K, V>> {
        let mut latest = BTreeMap::new();
        if !self.storage.dir_exists(&self.topic_dir(topic)) {
            return Ok(latest);
        }
        for n in 0..self.partition_count(topic)? {
            let p = self.partition(topic, n)?;
            let end = p.end_offset()?;
            let mut at = p.log_start_offset()?;
            while at < end {
                let records = p.read(at, 1 << 20)?;
                for r in &records {
                    let Some(k) = r.key().and_then(&key) else {
                        continue;
                    };
                    match r.value() {
                        None => {
                            latest.remove(&k);
                        }
                        Some(v) => {
                            if let Some(v) = value(&k, v) {
                                latest.insert(k, v);
                            }
                        }
                    }
                }
                at = records.next_offset();
            }
        }
        Ok(latest)
    }

    /// The lag of `group` on every partition it committed an offset for:
    /// from the committed offset (or the log start, if that passed it) to
    /// the end the owner has written ([`ReadOnlyPartition::end_offset`]).
    /// `last_stable_offset` is that end too: a read-only log does not
    /// track open transactions.
    pub fn lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let mut out = Vec::new();
        for ((g, topic, partition), o) in self.committed_offsets()? {
            if g != group {
                continue;
            }
            let Ok(p) = self.partition(&topic, partition) else {
                continue;
            };
            let end = p.end_offset()?;
            let from = o.offset.max(p.log_start_offset()?);
            out.push(PartitionLag {
                topic,
                partition,
                committed: Some(o.offset),
                high_watermark: end,
                last_stable_offset: end,
                lag: end.saturating_sub(from),
            });
        }
        Ok(out)
    }
}

fn unknown(topic: &str) -> Error {
    Error::UnknownTopic {
        name: topic.to_owned(),
    }
}

#[cfg(test)]
mod tests;
