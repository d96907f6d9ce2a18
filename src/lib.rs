//! # samsa (`samsa_log`)
//!
//! An embeddable, in-process, Kafka-style log: durable topics of
//! partitioned, segmented logs with offsets, producers, consumers and
//! consumer groups, on local disk or in memory. No networking: a library.
//! The package is `samsa-log` (`samsa` on crates.io is a Kafka client).
//!
//! ```
//! use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
//! use samsa_log::topic::TopicConfig;
//! use samsa_log::{Log, Record};
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
//! ## Entry types, at the root
//!
//! - [`Log`]: a directory of topics, one owner at a time;
//!   [`Log::in_memory`] is the same without files, a fake broker for tests.
//! - [`Topic`]: a named set of partitions, from [`Log::create_topic`] or
//!   [`Log::topic`].
//! - [`Partition`]: one partition log: [`Partition::append`] a slice of
//!   [`Record`]s, [`Partition::read`] from an offset, look offsets up by
//!   time. [`Partition::open`] and [`Partition::in_memory`] give one on its
//!   own, outside a log.
//! - [`Segment`], from [`Partition::segments`]: a read-only handle on one
//!   segment that reads its records, looks offsets and timestamps up,
//!   verifies itself and copies its log out for archiving.
//! - [`Producer`] and [`Consumer`], from [`Log::producer`] and
//!   [`Log::consumer`]; [`ConsumerGroup`], from [`Log::group`], to
//!   describe a group, see its lag, reset or delete its offsets.
//! - [`Record`]: what a producer sends. [`Error`]: every failure, as
//!   variants to match on.
//!
//! ## Everything else, by concern
//!
//! - [`log`][]: [`LogBuilder`](log::LogBuilder) (sync policy, clock,
//!   maintenance, descriptor budget), health and maintenance reports.
//! - [`topic`][]: [`TopicConfig`](topic::TopicConfig) (Kafka's topic
//!   settings), topic ids, cleanup policies.
//! - [`partition`][]: [`PartitionConfig`](partition::PartitionConfig),
//!   [`SyncPolicy`](partition::SyncPolicy), what appends, retention and
//!   compaction report.
//! - [`segment`][]: what a [`Segment`] reports about itself.
//! - [`record`][]: records as written ([`Header`](record::Header)) and as
//!   read ([`RecordRef`](record::RecordRef), [`Records`](record::Records),
//!   [`OwnedRecord`](record::OwnedRecord)).
//! - [`producer`][]: [`ProducerConfig`](producer::ProducerConfig),
//!   [`Acks`](producer::Acks), deliveries, and the partitioners
//!   ([`DefaultPartitioner`](producer::DefaultPartitioner) hashes keys with
//!   murmur2 exactly as Kafka does).
//! - [`consumer`][]: [`ConsumerConfig`](consumer::ConsumerConfig), polled
//!   records, [`Offset`](consumer::Offset)s to seek to, rebalance
//!   callbacks.
//! - [`group`][]: group descriptions, committed offsets, lag, and the
//!   assignors ([`RangeAssignor`](group::RangeAssignor),
//!   [`RoundRobinAssignor`](group::RoundRobinAssignor),
//!   [`CooperativeStickyAssignor`](group::CooperativeStickyAssignor)).
//! - [`clock`][]: the time source; [`ManualClock`](clock::ManualClock)
//!   drives timestamps, retention and group timers in tests.
//! - `test_util` (feature `test-util`): fault injection for test suites.
//!
//! The byte layout of every file is in `docs/FORMAT.md`; the guarantees
//! (ordering, durability, prefix recovery, integrity) in the README; the
//! map from Kafka's names to these in `docs/KAFKA.md`.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(rust_2018_idioms)]

mod assignor;
mod batch;
mod cleaner;
pub mod client;
pub mod clock;
pub(crate) mod compression;
pub mod consumer;
mod error;
pub mod group;
mod id;
mod identity;
mod index;
pub mod log;
mod meter;
mod observe;
mod offset;
pub mod partition;
mod partitioner;
pub mod producer;
mod properties;
pub mod read_only;
pub mod record;
mod registry;
pub mod segment;
mod settings;
mod show;
mod storage;
#[cfg(test)]
mod test_support;
#[cfg(feature = "test-util")]
pub mod test_util;
#[cfg(not(feature = "test-util"))]
mod test_util;
pub mod topic;
mod txn;

/// Entry points for fuzzing the decoders (`fuzz/`); not an API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use consumer::Consumer;
pub use error::{Error, Result};
pub use group::ConsumerGroup;
pub use log::Log;
pub use partition::Partition;
pub use producer::Producer;
pub use record::Record;
pub use segment::Segment;
pub use topic::Topic;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
