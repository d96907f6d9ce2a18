//! The topic metadata file, `topic.properties`: the topic's name, id and
//! configuration as `key=value` lines (Kafka's config names), in samsa's
//! metadata file form (see `crate::properties`).

use super::config::{
    CleanupPolicy, TopicConfig, DEFAULT_DELETE_RETENTION_MS, DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
};
use super::TopicId;
use crate::error::Result;
use crate::partition::{SyncPolicy, TimestampType};
use crate::properties::{self, Fields};
use std::path::Path;

/// File name inside a topic's directory.
pub(crate) const FILE_NAME: &str = "topic.properties";

const FORMAT: &str = "1";

fn optional(v: Option<u64>) -> String {
    v.map_or("-1".to_string(), |v| v.to_string())
}

/// What a topic's metadata file holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub name: String,
    /// `None` in files written before topics had ids.
    pub id: Option<TopicId>,
    pub config: TopicConfig,
}

/// The file contents for topic `name` with `id` and `config`.
pub(crate) fn encode(name: &str, id: TopicId, config: &TopicConfig) -> String {
    let pairs = [
        ("format", FORMAT.into()),
        ("name", name.into()),
        ("topic.id", id.to_string()),
        ("partitions", config.partitions.to_string()),
        ("segment.bytes", config.segment_bytes.to_string()),
        ("segment.ms", config.segment_ms.to_string()),
        (
            "index.interval.bytes",
            config.index_interval_bytes.to_string(),
        ),
        ("segment.index.bytes", config.index_max_bytes.to_string()),
        ("retention.ms", optional(config.retention_ms)),
        ("retention.bytes", optional(config.retention_bytes)),
        (
            "cleanup.policy",
            match config.cleanup_policy {
                CleanupPolicy::Delete => "delete",
                CleanupPolicy::Compact => "compact",
                CleanupPolicy::CompactDelete => "compact,delete",
            }
            .into(),
        ),
        (
            "delete.retention.ms",
            config.delete_retention_ms.to_string(),
        ),
        (
            "min.cleanable.dirty.ratio",
            config.min_cleanable_dirty_ratio.to_string(),
        ),
        (
            "min.compaction.lag.ms",
            config.min_compaction_lag_ms.to_string(),
        ),
        ("max.message.bytes", config.max_record_bytes.to_string()),
        (
            "message.timestamp.type",
            match config.timestamp_type {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            }
            .into(),
        ),
        (
            "sync",
            match config.sync {
                None => "default".into(),
                Some(SyncPolicy::Always) => "always".into(),
                Some(SyncPolicy::Os) => "os".into(),
                Some(SyncPolicy::Interval { ms, bytes }) => format!("interval:{ms}:{bytes}"),
            },
        ),
    ];
    properties::encode(
        "samsa topic metadata: written atomically, checked by the crc line",
        &pairs,
    )
}

/// Reads a metadata file's bytes: the topic's name, id and configuration.
pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Stored> {
    let mut f = properties::decode(bytes, path)?;
    if f.take("format")? != FORMAT {
        return Err(f.corrupt("unknown metadata format"));
    }
    let name = f.take("name")?.to_owned();
    // Written since topics have ids; a file from before has none yet.
    let id = match f.take_optional("topic.id") {
        Some(v) => Some(
            v.parse::<TopicId>()
                .map_err(|_| f.corrupt(format!("topic.id={v} is not a topic id")))?,
        ),
        None => None,
    };
    let config = decode_config(&mut f)?;
    f.finish()?;
    Ok(Stored { name, id, config })
}

fn decode_config(f: &mut Fields<'_>) -> Result<TopicConfig> {
    // Written since compaction landed; files from before lack them and
    // take Kafka's defaults.
    let delete_retention = f.take_optional("delete.retention.ms");
    let dirty_ratio = f.take_optional("min.cleanable.dirty.ratio");
    let compaction_lag = f.take_optional("min.compaction.lag.ms");
    let opt = |f: &Fields<'_>, k: &str, v: &str| -> Result<Option<u64>> {
        if v == "-1" {
            Ok(None)
        } else {
            f.parse(k, v).map(Some)
        }
    };
    let retention_ms = f.take("retention.ms")?;
    let retention_bytes = f.take("retention.bytes")?;
    let config = TopicConfig {
        partitions: f.take_parsed("partitions")?,
        segment_bytes: f.take_parsed("segment.bytes")?,
        segment_ms: f.take_parsed("segment.ms")?,
        index_interval_bytes: f.take_parsed("index.interval.bytes")?,
        index_max_bytes: f.take_parsed("segment.index.bytes")?,
        retention_ms: opt(f, "retention.ms", retention_ms)?,
        retention_bytes: opt(f, "retention.bytes", retention_bytes)?,
        cleanup_policy: match f.take("cleanup.policy")? {
            "delete" => CleanupPolicy::Delete,
            "compact" => CleanupPolicy::Compact,
            "compact,delete" => CleanupPolicy::CompactDelete,
            other => return Err(f.corrupt(format!("unknown cleanup.policy {other:?}"))),
        },
        delete_retention_ms: match delete_retention {
            Some(v) => f.parse("delete.retention.ms", v)?,
            None => DEFAULT_DELETE_RETENTION_MS,
        },
        min_cleanable_dirty_ratio: match dirty_ratio {
            Some(v) => f.parse("min.cleanable.dirty.ratio", v)?,
            None => DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
        },
        min_compaction_lag_ms: match compaction_lag {
            Some(v) => f.parse("min.compaction.lag.ms", v)?,
            None => 0,
        },
        max_record_bytes: f.take_parsed("max.message.bytes")?,
        timestamp_type: match f.take("message.timestamp.type")? {
            "CreateTime" => TimestampType::CreateTime,
            "LogAppendTime" => TimestampType::LogAppendTime,
            other => return Err(f.corrupt(format!("unknown message.timestamp.type {other:?}"))),
        },
        sync: match f.take("sync")? {
            "default" => None,
            "always" => Some(SyncPolicy::Always),
            "os" => Some(SyncPolicy::Os),
            other => {
                let mut parts = other.split(':');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some("interval"), Some(ms), Some(bytes), None) => Some(SyncPolicy::Interval {
                        ms: f.parse("sync", ms)?,
                        bytes: f.parse("sync", bytes)?,
                    }),
                    _ => return Err(f.corrupt(format!("unknown sync {other:?}"))),
                }
            }
        },
    };
    config
        .validate()
        .map_err(|e| f.corrupt(format!("configuration out of range: {e}")))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TopicConfig {
        TopicConfig::default()
            .partitions(7)
            .retention_bytes(Some(1 << 30))
            .retention_ms(None)
            .cleanup_policy(CleanupPolicy::CompactDelete)
            .delete_retention_ms(5_000)
            .min_cleanable_dirty_ratio(0.25)
            .min_compaction_lag_ms(60_000)
            .sync(SyncPolicy::Interval {
                ms: 50,
                bytes: 4096,
            })
            .timestamp_type(TimestampType::LogAppendTime)
    }

    fn id() -> TopicId {
        TopicId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677)
    }

    fn encode(name: &str, config: &TopicConfig) -> String {
        super::encode(name, id(), config)
    }

    #[test]
    fn round_trip() {
        for config in [TopicConfig::default(), sample()] {
            let text = encode("orders", &config);
            let back = decode(text.as_bytes(), Path::new("t")).unwrap();
            assert_eq!(
                back,
                Stored {
                    name: "orders".into(),
                    id: Some(id()),
                    config
                }
            );
        }
    }

    #[test]
    fn files_written_before_topic_ids_have_none() {
        let text = encode("orders", &sample());
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("crc=") && !l.starts_with("topic.id="))
            .map(|l| format!("{l}\n"))
            .collect();
        let old = format!("{body}crc={:08x}\n", crc32fast::hash(body.as_bytes()));
        let back = decode(old.as_bytes(), Path::new("t")).unwrap();
        assert_eq!((back.id, back.config), (None, sample()));
        let bad = body.replace("format=1", "format=1\ntopic.id=nope");
        let bad = format!("{bad}crc={:08x}\n", crc32fast::hash(bad.as_bytes()));
        assert!(matches!(
            decode(bad.as_bytes(), Path::new("t")),
            Err(crate::Error::Corrupt { .. })
        ));
    }

    #[test]
    fn files_written_before_compaction_settings_take_the_defaults() {
        let text = encode("orders", &sample());
        let body: String = text
            .lines()
            .filter(|l| {
                !l.starts_with("crc=")
                    && !l.starts_with("delete.retention.ms=")
                    && !l.starts_with("min.cleanable.dirty.ratio=")
                    && !l.starts_with("min.compaction.lag.ms=")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let old = format!("{body}crc={:08x}\n", crc32fast::hash(body.as_bytes()));
        let config = decode(old.as_bytes(), Path::new("t")).unwrap().config;
        assert_eq!(config.delete_retention_ms, DEFAULT_DELETE_RETENTION_MS);
        assert_eq!(config.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(config.min_compaction_lag_ms, 0);
        assert_eq!(config.partitions, sample().partitions);
    }

    #[test]
    fn a_dirty_ratio_out_of_range_is_corruption() {
        for bad in ["1.5", "-0.1", "NaN", "inf", "x"] {
            let text = encode("orders", &sample()).replace(
                "min.cleanable.dirty.ratio=0.25",
                &format!("min.cleanable.dirty.ratio={bad}"),
            );
            let body = &text[..text.rfind("crc=").unwrap()];
            let resealed = format!("{body}crc={:08x}\n", crc32fast::hash(body.as_bytes()));
            assert!(
                matches!(
                    decode(resealed.as_bytes(), Path::new("t")),
                    Err(crate::Error::Corrupt { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn any_change_or_cut_is_corruption() {
        let text = encode("orders", &sample()).into_bytes();
        for i in 0..text.len() {
            let mut b = text.clone();
            b[i] ^= 0x01;
            assert!(
                matches!(
                    decode(&b, Path::new("t")),
                    Err(crate::Error::Corrupt { .. })
                ),
                "flip at {i}"
            );
        }
        for cut in 0..text.len() - 1 {
            assert!(
                decode(&text[..cut], Path::new("t")).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn well_formed_but_unknown_or_out_of_range_is_corruption() {
        let resealed = |body: &str| {
            let crc = crc32fast::hash(body.as_bytes());
            format!("{body}crc={crc:08x}\n")
        };
        let good = encode("t", &TopicConfig::default());
        let body = &good[..good.rfind("crc=").unwrap()];
        for bad in [
            body.replace("partitions=1", "partitions=0"),
            body.replace("format=1", "format=2"),
            format!("{body}future.key=1\n"),
            body.replace("sync=default\n", ""),
            body.replace("cleanup.policy=delete", "cleanup.policy=shred"),
        ] {
            assert!(
                matches!(
                    decode(resealed(&bad).as_bytes(), Path::new("t")),
                    Err(crate::Error::Corrupt { .. })
                ),
                "{bad}"
            );
        }
    }
}
