//! The log's topics, through the registry: look-up, creation, deletion,
//! growth.

use super::Log;
use crate::error::Result;
use crate::topic::{Topic, TopicConfig};

impl Log {
    /// Creates a topic. The name must follow Kafka's rule (see
    /// [`Error::InvalidTopicName`](crate::Error::InvalidTopicName)); an
    /// invalid name or configuration, or an existing name, is an error and
    /// nothing is created on disk. The topic gets a new
    /// [`TopicId`](crate::topic::TopicId), also when a deleted topic had its name.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        self.registry().create_topic(name, config)
    }

    /// The topic called `name`, or
    /// [`Error::UnknownTopic`](crate::Error::UnknownTopic).
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.registry().topic(name)
    }

    /// The names of all topics, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.registry().topics()
    }

    /// Deletes a topic and all its records, and the consumer groups'
    /// committed offsets of it (as Kafka does). All or nothing: on an
    /// error the topic is still there and fully usable (unless the disk
    /// failed both the directory sync and its undo: then the topic is gone
    /// here, and the error says that was not made durable); on success its
    /// name is free, and handles to it (a [`Topic`], its partitions, a
    /// producer or consumer that used it) get [`Error::UnknownTopic`](crate::Error::UnknownTopic) or
    /// move on to a topic created later under the name (see
    /// [`crate::Producer::send`], [`crate::Consumer::poll`]).
    ///
    /// It needs no free disk space: the topic's directory is renamed out of
    /// `topics/` (the commit point) before anything is written, so it
    /// works on a full disk, when freeing space matters most. Internal
    /// topics cannot be deleted ([`Error::InvalidTopicName`](crate::Error::InvalidTopicName)).
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let registry = self.registry();
        registry.delete_topic(name, || self.offset_store().forget_topic(registry, name))
    }

    /// Changes a topic's settings (Kafka's `incrementalAlterConfigs`, or
    /// `kafka-configs --alter`): `config` is written to the topic's
    /// metadata at once, durably. The retention and compaction settings
    /// (`retention.ms`, `retention.bytes`, `cleanup.policy`,
    /// `delete.retention.ms`, `min.cleanable.dirty.ratio`,
    /// `min.compaction.lag.ms`) apply from the next maintenance pass, and
    /// `cleanup.policy` to the keys appends need at once; the settings of
    /// the partition logs themselves (`segment.bytes`, `segment.ms`, the
    /// index settings, `max.message.bytes`, the sync policy, the timestamp
    /// type) when the log is next opened. The partition count is not a
    /// setting here ([`Self::add_partitions`]): a different one is
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig), as is a value
    /// out of range. Internal topics refuse it.
    ///
    /// ```
    /// use samsa_log::topic::TopicConfig;
    /// use samsa_log::Log;
    ///
    /// # fn main() -> samsa_log::Result<()> {
    /// let log = Log::in_memory();
    /// let topic = log.create_topic("events", TopicConfig::default())?;
    /// let config = topic.config().with_property("retention.ms", "3600000")?;
    /// log.alter_topic_config("events", config)?;
    /// assert_eq!(log.topic("events")?.config().retention_ms, Some(3_600_000));
    /// # Ok(())
    /// # }
    /// ```
    pub fn alter_topic_config(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.registry().alter_topic_config(name, config)
    }

    /// Adds `count` partitions to a topic (partitions are never removed,
    /// as in Kafka) and returns the new partition count. Internal topics
    /// cannot be grown ([`Error::InvalidTopicName`](crate::Error::InvalidTopicName)).
    pub fn add_partitions(&self, name: &str, count: u32) -> Result<u32> {
        self.registry().add_partitions(name, count)
    }
}
