//! [`ConsumerClient`] over rdkafka's `BaseConsumer`.

use crate::config::{self, KafkaConfig};
use crate::error::{self, Context};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientContext, Offset as KOffset, TopicPartitionList};
use samsa_log::client::{ConsumerClient, PartitionListener};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, Offset};
use samsa_log::record::OwnedRecord;
use samsa_log::Result;
use std::sync::Mutex;
use std::time::Duration;

/// How long a call that asks the cluster (commit, committed offsets,
/// watermarks, offsets by time) waits for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls the listener from rdkafka's rebalance callbacks (which run inside
/// `poll`, as samsa's do).
#[derive(Default)]
pub(crate) struct Listening {
    listener: Mutex<Option<Box<dyn PartitionListener>>>,
}

impl ClientContext for Listening {}

fn pairs(tpl: &TopicPartitionList) -> Vec<(String, u32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition() as u32))
        .collect()
}

impl ConsumerContext for Listening {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            if let Some(l) = self
                .listener
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                l.on_revoked(&pairs(tpl));
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if let Some(l) = self
                .listener
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                l.on_assigned(&pairs(tpl));
            }
        }
    }
}

/// A Kafka consumer behind [`ConsumerClient`].
pub struct KafkaConsumer {
    inner: BaseConsumer<Listening>,
    max_poll_records: usize,
    reset: AutoOffsetReset,
    /// Partitions taken with `assign` (not through a group), whose seeks
    /// before the first fetch are made by assigning them again.
    manual: Vec<(String, u32)>,
    group: String,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.group)
            .finish()
    }
}

fn tpl_of(partitions: &[(&str, u32)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &(t, p) in partitions {
        tpl.add_partition(t, p as i32);
    }
    tpl
}

fn target(topic: &str, partition: u32) -> String {
    format!("{topic}/{partition}")
}

impl KafkaConsumer {
    /// A consumer of `kafka` with samsa's `config` mapped to Kafka's.
    pub fn new(kafka: &KafkaConfig, config: &ConsumerConfig) -> Result<Self> {
        let inner: BaseConsumer<Listening> = kafka
            .client(&config::consumer(config))
            .create_with_context(Listening::default())
            .context("create consumer", &kafka.bootstrap_servers)?;
        Ok(KafkaConsumer {
            inner,
            max_poll_records: config.max_poll_records.max(1),
            reset: config.auto_offset_reset,
            manual: Vec::new(),
            group: config.group_id.clone().unwrap_or_default(),
        })
    }

    /// The rdkafka consumer, for what the traits do not cover.
    pub fn inner(&self) -> &BaseConsumer<impl ConsumerContext> {
        &self.inner
    }

    fn owned(m: &rdkafka::message::BorrowedMessage<'_>) -> OwnedRecord {
        let headers = m
            .headers()
            .map(|h| {
                (0..h.count())
                    .filter_map(|i| h.try_get(i))
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        OwnedRecord {
            topic: m.topic().to_owned(),
            partition: m.partition() as u32,
            offset: m.offset() as u64,
            timestamp: m.timestamp().to_millis().unwrap_or(-1),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    /// Where a partition's position goes when it has none yet: the
    /// committed offset, else the reset policy's end.
    fn resolved_position(&self, topic: &str, partition: u32) -> Result<u64> {
        if let Some(c) = self.committed_offset(topic, partition)? {
            return Ok(c);
        }
        let (low, high) = self
            .inner
            .fetch_watermarks(topic, partition as i32, REQUEST_TIMEOUT)
            .context("fetch watermarks", &target(topic, partition))?;
        Ok(match self.reset {
            AutoOffsetReset::Earliest => low as u64,
            _ => high as u64,
        })
    }

    fn committed_offset(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        let tpl = self
            .inner
            .committed_offsets(tpl_of(&[(topic, partition)]), REQUEST_TIMEOUT)
            .context("committed", &target(topic, partition))?;
        Ok(tpl
            .find_partition(topic, partition as i32)
            .and_then(|e| match e.offset() {
                KOffset::Offset(o) if o >= 0 => Some(o as u64),
                _ => None,
            }))
    }

    fn kafka_offset(&mut self, topic: &str, partition: u32, to: Offset) -> Result<KOffset> {
        Ok(match to {
            Offset::Earliest => KOffset::Beginning,
            Offset::Latest => KOffset::End,
            Offset::At(o) => KOffset::Offset(o as i64),
            Offset::Timestamp(ts) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, partition as i32, KOffset::Offset(ts))
                    .context("seek", &target(topic, partition))?;
                let found = self
                    .inner
                    .offsets_for_times(tpl, REQUEST_TIMEOUT)
                    .context("offsets for times", &target(topic, partition))?;
                match found
                    .find_partition(topic, partition as i32)
                    .map(|e| e.offset())
                {
                    Some(KOffset::Offset(o)) if o >= 0 => KOffset::Offset(o),
                    _ => KOffset::End,
                }
            }
            Offset::ShiftBy(by) => {
                // Relative moves count from the position.
                let here = self.position(topic, partition)? as i64;
                KOffset::Offset(here.saturating_add(by).max(0))
            }
        })
    }
}

impl ConsumerClient for KafkaConsumer {
    fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.manual.clear();
        self.inner
            .subscribe(topics)
            .context("subscribe", &topics.join(","))
    }

    fn subscribe_with(
        &mut self,
        topics: &[&str],
        listener: Box<dyn PartitionListener>,
    ) -> Result<()> {
        *self
            .inner
            .context()
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
        self.subscribe(topics)
    }

    fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.inner
            .assign(&tpl_of(partitions))
            .context("assign", &self.group)?;
        self.manual = partitions.iter().map(|&(t, p)| (t.to_owned(), p)).collect();
        Ok(())
    }

    fn assignment(&self) -> Result<Vec<(String, u32)>> {
        Ok(pairs(
            &self.inner.assignment().context("assignment", &self.group)?,
        ))
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<OwnedRecord>> {
        let mut out = Vec::new();
        let mut wait = timeout;
        while out.len() < self.max_poll_records {
            match self.inner.poll(wait) {
                None => break,
                Some(Ok(m)) => out.push(Self::owned(&m)),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(error::from_kafka("poll", &self.group, e)),
            }
            wait = Duration::ZERO;
        }
        Ok(out)
    }

    fn commit(&mut self) -> Result<()> {
        match self.inner.commit_consumer_state(CommitMode::Sync) {
            // Nothing polled since the last commit: nothing to commit, as
            // samsa's commit of unchanged positions.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            r => r.context("commit", &self.group),
        }
    }

    fn commit_offsets(&mut self, offsets: &[(&str, u32, u64)]) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for &(t, p, o) in offsets {
            tpl.add_partition_offset(t, p as i32, KOffset::Offset(o as i64))
                .context("commit", &target(t, p))?;
        }
        self.inner
            .commit(&tpl, CommitMode::Sync)
            .context("commit", &self.group)
    }

    fn committed(&mut self, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.committed_offset(topic, partition)
    }

    fn seek(&mut self, topic: &str, partition: u32, to: Offset) -> Result<()> {
        let offset = self.kafka_offset(topic, partition, to)?;
        match self
            .inner
            .seek(topic, partition as i32, offset, REQUEST_TIMEOUT)
        {
            Ok(()) => Ok(()),
            // Not fetched yet (a seek right after `assign`): librdkafka
            // seeks only partitions it fetches; assigning again with the
            // offset does what the seek asks.
            Err(_)
                if self
                    .manual
                    .iter()
                    .any(|(t, p)| t == topic && *p == partition) =>
            {
                let mut tpl = TopicPartitionList::new();
                for (t, p) in &self.manual {
                    let o = if t == topic && *p == partition {
                        offset
                    } else {
                        KOffset::Stored
                    };
                    tpl.add_partition_offset(t, *p as i32, o)
                        .context("seek", &target(t, *p))?;
                }
                self.inner
                    .assign(&tpl)
                    .context("seek", &target(topic, partition))
            }
            Err(e) => Err(error::from_kafka("seek", &target(topic, partition), e)),
        }
    }

    fn position(&mut self, topic: &str, partition: u32) -> Result<u64> {
        let tpl = self
            .inner
            .position()
            .context("position", &target(topic, partition))?;
        match tpl
            .find_partition(topic, partition as i32)
            .map(|e| e.offset())
        {
            Some(KOffset::Offset(o)) if o >= 0 => Ok(o as u64),
            Some(_) => {
                // Nothing consumed yet: librdkafka resolves the start only
                // when it first fetches, so records sent meanwhile could
                // be skipped by a `latest` reset. As Kafka's Java client
                // does, resolve it now and make the fetch start there.
                let at = self.resolved_position(topic, partition)?;
                ConsumerClient::seek(self, topic, partition, Offset::At(at))?;
                Ok(at)
            }
            None => Err(samsa_log::Error::NotAssigned {
                topic: topic.to_owned(),
                partition,
            }),
        }
    }

    fn pause(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.inner
            .pause(&tpl_of(partitions))
            .context("pause", &self.group)
    }

    fn resume(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.inner
            .resume(&tpl_of(partitions))
            .context("resume", &self.group)
    }
}
