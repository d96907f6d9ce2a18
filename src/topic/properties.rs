//! The topic metadata file, `topic.properties`: the topic's name, id and
//! configuration as `key=value` lines (Kafka's config names), in samsa's
//! metadata file form (see `crate::properties`).

use super::{TopicConfig, TopicId};
use crate::error::Result;
use crate::properties;
use std::path::Path;

/// File name inside a topic's directory.
pub(crate) const FILE_NAME: &str = "topic.properties";

const FORMAT: &str = "1";

/// What a topic's metadata file holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub name: String,
    /// `None` in files written before topics had ids.
    pub id: Option<TopicId>,
    pub config: TopicConfig,
}

/// The file contents for topic `name` with `id` and `config`: the settings
/// follow the name and id in the order of their table (`crate::settings`).
pub(crate) fn encode(name: &str, id: TopicId, config: &TopicConfig) -> String {
    let mut pairs = vec![
        ("format", FORMAT.into()),
        ("name", name.into()),
        ("topic.id", id.to_string()),
    ];
    pairs.extend(config.to_properties());
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
    let config = TopicConfig::from_properties(&mut f)?;
    f.finish()?;
    Ok(Stored { name, id, config })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CleanupPolicy, SyncPolicy, TimestampType};

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
        assert_eq!(config.delete_retention_ms, 86_400_000);
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
