//! The public `Segment` handle, through the public API only, on disk and
//! in memory: listing a multi-segment partition, reading each segment,
//! offset and timestamp lookups against a model, verifying a clean and a
//! damaged segment, archiving a sealed one, and holding one while
//! retention deletes it and compaction replaces it.

mod common;

use common::{flip_bit, segment_file};
use samsa_log::partition::{CompactionOptions, PartitionConfig};
use samsa_log::segment::SegmentIndex;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Partition, Record, Segment};
use std::path::Path;

/// Segments of a few hundred-byte records, an index entry every batch or
/// two.
fn config() -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(1024)
        .index_interval_bytes(128)
}

/// A timestamp that is not monotonic along the offsets: 0, 10, 5, 20, ...
fn stamp(offset: u64) -> i64 {
    let i = offset as i64;
    if i % 2 == 0 {
        i * 5
    } else {
        i * 5 - 10
    }
}

fn value(offset: u64) -> Vec<u8> {
    let mut v = format!("v{offset}-").into_bytes();
    v.resize(100, b'.');
    v
}

/// Appends `n` records (one or two to a batch) with keys `k0..k4`.
fn fill(p: &Partition, n: u64) {
    let mut at = p.log_end_offset();
    let end = at + n;
    while at < end {
        let batch: Vec<(String, Vec<u8>, i64)> = (at..(at + 1 + at % 2).min(end))
            .map(|o| (format!("k{}", o % 5), value(o), stamp(o)))
            .collect();
        let records: Vec<Record<'_>> = batch
            .iter()
            .map(|(k, v, t)| Record::new(v).key(k).timestamp(*t))
            .collect();
        p.append(&records).unwrap();
        at += batch.len() as u64;
    }
}

/// Every record of `seg` as (offset, timestamp, value).
fn records_of(seg: &Segment) -> samsa_log::Result<Vec<(u64, i64, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut at = seg.base_offset();
    while at < seg.next_offset() {
        let r = seg.read(at, 300)?;
        if r.is_empty() {
            break;
        }
        out.extend(
            r.iter()
                .map(|r| (r.offset(), r.timestamp(), r.value().unwrap().to_vec())),
        );
        at = r.next_offset();
    }
    Ok(out)
}

/// Runs `f` on a partition on disk and on one of a `Log::in_memory()`.
fn on_both(f: impl Fn(&str, Partition, Option<&Path>)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    f("disk", Partition::open(&dir, config()).unwrap(), Some(&dir));
    let log = Log::in_memory();
    log.create_topic(
        "t",
        TopicConfig::default()
            .segment_bytes(1024)
            .index_interval_bytes(128),
    )
    .unwrap();
    f(
        "memory",
        log.topic("t").unwrap().partition(0).unwrap(),
        None,
    );
}

#[test]
fn every_segment_reads_and_looks_up_as_the_model_says() {
    on_both(|what, p, dir| {
        fill(&p, 60);
        let segments = p.segments().unwrap();
        assert!(segments.len() > 4, "{what}: {segments:?}");
        assert_eq!(segments[0].base_offset(), 0);
        for (i, seg) in segments.iter().enumerate() {
            let last = i == segments.len() - 1;
            assert_eq!(seg.is_active(), last, "{what}: {seg:?}");
            if !last {
                assert_eq!(seg.next_offset(), segments[i + 1].base_offset());
            }
            let n = seg.record_count().unwrap();
            assert_eq!(n, seg.next_offset() - seg.base_offset());
            let model: Vec<(u64, i64, Vec<u8>)> = (seg.base_offset()..seg.next_offset())
                .map(|o| (o, stamp(o), value(o)))
                .collect();
            assert_eq!(records_of(seg).unwrap(), model, "{what}: {seg:?}");
            assert_eq!(
                seg.first_timestamp().unwrap(),
                model.first().map(|m| m.1),
                "{what}"
            );
            assert_eq!(
                seg.max_timestamp().unwrap(),
                model.iter().map(|m| m.1).max(),
                "{what}"
            );
            for o in seg.base_offset()..seg.next_offset() {
                let b = seg.lookup_offset(o).unwrap().unwrap();
                assert!(
                    b.base_offset <= o && o <= b.last_offset,
                    "{what}: {o} {b:?}"
                );
                assert!(b.position + b.size_bytes <= seg.size_bytes());
            }
            assert_eq!(seg.lookup_offset(seg.next_offset()).unwrap(), None);
            for target in -5..320 {
                let want = model.iter().find(|m| m.1 >= target).map(|m| (m.0, m.1));
                let got = seg
                    .offset_for_timestamp(target)
                    .unwrap()
                    .map(|t| (t.offset, t.timestamp));
                assert_eq!(got, want, "{what}: target {target} in {seg:?}");
            }
            let report = seg.verify().unwrap();
            assert!(report.is_ok(), "{what}: {report:?}");
            assert_eq!(
                (report.records, report.bytes_checked),
                (n, seg.size_bytes())
            );
            if !last {
                assert!(report.index_entries > 0, "{what}: {report:?}");
            }
            let files = seg.files();
            assert!(files
                .log
                .ends_with(format!("{:020}.log", seg.base_offset())));
            assert_eq!(files.offset_index.is_some(), !last, "{what}: {files:?}");
            if dir.is_some() {
                assert!(files.log.exists());
            }
        }
        let active = segments.last().unwrap();
        assert!(matches!(
            active.read(active.next_offset() + 1, 100),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert!(active.read(active.next_offset(), 100).unwrap().is_empty());
    });
}

#[test]
fn a_listed_active_segment_reads_as_it_was_listed() {
    on_both(|what, p, _| {
        fill(&p, 3);
        let listed = p.segments().unwrap().pop().unwrap();
        assert!(listed.is_active());
        fill(&p, 40);
        assert_eq!(listed.next_offset(), 3, "{what}");
        let offsets: Vec<u64> = records_of(&listed).unwrap().iter().map(|r| r.0).collect();
        assert_eq!(offsets, [0, 1, 2], "{what}");
        let mut copy = Vec::new();
        assert_eq!(listed.copy_to(&mut copy).unwrap(), listed.size_bytes());
        assert!(listed.verify().unwrap().is_ok());
    });
}

#[test]
fn a_sealed_segment_archives_byte_for_byte() {
    on_both(|what, p, dir| {
        fill(&p, 30);
        let segments = p.segments().unwrap();
        for seg in &segments[..segments.len() - 1] {
            let mut archive = Vec::new();
            let n = seg.copy_to(&mut archive).unwrap();
            assert_eq!(n, seg.size_bytes(), "{what}");
            assert_eq!(archive.len() as u64, n);
            if dir.is_some() {
                assert_eq!(archive, std::fs::read(seg.files().log).unwrap(), "{what}");
            }
        }
        // The active segment: its durable prefix (all of it, under the
        // default SyncPolicy::Always).
        let active = segments.last().unwrap();
        let mut archive = Vec::new();
        assert_eq!(active.copy_to(&mut archive).unwrap(), active.size_bytes());
    });
}

#[test]
fn a_flipped_byte_in_a_sealed_log_is_reported_by_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let p = Partition::open(&dir, config()).unwrap();
    fill(&p, 30);
    let second = p.segments().unwrap()[0].lookup_offset(1).unwrap().unwrap();
    p.close().unwrap();
    drop(p);
    // Fault: one bit of the second batch's records, in a sealed segment.
    flip_bit(
        &segment_file(&dir, 0, "log"),
        second.position + second.size_bytes - 3,
        2,
    );
    let p = Partition::open(&dir, config()).unwrap();
    let seg = &p.segments().unwrap()[0];
    let report = seg.verify().unwrap();
    let bad = report.first_bad_batch.clone().expect("the damage is found");
    assert_eq!(bad.position, second.position, "{report:?}");
    assert_eq!(report.batches, 1);
    assert_eq!(report.bytes_checked, second.position);
    assert!(!report.is_ok());
    match seg.read(second.base_offset, 100) {
        Err(Error::Corrupt { path, position, .. }) => {
            assert_eq!((path, position), (seg.files().log, second.position));
        }
        other => panic!("{other:?}"),
    }
    // The rest of the partition verifies clean.
    for seg in &p.segments().unwrap()[1..] {
        assert!(seg.verify().unwrap().is_ok());
    }
}

#[test]
fn a_damaged_index_is_reported_by_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let p = Partition::open(&dir, config()).unwrap();
    fill(&p, 30);
    p.close().unwrap();
    drop(p);
    let index = segment_file(&dir, 0, "index");
    let time_index = segment_file(&dir, 0, "timeindex");
    let bytes = std::fs::read(&index).unwrap();
    // docs/FORMAT.md: 8-byte entries (relative offset, position), then a
    // 16-byte trailer (log size, CRC-32 of the entries and log size, magic).
    let n = bytes.len() - 16;
    assert!(n >= 16, "two entries at least: {n}");
    let mut entries = bytes[..n].to_vec();
    // Fault: the second entry names the first one's offset, with an
    // intact trailer: a plausible index that lies.
    let first_rel = entries[..4].to_vec();
    entries[8..12].copy_from_slice(&first_rel);
    let mut trailer = bytes[n..].to_vec();
    let log_size = u64::from_le_bytes(trailer[..8].try_into().unwrap());
    let mut h = crc32fast::Hasher::new();
    h.update(&entries);
    h.update(&log_size.to_le_bytes());
    trailer[8..12].copy_from_slice(&h.finalize().to_le_bytes());
    std::fs::write(&index, [entries, trailer].concat()).unwrap();
    // Fault: the time index's last byte flipped (its trailer fails).
    let len = std::fs::metadata(&time_index).unwrap().len();
    flip_bit(&time_index, len - 1, 0);

    let p = Partition::open(&dir, config()).unwrap();
    let seg = &p.segments().unwrap()[0];
    let report = seg.verify().unwrap();
    assert!(report.first_bad_batch.is_none(), "{report:?}");
    assert_eq!(report.index_mismatch_count, 2, "{report:?}");
    let found: Vec<_> = report
        .index_mismatches
        .iter()
        .map(|m| (m.index, m.entry))
        .collect();
    assert!(
        found.contains(&(SegmentIndex::Offset, Some(1))),
        "{report:?}"
    );
    assert!(found.contains(&(SegmentIndex::Time, None)), "{report:?}");
    // Reads do without the lying entry all the same.
    let records = records_of(seg).unwrap();
    assert_eq!(records.len() as u64, seg.record_count().unwrap());
}

#[test]
fn a_held_segment_outlives_retention_and_compaction() {
    on_both(|what, p, _| {
        fill(&p, 60);
        let held = p.segments().unwrap();
        let before: Vec<_> = held.iter().map(|s| records_of(s).unwrap()).collect();

        // Compaction replaces every sealed segment.
        let options = CompactionOptions {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionOptions::default()
        };
        let done = p.compact(options).unwrap();
        assert!(done.segments > 0, "{what}");
        let after = p.segments().unwrap();
        assert!(after[0].record_count().is_none(), "{what}: compacted");
        let compacted: Vec<_> = after.iter().map(|s| records_of(s).unwrap()).collect();
        assert!(compacted[0].len() < before[0].len(), "{what}");
        // Retention then deletes them all.
        let deleted = p.enforce_retention(Some(0), None).unwrap();
        assert!(deleted.segments > 0, "{what}");
        assert!(p.segments().unwrap().len() < held.len());

        // The held handles read, verify and copy the data they were listed
        // with.
        for (seg, records) in held.iter().zip(&before) {
            assert_eq!(&records_of(seg).unwrap(), records, "{what}: {seg:?}");
            assert!(seg.verify().unwrap().is_ok(), "{what}: {seg:?}");
            let mut archive = Vec::new();
            assert_eq!(seg.copy_to(&mut archive).unwrap(), seg.size_bytes());
            assert_eq!(
                seg.max_timestamp().unwrap(),
                records.iter().map(|r| r.1).max()
            );
        }
        // And those listed after compaction, which retention deleted.
        for (seg, records) in after.iter().zip(&compacted) {
            assert_eq!(&records_of(seg).unwrap(), records, "{what}: {seg:?}");
            assert!(seg.verify().unwrap().is_ok(), "{what}: {seg:?}");
        }
    });
}

#[test]
fn a_segment_whose_files_are_gone_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let p = Partition::open(&dir, config()).unwrap();
    fill(&p, 30);
    let seg = p.segments().unwrap().remove(1);
    p.close().unwrap();
    drop(p);
    // Fault: the files removed by hand behind the closed partition.
    let files = seg.files();
    for f in [
        Some(files.log.clone()),
        files.offset_index,
        files.time_index,
    ]
    .into_iter()
    .flatten()
    {
        std::fs::remove_file(f).unwrap();
    }
    for result in [
        seg.read(seg.base_offset(), 100).map(drop),
        seg.verify().map(drop),
        seg.copy_to(&mut Vec::new()).map(drop),
        seg.lookup_offset(seg.base_offset()).map(drop),
    ] {
        match result {
            Err(Error::Io { path, .. }) => assert_eq!(path, files.log),
            other => panic!("{other:?}"),
        }
    }
}

/// A log of transactions on one partition with small segments: each
/// round commits or aborts two records; returns the partition's directory.
fn transactional_log(root: &Path) -> std::path::PathBuf {
    use samsa_log::producer::ProducerConfig;
    let log = Log::open(root).unwrap();
    log.create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap();
    let p = log
        .producer_with(ProducerConfig::default().transactional_id("tx"))
        .unwrap();
    p.init_transactions().unwrap();
    for round in 0..30 {
        p.begin_transaction().unwrap();
        for i in 0..2 {
            let _ = p
                .send("t", Record::new(format!("round {round} record {i}")))
                .unwrap();
        }
        if round % 3 == 0 {
            p.abort_transaction().unwrap();
        } else {
            p.commit_transaction().unwrap();
        }
    }
    p.close().unwrap();
    let dir = log
        .topic("t")
        .unwrap()
        .partition(0)
        .unwrap()
        .dir()
        .to_path_buf();
    log.close().unwrap();
    dir
}

#[test]
fn verify_checks_the_aborted_transaction_index_against_the_markers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = transactional_log(tmp.path());
    let p = Partition::open(&dir, PartitionConfig::default()).unwrap();
    let segments = p.segments().unwrap();
    let with_index: Vec<&Segment> = segments
        .iter()
        .filter(|s| !s.is_active() && s.files().txn_index.is_some())
        .collect();
    assert!(with_index.len() >= 2, "sealed segments with aborts");
    for seg in &segments {
        let report = seg.verify().unwrap();
        assert!(report.is_ok(), "{report:?}");
    }
    let victim = with_index[0].files().txn_index.unwrap();
    let base = with_index[0].base_offset();
    drop(segments);
    p.close().unwrap();
    drop(p);
    let check = |what: &str| {
        let p = Partition::open(&dir, PartitionConfig::default()).unwrap();
        let seg = p
            .segments()
            .unwrap()
            .into_iter()
            .find(|s| s.base_offset() == base)
            .unwrap();
        let report = seg.verify().unwrap();
        let found: Vec<_> = report
            .index_mismatches
            .iter()
            .filter(|m| m.index == SegmentIndex::Transactions)
            .map(|m| m.entry)
            .collect();
        assert!(!found.is_empty(), "{what}: {report:?}");
        assert!(!report.is_ok());
    };
    // Fault: an entry that names another offset (CRC resealed): a
    // plausible index that lies.
    let good = std::fs::read(&victim).unwrap();
    let mut lying = good.clone();
    let last = u64::from_le_bytes(lying[16..24].try_into().unwrap());
    lying[16..24].copy_from_slice(&(last - 1).to_le_bytes());
    let crc = crc32fast::hash(&lying[..24]);
    lying[24..28].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&victim, &lying).unwrap();
    check("an entry naming a record");
    // Fault: the file removed: its abort markers have no entry.
    std::fs::remove_file(&victim).unwrap();
    check("the file removed");
    std::fs::write(&victim, &good).unwrap();
    let p = Partition::open(&dir, PartitionConfig::default()).unwrap();
    assert!(p
        .segments()
        .unwrap()
        .iter()
        .all(|s| s.verify().unwrap().is_ok()));
}
