//! A segment's aborted-transaction index (`<base offset>.txnindex`,
//! Kafka's `.txnindex`): the transactions aborted by a marker in the
//! segment, so that a `read_committed` reader skips their batches without
//! looking for markers.
//!
//! Layout: entries of 28 bytes (little-endian), in marker order:
//!
//! ```text
//!  0 producer_id   i64
//!  8 first_offset  u64   the transaction's first batch on the partition
//! 16 last_offset   u64   its abort marker, in this segment
//! 24 crc           u32   CRC-32 of the 24 bytes before
//! ```
//!
//! Written whole (temp file, sync, rename) when the segment is sealed, and
//! for the active segment at a clean close; a segment without aborted
//! transactions has no file.

use crate::batch::AbortedTxn;
use byteorder::{ByteOrder, LittleEndian as LE};

/// The file's extension.
pub(crate) const EXTENSION: &str = "txnindex";

/// Bytes of one entry.
pub(crate) const ENTRY: usize = 28;

/// The file's bytes for `entries`.
pub(crate) fn encode(entries: &[AbortedTxn]) -> Vec<u8> {
    let mut buf = vec![0u8; entries.len() * ENTRY];
    for (e, chunk) in entries.iter().zip(buf.chunks_exact_mut(ENTRY)) {
        LE::write_i64(&mut chunk[0..8], e.producer_id);
        LE::write_u64(&mut chunk[8..16], e.first_offset);
        LE::write_u64(&mut chunk[16..24], e.last_offset);
        let crc = crc32fast::hash(&chunk[..24]);
        LE::write_u32(&mut chunk[24..28], crc);
    }
    buf
}

/// The entries of an intact file whose markers lie in `base..next`;
/// `None` if any entry is damaged or out of place.
pub(crate) fn decode(buf: &[u8], base: u64, next: u64) -> Option<Vec<AbortedTxn>> {
    if !buf.len().is_multiple_of(ENTRY) {
        return None;
    }
    let mut entries = Vec::with_capacity(buf.len() / ENTRY);
    for chunk in buf.chunks_exact(ENTRY) {
        if LE::read_u32(&chunk[24..28]) != crc32fast::hash(&chunk[..24]) {
            return None;
        }
        let e = AbortedTxn {
            producer_id: LE::read_i64(&chunk[0..8]),
            first_offset: LE::read_u64(&chunk[8..16]),
            last_offset: LE::read_u64(&chunk[16..24]),
        };
        let in_order = entries
            .last()
            .is_none_or(|p: &AbortedTxn| p.last_offset < e.last_offset);
        if e.producer_id < 0
            || e.first_offset >= e.last_offset
            || !(base..next).contains(&e.last_offset)
            || !in_order
        {
            return None;
        }
        entries.push(e);
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<AbortedTxn> {
        vec![
            AbortedTxn {
                producer_id: 1,
                first_offset: 3,
                last_offset: 105,
            },
            AbortedTxn {
                producer_id: 9,
                first_offset: 100,
                last_offset: 107,
            },
        ]
    }

    #[test]
    fn entries_round_trip_and_damage_is_refused() {
        let bytes = encode(&sample());
        assert_eq!(bytes.len(), 56);
        assert_eq!(decode(&bytes, 100, 200), Some(sample()));
        assert_eq!(decode(&[], 0, 1), Some(Vec::new()));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert_eq!(decode(&b, 100, 200), None, "flip at {i}");
        }
        assert_eq!(decode(&bytes[..30], 100, 200), None, "cut short");
        // Markers outside the segment's offsets are not its entries.
        assert_eq!(decode(&bytes, 106, 200), None);
        assert_eq!(decode(&bytes, 100, 107), None);
    }
}
