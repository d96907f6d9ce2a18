//! Sparse indexes of a segment, as safe functions over `&[u8]`.
//!
//! The offset index maps a relative offset to the file position of the batch
//! holding it; the time index maps a timestamp to a relative offset. Both are
//! sorted arrays of fixed-size little-endian entries, searched by binary
//! search. They are derived data: the log is the truth, and a missing or
//! damaged index is rebuilt from it.

mod file;
mod offset;
mod time;

pub(crate) use file::{encode as encode_file, entries_len, IndexKind, TRAILER_SIZE};
pub(crate) use offset::{OffsetEntry, OffsetIndex};
pub(crate) use time::{TimeEntry, TimeIndex};

use crate::storage::SharedBytes;
use std::ops::Deref;

/// One fixed-size index entry.
pub(crate) trait Entry: Copy + std::fmt::Debug {
    /// Encoded size.
    const SIZE: usize;
    /// Writes the entry into `buf[..SIZE]`.
    fn encode_into(&self, buf: &mut [u8]);
    /// Reads an entry from `buf[..SIZE]`.
    fn decode_from(buf: &[u8]) -> Self;
}

/// Number of whole entries in `buf`.
pub(crate) fn entry_count<E: Entry>(buf: &[u8]) -> usize {
    buf.len() / E::SIZE
}

/// The `i`-th entry of `buf`.
pub(crate) fn entry_at<E: Entry>(buf: &[u8], i: usize) -> E {
    E::decode_from(&buf[i * E::SIZE..(i + 1) * E::SIZE])
}

/// The last entry whose key is `<= target`, by binary search. `key` must be
/// non-decreasing over the entries.
pub(crate) fn floor<E: Entry, K: Ord>(buf: &[u8], target: K, key: impl Fn(&E) -> K) -> Option<E> {
    let n = entry_count::<E>(buf);
    // Invariant: entries before `lo` have key <= target, from `hi` on > target.
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key(&entry_at::<E>(buf, mid)) <= target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.checked_sub(1).map(|i| entry_at(buf, i))
}

/// Index entries: built in memory (the active segment, or a rebuilt
/// index), or the first `n` bytes of a mapped sealed index file.
#[derive(Debug, Clone)]
pub(crate) enum IndexBytes {
    Owned(Vec<u8>),
    Shared(SharedBytes, usize),
}

impl Default for IndexBytes {
    fn default() -> Self {
        IndexBytes::Owned(Vec::new())
    }
}

impl Deref for IndexBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            IndexBytes::Owned(v) => v,
            IndexBytes::Shared(s, n) => &s[..*n],
        }
    }
}

impl IndexBytes {
    /// Appends an entry; a loaded index is copied into memory first (this
    /// happens only when a reopened active segment takes new appends).
    pub(crate) fn push<E: Entry>(&mut self, e: E) {
        if let IndexBytes::Shared(..) = self {
            *self = IndexBytes::Owned(self.to_vec());
        }
        if let IndexBytes::Owned(v) = self {
            let at = v.len();
            v.resize(at + E::SIZE, 0);
            e.encode_into(&mut v[at..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_finds_the_last_entry_not_above_the_target() {
        let mut b = IndexBytes::default();
        for (rel, pos) in [(0u32, 0u32), (10, 100), (20, 250)] {
            b.push(OffsetEntry {
                relative_offset: rel,
                position: pos,
            });
        }
        let key = |e: &OffsetEntry| e.relative_offset;
        assert_eq!(floor::<OffsetEntry, _>(&b, 0, key).unwrap().position, 0);
        assert_eq!(floor::<OffsetEntry, _>(&b, 9, key).unwrap().position, 0);
        assert_eq!(floor::<OffsetEntry, _>(&b, 10, key).unwrap().position, 100);
        assert_eq!(floor::<OffsetEntry, _>(&b, 99, key).unwrap().position, 250);
        assert!(floor::<OffsetEntry, _>(&[], 5, key).is_none());
    }

    #[test]
    fn a_trailing_partial_entry_is_ignored() {
        let mut b = IndexBytes::default();
        b.push(OffsetEntry {
            relative_offset: 1,
            position: 2,
        });
        let mut v = b.to_vec();
        v.extend_from_slice(&[9, 9, 9]);
        assert_eq!(entry_count::<OffsetEntry>(&v), 1);
    }
}
