//! The offset index: relative offset -> file position, 8 bytes an entry.

use super::{entry_at, entry_count, floor, Entry};
use byteorder::{ByteOrder, LittleEndian as LE};

/// Entry: the batch holding `relative_offset` starts at `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;

    fn encode_into(&self, buf: &mut [u8]) {
        LE::write_u32(&mut buf[0..4], self.relative_offset);
        LE::write_u32(&mut buf[4..8], self.position);
    }

    fn decode_from(buf: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: LE::read_u32(&buf[0..4]),
            position: LE::read_u32(&buf[4..8]),
        }
    }
}

/// Lookups and checks over offset index bytes.
pub(crate) struct OffsetIndex;

impl OffsetIndex {
    /// Where to start scanning for `relative_offset`: the last entry at or
    /// below it; `None` means the segment's start.
    pub fn lookup(buf: &[u8], relative_offset: u32) -> Option<OffsetEntry> {
        floor::<OffsetEntry, _>(buf, relative_offset, |e| e.relative_offset)
    }

    /// The last indexed batch position at or below `position`: a batch
    /// boundary to end a read at.
    pub fn boundary_at_or_below(buf: &[u8], position: u64) -> Option<u64> {
        let target = u32::try_from(position).unwrap_or(u32::MAX);
        floor::<OffsetEntry, _>(buf, target, |e| e.position).map(|e| u64::from(e.position))
    }

    /// Whether `buf` is a plausible index of a segment with `log_len` bytes
    /// and relative offsets below `offset_limit`: whole entries, offsets and
    /// positions strictly increasing, positions inside the log.
    pub fn is_sane(buf: &[u8], log_len: u64, offset_limit: u64) -> bool {
        if !buf.len().is_multiple_of(OffsetEntry::SIZE) {
            return false;
        }
        let mut prev: Option<OffsetEntry> = None;
        for i in 0..entry_count::<OffsetEntry>(buf) {
            let e: OffsetEntry = entry_at(buf, i);
            if u64::from(e.position) >= log_len.max(1)
                || u64::from(e.relative_offset) >= offset_limit
            {
                return false;
            }
            if let Some(p) = prev {
                if e.relative_offset <= p.relative_offset || e.position <= p.position {
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

    fn index(entries: &[(u32, u32)]) -> Vec<u8> {
        let mut b = IndexBytes::default();
        for &(r, p) in entries {
            b.push(OffsetEntry {
                relative_offset: r,
                position: p,
            });
        }
        b.to_vec()
    }

    #[test]
    fn lookup_on_empty_index_starts_at_zero() {
        assert_eq!(OffsetIndex::lookup(&[], 77), None);
    }

    #[test]
    fn boundary_is_the_last_position_not_above() {
        let b = index(&[(0, 0), (5, 40), (9, 90)]);
        assert_eq!(OffsetIndex::boundary_at_or_below(&b, 39), Some(0));
        assert_eq!(OffsetIndex::boundary_at_or_below(&b, 40), Some(40));
        assert_eq!(OffsetIndex::boundary_at_or_below(&b, 1 << 40), Some(90));
        assert_eq!(OffsetIndex::boundary_at_or_below(&[], 5), None);
    }

    #[test]
    fn sanity_rejects_disorder_and_entries_past_the_end() {
        assert!(OffsetIndex::is_sane(&index(&[(0, 0), (5, 40)]), 100, 10));
        assert!(!OffsetIndex::is_sane(&index(&[(5, 40), (4, 50)]), 100, 10));
        assert!(!OffsetIndex::is_sane(&index(&[(0, 0), (5, 0)]), 100, 10));
        assert!(!OffsetIndex::is_sane(&index(&[(0, 100)]), 100, 10));
        assert!(!OffsetIndex::is_sane(&index(&[(10, 0)]), 100, 10));
        assert!(!OffsetIndex::is_sane(&[0, 0, 0], 100, 10));
        assert!(OffsetIndex::is_sane(&[], 0, 0));
    }
}
