//! Log compaction's building blocks: what a compaction pass over a
//! partition's sealed segments uses, without the pass itself.
//!
//! A pass, as in Kafka's `LogCleaner`, fills an [`OffsetMap`] (each key's
//! latest offset) from the dirty segments, starting where the last pass
//! ended, until the map is full or the sealed segments end; then cleans
//! every sealed segment from the log start to the map's end, oldest first,
//! with [`clean_segment`]: each batch rebuilt from the records the map does
//! not supersede (`batch::retain_records`), offsets and timestamps kept,
//! written with its indexes to new files for the partition to swap in by
//! rename. A map too small for every key makes several passes.
//!
//! Reading is [`SegmentSource`]: every batch is checked before a record of
//! it is used, so damage is reported, never copied into a cleaned file.

mod clean;
mod offset_map;
mod source;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use clean::CleanStats;
pub(crate) use clean::{clean_segment, CleanConfig, CleanedPaths, PassTransactions};
#[cfg(test)]
pub(crate) use offset_map::ENTRY_OVERHEAD_BYTES;
pub(crate) use offset_map::{Filled, OffsetMap};
pub(crate) use source::SegmentSource;
