//! Checks an encoded batch and walks its records without copying them.

use super::header::{
    crc_of, BatchHeader, HeaderError, ATTR_LOG_APPEND_TIME, ATTR_NULLABLE_HEADER_VALUES,
};
use super::varint;
use crate::compression::{CodecError, Compression};
use crate::record::Header;

/// Why a batch is not acceptable. Callers add the file and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BatchError {
    /// The header itself is bad.
    Header(HeaderError),
    /// The buffer ends before the batch its header describes.
    Truncated { need: usize, have: usize },
    /// The stored CRC does not match the bytes.
    Crc { stored: u32, computed: u32 },
    /// A record inside a CRC-valid batch does not parse: a writer bug or a
    /// hostile file.
    Record(&'static str),
    /// The records of a CRC-valid compressed batch do not decompress, or
    /// decompress past the bound, or need a codec this build lacks.
    Codec(CodecError),
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Header(e) => e.fmt(f),
            BatchError::Truncated { need, have } => {
                write!(f, "batch of {need} bytes is cut off after {have} bytes")
            }
            BatchError::Crc { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            BatchError::Record(what) => write!(f, "malformed record: {what}"),
            BatchError::Codec(e) => write!(f, "compressed records: {e}"),
        }
    }
}

impl From<HeaderError> for BatchError {
    fn from(e: HeaderError) -> Self {
        BatchError::Header(e)
    }
}

/// A batch whose header, CRC and record framing have all been checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchView<'a> {
    pub header: BatchHeader,
    /// The record bytes, after the header.
    records: &'a [u8],
}

impl<'a> BatchView<'a> {
    /// Checks the batch at the front of `buf` (which may hold more after it).
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        let header = BatchHeader::decode_from(buf)?;
        let size = header.total_size();
        let bytes = buf.get(..size).ok_or(BatchError::Truncated {
            need: size,
            have: buf.len(),
        })?;
        let computed = crc_of(bytes);
        if computed != header.crc {
            return Err(BatchError::Crc {
                stored: header.crc,
                computed,
            });
        }
        let view = BatchView {
            header,
            records: &bytes[BatchHeader::SIZE..],
        };
        // Compressed records are checked once decompressed
        // (`compressed::decompress_into`).
        if !view.is_compressed() {
            view.check_records()?;
        }
        Ok(view)
    }

    /// An uncompressed batch at the front of `buf` whose CRC the caller
    /// has just computed itself (a batch it decompressed): its header and
    /// records are checked as [`Self::parse`] checks them, not its CRC.
    pub(super) fn parse_fresh(buf: &'a [u8]) -> Result<Self, BatchError> {
        let header = BatchHeader::decode_from(buf)?;
        let bytes = buf
            .get(..header.total_size())
            .ok_or(BatchError::Truncated {
                need: header.total_size(),
                have: buf.len(),
            })?;
        let view = BatchView {
            header,
            records: &bytes[BatchHeader::SIZE..],
        };
        view.check_records()?;
        Ok(view)
    }

    /// Whether the records section is compressed: [`Self::records`] then
    /// needs the batch decompressed first (see `compressed`).
    pub fn is_compressed(&self) -> bool {
        self.header.compression() != Compression::None
    }

    /// The records section as stored: compressed, for a compressed batch.
    pub fn records_section(&self) -> &'a [u8] {
        self.records
    }

    /// The batch at the front of `buf`, already checked by [`Self::parse`]
    /// (for example when it was read): no CRC or record walk again. `None`
    /// if even the header or length does not fit.
    #[inline]
    pub fn trusted(buf: &'a [u8]) -> Option<Self> {
        let header = BatchHeader::decode_from(buf).ok()?;
        let bytes = buf.get(..header.total_size())?;
        Some(BatchView {
            header,
            records: &bytes[BatchHeader::SIZE..],
        })
    }

    /// Walks every record once so that iteration afterwards cannot fail.
    fn check_records(&self) -> Result<(), BatchError> {
        let mut rest = self.records;
        let last_delta = u64::from(self.header.last_offset_delta);
        let nullable = self.header.attributes & ATTR_NULLABLE_HEADER_VALUES != 0;
        let mut previous_delta: Option<u64> = None;
        for _ in 0..self.header.record_count {
            let (delta, used) = check_record(rest, last_delta, nullable)
                .ok_or(BatchError::Record("record framing does not fit the batch"))?;
            if previous_delta.is_some_and(|p| delta <= p) {
                return Err(BatchError::Record("offset deltas do not increase"));
            }
            previous_delta = Some(delta);
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            return Err(BatchError::Record("bytes left after the last record"));
        }
        Ok(())
    }

    /// Total bytes of the batch.
    pub fn total_size(&self) -> usize {
        self.header.total_size()
    }

    /// The batch's records in offset order. Only for an uncompressed
    /// batch (a compressed one is decompressed first).
    #[inline]
    pub fn records(&self) -> RecordIter<'a> {
        debug_assert!(!self.is_compressed(), "records of a compressed batch");
        RecordIter {
            header: self.header,
            rest: self.records,
            // Never a walk over compressed bytes as if they were records.
            left: if self.is_compressed() {
                0
            } else {
                self.header.record_count
            },
        }
    }
}

/// A record read back from the log. Its key, value and headers borrow the
/// bytes of the read, so iterating allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    offset: u64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    /// The header count and the headers: the rest of the record, read
    /// only if [`Self::headers`] is called.
    headers: &'a [u8],
    /// The headers' values are nullable fields (the batch's attribute).
    nullable_header_values: bool,
}

impl<'a> RecordRef<'a> {
    /// The record's offset in its partition.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Milliseconds since the Unix epoch: the create time, or the log-append
    /// time on topics configured for it.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The key, if the record has one.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The record's headers, in the order they were written.
    #[inline]
    pub fn headers(&self) -> Headers<'a> {
        // The count was checked with the batch; should it not read, there
        // are no headers rather than a panic.
        let mut pos = 0;
        match varint_at(self.headers, &mut pos).map(u32::try_from) {
            Some(Ok(left)) => Headers {
                rest: &self.headers[pos..],
                left,
                nullable: self.nullable_header_values,
            },
            _ => Headers {
                rest: &[],
                left: 0,
                nullable: true,
            },
        }
    }
}

impl std::fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &crate::show::Bytes(self.key))
            .field("value", &crate::show::Bytes(self.value))
            .field("headers", &HeadersShown(self.headers()))
            .finish()
    }
}

/// A record's headers as `Debug` shows them: `name: b"value"` pairs.
pub(crate) struct HeadersShown<'a>(pub Headers<'a>);

impl std::fmt::Debug for HeadersShown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for h in self.0.clone() {
            m.entry(&h.key, &crate::show::Bytes(h.value));
        }
        m.finish()
    }
}

/// Iterator over a read record's headers.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    rest: &'a [u8],
    left: u32,
    nullable: bool,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    #[inline]
    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        // The batch was checked when it was read, so this parse succeeds;
        // should it not, iteration ends rather than panicking.
        let (h, used) = parse_header(self.rest, self.nullable)?;
        self.rest = &self.rest[used..];
        self.left -= 1;
        Some(h)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// Iterator over the records of one checked batch.
#[derive(Debug, Clone)]
pub(crate) struct RecordIter<'a> {
    header: BatchHeader,
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = RecordRef<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<RecordRef<'a>> {
        if self.left == 0 {
            return None;
        }
        let (rec, used) = read_record(self.rest, &self.header)?;
        self.rest = &self.rest[used..];
        self.left -= 1;
        Some(rec)
    }
}

/// Reads a varint at `*pos` of `buf`, moving `pos` past it.
#[inline(always)]
fn varint_at(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let b = *buf.get(*pos)?;
    if b < 0x80 {
        *pos += 1;
        return Some(u64::from(b));
    }
    // Two bytes cover every offset delta of a batch of up to 16384 records.
    if let Some(&c) = buf.get(*pos + 1) {
        if c < 0x80 {
            *pos += 2;
            return Some(u64::from(b & 0x7f) | (u64::from(c) << 7));
        }
    }
    let (v, n) = varint::get(&buf[*pos..])?;
    *pos += n;
    Some(v)
}

/// Reads `len` bytes at `*pos` of `buf`, moving `pos` past them.
#[inline(always)]
fn bytes_at<'a>(buf: &'a [u8], pos: &mut usize, len: u64) -> Option<&'a [u8]> {
    let start = *pos;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let b = buf.get(start..end)?;
    *pos = end;
    Some(b)
}

/// Reads a length-or-null field: 0 is null, n + 1 is n bytes.
#[inline(always)]
fn optional_at<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    match varint_at(buf, pos)? {
        0 => Some(None),
        n => bytes_at(buf, pos, n - 1).map(Some),
    }
}

/// Reads the header at the front of `buf`, whose value is a nullable field
/// if `nullable` (the batch's attribute), else a length (samsa 0.1).
fn parse_header(buf: &[u8], nullable: bool) -> Option<(Header<'_>, usize)> {
    let mut pos = 0;
    let key_len = varint_at(buf, &mut pos)?;
    let key = std::str::from_utf8(bytes_at(buf, &mut pos, key_len)?).ok()?;
    let value = if nullable {
        optional_at(buf, &mut pos)?
    } else {
        let value_len = varint_at(buf, &mut pos)?;
        Some(bytes_at(buf, &mut pos, value_len)?)
    };
    Some((Header { key, value }, pos))
}

/// Checks the record at the front of `buf`, as iteration will read it
/// and more: every field and header fits its record, the headers' keys are
/// UTF-8, the record's bytes end with its last header, and its offset delta
/// is at most `last_delta`. The offset delta and the bytes the record took;
/// `None` if anything does not hold.
#[inline(always)]
fn check_record(buf: &[u8], last_delta: u64, nullable: bool) -> Option<(u64, usize)> {
    let mut pos = 0;
    let body_len = varint_at(buf, &mut pos)?;
    // Every field below is read from `body`, so none can run past the record.
    let body = bytes_at(buf, &mut pos, body_len)?;
    let mut p = 0;
    varint_at(body, &mut p)?;
    let offset_delta = varint_at(body, &mut p)?;
    if offset_delta > last_delta {
        return None;
    }
    optional_at(body, &mut p)?;
    optional_at(body, &mut p)?;
    let header_count = u32::try_from(varint_at(body, &mut p)?).ok()?;
    for _ in 0..header_count {
        let (_, used) = parse_header(&body[p..], nullable)?;
        p += used;
    }
    (p == body.len()).then_some((offset_delta, pos))
}

/// Reads the record at the front of `buf`, which [`check_record`] accepted
/// when its batch was parsed: the record and the bytes it took. Its header
/// count and headers are the rest of the record's bytes, read only if asked
/// for. Checks nothing it need not to stay in bounds, and gives `None`
/// rather than panicking should the bytes not be what was checked.
#[inline(always)]
pub(super) fn read_record<'a>(
    buf: &'a [u8],
    header: &BatchHeader,
) -> Option<(RecordRef<'a>, usize)> {
    let mut pos = 0;
    let body_len = varint_at(buf, &mut pos)?;
    let body = bytes_at(buf, &mut pos, body_len)?;
    let mut p = 0;
    let ts_delta = varint::unzigzag(varint_at(body, &mut p)?);
    let offset_delta = varint_at(body, &mut p)?;
    let key = optional_at(body, &mut p)?;
    let value = optional_at(body, &mut p)?;
    let headers = body.get(p..)?;
    let timestamp = if header.attributes & ATTR_LOG_APPEND_TIME != 0 {
        header.max_timestamp
    } else {
        header.base_timestamp.wrapping_add(ts_delta)
    };
    Some((
        RecordRef {
            offset: header.base_offset.wrapping_add(offset_delta),
            timestamp,
            key,
            value,
            headers,
            nullable_header_values: header.attributes & ATTR_NULLABLE_HEADER_VALUES != 0,
        },
        pos,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::builder::{write_crc, BatchBuilder, ProducerFields};
    use crate::record::Record;
    use proptest::prelude::*;

    fn encode(records: &[Record<'_>]) -> Vec<u8> {
        let mut b = BatchBuilder::new(1 << 20, 0);
        for r in records {
            b.push(r, 1_000).unwrap();
        }
        b.finish(ProducerFields::NONE).into_bytes_at(0)
    }

    #[test]
    fn round_trips_every_field() {
        let h = [Header::new("a", b"1"), Header::new("", b"")];
        let recs = [
            Record::new(b"v1").key(b"k1").timestamp(5),
            Record::default(),
            Record::tombstone(b"gone").headers(&h),
        ];
        let mut b = BatchBuilder::new(1 << 20, 0);
        for r in &recs {
            b.push(r, 1_000).unwrap();
        }
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(100);
        let v = BatchView::parse(&bytes).unwrap();
        assert_eq!(v.total_size(), bytes.len());
        let got: Vec<_> = v.records().collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].offset(), 100);
        assert_eq!(got[0].timestamp(), 5);
        assert_eq!(got[0].key(), Some(&b"k1"[..]));
        assert_eq!(got[1].value(), None);
        assert_eq!(got[1].key(), None);
        assert_eq!(got[1].timestamp(), 1_000);
        assert_eq!(got[2].offset(), 102);
        assert_eq!(got[2].headers().collect::<Vec<_>>(), h);
    }

    #[test]
    fn log_append_time_overrides_record_timestamps() {
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::new(b"a").timestamp(1), 0).unwrap();
        b.push(&Record::new(b"b").timestamp(9), 0).unwrap();
        let mut bytes = b.finish(ProducerFields::NONE).into_bytes_at(0);
        // Mark the batch log-append-time, stamped 777, as a broker would.
        bytes[17] |= 1 << 3;
        bytes[23..31].copy_from_slice(&777i64.to_le_bytes());
        bytes[31..39].copy_from_slice(&777i64.to_le_bytes());
        write_crc(&mut bytes);
        let v = BatchView::parse(&bytes).unwrap();
        assert!(v.records().all(|r| r.timestamp() == 777));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let bytes = encode(&[Record::new(b"hello").key(b"k"), Record::new(b"world")]);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(BatchView::parse(&b).is_err(), "flip at byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn truncation_is_caught() {
        let bytes = encode(&[Record::new(b"hello")]);
        for cut in 0..bytes.len() {
            assert!(BatchView::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_garbage(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = BatchView::parse(&buf);
        }

        #[test]
        fn parse_never_panics_on_garbage_with_a_valid_crc(
            mut buf in proptest::collection::vec(any::<u8>(), BatchHeader::SIZE..300),
            count in 1u32..8,
        ) {
            // Forge a structurally plausible header over random record bytes and
            // give it a correct CRC, so the record walk itself is exercised.
            let len = buf.len();
            buf[8..12].copy_from_slice(&((len - 12) as u32).to_le_bytes());
            buf[12] = 1;
            buf[17..19].copy_from_slice(&0u16.to_le_bytes());
            buf[19..23].copy_from_slice(&(count + 3).to_le_bytes());
            buf[53..57].copy_from_slice(&count.to_le_bytes());
            buf[0..8].copy_from_slice(&0u64.to_le_bytes());
            write_crc(&mut buf);
            if let Ok(v) = BatchView::parse(&buf) {
                prop_assert_eq!(v.records().count() as u32, count);
            }
        }

        #[test]
        fn round_trip_random_records(
            recs in proptest::collection::vec(
                (proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
                 proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
                 any::<i64>()),
                1..30)
        ) {
            let records: Vec<Record<'_>> = recs.iter().map(|(k, v, ts)| Record {
                key: k.as_deref().map(Into::into), value: v.as_deref().map(Into::into), timestamp: Some(*ts), ..Record::default()
            }).collect();
            let bytes = encode(&records);
            let v = BatchView::parse(&bytes).unwrap();
            let back: Vec<_> = v.records().collect();
            prop_assert_eq!(back.len(), records.len());
            for (i, (r, b)) in records.iter().zip(&back).enumerate() {
                prop_assert_eq!(b.offset(), i as u64);
                prop_assert_eq!(b.key(), r.key.as_deref());
                prop_assert_eq!(b.value(), r.value.as_deref());
                prop_assert_eq!(b.timestamp(), r.timestamp.unwrap());
            }
        }
    }
}
