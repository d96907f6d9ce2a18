//! Layer 1: the record batch format (see `docs/FORMAT.md`).
//!
//! A batch is encoded once by [`BatchBuilder`], checked once when read
//! ([`BatchView::parse`]), and iterated without copies ([`Records`]).

mod builder;
mod compressed;
mod control;
mod header;
mod read_bytes;
mod records;
mod varint;
mod view;

#[cfg(test)]
pub(crate) use builder::write_crc;
pub(crate) use builder::{retain_records, BatchBuilder, EncodedBatch, ProducerFields};
pub(crate) use compressed::{compress_in_place, decompress_into, readable};
pub(crate) use control::{AbortedTxn, ControlMarker, ControlType};
#[cfg(test)]
pub(crate) use header::ATTR_CONTROL;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use header::ATTR_NULLABLE_HEADER_VALUES;
pub(crate) use header::{BatchHeader, HeaderError, ATTR_TRANSACTIONAL, MAGIC};
pub(crate) use read_bytes::ReadBytes;
pub(crate) use records::{check_batches, give_back, read_buffer, spare_buffer, RecordsCursor};
pub use records::{Records, RecordsIter};
pub(crate) use view::{BatchError, BatchView, HeadersShown};
pub use view::{Headers, RecordRef};
