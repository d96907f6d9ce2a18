//! Values that carry their sequence number, and the check every read-back
//! runs: count, order and a checksum.

/// Bytes at the start of every value that hold its sequence number.
pub const SEQ_BYTES: usize = 8;

/// A value of `len` bytes (at least [`SEQ_BYTES`]): `seq` little-endian,
/// then a pattern that is not all zeros.
pub fn value(seq: u64, len: usize) -> Vec<u8> {
    assert!(len >= SEQ_BYTES, "values are at least {SEQ_BYTES} bytes");
    let mut v: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
    v[..SEQ_BYTES].copy_from_slice(&seq.to_le_bytes());
    v
}

/// What a read saw: how many records, and a checksum of them. Every value
/// must carry the sequence number equal to its position in the log, so a
/// record missing, repeated or out of order fails the read at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Records seen.
    pub count: u64,
    /// Wrapping sum over records of sequence number + length + last byte.
    pub sum: u64,
}

impl Check {
    /// Takes the next value of the log.
    #[inline]
    pub fn add(&mut self, v: &[u8]) {
        let head: [u8; SEQ_BYTES] = v
            .get(..SEQ_BYTES)
            .and_then(|h| h.try_into().ok())
            .unwrap_or_else(|| panic!("record {} is {} bytes, too short", self.count, v.len()));
        let seq = u64::from_le_bytes(head);
        if seq != self.count {
            panic!("record {} carries sequence number {seq}", self.count);
        }
        let last = v[v.len() - 1];
        self.sum = self
            .sum
            .wrapping_add(seq)
            .wrapping_add(v.len() as u64)
            .wrapping_add(u64::from(last));
        self.count += 1;
    }

    /// The check of `count` values of `len` bytes made by [`value`].
    pub fn expected(count: u64, len: usize) -> Check {
        let mut c = Check::default();
        let mut v = value(0, len);
        for seq in 0..count {
            v[..SEQ_BYTES].copy_from_slice(&seq.to_le_bytes());
            c.add(&v);
        }
        c
    }
}

/// Values `first..first + n` of `len` bytes, for one batch.
pub fn batch(first: u64, n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n as u64).map(|i| value(first + i, len)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_in_order_passes_and_sums() {
        let mut c = Check::default();
        for v in batch(0, 5, 100) {
            c.add(&v);
        }
        assert_eq!(c, Check::expected(5, 100));
    }

    #[test]
    #[should_panic(expected = "carries sequence number 2")]
    fn a_missing_record_fails() {
        let mut c = Check::default();
        c.add(&value(0, 16));
        c.add(&value(2, 16));
    }
}
