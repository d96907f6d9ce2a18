//! Cleaning one sealed segment: its log rewritten without the records an
//! offset map supersedes, with its offset and time indexes, to new files.

use super::offset_map::OffsetMap;
use super::source::{SegmentSource, Stored};
use crate::batch::{compress_in_place, retain_records, BatchView, RecordRef};
use crate::batch::{AbortedTxn, BatchHeader};
use crate::compression::{Compression, Levels};
use crate::error::{Error, Result};
use crate::index::{encode_file, IndexKind};
use crate::segment::Indexes;
use crate::storage::{CheckedStorage, NamedFile, Storage};
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;

/// Cleaned log bytes gathered before each write: few, large writes.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Where the cleaned segment's three files go, e.g. `<base>.log.cleaned`,
/// `<base>.index.cleaned`, `<base>.timeindex.cleaned`: names no reader
/// opens, swapped in by rename once all three are synced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanedPaths<'a> {
    pub log: &'a Path,
    pub offset_index: &'a Path,
    pub time_index: &'a Path,
}

/// What decides a record's fate besides the offset map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanConfig {
    /// A tombstone that is its key's latest record is removed once its
    /// batch's largest timestamp is below this (now minus the topic's
    /// `delete.retention.ms`): consumers had that long to see the delete.
    pub delete_horizon_ms: i64,
    /// The segment's index spacing, as the partition writes it.
    pub index_interval_bytes: u32,
    /// The codec rebuilt batches are stored in: the topic's, or (`None`,
    /// a topic keeping what producers sent) each batch's own.
    pub compression: Option<Compression>,
    /// The levels of the topic's codecs.
    pub levels: Levels,
}

/// The transactions a pass meets, segment after segment, oldest first:
/// aborted ones, whose records it drops, and the producers whose current
/// transaction still has records kept, whose marker it must keep.
///
/// A marker is removed (Kafka does the same) once no record of its
/// transaction is left, those of an aborted transaction being dropped
/// and those of a committed one superseded, and its batch's timestamp is
/// behind the delete horizon: a reader had `delete.retention.ms` to see
/// it. Removing it earlier than its records would leave them looking
/// open, and a reopened log would abort a committed transaction.
#[derive(Debug)]
pub(crate) struct PassTransactions<'a> {
    aborted: &'a [AbortedTxn],
    /// Producers with a transactional record kept since their last marker.
    with_records: HashSet<i64>,
}

impl<'a> PassTransactions<'a> {
    /// The state at the start of a pass that knows of `aborted`.
    pub(crate) fn new(aborted: &'a [AbortedTxn]) -> Self {
        PassTransactions {
            aborted,
            with_records: HashSet::new(),
        }
    }

    /// Whether to keep the marker batch `h`, given what the pass kept of
    /// its transaction before it.
    fn keep_marker(&mut self, h: &BatchHeader, delete_horizon_ms: i64) -> bool {
        let has_records = self.with_records.remove(&h.producer_id);
        has_records || h.max_timestamp >= delete_horizon_ms
    }
}

/// What a clean did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CleanStats {
    pub records_in: u64,
    pub records_out: u64,
    pub batches_in: u64,
    pub batches_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The offset after the last batch kept; `None` if none was. After a
    /// clean this can be below the next segment's base offset.
    pub next_offset: Option<u64>,
}

/// Whether the cleaner keeps record `r` of a batch whose largest timestamp
/// is `batch_max_timestamp`, given the pass's `map`:
///
/// - a keyless record is kept: compacted topics refuse them on append, but
///   a log written before the topic became compacted may hold some, and
///   there is nothing to compact them against (Kafka drops them as
///   invalid; we would rather lose nothing a user wrote);
/// - a record at or past the map's end is kept: the pass has not seen the
///   offsets after it, so it cannot know whether it is its key's latest;
/// - a record below its key's latest offset in the map is dropped;
/// - otherwise it is its key's latest: a value is kept, and a tombstone
///   too until its batch falls behind the delete horizon.
///
/// Dropping such a tombstone is safe only because a pass cleans every
/// segment from the log start up to the map's end, oldest first, so every
/// older record of its key is gone before (or with) it; and a tombstone
/// below the map's start whose key the map lacks was its key's latest in
/// an earlier pass, which removed the older records then.
pub(crate) fn keep_record(
    map: &OffsetMap,
    r: &RecordRef<'_>,
    batch_max_timestamp: i64,
    delete_horizon_ms: i64,
) -> bool {
    let Some(key) = r.key() else {
        return true;
    };
    if r.offset() >= map.end_offset() {
        return true;
    }
    match map.get(key) {
        Some(latest) if r.offset() < latest => false,
        _ => r.value().is_some() || batch_max_timestamp >= delete_horizon_ms,
    }
}

/// Writes the cleaned copy of `source` (a sealed segment) to `to`: every
/// batch rebuilt from the records [`keep_record`] keeps, with original
/// offsets and timestamps (see [`retain_records`]), batches left empty
/// dropped; then its offset and time indexes in the sealed segments'
/// format. Each file is synced; the directory is not (the swap that
/// renames them into place syncs it once). Leftover files at `to` (an
/// interrupted earlier clean) are overwritten. All I/O goes through
/// `storage`, so a simulated disk can fail or tear any of it.
pub(crate) fn clean_segment(
    storage: &dyn Storage,
    source: &SegmentSource<'_>,
    map: &OffsetMap,
    config: &CleanConfig,
    txns: &mut PassTransactions<'_>,
    to: &CleanedPaths<'_>,
) -> Result<CleanStats> {
    let log = create(storage, to.log)?;
    let mut stats = CleanStats {
        bytes_in: source.len,
        ..CleanStats::default()
    };
    let mut indexes = Indexes::new();
    let mut out = Vec::with_capacity(WRITE_BUFFER_BYTES + (64 << 10));
    // Bytes of the cleaned log already written to the file.
    let mut written = 0u64;
    let base = source.base_offset;
    source.for_each_batch(&mut |batch, _, stored| {
        let Some(view) = BatchView::trusted(batch) else {
            return Ok(ControlFlow::Continue(()));
        };
        let max_ts = view.header.max_timestamp;
        stats.batches_in += 1;
        stats.records_in += u64::from(view.header.record_count);
        let at = out.len();
        // A transaction marker is kept whole (its key is no record key)
        // until its transaction's records are gone and its time is past
        // the horizon. Records of aborted transactions are dropped.
        let h = &view.header;
        let kept = if h.is_control() {
            let keep = txns.keep_marker(h, config.delete_horizon_ms);
            retain_records(batch, |_| keep, &mut out)
        } else {
            let aborted_batch = txns.aborted.iter().any(|a| a.covers(h));
            let kept = retain_records(
                batch,
                |r| !aborted_batch && keep_record(map, r, max_ts, config.delete_horizon_ms),
                &mut out,
            );
            if kept.is_some() && h.is_transactional() {
                txns.with_records.insert(h.producer_id);
            }
            kept
        };
        if kept.is_some() && !h.is_control() {
            store_rebuilt(&mut out, at, stored, config, source)?;
        }
        if let Some(h) = kept {
            let position = written + at as u64;
            // Positions fit: the cleaned log is never longer than the
            // source, whose batch positions fit the index's 32 bits.
            indexes.on_batch(&h, position as u32, base, config.index_interval_bytes);
            stats.batches_out += 1;
            stats.records_out += u64::from(h.record_count);
            stats.next_offset = Some(h.next_offset());
        }
        if out.len() >= WRITE_BUFFER_BYTES {
            write(&log, &out, written)?;
            written += out.len() as u64;
            out.clear();
        }
        Ok(ControlFlow::Continue(()))
    })?;
    write(&log, &out, written)?;
    written += out.len() as u64;
    stats.bytes_out = written;
    log.fdatasync()?;
    indexes.finish();
    for (path, kind, entries) in [
        (to.offset_index, IndexKind::Offset, &indexes.offset),
        (to.time_index, IndexKind::Time, &indexes.time),
    ] {
        let f = create(storage, path)?;
        write(&f, &encode_file(kind, entries, written), 0)?;
        f.fdatasync()?;
    }
    Ok(stats)
}

/// Stores the batch rebuilt uncompressed at `out[at..]` in the topic's
/// codec or, for a topic keeping what producers sent, the one it came in;
/// and in the one it came in, too, if the topic's would make it larger
/// than it was (a topic switched to a weaker codec, or to none): a
/// cleaned segment is never longer than its source, so its positions fit
/// the index's 32 bits and the segment its size.
fn store_rebuilt(
    out: &mut Vec<u8>,
    at: usize,
    stored: Stored,
    config: &CleanConfig,
    source: &SegmentSource<'_>,
) -> Result<()> {
    let codec = config.compression.unwrap_or(stored.codec);
    let plain = (codec != stored.codec).then(|| out[at..].to_vec());
    let compress = |out: &mut Vec<u8>, codec| {
        compress_in_place(out, at, codec, config.levels, source.max_record_bytes)
            .map_err(|e| Error::corrupt(source.path, 0, e.to_string()))
    };
    compress(out, codec)?;
    if let Some(plain) = plain.filter(|_| out.len() - at > stored.size) {
        out.truncate(at);
        out.extend_from_slice(&plain);
        compress(out, stored.codec)?;
    }
    Ok(())
}

/// Opens `path` empty, creating it or cutting a leftover to nothing.
fn create<'p>(storage: &dyn Storage, path: &'p Path) -> Result<NamedFile<'p>> {
    let f = storage.create_file(path)?;
    if f.stat()? != 0 {
        f.truncate(0)?;
    }
    Ok(f)
}

fn write(file: &NamedFile<'_>, bytes: &[u8], pos: u64) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    file.write_at(bytes, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, ProducerFields};
    use crate::error::Error;
    use crate::index::{entries_len, OffsetIndex, TimeIndex};
    use crate::record::Record;
    use crate::segment::{scan, Mode, SegmentState};
    use crate::storage::{read_all, FsStorage, MemStorage};
    use std::path::PathBuf;
    use std::sync::Arc;

    /// `(key, value, timestamp)`; a `None` key is keyless, a `None` value a
    /// tombstone.
    type Rec = (Option<&'static str>, Option<&'static str>, i64);

    /// Writes a segment of `batches` based at `base` into `dir`; returns
    /// its log path.
    fn write_segment(storage: &dyn Storage, dir: &Path, base: u64, batches: &[&[Rec]]) -> PathBuf {
        storage.create_dir_all(dir).unwrap();
        let path = dir.join(crate::segment::log_file_name(base));
        let f = storage.open(&path, true).unwrap();
        let (mut pos, mut offset) = (0, base);
        for records in batches {
            let mut b = BatchBuilder::new(1 << 20, 0);
            for &(k, v, ts) in *records {
                let mut r = Record::default().timestamp(ts);
                r.key = k.map(|k| k.as_bytes().into());
                r.value = v.map(|v| v.as_bytes().into());
                b.push(&r, 0).unwrap();
            }
            let bytes = b.finish(ProducerFields::NONE).into_bytes_at(offset);
            f.write_all_at(&bytes, pos).unwrap();
            pos += bytes.len() as u64;
            offset += records.len() as u64;
        }
        path
    }

    /// The `(offset, key, value)` of every record of the log at `path`.
    fn contents(
        storage: &dyn Storage,
        path: &Path,
        base: u64,
    ) -> Vec<(u64, Option<String>, Option<String>)> {
        let f = storage.open(path, false).unwrap();
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path,
            base_offset: base,
            len: f.len().unwrap(),
        };
        let mut out = Vec::new();
        src.for_each_batch(&mut |b, _, _| {
            for r in BatchView::parse(b).unwrap().records() {
                let s = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((r.offset(), s(r.key()), s(r.value())));
            }
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        out
    }

    fn paths(dir: &Path) -> [PathBuf; 3] {
        [
            dir.join("c.log.cleaned"),
            dir.join("c.index.cleaned"),
            dir.join("c.timeindex.cleaned"),
        ]
    }

    fn clean(
        storage: &dyn Storage,
        path: &Path,
        base: u64,
        map: &OffsetMap,
        delete_horizon_ms: i64,
        interval: u32,
    ) -> Result<CleanStats> {
        let f = storage.open(path, false).unwrap();
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path,
            base_offset: base,
            len: f.len().unwrap(),
        };
        let [log, offset_index, time_index] = paths(path.parent().unwrap());
        clean_segment(
            storage,
            &src,
            map,
            &CleanConfig {
                delete_horizon_ms,
                index_interval_bytes: interval,
                compression: None,
                levels: Levels::default(),
            },
            &mut PassTransactions::new(&[]),
            &CleanedPaths {
                log: &log,
                offset_index: &offset_index,
                time_index: &time_index,
            },
        )
    }

    fn map_of(entries: &[(&str, u64)], end: u64) -> OffsetMap {
        let mut m = OffsetMap::new(1 << 20, 0);
        for &(k, o) in entries {
            assert!(m.insert(k.as_bytes(), o));
        }
        // Pretend a scan covered everything below `end`.
        let (storage, dir) = (MemStorage::default(), Path::new("/end"));
        let p = write_segment(&storage, dir, end - 1, &[&[(None, Some("x"), 0)]]);
        let f = storage.open(&p, false).unwrap();
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: &p,
            base_offset: end - 1,
            len: f.len().unwrap(),
        };
        m.add_segment(&src, &[]).unwrap();
        assert_eq!(m.end_offset(), end);
        m
    }

    #[test]
    fn the_rule_for_each_kind_of_record() {
        let map = map_of(&[("a", 5), ("t", 6)], 10);
        let rec = |key: Option<&'static str>, value: Option<&'static str>, offset: u64| {
            let mut b = BatchBuilder::new(1024, 0);
            let r = Record {
                key: key.map(|k| k.as_bytes().into()),
                value: value.map(|v| v.as_bytes().into()),
                ..Record::default()
            };
            b.push(&r, 0).unwrap();
            b.finish(ProducerFields::NONE).into_bytes_at(offset)
        };
        let keep = |bytes: &[u8], max_ts: i64, horizon: i64| {
            let v = BatchView::parse(bytes).unwrap();
            let r = v.records().next().unwrap();
            keep_record(&map, &r, max_ts, horizon)
        };
        // Superseded, latest, and not yet seen by the map.
        assert!(!keep(&rec(Some("a"), Some("v"), 4), 0, 0));
        assert!(keep(&rec(Some("a"), Some("v"), 5), 0, 0));
        assert!(keep(&rec(Some("a"), Some("v"), 10), 0, 0));
        // A keyless record is always kept, even superseded by nothing.
        assert!(keep(&rec(None, Some("v"), 3), 0, 100));
        // A superseded tombstone goes at once; the latest waits for the
        // horizon; one past the map's end stays whatever its age.
        assert!(!keep(&rec(Some("t"), None, 2), 100, 0));
        assert!(keep(&rec(Some("t"), None, 6), 50, 50));
        assert!(!keep(&rec(Some("t"), None, 6), 49, 50));
        assert!(keep(&rec(Some("t"), None, 12), 0, 50));
        // Below the map's start, a key it lacks was its key's latest in an
        // earlier pass: a value stays, an old tombstone goes.
        let later = OffsetMap::new(1 << 20, 20);
        let v = rec(Some("z"), None, 3);
        let r = BatchView::parse(&v).unwrap().records().next().unwrap();
        assert!(!keep_record(&later, &r, 0, 50));
        assert!(keep_record(&later, &r, 60, 50));
    }

    /// The cleaned files at `dir` hold a valid log and indexes equal to
    /// what the segment layer derives from that log.
    fn check_cleaned(storage: &dyn Storage, dir: &Path, base: u64, interval: u32) {
        let [log, offset_index, time_index] = paths(dir);
        let f = storage.open(&log, false).unwrap();
        let len = f.len().unwrap();
        let scanned = scan(&*f, &log, base, interval, Mode::Sealed).unwrap();
        assert_eq!(scanned.valid_len, len);
        let mut want = scanned.indexes;
        want.finish();
        let offset = read_all(&*storage.open(&offset_index, false).unwrap()).unwrap();
        let time = read_all(&*storage.open(&time_index, false).unwrap()).unwrap();
        let n = entries_len(IndexKind::Offset, &offset, len).expect("offset index trailer");
        assert_eq!(&offset[..n], &*want.offset);
        let n = entries_len(IndexKind::Time, &time, len).expect("time index trailer");
        assert_eq!(&time[..n], &*want.time);
        assert!(OffsetIndex::is_sane(
            &offset[..offset.len() - 16],
            len,
            u64::from(u32::MAX)
        ));
        assert!(TimeIndex::is_sane(
            &time[..time.len() - 16],
            u64::from(u32::MAX)
        ));
    }

    #[test]
    fn cleans_a_segment_into_new_files_with_gaps_and_indexes() {
        let storage = MemStorage::default();
        let dir = Path::new("/p");
        let a = (Some("a"), Some("old"), 10);
        let b = (Some("b"), Some("b1"), 20);
        let path = write_segment(
            &storage,
            dir,
            100,
            &[
                &[a, b, (None, Some("free"), 30)],
                &[(Some("a"), Some("new"), 40)],
                &[a, a],
            ],
        );
        // The map saw the whole segment and a later "a" beyond it.
        let map = map_of(&[("a", 107), ("b", 101)], 108);
        let stats = clean(&storage, &path, 100, &map, 0, 1).unwrap();
        let [log, ..] = paths(dir);
        assert_eq!(
            contents(&storage, &log, 100),
            [
                (101, Some("b".into()), Some("b1".into())),
                (102, None, Some("free".into())),
            ]
        );
        assert_eq!(
            (
                stats.records_in,
                stats.records_out,
                stats.batches_in,
                stats.batches_out
            ),
            (6, 2, 3, 1)
        );
        assert_eq!(stats.next_offset, Some(103));
        assert_eq!(
            stats.bytes_out,
            storage.open(&log, false).unwrap().len().unwrap()
        );
        assert!(stats.bytes_out < stats.bytes_in);
        check_cleaned(&storage, dir, 100, 1);
        // The source is untouched.
        assert_eq!(contents(&storage, &path, 100).len(), 6);
    }

    #[test]
    fn a_segment_cleaned_to_nothing_has_an_empty_log_and_empty_indexes() {
        let storage = MemStorage::default();
        let dir = Path::new("/e");
        let path = write_segment(&storage, dir, 0, &[&[(Some("a"), Some("1"), 0)]]);
        let map = map_of(&[("a", 5)], 6);
        // A leftover of an interrupted clean is overwritten.
        let [log, ..] = paths(dir);
        storage
            .open(&log, true)
            .unwrap()
            .write_all_at(b"junk", 0)
            .unwrap();
        let stats = clean(&storage, &path, 0, &map, 0, 4096).unwrap();
        assert_eq!(
            (stats.records_out, stats.bytes_out, stats.next_offset),
            (0, 0, None)
        );
        assert_eq!(storage.open(&log, false).unwrap().len().unwrap(), 0);
        check_cleaned(&storage, dir, 0, 4096);
    }

    #[test]
    fn a_damaged_source_is_corruption() {
        let storage = MemStorage::default();
        let dir = Path::new("/d");
        let path = write_segment(
            &storage,
            dir,
            0,
            &[&[(Some("a"), Some("1"), 0)], &[(Some("b"), Some("2"), 0)]],
        );
        let f = storage.open(&path, false).unwrap();
        let len = f.len().unwrap();
        f.write_all_at(&[0xee], len - 3).unwrap();
        let err = clean(&storage, &path, 0, &map_of(&[], 2), 0, 4096).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }

    #[test]
    fn failed_writes_and_syncs_are_errors() {
        use crate::storage::faulty::{FaultyStorage, Op};
        for op in [Op::Write, Op::Sync] {
            let inner = Arc::new(MemStorage::default());
            let dir = Path::new("/f");
            let path = write_segment(&*inner, dir, 0, &[&[(Some("a"), Some("1"), 0)]]);
            let storage = FaultyStorage::new(inner);
            storage.arm(op, std::io::ErrorKind::Other);
            let err = clean(&storage, &path, 0, &map_of(&[], 1), 0, 4096).unwrap_err();
            assert!(matches!(err, Error::Io { .. }), "{op:?}: {err}");
        }
    }

    #[test]
    fn a_cleaned_segment_reads_through_the_segment_layer_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let records: Vec<Rec> = (0..200)
            .map(|i| (Some(["a", "b", "c", "d"][i % 4]), Some("value"), i as i64))
            .collect();
        let batches: Vec<&[Rec]> = records.chunks(7).collect();
        let path = write_segment(&*storage, dir, 1000, &batches);
        let mut map = OffsetMap::new(1 << 20, 1000);
        let f = storage.open(&path, false).unwrap();
        let src = SegmentSource {
            max_record_bytes: 1 << 20,
            file: &*f,
            path: &path,
            base_offset: 1000,
            len: f.len().unwrap(),
        };
        map.add_segment(&src, &[]).unwrap();
        clean(&*storage, &path, 1000, &map, 0, 64).unwrap();
        // Swap in by rename, as the partition will.
        let [log, offset_index, time_index] = paths(dir);
        storage.rename(&log, &path).unwrap();
        storage
            .rename(&offset_index, &path.with_extension("index"))
            .unwrap();
        storage
            .rename(&time_index, &path.with_extension("timeindex"))
            .unwrap();
        let seg =
            SegmentState::sealed(&crate::segment::Files::new(storage, 4), dir, 1000, 1200, 64);
        let got: Vec<_> = seg
            .read(1000, 1 << 20, u64::MAX, 1 << 20)
            .unwrap()
            .unwrap()
            .iter()
            .map(|r| r.offset())
            .collect();
        assert_eq!(got, [1196, 1197, 1198, 1199]);
        // A read from inside a gap starts at the next record kept.
        let first = seg.read(1010, 1, u64::MAX, 1 << 20).unwrap().unwrap();
        assert_eq!(first.iter().next().unwrap().offset(), 1196);
        assert_eq!(
            seg.offset_for_timestamp(50, 1000, 1 << 20)
                .unwrap()
                .map(|x| x.0),
            Some(1196)
        );
    }
}
