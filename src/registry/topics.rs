//! The log's topics: look-up, creation, deletion, growth.

use super::layout::{DELETED_DIR, TOPICS_DIR};
use super::Registry;
use crate::error::{Error, Result};
use crate::partition::Partition;
use crate::storage::{prune, CheckedStorage, Storage};
use crate::topic::{name, partition_dir, properties, Topic, TopicConfig, TopicFiles, TopicId};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

impl Registry {
    /// Creates a topic: see [`crate::Log::create_topic`].
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        name::validate(name, false)?;
        self.create(name, config)
    }

    /// Creates one of samsa's internal topics (named `__...`).
    pub(crate) fn create_internal_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        name::validate(name, true)?;
        self.create(name, config)
    }

    /// The internal topic `name` samsa keeps its own state in
    /// (`__consumer_offsets`, `__transaction_state`): one partition,
    /// compacted, kept for good; created at its first use.
    pub(crate) fn state_topic(&self, name: &str) -> Result<Topic> {
        match self.topic(name) {
            Err(Error::UnknownTopic { .. }) => self.create_internal_topic(
                name,
                TopicConfig::default()
                    .partitions(1)
                    .retention_ms(None)
                    .cleanup_policy(crate::topic::CleanupPolicy::Compact),
            ),
            other => other,
        }
    }

    fn create(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        config.validate()?;
        let _admin = self.admin.lock();
        self.ensure_open()?;
        if self.topics.read().contains_key(name) {
            return Err(Error::TopicExists {
                name: name.to_owned(),
            });
        }
        let storage = &**self.storage();
        let topics_dir = self.topics_dir();
        let dir = topics_dir.join(name);
        if storage.dir_exists(&dir) {
            // Left by a creation that failed earlier in this process; it
            // holds nothing but samsa's files, or it is not samsa's to clear.
            let mut foreign = Vec::new();
            let cleared = storage.prune(&dir, &TopicFiles, &mut foreign)?;
            if !cleared {
                return Err(Error::ForeignDirectory {
                    path: dir,
                    reason: format!("it holds files samsa did not write: {foreign:?}"),
                });
            }
        }
        let id = TopicId::random();
        let created = (|| {
            storage.create_directory(&dir)?;
            let topic = Topic::open(&self.env, &dir, name, id, config.clone(), self.sync)?;
            write_properties(storage, &dir, name, id, &config)?;
            storage.fsync_directory(&topics_dir)?;
            Ok(topic)
        })();
        match created {
            Ok(topic) => {
                self.topics.write().insert(name.to_owned(), topic.clone());
                Ok(topic)
            }
            Err(e) => {
                let _ = prune(storage, &dir, &TopicFiles, &mut Vec::new());
                Err(e)
            }
        }
    }

    /// The topic called `name`, or [`Error::UnknownTopic`].
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.ensure_open()?;
        self.topics
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic {
                name: name.to_owned(),
            })
    }

    /// The names of all topics, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.topics.read().keys().cloned().collect()
    }

    /// The directory of the topics' directories.
    fn topics_dir(&self) -> PathBuf {
        self.dir.join(TOPICS_DIR)
    }

    /// Deletes a topic: see [`crate::Log::delete_topic`].
    ///
    /// `forget` runs once the deletion is durable, before another topic
    /// can take the name: the groups forget their offsets of it there.
    pub fn delete_topic(&self, name: &str, forget: impl FnOnce()) -> Result<()> {
        refuse_internal(name)?;
        let _admin = self.admin.lock();
        self.ensure_open()?;
        let topic = self.topic(name)?;
        let partitions = topic.partitions();
        // No append, roll, retention or compaction from here on: if the
        // rename fails, the topic goes on exactly as it was.
        let holds: Vec<_> = partitions.iter().map(Partition::hold).collect();
        let storage = &**self.storage();
        let deleted = self.dir.join(DELETED_DIR);
        let n = self.deletions.fetch_add(1, Ordering::Relaxed);
        // Named by the counter alone: a topic name of 249 bytes plus a
        // counter could pass the 255-byte limit of a file name.
        let grave = deleted.join(n.to_string());
        let topics_dir = self.topics_dir();
        // One step of the deletion, whichever call fails, so named by hand:
        // its op is the deletion, not `create directory` or `rename`.
        storage
            .create_dir_all(&deleted)
            .and_then(|()| storage.rename(topic.dir(), &grave))
            .map_err(|e| Error::io("delete topic (rename)", topic.dir(), e))?;
        let synced = storage.fsync_directory(&topics_dir);
        if let Err(e) = synced {
            // Whether the rename is durable is unknown: undo it, so the
            // caller's error means the topic is still there. Should the
            // undo fail too, the topic is gone here, and a restart may
            // find it either way: the error says it was not made durable.
            if storage.rename(&grave, topic.dir()).is_ok() {
                return Err(e);
            }
            self.bury(&topic, &partitions, holds);
            return Err(e);
        }
        self.bury(&topic, &partitions, holds);
        // The rename made the deletion durable; a failure to remove the
        // files now only leaves them for the next open to remove.
        let _ = prune(storage, &grave, &TopicFiles, &mut Vec::new());
        forget();
        Ok(())
    }

    /// Ends a deleted topic's life in this process: its handles answer
    /// [`Error::UnknownTopic`] and its name is free.
    fn bury(
        &self,
        topic: &Topic,
        partitions: &[Partition],
        holds: Vec<crate::partition::Hold<'_>>,
    ) {
        for p in partitions {
            p.mark_deleted();
        }
        topic.mark_deleted();
        self.topics.write().remove(topic.name());
        drop(holds);
    }

    /// Changes a topic's settings: see [`crate::Log::alter_topic_config`].
    pub fn alter_topic_config(&self, name: &str, config: TopicConfig) -> Result<()> {
        refuse_internal(name)?;
        let _admin = self.admin.lock();
        self.ensure_open()?;
        let topic = self.topic(name)?;
        let partitions = topic.config().partitions;
        if config.partitions != partitions {
            return Err(Error::InvalidConfig(format!(
                "partitions: {name} has {partitions}; add partitions with add_partitions"
            )));
        }
        config.validate()?;
        write_properties(&**self.storage(), topic.dir(), name, topic.id(), &config)?;
        topic.set_config(config);
        Ok(())
    }

    /// Adds partitions to a topic: see [`crate::Log::add_partitions`].
    pub fn add_partitions(&self, name: &str, count: u32) -> Result<u32> {
        refuse_internal(name)?;
        let _admin = self.admin.lock();
        self.ensure_open()?;
        let topic = self.topic(name)?;
        let mut config = topic.config();
        let old = config.partitions;
        config.partitions = old.saturating_add(count);
        if count == 0 {
            return Err(Error::InvalidConfig("add at least one partition".into()));
        }
        config.validate()?;
        let pc = config.partition_config(self.sync);
        let more = (old..config.partitions)
            .map(|p| {
                Partition::open_in(&self.env, &partition_dir(topic.dir(), p), pc.clone(), None)
            })
            .collect::<Result<Vec<_>>>()?;
        write_properties(&**self.storage(), topic.dir(), name, topic.id(), &config)?;
        topic.extend(config.clone(), more);
        Ok(config.partitions)
    }
}

/// Writes topic `name`'s metadata file in its directory `dir`.
pub(crate) fn write_properties(
    storage: &dyn Storage,
    dir: &Path,
    name: &str,
    id: TopicId,
    config: &TopicConfig,
) -> Result<()> {
    crate::properties::write(
        storage,
        dir,
        properties::FILE_NAME,
        &properties::encode(name, id, config),
    )
}

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
