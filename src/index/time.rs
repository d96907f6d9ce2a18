//! The time index: timestamp -> relative offset, 12 bytes an entry.
//!
//! An entry `(t, o)` says: `t` is the largest timestamp among records up to
//! relative offset `o`, and every batch before the one holding `o` has only
//! smaller timestamps. Entries are added when the maximum grows.

use super::{entry_at, entry_count, floor, Entry};
use byteorder::{ByteOrder, LittleEndian as LE};

/// Entry: the largest timestamp so far, and the relative offset of the
/// last record of the batch that first reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;

    fn encode_into(&self, buf: &mut [u8]) {
        LE::write_i64(&mut buf[0..8], self.timestamp);
        LE::write_u32(&mut buf[8..12], self.relative_offset);
    }

    fn decode_from(buf: &[u8]) -> Self {
        TimeEntry {
            timestamp: LE::read_i64(&buf[0..8]),
            relative_offset: LE::read_u32(&buf[8..12]),
        }
    }
}

/// Lookups and checks over time index bytes.
pub(crate) struct TimeIndex;

impl TimeIndex {
    /// Relative offset to start a search for the first record with a
    /// timestamp `>= target`: every batch before the one holding it has
    /// smaller timestamps. `None`: start at the segment's beginning.
    pub fn lookup(buf: &[u8], target: i64) -> Option<u32> {
        floor::<TimeEntry, _>(buf, target, |e| e.timestamp).map(|e| e.relative_offset)
    }

    /// The last entry, which after sealing holds the segment's largest
    /// timestamp.
    pub fn last(buf: &[u8]) -> Option<TimeEntry> {
        entry_count::<TimeEntry>(buf)
            .checked_sub(1)
            .map(|i| entry_at(buf, i))
    }

    /// Whether `buf` is plausible for a segment with relative offsets below
    /// `offset_limit`: whole entries, timestamps and offsets increasing.
    pub fn is_sane(buf: &[u8], offset_limit: u64) -> bool {
        if !buf.len().is_multiple_of(TimeEntry::SIZE) {
            return false;
        }
        let mut prev: Option<TimeEntry> = None;
        for i in 0..entry_count::<TimeEntry>(buf) {
            let e: TimeEntry = entry_at(buf, i);
            if u64::from(e.relative_offset) >= offset_limit {
                return false;
            }
            if let Some(p) = prev {
                if e.timestamp <= p.timestamp || e.relative_offset < p.relative_offset {
                    return false;
                }
            }
            prev = Some(e);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexBytes;

    fn index(entries: &[(i64, u32)]) -> Vec<u8> {
        let mut b = IndexBytes::default();
        for &(t, o) in entries {
            b.push(TimeEntry {
                timestamp: t,
                relative_offset: o,
            });
        }
        b.to_vec()
    }

    #[test]
    fn lookup_finds_the_last_entry_at_or_below_the_target() {
        let b = index(&[(100, 0), (200, 9), (300, 20)]);
        assert_eq!(TimeIndex::lookup(&b, 50), None);
        assert_eq!(TimeIndex::lookup(&b, 100), Some(0));
        assert_eq!(TimeIndex::lookup(&b, 250), Some(9));
        assert_eq!(TimeIndex::lookup(&b, 1000), Some(20));
        assert_eq!(TimeIndex::last(&b).unwrap().timestamp, 300);
        assert_eq!(TimeIndex::last(&[]), None);
    }

    #[test]
    fn sanity_rejects_falling_timestamps() {
        assert!(TimeIndex::is_sane(&index(&[(1, 0), (2, 0)]), 1));
        assert!(!TimeIndex::is_sane(&index(&[(2, 0), (1, 3)]), 5));
        assert!(!TimeIndex::is_sane(&index(&[(2, 9)]), 5));
        assert!(!TimeIndex::is_sane(&[1; 13], 5));
    }
}
