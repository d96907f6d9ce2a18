//! The bytes a read returns: a buffer of its own, or a range of a sealed
//! segment's map, borrowed without a copy.

use super::records::give_back;
use crate::storage::SharedBytes;
use std::ops::{Deref, Range};

/// Whole, checked batches a [`Records`](super::Records) iterates.
#[derive(Clone)]
pub(crate) enum ReadBytes {
    /// Read (or decompressed) into a buffer, handed to the thread's next
    /// read when dropped.
    Owned(Vec<u8>),
    /// A range of a sealed segment's log, mapped: no copy, and the map
    /// lives as long as any read of it.
    Mapped(SharedBytes, Range<usize>),
}

impl ReadBytes {
    /// `range` of `map`; `None` if the map does not hold it.
    pub(crate) fn mapped(map: SharedBytes, range: Range<usize>) -> Option<ReadBytes> {
        map.get(range.clone())?;
        map.populate(range.clone());
        Some(ReadBytes::Mapped(map, range))
    }

    /// Keeps the first `len` bytes (no more than there are).
    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            ReadBytes::Owned(v) => v.truncate(len),
            ReadBytes::Mapped(_, r) => r.end = r.end.min(r.start.saturating_add(len)),
        }
    }
}

impl Default for ReadBytes {
    fn default() -> Self {
        ReadBytes::Owned(Vec::new())
    }
}

impl From<Vec<u8>> for ReadBytes {
    fn from(v: Vec<u8>) -> Self {
        ReadBytes::Owned(v)
    }
}

impl Deref for ReadBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            ReadBytes::Owned(v) => v,
            // Checked in `mapped`, and only ever shortened since.
            ReadBytes::Mapped(m, r) => m.get(r.clone()).unwrap_or_default(),
        }
    }
}

impl Drop for ReadBytes {
    // A buffer goes to the next read on this thread (see `read_buffer`),
    // unless it is too large to keep.
    fn drop(&mut self) {
        if let ReadBytes::Owned(v) = self {
            give_back(std::mem::take(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn shared(bytes: &[u8]) -> SharedBytes {
        SharedBytes::Heap(Arc::from(bytes))
    }

    #[test]
    fn a_mapped_range_must_lie_inside_the_map() {
        assert!(ReadBytes::mapped(shared(b"0123"), 1..5).is_none());
        let r = ReadBytes::mapped(shared(b"0123"), 1..3).unwrap();
        assert_eq!(&*r, b"12");
    }

    #[test]
    fn truncating_never_lengthens() {
        let mut r = ReadBytes::mapped(shared(b"012345"), 1..5).unwrap();
        r.truncate(9);
        assert_eq!(&*r, b"1234");
        r.truncate(2);
        assert_eq!(&*r, b"12");
        let mut o = ReadBytes::from(b"abc".to_vec());
        o.truncate(1);
        assert_eq!(&*o, b"a");
    }
}
