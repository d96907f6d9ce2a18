//! samsa's own types behind the client traits: [`Producer`], [`Delivery`],
//! [`Consumer`] and [`Log`].

use super::{
    AdminClient, AsyncConsumerClient, AsyncProducerClient, ConsumerClient, PartitionListener,
    PendingDelivery, ProducerClient, TransactionalProducerClient,
};
use crate::consumer::{Consumer, RebalanceListener};
use crate::error::Result;
use crate::group::{OffsetAndMetadata, PartitionLag};
use crate::log::Log;
use crate::offset::Offset;
use crate::producer::{Delivery, Producer, RecordMetadata};
use crate::record::{OwnedRecord, Record};
use crate::topic::TopicConfig;
use std::future::Future;
use std::time::Duration;

impl ProducerClient for Producer {
    type Delivery = Delivery;

    fn send(&self, topic: &str, record: Record<'_>) -> Result<Delivery> {
        Producer::send(self, topic, record)
    }

    fn flush(&self) -> Result<()> {
        Producer::flush(self)
    }
}

impl AsyncProducerClient for Producer {
    async fn deliver<'a>(&'a self, topic: &'a str, record: Record<'a>) -> Result<RecordMetadata> {
        self.send_async(topic, record).await?.await
    }

    fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + '_ {
        Producer::flush_async(self)
    }
}

impl TransactionalProducerClient for Producer {
    type Consumer = Consumer;

    fn init_transactions(&self) -> Result<()> {
        Producer::init_transactions(self)
    }

    fn begin_transaction(&self) -> Result<()> {
        Producer::begin_transaction(self)
    }

    fn send_offsets_to_transaction(
        &self,
        offsets: &[(&str, u32, u64)],
        consumer: &Consumer,
    ) -> Result<()> {
        Producer::send_offsets_to_transaction(
            self,
            &offsets_of(offsets),
            &consumer.group_metadata()?,
        )
    }

    fn commit_transaction(&self) -> Result<()> {
        Producer::commit_transaction(self)
    }

    fn abort_transaction(&self) -> Result<()> {
        Producer::abort_transaction(self)
    }
}

/// The traits' offsets as samsa's consumer and producer take them.
fn offsets_of(offsets: &[(&str, u32, u64)]) -> Vec<((String, u32), OffsetAndMetadata)> {
    offsets
        .iter()
        .map(|&(t, p, o)| ((t.to_owned(), p), OffsetAndMetadata::new(o)))
        .collect()
}

impl PendingDelivery for Delivery {
    fn wait(self) -> Result<RecordMetadata> {
        Delivery::wait(self)
    }
}

/// A [`PartitionListener`] as samsa's consumer calls it back.
struct Listening(Box<dyn PartitionListener>);

impl RebalanceListener for Listening {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.0.on_revoked(partitions);
    }

    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.0.on_assigned(partitions);
    }
}

impl ConsumerClient for Consumer {
    fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        Consumer::subscribe(self, topics)
    }

    fn subscribe_with(
        &mut self,
        topics: &[&str],
        listener: Box<dyn PartitionListener>,
    ) -> Result<()> {
        Consumer::subscribe_with(self, topics, Listening(listener))
    }

    fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        Consumer::assign(self, partitions)
    }

    fn assignment(&self) -> Result<Vec<(String, u32)>> {
        Ok(Consumer::assignment(self))
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<OwnedRecord>> {
        let records = Consumer::poll(self, timeout)?;
        Ok(records.iter().map(|r| r.into_owned()).collect())
    }

    fn commit(&mut self) -> Result<()> {
        Consumer::commit(self)
    }

    fn commit_offsets(&mut self, offsets: &[(&str, u32, u64)]) -> Result<()> {
        Consumer::commit_offsets(self, &offsets_of(offsets))
    }

    fn committed(&mut self, topic: &str, partition: u32) -> Result<Option<u64>> {
        Ok(Consumer::committed(self, topic, partition)?.map(|c| c.offset))
    }

    fn seek(&mut self, topic: &str, partition: u32, to: Offset) -> Result<()> {
        Consumer::seek(self, topic, partition, to)
    }

    fn position(&mut self, topic: &str, partition: u32) -> Result<u64> {
        Consumer::position(self, topic, partition)
    }

    fn pause(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        Consumer::pause(self, partitions)
    }

    fn resume(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        Consumer::resume(self, partitions)
    }
}

impl AsyncConsumerClient for Consumer {
    fn recv(&mut self) -> impl Future<Output = Result<OwnedRecord>> + Send + '_ {
        Consumer::recv(self)
    }

    fn commit_async(&mut self) -> impl Future<Output = Result<()>> + Send + 'static {
        Consumer::commit_async(self)
    }
}

impl AdminClient for Log {
    fn create_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        Log::create_topic(self, topic, TopicConfig::default().partitions(partitions)).map(drop)
    }

    fn list_topics(&self) -> Result<Vec<String>> {
        Ok(self
            .topics()
            .into_iter()
            .filter(|t| !t.starts_with("__"))
            .collect())
    }

    fn partition_count(&self, topic: &str) -> Result<u32> {
        Ok(self.topic(topic)?.partition_count())
    }

    fn group_offsets(&self, group: &str) -> Result<Vec<(String, u32, u64)>> {
        Ok(self
            .group(group)
            .offsets()
            .into_iter()
            .map(|((t, p), o)| (t, p, o.offset))
            .collect())
    }

    fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        self.group(group).lag()
    }

    fn end_offsets(&self, topic: &str) -> Result<Vec<u64>> {
        Ok(self
            .topic(topic)?
            .partitions()
            .iter()
            .map(|p| p.high_watermark())
            .collect())
    }

    fn alter_group_offsets(&self, group: &str, offsets: &[(&str, u32, u64)]) -> Result<()> {
        self.group(group).alter_offsets(offsets)
    }
}
