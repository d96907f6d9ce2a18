//! Reads from a segment: by offset, and by timestamp.
//!
//! Both start from an index entry and scan batch headers forward. The
//! headers are checked as they are passed: each batch must start where the
//! index says, or after the batch before it, so a damaged header or a lying
//! index is reported (or, for the index, bypassed) instead of making the
//! scan skip records. A batch's CRC is checked before any record of it is
//! returned.

use super::reader::{BatchReader, Step};
use super::SegmentState;
use crate::batch::{
    check_batches, read_buffer, readable, BatchError, BatchHeader, BatchView, ReadBytes, Records,
};
use crate::error::{Error, Result};
use crate::index::{OffsetEntry, OffsetIndex, TimeIndex};
use crate::storage::NamedFile;
use std::ops::ControlFlow;

/// A batch that failed a check once read, in the log at `path`, `pos`:
/// [`Error::Corrupt`], or, for one compressed with a codec this build
/// lacks, [`Error::CompressionUnavailable`].
pub(crate) fn batch_error(path: &std::path::Path, pos: u64, e: BatchError) -> Error {
    match e {
        BatchError::Codec(crate::compression::CodecError::Unavailable(codec)) => {
            Error::CompressionUnavailable {
                codec,
                path: path.to_path_buf(),
            }
        }
        e => Error::corrupt(path, pos, e.to_string()),
    }
}

/// Bytes read per step while looking for a batch from an index entry: an
/// index interval plus room for the batch header found after it.
const LOCATE_WINDOW: usize = 8 << 10;

impl SegmentState {
    /// Whole batches from the one holding the first offset `>= from`, about
    /// `max_bytes` of them but never less than that one batch, and none
    /// starting at or past `until`, compressed ones decompressed (their
    /// records to at most `max_record_bytes` each). `None` if the segment
    /// has no visible record at or after `from`.
    pub fn read(
        &self,
        from: u64,
        max_bytes: usize,
        until: u64,
        max_record_bytes: usize,
    ) -> Result<Option<Records>> {
        let Some((pos, first)) = self.locate(from)? else {
            return Ok(None);
        };
        let visible = self.visible();
        let first_end = pos + first.total_size() as u64;
        let mut end = pos
            .saturating_add(max_bytes as u64)
            .min(visible)
            .max(first_end);
        if end < visible {
            // End at a batch boundary the index knows, rather than reading
            // a partial batch only to drop it and read it again next time.
            let boundary =
                self.with_indexes(|i| OffsetIndex::boundary_at_or_below(&i.offset, end))?;
            if let Some(b) = boundary.filter(|&b| b >= first_end) {
                end = b;
            }
        }
        // The length is bounded by the visible bytes of the file, never by
        // a length field alone. A sealed segment's bytes are borrowed from
        // its map; others are copied into the thread's last buffer, reused.
        let buf = match self.mapped_range(pos, end) {
            Some(bytes) => bytes,
            None => {
                let mut buf = read_buffer((end - pos) as usize);
                self.log_file()?.read_at(&mut buf, pos)?;
                ReadBytes::from(buf)
            }
        };
        let checked = check_batches(&buf, from, until);
        if let Some((at, e)) = &checked.bad {
            // Return the good batches before the damage; the next read
            // starts at the damaged batch and reports it.
            if checked.valid_len == 0 {
                return Err(Error::corrupt(
                    self.log_path(),
                    pos + *at as u64,
                    e.to_string(),
                ));
            }
        }
        Records::from_read(buf, from, &checked, max_record_bytes, max_bytes)
            .map(Some)
            .map_err(|(at, e)| self.batch_error(pos + at as u64, e))
    }

    /// Bytes `pos..end` of a sealed segment's mapped log; `None` if the
    /// segment is not mapped (see `log_map`).
    fn mapped_range(&self, pos: u64, end: u64) -> Option<ReadBytes> {
        let range = usize::try_from(pos).ok()?..usize::try_from(end).ok()?;
        ReadBytes::mapped(self.log_map()?, range)
    }

    /// A batch that failed a check once read: [`Error::Corrupt`] at `pos`,
    /// or, for one compressed with a codec this build lacks,
    /// [`Error::CompressionUnavailable`].
    pub(crate) fn batch_error(&self, pos: u64, e: BatchError) -> Error {
        batch_error(self.log_path(), pos, e)
    }

    /// The visible batch holding the first offset `>= from`: its position
    /// and header, found through the offset index and a walk of the
    /// headers after the entry (no CRC checked). `None` if there is none.
    pub fn locate(&self, from: u64) -> Result<Option<(u64, BatchHeader)>> {
        let relative = self.relative(from);
        let entry = self.with_indexes(|i| OffsetIndex::lookup(&i.offset, relative))?;
        self.scan_batches(entry, |reader, h| {
            Ok(if h.last_offset() >= from {
                ControlFlow::Break((reader.pos, *h))
            } else {
                ControlFlow::Continue(())
            })
        })
    }

    /// The first record at or after offset `from` whose timestamp is
    /// `>= target`: its offset and timestamp. A compressed batch holding
    /// it is decompressed (its records to at most `max_record_bytes`).
    pub fn offset_for_timestamp(
        &self,
        target: i64,
        from: u64,
        max_record_bytes: usize,
    ) -> Result<Option<(u64, i64)>> {
        let entry = self.with_indexes(|i| {
            TimeIndex::lookup(&i.time, target).and_then(|rel| OffsetIndex::lookup(&i.offset, rel))
        })?;
        self.scan_batches(entry, |reader, h| {
            if h.max_timestamp < target || h.last_offset() < from {
                return Ok(ControlFlow::Continue(()));
            }
            let pos = reader.pos;
            let bytes = reader.batch(h)?;
            // Not I/O: damage, which carries its position.
            let mut plain = Vec::new();
            let view = BatchView::parse(bytes)
                .and_then(|view| readable(bytes, view, max_record_bytes, &mut plain))
                .map_err(|e| self.batch_error(pos, e))?;
            let hit = view
                .records()
                .find(|r| r.offset() >= from && r.timestamp() >= target);
            Ok(match hit {
                Some(r) => ControlFlow::Break((r.offset(), r.timestamp())),
                None => ControlFlow::Continue(()),
            })
        })
    }

    fn relative(&self, offset: u64) -> u32 {
        offset
            .saturating_sub(self.base_offset())
            .min(u64::from(u32::MAX)) as u32
    }

    /// Walks the visible batches from `entry` (or the segment's start),
    /// calling `visit` with each header until it breaks. Checks that every
    /// header follows the one before it; if the batch at `entry` is not the
    /// one the index names, the index is not trusted and the walk restarts
    /// from the segment's start.
    fn scan_batches<R>(
        &self,
        entry: Option<OffsetEntry>,
        mut visit: impl FnMut(&mut BatchReader<'_>, &BatchHeader) -> Result<ControlFlow<R>>,
    ) -> Result<Option<R>> {
        let file = self.file()?;
        let visible = self.visible();
        let mut entry = entry;
        'restart: loop {
            let (start, mut expected) = match entry {
                Some(e) => (
                    u64::from(e.position),
                    self.base_offset() + u64::from(e.relative_offset),
                ),
                None => (0, self.base_offset()),
            };
            let named = NamedFile::new(&*file, self.log_path());
            let mut reader = BatchReader::new(named, start, visible, LOCATE_WINDOW);
            let mut first = true;
            // A sealed segment's records end before the next segment's base.
            let limit = if self.is_sealed() {
                self.next_offset()
            } else {
                u64::MAX
            };
            loop {
                let pos = reader.pos;
                let step = reader.peek()?;
                if first && entry.is_some() && matches!(step, Step::Partial | Step::Bad(_)) {
                    // The index points inside a batch, or at no batch at
                    // all: do without it.
                    entry = None;
                    continue 'restart;
                }
                let h = match step {
                    Step::End => return Ok(None),
                    Step::Batch(h) => h,
                    Step::Partial => {
                        return Err(Error::corrupt(
                            self.log_path(),
                            pos,
                            "batch cut off inside the log",
                        ))
                    }
                    Step::Bad(e) => {
                        return Err(Error::corrupt(self.log_path(), pos, e.to_string()))
                    }
                };
                if first && entry.is_some() && h.base_offset != expected {
                    // The index names another batch here: do without it.
                    entry = None;
                    continue 'restart;
                }
                if h.base_offset < expected {
                    return Err(Error::corrupt(
                        self.log_path(),
                        pos,
                        format!(
                            "batch base offset {} does not follow the previous batch (expected at least {expected})",
                            h.base_offset
                        ),
                    ));
                }
                if h.next_offset() > limit {
                    return Err(Error::corrupt(
                        self.log_path(),
                        pos,
                        format!(
                            "batch offsets run to {}, past the next segment's base offset {limit}",
                            h.last_offset()
                        ),
                    ));
                }
                first = false;
                if let ControlFlow::Break(r) = visit(&mut reader, &h)? {
                    return Ok(Some(r));
                }
                expected = h.next_offset();
                reader.advance(&h);
            }
        }
    }
}
