//! Scenario: a service stores JSON events compressed (issue 18). For every
//! codec this build has (`cargo test --features compression` for all
//! four), on disk and in memory:
//! - a producer compressing with it writes batches in it, a topic naming a
//!   codec stores every batch in that one (a direct append too), and
//!   `producer` keeps what the producer sent;
//! - everything reads back as written (keys, values, headers, timestamps,
//!   offsets), from any offset, after a reopen, at both isolation levels,
//!   by timestamp, through a consumer and read-only;
//! - disk bytes are a fraction of the payload;
//! - compaction keeps the latest record per key, stored in the topic's
//!   codec;
//! - a retried idempotent batch is still written once.
//!
//! Without a codec feature it checks what a build without codecs does: a
//! codec in a setting is `InvalidConfig`, a compressed log a typed error.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::partition::{CompactionOptions, IsolationLevel};
use samsa_log::producer::{Compression, ProducerConfig};
use samsa_log::read_only::{dump_file, DumpItem};
use samsa_log::record::Header;
use samsa_log::topic::{CleanupPolicy, CompressionType, TopicConfig};
use samsa_log::{Error, Log, Record};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn codecs() -> Vec<Compression> {
    let codecs: Vec<Compression> = Compression::available()
        .into_iter()
        .filter(|c| *c != Compression::None)
        .collect();
    if codecs.is_empty() {
        eprintln!(
            "compression: no codec in this build; run with --features compression for the codecs"
        );
    }
    codecs
}

/// A JSON event of a few hundred bytes with repeating field names.
fn event(i: u64) -> String {
    format!(
        r#"{{"event":"order_placed","order_id":"ord-{i:08}","customer":{{"id":"cust-{}","tier":"{}"}},"items":[{{"sku":"sku-{}","qty":{},"price_cents":{}}}],"currency":"EUR","ts":{}}}"#,
        i % 1000,
        ["gold", "silver", "bronze"][(i % 3) as usize],
        i % 97,
        1 + i % 5,
        100 + (i * 37) % 10_000,
        1_700_000_000_000 + i
    )
}

fn on_both(f: impl Fn(&str, &Log, Option<&Path>)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    f("disk", &log, Some(&dir));
    log.close().unwrap();
    f("memory", &Log::in_memory(), None);
}

/// Every record of `topic`/0 as (offset, key, value, first header, timestamp).
type Row = (u64, Option<Vec<u8>>, Vec<u8>, Option<Vec<u8>>, i64);

fn read_all(log: &Log, topic: &str, isolation: IsolationLevel) -> Vec<Row> {
    let p = log.topic(topic).unwrap().partition(0).unwrap();
    let mut out = Vec::new();
    let mut at = p.log_start_offset();
    let end = p.end_offset(isolation);
    while at < end {
        let records = if isolation == IsolationLevel::ReadCommitted {
            p.read_committed(at, 4096).unwrap()
        } else {
            p.read(at, 4096).unwrap()
        };
        for r in &records {
            out.push((
                r.offset(),
                r.key().map(<[u8]>::to_vec),
                r.value().unwrap_or_default().to_vec(),
                r.headers().next().and_then(|h| h.value.map(<[u8]>::to_vec)),
                r.timestamp(),
            ));
        }
        at = records.next_offset();
    }
    out
}

/// The codecs of the batches of every segment of `topic`/0 (on disk).
fn stored_codecs(log: &Log, topic: &str) -> Vec<Compression> {
    let p = log.topic(topic).unwrap().partition(0).unwrap();
    let mut codecs = Vec::new();
    for seg in p.segments().unwrap() {
        dump_file(&seg.files().log, false, &mut |item| {
            if let DumpItem::Batch(b) = item {
                if b.control.is_none() {
                    codecs.push(b.compression);
                }
            }
        })
        .unwrap();
    }
    codecs
}

fn produce_events(log: &Log, topic: &str, config: ProducerConfig, n: u64) {
    let producer = log
        .producer_with(config.linger(Duration::from_millis(50)))
        .unwrap();
    for i in 0..n {
        let value = event(i);
        let key = format!("k{}", i % 50);
        let n = i.to_string();
        let ts = (1_700_000_000_000 + i * 10) as i64;
        let record = Record::new(value.as_bytes())
            .key(key.as_bytes())
            .headers(vec![Header::new("n", n.as_bytes())])
            .timestamp(ts);
        let _delivery = producer.send(topic, record).unwrap();
    }
    producer.flush().unwrap();
}

fn check_events(rows: &[Row], n: u64) {
    assert_eq!(rows.len() as u64, n);
    for (i, (offset, key, value, header, ts)) in rows.iter().enumerate() {
        let i = i as u64;
        assert_eq!(*offset, i);
        assert_eq!(key.as_deref(), Some(format!("k{}", i % 50).as_bytes()));
        assert_eq!(value, event(i).as_bytes());
        assert_eq!(header.as_deref(), Some(i.to_string().as_bytes()));
        assert_eq!(*ts, (1_700_000_000_000 + i * 10) as i64);
    }
}

#[test]
fn a_producer_compresses_and_everything_reads_back() {
    for codec in codecs() {
        on_both(|what, log, dir| {
            let topic = format!("events-{codec}");
            log.create_topic(&topic, TopicConfig::default().segment_bytes(64 << 10))
                .unwrap();
            produce_events(
                log,
                &topic,
                ProducerConfig::default().compression(codec),
                3000,
            );
            let rows = read_all(log, &topic, IsolationLevel::ReadUncommitted);
            check_events(&rows, 3000);
            let p = log.topic(&topic).unwrap().partition(0).unwrap();
            // From any offset, mid-batch included.
            for from in [1, 777, 2999] {
                let r = p.read(from, 100).unwrap();
                assert_eq!(r.iter().next().unwrap().offset(), from, "{what} {codec}");
            }
            // By timestamp.
            let at = p
                .offset_for_timestamp(1_700_000_000_000 + 1234 * 10)
                .unwrap();
            assert_eq!(at.unwrap().offset, 1234, "{what} {codec}");
            let Some(dir) = dir else { return };
            let stored = stored_codecs(log, &topic);
            assert!(
                !stored.is_empty() && stored.iter().all(|c| *c == codec),
                "{stored:?}"
            );
            let payload: usize = (0..3000).map(|i| event(i).len()).sum();
            let disk: u64 = p.segments().unwrap().iter().map(|s| s.size_bytes()).sum();
            assert!(
                (disk as usize) < payload / 2,
                "{codec}: {disk} bytes on disk for {payload} of payload"
            );
            // Read-only, beside the owner.
            let reader = Log::open_read_only(dir)
                .unwrap()
                .partition(&topic, 0)
                .unwrap();
            let mut seen = 0;
            let mut at = 0;
            while at < 3000 {
                let r = reader.read(at, 8192).unwrap();
                for rec in &r {
                    assert_eq!(rec.value().unwrap(), event(rec.offset()).as_bytes());
                    seen += 1;
                }
                at = r.next_offset();
            }
            assert_eq!(seen, 3000);
        });
    }
}

#[test]
fn a_topic_codec_stores_every_batch_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    for codec in codecs() {
        let log = Log::open(&dir).unwrap();
        let forced = format!("forced-{codec}");
        let config = TopicConfig::default().compression_type(CompressionType::from(codec));
        log.create_topic(&forced, config).unwrap();
        // A direct append and an uncompressed producer: stored in the codec.
        let p = log.topic(&forced).unwrap().partition(0).unwrap();
        let values: Vec<String> = (0..200).map(event).collect();
        let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v.as_bytes())).collect();
        p.append(&records).unwrap();
        // Another codec from the producer still lands in the topic's.
        let other = codecs()
            .into_iter()
            .find(|c| *c != codec)
            .unwrap_or(Compression::None);
        let producer = log
            .producer_with(ProducerConfig::default().compression(other))
            .unwrap();
        producer
            .send(&forced, Record::new(event(200).as_bytes()))
            .unwrap()
            .wait()
            .unwrap();
        assert!(stored_codecs(&log, &forced).iter().all(|c| *c == codec));
        // `producer` keeps each batch's own; `uncompressed` none.
        let kept = format!("kept-{codec}");
        log.create_topic(&kept, TopicConfig::default()).unwrap();
        let plain = format!("plain-{codec}");
        log.create_topic(
            &plain,
            TopicConfig::default().compression_type(CompressionType::Uncompressed),
        )
        .unwrap();
        for t in [&kept, &plain] {
            log.producer_with(ProducerConfig::default().compression(codec))
                .unwrap()
                .send(t, Record::new(event(0).as_bytes()))
                .unwrap()
                .wait()
                .unwrap();
        }
        assert_eq!(stored_codecs(&log, &kept), [codec]);
        assert_eq!(stored_codecs(&log, &plain), [Compression::None]);
        log.close().unwrap();
        // After a reopen (recovery reads headers only) it all reads back.
        let log = Log::open(&dir).unwrap();
        let rows = read_all(&log, &forced, IsolationLevel::ReadUncommitted);
        assert_eq!(rows.len(), 201);
        assert!(rows.iter().all(|r| r.2 == event(r.0).as_bytes()));
        let report = log
            .topic(&forced)
            .unwrap()
            .partition(0)
            .unwrap()
            .segments()
            .unwrap()
            .into_iter()
            .map(|s| s.verify().unwrap())
            .all(|r| r.is_ok());
        assert!(report, "verified without decompressing");
        log.close().unwrap();
    }
}

#[test]
fn compaction_keeps_the_latest_of_each_key_in_the_topic_codec() {
    for codec in codecs() {
        on_both(|what, log, dir| {
            let topic = format!("compacted-{codec}");
            let config = TopicConfig::default()
                .cleanup_policy(CleanupPolicy::Compact)
                .segment_bytes(4096)
                .compression_type(CompressionType::from(codec));
            log.create_topic(&topic, config).unwrap();
            let p = log.topic(&topic).unwrap().partition(0).unwrap();
            let mut latest = BTreeMap::new();
            for round in 0..20u64 {
                let values: Vec<(String, String)> = (0..30)
                    .map(|k| (format!("k{k}"), format!("{}-{round}", event(k))))
                    .collect();
                let records: Vec<Record<'_>> = values
                    .iter()
                    .map(|(k, v)| Record::new(v.as_bytes()).key(k.as_bytes()))
                    .collect();
                let info = p.append(&records).unwrap();
                for (i, (k, v)) in values.iter().enumerate() {
                    latest.insert(k.clone(), (info.base_offset + i as u64, v.clone()));
                }
            }
            let report = p
                .compact(CompactionOptions {
                    delete_retention_ms: 0,
                    min_cleanable_dirty_ratio: 0.0,
                    ..CompactionOptions::default()
                })
                .unwrap();
            assert!(
                report.records_out < report.records_in,
                "{what} {codec}: {report:?}"
            );
            let rows = read_all(log, &topic, IsolationLevel::ReadUncommitted);
            let mut last: BTreeMap<String, (u64, String)> = BTreeMap::new();
            for (offset, key, value, _, _) in rows {
                let key = String::from_utf8(key.unwrap()).unwrap();
                last.insert(key, (offset, String::from_utf8(value).unwrap()));
            }
            assert_eq!(last, latest, "{what} {codec}");
            if dir.is_some() {
                assert!(stored_codecs(log, &topic).iter().all(|c| *c == codec));
            }
        });
    }
}

#[test]
fn transactions_and_idempotence_work_compressed() {
    for codec in codecs() {
        on_both(|what, log, _| {
            let topic = format!("txn-{codec}");
            log.create_topic(&topic, TopicConfig::default()).unwrap();
            let producer = log
                .producer_with(
                    ProducerConfig::default()
                        .compression(codec)
                        .transactional_id(format!("t-{codec}")),
                )
                .unwrap();
            producer.init_transactions().unwrap();
            for (i, commit) in [(0u64, true), (1, false), (2, true)] {
                producer.begin_transaction().unwrap();
                for j in 0..50 {
                    let _d = producer
                        .send(&topic, Record::new(event(i * 100 + j).as_bytes()))
                        .unwrap();
                }
                if commit {
                    producer.commit_transaction().unwrap();
                } else {
                    producer.abort_transaction().unwrap();
                }
            }
            let committed = read_all(log, &topic, IsolationLevel::ReadCommitted);
            assert_eq!(committed.len(), 100, "{what} {codec}");
            assert!(committed.iter().all(|r| r
                .2
                .starts_with(br#"{"event":"order_placed","order_id":"ord-000000"#)
                || r.2
                    .starts_with(br#"{"event":"order_placed","order_id":"ord-000002"#)));
            let all = read_all(log, &topic, IsolationLevel::ReadUncommitted);
            assert_eq!(all.len(), 150);
            // A consumer group reads the committed ones.
            let mut c = log
                .consumer(
                    ConsumerConfig::new("g")
                        .auto_offset_reset(AutoOffsetReset::Earliest)
                        .isolation_level(IsolationLevel::ReadCommitted),
                )
                .unwrap();
            c.subscribe(&[&topic]).unwrap();
            let mut n = 0;
            for _ in 0..50 {
                n += c.poll(Duration::from_millis(20)).unwrap().len();
                if n == 100 {
                    break;
                }
            }
            assert_eq!(n, 100, "{what} {codec}");
        });
    }
}

#[test]
fn a_build_without_a_codec_refuses_it_with_a_typed_error() {
    let missing: Vec<Compression> = Compression::ALL
        .into_iter()
        .filter(|c| !c.is_available())
        .collect();
    if missing.is_empty() {
        eprintln!("compression: every codec is in this build; nothing to refuse");
        return;
    }
    let log = Log::in_memory();
    for codec in missing {
        let e = log
            .create_topic(
                "t",
                TopicConfig::default().compression_type(CompressionType::from(codec)),
            )
            .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
        assert!(e.to_string().contains(&format!("`{codec}` feature")), "{e}");
        let e = log
            .producer_with(ProducerConfig::default().compression(codec))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
    }
}

/// Rewrites the first batch of `log_file` as if compressed with codec
/// number `codec` (records left as they are), its CRC recomputed.
fn mark_compressed(log_file: &Path, codec: u16) {
    let mut bytes = std::fs::read(log_file).unwrap();
    let attributes = u16::from_le_bytes([bytes[17], bytes[18]]) | codec;
    bytes[17..19].copy_from_slice(&attributes.to_le_bytes());
    let len = 12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..13]);
    crc.update(&bytes[17..len]);
    bytes[13..17].copy_from_slice(&crc.finalize().to_le_bytes());
    std::fs::write(log_file, bytes).unwrap();
}

#[test]
fn records_that_do_not_decompress_are_typed_errors_never_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let log = Log::open(&dir).unwrap();
        let topic = format!("hostile-{codec}");
        let p = log
            .create_topic(&topic, TopicConfig::default())
            .unwrap()
            .partition(0)
            .unwrap();
        p.append(&[Record::new(event(1).as_bytes())]).unwrap();
        let file = p.segments().unwrap()[0].files().log;
        drop(p);
        log.close().unwrap();
        let id = Compression::ALL.iter().position(|c| *c == codec).unwrap() as u16;
        mark_compressed(&file, id);
        // Recovery reads the header and CRC only: the log opens.
        let log = Log::open(&dir).unwrap();
        let e = log
            .topic(&topic)
            .unwrap()
            .partition(0)
            .unwrap()
            .read(0, 4096)
            .unwrap_err();
        match &e {
            Error::CompressionUnavailable { codec: c, path } => {
                assert!(!codec.is_available());
                assert_eq!((c, path), (&codec, &file));
            }
            Error::Corrupt { path, reason, .. } => {
                assert!(codec.is_available(), "{e}");
                assert_eq!(path, &file);
                assert!(reason.contains(codec.name()), "{reason}");
            }
            other => panic!("{codec}: {other}"),
        }
        log.close().unwrap();
    }
}

#[test]
fn records_decompressing_past_max_message_bytes_are_refused() {
    let Some(codec) = codecs().into_iter().next() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    let config = TopicConfig::default().compression_type(CompressionType::from(codec));
    let p = log.create_topic("t", config).unwrap().partition(0).unwrap();
    let values: Vec<String> = (0..100).map(event).collect();
    let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v.as_bytes())).collect();
    p.append(&records).unwrap();
    drop(p);
    // The setting lowered below what the batch decompresses to.
    let lowered = log.topic("t").unwrap().config().max_record_bytes(1024);
    log.alter_topic_config("t", lowered).unwrap();
    log.close().unwrap();
    let log = Log::open(&dir).unwrap();
    let e = log
        .topic("t")
        .unwrap()
        .partition(0)
        .unwrap()
        .read(0, 1 << 20)
        .unwrap_err();
    match e {
        Error::Corrupt { reason, .. } => {
            assert!(reason.contains("more than 1024 bytes"), "{reason}")
        }
        other => panic!("{other}"),
    }
    log.close().unwrap();
}

#[test]
fn batches_past_max_message_bytes_stay_uncompressed_and_producer_batches_fit_it() {
    for codec in codecs() {
        let tmp = tempfile::tempdir().unwrap();
        let log = Log::open(tmp.path().join("log")).unwrap();
        // One append of about 22 KB into a topic of 4 KB records at most:
        // stored as it is, whatever the topic's codec.
        let config = TopicConfig::default()
            .max_record_bytes(4096)
            .compression_type(CompressionType::from(codec));
        let p = log
            .create_topic("big", config)
            .unwrap()
            .partition(0)
            .unwrap();
        let values: Vec<String> = (0..100).map(event).collect();
        let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v.as_bytes())).collect();
        p.append(&records).unwrap();
        assert_eq!(stored_codecs(&log, "big"), [Compression::None], "{codec}");
        // A compressing producer cuts its batches at the same bound: every
        // one compressed, each decompressing within it.
        let t = log
            .create_topic("small", TopicConfig::default().max_record_bytes(4096))
            .unwrap();
        produce_events(
            &log,
            "small",
            ProducerConfig::default().compression(codec),
            500,
        );
        let stored = stored_codecs(&log, "small");
        assert!(stored.len() >= 20, "{codec}: {} batches", stored.len());
        assert!(stored.iter().all(|c| *c == codec), "{codec}: {stored:?}");
        check_events(
            &read_all(&log, "small", IsolationLevel::ReadUncommitted),
            500,
        );
        drop((p, t));
        log.close().unwrap();
    }
}

#[test]
fn compaction_never_makes_a_segment_longer_than_it_was() {
    let Some(codec) = codecs().into_iter().next() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    let config = TopicConfig::default()
        .cleanup_policy(CleanupPolicy::Compact)
        .segment_bytes(4096)
        .compression_type(CompressionType::from(codec));
    let p = log.create_topic("c", config).unwrap().partition(0).unwrap();
    for round in 0..10u64 {
        let values: Vec<(String, String)> = (0..30)
            .map(|k| (format!("k{}", k + (round % 2) * 30), event(round * 100 + k)))
            .collect();
        let records: Vec<Record<'_>> = values
            .iter()
            .map(|(k, v)| Record::new(v.as_bytes()).key(k.as_bytes()))
            .collect();
        p.append(&records).unwrap();
    }
    drop(p);
    // The topic switched to uncompressed: rebuilt batches stay in the
    // codec they came in, rather than grow.
    let plain = log
        .topic("c")
        .unwrap()
        .config()
        .compression_type(CompressionType::Uncompressed);
    log.alter_topic_config("c", plain).unwrap();
    log.close().unwrap();
    let log = Log::open(&dir).unwrap();
    let p = log.topic("c").unwrap().partition(0).unwrap();
    let before: Vec<u64> = p
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.size_bytes())
        .collect();
    let report = p
        .compact(CompactionOptions {
            delete_retention_ms: 0,
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionOptions::default()
        })
        .unwrap();
    assert!(report.records_out < report.records_in, "{report:?}");
    let after: Vec<u64> = p
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.size_bytes())
        .collect();
    for (b, a) in before.iter().zip(&after) {
        assert!(a <= b, "a segment grew from {b} to {a} bytes");
    }
    assert!(stored_codecs(&log, "c").iter().all(|c| *c == codec));
    // Every key's latest value is still its last.
    let mut last = BTreeMap::new();
    for (_, key, value, _, _) in read_all(&log, "c", IsolationLevel::ReadUncommitted) {
        last.insert(key.unwrap(), value);
    }
    assert_eq!(last.len(), 60);
    for (k, v) in &last {
        let k: u64 = String::from_utf8_lossy(&k[1..]).parse().unwrap();
        let round = if k < 30 { 8 } else { 9 };
        assert_eq!(v, event(round * 100 + k % 30).as_bytes());
    }
    drop(p);
    log.close().unwrap();
}
