//! The clean-shutdown marker: written last by `close`, removed first by
//! `open`. Its presence lets open skip scanning the active segment; its
//! contents say what the active segment looked like, so a marker that does
//! not match the files is ignored and the segment is scanned after all.
//!
//! Layout (little-endian):
//!
//! ```text
//!  0 magic        u32  "SMCS"
//!  4 version      u8   1
//!  5 base_offset  u64  active segment's base offset
//! 13 next_offset  u64  offset after the last record
//! 21 log_size     u64  bytes in the active segment's log file
//! 29 crc          u32  CRC-32 of bytes 0..29
//! ```

use byteorder::{ByteOrder, LittleEndian as LE};

/// File name of the marker inside a partition directory.
pub(crate) const FILE_NAME: &str = ".clean_shutdown";

const MAGIC: u32 = u32::from_le_bytes(*b"SMCS");
const VERSION: u8 = 1;

/// What a clean shutdown recorded about the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanShutdown {
    pub base_offset: u64,
    pub next_offset: u64,
    pub log_size: u64,
}

impl CleanShutdown {
    pub const SIZE: usize = 33;

    pub fn encode_into(&self, buf: &mut [u8]) {
        LE::write_u32(&mut buf[0..4], MAGIC);
        buf[4] = VERSION;
        LE::write_u64(&mut buf[5..13], self.base_offset);
        LE::write_u64(&mut buf[13..21], self.next_offset);
        LE::write_u64(&mut buf[21..29], self.log_size);
        let crc = crc32fast::hash(&buf[..29]);
        LE::write_u32(&mut buf[29..33], crc);
    }

    /// `None` for anything but an intact marker of this version: a damaged
    /// marker only costs a scan, so it is not an error.
    pub fn decode_from(buf: &[u8]) -> Option<Self> {
        if buf.len() != Self::SIZE
            || LE::read_u32(&buf[0..4]) != MAGIC
            || buf[4] != VERSION
            || LE::read_u32(&buf[29..33]) != crc32fast::hash(&buf[..29])
        {
            return None;
        }
        Some(CleanShutdown {
            base_offset: LE::read_u64(&buf[5..13]),
            next_offset: LE::read_u64(&buf[13..21]),
            log_size: LE::read_u64(&buf[21..29]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = CleanShutdown {
            base_offset: 7,
            next_offset: 99,
            log_size: 12345,
        };
        let mut buf = [0u8; CleanShutdown::SIZE];
        m.encode_into(&mut buf);
        assert_eq!(CleanShutdown::decode_from(&buf), Some(m));
        for i in 0..buf.len() {
            let mut b = buf;
            b[i] ^= 0x10;
            assert_eq!(CleanShutdown::decode_from(&b), None, "flip at {i}");
        }
        assert_eq!(CleanShutdown::decode_from(&buf[..20]), None);
    }
}
