//! # samsa
//!
//! An embeddable, in-process, Kafka-style log: an append-only, segmented
//! log of records with offsets, time and offset indexes, sync policies and
//! crash recovery, on local disk or in memory. No networking: a library.
//!
//! ```
//! use samsa::{Partition, PartitionConfig, Record};
//!
//! # fn main() -> samsa::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let log = Partition::open(dir.path(), PartitionConfig::default())?;
//! log.append(&[Record::new(b"first").key(b"a"), Record::new(b"second")])?;
//! for record in &log.read(0, 1 << 20)? {
//!     println!("{} {:?}", record.offset(), record.value());
//! }
//! log.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Types
//!
//! - [`Partition`]: one log. [`Partition::append`] a slice of [`Record`]s,
//!   [`Partition::read`] [`Records`] from an offset,
//!   [`Partition::offset_for_timestamp`], [`Partition::flush`],
//!   [`Partition::close`]. [`Partition::in_memory`] behaves the same
//!   without files.
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
mod clock;
mod consumer;
mod error;
mod group;
mod index;
mod log;
mod partition;
mod partitioner;
mod producer;
mod record;
mod segment;
mod storage;
mod topic;

pub use assignor::{
    Assignor, CooperativeStickyAssignor, GroupMember, RangeAssignor, RoundRobinAssignor,
};
pub use batch::{Headers, Iter, RecordRef, Records};
pub use consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, ConsumerRecords,
    ConsumerRecordsIter, Offset, RebalanceListener,
};
pub use error::{Error, Result};
pub use group::{
    GroupDescription, MemberDescription, OffsetAndMetadata, OffsetReset, PartitionLag,
};
pub use log::{Log, LogBuilder};
pub use partition::{
    AppendInfo, Partition, PartitionConfig, SegmentInfo, SyncPolicy, TimestampOffset, TimestampType,
};
pub use partitioner::{
    kafka_partition_for_key, murmur2, DefaultPartitioner, Partitioner, RandomPartitioner,
    RoundRobinPartitioner,
};
pub use producer::{Acks, Delivery, Producer, ProducerConfig, RecordMetadata};
pub use record::{Header, Record};
pub use topic::{CleanupPolicy, Topic, TopicConfig};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
