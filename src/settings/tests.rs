//! The settings table against what the code wrote before the table
//! existed: the same defaults, the same bytes in `topic.properties`, and
//! every setting through the file and back.

use super::table::{MAX_PARTITIONS, MAX_SEGMENT_BYTES};
use super::*;
use crate::topic::properties::{decode as decode_file, encode as encode_file};
use crate::topic::TopicId;
use std::path::Path;

fn id() -> TopicId {
    TopicId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677)
}

/// `TopicConfig::default()` for topic "orders", as written by the code
/// before the settings table (captured from it).
const DEFAULT_FILE: &str = "\
# samsa topic metadata: written atomically, checked by the crc line
format=1
name=orders
topic.id=ASNFZ4mrze8AESIzRFVmdw
partitions=1
segment.bytes=1073741824
segment.ms=604800000
index.interval.bytes=4096
segment.index.bytes=10485760
retention.ms=604800000
retention.bytes=-1
cleanup.policy=delete
delete.retention.ms=86400000
min.cleanable.dirty.ratio=0.5
min.compaction.lag.ms=0
max.message.bytes=1048576
message.timestamp.type=CreateTime
sync=default
crc=9cd7b54f
";

/// [`every_setting_changed`], as written by the code before the settings
/// table (captured from it).
const CHANGED_FILE: &str = "\
# samsa topic metadata: written atomically, checked by the crc line
format=1
name=orders
topic.id=ASNFZ4mrze8AESIzRFVmdw
partitions=7
segment.bytes=67108864
segment.ms=3600000
index.interval.bytes=8192
segment.index.bytes=1048576
retention.ms=-1
retention.bytes=1073741824
cleanup.policy=compact,delete
delete.retention.ms=5000
min.cleanable.dirty.ratio=0.25
min.compaction.lag.ms=60000
max.message.bytes=65536
message.timestamp.type=LogAppendTime
sync=interval:50:4096
crc=cd7ce73a
";

fn every_setting_changed() -> TopicConfig {
    TopicConfig::default()
        .partitions(7)
        .segment_bytes(64 << 20)
        .segment_ms(3_600_000)
        .index_interval_bytes(8192)
        .index_max_bytes(1 << 20)
        .retention_bytes(Some(1 << 30))
        .retention_ms(None)
        .cleanup_policy(CleanupPolicy::CompactDelete)
        .delete_retention_ms(5_000)
        .min_cleanable_dirty_ratio(0.25)
        .min_compaction_lag_ms(60_000)
        .max_record_bytes(65536)
        .sync(SyncPolicy::Interval {
            ms: 50,
            bytes: 4096,
        })
        .timestamp_type(TimestampType::LogAppendTime)
}

#[test]
fn defaults_are_unchanged() {
    let p = PartitionConfig::default();
    p.validate().unwrap();
    assert_eq!(p.segment_bytes, 1_073_741_824);
    assert_eq!(p.segment_ms, 604_800_000);
    assert_eq!(p.index_interval_bytes, 4096);
    assert_eq!(p.index_max_bytes, 10_485_760);
    assert_eq!(p.max_record_bytes, 1_048_576);
    assert_eq!(p.sync, SyncPolicy::Always);
    assert_eq!(p.timestamp_type, TimestampType::CreateTime);

    let t = TopicConfig::default();
    t.validate().unwrap();
    assert_eq!(t.partitions, 1);
    assert_eq!(t.segment_bytes, 1_073_741_824);
    assert_eq!(t.segment_ms, 604_800_000);
    assert_eq!(t.index_interval_bytes, 4096);
    assert_eq!(t.index_max_bytes, 10_485_760);
    assert_eq!(t.retention_ms, Some(604_800_000));
    assert_eq!(t.retention_bytes, None);
    assert_eq!(t.cleanup_policy, CleanupPolicy::Delete);
    assert_eq!(t.delete_retention_ms, 86_400_000);
    assert_eq!(t.min_cleanable_dirty_ratio, 0.5);
    assert_eq!(t.min_compaction_lag_ms, 0);
    assert_eq!(t.max_record_bytes, 1_048_576);
    assert_eq!(t.sync, None);
    assert_eq!(t.timestamp_type, TimestampType::CreateTime);
    // A topic's partitions get exactly the partition defaults.
    assert_eq!(t.partition_config(SyncPolicy::Always), p);
}

#[test]
fn files_written_before_the_table_read_the_same_and_are_written_the_same() {
    for (file, config) in [
        (DEFAULT_FILE, TopicConfig::default()),
        (CHANGED_FILE, every_setting_changed()),
    ] {
        let stored = decode_file(file.as_bytes(), Path::new("t")).unwrap();
        assert_eq!(stored.name, "orders");
        assert_eq!(stored.id, Some(id()));
        assert_eq!(stored.config, config);
        // Written the same, but for the keys added since (compression's,
        // which files without them read as their defaults) and the crc.
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.starts_with("crc=") && !l.starts_with("compression."))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(lines(&encode_file("orders", id(), &config)), lines(file));
    }
}

/// The keys added after the table, in the order they are written (just
/// before `sync`): files without them read as their defaults.
const ADDED_KEYS: [&str; 3] = [
    "compression.type",
    "compression.gzip.level",
    "compression.zstd.level",
];

#[test]
fn the_keys_are_those_written_before_in_the_same_order() {
    let keys: Vec<&str> = DEFAULT_FILE
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !["format", "name", "topic.id", "crc"].contains(k))
        .collect();
    let mut expected = keys.clone();
    let sync = expected.iter().position(|k| *k == "sync").unwrap();
    expected.splice(sync..sync, ADDED_KEYS);
    assert_eq!(expected, TopicConfig::KEYS);
}

/// For each key, a configuration differing from the default in that
/// setting alone (several for settings with several forms).
fn one_setting_changed() -> Vec<(&'static str, TopicConfig)> {
    let d = TopicConfig::default;
    vec![
        ("partitions", d().partitions(MAX_PARTITIONS)),
        ("segment.bytes", d().segment_bytes(1024)),
        ("segment.bytes", d().segment_bytes(MAX_SEGMENT_BYTES)),
        ("segment.ms", d().segment_ms(1)),
        ("index.interval.bytes", d().index_interval_bytes(0)),
        ("index.interval.bytes", d().index_interval_bytes(u32::MAX)),
        ("segment.index.bytes", d().index_max_bytes(64)),
        ("retention.ms", d().retention_ms(None)),
        ("retention.ms", d().retention_ms(Some(u64::MAX))),
        ("retention.bytes", d().retention_bytes(Some(1))),
        ("cleanup.policy", d().cleanup_policy(CleanupPolicy::Compact)),
        (
            "cleanup.policy",
            d().cleanup_policy(CleanupPolicy::CompactDelete),
        ),
        ("delete.retention.ms", d().delete_retention_ms(0)),
        (
            "min.cleanable.dirty.ratio",
            d().min_cleanable_dirty_ratio(0.0),
        ),
        (
            "min.cleanable.dirty.ratio",
            d().min_cleanable_dirty_ratio(1.0),
        ),
        (
            "min.cleanable.dirty.ratio",
            d().min_cleanable_dirty_ratio(0.1 + 0.2),
        ),
        ("min.compaction.lag.ms", d().min_compaction_lag_ms(u64::MAX)),
        ("max.message.bytes", d().max_record_bytes(1)),
        (
            "max.message.bytes",
            d().max_record_bytes(MAX_SEGMENT_BYTES as u32),
        ),
        (
            "message.timestamp.type",
            d().timestamp_type(TimestampType::LogAppendTime),
        ),
        (
            "compression.type",
            d().compression_type(CompressionType::Uncompressed),
        ),
        ("compression.gzip.level", d().compression_gzip_level(1)),
        ("compression.gzip.level", d().compression_gzip_level(9)),
        ("compression.zstd.level", d().compression_zstd_level(1)),
        ("compression.zstd.level", d().compression_zstd_level(22)),
        ("sync", d().sync(SyncPolicy::Always)),
        ("sync", d().sync(SyncPolicy::Os)),
        ("sync", d().sync(SyncPolicy::Interval { ms: 0, bytes: 0 })),
        (
            "sync",
            d().sync(SyncPolicy::Interval {
                ms: u64::MAX,
                bytes: 1,
            }),
        ),
    ]
}

#[test]
fn every_setting_round_trips_through_topic_properties() {
    let cases = one_setting_changed();
    for key in TopicConfig::KEYS {
        assert!(
            cases.iter().any(|(k, _)| k == key),
            "no round-trip case for {key}"
        );
    }
    let default = encode_file("orders", id(), &TopicConfig::default());
    for (key, config) in cases {
        config.validate().unwrap();
        let text = encode_file("orders", id(), &config);
        let back = decode_file(text.as_bytes(), Path::new("t")).unwrap();
        assert_eq!(back.config, config, "{key}");
        // Only that setting's line (and the crc) differs from the default.
        let changed: Vec<&str> = text
            .lines()
            .zip(default.lines())
            .filter(|(a, b)| a != b)
            .filter_map(|(a, _)| a.split_once('=').map(|(k, _)| k))
            .collect();
        assert_eq!(changed, [key, "crc"], "{text}");
    }
}

#[test]
fn out_of_range_values_are_typed_errors() {
    let d = TopicConfig::default;
    let p = PartitionConfig::default;
    let topics = [
        ("partitions", d().partitions(0)),
        ("partitions", d().partitions(MAX_PARTITIONS + 1)),
        ("segment_bytes", d().segment_bytes(1023)),
        ("segment_bytes", d().segment_bytes(MAX_SEGMENT_BYTES + 1)),
        ("segment_ms", d().segment_ms(0)),
        ("index_max_bytes", d().index_max_bytes(63)),
        ("retention_ms", d().retention_ms(Some(0))),
        ("retention_bytes", d().retention_bytes(Some(0))),
        (
            "min_cleanable_dirty_ratio",
            d().min_cleanable_dirty_ratio(-0.1),
        ),
        (
            "min_cleanable_dirty_ratio",
            d().min_cleanable_dirty_ratio(1.5),
        ),
        (
            "min_cleanable_dirty_ratio",
            d().min_cleanable_dirty_ratio(f64::NAN),
        ),
        ("max_record_bytes", d().max_record_bytes(0)),
        ("max_record_bytes", d().max_record_bytes(u32::MAX)),
        ("compression_gzip_level", d().compression_gzip_level(0)),
        ("compression_gzip_level", d().compression_gzip_level(10)),
        ("compression_zstd_level", d().compression_zstd_level(0)),
        ("compression_zstd_level", d().compression_zstd_level(23)),
    ];
    for (name, config) in topics {
        match config.validate() {
            Err(Error::InvalidConfig(msg)) => {
                assert!(msg.starts_with(&format!("{name} must be in ")), "{msg}")
            }
            other => panic!("{name}: {other:?}"),
        }
        // The same value in a file is damage, not a setting.
        let text = encode_file("orders", id(), &config);
        assert!(
            matches!(
                decode_file(text.as_bytes(), Path::new("t")),
                Err(Error::Corrupt { .. })
            ),
            "{name}"
        );
    }
    let partitions = [
        ("segment_bytes", p().segment_bytes(0)),
        ("segment_bytes", p().segment_bytes(u64::MAX)),
        ("segment_ms", p().segment_ms(0)),
        ("index_max_bytes", p().index_max_bytes(0)),
        ("max_record_bytes", p().max_record_bytes(0)),
        ("max_record_bytes", p().max_record_bytes(1 << 31)),
    ];
    for (name, config) in partitions {
        match config.validate() {
            Err(Error::InvalidConfig(msg)) => {
                assert!(msg.starts_with(&format!("{name} must be in ")), "{msg}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn values_that_are_not_of_the_setting_s_form_are_corruption() {
    let resealed = |body: &str| {
        let crc = crc32fast::hash(body.as_bytes());
        format!("{body}crc={crc:08x}\n")
    };
    let body = &DEFAULT_FILE[..DEFAULT_FILE.rfind("crc=").unwrap()];
    for (line, bad) in [
        ("partitions=1", "partitions=one"),
        ("partitions=1", "partitions=-1"),
        ("segment.bytes=1073741824", "segment.bytes=1e9"),
        ("retention.ms=604800000", "retention.ms=-2"),
        ("retention.bytes=-1", "retention.bytes="),
        ("cleanup.policy=delete", "cleanup.policy=Delete"),
        (
            "min.cleanable.dirty.ratio=0.5",
            "min.cleanable.dirty.ratio=half",
        ),
        (
            "message.timestamp.type=CreateTime",
            "message.timestamp.type=x",
        ),
        ("sync=default", "sync=interval:1"),
        ("sync=default", "sync=interval:1:2:3"),
        ("sync=default", "sync=interval:x:2"),
        ("sync=default", "sync=Always"),
        ("sync=default", "sync=-1"),
    ] {
        let text = resealed(&body.replace(line, bad));
        match decode_file(text.as_bytes(), Path::new("t")) {
            Err(Error::Corrupt { reason, .. }) => assert!(reason.contains(bad), "{reason}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn a_topic_hands_its_partition_settings_down() {
    let c = every_setting_changed();
    let p = c.partition_config(SyncPolicy::Always);
    assert_eq!(
        p,
        PartitionConfig::default()
            .segment_bytes(64 << 20)
            .segment_ms(3_600_000)
            .index_interval_bytes(8192)
            .index_max_bytes(1 << 20)
            .max_record_bytes(65536)
            .sync(SyncPolicy::Interval {
                ms: 50,
                bytes: 4096
            })
            .timestamp_type(TimestampType::LogAppendTime)
    );
    // The topic's sync policy wins over the log's; unset, the log's holds.
    let c = TopicConfig::default().sync(SyncPolicy::Os);
    assert_eq!(c.partition_config(SyncPolicy::Always).sync, SyncPolicy::Os);
    let d = TopicConfig::default();
    assert_eq!(d.partition_config(SyncPolicy::Os).sync, SyncPolicy::Os);
}

#[test]
fn a_setting_is_set_by_its_kafka_key() {
    let c = TopicConfig::default()
        .with_property("retention.ms", "1000")
        .unwrap()
        .with_property("cleanup.policy", "compact")
        .unwrap()
        .with_property("retention.bytes", "-1")
        .unwrap();
    assert_eq!(c.retention_ms, Some(1000));
    assert_eq!(c.cleanup_policy, CleanupPolicy::Compact);
    assert_eq!(c.retention_bytes, None);
    for (k, v) in [
        ("no.such.key", "1"),
        ("retention.ms", "soon"),
        ("partitions", "0"),
    ] {
        let e = TopicConfig::default().with_property(k, v).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidConfig(m) if m.contains(k)),
            "{k}={v}: {e}"
        );
    }
}

#[test]
fn a_codec_this_build_lacks_is_refused_and_every_other_round_trips() {
    for codec in crate::compression::Compression::ALL {
        let config = TopicConfig::default().compression_type(CompressionType::from(codec));
        if codec.is_available() {
            config.validate().unwrap();
            let text = encode_file("orders", id(), &config);
            let back = decode_file(text.as_bytes(), Path::new("t")).unwrap();
            assert_eq!(back.config, config, "{codec}");
        } else {
            match config.validate() {
                Err(Error::InvalidConfig(msg)) => {
                    assert!(msg.contains(&format!("`{codec}` feature")), "{msg}")
                }
                other => panic!("{codec}: {other:?}"),
            }
        }
    }
    let producer = TopicConfig::default().compression_type(CompressionType::Producer);
    let text = encode_file("orders", id(), &producer);
    assert!(text.contains("compression.type=producer\n"), "{text}");
    assert!(TopicConfig::default()
        .with_property("compression.type", "brotli")
        .is_err());
}
