//! One client interface for samsa and for Kafka: what an application does
//! with a Kafka-style log, as traits.
//!
//! Code written against [`ProducerClient`], [`ConsumerClient`] and
//! [`AdminClient`] (in async code [`AsyncProducerClient`] and
//! [`AsyncConsumerClient`]; for exactly-once pipelines
//! [`TransactionalProducerClient`]) runs on samsa's own [`Producer`](crate::Producer),
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

/// Transactions (Kafka's transactional producer, KIP-98): what is sent
/// between [`begin_transaction`](Self::begin_transaction) and
/// [`commit_transaction`](Self::commit_transaction) becomes visible to
/// `read_committed` consumers all at once, with the consumer offsets given
/// to [`send_offsets_to_transaction`](Self::send_offsets_to_transaction)
/// (KIP-447), or, aborted, never. The producer needs a transactional id
/// ([`ProducerConfig::transactional_id`](crate::producer::ProducerConfig::transactional_id)).
///
/// One step of a consume-transform-produce loop, exactly once on samsa or
/// Kafka alike:
///
/// ```
/// use samsa_log::client::{AdminClient, ConsumerClient, TransactionalProducerClient};
/// use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
/// use samsa_log::producer::ProducerConfig;
/// use samsa_log::{Log, Record};
/// use std::time::Duration;
///
/// fn step<P: TransactionalProducerClient>(p: &P, c: &mut P::Consumer) -> samsa_log::Result<usize> {
///     let records = c.poll(Duration::from_millis(100))?;
///     p.begin_transaction()?;
///     let mut next = Vec::new();
///     for r in &records {
///         let upper = r.value.as_deref().unwrap_or_default().to_ascii_uppercase();
///         p.send("out", Record::new(&upper[..]))?;
///         next.push((r.topic.as_str(), r.partition, r.offset + 1));
///     }
///     p.send_offsets_to_transaction(&next, c)?;
///     p.commit_transaction()?;
///     Ok(records.len())
/// }
///
/// # fn main() -> samsa_log::Result<()> {
/// let log = Log::in_memory();
/// AdminClient::create_topic(&log, "in", 1)?;
/// AdminClient::create_topic(&log, "out", 1)?;
/// log.producer().send("in", Record::new("a"))?.wait()?;
/// let p = log.producer_with(ProducerConfig::default().transactional_id("upper"))?;
/// p.init_transactions()?;
/// let config = ConsumerConfig::new("upper")
///     .auto_offset_reset(AutoOffsetReset::Earliest)
///     .isolation_level(IsolationLevel::ReadCommitted);
/// let mut c = log.consumer(config)?;
/// c.subscribe(&["in"])?;
/// while step(&p, &mut c)? == 0 {}
/// assert_eq!(c.committed("in", 0)?.map(|o| o.offset), Some(1));
/// # Ok(())
/// # }
/// ```
pub trait TransactionalProducerClient: ProducerClient {
    /// The consumer whose group's offsets a transaction commits.
    type Consumer: ConsumerClient;

    /// Registers the transactional id and fences any older producer with
    /// the same id: its later sends and commits fail, and a transaction
    /// it left open is ended. Once, before the first transaction.
    fn init_transactions(&self) -> Result<()>;

    /// Starts a transaction: what is sent from now until the commit or
    /// abort is one transaction.
    fn begin_transaction(&self) -> Result<()>;

    /// Makes these offsets (the next offset to read, per topic and
    /// partition) the committed offsets of `consumer`'s group if and only
    /// if the open transaction commits. The group fences them as it
    /// fences the consumer's own commits.
    fn send_offsets_to_transaction(
        &self,
        offsets: &[(&str, u32, u64)],
        consumer: &Self::Consumer,
    ) -> Result<()>;

    /// Delivers what the transaction sent, then commits it. If a send
    /// failed, nothing is committed and the transaction must be aborted.
    fn commit_transaction(&self) -> Result<()>;

    /// Aborts the transaction: no `read_committed` consumer ever sees its
    /// records, and its offsets are not committed.
    fn abort_transaction(&self) -> Result<()>;
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

/// The async form of [`ConsumerClient`]'s reading and committing, for
/// async code: neither blocks the executor's thread.
pub trait AsyncConsumerClient: ConsumerClient {
    /// The next record of the assigned partitions, once there is one. The
    /// position moves past it when the future resolves; dropped before,
    /// it consumed nothing (it may be dropped in a `select!`). Rebalance
    /// callbacks run inside it, as inside [`ConsumerClient::poll`].
    fn recv(&mut self) -> impl Future<Output = Result<OwnedRecord>> + Send + '_;

    /// Commits the position of every assigned partition, as taken when
    /// called (Kafka's `commitAsync`): commits are made in the order of
    /// the calls, whether or not their futures are awaited; awaiting one
    /// tells its outcome.
    fn commit_async(&mut self) -> impl Future<Output = Result<()>> + Send + 'static;
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
