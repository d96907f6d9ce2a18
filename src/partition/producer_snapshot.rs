//! Producer state snapshot files (`<offset>.snapshot`), as Kafka writes
//! them: the idempotence state as of a log offset, written at each segment
//! roll (as of the new segment's base offset) and at close (as of the log
//! end), so that open replays only the batch headers after the newest one.
//!
//! Layout (little-endian; see `docs/FORMAT.md`):
//!
//! ```text
//!  0 magic        u32  "SMPS"
//!  4 version      u8   2 (1 is read too: no transactions)
//!  5 offset       u64  the state covers every batch below this offset
//! 13 producers    u32  number of producer entries
//! 17 entries, by ascending producer id, each:
//!      0 producer_id  i64
//!      8 epoch        i16
//!     10 txn_first    u64  (version 2 only) first offset of the
//!                          producer's open transaction; u64::MAX: none
//!   10/18 batches     u8   0..=5 (1..=5 in version 1; 0 only after a
//!                          marker moved the producer to a new epoch),
//!                          oldest first, each 32 bytes:
//!          0 first_sequence  i32
//!          4 last_sequence   i32
//!          8 base_offset     u64
//!         16 last_offset     u64
//!         24 max_timestamp   i64
//! end-4 crc        u32  CRC-32 of every byte before it
//! ```
//!
//! Unlike Kafka's snapshot, which keeps only each producer's last batch,
//! this one keeps all retained batches, so a retry of any of the last five
//! is still recognised after a restart.
//!
//! A snapshot is derived data: a missing or damaged one costs a replay of
//! more batch headers, never an error.

use super::producer_state::{BatchMetadata, ProducerEntry, ProducerState, BATCHES_RETAINED};
use crate::error::Result;
use crate::storage::{read_all, write_atomic, CheckedStorage, Storage};
use byteorder::{ByteOrder, LittleEndian as LE};
use std::collections::VecDeque;
use std::path::Path;

const MAGIC: u32 = u32::from_le_bytes(*b"SMPS");
const VERSION: u8 = 2;
/// The version before transactions: entries have no `txn_first`.
const VERSION_1: u8 = 1;
/// `txn_first` of a producer with no open transaction.
const NO_TXN: u64 = u64::MAX;
const SUFFIX: &str = ".snapshot";

/// Snapshot files kept, as Kafka keeps two: the newest, and one to fall
/// back on if the newest is damaged. Older ones are deleted once a newer
/// one is durable.
pub(crate) const SNAPSHOTS_RETAINED: usize = 2;

/// File name of the snapshot as of `offset`.
pub(crate) fn file_name(offset: u64) -> String {
    format!("{offset:020}{SUFFIX}")
}

/// The offset named by a snapshot file name, if it is one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The largest snapshot a log of `offset` records can have: every record
/// from a different producer at most. A longer file is damaged and is not
/// read whole.
pub(crate) fn max_file_size(offset: u64) -> u64 {
    let entry = (EntryHeader::SIZE_V2 + BATCH_SIZE * BATCHES_RETAINED) as u64;
    offset
        .saturating_mul(entry)
        .saturating_add((SnapshotHeader::SIZE + TRAILER_SIZE) as u64)
}

/// The fixed front of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SnapshotHeader {
    version: u8,
    offset: u64,
    producers: u32,
}

impl SnapshotHeader {
    const SIZE: usize = 17;

    fn encode_into(&self, buf: &mut [u8]) {
        LE::write_u32(&mut buf[0..4], MAGIC);
        buf[4] = self.version;
        LE::write_u64(&mut buf[5..13], self.offset);
        LE::write_u32(&mut buf[13..17], self.producers);
    }

    fn decode_from(buf: &[u8]) -> Option<Self> {
        let b = buf.get(..Self::SIZE)?;
        if LE::read_u32(&b[0..4]) != MAGIC || !(b[4] == VERSION || b[4] == VERSION_1) {
            return None;
        }
        Some(SnapshotHeader {
            version: b[4],
            offset: LE::read_u64(&b[5..13]),
            producers: LE::read_u32(&b[13..17]),
        })
    }
}

/// The front of one producer entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryHeader {
    producer_id: i64,
    epoch: i16,
    /// `NO_TXN` when none (and always in version 1).
    txn_first: u64,
    batches: u8,
}

impl EntryHeader {
    const SIZE_V1: usize = 11;
    const SIZE_V2: usize = 19;

    fn size(version: u8) -> usize {
        if version == VERSION_1 {
            Self::SIZE_V1
        } else {
            Self::SIZE_V2
        }
    }

    fn encode_into(&self, buf: &mut [u8]) {
        LE::write_i64(&mut buf[0..8], self.producer_id);
        LE::write_i16(&mut buf[8..10], self.epoch);
        LE::write_u64(&mut buf[10..18], self.txn_first);
        buf[18] = self.batches;
    }

    fn decode_from(buf: &[u8], version: u8) -> Self {
        let (txn_first, batches) = if version == VERSION_1 {
            (NO_TXN, buf[10])
        } else {
            (LE::read_u64(&buf[10..18]), buf[18])
        };
        EntryHeader {
            producer_id: LE::read_i64(&buf[0..8]),
            epoch: LE::read_i16(&buf[8..10]),
            txn_first,
            batches,
        }
    }
}

/// Encoded size of one [`BatchMetadata`].
const BATCH_SIZE: usize = 32;
/// The CRC at the end.
const TRAILER_SIZE: usize = 4;

fn encode_batch(b: &BatchMetadata, buf: &mut [u8]) {
    LE::write_i32(&mut buf[0..4], b.first_seq);
    LE::write_i32(&mut buf[4..8], b.last_seq);
    LE::write_u64(&mut buf[8..16], b.base_offset);
    LE::write_u64(&mut buf[16..24], b.last_offset);
    LE::write_i64(&mut buf[24..32], b.max_timestamp);
}

fn decode_batch(buf: &[u8]) -> BatchMetadata {
    BatchMetadata {
        first_seq: LE::read_i32(&buf[0..4]),
        last_seq: LE::read_i32(&buf[4..8]),
        base_offset: LE::read_u64(&buf[8..16]),
        last_offset: LE::read_u64(&buf[16..24]),
        max_timestamp: LE::read_i64(&buf[24..32]),
    }
}

/// The bytes of a snapshot of `state` as of `offset`.
pub(crate) fn encode(offset: u64, state: &ProducerState) -> Vec<u8> {
    let entries = state.entries();
    let size = SnapshotHeader::SIZE
        + entries
            .iter()
            .map(|(_, e)| EntryHeader::SIZE_V2 + BATCH_SIZE * e.batches.len())
            .sum::<usize>()
        + TRAILER_SIZE;
    let mut buf = vec![0u8; size];
    SnapshotHeader {
        version: VERSION,
        offset,
        producers: entries.len() as u32,
    }
    .encode_into(&mut buf);
    let mut at = SnapshotHeader::SIZE;
    for (id, e) in entries {
        EntryHeader {
            producer_id: id,
            epoch: e.epoch,
            txn_first: e.txn_first_offset.unwrap_or(NO_TXN),
            batches: e.batches.len() as u8,
        }
        .encode_into(&mut buf[at..]);
        at += EntryHeader::SIZE_V2;
        for b in &e.batches {
            encode_batch(b, &mut buf[at..at + BATCH_SIZE]);
            at += BATCH_SIZE;
        }
    }
    let crc = crc32fast::hash(&buf[..at]);
    LE::write_u32(&mut buf[at..], crc);
    buf
}

/// The state in `buf` if it is an intact snapshot as of `offset`; `None`
/// otherwise. Every count is checked against the bytes present before it is
/// used, and the entries against each other.
pub(crate) fn decode(buf: &[u8], offset: u64) -> Option<ProducerState> {
    let body_len = buf.len().checked_sub(TRAILER_SIZE)?;
    let (body, trailer) = buf.split_at(body_len);
    if LE::read_u32(trailer) != crc32fast::hash(body) {
        return None;
    }
    let header = SnapshotHeader::decode_from(body)?;
    if header.offset != offset {
        return None;
    }
    let mut state = ProducerState::default();
    let mut at = SnapshotHeader::SIZE;
    let mut last_id = -1i64;
    for _ in 0..header.producers {
        let size = EntryHeader::size(header.version);
        let e = EntryHeader::decode_from(body.get(at..at + size)?, header.version);
        at += size;
        let n = usize::from(e.batches);
        let txn_first = (e.txn_first != NO_TXN).then_some(e.txn_first);
        if e.producer_id <= last_id
            || n > BATCHES_RETAINED
            || (n == 0 && header.version == VERSION_1)
            || txn_first.is_some_and(|f| f >= offset)
        {
            return None;
        }
        last_id = e.producer_id;
        let bytes = body.get(at..at + n * BATCH_SIZE)?;
        at += n * BATCH_SIZE;
        let mut batches = VecDeque::with_capacity(BATCHES_RETAINED);
        let mut next_offset = 0;
        for chunk in bytes.chunks_exact(BATCH_SIZE) {
            let b = decode_batch(chunk);
            if b.first_seq < 0
                || b.last_seq < 0
                || b.base_offset < next_offset
                || b.last_offset < b.base_offset
                || b.last_offset >= offset
            {
                return None;
            }
            next_offset = b.last_offset + 1;
            batches.push_back(b);
        }
        state.insert(
            e.producer_id,
            ProducerEntry {
                epoch: e.epoch,
                batches,
                txn_first_offset: txn_first,
            },
        );
    }
    (at == body.len()).then_some(state)
}

/// The snapshot files of one partition directory, by offset. Only the
/// writer touches them.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    /// Ascending.
    offsets: Vec<u64>,
}

impl Snapshots {
    /// The snapshots among a directory listing.
    pub fn from_names(names: &[String]) -> Self {
        let mut offsets: Vec<u64> = names.iter().filter_map(|n| parse_file_name(n)).collect();
        offsets.sort_unstable();
        Snapshots { offsets }
    }

    /// The offsets of the snapshot files, ascending.
    #[cfg(test)]
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// The newest intact snapshot at or below `max`: its offset and state,
    /// or `(0, empty)` (the state before the first batch) if there is none.
    /// Damaged snapshots are deleted, as Kafka does, so they are not read
    /// again; they are derived data.
    pub fn load_newest(
        &mut self,
        storage: &dyn Storage,
        dir: &Path,
        max: u64,
    ) -> (u64, ProducerState) {
        while let Some(i) = self.offsets.iter().rposition(|&o| o <= max) {
            let offset = self.offsets[i];
            let path = dir.join(file_name(offset));
            let state = storage
                .open(&path, false)
                .ok()
                .filter(|f| f.len().is_ok_and(|n| n <= max_file_size(offset)))
                .and_then(|f| read_all(&*f).ok())
                .and_then(|b| decode(&b, offset));
            if let Some(state) = state {
                return (offset, state);
            }
            let _ = storage.remove_file(&path);
            self.offsets.remove(i);
        }
        (0, ProducerState::default())
    }

    /// Deletes, durably, every snapshot past `end`: after the log lost a
    /// tail, they describe batches that are gone, and one left behind would
    /// be taken for the state of different batches once the log grows past
    /// it again. Kafka's `truncateAndReload` does the same.
    pub fn remove_above(&mut self, storage: &dyn Storage, dir: &Path, end: u64) -> Result<()> {
        let keep = self.offsets.partition_point(|&o| o <= end);
        if keep == self.offsets.len() {
            return Ok(());
        }
        for &o in &self.offsets[keep..] {
            let path = dir.join(file_name(o));
            storage.remove(&path)?;
        }
        self.offsets.truncate(keep);
        storage.fsync_directory(dir)
    }

    /// Writes the snapshot of `state` as of `offset` atomically and
    /// durably (the segments below may be deleted later, and then only the
    /// snapshot remembers their producers), then deletes all but the newest
    /// [`SNAPSHOTS_RETAINED`]. Deleting needs no directory sync: an older
    /// snapshot that comes back after a crash is still a true state of the
    /// log below its offset.
    pub fn write(
        &mut self,
        storage: &dyn Storage,
        dir: &Path,
        offset: u64,
        state: &ProducerState,
    ) -> std::io::Result<()> {
        write_atomic(storage, dir, &file_name(offset), &encode(offset, state))?;
        if let Err(i) = self.offsets.binary_search(&offset) {
            self.offsets.insert(i, offset);
        }
        let stale = self.offsets.len().saturating_sub(SNAPSHOTS_RETAINED);
        for o in self.offsets.drain(..stale) {
            let _ = storage.remove_file(&dir.join(file_name(o)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchHeader, MAGIC as BATCH_MAGIC};
    use crate::storage::MemStorage;

    fn header(id: i64, epoch: i16, seq: i32, count: u32, base: u64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 1000,
            magic: BATCH_MAGIC,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 1,
            max_timestamp: base as i64 * 3,
            producer_id: id,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    /// Three producers, one with more batches than are retained.
    fn sample() -> (u64, ProducerState) {
        let mut s = ProducerState::default();
        let mut at = 0;
        for i in 0..9 {
            s.record(&header(9, 2, i * 2, 2, at));
            at += 2;
        }
        s.record(&header(0, 0, 0, 1, at));
        s.record(&header(i64::MAX, i16::MAX, i32::MAX, 3, at + 1));
        (at + 4, s)
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(file_name(42), "00000000000000000042.snapshot");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("00000000000000000042.log"), None);
        assert_eq!(parse_file_name("42.snapshot"), None);
        assert_eq!(parse_file_name("00000000000000000042.snapshot.tmp"), None);
    }

    #[test]
    fn round_trip() {
        let (offset, s) = sample();
        let bytes = encode(offset, &s);
        assert_eq!(bytes.len(), 17 + 3 * 19 + (5 + 1 + 1) * 32 + 4);
        assert_eq!(decode(&bytes, offset), Some(s));
        let empty = encode(0, &ProducerState::default());
        assert_eq!(empty.len(), 21);
        assert_eq!(decode(&empty, 0), Some(ProducerState::default()));
    }

    #[test]
    fn any_damage_is_refused() {
        let (offset, s) = sample();
        let bytes = encode(offset, &s);
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert_eq!(decode(&b, offset), None, "flip at {i}");
            }
        }
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], offset), None, "cut at {cut}");
        }
        // A good snapshot under another name is not used either.
        assert_eq!(decode(&bytes, offset + 1), None);
    }

    /// Re-signs `bytes` after an edit, as a buggy writer would.
    fn resign(bytes: &mut [u8]) {
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        LE::write_u32(&mut bytes[n..], crc);
    }

    #[test]
    fn lying_counts_with_a_valid_crc_are_refused() {
        let (offset, s) = sample();
        let good = encode(offset, &s);
        // More producers than bytes: refused before anything is allocated.
        let mut b = good.clone();
        LE::write_u32(&mut b[13..17], u32::MAX);
        resign(&mut b);
        assert_eq!(decode(&b, offset), None);
        // A batch count of 0 and of 6.
        for n in [0u8, 6] {
            let mut b = good.clone();
            b[17 + 10] = n;
            resign(&mut b);
            assert_eq!(decode(&b, offset), None, "{n} batches");
        }
        // Producer ids out of order.
        let mut b = good.clone();
        LE::write_i64(&mut b[17..25], i64::MAX);
        resign(&mut b);
        assert_eq!(decode(&b, offset), None);
        // A batch at or past the snapshot's offset.
        let mut s2 = ProducerState::default();
        s2.record(&header(1, 0, 0, 1, offset));
        assert_eq!(decode(&encode(offset, &s2), offset), None);
    }

    #[test]
    fn files_load_newest_intact_and_keep_two() {
        let m = MemStorage::default();
        let dir = Path::new("/s");
        m.create_dir_all(dir).unwrap();
        let (offset, s) = sample();
        let mut snaps = Snapshots::default();
        for o in [offset, offset + 10, offset + 20] {
            snaps.write(&m, dir, o, &s).unwrap();
        }
        assert_eq!(snaps.offsets(), [offset + 10, offset + 20]);
        let mut names = m.list(dir).unwrap();
        names.sort();
        assert_eq!(names, [file_name(offset + 10), file_name(offset + 20)]);

        let mut again = Snapshots::from_names(&names);
        assert_eq!(
            again.load_newest(&m, dir, u64::MAX),
            (offset + 20, s.clone())
        );
        assert_eq!(
            again.load_newest(&m, dir, offset + 19),
            (offset + 10, s.clone())
        );
        // Damage the newest: it is deleted and the older one serves.
        let f = m.open(&dir.join(file_name(offset + 20)), false).unwrap();
        f.write_all_at(&[0xff], 20).unwrap();
        assert_eq!(
            again.load_newest(&m, dir, u64::MAX),
            (offset + 10, s.clone())
        );
        assert_eq!(again.offsets(), [offset + 10]);
        assert!(!m.exists(&dir.join(file_name(offset + 20))));
        again.remove_above(&m, dir, offset + 9).unwrap();
        assert!(again.offsets().is_empty());
        assert_eq!(
            again.load_newest(&m, dir, u64::MAX),
            (0, ProducerState::default())
        );
        assert!(m.list(dir).unwrap().is_empty());
    }

    #[test]
    fn open_transactions_and_bumped_epochs_round_trip() {
        let (offset, mut s) = sample();
        let txn = BatchHeader {
            attributes: crate::batch::ATTR_TRANSACTIONAL,
            ..header(5, 0, 0, 1, offset)
        };
        s.record(&txn);
        // Producer 9 moved to a new epoch by a marker: no batches left.
        let marker = BatchHeader {
            attributes: crate::batch::ATTR_TRANSACTIONAL | crate::batch::ATTR_CONTROL,
            ..header(9, 3, -1, 1, offset + 1)
        };
        s.apply(&marker, Some(crate::batch::ControlType::Abort));
        let bytes = encode(offset + 2, &s);
        let back = decode(&bytes, offset + 2).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.first_unstable_offset(), Some(offset));
        assert_eq!(back.resume(9), (3, 0));
        // An open transaction at or past the snapshot's offset is damage.
        assert_eq!(decode(&encode(offset, &s), offset), None);
    }

    #[test]
    fn version_1_snapshots_still_read() {
        let (offset, s) = sample();
        // Version 1: no `txn_first` in the entries.
        let v2 = encode(offset, &s);
        let mut v1 = v2[..SnapshotHeader::SIZE].to_vec();
        v1[4] = VERSION_1;
        let mut at = SnapshotHeader::SIZE;
        while at < v2.len() - TRAILER_SIZE {
            let n = usize::from(v2[at + 18]);
            v1.extend_from_slice(&v2[at..at + 10]);
            v1.push(v2[at + 18]);
            v1.extend_from_slice(&v2[at + 19..at + 19 + n * BATCH_SIZE]);
            at += 19 + n * BATCH_SIZE;
        }
        v1.extend_from_slice(&[0; TRAILER_SIZE]);
        resign(&mut v1);
        assert_eq!(v1.len(), 17 + 3 * 11 + (5 + 1 + 1) * 32 + 4);
        assert_eq!(decode(&v1, offset), Some(s));
    }
}
