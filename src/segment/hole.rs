//! Telling power-loss damage from corruption in the active segment.
//!
//! After a power cut, a batch written but not yet synced may be missing in
//! whole sectors: the file's size reached the disk, some of its sectors did
//! not, and they read back as zeros. Batches written after it may have
//! reached the disk whole. None of them was acknowledged under
//! `SyncPolicy::Always` (an fsync of the later batch would have made the
//! earlier one durable too), so the log ends before the hole. Damage that
//! is not such a hole (flipped bits, garbage) is corruption and is
//! reported, never truncated away.

use crate::storage::StorageFile;
use std::io;

/// The unit a disk writes atomically, at the least.
pub(crate) const SECTOR_BYTES: u64 = 512;

/// A zero run this long at the start of the damage, up to its sector's end,
/// counts as a hole even when the sector began inside the batch before:
/// no real batch starts with 64 zero bytes (its length and magic are not
/// zero).
const MIN_PARTIAL_HOLE: u64 = 64;

/// Bytes read per window.
const WINDOW: u64 = 64 << 10;

/// Whether the damaged bytes `from..to` (from a batch that fails its
/// checks up to the next valid batch) contain a never-written sector: one
/// whose bytes inside `from..to` are all zero and reach the sector's end,
/// being the whole sector or at least [`MIN_PARTIAL_HOLE`] bytes of it.
pub(crate) fn has_unwritten_sector(file: &dyn StorageFile, from: u64, to: u64) -> io::Result<bool> {
    let mut buf = Vec::new();
    let mut start = from;
    while start < to {
        // Windows end on sector boundaries so no sector is split.
        let end = to.min((start + WINDOW) / SECTOR_BYTES * SECTOR_BYTES + SECTOR_BYTES);
        buf.resize((end - start) as usize, 0);
        file.read_exact_at(&mut buf, start)?;
        let mut s = start;
        while s < end {
            let sector_end = (s / SECTOR_BYTES + 1) * SECTOR_BYTES;
            let part_end = sector_end.min(end);
            let part = &buf[(s - start) as usize..(part_end - start) as usize];
            let long_enough =
                part.len() as u64 >= MIN_PARTIAL_HOLE || s.is_multiple_of(SECTOR_BYTES);
            if part_end == sector_end && long_enough && part.iter().all(|&b| b == 0) {
                return Ok(true);
            }
            s = part_end;
        }
        start = end;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MemStorage, Storage};
    use std::path::Path;
    use std::sync::Arc;

    fn file(bytes: &[u8]) -> Arc<dyn StorageFile> {
        let m = MemStorage::default();
        m.create_dir_all(Path::new("/h")).unwrap();
        let f = m.open(Path::new("/h/f"), true).unwrap();
        f.write_all_at(bytes, 0).unwrap();
        f
    }

    #[test]
    fn a_zeroed_sector_is_a_hole_and_flipped_bits_are_not() {
        let mut bytes = vec![7u8; 4 * SECTOR_BYTES as usize];
        let f = file(&bytes);
        assert!(!has_unwritten_sector(&*f, 100, 2048).unwrap());
        bytes[1024..1536].fill(0);
        let f = file(&bytes);
        assert!(has_unwritten_sector(&*f, 100, 2048).unwrap());
        // The zero sector must lie inside the damaged range.
        assert!(!has_unwritten_sector(&*f, 1536, 2048).unwrap());
        assert!(!has_unwritten_sector(&*f, 100, 1500).unwrap());
    }

    #[test]
    fn a_hole_may_start_inside_a_sector_if_it_is_long_enough() {
        let mut bytes = vec![7u8; 2 * SECTOR_BYTES as usize];
        bytes[400..512].fill(0);
        let f = file(&bytes);
        // The damage starts at 400: 112 zero bytes up to the sector's end.
        assert!(has_unwritten_sector(&*f, 400, 1024).unwrap());
        // Starting at 500, the 12 zero bytes could be a batch's own.
        assert!(!has_unwritten_sector(&*f, 500, 1024).unwrap());
    }

    #[test]
    fn windows_do_not_split_sectors() {
        let mut bytes = vec![1u8; (WINDOW + 4 * SECTOR_BYTES) as usize];
        let hole = WINDOW as usize;
        bytes[hole..hole + SECTOR_BYTES as usize].fill(0);
        let f = file(&bytes);
        assert!(has_unwritten_sector(&*f, 3, bytes.len() as u64).unwrap());
    }
}
