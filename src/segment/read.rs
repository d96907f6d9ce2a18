//! Reads from a segment: by offset, and by timestamp.

use super::reader::{BatchReader, Step};
use super::Segment;
use crate::batch::{check_batches, BatchHeader, BatchView, Records};
use crate::error::{Error, Result};
use crate::index::{OffsetIndex, TimeIndex};
use crate::storage::StorageFile;

/// Bytes read per step while looking for a batch from an index entry: an
/// index interval plus room for the batch header found after it.
const LOCATE_WINDOW: usize = 8 << 10;

impl Segment {
    /// Whole batches from the one holding the first offset `>= from`, about
    /// `max_bytes` of them but never less than that one batch. `None` if the
    /// segment has no visible record at or after `from`.
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Option<Records>> {
        let file = self.file()?;
        let visible = self.visible();
        let Some((pos, first)) = self.locate(&**file, from, visible)? else {
            return Ok(None);
        };
        let len = (max_bytes as u64)
            .max(first.total_size() as u64)
            .min(visible - pos);
        // `len` is bounded by the visible bytes of the file, never by a
        // length field alone.
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, pos)
            .map_err(|e| Error::io("read", self.log_path(), e))?;
        let checked = check_batches(&buf, from);
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
        Ok(Some(Records::from_checked(buf, from, &checked)))
    }

    /// Position and header of the first visible batch whose last offset is
    /// `>= from`.
    fn locate(
        &self,
        file: &dyn StorageFile,
        from: u64,
        visible: u64,
    ) -> Result<Option<(u64, BatchHeader)>> {
        let relative = from
            .saturating_sub(self.base_offset())
            .min(u64::from(u32::MAX)) as u32;
        let start = self.with_indexes(|i| OffsetIndex::lookup(&i.offset, relative))?;
        let mut reader = BatchReader::new(file, u64::from(start), visible, LOCATE_WINDOW);
        loop {
            match reader
                .peek()
                .map_err(|e| Error::io("read", self.log_path(), e))?
            {
                Step::End => return Ok(None),
                Step::Batch(h) if h.last_offset() >= from => return Ok(Some((reader.pos, h))),
                Step::Batch(h) => reader.advance(&h),
                Step::Partial => {
                    return Err(Error::corrupt(
                        self.log_path(),
                        reader.pos,
                        "batch cut off inside the log",
                    ))
                }
                Step::Bad(e) => {
                    return Err(Error::corrupt(self.log_path(), reader.pos, e.to_string()))
                }
            }
        }
    }

    /// The first record at or after offset `from` whose timestamp is
    /// `>= target`: its offset and timestamp.
    pub fn offset_for_timestamp(&self, target: i64, from: u64) -> Result<Option<(u64, i64)>> {
        let file = self.file()?;
        let visible = self.visible();
        let start = self.with_indexes(|i| {
            TimeIndex::lookup(&i.time, target).map_or(0, |rel| OffsetIndex::lookup(&i.offset, rel))
        })?;
        let mut reader = BatchReader::new(&**file, u64::from(start), visible, LOCATE_WINDOW);
        let io = |e| Error::io("read", self.log_path(), e);
        loop {
            let pos = reader.pos;
            let h = match reader.peek().map_err(io)? {
                Step::End => return Ok(None),
                Step::Batch(h) => h,
                Step::Partial => {
                    return Err(Error::corrupt(
                        self.log_path(),
                        pos,
                        "batch cut off inside the log",
                    ))
                }
                Step::Bad(e) => return Err(Error::corrupt(self.log_path(), pos, e.to_string())),
            };
            if h.max_timestamp >= target && h.last_offset() >= from {
                let view = BatchView::parse(reader.batch(&h).map_err(io)?)
                    .map_err(|e| Error::corrupt(self.log_path(), pos, e.to_string()))?;
                if let Some(r) = view
                    .records()
                    .find(|r| r.offset() >= from && r.timestamp() >= target)
                {
                    return Ok(Some((r.offset(), r.timestamp())));
                }
            }
            reader.advance(&h);
        }
    }
}
