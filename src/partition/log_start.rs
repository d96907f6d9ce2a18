//! The log start offset checkpoint: where `delete_records` moved the start
//! of a partition's log, so a restart never serves records it deleted.
//!
//! Retention deletes whole segments, and the first remaining segment's
//! base is then the log start; `delete_records` may move the start inside
//! a segment, which only this file remembers. It is written atomically
//! (temp file, sync, rename, directory sync) before the start moves, and
//! read at open, where the start is the larger of it and the first
//! segment's base (Kafka's `log-start-offset-checkpoint`, per partition).
//!
//! The cleaner's checkpoint (`cleaner-offset-checkpoint`, magic "SMCC")
//! has the same layout: the first offset a compaction pass has not yet
//! covered (the log below it is clean), written before a pass swaps any
//! segment in; a sealed segment below it may end before the next
//! segment's base (compaction removed its last records).
//!
//! Layout (little-endian):
//!
//! ```text
//!  0 magic        u32  "SMLS" (log start) or "SMCC" (cleaner)
//!  4 version      u8   1
//!  5 offset       u64  the first offset still readable / not yet clean
//! 13 crc          u32  CRC-32 of bytes 0..13
//! ```

use crate::error::{Error, Result};
use crate::storage::{CheckedStorage, Storage};
use byteorder::{ByteOrder, LittleEndian as LE};
use std::path::Path;

/// One kind of offset checkpoint: its file name and magic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub file_name: &'static str,
    magic: u32,
}

/// Where `delete_records` moved the log start.
pub(crate) const LOG_START: Kind = Kind {
    file_name: "log-start-offset",
    magic: u32::from_le_bytes(*b"SMLS"),
};

/// Where the last compaction pass ended.
pub(crate) const CLEANER: Kind = Kind {
    file_name: "cleaner-offset-checkpoint",
    magic: u32::from_le_bytes(*b"SMCC"),
};

/// File name of the log start checkpoint inside a partition directory.
#[cfg(test)]
pub(crate) const FILE_NAME: &str = LOG_START.file_name;
const VERSION: u8 = 1;
const SIZE: usize = 17;

fn encode(kind: Kind, offset: u64) -> [u8; SIZE] {
    let mut buf = [0u8; SIZE];
    LE::write_u32(&mut buf[0..4], kind.magic);
    buf[4] = VERSION;
    LE::write_u64(&mut buf[5..13], offset);
    let crc = crc32fast::hash(&buf[..13]);
    LE::write_u32(&mut buf[13..17], crc);
    buf
}

fn decode(kind: Kind, buf: &[u8]) -> std::result::Result<u64, &'static str> {
    if buf.len() != SIZE {
        return Err("not 17 bytes long");
    }
    if LE::read_u32(&buf[0..4]) != kind.magic {
        return Err("bad magic");
    }
    if buf[4] != VERSION {
        return Err("unknown version");
    }
    if LE::read_u32(&buf[13..17]) != crc32fast::hash(&buf[..13]) {
        return Err("CRC mismatch");
    }
    Ok(LE::read_u64(&buf[5..13]))
}

/// The checkpointed log start of the partition in `dir`, if one was
/// written. A damaged checkpoint is [`Error::Corrupt`]: how far records
/// were deleted cannot be known, and guessing low would serve deleted
/// records again (removing the file accepts exactly that).
pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<u64>> {
    read_kind(LOG_START, storage, dir)
}

/// The checkpoint of `kind` in `dir`, if one was written; damage is
/// [`Error::Corrupt`].
pub(crate) fn read_kind(kind: Kind, storage: &dyn Storage, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(kind.file_name);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let file = storage.open_file(&path)?;
    let len = file.stat()?;
    if len != SIZE as u64 {
        return Err(Error::corrupt(
            &path,
            0,
            format!("offset checkpoint of {len} bytes, not {SIZE}"),
        ));
    }
    let bytes = file.read_all()?;
    decode(kind, &bytes)
        .map(Some)
        .map_err(|why| Error::corrupt(&path, 0, format!("offset checkpoint: {why}")))
}

/// Durably records `log_start` for the partition in `dir`.
pub(crate) fn write(storage: &dyn Storage, dir: &Path, log_start: u64) -> Result<()> {
    write_kind(LOG_START, storage, dir, log_start)
}

/// Durably records `offset` in the checkpoint of `kind` in `dir`.
pub(crate) fn write_kind(kind: Kind, storage: &dyn Storage, dir: &Path, offset: u64) -> Result<()> {
    storage.write_atomically(dir, kind.file_name, &encode(kind, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    #[test]
    fn round_trips_and_every_damage_is_corrupt() {
        let m = MemStorage::default();
        let dir = Path::new("/p");
        m.create_dir_all(dir).unwrap();
        assert_eq!(read(&m, dir).unwrap(), None);
        write(&m, dir, 1234).unwrap();
        assert_eq!(read(&m, dir).unwrap(), Some(1234));
        let good = encode(LOG_START, 1234);
        // The other kind's file is not this one's.
        assert!(decode(CLEANER, &good).is_err());
        // Fault: every single bit flipped, and every shorter or longer file.
        for i in 0..SIZE * 8 {
            let mut b = good;
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode(LOG_START, &b).is_err(), "flip of bit {i}");
        }
        for len in (0..SIZE).chain([SIZE + 1, 1 << 20]) {
            let mut b = good.to_vec();
            b.resize(len, 0);
            crate::storage::write_atomic(&m, dir, FILE_NAME, &b).unwrap();
            let err = read(&m, dir).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{len} bytes: {err}");
        }
    }
}
