//! Verifying a segment: every batch checked (header, offsets, CRC,
//! records), and every index entry checked against the batches, into a
//! [`SegmentReport`] (Kafka's `kafka-dump-log --verify-index-only` and
//! `--deep-iteration` in one pass).
//!
//! A sealed segment's aborted-transaction index is checked too: each abort
//! marker must have its entry (without it, `read_committed` readers would
//! see the aborted records), and each entry must name an abort marker of
//! its producer (or a gap compaction left).
//!
//! Damage is reported, never repaired: a sealed segment's index files are
//! read as they lie on disk, not through the loading that rebuilds a
//! damaged one.

use super::reader::{BatchReader, Step};
use super::scan::{check_batch, marker_at, Mode};
use super::SegmentState;
use crate::batch::{AbortedTxn, BatchHeader, ControlType};
use crate::error::Result;
use crate::index::{
    entries_len, entry_at, entry_count, Entry, IndexKind, OffsetEntry, TimeEntry, TRAILER_SIZE,
};
use crate::storage::{CheckedStorage, NamedFile};
use std::fmt;
use std::path::PathBuf;

/// Bytes read per window while verifying.
const VERIFY_WINDOW: usize = 1 << 20;

/// The most index mismatches a report lists (it counts them all): a
/// wholly wrong index would otherwise list one per entry.
pub(crate) const MAX_LISTED_MISMATCHES: usize = 100;

/// Which of a segment's two indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentIndex {
    /// The offset index (`.index`): relative offset -> byte position.
    Offset,
    /// The time index (`.timeindex`): timestamp -> relative offset.
    Time,
    /// The aborted-transaction index (`.txnindex`): the transactions
    /// aborted by markers in the segment, which `read_committed` readers
    /// skip.
    Transactions,
}

impl fmt::Display for SegmentIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SegmentIndex::Offset => "offset index",
            SegmentIndex::Time => "time index",
            SegmentIndex::Transactions => "transaction index",
        })
    }
}

/// The first batch of a segment that failed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BadBatch {
    /// Byte position of the batch in the log file.
    pub position: u64,
    /// What check failed (as [`Error::Corrupt`](crate::Error::Corrupt) would say).
    pub reason: String,
}

/// An index entry (or index file) that does not agree with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexMismatch {
    /// Which index.
    pub index: SegmentIndex,
    /// The entry's number (from 0); `None` when the file as a whole is
    /// missing or fails its trailer check.
    pub entry: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// What [`super::Segment::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentReport {
    /// The segment's log file.
    pub log: PathBuf,
    /// Bytes checked: whole valid batches, from the start of the log.
    pub bytes_checked: u64,
    /// Batches that passed every check.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// The first batch that failed, if one did: nothing after it was
    /// checked (a reader stops there too).
    pub first_bad_batch: Option<BadBatch>,
    /// Index entries checked against the batches.
    pub index_entries: u64,
    /// Mismatches found, the first 100 of them.
    pub index_mismatches: Vec<IndexMismatch>,
    /// How many mismatches were found, listed or not.
    pub index_mismatch_count: u64,
}

impl SegmentReport {
    /// A report on the log at `log` with nothing checked yet.
    fn empty(log: PathBuf) -> SegmentReport {
        SegmentReport {
            log,
            bytes_checked: 0,
            batches: 0,
            records: 0,
            first_bad_batch: None,
            index_entries: 0,
            index_mismatches: Vec::new(),
            index_mismatch_count: 0,
        }
    }

    /// Whether every batch and every index entry checked out.
    pub fn is_ok(&self) -> bool {
        self.first_bad_batch.is_none() && self.index_mismatch_count == 0
    }

    /// Drops the complaints about index files as a whole (missing, or
    /// not written for the log as it is now) and about abort markers
    /// without an entry: for the active segment of a live log, whose
    /// index files its owner writes only when it seals or closes it.
    pub(crate) fn forget_unwritten_index_files(&mut self) {
        let before = self.index_mismatches.len();
        self.index_mismatches.retain(|m| match m.index {
            SegmentIndex::Transactions => !m.reason.starts_with("no entry"),
            SegmentIndex::Offset | SegmentIndex::Time => m.entry.is_some(),
        });
        self.index_mismatch_count -= (before - self.index_mismatches.len()) as u64;
    }

    fn mismatch(&mut self, index: SegmentIndex, entry: Option<usize>, reason: String) {
        self.index_mismatch_count += 1;
        if self.index_mismatches.len() < MAX_LISTED_MISMATCHES {
            self.index_mismatches.push(IndexMismatch {
                index,
                entry: entry.map(|e| e as u64),
                reason,
            });
        }
    }
}

/// The index entries to check, walked along with the batches.
struct Cursor {
    bytes: Vec<u8>,
    next: usize,
}

impl Cursor {
    fn new(bytes: Vec<u8>) -> Cursor {
        Cursor { bytes, next: 0 }
    }

    /// The next entry not yet checked.
    fn peek<E: Entry>(&self) -> Option<E> {
        (self.next < entry_count::<E>(&self.bytes)).then(|| entry_at(&self.bytes, self.next))
    }
}

impl SegmentState {
    /// Verifies the first `len` bytes of the log (whole batches: the
    /// segment's size, or of the active one what readers see) and its
    /// indexes; `active` if it was listed as the active segment (whose
    /// records end before `next`, and whose indexes, in memory or written
    /// since it was sealed, may run past `len` and lack the final time
    /// entry).
    pub(crate) fn verify(&self, len: u64, next: u64, active: bool) -> Result<SegmentReport> {
        let mut report = SegmentReport::empty(self.log_path().to_path_buf());
        let file = self.file()?;
        let (offset, time) = self.indexes_to_verify(len, active, &mut report)?;
        let mut offset = Cursor::new(offset);
        let mut time = Cursor::new(time);
        // A sealed segment's records end before the next segment's base;
        // the active one's, as listed, before the listed next offset.
        let limit = if active { next } else { self.next_offset() };
        let base = self.base_offset;
        let named = NamedFile::new(&*file, self.log_path());
        let mut reader = BatchReader::new(named, 0, len, VERIFY_WINDOW);
        let mut expected = base;
        let mut max_timestamp: Option<i64> = None;
        // The active segment's aborted transactions are in memory only.
        let mut txns = if active {
            None
        } else {
            Some(TxnCheck::new(self, &mut report)?)
        };
        let bad = loop {
            let pos = reader.pos;
            let h = match reader.peek()? {
                Step::End => break None,
                Step::Batch(h) => h,
                Step::Partial => break Some("batch cut off inside the log".to_string()),
                Step::Bad(e) => break Some(e.to_string()),
            };
            if let Some(reason) = check_batch(&mut reader, &h, expected, base, Mode::Sealed)? {
                break Some(reason);
            }
            if h.next_offset() > limit {
                break Some(format!(
                    "batch offsets run to {}, past the next segment's base offset {limit}",
                    h.last_offset()
                ));
            }
            match marker_at(&mut reader, &h, self.log_path()) {
                Ok(marker) => {
                    if let Some(t) = &mut txns {
                        t.on_batch(&h, marker, &mut report);
                    }
                }
                Err(e) => break Some(e.to_string()),
            }
            check_offset_entries(&mut offset, &mut report, base, Some((pos, &h)));
            check_time_entries(&mut time, &mut report, base, max_timestamp, Some(&h));
            max_timestamp = max_timestamp.max(Some(h.max_timestamp));
            report.batches += 1;
            report.records += u64::from(h.record_count);
            expected = h.next_offset();
            reader.advance(&h);
            report.bytes_checked = reader.pos;
        };
        if let Some(reason) = bad {
            report.first_bad_batch = Some(BadBatch {
                position: reader.pos,
                reason,
            });
            // Entries past the damage cannot be checked.
            return Ok(report);
        }
        if !active && !self.compacted && expected != limit {
            // A log cut at a batch boundary checks out batch by batch;
            // only the offsets tell that records are missing.
            report.first_bad_batch = Some(BadBatch {
                position: len,
                reason: format!(
                    "the sealed segment's records end before offset {expected}, the next segment starts at {limit}"
                ),
            });
            return Ok(report);
        }
        if active {
            // The active segment's indexes run on past what readers see;
            // entries inside the bytes checked must still match.
            while let Some(e) = offset.peek::<OffsetEntry>() {
                if u64::from(e.position) >= len {
                    break;
                }
                report.index_entries += 1;
                report.mismatch(
                    SegmentIndex::Offset,
                    Some(offset.next),
                    format!(
                        "points at byte {}, which is not the start of a batch",
                        e.position
                    ),
                );
                offset.next += 1;
            }
        } else {
            // Whatever is left points past the log.
            check_offset_entries(&mut offset, &mut report, base, None);
            check_time_entries(&mut time, &mut report, base, max_timestamp, None);
            let last = time.bytes.len().checked_sub(TimeEntry::SIZE).map(|at| {
                (
                    at / TimeEntry::SIZE,
                    TimeEntry::decode_from(&time.bytes[at..]),
                )
            });
            // A time index file that could not be used is reported already.
            let unusable = report
                .index_mismatches
                .iter()
                .any(|m| m.index == SegmentIndex::Time && m.entry.is_none());
            match (max_timestamp, last) {
                (Some(max), Some((i, e))) if e.timestamp != max => report.mismatch(
                    SegmentIndex::Time,
                    Some(i),
                    format!(
                        "the last entry's timestamp {} is not the segment's largest, {max}",
                        e.timestamp
                    ),
                ),
                (Some(_), None) if !unusable => report.mismatch(
                    SegmentIndex::Time,
                    None,
                    "no entry: timestamp lookups would skip the segment".to_string(),
                ),
                _ => {}
            }
        }
        Ok(report)
    }

    /// The index entries to check: a sealed segment's files as they are on
    /// disk (a missing or damaged file is reported, and its entries are
    /// not checked), or the indexes the segment reads with: the active
    /// segment's in memory, or those of a sealed segment whose files were
    /// removed or replaced while it was held (pinned, and read from its
    /// open files).
    fn indexes_to_verify(
        &self,
        len: u64,
        active: bool,
        report: &mut SegmentReport,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        if !active && !self.is_pinned() {
            let offset = self.index_file(IndexKind::Offset, len, report)?;
            let time = self.index_file(IndexKind::Time, len, report)?;
            // Pinned meanwhile: the files read may be a replacement's.
            if !self.is_pinned() {
                return Ok((offset, time));
            }
            report.index_mismatches.clear();
            report.index_mismatch_count = 0;
        }
        self.with_indexes(|i| (i.offset.to_vec(), i.time.to_vec()))
    }

    /// The entries of one of a sealed segment's index files, read whole if
    /// its size is plausible for a log of `len` bytes; none (and a
    /// mismatch reported) if it is missing or fails its checks.
    fn index_file(&self, kind: IndexKind, len: u64, report: &mut SegmentReport) -> Result<Vec<u8>> {
        let (path, index, entry) = match kind {
            IndexKind::Offset => (self.index_path(), SegmentIndex::Offset, OffsetEntry::SIZE),
            IndexKind::Time => (self.time_index_path(), SegmentIndex::Time, TimeEntry::SIZE),
        };
        let Some(file) = self.storage.open_if_exists(&path)? else {
            report.mismatch(index, None, "the file is missing".to_string());
            return Ok(Vec::new());
        };
        // At most one entry per batch: a longer file is not this log's
        // index, and is not read whole.
        let max_entries = len / BatchHeader::SIZE as u64 + 1;
        let size = file.stat()?;
        if size > max_entries * entry as u64 + TRAILER_SIZE as u64 {
            report.mismatch(
                index,
                None,
                format!("the file's {size} bytes are more than an index of this log can hold"),
            );
            return Ok(Vec::new());
        }
        let mut bytes = file.read_all()?;
        match entries_len(kind, &bytes, len) {
            Some(n) => {
                bytes.truncate(n);
                Ok(bytes)
            }
            None => {
                report.mismatch(
                    index,
                    None,
                    format!("the file fails its trailer check (damaged, or not written for this log of {len} bytes)"),
                );
                Ok(Vec::new())
            }
        }
    }
}

/// A sealed segment's aborted-transaction entries, walked along with its
/// batches: each abort marker must have its entry, and each entry must
/// name an abort marker of its producer, or a gap (compaction removes
/// markers whose records are gone; their entries stay, naming nothing).
struct TxnCheck {
    entries: Vec<AbortedTxn>,
    next: usize,
    file_missing: bool,
}

impl TxnCheck {
    /// The segment's entries; none (and a mismatch reported) if its file
    /// is damaged.
    fn new(seg: &SegmentState, report: &mut SegmentReport) -> Result<TxnCheck> {
        let file_missing = !seg.storage.exists(&seg.txn_index_path());
        let entries = seg.read_txn_index()?.unwrap_or_else(|| {
            report.mismatch(
                SegmentIndex::Transactions,
                None,
                "the file is damaged: an entry fails its CRC, or lies outside the segment or out of order"
                    .to_string(),
            );
            Vec::new()
        });
        Ok(TxnCheck {
            entries,
            next: 0,
            file_missing,
        })
    }

    /// Checks the entries up to the end of batch `h`, whose marker (if it
    /// is a control batch) is `marker`.
    fn on_batch(
        &mut self,
        h: &BatchHeader,
        marker: Option<ControlType>,
        report: &mut SegmentReport,
    ) {
        let mut found = false;
        while let Some(e) = self.entries.get(self.next) {
            if e.last_offset > h.last_offset() {
                break;
            }
            report.index_entries += 1;
            // Below the batch: a gap, where a marker was compacted away.
            if e.last_offset >= h.base_offset {
                let here = marker == Some(ControlType::Abort)
                    && e.producer_id == h.producer_id
                    && e.last_offset == h.base_offset;
                found |= here;
                if !here {
                    let what = match marker {
                        Some(ControlType::Abort) => format!("producer {} aborted", h.producer_id),
                        Some(ControlType::Commit) => "a commit marker is".to_string(),
                        None => "a batch of records is".to_string(),
                    };
                    report.mismatch(
                        SegmentIndex::Transactions,
                        Some(self.next),
                        format!(
                            "names producer {}'s abort marker at offset {}, where {what}",
                            e.producer_id, e.last_offset
                        ),
                    );
                }
            }
            self.next += 1;
        }
        if marker == Some(ControlType::Abort) && !found {
            report.mismatch(
                SegmentIndex::Transactions,
                None,
                format!(
                    "no entry for producer {}'s abort marker at offset {}{}: read_committed readers would see its records",
                    h.producer_id,
                    h.base_offset,
                    if self.file_missing { " (the file is missing)" } else { "" }
                ),
            );
        }
    }
}

/// Checks the offset entries up to the batch at `at` (position and
/// header): each must point at a batch start and name that batch's base
/// offset. With `None`, every entry left is past the log's end.
fn check_offset_entries(
    c: &mut Cursor,
    report: &mut SegmentReport,
    base: u64,
    at: Option<(u64, &BatchHeader)>,
) {
    while let Some(e) = c.peek::<OffsetEntry>() {
        let position = u64::from(e.position);
        let offset = base + u64::from(e.relative_offset);
        let reason = match at {
            Some((pos, _)) if position > pos => return,
            Some((pos, h)) if position == pos => (offset != h.base_offset).then(|| {
                format!(
                    "names offset {offset} at byte {position}, where the batch starts at offset {}",
                    h.base_offset
                )
            }),
            Some(_) => Some(format!(
                "points at byte {position} (offset {offset}), which is not the start of a batch"
            )),
            None => Some(format!(
                "points at byte {position} (offset {offset}), past the last batch"
            )),
        };
        report.index_entries += 1;
        if let Some(reason) = reason {
            report.mismatch(SegmentIndex::Offset, Some(c.next), reason);
        }
        c.next += 1;
    }
}

/// Checks the time entries up to the batch `h`: an entry `(t, o)` must
/// name the last offset of the batch that first reached the largest
/// timestamp `t` (`before` is the largest before `h`). With `None`, every
/// entry left is past the log's end.
fn check_time_entries(
    c: &mut Cursor,
    report: &mut SegmentReport,
    base: u64,
    before: Option<i64>,
    h: Option<&BatchHeader>,
) {
    while let Some(e) = c.peek::<TimeEntry>() {
        let offset = base + u64::from(e.relative_offset);
        let reason = match h {
            Some(h) if offset > h.last_offset() => return,
            Some(h) if offset == h.last_offset() => {
                let first_to_reach = before.is_none_or(|b| b < e.timestamp);
                (e.timestamp != h.max_timestamp || !first_to_reach).then(|| {
                    format!(
                        "timestamp {} at offset {offset}: the batch ending there has largest timestamp {}{}",
                        e.timestamp,
                        h.max_timestamp,
                        before.map_or(String::new(), |b| format!(", and the batches before it {b}"))
                    )
                })
            }
            Some(_) => Some(format!(
                "names offset {offset}, which is not the last offset of a batch"
            )),
            None => Some(format!("names offset {offset}, past the last batch")),
        };
        report.index_entries += 1;
        if let Some(reason) = reason {
            report.mismatch(SegmentIndex::Time, Some(c.next), reason);
        }
        c.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::record::Record;
    use crate::segment::{Files, SegmentWriter};
    use crate::storage::MemStorage;
    use std::path::Path;
    use std::sync::Arc;

    /// A sealed segment of `n` one-record batches at `/p`, indexed every
    /// 64 bytes, opened afresh as a partition's open finds it.
    fn sealed(n: u64) -> (Files, SegmentState) {
        let files = Files::new(Arc::new(MemStorage::default()), 8);
        let dir = Path::new("/p");
        files.storage.create_dir_all(dir).unwrap();
        let mut seg = SegmentWriter::create(&files, dir, 0, 64).unwrap();
        for i in 0..n {
            let mut b = BatchBuilder::new(1 << 20, 0);
            b.push(&Record::new(&[i as u8; 40][..]).timestamp(i as i64), 0)
                .unwrap();
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(i);
            seg.append(&bytes, &BatchHeader::decode_from(&bytes).unwrap())
                .unwrap();
        }
        seg.persist().unwrap();
        let fresh = SegmentState::sealed(&files, dir, 0, n, 64);
        (files, fresh)
    }

    #[test]
    fn a_whole_segment_checks_out() {
        let (_, seg) = sealed(10);
        let len = seg.size().unwrap();
        let report = seg.verify(len, 10, false).unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(
            (report.batches, report.records, report.bytes_checked),
            (10, 10, len)
        );
        assert!(report.index_entries >= 4, "{report:?}");
    }

    #[test]
    fn a_log_cut_at_a_batch_boundary_is_short_of_its_offsets() {
        let (files, seg) = sealed(10);
        let len = seg.size().unwrap();
        let one = len / 10;
        // Fault: the last batch gone, its index files with it.
        seg.close_files();
        let file = files.storage.open(seg.log_path(), false).unwrap();
        file.set_len(len - one).unwrap();
        let seg = SegmentState::sealed(&files, Path::new("/p"), 0, 10, 64);
        let report = seg.verify(len - one, 10, false).unwrap();
        let bad = report.first_bad_batch.clone().unwrap();
        assert_eq!(bad.position, len - one, "{report:?}");
        assert_eq!(report.batches, 9);
    }

    #[test]
    fn mismatches_are_counted_past_the_listed_ones() {
        let mut report = SegmentReport::empty("/p/x.log".into());
        for i in 0..MAX_LISTED_MISMATCHES + 5 {
            report.mismatch(SegmentIndex::Offset, Some(i), "x".into());
        }
        assert_eq!(report.index_mismatches.len(), MAX_LISTED_MISMATCHES);
        assert_eq!(
            report.index_mismatch_count,
            MAX_LISTED_MISMATCHES as u64 + 5
        );
        assert!(!report.is_ok());
    }
}
