//! Encodes records into one batch: header space, then each record once.

use super::header::{
    BatchHeader, ATTR_LOG_APPEND_TIME, ATTR_NULLABLE_HEADER_VALUES, CRC_HEAD_END, CRC_TAIL_START,
    LOG_OVERHEAD, MAGIC,
};
use super::varint;
use super::view::{BatchView, RecordRef};
use crate::error::{Error, Result};
use crate::record::{Header, Record};

/// Varint of `v`, which must be below 2^14, as the low bytes of a word.
#[inline(always)]
fn varint2(v: usize) -> u64 {
    debug_assert!(v < 0x4000);
    let v = v as u64;
    if v < 0x80 {
        v
    } else {
        (v & 0x7f) | 0x80 | ((v >> 7) << 8)
    }
}

/// Bytes of the varint of `v`, which must be below 2^14.
#[inline(always)]
fn varint2_len(v: usize) -> usize {
    1 + usize::from(v >= 0x80)
}

/// Appends a record to `out`: the four varints of `fields` before the key,
/// the key, the value's length field, the value, and the headers. Varints
/// go through a small stack buffer; the payloads are copied straight in.
fn write_fields(
    out: &mut Vec<u8>,
    fields: [u64; 5],
    key: &[u8],
    value: &[u8],
    headers: &[Header<'_>],
    nullable_header_values: bool,
) {
    let [body, zz, od, key_field, value_field] = fields;
    let mut head = [0u8; 4 * varint::MAX_LEN];
    let mut p = varint::put_at(&mut head, 0, body);
    p = varint::put_at(&mut head, p, zz);
    p = varint::put_at(&mut head, p, od);
    p = varint::put_at(&mut head, p, key_field);
    out.extend_from_slice(&head[..p]);
    out.extend_from_slice(key);
    let p = varint::put_at(&mut head, 0, value_field);
    out.extend_from_slice(&head[..p]);
    out.extend_from_slice(value);
    let p = varint::put_at(&mut head, 0, headers.len() as u64);
    out.extend_from_slice(&head[..p]);
    for h in headers {
        let p = varint::put_at(&mut head, 0, h.key.len() as u64);
        out.extend_from_slice(&head[..p]);
        out.extend_from_slice(h.key.as_bytes());
        let p = varint::put_at(&mut head, 0, header_value_field(h, nullable_header_values));
        out.extend_from_slice(&head[..p]);
        out.extend_from_slice(h.value.unwrap_or_default());
    }
}

/// The length field of a header's value: `0` null and `n + 1` for `n`
/// bytes in the nullable form, the length in samsa 0.1's (whose values
/// are never null).
fn header_value_field(h: &Header<'_>, nullable: bool) -> u64 {
    match (nullable, h.value) {
        (true, None) => 0,
        (true, Some(v)) => v.len() as u64 + 1,
        (false, v) => v.unwrap_or_default().len() as u64,
    }
}

/// The bytes a header takes in the nullable form.
fn header_len(h: &Header<'_>) -> usize {
    let value = h.value.unwrap_or_default().len();
    varint::len(h.key.len() as u64) + h.key.len() + varint::len(header_value_field(h, true)) + value
}

/// Producer fields of a batch, for idempotent appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerFields {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerFields {
    /// The fields of a batch written without idempotence.
    pub const NONE: ProducerFields = ProducerFields {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// Builds one encoded batch. Records are encoded into a single buffer as
/// they are pushed: no allocation per record, one CRC at the end.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    buf: Vec<u8>,
    count: u32,
    base_timestamp: i64,
    max_timestamp: i64,
    max_record_bytes: usize,
    /// A record with headers was pushed: the batch gets
    /// [`ATTR_NULLABLE_HEADER_VALUES`].
    has_headers: bool,
}

impl BatchBuilder {
    /// A builder whose records may each take at most `max_record_bytes`,
    /// with room for `capacity` bytes of records before it reallocates.
    pub fn new(max_record_bytes: usize, capacity: usize) -> Self {
        Self::in_buffer(Vec::new(), max_record_bytes, capacity)
    }

    /// [`Self::new`], encoding into `buf` (emptied first): a buffer of an
    /// earlier batch, so that a batch costs no allocation and no fresh
    /// pages (see [`EncodedBatch::into_buffer`]).
    pub fn in_buffer(mut buf: Vec<u8>, max_record_bytes: usize, capacity: usize) -> Self {
        buf.clear();
        buf.reserve(BatchHeader::SIZE + capacity);
        buf.resize(BatchHeader::SIZE, 0);
        BatchBuilder {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
            max_record_bytes,
            has_headers: false,
        }
    }

    /// Appends `record` with timestamp `ts` (used when the record has none).
    /// A record over the maximum is refused and leaves the builder as it was.
    #[inline]
    pub fn push(&mut self, record: &Record<'_>, ts: i64) -> Result<()> {
        let ts = record.timestamp.unwrap_or(ts);
        if let (None, Some(value), []) = (&record.key, &record.value, &*record.headers) {
            if self.push_small(value, ts) {
                return Ok(());
            }
        }
        self.push_any(record, ts)
    }

    /// The common record: a value, no key, no headers, every field before
    /// the value below 2^14 (a value under 16 KiB, at most 16,384 records
    /// so far, a timestamp delta within -64..=63 ms). Its fields before the value
    /// are one 8-byte store, cut to length; the bytes are those of
    /// [`Self::push_any`]. `false` (and nothing written) if the record is
    /// not one of these or is too large: `push_any` then takes it.
    #[inline(always)]
    fn push_small(&mut self, value: &[u8], ts: i64) -> bool {
        let delta = if self.count == 0 {
            0
        } else {
            ts.wrapping_sub(self.base_timestamp)
        };
        let zz = varint::zigzag(delta);
        let od = self.count as usize;
        let value_field = value.len() + 1;
        if zz >= 0x80 || od >= 0x4000 || value_field >= 0x4000 {
            return false;
        }
        let (od_len, value_field_len) = (varint2_len(od), varint2_len(value_field));
        // ts delta, offset delta, null key, value length, value, no headers.
        let body = 1 + od_len + 1 + value_field_len + value.len() + 1;
        if body >= 0x4000 {
            return false;
        }
        let body_len = varint2_len(body);
        if body_len + body > self.max_record_bytes {
            return false;
        }
        let mut word = varint2(body);
        let mut n = body_len;
        word |= zz << (8 * n);
        n += 1;
        word |= varint2(od) << (8 * n);
        n += od_len;
        // The key's field, 0 (null), is already in the word.
        n += 1;
        word |= varint2(value_field) << (8 * n);
        n += value_field_len;
        debug_assert!(n <= 8);
        if self.count == 0 {
            self.base_timestamp = ts;
        }
        let out = &mut self.buf;
        let start = out.len();
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(start + n);
        out.extend_from_slice(value);
        out.push(0);
        debug_assert_eq!(out.len() - start, body_len + body);
        self.max_timestamp = self.max_timestamp.max(ts);
        self.count += 1;
        true
    }

    /// Appends any record with timestamp `ts`.
    fn push_any(&mut self, record: &Record<'_>, ts: i64) -> Result<()> {
        let delta = if self.count == 0 {
            0
        } else {
            ts.wrapping_sub(self.base_timestamp)
        };
        let zz = varint::zigzag(delta);
        let od = u64::from(self.count);
        let key = record.key.as_deref().unwrap_or_default();
        let value = record.value.as_deref().unwrap_or_default();
        let key_field = record.key.as_ref().map_or(0, |k| k.len() as u64 + 1);
        let value_field = record.value.as_ref().map_or(0, |v| v.len() as u64 + 1);
        let header_count = record.headers.len() as u64;
        let headers_len: usize = record.headers.iter().map(header_len).sum();
        let body = varint::len(zz)
            + varint::len(od)
            + varint::len(key_field)
            + key.len()
            + varint::len(value_field)
            + value.len()
            + varint::len(header_count)
            + headers_len;
        let size = varint::len(body as u64) + body;
        if size > self.max_record_bytes {
            return Err(Error::RecordTooLarge {
                size,
                max: self.max_record_bytes,
            });
        }
        if self.count == u32::MAX {
            return Err(Error::InvalidConfig(
                "a batch holds at most 2^32-1 records".into(),
            ));
        }
        if self.count == 0 {
            self.base_timestamp = ts;
        }
        let out = &mut self.buf;
        let start = out.len();
        out.reserve(size);
        write_fields(
            out,
            [body as u64, zz, od, key_field, value_field],
            key,
            value,
            &record.headers,
            true,
        );
        debug_assert_eq!(out.len() - start, size);
        self.has_headers |= header_count > 0;
        self.max_timestamp = self.max_timestamp.max(ts);
        self.count += 1;
        Ok(())
    }

    /// Bytes the batch takes so far, header included.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Writes the header and returns the encoded batch, whose base offset
    /// and CRC are set when the log assigns its offset.
    pub fn finish(self, producer: ProducerFields) -> EncodedBatch {
        self.finish_with(producer, 0)
    }

    /// [`Self::finish`], with these attribute bits set too
    /// (`ATTR_TRANSACTIONAL`, or a control batch's bits).
    pub fn finish_with(mut self, producer: ProducerFields, attributes: u16) -> EncodedBatch {
        debug_assert!(self.count > 0, "finish on an empty batch");
        let header = BatchHeader {
            base_offset: 0,
            batch_length: (self.buf.len() - LOG_OVERHEAD) as u32,
            magic: MAGIC,
            crc: 0,
            attributes: attributes
                | if self.has_headers {
                    ATTR_NULLABLE_HEADER_VALUES
                } else {
                    0
                },
            last_offset_delta: self.count.saturating_sub(1),
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            base_sequence: producer.base_sequence,
            record_count: self.count,
        };
        header.encode_into(&mut self.buf);
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(&self.buf[CRC_TAIL_START..]);
        EncodedBatch {
            bytes: self.buf,
            tail_crc,
        }
    }
}

/// An encoded batch waiting for its base offset.
///
/// The CRC covers the base offset too, yet the expensive part of it, over
/// the records, is computed once when the batch is built (possibly outside
/// any lock); assigning the offset only hashes the 13 bytes in front of the
/// CRC field and combines the two.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBatch {
    bytes: Vec<u8>,
    tail_crc: crc32fast::Hasher,
}

impl EncodedBatch {
    /// An encoded batch of `bytes` (header written but for the base offset
    /// and CRC), its records' part of the CRC computed now.
    pub(super) fn from_bytes(bytes: Vec<u8>) -> EncodedBatch {
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(&bytes[CRC_TAIL_START..]);
        EncodedBatch { bytes, tail_crc }
    }

    /// Sets the base offset and the CRC that covers it.
    pub fn assign_base_offset(&mut self, base_offset: u64) {
        self.bytes[0..8].copy_from_slice(&base_offset.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.bytes[..CRC_HEAD_END]);
        crc.combine(&self.tail_crc);
        self.bytes[CRC_HEAD_END..CRC_TAIL_START].copy_from_slice(&crc.finalize().to_le_bytes());
    }

    /// Marks the batch's timestamps as log-append time `ts`: every record
    /// then reads back with `ts` (its own delta is kept, as in Kafka). The
    /// record part of the CRC changes with it and is hashed again.
    pub fn set_log_append_time(&mut self, ts: i64) {
        let attributes =
            u16::from_le_bytes([self.bytes[17], self.bytes[18]]) | ATTR_LOG_APPEND_TIME;
        self.bytes[17..19].copy_from_slice(&attributes.to_le_bytes());
        self.bytes[23..31].copy_from_slice(&ts.to_le_bytes());
        self.bytes[31..39].copy_from_slice(&ts.to_le_bytes());
        self.tail_crc = crc32fast::Hasher::new();
        self.tail_crc.update(&self.bytes[CRC_TAIL_START..]);
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The buffer, for the next batch to be encoded in.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }

    /// The bytes, with the base offset assigned.
    #[cfg(test)]
    pub fn into_bytes_at(mut self, base_offset: u64) -> Vec<u8> {
        self.assign_base_offset(base_offset);
        self.bytes
    }
}

/// Rebuilds the checked batch at the front of `batch` from the records
/// `keep` accepts, appending it to `out`; returns the header written, or
/// `None` (and `out` untouched) when no record is kept: compaction drops an
/// emptied batch whole.
///
/// Every kept record keeps its offset and timestamp: its offset delta is
/// written as it was, so readers see the gap, never a renumbering. The
/// header keeps what Kafka's cleaner keeps (`MemoryRecords::filterTo`):
///
/// - `base_offset` and `last_offset_delta` of the original, not of the
///   first and last kept records. Kafka overrides the cleaned batch's last
///   offset with the original's so the batch's last sequence
///   (`base_sequence + last_offset_delta`) is unchanged and a producer
///   state rebuilt from headers never sees a sequence gap; the batch also
///   still covers the same offset range, so the next batch's base follows
///   its last offset exactly as before.
/// - the producer id, epoch, base sequence and attributes (with the
///   log-append-time flag, under which every record reads back as
///   `max_timestamp`).
/// - `base_timestamp` and `max_timestamp`: the kept records' timestamp
///   deltas then need no change, and the batch's time facts stay put, so
///   time retention, the time index and a tombstone's delete horizon (taken
///   from the batch's `max_timestamp`) decide the same before and after a
///   clean, and again on every later one. `max_timestamp` may then exceed
///   every kept record's timestamp; a time lookup scans forward from the
///   batch and still finds the first record at or after its target.
///
/// When every record is kept, the original bytes are copied unchanged.
///
/// On Kafka's empty batches: Kafka keeps an emptied batch as a bare header
/// (`BatchRetention::RETAIN_EMPTY`) when it is the last one of a producer,
/// so that a producer state rebuilt from the log still knows the producer.
/// Our format refuses batches of no records, and the partition's producer
/// snapshots (written at each roll, so always at or past the sealed
/// segments compaction touches) carry that state instead; we drop the
/// batch.
pub(crate) fn retain_records(
    batch: &[u8],
    mut keep: impl FnMut(&RecordRef<'_>) -> bool,
    out: &mut Vec<u8>,
) -> Option<BatchHeader> {
    let view = BatchView::trusted(batch)?;
    let source = view.header;
    // Records are written again in their batch's header form, so the
    // attributes kept stay true.
    let nullable = source.attributes & ATTR_NULLABLE_HEADER_VALUES != 0;
    let start = out.len();
    out.resize(start + BatchHeader::SIZE, 0);
    let mut count = 0u32;
    // Reused for every record with headers: no allocation per record.
    let mut headers: Vec<Header<'_>> = Vec::new();
    for r in view.records() {
        if !keep(&r) {
            continue;
        }
        headers.clear();
        headers.extend(r.headers());
        let key = r.key().unwrap_or_default();
        let value = r.value().unwrap_or_default();
        let zz = varint::zigzag(r.timestamp().wrapping_sub(source.base_timestamp));
        let od = r.offset().wrapping_sub(source.base_offset);
        let key_field = r.key().map_or(0, |k| k.len() as u64 + 1);
        let value_field = r.value().map_or(0, |v| v.len() as u64 + 1);
        let mut body = varint::len(zz)
            + varint::len(od)
            + varint::len(key_field)
            + key.len()
            + varint::len(value_field)
            + value.len()
            + varint::len(headers.len() as u64);
        for h in &headers {
            let field = header_value_field(h, nullable);
            body += varint::len(h.key.len() as u64) + h.key.len();
            body += varint::len(field) + h.value.unwrap_or_default().len();
        }
        write_fields(
            out,
            [body as u64, zz, od, key_field, value_field],
            key,
            value,
            &headers,
            nullable,
        );
        count += 1;
    }
    if count == 0 {
        out.truncate(start);
        return None;
    }
    if count == source.record_count {
        out.truncate(start);
        out.extend_from_slice(&batch[..source.total_size()]);
        return Some(source);
    }
    let header = BatchHeader {
        batch_length: (out.len() - start - LOG_OVERHEAD) as u32,
        crc: 0,
        record_count: count,
        ..source
    };
    let bytes = &mut out[start..];
    header.encode_into(bytes);
    let crc = super::header::crc_of(bytes);
    bytes[CRC_HEAD_END..CRC_TAIL_START].copy_from_slice(&crc.to_le_bytes());
    Some(BatchHeader { crc, ..header })
}

/// Computes and stores the CRC of a whole encoded batch.
#[cfg(test)]
pub(crate) fn write_crc(batch: &mut [u8]) {
    let crc = super::header::crc_of(batch);
    batch[CRC_HEAD_END..CRC_TAIL_START].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_value_and_null_value_differ_in_bytes() {
        let mut a = BatchBuilder::new(1024, 0);
        a.push(&Record::new(b""), 1).unwrap();
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::default(), 1).unwrap();
        assert_ne!(
            a.finish(ProducerFields::NONE).into_bytes_at(0),
            b.finish(ProducerFields::NONE).into_bytes_at(0)
        );
    }

    #[test]
    fn null_and_empty_header_values_differ_and_read_back() {
        let headers = [
            Header::null("n"),
            Header::new("e", b""),
            Header::new("v", b"x"),
            Header::null("n"),
        ];
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::new(b"plain"), 1).unwrap();
        b.push(&Record::new(b"r").headers(&headers), 1).unwrap();
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(0);
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(view.header.attributes, ATTR_NULLABLE_HEADER_VALUES);
        let records: Vec<_> = view.records().collect();
        assert_eq!(records[0].headers().count(), 0);
        assert_eq!(records[1].headers().collect::<Vec<_>>(), headers);
    }

    #[test]
    fn a_batch_without_headers_is_written_as_samsa_0_1_wrote_it() {
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::new(b"v").key(b"k"), 1).unwrap();
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(0);
        assert_eq!(BatchView::parse(&bytes).unwrap().header.attributes, 0);
    }

    /// A batch of samsa 0.1's form, two records of value `v` with these
    /// headers: header value lengths are lengths, and the attribute is not
    /// set.
    fn legacy_batch(headers: &[Header<'_>]) -> Vec<u8> {
        let mut out = vec![0; BatchHeader::SIZE];
        // ts delta, offset delta, null key, value field, the value.
        let mut body = 5 + varint::len(headers.len() as u64);
        for h in headers {
            let v = h.value.unwrap();
            body += varint::len(h.key.len() as u64) + h.key.len() + varint::len(v.len() as u64);
            body += v.len();
        }
        for od in 0..2 {
            write_fields(
                &mut out,
                [body as u64, 0, od, 0, 2],
                b"",
                b"v",
                headers,
                false,
            );
        }
        let header = BatchHeader {
            base_offset: 7,
            batch_length: (out.len() - LOG_OVERHEAD) as u32,
            magic: MAGIC,
            crc: 0,
            attributes: 0,
            last_offset_delta: 1,
            base_timestamp: 1,
            max_timestamp: 1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: 2,
        };
        header.encode_into(&mut out);
        write_crc(&mut out);
        out
    }

    #[test]
    fn samsa_0_1_header_values_still_read_and_survive_a_clean() {
        let headers = [
            Header::new("a", b"1"),
            Header::new("", b""),
            Header::new("b", b"22"),
        ];
        let bytes = legacy_batch(&headers);
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(view.header.attributes, 0);
        for r in view.records() {
            assert_eq!(r.headers().collect::<Vec<_>>(), headers);
        }
        // A clean that keeps one record writes it again in its batch's form.
        let mut out = Vec::new();
        let h = retain_records(&bytes, |r| r.offset() == 8, &mut out).unwrap();
        assert_eq!(h.attributes, 0);
        let view = BatchView::parse(&out).unwrap();
        let kept: Vec<_> = view.records().collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].offset(), 8);
        assert_eq!(kept[0].headers().collect::<Vec<_>>(), headers);
        // The same records with a null one come out in the nullable form.
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::new(b"v").headers(&headers), 1).unwrap();
        b.push(&Record::new(b"w").headers(&[Header::null("z")]), 1)
            .unwrap();
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(0);
        let mut out = Vec::new();
        let h = retain_records(&bytes, |r| r.offset() == 1, &mut out).unwrap();
        assert_eq!(h.attributes, ATTR_NULLABLE_HEADER_VALUES);
        let view = BatchView::parse(&out).unwrap();
        let kept: Vec<_> = view.records().collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].headers().collect::<Vec<_>>(), [Header::null("z")]);
    }

    #[test]
    fn oversize_record_is_refused_and_changes_nothing() {
        let big = vec![7u8; 200];
        let mut b = BatchBuilder::new(100, 0);
        b.push(&Record::new(b"ok"), 1).unwrap();
        let err = b.push(&Record::new(&big), 1).unwrap_err();
        assert!(matches!(err, Error::RecordTooLarge { size, max: 100 } if size > 200));
        let mut only_ok = BatchBuilder::new(100, 0);
        only_ok.push(&Record::new(b"ok"), 1).unwrap();
        assert_eq!(
            b.finish(ProducerFields::NONE).into_bytes_at(0),
            only_ok.finish(ProducerFields::NONE).into_bytes_at(0)
        );
    }

    /// The batch of `records` (value length, timestamp) pushed through
    /// `push`, and the same through the general path only.
    fn both_ways(records: &[(usize, i64)], max: usize) -> (Vec<u8>, Vec<u8>) {
        let data = vec![0xa5u8; records.iter().map(|r| r.0).max().unwrap_or(0)];
        let mut fast = BatchBuilder::new(max, 0);
        let mut slow = BatchBuilder::new(max, 0);
        for &(len, ts) in records {
            let r = Record::new(&data[..len]).timestamp(ts);
            let a = fast.push(&r, 0).map_err(|e| e.to_string());
            let b = slow.push_any(&r, ts).map_err(|e| e.to_string());
            assert_eq!(a, b);
        }
        (
            fast.finish(ProducerFields::NONE).into_bytes_at(0),
            slow.finish(ProducerFields::NONE).into_bytes_at(0),
        )
    }

    #[test]
    fn the_small_record_path_writes_the_general_bytes() {
        let lens = [
            0, 1, 100, 125, 126, 127, 128, 1024, 16_375, 16_376, 16_377, 16_382, 16_383, 16_384,
            20_000,
        ];
        let deltas = [0, 1, -1, 63, 64, -64, -65, 1 << 40, i64::MIN];
        let mut records = Vec::new();
        for i in 0..17_000 {
            records.push((
                lens[i % lens.len()],
                1_000i64.wrapping_add(deltas[i % deltas.len()]),
            ));
        }
        let (fast, slow) = both_ways(&records, 1 << 20);
        assert_eq!(fast, slow);
        // A limit right at a record's size, and one byte under it.
        for max in [106, 107, 108, 16_389, 16_390] {
            let (fast, slow) = both_ways(&[(100, 5), (100, 5), (16_383, 5), (100, 5)], max);
            assert_eq!(fast, slow, "max {max}");
        }
    }

    #[test]
    fn hundred_byte_records_cost_under_ten_percent() {
        let v = [0u8; 100];
        let mut b = BatchBuilder::new(1 << 20, 0);
        for _ in 0..1000 {
            b.push(&Record::new(&v), 5).unwrap();
        }
        let bytes = b.finish(ProducerFields::NONE).as_bytes().len();
        assert!(bytes as f64 / 100_000.0 <= 1.08, "{bytes} bytes");
    }
}

#[cfg(test)]
mod crc_tests {
    use super::*;
    use crate::batch::view::BatchView;

    #[test]
    fn log_append_time_restamps_every_record_and_keeps_the_crc_valid() {
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::new(b"a").timestamp(1), 0).unwrap();
        b.push(&Record::new(b"b").timestamp(9), 0).unwrap();
        let mut e = b.finish(ProducerFields::NONE);
        e.set_log_append_time(777);
        let bytes = e.into_bytes_at(5);
        let v = BatchView::parse(&bytes).unwrap();
        assert!(v.records().all(|r| r.timestamp() == 777));
        assert_eq!(v.header.max_timestamp, 777);
    }

    #[test]
    fn assigned_crc_equals_a_crc_over_the_whole_batch() {
        let mut b = BatchBuilder::new(1024, 0);
        b.push(&Record::new(b"abc").key(b"k"), 9).unwrap();
        let bytes = b.finish(ProducerFields::NONE).into_bytes_at(123_456);
        let mut recomputed = bytes.clone();
        write_crc(&mut recomputed);
        assert_eq!(bytes, recomputed);
        assert_eq!(
            BatchView::parse(&bytes).unwrap().header.base_offset,
            123_456
        );
    }
}

#[cfg(test)]
mod retain_tests {
    use super::*;
    use crate::batch::view::BatchView;
    use proptest::prelude::*;

    const PRODUCER: ProducerFields = ProducerFields {
        producer_id: 7,
        producer_epoch: 2,
        base_sequence: 40,
    };

    /// A record to write: key, value, timestamp.
    type In<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

    /// A batch at offset 100 of `records`, with a header on every third.
    fn batch(records: &[In<'_>]) -> Vec<u8> {
        let h = [Header::new("h", b"x")];
        let mut b = BatchBuilder::new(1 << 20, 0);
        for (i, &(key, value, ts)) in records.iter().enumerate() {
            let headers: &[Header<'_>] = if i % 3 == 0 { &h } else { &[] };
            let r = Record {
                key: key.map(Into::into),
                value: value.map(Into::into),
                timestamp: Some(ts),
                headers: headers.into(),
                ..Record::default()
            };
            b.push(&r, 0).unwrap();
        }
        b.finish(PRODUCER).into_bytes_at(100)
    }

    type Owned = (
        u64,
        i64,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<(String, Option<Vec<u8>>)>,
    );

    fn owned(bytes: &[u8]) -> Vec<Owned> {
        BatchView::parse(bytes)
            .unwrap()
            .records()
            .map(|r| {
                (
                    r.offset(),
                    r.timestamp(),
                    r.key().map(<[u8]>::to_vec),
                    r.value().map(<[u8]>::to_vec),
                    r.headers()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn kept_records_keep_their_offsets_timestamps_and_the_header() {
        let source = batch(&[
            (Some(b"a"), Some(b"1"), 50),
            (Some(b"b"), None, 10),
            (None, Some(b"3"), 90),
            (Some(b"a"), Some(b"4"), 20),
            (Some(b"c"), Some(b""), 30),
        ]);
        let mut out = b"prefix".to_vec();
        let h = retain_records(&source, |r| r.offset() % 2 == 1, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix", "appended after what was there");
        let cleaned = &out[6..];
        let v = BatchView::parse(cleaned).expect("a valid CRC and framing");
        assert_eq!(v.header, h);
        assert_eq!(v.total_size(), cleaned.len());
        let original = BatchView::parse(&source).unwrap().header;
        assert_eq!(
            (h.base_offset, h.last_offset_delta, h.record_count),
            (100, 4, 2)
        );
        assert_eq!(
            (h.base_timestamp, h.max_timestamp, h.attributes),
            (
                original.base_timestamp,
                original.max_timestamp,
                original.attributes
            )
        );
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 2, 40)
        );
        let want: Vec<_> = owned(&source)
            .into_iter()
            .filter(|r| r.0 % 2 == 1)
            .collect();
        assert_eq!(owned(cleaned), want);
        assert_eq!(want[1].0, 103, "the gap at 102 stays a gap");
    }

    #[test]
    fn all_kept_is_the_original_bytes_and_none_kept_writes_nothing() {
        let source = batch(&[(Some(b"a"), Some(b"1"), 5), (None, None, 6)]);
        let mut out = Vec::new();
        let h = retain_records(&source, |_| true, &mut out).unwrap();
        assert_eq!(out, source);
        assert_eq!(h, BatchView::parse(&source).unwrap().header);
        let mut out = b"x".to_vec();
        assert_eq!(retain_records(&source, |_| false, &mut out), None);
        assert_eq!(out, b"x");
    }

    #[test]
    fn a_log_append_time_batch_stays_one() {
        let mut b = BatchBuilder::new(1024, 0);
        for (k, ts) in [(b"a", 1), (b"b", 9), (b"c", 4)] {
            b.push(&Record::new(b"v").key(k).timestamp(ts), 0).unwrap();
        }
        let mut e = b.finish(ProducerFields::NONE);
        e.set_log_append_time(777);
        let source = e.into_bytes_at(0);
        let mut out = Vec::new();
        let h = retain_records(&source, |r| r.key() != Some(b"b"), &mut out).unwrap();
        assert_eq!(h.attributes, ATTR_LOG_APPEND_TIME);
        let v = BatchView::parse(&out).unwrap();
        let got: Vec<_> = v.records().map(|r| (r.offset(), r.timestamp())).collect();
        assert_eq!(got, [(0, 777), (2, 777)]);
    }

    proptest! {
        #[test]
        fn any_subset_round_trips(
            recs in proptest::collection::vec(
                (proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
                 proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
                 any::<i64>(), any::<bool>()),
                1..40),
        ) {
            let records: Vec<_> = recs
                .iter()
                .map(|(k, v, ts, _)| (k.as_deref(), v.as_deref(), *ts))
                .collect();
            let source = batch(&records);
            let keep: Vec<bool> = recs.iter().map(|r| r.3).collect();
            let mut out = Vec::new();
            let h = retain_records(&source, |r| keep[(r.offset() - 100) as usize], &mut out);
            let want: Vec<_> = owned(&source)
                .into_iter()
                .filter(|r| keep[(r.0 - 100) as usize])
                .collect();
            match h {
                None => prop_assert!(want.is_empty() && out.is_empty()),
                Some(h) => {
                    prop_assert_eq!(BatchView::parse(&out).unwrap().header, h);
                    prop_assert_eq!(h.record_count as usize, want.len());
                    prop_assert_eq!(h.last_offset_delta as usize, recs.len() - 1);
                    prop_assert_eq!(owned(&out), want);
                }
            }
        }
    }
}
