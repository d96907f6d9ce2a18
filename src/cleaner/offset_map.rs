//! The offset map of a compaction pass: each key's latest offset, within a
//! memory budget.
//!
//! Kafka's `SkimpyOffsetMap` keeps only a hash of each key, so two keys
//! whose hashes collide share an entry and the older one's latest value
//! can be cleaned away. This map stores whole keys: a collision costs a
//! comparison, never a record. The price is memory that depends on key
//! sizes, hence a budget in bytes rather than in entries, and passes: when
//! the map is full, the pass cleans with what it has and the next pass
//! starts where this one stopped (as Kafka's cleaner does).

use super::source::SegmentSource;
use crate::batch::AbortedTxn;
use crate::batch::BatchView;
use crate::error::Result;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Bytes an entry is counted for beyond its key's bytes: the table slot
/// (a boxed slice's 16 bytes and an 8-byte offset, plus a control byte,
/// at most 7/8 full) is about 28 bytes, and the key's own allocation rounds
/// up and carries the allocator's bookkeeping, about 16 more. An estimate:
/// the table also doubles as it grows, so for a moment it may hold up to
/// twice its slots; the budget bounds the order of the memory, not the byte.
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 48;

/// Key bytes -> the latest offset seen for the key, covering every keyed
/// record in `[start_offset, end_offset)`.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    entries: HashMap<Box<[u8]>, u64>,
    used_bytes: usize,
    budget_bytes: usize,
    /// Where the map began (shown in `Debug`, checked in tests).
    #[cfg_attr(not(test), expect(dead_code, reason = "read by Debug and the tests"))]
    start_offset: u64,
    end_offset: u64,
}

/// Why [`OffsetMap::add_segment`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    /// Every keyed record of the segment at or after the map's end is in
    /// the map: go on with the next segment.
    Segment,
    /// A key did not fit: the map is complete below its `end_offset`, and
    /// the next pass starts there.
    Full,
}

impl OffsetMap {
    /// An empty map of at most about `budget_bytes` whose pass starts at
    /// `start_offset` (where the previous pass ended: the first dirty
    /// offset).
    pub fn new(budget_bytes: usize, start_offset: u64) -> Self {
        OffsetMap {
            entries: HashMap::new(),
            used_bytes: 0,
            budget_bytes,
            start_offset,
            end_offset: start_offset,
        }
    }

    /// Records `offset` as `key`'s latest. `false`, and nothing changed, if
    /// a new key would take the map past its budget. A key already present
    /// always fits (its entry is updated in place), and so does the first
    /// key of an empty map, so that every pass makes progress whatever the
    /// budget.
    pub fn insert(&mut self, key: &[u8], offset: u64) -> bool {
        if let Some(latest) = self.entries.get_mut(key) {
            *latest = (*latest).max(offset);
            return true;
        }
        let cost = key.len() + ENTRY_OVERHEAD_BYTES;
        if !self.entries.is_empty() && self.used_bytes + cost > self.budget_bytes {
            return false;
        }
        self.entries.insert(key.into(), offset);
        self.used_bytes += cost;
        true
    }

    /// The latest offset of `key`, if the map holds it.
    pub fn get(&self, key: &[u8]) -> Option<u64> {
        self.entries.get(key).copied()
    }

    /// Number of keys.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes counted against the budget.
    #[cfg(test)]
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// The first offset the map covers.
    #[cfg(test)]
    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    /// The offset after the last one the map covers: every keyed record
    /// in `[start_offset, end_offset)` was inserted.
    pub fn end_offset(&self) -> u64 {
        self.end_offset
    }

    /// Inserts the keyed records of `source` at or after
    /// [`Self::end_offset`], in offset order, moving the end past each,
    /// until a key does not fit. Segments must come in offset order; those
    /// wholly below the end are read and skipped. Keyless records need no
    /// entry (they are always kept), and tombstones take one like any
    /// record: they too supersede older values.
    pub fn add_segment(
        &mut self,
        source: &SegmentSource<'_>,
        aborted: &[AbortedTxn],
    ) -> Result<Filled> {
        let mut filled = Filled::Segment;
        source.for_each_batch(&mut |batch, _, _| {
            let Some(view) = BatchView::trusted(batch) else {
                return Ok(ControlFlow::Continue(()));
            };
            if view.header.last_offset() < self.end_offset {
                return Ok(ControlFlow::Continue(()));
            }
            if view.header.is_control() || aborted.iter().any(|a| a.covers(&view.header)) {
                // A marker's key is no record key, and an aborted record
                // never was: they supersede nothing.
                self.end_offset = self.end_offset.max(view.header.next_offset());
                return Ok(ControlFlow::Continue(()));
            }
            for r in view.records() {
                if r.offset() < self.end_offset {
                    continue;
                }
                if let Some(key) = r.key() {
                    if !self.insert(key, r.offset()) {
                        filled = Filled::Full;
                        return Ok(ControlFlow::Break(()));
                    }
                }
                self.end_offset = r.offset() + 1;
            }
            // Offsets the batch spans after its last kept record (a gap
            // left by an earlier clean) hold no record: covered too.
            self.end_offset = self.end_offset.max(view.header.next_offset());
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::record::Record;
    use crate::storage::{MemStorage, Storage, StorageFile};
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn keeps_the_latest_offset_and_full_keys() {
        let mut m = OffsetMap::new(1 << 20, 0);
        assert!(m.insert(b"a", 3));
        assert!(m.insert(b"a", 9));
        assert!(m.insert(b"a", 5), "an older offset changes nothing");
        assert_eq!(m.get(b"a"), Some(9));
        // Keys that differ only in bytes a hash would fold are distinct.
        assert!(m.insert(b"a\0", 1));
        assert_eq!(
            (m.get(b"a"), m.get(b"a\0"), m.get(b"b")),
            (Some(9), Some(1), None)
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m.used_bytes(), 1 + 2 + 2 * ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn the_budget_refuses_new_keys_only() {
        let mut m = OffsetMap::new(2 * (ENTRY_OVERHEAD_BYTES + 3), 0);
        assert!(m.insert(b"one", 0));
        assert!(m.insert(b"two", 1));
        assert!(!m.insert(b"six", 2));
        assert_eq!(m.get(b"six"), None);
        assert!(m.insert(b"one", 7), "an existing key is updated in place");
        assert_eq!(m.used_bytes(), 2 * (ENTRY_OVERHEAD_BYTES + 3));
        // An empty map takes one key whatever its budget: passes progress.
        let mut tiny = OffsetMap::new(0, 0);
        assert!(tiny.insert(b"k", 0));
        assert!(!tiny.insert(b"l", 1));
    }

    /// A segment log of batches of `(key, offset)` records (`None`: keyless).
    fn segment(batches: &[&[(Option<&str>, u64)]]) -> (Arc<dyn StorageFile>, u64) {
        let s = MemStorage::default();
        s.create_dir_all(Path::new("/m")).unwrap();
        let f = s.open(Path::new("/m/0.log"), true).unwrap();
        let mut pos = 0;
        for records in batches {
            let base = records[0].1;
            let mut b = BatchBuilder::new(1 << 20, 0);
            for (k, _) in *records {
                let mut r = Record::new(b"v");
                r.key = k.map(|k| k.as_bytes().into());
                b.push(&r, 1).unwrap();
            }
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(base);
            f.write_all_at(&bytes, pos).unwrap();
            pos += bytes.len() as u64;
        }
        (f, pos)
    }

    #[test]
    fn a_full_map_reports_where_it_is_complete_and_the_next_pass_goes_on() {
        let (f, len) = segment(&[
            &[(Some("a"), 0), (None, 1), (Some("b"), 2)],
            &[(Some("a"), 3), (Some("c"), 4), (None, 5)],
        ]);
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 0,
            len,
        };
        let mut m = OffsetMap::new(2 * (ENTRY_OVERHEAD_BYTES + 1), 0);
        assert_eq!(m.add_segment(&src, &[]).unwrap(), Filled::Full);
        assert_eq!(m.end_offset(), 4, "complete below c's offset");
        assert_eq!(
            (m.get(b"a"), m.get(b"b"), m.get(b"c")),
            (Some(3), Some(2), None)
        );

        let mut next = OffsetMap::new(2 * (ENTRY_OVERHEAD_BYTES + 1), m.end_offset());
        assert_eq!(next.add_segment(&src, &[]).unwrap(), Filled::Segment);
        assert_eq!((next.start_offset(), next.end_offset()), (4, 6));
        assert_eq!((next.get(b"a"), next.get(b"c")), (None, Some(4)));
    }

    #[test]
    fn a_gap_at_a_batch_end_is_covered() {
        // A batch of offsets 10..=12 whose last record a clean removed.
        let (f, len) = segment(&[&[(Some("a"), 10), (Some("b"), 11), (Some("c"), 12)]]);
        let mut batch = vec![0u8; len as usize];
        f.read_exact_at(&mut batch, 0).unwrap();
        let mut cleaned = Vec::new();
        crate::batch::retain_records(&batch, |r| r.key() != Some(b"c"), &mut cleaned).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(&cleaned, 0).unwrap();
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 10,
            len: cleaned.len() as u64,
        };
        let mut m = OffsetMap::new(1 << 10, 10);
        assert_eq!(m.add_segment(&src, &[]).unwrap(), Filled::Segment);
        assert_eq!(m.end_offset(), 13);
    }
}
