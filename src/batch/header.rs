//! The fixed header at the front of every record batch.
//!
//! Layout (little-endian; see `docs/FORMAT.md`):
//!
//! ```text
//!  0 base_offset        u64   first offset of the batch
//!  8 batch_length       u32   bytes after this field
//! 12 magic              u8    format version, 1
//! 13 crc                u32   CRC-32 (IEEE) of bytes 0..13 and 17..end
//! 17 attributes         u16   bits 0-2: compression codec of the records
//!                             (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
//!                             bit 3: timestamps are log-append time,
//!                             bit 4: part of a transaction,
//!                             bit 5: a control batch (a marker),
//!                             bit 8: header values are nullable
//! 19 last_offset_delta  u32   last record's offset minus base_offset
//! 23 base_timestamp     i64   first record's timestamp (ms)
//! 31 max_timestamp      i64   largest timestamp in the batch (ms)
//! 39 producer_id        i64   -1 when not idempotent
//! 47 producer_epoch     i16
//! 49 base_sequence      i32   -1 when not idempotent
//! 53 record_count       u32
//! 57 records...
//! ```

use crate::compression::Compression;
use byteorder::{ByteOrder, LittleEndian as LE};

/// The current (and only) batch format version.
pub(crate) const MAGIC: u8 = 1;

/// The CRC covers the bytes before the CRC field...
pub(crate) const CRC_HEAD_END: usize = 13;
/// ...and every byte after it.
pub(crate) const CRC_TAIL_START: usize = 17;

/// The CRC of a whole batch as stored in its CRC field: every byte but the
/// field itself, so the base offset is protected too.
pub(crate) fn crc_of(batch: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&batch[..CRC_HEAD_END]);
    h.update(&batch[CRC_TAIL_START..]);
    h.finalize()
}

/// The bytes the `base_offset` and `batch_length` fields take: the length
/// counts what follows them.
pub(crate) const LOG_OVERHEAD: usize = 12;

/// Attribute bit: the batch's timestamps were set by the log at append time.
pub(crate) const ATTR_LOG_APPEND_TIME: u16 = 1 << 3;

/// Attribute bit: header values are nullable fields, as keys and values
/// are (`0` null, `n + 1` for `n` bytes; Kafka's length -1). Set on every
/// batch with a header since samsa-log 0.2; without it (samsa 0.1) a
/// header value's length field is its length.
pub(crate) const ATTR_NULLABLE_HEADER_VALUES: u16 = 1 << 8;

/// Attribute bit: the batch belongs to a transaction of its producer
/// (Kafka's `isTransactional`, bit 4): its records count only once a
/// commit marker follows, and are hidden from `read_committed` readers
/// until then (and for good after an abort marker).
pub(crate) const ATTR_TRANSACTIONAL: u16 = 1 << 4;

/// Attribute bit: a control batch (Kafka's `isControl`, bit 5), always
/// transactional too: one record, the marker ending its producer's
/// transaction (see `control`). It takes an offset but is never returned
/// to readers.
pub(crate) const ATTR_CONTROL: u16 = 1 << 5;

/// Attribute bits 0 to 2: the codec the records section is compressed
/// with (Kafka's numbering, see [`Compression`]).
pub(crate) const ATTR_COMPRESSION: u16 = 0b111;

/// Attribute bits this version knows; any other set bit is corruption.
const ATTR_KNOWN: u16 = ATTR_COMPRESSION
    | ATTR_LOG_APPEND_TIME
    | ATTR_TRANSACTIONAL
    | ATTR_CONTROL
    | ATTR_NULLABLE_HEADER_VALUES;

/// Why a header is not acceptable. Callers add the file and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Fewer than [`BatchHeader::SIZE`] bytes were given.
    Short,
    /// The magic byte is not a version this code reads.
    Magic(u8),
    /// The length field cannot describe a batch of this header's shape.
    Length(u32),
    /// Record count and last offset delta disagree, or attributes are unknown.
    Fields(&'static str),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short => write!(f, "batch header is truncated"),
            HeaderError::Magic(m) => write!(f, "unknown batch format version {m}"),
            HeaderError::Length(l) => write!(f, "impossible batch length {l}"),
            HeaderError::Fields(what) => write!(f, "inconsistent batch header: {what}"),
        }
    }
}

/// A decoded batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: u64,
    pub batch_length: u32,
    pub magic: u8,
    pub crc: u32,
    pub attributes: u16,
    pub last_offset_delta: u32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: u32,
}

impl BatchHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 57;

    /// Writes the header into the first [`Self::SIZE`] bytes of `buf`.
    pub fn encode_into(&self, buf: &mut [u8]) {
        let b = &mut buf[..Self::SIZE];
        LE::write_u64(&mut b[0..8], self.base_offset);
        LE::write_u32(&mut b[8..12], self.batch_length);
        b[12] = self.magic;
        LE::write_u32(&mut b[13..17], self.crc);
        LE::write_u16(&mut b[17..19], self.attributes);
        LE::write_u32(&mut b[19..23], self.last_offset_delta);
        LE::write_i64(&mut b[23..31], self.base_timestamp);
        LE::write_i64(&mut b[31..39], self.max_timestamp);
        LE::write_i64(&mut b[39..47], self.producer_id);
        LE::write_i16(&mut b[47..49], self.producer_epoch);
        LE::write_i32(&mut b[49..53], self.base_sequence);
        LE::write_u32(&mut b[53..57], self.record_count);
    }

    /// Reads and checks a header from the front of `buf`. Checks the fields
    /// against each other, not the CRC (that needs the whole batch).
    pub fn decode_from(buf: &[u8]) -> Result<Self, HeaderError> {
        let b = buf.get(..Self::SIZE).ok_or(HeaderError::Short)?;
        let h = BatchHeader {
            base_offset: LE::read_u64(&b[0..8]),
            batch_length: LE::read_u32(&b[8..12]),
            magic: b[12],
            crc: LE::read_u32(&b[13..17]),
            attributes: LE::read_u16(&b[17..19]),
            last_offset_delta: LE::read_u32(&b[19..23]),
            base_timestamp: LE::read_i64(&b[23..31]),
            max_timestamp: LE::read_i64(&b[31..39]),
            producer_id: LE::read_i64(&b[39..47]),
            producer_epoch: LE::read_i16(&b[47..49]),
            base_sequence: LE::read_i32(&b[49..53]),
            record_count: LE::read_u32(&b[53..57]),
        };
        if h.magic != MAGIC {
            return Err(HeaderError::Magic(h.magic));
        }
        // Every record takes at least 6 bytes (length and five one-byte
        // fields); compressed, at least one byte between them all (their
        // count is checked against the bytes once decompressed).
        let body = u64::from(h.batch_length) + LOG_OVERHEAD as u64;
        let least = match h.attributes & ATTR_COMPRESSION {
            0 => 6 * u64::from(h.record_count),
            _ => 1,
        };
        if body < (Self::SIZE as u64) + least {
            return Err(HeaderError::Length(h.batch_length));
        }
        if h.record_count == 0 {
            return Err(HeaderError::Fields("a batch holds no records"));
        }
        if h.last_offset_delta < h.record_count - 1 {
            return Err(HeaderError::Fields(
                "last offset delta is smaller than the record count allows",
            ));
        }
        // The offset after the batch must exist too (`next_offset`).
        if h.base_offset
            .checked_add(u64::from(h.last_offset_delta) + 1)
            .is_none()
        {
            return Err(HeaderError::Fields("last offset overflows"));
        }
        if h.attributes & !ATTR_KNOWN != 0 {
            return Err(HeaderError::Fields("unknown attribute bits"));
        }
        if Compression::from_id(h.attributes & ATTR_COMPRESSION).is_none() {
            return Err(HeaderError::Fields("unknown compression codec"));
        }
        if h.attributes & ATTR_CONTROL != 0 && h.attributes & ATTR_COMPRESSION != 0 {
            return Err(HeaderError::Fields("a control batch is never compressed"));
        }
        if h.attributes & ATTR_TRANSACTIONAL != 0 && h.producer_id < 0 {
            return Err(HeaderError::Fields(
                "a transactional batch without a producer id",
            ));
        }
        if h.attributes & ATTR_CONTROL != 0
            && (h.attributes & ATTR_TRANSACTIONAL == 0 || h.record_count != 1)
        {
            return Err(HeaderError::Fields(
                "a control batch must be transactional and hold one record",
            ));
        }
        if h.max_timestamp < h.base_timestamp && h.record_count == 1 {
            return Err(HeaderError::Fields("max timestamp below the only record's"));
        }
        Ok(h)
    }

    /// The codec of the batch's records section.
    pub fn compression(&self) -> Compression {
        // `decode_from` refuses other codec numbers.
        Compression::from_id(self.attributes & ATTR_COMPRESSION).unwrap_or_default()
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Whether the batch is a control batch (a transaction marker), which
    /// readers never see.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Total bytes of the batch, header included.
    pub fn total_size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }

    /// The offset after this batch's last.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BatchHeader {
        BatchHeader {
            base_offset: 42,
            batch_length: (BatchHeader::SIZE - LOG_OVERHEAD + 3 * 6) as u32,
            magic: MAGIC,
            crc: 0xdead_beef,
            attributes: 0,
            last_offset_delta: 2,
            base_timestamp: 1000,
            max_timestamp: 1002,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: 3,
        }
    }

    #[test]
    fn a_batch_whose_next_offset_would_overflow_is_refused() {
        // Found by the fuzzer: replaying such a header panicked in
        // `next_offset`.
        let mut h = sample();
        h.base_offset = u64::MAX - u64::from(h.last_offset_delta);
        let mut buf = [0u8; BatchHeader::SIZE];
        h.encode_into(&mut buf);
        assert!(BatchHeader::decode_from(&buf).is_err());
        h.base_offset -= 1;
        h.encode_into(&mut buf);
        assert_eq!(
            BatchHeader::decode_from(&buf).unwrap().next_offset(),
            u64::MAX
        );
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; BatchHeader::SIZE];
        sample().encode_into(&mut buf);
        assert_eq!(BatchHeader::decode_from(&buf), Ok(sample()));
        assert_eq!(sample().last_offset(), 44);
    }

    #[test]
    fn rejects_bad_fields() {
        let mut buf = [0u8; BatchHeader::SIZE];
        sample().encode_into(&mut buf);
        assert_eq!(
            BatchHeader::decode_from(&buf[..10]),
            Err(HeaderError::Short)
        );

        let mut b = buf;
        b[12] = 9;
        assert_eq!(BatchHeader::decode_from(&b), Err(HeaderError::Magic(9)));

        let mut h = sample();
        h.batch_length = 3;
        h.encode_into(&mut b);
        assert!(matches!(
            BatchHeader::decode_from(&b),
            Err(HeaderError::Length(3))
        ));

        let mut h = sample();
        h.record_count = 0;
        h.encode_into(&mut b);
        assert!(matches!(
            BatchHeader::decode_from(&b),
            Err(HeaderError::Fields(_))
        ));

        let mut h = sample();
        h.last_offset_delta = 1;
        h.encode_into(&mut b);
        assert!(matches!(
            BatchHeader::decode_from(&b),
            Err(HeaderError::Fields(_))
        ));

        let mut h = sample();
        h.base_offset = u64::MAX;
        h.encode_into(&mut b);
        assert!(matches!(
            BatchHeader::decode_from(&b),
            Err(HeaderError::Fields(_))
        ));

        // Unknown bits, codec numbers past zstd, a compressed marker.
        for attributes in [1 << 6, 1 << 15, 5, 7, ATTR_CONTROL | ATTR_TRANSACTIONAL | 3] {
            let mut h = sample();
            h.attributes = attributes;
            h.producer_id = 1;
            h.record_count = 1;
            h.last_offset_delta = 0;
            h.encode_into(&mut b);
            assert!(
                matches!(BatchHeader::decode_from(&b), Err(HeaderError::Fields(_))),
                "{attributes:#x}"
            );
        }
        // Each codec number is known; a compressed batch needs only one
        // byte of records, however many it holds.
        for codec in 1..=4u16 {
            let mut h = sample();
            h.attributes = codec;
            h.batch_length = (BatchHeader::SIZE - LOG_OVERHEAD + 1) as u32;
            h.encode_into(&mut b);
            let back = BatchHeader::decode_from(&b).unwrap();
            assert_eq!(back.compression().id(), codec);
        }
    }

    #[test]
    fn all_zero_bytes_are_not_a_header() {
        // A zero-filled tail (file grown without its data) must never parse.
        assert!(BatchHeader::decode_from(&[0u8; BatchHeader::SIZE]).is_err());
    }
}
