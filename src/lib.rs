//! # samsa (`samsa_log`)
//!
//! An embeddable, in-process, Kafka-style log: durable topics of
//! partitioned, segmented logs with offsets, producers, consumers and
//! consumer groups, on local disk or in memory. No networking: a library.
//! The package is `samsa-log` (`samsa` on crates.io is a Kafka client).
//!
//! ```
//! use samsa_log::{AutoOffsetReset, ConsumerConfig, Log, Record, TopicConfig};
//! use std::time::Duration;
//!
//! # fn main() -> samsa_log::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let log = Log::open(dir.path())?; // or Log::in_memory() in tests
//! log.create_topic("orders", TopicConfig::default().partitions(4))?;
//!
//! let producer = log.producer();
//! let md = producer.send("orders", Record::new(b"book").key(b"alice"))?.wait()?;
//!
//! let mut consumer = log.consumer(ConsumerConfig::new("billing").auto_offset_reset(AutoOffsetReset::Earliest))?;
//! consumer.subscribe(&["orders"])?;
//! let records = consumer.poll(Duration::from_secs(1))?;
//! assert_eq!(records.iter().next().map(|r| r.offset()), Some(md.offset));
//! consumer.commit()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Types
//!
//! - [`Log`]: a directory of topics, one owner at a time;
//!   [`Log::in_memory`] is the same without files, a fake broker for tests.
//!   [`Topic`] and [`TopicConfig`]: named sets of partitions.
//! - [`Producer`] and [`ProducerConfig`]: batching, [`Acks`], idempotence;
//!   [`Delivery::wait`] gives a [`RecordMetadata`].
//! - [`Consumer`] and [`ConsumerConfig`]: `assign` or `subscribe` to a
//!   group, `poll`, `seek`, `commit`; [`RebalanceListener`] callbacks;
//!   [`Assignor`]s ([`RangeAssignor`], [`RoundRobinAssignor`],
//!   [`CooperativeStickyAssignor`]); [`ConsumerGroup`] from [`Log::group`]
//!   to describe a group, see its lag and reset or delete its offsets.
//! - [`Partition`]: one log. [`Partition::append`] a slice of [`Record`]s,
//!   [`Partition::read`] [`Records`] from an offset,
//!   [`Partition::offset_for_timestamp`], [`Partition::flush`],
//!   [`Partition::close`]. [`Partition::in_memory`] behaves the same
//!   without files.
//! - [`Segment`], from [`Partition::segments`]: a read-only handle on one
//!   segment (offsets, size, timestamps, files) that reads its records,
//!   looks offsets and timestamps up, [`Segment::verify`]s itself into a
//!   [`SegmentReport`] and [`Segment::copy_to`]s its log for archiving.
//! - [`PartitionConfig`] and [`SyncPolicy`]: segment size and age, index
//!   spacing, record size limit, and when appends are synced.
//! - [`Partitioner`]: which partition a record goes to. [`DefaultPartitioner`]
//!   hashes keys with [`murmur2`] exactly as Kafka does
//!   ([`kafka_partition_for_key`]); [`RoundRobinPartitioner`],
//!   [`RandomPartitioner`], or any closure.
//! - [`Error`]: every failure, as variants to match on.
//!
//! The byte layout of every file is in `docs/FORMAT.md`; the guarantees
//! (ordering, durability, prefix recovery, integrity) in the README.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(rust_2018_idioms)]

mod assignor;
mod batch;
mod cleaner;
mod clock;
mod consumer;
mod error;
mod group;
mod id;
mod identity;
mod index;
mod log;
mod partition;
mod partitioner;
mod producer;
mod properties;
mod record;
mod registry;
mod segment;
mod settings;
mod show;
mod storage;
#[cfg(feature = "test-util")]
pub mod test_util;
#[cfg(not(feature = "test-util"))]
mod test_util;
mod topic;

/// Entry points for fuzzing the decoders (`fuzz/`); not an API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use assignor::{
    Assignor, CooperativeStickyAssignor, GroupMember, RangeAssignor, RoundRobinAssignor,
};
pub use batch::{Headers, Iter, RecordRef, Records};
pub use clock::{Clock, ManualClock, SystemClock};
pub use consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, ConsumerRecords,
    ConsumerRecordsIter, Offset, RebalanceListener,
};
pub use error::{Error, Result};
pub use group::{GroupDescription, GroupState, MemberDescription, OffsetAndMetadata};
pub use log::{
    ConsumerGroup, Log, LogBuilder, LogHealth, MaintenanceReport, OffsetChange, OffsetReset,
    PartitionLag, UnhealthyPartition, CLOSE_THREADS, DEFAULT_MAINTENANCE_INTERVAL,
};
pub use partition::{
    AppendInfo, Compacted, CompactionOptions, Deleted, Partition, PartitionConfig, PartitionHealth,
    SyncPolicy, TimestampType, DEFAULT_MAX_OPEN_FILES,
};
pub use partitioner::{
    kafka_partition_for_key, murmur2, DefaultPartitioner, Partitioner, RandomPartitioner,
    RoundRobinPartitioner,
};
pub use producer::{Acks, Delivery, Producer, ProducerConfig, RecordMetadata};
pub use record::{Header, OwnedRecord, Record, RecordBytes};
pub use segment::{
    BadBatch, BatchLocation, IndexMismatch, Segment, SegmentFiles, SegmentIndex, SegmentReport,
    TimestampOffset,
};
pub use topic::{CleanupPolicy, ParseTopicIdError, Topic, TopicConfig, TopicId};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
