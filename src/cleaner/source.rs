//! A sealed segment's log as the cleaner reads it: batch by batch, each
//! checked (header, CRC, record framing, offsets in order) before the
//! cleaner looks at a record of it, so compaction never copies damage into
//! a new file.

use crate::batch::{check_batches, decompress_into, BatchHeader, BatchView};
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::segment::batch_error;
use crate::storage::{NamedFile, StorageFile};
use std::ops::ControlFlow;
use std::path::Path;

/// Bytes read per window: many small batches come to one read, and a
/// batch larger than this is read whole on its own.
const READ_WINDOW: usize = 1 << 20;

/// What [`SegmentSource::for_each_batch`] calls with each checked batch's
/// bytes (decompressed), position and stored form: `Break` stops the walk.
pub(crate) type BatchVisitor<'f> = dyn FnMut(&[u8], u64, Stored) -> Result<ControlFlow<()>> + 'f;

/// How a batch is stored in the segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    /// The codec of its records.
    pub codec: Compression,
    /// Its bytes in the file.
    pub size: usize,
}

/// The log file of a sealed segment: the first `len` bytes of `file`, a
/// segment based at `base_offset`, named `path` in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentSource<'a> {
    pub file: &'a dyn StorageFile,
    pub path: &'a Path,
    pub base_offset: u64,
    pub len: u64,
    /// What a compressed batch's records may decompress to (the
    /// partition's `max_record_bytes`).
    pub max_record_bytes: usize,
}

impl SegmentSource<'_> {
    /// Calls `f` with each batch's bytes (checked: [`BatchView::trusted`]
    /// reads them; a compressed batch decompressed, its records checked
    /// too), its position in the file and the codec it was stored with,
    /// in order, until `f`
    /// breaks or the log ends. Any damage is `Error::Corrupt` with its
    /// position: a sealed segment was synced before it was sealed, so there
    /// is no torn tail to forgive. Base offsets must not go backwards (a
    /// compacted segment may have gaps) and must stay within the segment's
    /// 32-bit relative offsets.
    pub fn for_each_batch(&self, f: &mut BatchVisitor<'_>) -> Result<()> {
        let mut buf = Vec::new();
        // A compressed batch's records, decompressed.
        let mut plain = Vec::new();
        let mut pos = 0u64;
        let mut expected = self.base_offset;
        while pos < self.len {
            let left = self.len - pos;
            self.read(&mut buf, pos, left.min(READ_WINDOW as u64) as usize)?;
            let mut checked = check_batches(&buf, 0, u64::MAX);
            if checked.valid_len == 0 && checked.bad.is_none() {
                // The first batch runs past the window, or past the file.
                let size = match BatchHeader::decode_from(&buf) {
                    Ok(h) if h.total_size() as u64 <= left => h.total_size(),
                    Ok(_) => return Err(self.corrupt(pos, "batch cut off by the end of the file")),
                    Err(crate::batch::HeaderError::Short) => {
                        return Err(self.corrupt(pos, "batch cut off by the end of the file"))
                    }
                    Err(e) => return Err(self.corrupt(pos, e.to_string())),
                };
                self.read(&mut buf, pos, size)?;
                checked = check_batches(&buf, 0, u64::MAX);
            }
            let mut at = 0;
            while at < checked.valid_len {
                let batch = &buf[at..checked.valid_len];
                let h = BatchView::trusted(batch)
                    .ok_or_else(|| self.corrupt(pos + at as u64, "batch changed after its check"))?
                    .header;
                if h.base_offset < expected {
                    return Err(self.corrupt(
                        pos + at as u64,
                        format!(
                            "batch base offset {} does not follow the previous batch (expected {expected})",
                            h.base_offset
                        ),
                    ));
                }
                if h.last_offset() - self.base_offset > u64::from(u32::MAX) {
                    return Err(self.corrupt(pos + at as u64, "batch offsets overflow the segment"));
                }
                let raw = &batch[..h.total_size()];
                let codec = h.compression();
                let plain = if codec == Compression::None {
                    raw
                } else {
                    let view = BatchView::trusted(raw).ok_or_else(|| {
                        self.corrupt(pos + at as u64, "batch changed after its check")
                    })?;
                    plain.clear();
                    decompress_into(raw, &view, self.max_record_bytes, &mut plain)
                        .map_err(|e| batch_error(self.path, pos + at as u64, e))?;
                    &plain[..]
                };
                let stored = Stored {
                    codec,
                    size: h.total_size(),
                };
                if f(plain, pos + at as u64, stored)?.is_break() {
                    return Ok(());
                }
                expected = h.next_offset();
                at += h.total_size();
            }
            pos += checked.valid_len as u64;
            if let Some((_, e)) = checked.bad {
                return Err(self.corrupt(pos, e.to_string()));
            }
            if checked.valid_len == 0 {
                // Unreachable: a whole batch was read and found neither
                // valid nor bad; stop rather than loop.
                return Err(self.corrupt(pos, "batch cut off by the end of the file"));
            }
        }
        Ok(())
    }

    fn read(&self, buf: &mut Vec<u8>, pos: u64, n: usize) -> Result<()> {
        buf.resize(n, 0);
        NamedFile::new(self.file, self.path).read_at(buf, pos)
    }

    fn corrupt(&self, pos: u64, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path, pos, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::record::Record;
    use crate::storage::{MemStorage, Storage};
    use std::sync::Arc;

    /// A log of one-record batches at `offsets`, with values of `value_len`.
    fn log(offsets: &[u64], value_len: usize) -> (Arc<dyn StorageFile>, Vec<u64>) {
        let m = MemStorage::default();
        m.create_dir_all(Path::new("/c")).unwrap();
        let f = m.open(Path::new("/c/0.log"), true).unwrap();
        let mut ends = Vec::new();
        let mut pos = 0;
        let v = vec![7u8; value_len];
        for &o in offsets {
            let mut b = BatchBuilder::new(usize::MAX, 0);
            b.push(&Record::new(&v).key(b"k"), 1).unwrap();
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(o);
            f.write_all_at(&bytes, pos).unwrap();
            pos += bytes.len() as u64;
            ends.push(pos);
        }
        (f, ends)
    }

    fn positions(src: &SegmentSource<'_>) -> Result<Vec<(u64, u64)>> {
        let mut seen = Vec::new();
        src.for_each_batch(&mut |b, pos, _| {
            seen.push((BatchView::parse(b).unwrap().header.base_offset, pos));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(seen)
    }

    #[test]
    fn visits_every_batch_across_windows_with_gaps_and_large_batches() {
        // Batches of 600 KiB cross the 1 MiB window; offsets have gaps.
        let (f, ends) = log(&[10, 11, 15, 40], 600 << 10);
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 10,
            len: ends[3],
        };
        let got = positions(&src).unwrap();
        assert_eq!(got, [(10, 0), (11, ends[0]), (15, ends[1]), (40, ends[2])]);
        // A batch larger than the window is read whole.
        let (f, ends) = log(&[0, 1], 3 << 20);
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 0,
            len: ends[1],
        };
        assert_eq!(positions(&src).unwrap(), [(0, 0), (1, ends[0])]);
    }

    #[test]
    fn damage_is_corruption_at_its_position() {
        let (f, ends) = log(&[0, 1, 2], 100);
        let src = |len| SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 0,
            len,
        };
        // Cut inside the last batch, and inside its header.
        for len in [ends[2] - 1, ends[1] + 5] {
            let err = positions(&src(len)).unwrap_err();
            assert!(
                matches!(err, Error::Corrupt { position, .. } if position == ends[1]),
                "{err}"
            );
        }
        // A flipped bit in the middle batch.
        f.write_all_at(&[0xff], ends[0] + 70).unwrap();
        let err = positions(&src(ends[2])).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { position, .. } if position == ends[0]),
            "{err}"
        );
    }

    #[test]
    fn offsets_going_backwards_or_below_the_base_are_corruption() {
        let (f, ends) = log(&[5, 3], 10);
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 0,
            len: ends[1],
        };
        let err = positions(&src).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { position, .. } if position == ends[0]),
            "{err}"
        );
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            base_offset: 6,
            ..src
        };
        assert!(matches!(
            positions(&src).unwrap_err(),
            Error::Corrupt { position: 0, .. }
        ));
    }

    #[test]
    fn a_break_stops_the_walk() {
        let (f, ends) = log(&[0, 1, 2], 10);
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: Path::new("x"),
            base_offset: 0,
            len: ends[2],
        };
        let mut n = 0;
        src.for_each_batch(&mut |_, _, _| {
            n += 1;
            Ok(ControlFlow::Break(()))
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}
