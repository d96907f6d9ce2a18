//! The topic metadata file, `topic.properties`: the topic's name and
//! configuration as `key=value` lines (Kafka's config names), ending in a
//! CRC line over everything before it. Written atomically (temp file,
//! sync, rename, directory sync); anything unexpected when read back is
//! `Error::Corrupt`, never a default.

use super::config::{
    CleanupPolicy, TopicConfig, DEFAULT_DELETE_RETENTION_MS, DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
};
use crate::error::{Error, Result};
use crate::partition::{SyncPolicy, TimestampType};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// File name inside a topic's directory.
pub(crate) const FILE_NAME: &str = "topic.properties";

/// The largest metadata file read; anything longer is not ours.
pub(crate) const MAX_BYTES: u64 = 64 << 10;

const FORMAT: &str = "1";

fn optional(v: Option<u64>) -> String {
    v.map_or("-1".to_string(), |v| v.to_string())
}

/// The file contents for topic `name` with `config`.
pub(crate) fn encode(name: &str, config: &TopicConfig) -> String {
    let mut s =
        String::from("# samsa topic metadata: written atomically, checked by the crc line\n");
    let mut put = |k: &str, v: String| {
        let _ = writeln!(s, "{k}={v}");
    };
    put("format", FORMAT.into());
    put("name", name.into());
    put("partitions", config.partitions.to_string());
    put("segment.bytes", config.segment_bytes.to_string());
    put("segment.ms", config.segment_ms.to_string());
    put(
        "index.interval.bytes",
        config.index_interval_bytes.to_string(),
    );
    put("segment.index.bytes", config.index_max_bytes.to_string());
    put("retention.ms", optional(config.retention_ms));
    put("retention.bytes", optional(config.retention_bytes));
    put(
        "cleanup.policy",
        match config.cleanup_policy {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
        .into(),
    );
    put(
        "delete.retention.ms",
        config.delete_retention_ms.to_string(),
    );
    put(
        "min.cleanable.dirty.ratio",
        config.min_cleanable_dirty_ratio.to_string(),
    );
    put(
        "min.compaction.lag.ms",
        config.min_compaction_lag_ms.to_string(),
    );
    put("max.message.bytes", config.max_record_bytes.to_string());
    put(
        "message.timestamp.type",
        match config.timestamp_type {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
        .into(),
    );
    put(
        "sync",
        match config.sync {
            None => "default".into(),
            Some(SyncPolicy::Always) => "always".into(),
            Some(SyncPolicy::Os) => "os".into(),
            Some(SyncPolicy::Interval { ms, bytes }) => format!("interval:{ms}:{bytes}"),
        },
    );
    let crc = crc32fast::hash(s.as_bytes());
    let _ = writeln!(s, "crc={crc:08x}");
    s
}

/// Reads a metadata file's bytes: the topic's name and configuration.
pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<(String, TopicConfig)> {
    let corrupt = |reason: String| Error::corrupt(path, 0, reason);
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
    let body_end = text
        .rfind("crc=")
        .ok_or_else(|| corrupt("no crc line".into()))?;
    let (body, crc_line) = text.split_at(body_end);
    let computed = crc32fast::hash(body.as_bytes());
    // Exactly the line encode() writes: nothing may follow it.
    if crc_line != format!("crc={computed:08x}\n") {
        return Err(corrupt(format!(
            "crc line {:?} does not match the contents (crc {computed:08x})",
            crc_line.trim_end()
        )));
    }
    let mut fields = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| corrupt(format!("line without '=': {line:?}")))?;
        if fields.insert(k, v).is_some() {
            return Err(corrupt(format!("{k} given twice")));
        }
    }
    // Written since compaction landed; files from before lack them and
    // take Kafka's defaults.
    let delete_retention = fields.remove("delete.retention.ms");
    let dirty_ratio = fields.remove("min.cleanable.dirty.ratio");
    let compaction_lag = fields.remove("min.compaction.lag.ms");
    let mut take = |k: &str| {
        fields
            .remove(k)
            .ok_or_else(|| corrupt(format!("{k} is missing")))
    };
    fn num<T: std::str::FromStr>(k: &str, v: &str, path: &Path) -> Result<T> {
        v.parse()
            .map_err(|_| Error::corrupt(path, 0, format!("{k}={v} is not a number")))
    }
    let opt = |k: &str, v: &str| -> Result<Option<u64>> {
        if v == "-1" {
            Ok(None)
        } else {
            num(k, v, path).map(Some)
        }
    };
    if take("format")? != FORMAT {
        return Err(corrupt("unknown metadata format".into()));
    }
    let name = take("name")?.to_owned();
    let config = TopicConfig {
        partitions: num("partitions", take("partitions")?, path)?,
        segment_bytes: num("segment.bytes", take("segment.bytes")?, path)?,
        segment_ms: num("segment.ms", take("segment.ms")?, path)?,
        index_interval_bytes: num("index.interval.bytes", take("index.interval.bytes")?, path)?,
        index_max_bytes: num("segment.index.bytes", take("segment.index.bytes")?, path)?,
        retention_ms: opt("retention.ms", take("retention.ms")?)?,
        retention_bytes: opt("retention.bytes", take("retention.bytes")?)?,
        cleanup_policy: match take("cleanup.policy")? {
            "delete" => CleanupPolicy::Delete,
            "compact" => CleanupPolicy::Compact,
            "compact,delete" => CleanupPolicy::CompactDelete,
            other => return Err(corrupt(format!("unknown cleanup.policy {other:?}"))),
        },
        delete_retention_ms: match delete_retention {
            Some(v) => num("delete.retention.ms", v, path)?,
            None => DEFAULT_DELETE_RETENTION_MS,
        },
        min_cleanable_dirty_ratio: match dirty_ratio {
            Some(v) => num("min.cleanable.dirty.ratio", v, path)?,
            None => DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
        },
        min_compaction_lag_ms: match compaction_lag {
            Some(v) => num("min.compaction.lag.ms", v, path)?,
            None => 0,
        },
        max_record_bytes: num("max.message.bytes", take("max.message.bytes")?, path)?,
        timestamp_type: match take("message.timestamp.type")? {
            "CreateTime" => TimestampType::CreateTime,
            "LogAppendTime" => TimestampType::LogAppendTime,
            other => return Err(corrupt(format!("unknown message.timestamp.type {other:?}"))),
        },
        sync: match take("sync")? {
            "default" => None,
            "always" => Some(SyncPolicy::Always),
            "os" => Some(SyncPolicy::Os),
            other => {
                let mut parts = other.split(':');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some("interval"), Some(ms), Some(bytes), None) => Some(SyncPolicy::Interval {
                        ms: num("sync", ms, path)?,
                        bytes: num("sync", bytes, path)?,
                    }),
                    _ => return Err(corrupt(format!("unknown sync {other:?}"))),
                }
            }
        },
    };
    if let Some(k) = fields.keys().next() {
        return Err(corrupt(format!("unknown key {k}")));
    }
    config
        .validate()
        .map_err(|e| corrupt(format!("configuration out of range: {e}")))?;
    Ok((name, config))
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

    #[test]
    fn round_trip() {
        for config in [TopicConfig::default(), sample()] {
            let text = encode("orders", &config);
            let (name, back) = decode(text.as_bytes(), Path::new("t")).unwrap();
            assert_eq!(name, "orders");
            assert_eq!(back, config);
        }
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
        let (_, config) = decode(old.as_bytes(), Path::new("t")).unwrap();
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
                    Err(Error::Corrupt { .. })
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
                matches!(decode(&b, Path::new("t")), Err(Error::Corrupt { .. })),
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
                    Err(Error::Corrupt { .. })
                ),
                "{bad}"
            );
        }
    }
}
