//! The clean-shutdown marker: written last by `close`, voided before the
//! first change after `open`. Its presence lets open skip scanning the
//! active segment; its contents say what the active segment looked like,
//! so a marker that does not match the files is ignored and the segment is
//! scanned after all. Since version 2 it also carries the producer state as
//! of the log end, so a clean open reads no batch and a close writes one
//! file (in place) instead of a snapshot too.
//!
//! Layout (little-endian):
//!
//! ```text
//!  0 magic        u32  "SMCS"
//!  4 version      u8   2 (1: written by samsa 0.1, the header alone)
//!  5 base_offset  u64  active segment's base offset
//! 13 next_offset  u64  offset after the last record
//! 21 log_size     u64  bytes in the active segment's log file
//! 29 crc          u32  CRC-32 of bytes 0..29
//! 33 producers         version 2: a producer state snapshot as of
//!                      next_offset, in the `.snapshot` file's format
//!                      (its own CRC)
//! ```

use super::producer_snapshot;
use super::producer_state::ProducerState;
use byteorder::{ByteOrder, LittleEndian as LE};

/// File name of the marker inside a partition directory.
pub(crate) const FILE_NAME: &str = ".clean_shutdown";

const MAGIC: u32 = u32::from_le_bytes(*b"SMCS");
const VERSION: u8 = 1;
/// The version with the producer state after the header.
const VERSION_WITH_PRODUCERS: u8 = 2;

/// What a clean shutdown recorded about the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanShutdown {
    pub base_offset: u64,
    pub next_offset: u64,
    pub log_size: u64,
}

impl CleanShutdown {
    pub const SIZE: usize = 33;

    /// The header alone (version 1).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn encode_into(&self, buf: &mut [u8]) {
        self.encode_header(buf, VERSION);
    }

    fn encode_header(&self, buf: &mut [u8], version: u8) {
        LE::write_u32(&mut buf[0..4], MAGIC);
        buf[4] = version;
        LE::write_u64(&mut buf[5..13], self.base_offset);
        LE::write_u64(&mut buf[13..21], self.next_offset);
        LE::write_u64(&mut buf[21..29], self.log_size);
        let crc = crc32fast::hash(&buf[..29]);
        LE::write_u32(&mut buf[29..33], crc);
    }

    /// `None` for anything but an intact version 1 marker: a damaged
    /// marker only costs a scan, so it is not an error.
    pub fn decode_from(buf: &[u8]) -> Option<Self> {
        if buf.len() != Self::SIZE {
            return None;
        }
        Self::decode_header(buf, VERSION)
    }

    fn decode_header(buf: &[u8], version: u8) -> Option<Self> {
        if buf.len() < Self::SIZE
            || LE::read_u32(&buf[0..4]) != MAGIC
            || buf[4] != version
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

    /// The marker file (version 2): the header, then `producers` as of the
    /// log end.
    pub fn encode_file(&self, producers: &ProducerState) -> Vec<u8> {
        let mut buf = vec![0u8; Self::SIZE];
        self.encode_header(&mut buf, VERSION_WITH_PRODUCERS);
        buf.extend_from_slice(&producer_snapshot::encode(self.next_offset, producers));
        buf
    }

    /// An intact marker file of either version, with the producer state a
    /// version 2 one carries; `None` for anything else.
    pub fn decode_file(buf: &[u8]) -> Option<(Self, Option<ProducerState>)> {
        if buf.len() == Self::SIZE {
            return Self::decode_from(buf).map(|m| (m, None));
        }
        let m = Self::decode_header(buf, VERSION_WITH_PRODUCERS)?;
        let producers = producer_snapshot::decode(&buf[Self::SIZE..], m.next_offset)?;
        Some((m, Some(producers)))
    }

    /// The longest a marker file whose first [`Self::SIZE`] bytes are
    /// `header` can be (`None` if they are no marker header): a file any
    /// longer is not one, and is not read.
    pub fn max_file_size(header: &[u8]) -> Option<u64> {
        if let Some(_v1) = Self::decode_header(header, VERSION) {
            return Some(Self::SIZE as u64);
        }
        let m = Self::decode_header(header, VERSION_WITH_PRODUCERS)?;
        Some((Self::SIZE as u64).saturating_add(producer_snapshot::max_file_size(m.next_offset)))
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

    #[test]
    fn the_file_carries_the_producer_state() {
        let m = CleanShutdown {
            base_offset: 7,
            next_offset: 99,
            log_size: 12345,
        };
        let state = ProducerState::default();
        let file = m.encode_file(&state);
        let (back, producers) = CleanShutdown::decode_file(&file).unwrap();
        assert_eq!(back, m);
        assert!(producers.is_some());
        for i in 0..file.len() {
            let mut b = file.clone();
            b[i] ^= 0x08;
            assert!(CleanShutdown::decode_file(&b).is_none(), "flip at {i}");
        }
        for cut in 0..file.len() {
            assert!(
                CleanShutdown::decode_file(&file[..cut]).is_none() || cut == CleanShutdown::SIZE
            );
        }
        // A version 1 marker (samsa 0.1) still reads, without a state.
        let mut v1 = [0u8; CleanShutdown::SIZE];
        m.encode_into(&mut v1);
        assert_eq!(CleanShutdown::decode_file(&v1), Some((m, None)));
    }
}
