//! The fuzz targets as proptests of the ordinary test suite: each fed
//! arbitrary bytes, then mutations of valid encodings (bit flips, cuts,
//! length fields overwritten with 0, 2^31, 2^32-1, spliced and repeated
//! bytes).
//!
//! Cases: 64 per test by default; `SAMSA_PROPTEST_CASES` overrides.

use super::recovery::template;
use super::*;
use crate::batch::{AbortedTxn, BatchHeader};
use crate::compression::{Compression, Levels};
use crate::partition::{marker, producer_snapshot, SyncPolicy};
use crate::segment::log_file_name;
use crate::topic::properties;
use byteorder::{ByteOrder, LittleEndian as LE};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::Path;

/// Cases per test: 64 by default; `SAMSA_PROPTEST_CASES` overrides.
fn cases() -> u32 {
    std::env::var("SAMSA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// One change to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip(usize, u8),
    /// Cut the bytes short.
    Truncate(usize),
    /// Overwrite 4 bytes (a length field, at one of the target's field
    /// positions when the first value picks one) with a number.
    Len32(usize, u32),
    /// Overwrite 8 bytes.
    Len64(usize, u64),
    /// Overwrite bytes with others.
    Splice(usize, Vec<u8>),
    /// Remove a range.
    Remove(usize, usize),
    /// Repeat a range after itself.
    Repeat(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n32 = prop_oneof![Just(0u32), Just(1 << 31), Just(u32::MAX), any::<u32>()];
    let n64 = prop_oneof![
        Just(0u64),
        Just(1 << 31),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        any::<u64>()
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), n32).prop_map(|(p, v)| Mutation::Len32(p, v)),
        (any::<usize>(), n64).prop_map(|(p, v)| Mutation::Len64(p, v)),
        (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Mutation::Splice(p, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, n)| Mutation::Remove(p, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, n)| Mutation::Repeat(p, n)),
    ]
}

/// Applies `m` to `buf`; positions wrap around its length, and half of
/// the number writes land on one of `fields` (byte positions of length
/// and count fields in the target's input).
fn apply(buf: &mut Vec<u8>, m: &Mutation, fields: &[usize]) {
    let len = buf.len().max(1);
    let field = |p: usize| match fields.get(p % (2 * fields.len().max(1))) {
        Some(&f) => f,
        None => p % len,
    };
    let write = |buf: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        for (i, b) in bytes.iter().enumerate() {
            if let Some(x) = buf.get_mut(at + i) {
                *x = *b;
            }
        }
    };
    match m {
        Mutation::Flip(p, bit) => {
            if let Some(b) = buf.get_mut(p % len) {
                *b ^= 1 << bit;
            }
        }
        Mutation::Truncate(n) => buf.truncate(n % len),
        Mutation::Len32(p, v) => write(buf, field(*p), &v.to_le_bytes()),
        Mutation::Len64(p, v) => write(buf, field(*p), &v.to_le_bytes()),
        Mutation::Splice(p, bytes) => write(buf, p % len, bytes),
        Mutation::Remove(p, n) => {
            let at = (p % len).min(buf.len());
            let end = at + (n % 64).min(buf.len() - at);
            buf.drain(at..end);
        }
        Mutation::Repeat(p, n) => {
            let at = (p % len).min(buf.len());
            let end = at + (n % 128).min(buf.len() - at);
            let copy = buf[at..end].to_vec();
            buf.splice(end..end, copy);
        }
    }
}

/// A log of a transactional batch and its commit marker, then another
/// and its abort marker.
/// A batch of text records compressed with each codec of this build, one
/// after another.
fn compressed_batches() -> Vec<u8> {
    let mut log = Vec::new();
    for (i, codec) in Compression::available().into_iter().enumerate() {
        let mut b = BatchBuilder::new(usize::MAX, 256);
        for n in 0..20 {
            let v = format!(r#"{{"event":"order","n":{n}}}"#);
            b.push(&Record::new(v.as_bytes()).key(&b"k"[..]), 1_000)
                .unwrap();
        }
        let mut data = b
            .finish(ProducerFields::NONE)
            .compressed(codec, Levels::default())
            .unwrap();
        data.assign_base_offset(i as u64 * 20);
        log.extend_from_slice(data.as_bytes());
    }
    log
}

/// Text compressed with `codec` (nothing, without its feature).
fn compressed_text(codec: Compression) -> Vec<Vec<u8>> {
    let text: String = (0..50)
        .map(|n| format!(r#"{{"event":"order","n":{n}}}"#))
        .collect();
    let mut out = Vec::new();
    match crate::compression::compress(codec, Levels::default(), text.as_bytes(), &mut out) {
        Ok(()) => vec![out],
        Err(_) => Vec::new(),
    }
}

fn transactional_batches() -> Vec<u8> {
    use crate::batch::{ControlType, ATTR_TRANSACTIONAL};
    let mut log = Vec::new();
    let mut offset = 0;
    for (seq, kind) in [(0, ControlType::Commit), (2, ControlType::Abort)] {
        let mut b = BatchBuilder::new(usize::MAX, 256);
        for v in [&b"a"[..], b"b"] {
            b.push(&Record::new(v).key(&b"k"[..]), 1_000).unwrap();
        }
        let producer = ProducerFields {
            producer_id: 9,
            producer_epoch: 1,
            base_sequence: seq,
        };
        let mut data = b.finish_with(producer, ATTR_TRANSACTIONAL);
        data.assign_base_offset(offset);
        offset += 2;
        log.extend_from_slice(data.as_bytes());
        let marker = ControlMarker {
            kind,
            coordinator_epoch: 0,
        };
        let mut control = marker.batch(9, 1, 1_001);
        control.assign_base_offset(offset);
        offset += 1;
        log.extend_from_slice(control.as_bytes());
    }
    log
}

fn file(name: &str) -> Vec<u8> {
    let t = template();
    let found = t.files.iter().find(|(n, _)| n == name);
    found.map(|(_, b)| b.clone()).unwrap_or_default()
}

fn with_flags(flags: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(bytes);
    v
}

/// Valid inputs of a target, and the positions of its length and count
/// fields: the seeds of its fuzzer and of the mutation tests.
fn seeds(target: &str) -> (Vec<Vec<u8>>, Vec<usize>) {
    let t = template();
    let log0 = file(&log_file_name(0));
    let active = log_file_name(*t.bases.last().unwrap());
    let one_batch = log0[..BatchHeader::decode_from(&log0).unwrap().total_size()].to_vec();
    let batch_fields = vec![0, 8, 19, 53];
    let index0 = file(&log_file_name(0).replace(".log", ".index"));
    let time0 = file(&log_file_name(0).replace(".log", ".timeindex"));
    let snapshots: Vec<Vec<u8>> = t
        .files
        .iter()
        .filter(|(n, _)| n.ends_with(".snapshot"))
        .map(|(_, b)| b.clone())
        .collect();
    match target {
        "batch" => (
            vec![
                log0,
                one_batch,
                file(&active),
                transactional_batches(),
                compressed_batches(),
            ],
            batch_fields,
        ),
        "codec_gzip" => (compressed_text(Compression::Gzip), vec![4, 9]),
        "codec_snappy" => (compressed_text(Compression::Snappy), vec![0, 1]),
        "codec_lz4" => (compressed_text(Compression::Lz4), vec![0, 4]),
        "codec_zstd" => (compressed_text(Compression::Zstd), vec![4, 5]),
        "txn_index" => {
            let aborted = |producer_id, first_offset, last_offset| AbortedTxn {
                producer_id,
                first_offset,
                last_offset,
            };
            let mut seed = 100u64.to_le_bytes().to_vec();
            seed.extend_from_slice(&200u64.to_le_bytes());
            seed.extend(txn_index::encode(&[
                aborted(1, 90, 120),
                aborted(7, 110, 150),
            ]));
            (vec![seed], vec![0, 8, 16, 24, 32, 40])
        }
        "transaction_state" => {
            let meta = txn_state::sample();
            let seeds = vec![
                txn_state::encode_key("etl-0"),
                txn_state::encode_value(&meta),
            ];
            (seeds, vec![2, 29, 33])
        }
        "index" => {
            let entries = |f: &[u8]| {
                let mut v = t.log_sizes[0].to_le_bytes().to_vec();
                v.extend_from_slice(&f[..f.len() - 16]);
                v
            };
            let mut seeds = vec![with_flags(0, &index0), with_flags(1, &time0)];
            seeds.push(with_flags(2, &entries(&index0)));
            seeds.push(with_flags(3, &entries(&time0)));
            (seeds, vec![1, 9])
        }
        "topic_metadata" => {
            let config = crate::topic::TopicConfig::default()
                .partitions(3)
                .retention_ms(None)
                .sync(SyncPolicy::Interval { ms: 5, bytes: 9 });
            let seeds = vec![
                properties::encode(
                    "orders",
                    crate::topic::TopicId::from_u128(7),
                    &crate::topic::TopicConfig::default(),
                ),
                properties::encode(
                    "__consumer_offsets",
                    crate::topic::TopicId::from_u128(8),
                    &config,
                ),
            ];
            (seeds.into_iter().map(String::into_bytes).collect(), vec![])
        }
        "offset_store" => {
            let value = crate::group::OffsetAndMetadata {
                offset: 42,
                metadata: "note".into(),
            };
            let seeds = vec![
                offsets::encode_key("billing", "orders", 3),
                offsets::encode_value(&value, 1_700_000_000_000),
            ];
            (seeds, vec![2, 18])
        }
        "group_membership" => {
            use crate::group::{GroupDescription, GroupState, MemberDescription};
            let d = GroupDescription {
                group: "g".into(),
                state: GroupState::Stable,
                generation: 3,
                assignor: Some("range".into()),
                members: vec![MemberDescription {
                    member_id: "consumer-1".into(),
                    instance_id: Some("pod-a".into()),
                    topics: vec!["orders".into()],
                    assignment: vec![("orders".into(), 0), ("orders".into(), 1)],
                }],
            };
            let seeds = vec![
                membership::encode_key("billing"),
                membership::encode_value(&d, 1_700_000_000_000),
            ];
            // The assignor's length, the member count, the first member's
            // id length and topic count.
            (seeds, vec![16, 23, 27, 47])
        }
        "producer_snapshot" => (snapshots, vec![5, 13, 27]),
        "clean_shutdown_marker" => {
            let names = [log_file_name(1734), producer_snapshot::file_name(99)];
            let mut seeds = vec![file(marker::FILE_NAME)];
            seeds.extend(names.map(String::into_bytes));
            (seeds, vec![5, 13, 21])
        }
        "recover_segment" => {
            let log = file(&active);
            let mut forged = vec![4];
            forged.extend_from_slice(&u64::MAX.to_le_bytes());
            forged.extend_from_slice(&log);
            let seeds = vec![with_flags(0, &log), with_flags(3, &log), forged];
            (seeds, vec![1, 9, 20, 54])
        }
        "recover_sealed_segment" => {
            let seeds = (0..8).map(|f| with_flags(f, &log0)).collect();
            (seeds, vec![1, 9, 20, 54])
        }
        "recover_index" => {
            let last = log_file_name(*t.bases.last().unwrap()).replace(".log", "");
            let active_index = file(&format!("{last}.index"));
            let mut seeds = vec![
                with_flags(0, &[]),
                with_flags(1, &index0),
                with_flags(2, &time0),
                with_flags(8 | 1, &active_index),
            ];
            seeds.push(with_flags(4 | 1, &index0[..index0.len() - 16]));
            seeds.push(with_flags(4 | 2, &time0[..time0.len() - 16]));
            (seeds, vec![1, 5, 9, 13])
        }
        other => panic!("no target {other}"),
    }
}

/// A fuzz target: one entry point.
type Target = fn(&[u8]);

/// Every target, by the name of its cargo-fuzz target.
const TARGETS: &[(&str, Target)] = &[
    ("batch", batch),
    ("index", index),
    ("topic_metadata", topic_metadata),
    ("offset_store", offset_store),
    ("codec_gzip", |d| codec(Compression::Gzip, d)),
    ("codec_snappy", |d| codec(Compression::Snappy, d)),
    ("codec_lz4", |d| codec(Compression::Lz4, d)),
    ("codec_zstd", |d| codec(Compression::Zstd, d)),
    ("group_membership", group_membership),
    ("producer_snapshot", producer_snapshot),
    ("transaction_state", transaction_state),
    ("txn_index", txn_index),
    ("clean_shutdown_marker", clean_shutdown_marker),
    ("recover_segment", recover_segment),
    ("recover_sealed_segment", recover_sealed_segment),
    ("recover_index", recover_index),
];

/// Feeds `target` arbitrary bytes, then mutations of its seeds.
fn fuzz(name: &str, cases: u32) {
    let target = TARGETS.iter().find(|(n, _)| *n == name).unwrap().1;
    let (seeds, fields) = seeds(name);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config.clone())
        .run(&vec(any::<u8>(), 0..400), |data| {
            target(&data);
            Ok(())
        })
        .unwrap();
    let mutated = (0..seeds.len(), vec(mutation(), 1..5));
    TestRunner::new(config)
        .run(&mutated, |(i, mutations)| {
            let mut data = seeds[i].clone();
            for m in &mutations {
                apply(&mut data, m, &fields);
            }
            target(&data);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_sample_log_has_sealed_segments_indexes_and_snapshots() {
    let t = template();
    assert!(t.bases.len() >= 3, "{:?}", t.bases);
    assert!(t.records.len() > 50);
    for ext in [".index", ".timeindex", ".snapshot"] {
        assert!(t.files.iter().any(|(n, _)| n.ends_with(ext)), "{ext}");
    }
    assert!(file(&log_file_name(0).replace(".log", ".index")).len() > 16 + 8);
}

#[test]
fn seeds_are_valid_encodings() {
    for (name, target) in TARGETS {
        for seed in seeds(name).0 {
            target(&seed);
        }
    }
    let (batches, _) = seeds("batch");
    assert!(batches.iter().all(|b| BatchView::parse(b).is_ok()));
    let markers = &batches[3];
    let first = BatchView::parse(markers).unwrap().total_size();
    let control = BatchView::parse(&markers[first..]).unwrap();
    assert!(ControlMarker::decode(&control).is_ok(), "a marker seed");
    let compressed = batches.last().unwrap();
    let mut pos = 0;
    let mut codecs = Vec::new();
    while let Ok(view) = BatchView::parse(&compressed[pos..]) {
        codecs.push(view.header.compression());
        pos += view.total_size();
    }
    assert_eq!(codecs, Compression::available(), "a batch of each codec");
    let (index, _) = seeds("txn_index");
    assert_eq!(
        txn_index::decode(&index[0][16..], 100, 200).map(|e| e.len()),
        Some(2)
    );
    let (state, _) = seeds("transaction_state");
    assert!(txn_state::decode_key(&state[0]).is_some());
    assert!(txn_state::decode_value(&state[1]).is_some());
    let (snapshots, _) = seeds("producer_snapshot");
    assert!(!snapshots.is_empty());
    for s in snapshots {
        assert!(producer_snapshot::decode(&s, LE::read_u64(&s[5..13])).is_some());
    }
    let (metadata, _) = seeds("topic_metadata");
    assert!(metadata
        .iter()
        .all(|m| properties::decode(m, Path::new("t")).is_ok()));
}

#[test]
fn batch_decoder() {
    fuzz("batch", cases());
}

#[test]
fn index_loader() {
    fuzz("index", cases());
}

#[test]
fn topic_metadata_decoder() {
    fuzz("topic_metadata", cases());
}

#[test]
fn offset_store_decoders() {
    fuzz("offset_store", cases());
}

#[test]
fn codec_decoders() {
    for (name, codec) in [
        ("codec_gzip", Compression::Gzip),
        ("codec_snappy", Compression::Snappy),
        ("codec_lz4", Compression::Lz4),
        ("codec_zstd", Compression::Zstd),
    ] {
        if codec.is_available() {
            fuzz(name, cases());
        } else {
            eprintln!("{name}: skipped, this build lacks the `{codec}` feature");
        }
    }
}

#[test]
fn group_membership_decoders() {
    fuzz("group_membership", cases());
}

#[test]
fn producer_snapshot_decoder() {
    fuzz("producer_snapshot", cases());
}

#[test]
fn transaction_state_decoders() {
    fuzz("transaction_state", cases());
}

#[test]
fn txn_index_decoder() {
    fuzz("txn_index", cases());
}

#[test]
fn clean_shutdown_marker_decoder() {
    fuzz("clean_shutdown_marker", cases());
}

#[test]
fn segment_recovery() {
    fuzz("recover_segment", cases());
}

#[test]
fn sealed_segment_recovery() {
    fuzz("recover_sealed_segment", cases());
}

#[test]
fn index_rebuild() {
    fuzz("recover_index", cases());
}

/// Writes every target's seeds to `$SAMSA_FUZZ_SEEDS/<target>/`, the
/// layout of `fuzz/corpus` (see `fuzz/README.md`).
#[test]
#[ignore = "writes files; run by hand to seed the fuzzers"]
fn write_seed_corpora() {
    let root = std::env::var("SAMSA_FUZZ_SEEDS").expect("set SAMSA_FUZZ_SEEDS to a directory");
    for (name, _) in TARGETS {
        let dir = Path::new(&root).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds(name).0.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Inputs the fuzzers and proptests found bugs with, kept as regressions.
#[test]
fn found_inputs_stay_fixed() {
    // A batch whose last offset is u64::MAX: `next_offset` overflowed when
    // open replayed a sealed segment's headers without a snapshot.
    let overflow = hex(
        "ffffffffffffffff33000000010000000000000000000000000000000000000000000000\
         000000ffffffffffffffffffffffffffff01000000000000000000",
    );
    batch(&overflow);
    recover_sealed_segment(&with_flags(0, &overflow));
    recover_segment(&with_flags(0, &overflow));
    // A forged clean-shutdown marker with next offset u64::MAX: the next
    // append overflowed.
    let mut forged = vec![4u8];
    forged.extend_from_slice(&u64::MAX.to_le_bytes());
    recover_segment(&forged);
    // An offset index entry pointing inside a batch made reads of a valid
    // log fail with Corrupt.
    recover_index(&hex(
        "07010000006700000003000000c400000007000000570100000a00000005ffffff020000005b0200f4000102000d000000",
    ));
}
