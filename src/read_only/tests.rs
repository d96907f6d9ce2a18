//! A read-only log beside its owner in the same process: what it reads,
//! how it follows the owner's appends, rolls, retention, compaction and
//! commits, and that it changes nothing on disk.

use super::*;
use crate::consumer::ConsumerConfig;
use crate::partition::CompactionOptions;
use crate::producer::ProducerConfig;
use crate::record::Record;
use crate::topic::CleanupPolicy;
use crate::Log;
use std::time::{Instant, SystemTime};

fn owner(dir: &Path) -> Log {
    Log::builder().maintenance_interval(None).open(dir).unwrap()
}

/// Every value `p` holds from its log start, with offsets.
fn values(p: &ReadOnlyPartition) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let end = p.end_offset().unwrap();
    let mut at = p.log_start_offset().unwrap();
    while at < end {
        let r = p.read(at, 4096).unwrap();
        out.extend(r.iter().map(|r| {
            (
                r.offset(),
                String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned(),
            )
        }));
        assert!(r.next_offset() > at, "progress from {at}");
        at = r.next_offset();
    }
    out
}

/// Names, sizes and modification times of every file under `dir`.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), m.len(), m.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn reads_what_the_owner_wrote_and_follows_its_appends_and_rolls() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    let topic = log
        .create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap();
    let p = topic.partition(0).unwrap();
    let ro = Log::open_read_only(tmp.path()).unwrap();
    assert_eq!(ro.topics().unwrap(), ["t"]);
    assert_eq!(ro.partition_count("t").unwrap(), 1);
    assert_eq!(ro.topic_config("t").unwrap().segment_bytes, 1024);
    let rp = ro.partition("t", 0).unwrap();
    assert_eq!(rp.end_offset().unwrap(), 0);
    let mut want = Vec::new();
    for i in 0..200u64 {
        p.append(&[Record::new(format!("v{i}"))]).unwrap();
        want.push((i, format!("v{i}")));
        if i % 37 == 0 {
            assert_eq!(rp.end_offset().unwrap(), i + 1, "follows the appends");
        }
    }
    assert!(p.segments().unwrap().len() > 5, "rolled");
    assert_eq!(values(&rp), want);
    // Reading from the middle, and past the end.
    let r = rp.read(150, 1).unwrap();
    assert_eq!(r.iter().next().unwrap().offset(), 150);
    assert!(matches!(
        rp.read(201, 1024),
        Err(Error::OffsetOutOfRange { end: 200, .. })
    ));
    assert!(matches!(
        ro.partition("t", 1),
        Err(Error::UnknownPartition { .. })
    ));
    assert!(matches!(
        ro.partition("nope", 0),
        Err(Error::UnknownTopic { .. })
    ));
}

#[test]
fn it_changes_nothing_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    log.create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap();
    let producer = log.producer();
    for i in 0..100 {
        let _ = producer.send("t", Record::new(format!("v{i}"))).unwrap();
    }
    producer.close().unwrap();
    let mut consumer = log.consumer(ConsumerConfig::new("g")).unwrap();
    consumer
        .commit_offsets(&[(("t".to_owned(), 0), OffsetAndMetadata::new(40))])
        .unwrap();
    drop(consumer);
    let before = tree(tmp.path());
    let ro = Log::open_read_only(tmp.path()).unwrap();
    let rp = ro.partition("t", 0).unwrap();
    assert_eq!(values(&rp).len(), 100);
    let _ = rp.poll(100, 1024, Duration::from_millis(5)).unwrap();
    assert_eq!(ro.groups().unwrap(), ["g"]);
    assert_eq!(
        tree(tmp.path()),
        before,
        "no file created, changed or removed"
    );
    // The storage itself refuses changes.
    let e = ro
        .storage
        .open(&tmp.path().join("new-file"), true)
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(!tmp.path().join("new-file").exists());
}

#[test]
fn retention_and_compaction_under_the_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    let topic = log
        .create_topic(
            "t",
            TopicConfig::default()
                .segment_bytes(1024)
                .cleanup_policy(CleanupPolicy::Compact),
        )
        .unwrap();
    let p = topic.partition(0).unwrap();
    for i in 0..300u64 {
        let key = format!("k{}", i % 10);
        p.append(&[Record::new(format!("v{i}")).key(key.into_bytes())])
            .unwrap();
    }
    let ro = Log::open_read_only(tmp.path()).unwrap();
    let rp = ro.partition("t", 0).unwrap();
    let before = values(&rp);
    assert_eq!(before.len(), 300);
    // Compaction swaps the sealed segments under the reader: offsets stay,
    // superseded records go.
    let report = p
        .compact(CompactionOptions {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionOptions::default()
        })
        .unwrap();
    assert!(report.records_out < report.records_in);
    let after = values(&rp);
    assert!(after.len() < before.len());
    assert!(after.iter().all(|v| before.contains(v)), "nothing new");
    // Value `v{n}` was written with key `k{n % 10}`.
    let last = |vals: &[(u64, String)]| -> BTreeMap<u64, String> {
        vals.iter()
            .map(|(_, v)| (v[1..].parse::<u64>().unwrap() % 10, v.clone()))
            .collect()
    };
    assert_eq!(last(&after), last(&before), "each key's latest stays");
    // Records deleted under the reader: below the new start is out of
    // range, at it reads on.
    p.delete_records(250).unwrap();
    assert_eq!(rp.log_start_offset().unwrap(), 250);
    assert!(matches!(
        rp.read(10, 1024),
        Err(Error::OffsetOutOfRange { start: 250, .. })
    ));
    let first_kept = after.iter().find(|v| v.0 >= 250).map(|v| v.0);
    assert_eq!(values(&rp).first().map(|v| v.0), first_kept);
}

#[test]
fn a_batch_being_written_is_not_visible_until_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    let p = log
        .create_topic("t", TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap();
    p.append(&[Record::new(b"whole")]).unwrap();
    let seg = p.segments().unwrap().last().unwrap().files().log;
    let ro = Log::open_read_only(tmp.path()).unwrap();
    let rp = ro.partition("t", 0).unwrap();
    assert_eq!(rp.end_offset().unwrap(), 1);
    // Half of a second batch, as a write in progress would leave it.
    let whole = std::fs::read(&seg).unwrap();
    let valid = crate::batch::BatchHeader::decode_from(&whole)
        .unwrap()
        .total_size();
    let batch = whole[..valid].to_vec();
    let mut torn = batch[..batch.len() / 2].to_vec();
    // Its base offset says 1.
    torn[..8].copy_from_slice(&1u64.to_le_bytes());
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&torn, valid as u64).unwrap();
    assert_eq!(rp.end_offset().unwrap(), 1, "not whole: not visible");
    assert_eq!(values(&rp), [(0, "whole".to_owned())]);
}

#[test]
fn groups_offsets_lag_and_polling() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    log.create_topic("t", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = log.producer_with(ProducerConfig::default()).unwrap();
    for i in 0..10u32 {
        let _ = producer
            .send("t", Record::new(format!("v{i}")).partition(i % 2))
            .unwrap();
    }
    producer.flush().unwrap();
    let mut consumer = log.consumer(ConsumerConfig::new("g")).unwrap();
    consumer
        .commit_offsets(&[(("t".to_owned(), 0), OffsetAndMetadata::new(3))])
        .unwrap();
    let ro = Log::open_read_only(tmp.path()).unwrap();
    assert_eq!(ro.groups().unwrap(), ["g"]);
    let offsets = ro.committed_offsets().unwrap();
    assert_eq!(
        offsets
            .get(&("g".to_owned(), "t".to_owned(), 0))
            .map(|o| o.offset),
        Some(3)
    );
    let lag = ro.lag("g").unwrap();
    assert_eq!(lag.len(), 1);
    assert_eq!((lag[0].lag, lag[0].high_watermark), (2, 5));

    // A poll waits for the owner's next append.
    let rp = ro
        .clone()
        .with_poll_interval(Duration::from_millis(2))
        .partition("t", 1)
        .unwrap();
    let appender = {
        let p = log.topic("t").unwrap().partition(1).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            p.append(&[Record::new(b"late")]).unwrap();
        })
    };
    let started = Instant::now();
    let r = rp.poll(5, 1024, Duration::from_secs(20)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r.iter().next().map(|r| r.offset()), Some(5));
    appender.join().unwrap();
    // A poll with nothing new returns empty at its timeout.
    assert!(rp
        .poll(6, 1024, Duration::from_millis(5))
        .unwrap()
        .is_empty());
}

#[test]
fn only_a_log_directory_opens() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        Log::open_read_only(tmp.path().join("missing")),
        Err(Error::Io { .. })
    ));
    std::fs::write(tmp.path().join("notes.txt"), b"mine").unwrap();
    assert!(matches!(
        Log::open_read_only(tmp.path()),
        Err(Error::ForeignDirectory { .. })
    ));
}

#[test]
fn dump_shows_markers_and_the_aborted_transaction_index() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    log.create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap();
    let p = log
        .producer_with(ProducerConfig::default().transactional_id("tx"))
        .unwrap();
    p.init_transactions().unwrap();
    for round in 0..20 {
        p.begin_transaction().unwrap();
        let _ = p.send("t", Record::new(format!("r{round}"))).unwrap();
        if round % 2 == 0 {
            p.abort_transaction().unwrap();
        } else {
            p.commit_transaction().unwrap();
        }
    }
    p.close().unwrap();
    let part = log.topic("t").unwrap().partition(0).unwrap();
    let first = part.segments().unwrap()[0].files();
    let (mut markers, mut aborted, mut records) = (Vec::new(), 0, 0);
    dump_file(&first.log, true, &mut |item| match item {
        DumpItem::Batch(b) => {
            assert!(b.valid && b.transactional, "{b:?}");
            markers.extend(b.control);
        }
        DumpItem::Record(_) => records += 1,
        other => panic!("{other:?}"),
    })
    .unwrap();
    assert!(
        markers.contains(&"COMMIT") && markers.contains(&"ABORT"),
        "{markers:?}"
    );
    assert!(records > markers.len());
    dump_file(&first.txn_index.unwrap(), false, &mut |item| match item {
        DumpItem::AbortedTransaction {
            first_offset,
            last_offset,
            ..
        } => {
            assert!(first_offset < last_offset);
            aborted += 1;
        }
        other => panic!("{other:?}"),
    })
    .unwrap();
    assert_eq!(aborted, markers.iter().filter(|m| **m == "ABORT").count());
    assert!(matches!(
        dump_file(&tmp.path().join("meta.properties"), false, &mut |_| {}),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn offsets_by_timestamp() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    let p = log
        .create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap()
        .partition(0)
        .unwrap();
    for i in 0..60i64 {
        p.append(&[Record::new(format!("v{i}")).timestamp(1_000 + i * 10)])
            .unwrap();
    }
    let ro = Log::open_read_only(tmp.path()).unwrap();
    let rp = ro.partition("t", 0).unwrap();
    assert_eq!(rp.offset_for_timestamp(0).unwrap(), Some(0));
    assert_eq!(rp.offset_for_timestamp(1_205).unwrap(), Some(21));
    assert_eq!(rp.offset_for_timestamp(1_590).unwrap(), Some(59));
    assert_eq!(rp.offset_for_timestamp(1_591).unwrap(), None);
    for ts in [0, 1_205, 1_590, 1_591] {
        let want = p.offset_for_timestamp(ts).unwrap().map(|t| t.offset);
        assert_eq!(
            rp.offset_for_timestamp(ts).unwrap(),
            want,
            "as the owner says, {ts}"
        );
    }
}

#[test]
fn reads_anywhere_in_a_large_last_segment_start_at_the_offset_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let log = owner(tmp.path());
    let p = log
        .create_topic("t", TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap();
    // One segment of about 1.5 MiB: batches of 1 to 40 records of 20 to
    // 600 bytes.
    let mut offset = 0u64;
    for b in 0..300u64 {
        let n = 1 + (b * 7) % 40;
        let values: Vec<String> = (0..n)
            .map(|i| {
                let o = offset + i;
                format!("{o:08}-{}", "v".repeat(((o * 13) % 590) as usize))
            })
            .collect();
        let records: Vec<Record<'_>> = values.iter().map(Record::new).collect();
        p.append(&records).unwrap();
        offset += n;
    }
    let reader = Log::open_read_only(tmp.path())
        .unwrap()
        .partition("t", 0)
        .unwrap();
    assert_eq!(reader.end_offset().unwrap(), offset);
    let marks = reader.marks();
    assert!(marks > 10, "the last segment is marked: {marks}");
    for at in (0..offset).step_by(97).chain([offset - 1]) {
        let mut counts = Vec::new();
        for max_bytes in [0, 1000, 1 << 20] {
            let r = reader.read(at, max_bytes).unwrap();
            let got: Vec<(u64, String)> = r
                .iter()
                .map(|r| {
                    let v = String::from_utf8(r.value().unwrap().to_vec()).unwrap();
                    (r.offset(), v)
                })
                .collect();
            assert_eq!(got[0].0, at, "read at {at} ({max_bytes} bytes)");
            for (i, (o, v)) in got.iter().enumerate() {
                assert_eq!(*o, at + i as u64);
                assert!(v.starts_with(&format!("{o:08}-")), "{o}: {v}");
            }
            counts.push(got.len());
        }
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        let whole = offset - at;
        assert_eq!(counts[2] as u64, whole.min(counts[2] as u64));
        assert!(at + (counts[2] as u64) == offset || counts[2] > counts[0]);
    }
    // Every record, read in small steps, once and in order.
    let all = values(&reader);
    assert_eq!(all.len() as u64, offset);
    assert!(all.iter().enumerate().all(|(i, (o, _))| *o == i as u64));
}
