//! Looking at one file of a log, byte by byte: the batches of a segment
//! log with their positions, CRCs and attributes (and their records), or
//! the entries of an index, as Kafka's `kafka-dump-log` prints them.
//! Read-only: the file is opened for reading, with positioned reads.

use crate::batch::{readable, BatchView, ControlMarker, ControlType};
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::index::{entry_at, entry_count, OffsetEntry, TimeEntry, TRAILER_SIZE};
use crate::record::RecordRef;
use crate::segment::{parse_log_file_name, txn_index, BatchReader, Step};
use crate::storage::{FsStorage, NamedFile, Storage};
use std::path::Path;

/// The most a compressed batch's records are decompressed to for a dump:
/// a file dumped on its own has no topic setting to bound it by.
const DUMP_MAX_RECORDS_BYTES: usize = 64 << 20;

/// One batch of a segment log, as [`dump_file`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchInfo {
    /// Byte position in the file.
    pub position: u64,
    /// Bytes of the whole batch.
    pub size_bytes: u64,
    /// The offset of its first record.
    pub base_offset: u64,
    /// The offset of its last record.
    pub last_offset: u64,
    /// Records it holds.
    pub record_count: u32,
    /// The CRC the batch stores.
    pub crc: u32,
    /// Whether it matches the batch's bytes (and the batch parses).
    pub valid: bool,
    /// Its attribute bits (`docs/FORMAT.md`).
    pub attributes: u16,
    /// The codec its records are compressed with (attribute bits 0-2).
    pub compression: Compression,
    /// A transactional batch (attribute bit 4).
    pub transactional: bool,
    /// For a control batch: the transaction marker it carries
    /// (`"COMMIT"`, `"ABORT"`, or `"UNKNOWN"` for one this version cannot
    /// read).
    pub control: Option<&'static str>,
    /// The producer id of an idempotent or transactional producer (-1
    /// otherwise).
    pub producer_id: i64,
    /// Its epoch (-1 without one).
    pub producer_epoch: i16,
    /// The sequence number of the first record (-1 without one).
    pub base_sequence: i32,
    /// The first record's timestamp, in milliseconds since the epoch.
    pub base_timestamp: i64,
    /// The largest timestamp of its records.
    pub max_timestamp: i64,
}

/// What [`dump_file`] hands out, in file order.
#[derive(Debug)]
#[non_exhaustive]
pub enum DumpItem<'a> {
    /// A batch of a `.log` file.
    Batch(BatchInfo),
    /// One of its records (with `records`, for valid batches).
    Record(RecordRef<'a>),
    /// An entry of an offset index (`.index`).
    OffsetEntry {
        /// The offset it names.
        offset: u64,
        /// The byte position of that offset's batch in the log.
        position: u64,
    },
    /// An entry of a time index (`.timeindex`).
    TimeEntry {
        /// The largest timestamp so far.
        timestamp: i64,
        /// The offset of the record that reached it.
        offset: u64,
    },
    /// An entry of an aborted-transaction index (`.txnindex`).
    AbortedTransaction {
        /// The producer whose transaction was aborted.
        producer_id: i64,
        /// Its first offset on the partition.
        first_offset: u64,
        /// The offset of its abort marker.
        last_offset: u64,
    },
    /// Where the file stops making sense: nothing after is shown.
    Damage {
        /// The byte position.
        position: u64,
        /// What is wrong there.
        reason: String,
    },
}

/// Reads the segment file at `path` (`<base>.log`, `.index`,
/// `.timeindex` or `.txnindex`, named by its base offset as samsa names
/// them) and hands each batch (and with `records` each record) or entry
/// to `f`, in file order; damage ends the walk with a
/// [`DumpItem::Damage`]. An index's trailer is not required: a damaged or
/// foreign one is shown as far as its entries go. Other names are
/// [`Error::InvalidConfig`].
pub fn dump_file(path: &Path, records: bool, f: &mut dyn FnMut(DumpItem<'_>)) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let base = parse_log_file_name(&format!("{stem}.log")).ok_or_else(|| {
        Error::InvalidConfig(format!(
            "{}: not a segment file (<20-digit base offset>.log, .index, .timeindex or .txnindex)",
            path.display()
        ))
    })?;
    let file = FsStorage
        .open_read_only(path)
        .map_err(|e| Error::io("open", path, e))?;
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    match ext {
        "log" => dump_log(NamedFile::new(&*file, path), len, records, f),
        "index" | "timeindex" | "txnindex" => {
            let bytes = crate::storage::read_all(&*file).map_err(|e| Error::io("read", path, e))?;
            dump_index(ext, &bytes, base, f);
            Ok(())
        }
        _ => Err(Error::InvalidConfig(format!(
            "{}: not a segment file",
            path.display()
        ))),
    }
}

fn dump_log(
    file: NamedFile<'_, &dyn crate::storage::StorageFile>,
    len: u64,
    records: bool,
    f: &mut dyn FnMut(DumpItem<'_>),
) -> Result<()> {
    let mut reader = BatchReader::new(file, 0, len, 1 << 20);
    loop {
        let position = reader.pos;
        let h = match reader.peek()? {
            Step::Batch(h) => h,
            Step::End => return Ok(()),
            // The zeros reserved past the active segment's data.
            Step::Bad(_) | Step::Partial if reader.bytes_at(position, 1)? == [0] => return Ok(()),
            Step::Partial => {
                f(DumpItem::Damage {
                    position,
                    reason: "a batch cut off by the end of the file".into(),
                });
                return Ok(());
            }
            Step::Bad(e) => {
                f(DumpItem::Damage {
                    position,
                    reason: e.to_string(),
                });
                return Ok(());
            }
        };
        let bytes = reader.batch(&h)?;
        let view = BatchView::parse(bytes);
        let control = h
            .is_control()
            .then(|| match view.as_ref().ok().map(ControlMarker::decode) {
                Some(Ok(m)) if m.kind == ControlType::Commit => "COMMIT",
                Some(Ok(_)) => "ABORT",
                _ => "UNKNOWN",
            });
        f(DumpItem::Batch(BatchInfo {
            position,
            size_bytes: h.total_size() as u64,
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            record_count: h.record_count,
            crc: h.crc,
            valid: view.is_ok(),
            attributes: h.attributes,
            compression: h.compression(),
            transactional: h.is_transactional(),
            control,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
        }));
        if let (true, Ok(view)) = (records, view) {
            let mut plain = Vec::new();
            match readable(bytes, view, DUMP_MAX_RECORDS_BYTES, &mut plain) {
                Ok(view) => view.records().for_each(|r| f(DumpItem::Record(r))),
                Err(e) => f(DumpItem::Damage {
                    position,
                    reason: e.to_string(),
                }),
            }
        }
        reader.advance(&h);
    }
}

fn dump_index(ext: &str, bytes: &[u8], base: u64, f: &mut dyn FnMut(DumpItem<'_>)) {
    match ext {
        "txnindex" => {
            for (i, chunk) in bytes.chunks_exact(txn_index::ENTRY).enumerate() {
                match txn_index::decode(chunk, 0, u64::MAX) {
                    Some(e) if e.len() == 1 => f(DumpItem::AbortedTransaction {
                        producer_id: e[0].producer_id,
                        first_offset: e[0].first_offset,
                        last_offset: e[0].last_offset,
                    }),
                    _ => f(DumpItem::Damage {
                        position: (i * txn_index::ENTRY) as u64,
                        reason: "an entry fails its CRC".into(),
                    }),
                }
            }
        }
        _ => {
            // Entries, then (for a sealed segment's file) a trailer.
            let entries = &bytes[..bytes.len().saturating_sub(TRAILER_SIZE)];
            if ext == "index" {
                for i in 0..entry_count::<OffsetEntry>(entries) {
                    let e: OffsetEntry = entry_at(entries, i);
                    f(DumpItem::OffsetEntry {
                        offset: base + u64::from(e.relative_offset),
                        position: u64::from(e.position),
                    });
                }
            } else {
                for i in 0..entry_count::<TimeEntry>(entries) {
                    let e: TimeEntry = entry_at(entries, i);
                    f(DumpItem::TimeEntry {
                        timestamp: e.timestamp,
                        offset: base + u64::from(e.relative_offset),
                    });
                }
            }
        }
    }
}
