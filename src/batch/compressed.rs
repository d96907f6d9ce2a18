//! Compressed batches: the records section compressed whole with the
//! codec in the attributes' low bits, the header (offsets, timestamps,
//! producer fields, count) and its CRC left readable, so indexes,
//! recovery, retention and verification never decompress. Records are
//! decompressed for reading one batch at a time, each into an ordinary
//! uncompressed batch, bounded by the caller's limit.

use super::builder::EncodedBatch;
use super::header::{
    crc_of, BatchHeader, ATTR_COMPRESSION, CRC_HEAD_END, CRC_TAIL_START, LOG_OVERHEAD,
};
use super::read_bytes::ReadBytes;
use super::view::{BatchError, BatchView};
use crate::compression::{self, CodecError, Compression, Levels};

/// Appends the batch `view` (at the front of `batch`, checked) to `out`
/// with its records decompressed: an uncompressed batch with the same
/// header fields (codec bits cleared; length and CRC set for its bytes),
/// its records checked as [`BatchView::parse`] checks them. The records
/// may decompress to at most `max` bytes. On an error `out` is as it was.
pub(crate) fn decompress_into(
    batch: &[u8],
    view: &BatchView<'_>,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), BatchError> {
    decompress_batch(batch, view, max, out, true)
}

/// [`decompress_into`]; without `crc`, the copy keeps the stored batch's
/// CRC field (a copy only ever read through [`BatchView::trusted`], as a
/// read's `Records` are, needs no CRC of its own: the stored bytes were
/// checked against theirs).
fn decompress_batch(
    batch: &[u8],
    view: &BatchView<'_>,
    max: usize,
    out: &mut Vec<u8>,
    crc: bool,
) -> Result<(), BatchError> {
    let start = out.len();
    out.extend_from_slice(&batch[..BatchHeader::SIZE]);
    let result = (|| {
        compression::decompress(view.header.compression(), view.records_section(), max, out)
            .map_err(BatchError::Codec)?;
        let length = u32::try_from(out.len() - start - LOG_OVERHEAD)
            .map_err(|_| BatchError::Codec(CodecError::TooLarge { max }))?;
        let header = BatchHeader {
            batch_length: length,
            attributes: view.header.attributes & !ATTR_COMPRESSION,
            ..view.header
        };
        let bytes = &mut out[start..];
        header.encode_into(bytes);
        if crc {
            let crc = crc_of(bytes);
            bytes[CRC_HEAD_END..CRC_TAIL_START].copy_from_slice(&crc.to_le_bytes());
        }
        BatchView::parse_fresh(bytes).map(drop)
    })();
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// `view`, the checked batch at the front of `batch`, with records to
/// iterate: itself, or for a compressed batch its decompressed copy in
/// `scratch` (records to at most `max` bytes).
pub(crate) fn readable<'a>(
    batch: &'a [u8],
    view: BatchView<'a>,
    max: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<BatchView<'a>, BatchError> {
    if !view.is_compressed() {
        return Ok(view);
    }
    scratch.clear();
    decompress_into(batch, &view, max, scratch)?;
    // Just checked by `decompress_into`.
    BatchView::trusted(scratch).ok_or(BatchError::Record("decompressed batch does not read"))
}

/// The checked batches in `buf` with every compressed one decompressed
/// (see [`decompress_into`]), each to at most `max` bytes of records, and
/// no more batches once the copy holds `budget` bytes (at least one):
/// `buf` itself when none is compressed. A batch that cannot be is
/// reported with its position in `buf`.
pub(crate) fn decompress_batches(
    buf: ReadBytes,
    max: usize,
    budget: usize,
) -> Result<ReadBytes, (usize, BatchError)> {
    let mut pos = 0;
    let mut any = false;
    while let Some(view) = BatchView::trusted(&buf[pos..]) {
        if view.is_compressed() {
            any = true;
            break;
        }
        pos += view.total_size();
    }
    if !any {
        return Ok(buf);
    }
    // Sized once, from what the batches' framing claims (each claim
    // bounded by `max`), so the copy never grows by reallocation.
    let mut size = pos;
    let mut at = pos;
    while let Some(view) = BatchView::trusted(&buf[at..]) {
        if size >= budget {
            break;
        }
        let codec = view.header.compression();
        let claim = compression::decompressed_len_hint(codec, view.records_section());
        size += BatchHeader::SIZE + claim.unwrap_or(0).min(max);
        at += view.total_size();
    }
    let mut out = super::spare_buffer(size);
    out.extend_from_slice(&buf[..pos]);
    while let Some(view) = BatchView::trusted(&buf[pos..]) {
        // A read's records stay within its budget (the first batch
        // whatever its size): a compressed read is bounded by what it
        // returns, not by what it read.
        if !out.is_empty() && out.len() >= budget {
            break;
        }
        let size = view.total_size();
        if view.is_compressed() {
            decompress_batch(&buf[pos..], &view, max, &mut out, false).map_err(|e| (pos, e))?;
        } else {
            out.extend_from_slice(&buf[pos..pos + size]);
        }
        pos += size;
    }
    // What was read goes back for the next read (dropped).
    Ok(out.into())
}

impl EncodedBatch {
    /// The batch with its records section compressed with `codec` (this
    /// one unchanged for [`Compression::None`]). Its base offset and CRC
    /// are set later, as for any encoded batch.
    pub fn compressed(
        self,
        codec: Compression,
        levels: Levels,
    ) -> Result<EncodedBatch, CodecError> {
        if codec == Compression::None {
            return Ok(self);
        }
        let bytes = self.as_bytes();
        let mut out = Vec::with_capacity(bytes.len() / 2 + BatchHeader::SIZE);
        out.extend_from_slice(&bytes[..BatchHeader::SIZE]);
        compression::compress(codec, levels, &bytes[BatchHeader::SIZE..], &mut out)?;
        // The header as built, but for its length and codec bits.
        let length = (out.len() - LOG_OVERHEAD) as u32;
        out[8..12].copy_from_slice(&length.to_le_bytes());
        let attributes = u16::from_le_bytes([out[17], out[18]]);
        let attributes = (attributes & !ATTR_COMPRESSION) | codec.id();
        out[17..19].copy_from_slice(&attributes.to_le_bytes());
        Ok(EncodedBatch::from_bytes(out))
    }
}

/// Compresses, with `codec`, the records of the uncompressed batch at
/// `out[at..]` (whose CRC is then computed anew): how compaction stores a
/// rebuilt batch. A batch whose records take more than `max_records`
/// bytes stays uncompressed, so that it always decompresses within that
/// bound; so does one for [`Compression::None`].
pub(crate) fn compress_in_place(
    out: &mut Vec<u8>,
    at: usize,
    codec: Compression,
    levels: Levels,
    max_records: usize,
) -> Result<(), CodecError> {
    let records_len = out.len() - at - BatchHeader::SIZE;
    if codec == Compression::None || records_len > max_records {
        return Ok(());
    }
    let records = out.split_off(at + BatchHeader::SIZE);
    if let Err(e) = compression::compress(codec, levels, &records, out) {
        out.truncate(at + BatchHeader::SIZE);
        out.extend_from_slice(&records);
        return Err(e);
    }
    let length = (out.len() - at - LOG_OVERHEAD) as u32;
    out[at + 8..at + 12].copy_from_slice(&length.to_le_bytes());
    let attributes = u16::from_le_bytes([out[at + 17], out[at + 18]]);
    let attributes = (attributes & !ATTR_COMPRESSION) | codec.id();
    out[at + 17..at + 19].copy_from_slice(&attributes.to_le_bytes());
    let crc = crc_of(&out[at..]);
    out[at + CRC_HEAD_END..at + CRC_TAIL_START].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}
