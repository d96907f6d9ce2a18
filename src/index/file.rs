//! Index files: the entries, then a 16-byte trailer that makes a damaged,
//! truncated or stale index file recognisable, so it is rebuilt instead of
//! trusted.
//!
//! ```text
//! entries ... | log_size u64 | crc u32 | magic u32 |
//! ```
//!
//! `log_size` is the length of the `.log` file the entries describe, `crc`
//! the CRC-32 of the entries and `log_size`, `magic` names the index kind.

use byteorder::{ByteOrder, LittleEndian as LE};

/// Bytes of the trailer.
pub(crate) const TRAILER_SIZE: usize = 16;

/// Which index a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexKind {
    Offset,
    Time,
}

impl IndexKind {
    fn magic(self) -> u32 {
        match self {
            IndexKind::Offset => u32::from_le_bytes(*b"SMOI"),
            IndexKind::Time => u32::from_le_bytes(*b"SMTI"),
        }
    }
}

fn crc(entries: &[u8], log_size: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(entries);
    h.update(&log_size.to_le_bytes());
    h.finalize()
}

/// The file contents for `entries` of an index over a log of `log_size` bytes.
pub(crate) fn encode(kind: IndexKind, entries: &[u8], log_size: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() + TRAILER_SIZE);
    out.extend_from_slice(entries);
    let mut t = [0u8; TRAILER_SIZE];
    LE::write_u64(&mut t[0..8], log_size);
    LE::write_u32(&mut t[8..12], crc(entries, log_size));
    LE::write_u32(&mut t[12..16], kind.magic());
    out.extend_from_slice(&t);
    out
}

/// How many bytes of `file` are entries, if its trailer is intact, of
/// `kind`, and describes a log of exactly `log_size` bytes.
pub(crate) fn entries_len(kind: IndexKind, file: &[u8], log_size: u64) -> Option<usize> {
    let n = file.len().checked_sub(TRAILER_SIZE)?;
    let t = &file[n..];
    let intact = LE::read_u32(&t[12..16]) == kind.magic()
        && LE::read_u64(&t[0..8]) == log_size
        && LE::read_u32(&t[8..12]) == crc(&file[..n], log_size);
    intact.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_damage_is_caught() {
        let entries: Vec<u8> = (0..48u8).collect();
        let file = encode(IndexKind::Offset, &entries, 4096);
        assert_eq!(entries_len(IndexKind::Offset, &file, 4096), Some(48));
        assert_eq!(
            entries_len(IndexKind::Time, &file, 4096),
            None,
            "wrong kind"
        );
        assert_eq!(entries_len(IndexKind::Offset, &file, 4097), None, "stale");
        for cut in 0..file.len() {
            assert_eq!(
                entries_len(IndexKind::Offset, &file[..cut], 4096),
                None,
                "cut {cut}"
            );
        }
        for i in 0..file.len() {
            let mut f = file.clone();
            f[i] ^= 4;
            assert_eq!(entries_len(IndexKind::Offset, &f, 4096), None, "flip {i}");
        }
        let empty = encode(IndexKind::Time, &[], 0);
        assert_eq!(entries_len(IndexKind::Time, &empty, 0), Some(0));
    }
}
