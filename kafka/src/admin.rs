//! [`AdminClient`] over rdkafka's `AdminClient` and a metadata consumer.

use crate::config::KafkaConfig;
use crate::error::{self, Context};
use rdkafka::admin::{AdminClient as RdAdmin, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset as KOffset, TopicPartitionList};
use samsa_log::client::AdminClient;
use samsa_log::group::PartitionLag;
use samsa_log::Result;
use std::time::Duration;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Topic and group administration of a Kafka cluster behind
/// [`AdminClient`].
pub struct KafkaAdmin {
    admin: RdAdmin<DefaultClientContext>,
    /// Reads metadata and watermarks (a consumer in no group).
    meta: BaseConsumer,
    kafka: KafkaConfig,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdmin")
            .field("bootstrap_servers", &self.kafka.bootstrap_servers)
            .finish()
    }
}

impl KafkaAdmin {
    /// An admin client of `kafka`.
    pub fn new(kafka: &KafkaConfig) -> Result<Self> {
        let servers = &kafka.bootstrap_servers;
        Ok(KafkaAdmin {
            admin: kafka
                .client(&[])
                .create()
                .context("create admin", servers)?,
            meta: kafka
                .client(&[])
                .create()
                .context("create admin", servers)?,
            kafka: kafka.clone(),
        })
    }

    /// A consumer of `group` that never joins it: it reads and writes the
    /// group's commits, as Kafka allows while the group has no active
    /// member.
    fn group_client(&self, group: &str) -> Result<BaseConsumer> {
        self.kafka
            .client(&[("group.id", group.to_owned())])
            .create()
            .context("create admin", group)
    }

    /// Every topic's partitions, by name (internal topics left out).
    fn all_partitions(&self) -> Result<Vec<(String, u32)>> {
        let md = self
            .meta
            .fetch_metadata(None, REQUEST_TIMEOUT)
            .context("fetch metadata", &self.kafka.bootstrap_servers)?;
        Ok(md
            .topics()
            .iter()
            .filter(|t| !t.name().starts_with("__"))
            .flat_map(|t| {
                t.partitions()
                    .iter()
                    .map(|p| (t.name().to_owned(), p.id() as u32))
            })
            .collect())
    }
}

impl AdminClient for KafkaAdmin {
    fn create_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        // -1: the cluster's `default.replication.factor` (KIP-464, Kafka
        // 2.4 and later), as Kafka's own tools create topics; a fixed 1
        // would leave a production topic on one broker.
        let new = NewTopic::new(topic, partitions as i32, TopicReplication::Fixed(-1));
        let results = crate::runtime::block_on(self.admin.create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT)),
        ))
        .context("create_topic", topic)?;
        for r in results {
            if let Err((name, code)) = r {
                return Err(error::from_kafka(
                    "create_topic",
                    &name,
                    rdkafka::error::KafkaError::AdminOp(code),
                ));
            }
        }
        Ok(())
    }

    fn list_topics(&self) -> Result<Vec<String>> {
        let mut topics: Vec<String> = self.all_partitions()?.into_iter().map(|(t, _)| t).collect();
        topics.sort();
        topics.dedup();
        Ok(topics)
    }

    fn partition_count(&self, topic: &str) -> Result<u32> {
        let md = self
            .meta
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .context("fetch metadata", topic)?;
        match md.topics().iter().find(|t| t.name() == topic) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                Ok(t.partitions().len() as u32)
            }
            _ => Err(samsa_log::Error::UnknownTopic {
                name: topic.to_owned(),
            }),
        }
    }

    fn group_offsets(&self, group: &str) -> Result<Vec<(String, u32, u64)>> {
        let reader = self.group_client(group)?;
        let mut tpl = TopicPartitionList::new();
        for (t, p) in self.all_partitions()? {
            tpl.add_partition(&t, p as i32);
        }
        let got = reader
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .context("committed", group)?;
        Ok(got
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                KOffset::Offset(o) if o >= 0 => {
                    Some((e.topic().to_owned(), e.partition() as u32, o as u64))
                }
                _ => None,
            })
            .collect())
    }

    fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let mut out = Vec::new();
        for (topic, partition, committed) in self.group_offsets(group)? {
            let (low, high) = self
                .meta
                .fetch_watermarks(&topic, partition as i32, REQUEST_TIMEOUT)
                .context("fetch watermarks", &format!("{topic}/{partition}"))?;
            let (low, high) = (low.max(0) as u64, high.max(0) as u64);
            out.push(PartitionLag {
                topic,
                partition,
                committed: Some(committed),
                high_watermark: high,
                // A plain consumer sees the high watermark; Kafka tells the
                // last stable offset only to `read_committed` fetches.
                last_stable_offset: high,
                lag: high.saturating_sub(committed.max(low)),
            });
        }
        Ok(out)
    }

    fn end_offsets(&self, topic: &str) -> Result<Vec<u64>> {
        let count = self.partition_count(topic)?;
        (0..count)
            .map(|p| {
                let (_, high) = self
                    .meta
                    .fetch_watermarks(topic, p as i32, REQUEST_TIMEOUT)
                    .context("fetch watermarks", &format!("{topic}/{p}"))?;
                Ok(high.max(0) as u64)
            })
            .collect()
    }

    fn alter_group_offsets(&self, group: &str, offsets: &[(&str, u32, u64)]) -> Result<()> {
        let writer = self.group_client(group)?;
        let mut tpl = TopicPartitionList::new();
        for &(t, p, o) in offsets {
            tpl.add_partition_offset(t, p as i32, KOffset::Offset(o as i64))
                .context("alter group offsets", &format!("{t}/{p}"))?;
        }
        writer
            .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .context("alter group offsets", group)
    }
}
