//! Scanning a segment file batch by batch: recovery of the active segment
//! after an unclean stop, rebuilding a sealed segment's indexes, and
//! reading just the batch headers (to rebuild the partition's producer
//! state).

use super::hole::has_unwritten_sector;
use super::index_builder::Indexes;
use super::reader::{BatchReader, Step};
use crate::batch::{BatchHeader, BatchView, ControlMarker, ControlType};
use crate::error::{Error, Result};
use crate::storage::{NamedFile, StorageFile};
use std::path::Path;

/// Bytes read per window while scanning.
const SCAN_WINDOW: usize = 1 << 20;

/// What a scan found.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Bytes of valid batches from the start of the file.
    pub valid_len: u64,
    /// The offset after the last valid batch (`base` if none).
    pub next_offset: u64,
    /// Indexes of the valid batches.
    pub indexes: Indexes,
    /// Whether bytes past `valid_len` are a torn tail to truncate.
    pub torn_tail: bool,
}

/// How to treat a batch that does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The active segment after an unclean stop: a bad batch with no valid
    /// batch after it is a torn tail; one followed by a valid batch is
    /// corruption.
    Tail,
    /// A sealed segment, synced when it was sealed: any bad batch is
    /// corruption.
    Sealed,
}

/// Bytes read per window when reading headers only: small batches still
/// come many to a read, while a large batch costs one small read, not a
/// read of its records.
const HEADER_WINDOW: usize = 16 << 10;

/// Scans `file` (a segment based at `base`) from the start, checking every
/// batch's header, CRC, records and offsets, and building its indexes.
pub(crate) fn scan(
    file: &dyn StorageFile,
    path: &Path,
    base: u64,
    index_interval: u32,
    mode: Mode,
) -> Result<Scanned> {
    scan_visiting(file, path, base, index_interval, mode, &mut |_, _| {})
}

/// [`scan`], calling `on_batch` with the header of each valid batch in
/// order: recovery collects the producer fields this way, in the same pass.
pub(crate) fn scan_visiting(
    file: &dyn StorageFile,
    path: &Path,
    base: u64,
    index_interval: u32,
    mode: Mode,
    on_batch: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
) -> Result<Scanned> {
    let file = NamedFile::new(file, path);
    let len = file.stat()?;
    let mut reader = BatchReader::new(file.clone(), 0, len, SCAN_WINDOW);
    let mut indexes = Indexes::new();
    let mut expected = base;
    loop {
        let pos = reader.pos;
        let reason = match reader.peek()? {
            Step::End => {
                return Ok(Scanned {
                    valid_len: pos,
                    next_offset: expected,
                    indexes,
                    torn_tail: false,
                })
            }
            Step::Batch(h) => match check_batch(&mut reader, &h, expected, base, mode)? {
                None => {
                    let marker = marker_at(&mut reader, &h, path)?;
                    indexes.on_batch(&h, pos as u32, base, index_interval);
                    on_batch(&h, marker);
                    expected = h.next_offset();
                    reader.advance(&h);
                    continue;
                }
                Some(reason) => reason,
            },
            Step::Partial => "batch cut off by the end of the file".to_string(),
            Step::Bad(e) => e.to_string(),
        };
        if mode == Mode::Sealed {
            return Err(Error::corrupt(path, pos, reason));
        }
        // The active segment's file is reserved ahead of its log (see
        // `SegmentState::preallocate`) and reads as zeros there: no batch starts
        // in that tail, so the search below stops where it begins.
        let data_end = file.reading(|f| end_of_data(f, pos, len))?;
        if let Some(next) = find_valid_batch(file.clone(), pos + 1, data_end, len, expected)? {
            if file.reading(|f| has_unwritten_sector(f, pos, next))? {
                // Writes that a power cut left half on disk: nothing from
                // here on was synced (see `hole`), so it is a torn tail.
                return Ok(Scanned {
                    valid_len: pos,
                    next_offset: expected,
                    indexes,
                    torn_tail: true,
                });
            }
            return Err(Error::corrupt(
                path,
                pos,
                format!("{reason}, and a valid batch follows at byte {next}: not a torn tail"),
            ));
        }
        return Ok(Scanned {
            valid_len: pos,
            next_offset: expected,
            indexes,
            torn_tail: true,
        });
    }
}

/// Calls `f` with the header of every batch in the first `len` bytes of
/// `file` (a segment based at `base`), in order, reading the headers only:
/// no CRC is checked. The bytes must be whole batches (a sealed segment, or
/// an active one already recovered): anything else is corruption.
pub(crate) fn for_each_header(
    file: &dyn StorageFile,
    path: &Path,
    base: u64,
    len: u64,
    f: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
) -> Result<()> {
    headers_from(file, path, (0, base), len, f).map(drop)
}

/// [`for_each_header`] from the batch at byte `from.0`, whose base offset
/// is at least `from.1`; returns the offset after the last batch.
pub(crate) fn headers_from(
    file: &dyn StorageFile,
    path: &Path,
    from: (u64, u64),
    len: u64,
    f: &mut dyn FnMut(&BatchHeader, Option<ControlType>),
) -> Result<u64> {
    let mut reader = BatchReader::new(NamedFile::new(file, path), from.0, len, HEADER_WINDOW);
    let mut expected = from.1;
    loop {
        let pos = reader.pos;
        let reason = match reader.peek()? {
            Step::End => return Ok(expected),
            Step::Batch(h) if h.base_offset >= expected => {
                let marker = marker_at(&mut reader, &h, path)?;
                f(&h, marker);
                expected = h.next_offset();
                reader.advance(&h);
                continue;
            }
            Step::Batch(h) => format!(
                "batch base offset {} does not follow the previous batch (expected {expected})",
                h.base_offset
            ),
            Step::Partial => "batch cut off by the end of the file".to_string(),
            Step::Bad(e) => e.to_string(),
        };
        return Err(Error::corrupt(path, pos, reason));
    }
}

/// The marker a control batch at the reader's position carries (`None`
/// for any other batch): read whole, it is a few dozen bytes. A control
/// batch without a marker this version knows is corruption.
pub(super) fn marker_at(
    reader: &mut BatchReader<'_>,
    h: &BatchHeader,
    path: &Path,
) -> Result<Option<ControlType>> {
    if !h.is_control() {
        return Ok(None);
    }
    let pos = reader.pos;
    let bytes = reader.batch(h)?;
    match BatchView::trusted(bytes).map(|v| ControlMarker::decode(&v)) {
        Some(Ok(m)) => Ok(Some(m.kind)),
        Some(Err(e)) => Err(Error::corrupt(path, pos, e.to_string())),
        None => Err(Error::corrupt(path, pos, "a control batch cut short")),
    }
}

/// `None` if the batch at the reader's position is whole and valid and has
/// the offsets expected after `expected`; otherwise what is wrong.
pub(crate) fn check_batch(
    reader: &mut BatchReader<'_>,
    h: &BatchHeader,
    expected: u64,
    base: u64,
    mode: Mode,
) -> Result<Option<String>> {
    // The active segment is never compacted, so its offsets are dense;
    // a sealed one may have gaps after compaction.
    let in_order = match mode {
        Mode::Tail => h.base_offset == expected,
        Mode::Sealed => h.base_offset >= expected,
    };
    if !in_order {
        return Ok(Some(format!(
            "batch base offset {} does not follow the previous batch (expected {expected})",
            h.base_offset
        )));
    }
    if h.last_offset() - base > u64::from(u32::MAX) {
        return Ok(Some("batch offsets overflow the segment".into()));
    }
    let bytes = reader.batch(h)?;
    Ok(BatchView::parse(bytes).err().map(|e| e.to_string()))
}

/// The end of the last non-zero byte in `from..len` (`from` if they are
/// all zero), read backwards a window at a time, so a zero tail costs one
/// read of itself.
fn end_of_data(file: &dyn StorageFile, from: u64, len: u64) -> std::io::Result<u64> {
    let mut buf = Vec::new();
    let mut end = len;
    while end > from {
        let start = end.saturating_sub(SCAN_WINDOW as u64).max(from);
        buf.resize((end - start) as usize, 0);
        file.read_exact_at(&mut buf, start)?;
        // Whole chunks are tested by OR-ing their bytes, which vectorizes;
        // only the last non-zero chunk is searched byte by byte.
        let mut chunk_end = buf.len();
        for chunk in buf.rchunks(4096) {
            if chunk.iter().fold(0, |acc, &b| acc | b) != 0 {
                let i = chunk.iter().rposition(|&b| b != 0).unwrap_or(0);
                return Ok(start + (chunk_end - chunk.len() + i) as u64 + 1);
            }
            chunk_end -= chunk.len();
        }
        end = start;
    }
    Ok(from)
}

/// The position of the first valid batch starting in `from..until` (and
/// ending by `end`) whose base offset is at least `expected`, if any. Used
/// to tell a torn tail (nothing valid after the damage) from corruption in
/// the middle of the log.
fn find_valid_batch(
    file: NamedFile<'_, &dyn StorageFile>,
    from: u64,
    until: u64,
    end: u64,
    expected: u64,
) -> Result<Option<u64>> {
    let mut reader = BatchReader::new(file, from, end, SCAN_WINDOW);
    let mut pos = from;
    while pos < until && pos + BatchHeader::SIZE as u64 <= end {
        // Cheap filter first: the magic byte at its place.
        if reader.bytes_at(pos + 12, 1)?[0] == crate::batch::MAGIC {
            reader.pos = pos;
            if let Step::Batch(h) = reader.peek()? {
                if h.base_offset >= expected && BatchView::parse(reader.batch(&h)?).is_ok() {
                    return Ok(Some(pos));
                }
            }
        }
        pos += 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::record::Record;
    use crate::storage::{MemStorage, Storage};

    /// A segment file of `n` one-record batches, and the end of each batch.
    fn segment(n: u64) -> (std::sync::Arc<dyn StorageFile>, Vec<u64>) {
        let m = MemStorage::default();
        m.create_dir_all(Path::new("/s")).unwrap();
        let f = m.open(Path::new("/s/0.log"), true).unwrap();
        let mut ends = Vec::new();
        let mut pos = 0;
        for i in 0..n {
            let v = format!("value-{i}");
            let mut b = BatchBuilder::new(1024, 0);
            b.push(&Record::new(&v), i as i64).unwrap();
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(i);
            f.write_all_at(&bytes, pos).unwrap();
            pos += bytes.len() as u64;
            ends.push(pos);
        }
        (f, ends)
    }

    #[test]
    fn clean_file_scans_whole() {
        let (f, ends) = segment(5);
        let s = scan(&*f, Path::new("x"), 0, 64, Mode::Tail).unwrap();
        assert_eq!(s.valid_len, ends[4]);
        assert_eq!(s.next_offset, 5);
        assert!(!s.torn_tail);
        assert!(
            !s.indexes.offset.is_empty(),
            "64-byte interval gives entries"
        );
    }

    #[test]
    fn every_cut_inside_the_last_batch_is_a_torn_tail() {
        let (f, ends) = segment(3);
        for cut in ends[1] + 1..ends[2] {
            f.set_len(ends[2]).unwrap();
            let (full, _) = segment(3);
            let bytes = crate::storage::read_all(&*full).unwrap();
            f.write_all_at(&bytes, 0).unwrap();
            f.set_len(cut).unwrap();
            let s = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap();
            assert_eq!(
                (s.valid_len, s.next_offset, s.torn_tail),
                (ends[1], 2, true),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn damage_followed_by_a_valid_batch_is_corruption() {
        let (f, ends) = segment(3);
        // Fault: one flipped bit in the middle batch's value.
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, ends[1] - 3).unwrap();
        f.write_all_at(&[b[0] ^ 1], ends[1] - 3).unwrap();
        let err = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { position, .. } if position == ends[0]),
            "{err}"
        );
    }

    #[test]
    fn an_unwritten_sector_followed_by_a_valid_batch_is_a_torn_tail() {
        // Batches of ~1,200 bytes, so each spans a whole 512-byte sector.
        let m = MemStorage::default();
        m.create_dir_all(Path::new("/s")).unwrap();
        let f = m.open(Path::new("/s/0.log"), true).unwrap();
        let mut ends = vec![0];
        for i in 0..3u64 {
            let v = vec![i as u8 + 1; 1200];
            let mut b = BatchBuilder::new(4096, 0);
            b.push(&Record::new(&v), 0).unwrap();
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(i);
            f.write_all_at(&bytes, ends[i as usize]).unwrap();
            ends.push(ends[i as usize] + bytes.len() as u64);
        }
        // Fault: a power cut; the second batch's first whole sector never
        // reached the disk (zeros), the third batch did.
        let sector = ends[1].next_multiple_of(512);
        f.write_all_at(&[0; 512], sector).unwrap();
        assert!(sector + 512 <= ends[2]);
        let s = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap();
        assert_eq!(
            (s.valid_len, s.next_offset, s.torn_tail),
            (ends[1], 1, true)
        );
        // The same hole in a sealed segment is corruption.
        let err = scan(&*f, Path::new("x"), 0, 4096, Mode::Sealed).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }

    #[test]
    fn scan_visits_each_valid_batch_once() {
        let (f, ends) = segment(3);
        f.set_len(ends[2] - 1).unwrap();
        let mut seen = Vec::new();
        let s = scan_visiting(&*f, Path::new("x"), 0, 4096, Mode::Tail, &mut |h, _| {
            seen.push(h.base_offset)
        })
        .unwrap();
        assert!(s.torn_tail);
        assert_eq!(seen, [0, 1]);
    }

    #[test]
    fn headers_are_read_in_order_and_damage_is_corruption() {
        let (f, ends) = segment(4);
        let mut seen = Vec::new();
        for_each_header(&*f, Path::new("x"), 0, ends[3], &mut |h, _| {
            seen.push(h.base_offset)
        })
        .unwrap();
        assert_eq!(seen, [0, 1, 2, 3]);
        // Fault: the third batch's magic byte.
        f.write_all_at(&[9], ends[1] + 12).unwrap();
        let err = for_each_header(&*f, Path::new("x"), 0, ends[3], &mut |_, _| {}).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { position, .. } if position == ends[1]),
            "{err}"
        );
        // A length that runs past the end is corruption too.
        let err = for_each_header(&*f, Path::new("x"), 0, ends[0] - 1, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, Error::Corrupt { position: 0, .. }), "{err}");
    }

    #[test]
    fn end_of_data_finds_the_last_non_zero_byte_across_chunks_and_windows() {
        let m = MemStorage::default();
        m.create_dir_all(Path::new("/z")).unwrap();
        let f = m.open(Path::new("/z/f"), true).unwrap();
        let len = 3 * SCAN_WINDOW as u64 + 777;
        f.set_len(len).unwrap();
        assert_eq!(end_of_data(&*f, 0, len).unwrap(), 0);
        assert_eq!(end_of_data(&*f, 10, len).unwrap(), 10);
        // Last bytes of chunks and windows, first bytes, and a byte below
        // `from` (which must not count).
        for at in [
            0,
            1,
            4095,
            4096,
            SCAN_WINDOW as u64 - 1,
            SCAN_WINDOW as u64,
            len - 1,
        ] {
            f.write_all_at(&[1], at).unwrap();
            assert_eq!(end_of_data(&*f, 0, len).unwrap(), at + 1, "byte at {at}");
            assert_eq!(end_of_data(&*f, at + 1, len).unwrap(), at + 1);
            f.write_all_at(&[0], at).unwrap();
        }
    }

    #[test]
    fn a_preallocated_zero_tail_is_torn() {
        let (f, ends) = segment(3);
        // Fault: a power cut after the file was preallocated 3 MiB ahead,
        // the third batch half written.
        f.set_len(ends[2] + (3 << 20)).unwrap();
        f.write_all_at(&[0; 20], ends[1] + 5).unwrap();
        let s = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap();
        assert!(s.torn_tail);
        assert_eq!((s.valid_len, s.next_offset), (ends[1], 2));
    }

    #[test]
    fn a_valid_batch_before_the_reserved_tail_is_still_found() {
        let (f, ends) = segment(4);
        // Fault: flipped bits in the third batch, the fourth intact, then
        // 2 MiB of reserved zeros. The fourth batch ends in zero bytes
        // (its header count), so it reaches into what looks like the zero
        // tail; it must still be found, making the damage corruption.
        f.set_len(ends[3] + (2 << 20)).unwrap();
        f.write_all_at(&[0xff; 8], ends[1] + 20).unwrap();
        let err = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { position, .. } if position == ends[1]),
            "{err}"
        );
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let (f, ends) = segment(2);
        // Fault: the file grew without its data (delayed allocation).
        f.set_len(ends[1] + 5000).unwrap();
        let s = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap();
        assert_eq!((s.valid_len, s.torn_tail), (ends[1], true));
    }

    #[test]
    fn sealed_mode_reports_any_damage() {
        let (f, ends) = segment(2);
        f.set_len(ends[1] - 1).unwrap();
        let err = scan(&*f, Path::new("x"), 0, 4096, Mode::Sealed).unwrap_err();
        assert!(matches!(err, Error::Corrupt { position, .. } if position == ends[0]));
    }

    #[test]
    fn offsets_out_of_order_are_damage_even_with_a_valid_crc() {
        for claimed in [0u64, 5] {
            let (f, ends) = segment(2);
            // Fault: the second batch claims another base offset, with a CRC
            // recomputed to match (as a buggy writer would produce).
            let mut second = vec![0u8; (ends[1] - ends[0]) as usize];
            f.read_exact_at(&mut second, ends[0]).unwrap();
            second[0..8].copy_from_slice(&claimed.to_le_bytes());
            crate::batch::write_crc(&mut second);
            f.write_all_at(&second, ends[0]).unwrap();
            let s = scan(&*f, Path::new("x"), 0, 4096, Mode::Tail).unwrap();
            assert_eq!(
                (s.valid_len, s.next_offset),
                (ends[0], 1),
                "claimed {claimed}"
            );
        }
    }
}
