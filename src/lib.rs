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
//! - [`Error`]: every failure, as variants to match on.
//!
//! The byte layout of every file is in `docs/FORMAT.md`; the guarantees
//! (ordering, durability, prefix recovery, integrity) in the README.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(rust_2018_idioms)]

mod batch;
mod clock;
mod error;
mod index;
mod partition;
mod record;
mod segment;
mod storage;

pub use batch::{Headers, Iter, RecordRef, Records};
pub use error::{Error, Result};
pub use partition::{
    AppendInfo, Partition, PartitionConfig, SegmentInfo, SyncPolicy, TimestampOffset, TimestampType,
};
pub use record::{Header, Record};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
