//! One client interface for samsa and for Kafka: what an application does
//! with a Kafka-style log, as traits.
//!
//! Code written against [`ProducerClient`] (or, in async code,
//! [`AsyncProducerClient`]), [`ConsumerClient`] and [`AdminClient`] runs on samsa's own [`Producer`](crate::Producer),
//! [`Consumer`](crate::Consumer) and [`Log`](crate::Log), which implement
//! them, and on a Kafka cluster through the `samsa-kafka` crate (rdkafka),
//! which implements them too: an application moves from one to the other
//! by changing the constructor. The traits are narrow on purpose: only
//! what both can honour with the same meaning (`docs/KAFKA.md`, "Moving to
//! Kafka", lists what differs).
//!
//! samsa's types keep their own, richer methods; the traits cost nothing
//! to code that does not use them. Through the traits, records are handed
//! out owned ([`OwnedRecord`]), as a network client has them.
//!
//! ```
//! use samsa_log::client::{AdminClient, ConsumerClient, ProducerClient, PendingDelivery};
//! use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
//! use samsa_log::{Log, Record};
//! use std::time::Duration;
//!
//! /// Written once, for samsa or Kafka alike.
//! fn copy_one(
//!     producer: &impl ProducerClient,
//!     consumer: &mut impl ConsumerClient,
//! ) -> samsa_log::Result<Option<Vec<u8>>> {
//!     producer.send("orders", Record::new("o-1").key("k"))?.wait()?;
//!     consumer.subscribe(&["orders"])?;
//!     for _ in 0..10 {
//!         if let Some(r) = consumer.poll(Duration::from_millis(100))?.into_iter().next() {
//!             consumer.commit()?;
//!             return Ok(r.value);
//!         }
//!     }
//!     Ok(None)
//! }
//!
//! # fn main() -> samsa_log::Result<()> {
//! let log = Log::in_memory();
//! AdminClient::create_topic(&log, "orders", 1)?;
//! let producer = log.producer();
//! let config = ConsumerConfig::new("billing").auto_offset_reset(AutoOffsetReset::Earliest);
//! let mut consumer = log.consumer(config)?;
//! assert_eq!(copy_one(&producer, &mut consumer)?, Some(b"o-1".to_vec()));
//! # Ok(())
//! # }
//! ```

mod samsa;

use crate::error::Result;
use crate::group::PartitionLag;
use crate::offset::Offset;
use crate::producer::RecordMetadata;
use crate::record::{OwnedRecord, Record};
use std::future::Future;
use std::time::Duration;

/// Producing: Kafka's `Producer` (`send`, `flush`).
pub trait ProducerClient {
    /// What [`Self::send`] returns: the record's delivery, to be waited
    /// for or dropped.
    type Delivery: PendingDelivery;

    /// Sends `record` to `topic`: its key, value, headers, timestamp and
    /// partition (if set; else the partitioner's choice by key) as set on
    /// it. Returns once the record is accepted for sending, not delivered.
    fn send(&self, topic: &str, record: Record<'_>) -> Result<Self::Delivery>;

    /// Returns once every record sent before the call is delivered or
    /// failed.
    fn flush(&self) -> Result<()>;
}

/// The async form of [`ProducerClient`], for async code: no call blocks
/// the executor's thread (waiting for room in a full buffer included).
pub trait AsyncProducerClient {
    /// Sends `record` to `topic` (as [`ProducerClient::send`]) and resolves
    /// once it is delivered: where it landed, or why it did not (Kafka's
    /// `send(record).get()` without the blocking).
    fn deliver<'a>(
        &'a self,
        topic: &'a str,
        record: Record<'a>,
    ) -> impl Future<Output = Result<RecordMetadata>> + Send + 'a;

    /// Resolves once every record sent before the call is delivered or
    /// failed.
    fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + '_;
}

/// A sent record's delivery (Kafka's `Future<RecordMetadata>`).
pub trait PendingDelivery {
    /// Waits for the delivery: where the record landed, or why it did not.
    fn wait(self) -> Result<RecordMetadata>;
}

/// What a consumer is told when its partitions change (Kafka's
/// `ConsumerRebalanceListener`, without the consumer: what both samsa and
/// a network client can call back with).
pub trait PartitionListener: Send {
    /// These partitions are now this member's.
    fn on_assigned(&mut self, partitions: &[(String, u32)]) {
        let _ = partitions;
    }

    /// These partitions are about to go to other members, or were lost.
    fn on_revoked(&mut self, partitions: &[(String, u32)]) {
        let _ = partitions;
    }
}

/// Consuming: Kafka's `Consumer`, with the consumer's group, position and
/// commits.
pub trait ConsumerClient {
    /// Joins the consumer's group for `topics` (partitions are assigned at
    /// the next polls).
    fn subscribe(&mut self, topics: &[&str]) -> Result<()>;

    /// [`Self::subscribe`], calling `listener` from inside `poll` as this
    /// member's partitions change.
    fn subscribe_with(
        &mut self,
        topics: &[&str],
        listener: Box<dyn PartitionListener>,
    ) -> Result<()>;

    /// Takes these partitions by hand, outside any group rebalance.
    fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()>;

    /// The partitions this consumer reads now.
    fn assignment(&self) -> Result<Vec<(String, u32)>>;

    /// Records from the assigned partitions, waiting up to `timeout` for
    /// the first; empty if none came.
    fn poll(&mut self, timeout: Duration) -> Result<Vec<OwnedRecord>>;

    /// Commits the position of every assigned partition (the offset after
    /// the last record polled), waiting for the commit.
    fn commit(&mut self) -> Result<()>;

    /// Commits these offsets (the next offset to read, as in Kafka),
    /// waiting for the commit.
    fn commit_offsets(&mut self, offsets: &[(&str, u32, u64)]) -> Result<()>;

    /// The group's committed offset of a partition, if any.
    fn committed(&mut self, topic: &str, partition: u32) -> Result<Option<u64>>;

    /// Moves the position of an assigned partition.
    fn seek(&mut self, topic: &str, partition: u32, to: Offset) -> Result<()>;

    /// The offset of the next record [`Self::poll`] returns from a
    /// partition.
    fn position(&mut self, topic: &str, partition: u32) -> Result<u64>;

    /// Stops returning records of these partitions until resumed.
    fn pause(&mut self, partitions: &[(&str, u32)]) -> Result<()>;

    /// Returns records of these partitions again.
    fn resume(&mut self, partitions: &[(&str, u32)]) -> Result<()>;
}

/// A little administration: Kafka's `Admin` for topics and group offsets.
pub trait AdminClient {
    /// Creates `topic` with `partitions` partitions and otherwise the
    /// defaults.
    fn create_topic(&self, topic: &str, partitions: u32) -> Result<()>;

    /// The topics applications use, sorted (internal ones, named
    /// `__...`, left out).
    fn list_topics(&self) -> Result<Vec<String>>;

    /// How many partitions `topic` has.
    fn partition_count(&self, topic: &str) -> Result<u32>;

    /// The committed offsets of `group`, by topic and partition.
    fn group_offsets(&self, group: &str) -> Result<Vec<(String, u32, u64)>>;

    /// The lag of `group` on every partition it committed an offset of.
    fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>>;

    /// Each partition's end (its high watermark: the offset the next
    /// record appended gets), in partition order.
    fn end_offsets(&self, topic: &str) -> Result<Vec<u64>>;

    /// Sets `group`'s committed offsets of these partitions (Kafka's
    /// `alterConsumerGroupOffsets`); the group must have no active member.
    fn alter_group_offsets(&self, group: &str, offsets: &[(&str, u32, u64)]) -> Result<()>;
}
