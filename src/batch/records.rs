//! The result of a read: whole, checked batches in one buffer.

use super::control::AbortedTxn;
use super::header::BatchHeader;
use super::read_bytes::ReadBytes;
use super::view::{read_record, BatchError, BatchView, RecordIter, RecordRef};
use std::cell::RefCell;

/// Read buffers of at most this capacity are kept for reuse when their
/// [`Records`] is dropped; larger ones (a read of one huge batch) are freed.
/// It covers a 1 MiB read (the consumer's default fetch size) with room for
/// a batch running past it.
const SPARE_MAX_BYTES: usize = 4 << 20;

thread_local! {
    /// Buffers of reads dropped on this thread, their bytes still
    /// initialised, so that the next reads on the thread need neither an
    /// allocation nor a zero-fill. Two: a read of compressed batches uses
    /// one for what it read and one for the records decompressed.
    static SPARE: RefCell<[Vec<u8>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
}

/// A spare buffer of at least `capacity` if there is one (the smaller of
/// two that are), else the larger spare; empty if there is none.
fn take_spare(capacity: usize) -> Vec<u8> {
    SPARE
        .try_with(|spare| {
            let mut s = spare.borrow_mut();
            let fits = |i: usize| s[i].capacity() >= capacity;
            let i = match (fits(0), fits(1)) {
                (true, true) | (false, false) => {
                    // The smaller of two that fit; the larger of two that
                    // do not.
                    let smaller = usize::from(s[1].capacity() < s[0].capacity());
                    if fits(0) {
                        smaller
                    } else {
                        1 - smaller
                    }
                }
                (true, false) => 0,
                (false, true) => 1,
            };
            std::mem::take(&mut s[i])
        })
        .unwrap_or_default()
}

/// Keeps `buf` for a later read on this thread, in place of the smaller
/// spare if it is larger, unless it is too large to keep.
pub(crate) fn give_back(buf: Vec<u8>) {
    if buf.capacity() > SPARE_MAX_BYTES || buf.capacity() == 0 {
        return;
    }
    // `try_with` fails only while the thread exits: the buffer is freed.
    let _ = SPARE.try_with(|spare| {
        let mut s = spare.borrow_mut();
        let smaller = usize::from(s[1].capacity() < s[0].capacity());
        if s[smaller].capacity() < buf.capacity() {
            s[smaller] = buf;
        }
    });
}

/// A buffer of `len` bytes for a read to fill: a spare buffer if one is
/// large enough (its old contents are left for the read to overwrite), a
/// new zero-filled one otherwise.
pub(crate) fn read_buffer(len: usize) -> Vec<u8> {
    let mut buf = take_spare(len);
    if buf.capacity() < len {
        give_back(buf);
        return vec![0u8; len];
    }
    // Only bytes past the spare's length are zero-filled.
    buf.resize(len, 0);
    buf
}

/// An empty buffer with room for `capacity` bytes: a spare one if there
/// is one.
pub(crate) fn spare_buffer(capacity: usize) -> Vec<u8> {
    let mut buf = take_spare(capacity);
    buf.clear();
    buf.reserve(capacity);
    buf
}

/// Records returned by a read, in offset order.
///
/// Holds whole batches in one buffer; every batch's CRC and framing were
/// checked before the read returned, and iterating borrows keys and values
/// from that buffer without allocating. A read that starts in the middle of
/// a batch skips the records before the requested offset.
#[derive(Clone, Default)]
pub struct Records {
    /// Aborted transactions whose batches this read leaves out (a
    /// `read_committed` read); empty otherwise.
    aborted: Vec<AbortedTxn>,
    buf: ReadBytes,
    from: u64,
    count: usize,
    next_offset: u64,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("len", &self.count)
            .field("next_offset", &self.next_offset)
            .field("records", &ShownList(self))
            .finish()
    }
}

/// The first records, for `Debug`.
struct ShownList<'a>(&'a Records);

impl std::fmt::Debug for ShownList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::show::list(f, self.0.iter(), self.0.count)
    }
}

/// What checking a buffer of batches found.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Bytes of whole, valid batches at the front.
    pub valid_len: usize,
    /// Records at or after `from` in them.
    pub count: usize,
    /// The offset after the last valid batch.
    pub next_offset: u64,
    /// The first bad batch: its position in the buffer and what is wrong.
    /// A batch cut off by the end of the buffer is not bad, just absent.
    pub bad: Option<(usize, BatchError)>,
    /// Some valid batch is compressed: its records are counted once it is
    /// decompressed ([`Records::from_read`]).
    pub compressed: bool,
}

/// Checks the batches in `buf`, counting records at or after `from`, and
/// stops before the first batch that starts at or past `until` (the high
/// watermark the reader saw: a batch can become readable an instant before
/// the high watermark moves past it).
pub(crate) fn check_batches(buf: &[u8], from: u64, until: u64) -> Checked {
    let mut pos = 0;
    let mut count = 0;
    let mut next_offset = from;
    let mut previous_end = None;
    let mut compressed = false;
    while pos < buf.len() {
        match BatchView::parse(&buf[pos..]) {
            Ok(view) if view.header.base_offset >= until => break,
            Ok(view) if previous_end.is_some_and(|end| view.header.base_offset < end) => {
                return Checked {
                    valid_len: pos,
                    count,
                    next_offset,
                    bad: Some((pos, BatchError::Record("batch offsets go backwards"))),
                    compressed,
                }
            }
            Ok(view) => {
                compressed |= view.is_compressed();
                if view.header.is_control() || view.is_compressed() {
                    // A marker takes its offset; readers never see it. A
                    // compressed batch's records are counted decompressed.
                } else if view.header.base_offset >= from {
                    count += view.header.record_count as usize;
                } else if view.header.last_offset() >= from {
                    count += view.records().filter(|r| r.offset() >= from).count();
                }
                next_offset = next_offset.max(view.header.next_offset());
                previous_end = Some(view.header.next_offset());
                pos += view.total_size();
            }
            Err(BatchError::Truncated { .. }) => break,
            Err(e) => {
                return Checked {
                    valid_len: pos,
                    count,
                    next_offset,
                    bad: Some((pos, e)),
                    compressed,
                }
            }
        }
    }
    Checked {
        valid_len: pos,
        count,
        next_offset,
        bad: None,
        compressed,
    }
}

impl Records {
    /// Records of the first `checked.valid_len` bytes of `buf`, which
    /// [`check_batches`] found valid.
    pub(crate) fn from_checked(buf: impl Into<ReadBytes>, from: u64, checked: &Checked) -> Self {
        let mut buf = buf.into();
        buf.truncate(checked.valid_len);
        Records {
            aborted: Vec::new(),
            buf,
            from,
            count: checked.count,
            next_offset: checked.next_offset,
        }
    }

    /// Records of the batches [`check_batches`] found valid in `buf`, the
    /// compressed ones decompressed, each to at most `max` bytes of
    /// records, and only as many as make about `budget` bytes (the read's
    /// `max_bytes`; at least one batch); a batch that cannot be is
    /// reported with its position in `buf`.
    pub(crate) fn from_read(
        buf: impl Into<ReadBytes>,
        from: u64,
        checked: &Checked,
        max: usize,
        budget: usize,
    ) -> Result<Self, (usize, BatchError)> {
        if !checked.compressed {
            return Ok(Self::from_checked(buf, from, checked));
        }
        let mut buf = buf.into();
        buf.truncate(checked.valid_len);
        // As many bytes of records as an uncompressed read returns: the
        // copy reuses the thread's spare buffer, where larger ones cost
        // fresh pages at every read (measured: slower overall, though
        // the next read then reads less again).
        let buf = super::compressed::decompress_batches(buf, max, budget)?;
        let (count, next_offset) = count_visible(&buf, from, &[]);
        Ok(Records {
            aborted: Vec::new(),
            from,
            count,
            next_offset,
            buf,
        })
    }

    /// No records; the next read starts at `offset`.
    pub(crate) fn empty(offset: u64) -> Self {
        Records {
            aborted: Vec::new(),
            buf: ReadBytes::default(),
            from: offset,
            count: 0,
            next_offset: offset,
        }
    }

    /// The records, in offset order.
    pub fn iter(&self) -> RecordsIter<'_> {
        RecordsIter {
            rest: &self.buf,
            batch: None,
            from: self.from,
            aborted: &self.aborted,
        }
    }

    /// These records without the batches of `aborted` transactions (a
    /// `read_committed` read): they are skipped, and not counted.
    pub(crate) fn without_aborted(mut self, aborted: Vec<AbortedTxn>) -> Self {
        if aborted.is_empty() {
            return self;
        }
        self.aborted = aborted;
        self.count = count_visible(&self.buf, self.from, &self.aborted).0;
        self
    }

    /// How many records [`Self::iter`] yields.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the read returned no records.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Where the next read should start: the offset after the last record
    /// returned (or the requested offset, if nothing was).
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Bytes of encoded batches held.
    pub fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether the records borrow a sealed segment's map (no copy).
    #[cfg(test)]
    pub(crate) fn is_borrowed(&self) -> bool {
        matches!(self.buf, ReadBytes::Mapped(..))
    }
}

/// Where an iteration over a [`Records`] stands, kept apart from it (so
/// nothing borrows it): a consumer hands records out one at a time across
/// calls with it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecordsCursor {
    /// Byte position of the next batch.
    next_batch: usize,
    /// The batch being read: its header, the position of its next record,
    /// and how many records are left in it.
    current: Option<(BatchHeader, usize, u32)>,
}

impl Records {
    /// The record after `cursor`, moving it on; what [`Self::iter`] yields,
    /// in the same order.
    pub(crate) fn next_at(&self, cursor: &mut RecordsCursor) -> Option<RecordRef<'_>> {
        loop {
            if let Some((header, pos, left)) = &mut cursor.current {
                if *left > 0 {
                    let (record, used) = read_record(self.buf.get(*pos..)?, header)?;
                    *pos += used;
                    *left -= 1;
                    if record.offset() >= self.from {
                        return Some(record);
                    }
                    continue;
                }
            }
            let view = BatchView::trusted(self.buf.get(cursor.next_batch..)?)?;
            let records = cursor.next_batch + BatchHeader::SIZE;
            cursor.next_batch += view.total_size();
            cursor.current = (!is_hidden(&view.header, &self.aborted)).then_some((
                view.header,
                records,
                view.header.record_count,
            ));
        }
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = RecordRef<'a>;
    type IntoIter = RecordsIter<'a>;

    fn into_iter(self) -> RecordsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Records`].
#[derive(Debug, Clone)]
pub struct RecordsIter<'a> {
    rest: &'a [u8],
    batch: Option<RecordIter<'a>>,
    from: u64,
    aborted: &'a [AbortedTxn],
}

/// Whether a reader skips this batch: a control batch (a transaction
/// marker), or one of an aborted transaction.
#[inline]
/// The records at or after `from` a reader sees in the checked batches of
/// `buf` (none of markers, nor of `aborted` transactions), and the offset
/// after the last batch (`from` if there is none).
fn count_visible(buf: &[u8], from: u64, aborted: &[AbortedTxn]) -> (usize, u64) {
    let (mut count, mut next_offset) = (0, from);
    let mut rest = buf;
    while let Some(view) = BatchView::trusted(rest) {
        rest = &rest[view.total_size()..];
        next_offset = next_offset.max(view.header.next_offset());
        if is_hidden(&view.header, aborted) {
            continue;
        }
        count += if view.header.base_offset >= from {
            view.header.record_count as usize
        } else {
            view.records().filter(|r| r.offset() >= from).count()
        };
    }
    (count, next_offset)
}

fn is_hidden(h: &BatchHeader, aborted: &[AbortedTxn]) -> bool {
    h.is_control() || (!aborted.is_empty() && aborted.iter().any(|a| a.covers(h)))
}

impl<'a> Iterator for RecordsIter<'a> {
    type Item = RecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<RecordRef<'a>> {
        loop {
            if let Some(r) = self.batch.as_mut().and_then(Iterator::next) {
                if r.offset() >= self.from {
                    return Some(r);
                }
                continue;
            }
            let view = BatchView::trusted(self.rest)?;
            self.rest = &self.rest[view.total_size()..];
            self.batch = (!is_hidden(&view.header, self.aborted)).then(|| view.records());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::builder::{BatchBuilder, ProducerFields};
    use crate::record::Record;

    fn batches(sizes: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut base = 0u64;
        for &n in sizes {
            let mut b = BatchBuilder::new(1024, 0);
            for i in 0..n {
                let v = format!("r{}", base + u64::from(i));
                b.push(&Record::new(&v), 0).unwrap();
            }
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(base);
            base += u64::from(n);
            out.extend_from_slice(&bytes);
        }
        out
    }

    #[test]
    fn skips_records_before_from_and_counts_the_rest() {
        let buf = batches(&[3, 4, 2]);
        let c = check_batches(&buf, 5, u64::MAX);
        assert!(c.bad.is_none());
        assert_eq!(c.count, 4);
        assert_eq!(c.next_offset, 9);
        let recs = Records::from_checked(buf, 5, &c);
        let offsets: Vec<_> = recs.iter().map(|r| r.offset()).collect();
        assert_eq!(offsets, [5, 6, 7, 8]);
        assert_eq!(recs.len(), 4);
        assert_eq!(recs.iter().next().unwrap().value(), Some(&b"r5"[..]));
    }

    #[test]
    fn a_cursor_yields_what_iter_yields_one_call_at_a_time() {
        let buf = batches(&[3, 1, 4, 2]);
        for from in 0..10 {
            let checked = check_batches(&buf, from, u64::MAX);
            let records = Records::from_checked(buf.clone(), from, &checked);
            let mut cursor = RecordsCursor::default();
            let mut stepped = Vec::new();
            while let Some(r) = records.next_at(&mut cursor) {
                stepped.push((r.offset(), r.value().map(<[u8]>::to_vec)));
            }
            let iterated: Vec<_> = records
                .iter()
                .map(|r| (r.offset(), r.value().map(<[u8]>::to_vec)))
                .collect();
            assert_eq!(stepped, iterated, "from {from}");
            assert_eq!(stepped.len(), 10 - from as usize);
            assert!(records.next_at(&mut cursor).is_none(), "stays at the end");
        }
    }

    #[test]
    fn batches_at_or_past_until_are_left_out() {
        let buf = batches(&[3, 4, 2]);
        let c = check_batches(&buf, 0, 7);
        assert!(c.bad.is_none());
        assert_eq!((c.count, c.next_offset), (7, 7));
        let c = check_batches(&buf, 0, 0);
        assert_eq!((c.count, c.valid_len), (0, 0));
    }

    #[test]
    fn a_dropped_buffer_is_reused_by_the_next_read_buffer() {
        let buf = batches(&[3, 4]);
        let c = check_batches(&buf, 0, u64::MAX);
        let recs = Records::from_checked(buf, 0, &c);
        let ptr = recs.buf.as_ptr();
        drop(recs);
        let again = read_buffer(10);
        assert_eq!((again.as_ptr(), again.len()), (ptr, 10));
        let bigger = read_buffer(again.capacity() + 1);
        assert!(bigger.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_cut_off_batch_is_left_out_not_reported() {
        let buf = batches(&[3, 4]);
        let c = check_batches(&buf[..buf.len() - 1], 0, u64::MAX);
        assert!(c.bad.is_none());
        assert_eq!(c.count, 3);
        assert_eq!(c.next_offset, 3);
    }

    #[test]
    fn a_damaged_batch_stops_the_check_where_it_starts() {
        let mut buf = batches(&[3, 4]);
        let first = check_batches(&buf, 0, u64::MAX).valid_len;
        let second_start = batches(&[3]).len();
        buf[second_start + 30] ^= 0x40;
        let c = check_batches(&buf, 0, u64::MAX);
        assert_eq!(c.valid_len, second_start);
        assert!(first > second_start);
        assert!(matches!(c.bad, Some((p, BatchError::Crc { .. })) if p == second_start));
        let recs = Records::from_checked(buf, 0, &c);
        assert_eq!(recs.iter().count(), 3);
    }
}
