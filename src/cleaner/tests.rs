//! The cleaner against a model: random keyed, keyless and tombstone
//! records in random batches and segments, compacted in as many passes as
//! a random map budget forces, each pass filling a map from where the last
//! ended and cleaning every segment from the start up to its end, the
//! cleaned files swapped in by rename.
//!
//! After every pass, every batch checks (CRC, framing), every record is the
//! one written at its offset, and every key's last record is its latest
//! (or, for a deleted key, nothing: no older value resurrects). After the
//! last pass the log is exactly the model's: each key's latest record,
//! tombstones past the horizon gone, keyless records all kept.
//!
//! Cases: 64 by default; `SAMSA_PROPTEST_CASES` (or `PROPTEST_CASES`)
//! overrides.

use super::*;
use crate::batch::{BatchBuilder, BatchView, ProducerFields};
use crate::index::{entries_len, IndexKind, OffsetIndex, TimeIndex};
use crate::record::Record;
use crate::storage::{read_all, MemStorage, Storage};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// One record as written: key (`None`: keyless), value (`None`: a
/// tombstone), timestamp.
type Rec = (Option<u8>, Option<u16>, i64);

/// A record as read back, with its offset.
type Read = (u64, Option<u8>, Option<u16>, i64);

fn cases() -> u32 {
    ["SAMSA_PROPTEST_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(64)
}

fn record() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![1 => Just(None), 9 => (0u8..8).prop_map(Some)],
        prop_oneof![1 => Just(None), 3 => any::<u16>().prop_map(Some)],
        0i64..100,
    )
}

/// Segments of batches of records.
fn log() -> impl Strategy<Value = Vec<Vec<Vec<Rec>>>> {
    proptest::collection::vec(
        proptest::collection::vec(proptest::collection::vec(record(), 1..6), 1..5),
        1..6,
    )
}

const DIR: &str = "/part";

struct Seg {
    base: u64,
    path: PathBuf,
}

/// Writes the segments; returns them, every record by offset, and each
/// record's batch's largest timestamp.
fn write(storage: &dyn Storage, segments: &[Vec<Vec<Rec>>]) -> (Vec<Seg>, Vec<Rec>, Vec<i64>) {
    storage.create_dir_all(Path::new(DIR)).unwrap();
    let (mut segs, mut all, mut batch_max) = (Vec::new(), Vec::new(), Vec::new());
    for batches in segments {
        let base = all.len() as u64;
        let path = Path::new(DIR).join(crate::segment::log_file_name(base));
        let f = storage.open(&path, true).unwrap();
        let mut pos = 0;
        for records in batches {
            let mut b = BatchBuilder::new(1 << 20, 0);
            let key_bytes: Vec<[u8; 1]> = records.iter().map(|r| [r.0.unwrap_or(0)]).collect();
            let value_bytes: Vec<[u8; 2]> = records
                .iter()
                .map(|r| r.1.unwrap_or(0).to_le_bytes())
                .collect();
            for (i, &(k, v, ts)) in records.iter().enumerate() {
                let mut r = Record::default().timestamp(ts);
                r.key = k.map(|_| key_bytes[i][..].into());
                r.value = v.map(|_| value_bytes[i][..].into());
                b.push(&r, 0).unwrap();
            }
            let bytes = b
                .finish(ProducerFields::NONE)
                .into_bytes_at(all.len() as u64);
            f.write_all_at(&bytes, pos).unwrap();
            pos += bytes.len() as u64;
            let max = records.iter().map(|r| r.2).max().unwrap();
            all.extend_from_slice(records);
            batch_max.extend(records.iter().map(|_| max));
        }
        segs.push(Seg { base, path });
    }
    (segs, all, batch_max)
}

fn source<'a>(f: &'a dyn crate::storage::StorageFile, seg: &'a Seg) -> SegmentSource<'a> {
    SegmentSource {
        max_record_bytes: 1 << 20,
        file: f,
        path: &seg.path,
        base_offset: seg.base,
        len: f.len().unwrap(),
    }
}

/// Every record of the log, each batch checked by `BatchView::parse`.
fn read_log(storage: &dyn Storage, segs: &[Seg]) -> Vec<Read> {
    let mut out = Vec::new();
    for seg in segs {
        let f = storage.open(&seg.path, false).unwrap();
        source(&*f, seg)
            .for_each_batch(&mut |bytes, _, _| {
                let v = BatchView::parse(bytes).expect("every batch checks");
                for r in v.records() {
                    let key = r.key().map(|k| k[0]);
                    let value = r.value().map(|v| u16::from_le_bytes([v[0], v[1]]));
                    out.push((r.offset(), key, value, r.timestamp()));
                }
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
    }
    out
}

/// Cleans `seg` with `map` and swaps the cleaned files in by rename.
fn clean_and_swap(storage: &dyn Storage, seg: &Seg, map: &OffsetMap, config: &CleanConfig) {
    let cleaned = |ext: &str| Path::new(DIR).join(format!("{}.{ext}.cleaned", seg.base));
    let (log, offset_index, time_index) = (cleaned("log"), cleaned("index"), cleaned("timeindex"));
    let f = storage.open(&seg.path, false).unwrap();
    let stats: CleanStats = clean_segment(
        storage,
        &source(&*f, seg),
        map,
        config,
        &mut PassTransactions::new(&[]),
        &CleanedPaths {
            log: &log,
            offset_index: &offset_index,
            time_index: &time_index,
        },
    )
    .unwrap();
    drop(f);
    let len = storage.open(&log, false).unwrap().len().unwrap();
    assert_eq!(stats.bytes_out, len);
    assert!(stats.records_out <= stats.records_in && stats.bytes_out <= stats.bytes_in);
    let index = read_all(&*storage.open(&offset_index, false).unwrap()).unwrap();
    let n = entries_len(IndexKind::Offset, &index, len).expect("offset index trailer");
    assert!(OffsetIndex::is_sane(&index[..n], len, u64::from(u32::MAX)));
    let time = read_all(&*storage.open(&time_index, false).unwrap()).unwrap();
    let n = entries_len(IndexKind::Time, &time, len).expect("time index trailer");
    assert!(TimeIndex::is_sane(&time[..n], u64::from(u32::MAX)));
    assert!(
        len == 0 || n > 0,
        "a non-empty log's time index has an entry"
    );
    storage.rename(&log, &seg.path).unwrap();
    storage
        .rename(&offset_index, &seg.path.with_extension("index"))
        .unwrap();
    storage
        .rename(&time_index, &seg.path.with_extension("timeindex"))
        .unwrap();
}

/// What every moment of compaction keeps: records are the ones written at
/// their offsets, in order; each key's last record is its latest, or the
/// key is gone entirely once its latest is a tombstone.
fn check_invariant(got: &[Read], all: &[Rec]) -> Result<(), TestCaseError> {
    let mut last_of: BTreeMap<u8, u64> = BTreeMap::new();
    for pair in got.windows(2) {
        prop_assert!(pair[0].0 < pair[1].0, "offsets increase: {:?}", pair);
    }
    for &(offset, key, value, ts) in got {
        prop_assert_eq!(
            (key, value, ts),
            all[offset as usize],
            "record at {}",
            offset
        );
        if let Some(k) = key {
            last_of.insert(k, offset);
        }
    }
    let mut latest: BTreeMap<u8, u64> = BTreeMap::new();
    for (o, r) in all.iter().enumerate() {
        if let Some(k) = r.0 {
            latest.insert(k, o as u64);
        }
    }
    for (k, &l) in &latest {
        match last_of.get(k) {
            Some(&o) => prop_assert_eq!(o, l, "key {}'s last record is its latest", k),
            None => prop_assert!(all[l as usize].1.is_none(), "key {} lost its value", k),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn passes_of_any_budget_leave_each_keys_latest_record(
        segments in log(),
        keys_per_pass in 1usize..6,
        delete_horizon_ms in 0i64..120,
        index_interval_bytes in prop_oneof![Just(1u32), Just(64), Just(4096)],
    ) {
        let storage = MemStorage::default();
        let (segs, all, batch_max) = write(&storage, &segments);
        let log_end = all.len() as u64;
        let config = CleanConfig {
            delete_horizon_ms,
            index_interval_bytes,
            compression: None,
            levels: crate::compression::Levels::default(),
        };
        let budget = keys_per_pass * (ENTRY_OVERHEAD_BYTES + 1);
        let mut dirty = 0;
        let mut passes = 0;
        while dirty < log_end {
            let mut map = OffsetMap::new(budget, dirty);
            for seg in &segs {
                let f = storage.open(&seg.path, false).unwrap();
                if map.add_segment(&source(&*f, seg), &[]).unwrap() == Filled::Full {
                    break;
                }
            }
            prop_assert!(map.len() <= keys_per_pass.max(1));
            prop_assert!(map.end_offset() > dirty, "every pass progresses");
            for seg in segs.iter().filter(|s| s.base < map.end_offset()) {
                clean_and_swap(&storage, seg, &map, &config);
            }
            check_invariant(&read_log(&storage, &segs), &all)?;
            dirty = map.end_offset();
            passes += 1;
            prop_assert!(passes <= all.len(), "no more passes than records");
        }
        // After the last pass: exactly each key's latest record, less the
        // tombstones past the horizon, and every keyless record.
        let mut latest: BTreeMap<u8, usize> = BTreeMap::new();
        for (o, r) in all.iter().enumerate() {
            if let Some(k) = r.0 {
                latest.insert(k, o);
            }
        }
        let want: Vec<Read> = all
            .iter()
            .enumerate()
            .filter(|&(o, r)| match r.0 {
                None => true,
                Some(k) => latest[&k] == o && (r.1.is_some() || batch_max[o] >= delete_horizon_ms),
            })
            .map(|(o, r)| (o as u64, r.0, r.1, r.2))
            .collect();
        prop_assert_eq!(read_log(&storage, &segs), want);
    }
}
