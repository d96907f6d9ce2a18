//! Topic and partition settings, each declared once.
//!
//! As Kafka's `LogConfig` defines every topic setting in one table, so
//! [`table`] declares each setting once: its field name and type, default,
//! key in `topic.properties`, allowed range and documentation. The
//! [`define`] macro derives from that table the two public structs,
//! [`PartitionConfig`] (the settings of one partition log) and
//! [`TopicConfig`] (a partition count, retention and compaction, and the
//! partition settings, which it hands down to each partition), with their
//! `Default`s, builder setters, `validate`, and the encoding and decoding of
//! `topic.properties`. Adding a setting is one entry in the table.
//!
//! This module sits below the partition and topic layers, which re-export
//! its types; it names neither.

mod define;
mod table;
#[cfg(test)]
mod tests;
pub(crate) mod values;

pub use table::{PartitionConfig, TopicConfig};
pub use values::{CleanupPolicy, CompressionType, SyncPolicy, TimestampType};

use crate::error::{Error, Result};
use crate::properties::Fields;
use std::fmt::Debug;
use std::ops::RangeBounds;
use values::{Bounded, PropertyValue};

/// How `topic.properties` writes an inherited setting the topic leaves
/// unset (it then takes the log's value).
const INHERITED: &str = "default";

/// `Error::InvalidConfig` unless `value` is in `range`.
fn check<V, R>(name: &str, value: &V, range: R) -> Result<()>
where
    V: Bounded,
    R: RangeBounds<V::Bound> + Debug,
{
    match value.bounded() {
        Some(v) if !range.contains(v) => Err(Error::InvalidConfig(format!(
            "{name} must be in {range:?}, got {v:?}"
        ))),
        _ => Ok(()),
    }
}

/// The text of a setting's `value`.
fn encode<V: PropertyValue>(value: &V) -> String {
    value.to_property()
}

/// The text of an inherited setting's `value`.
fn encode_inherited<V: PropertyValue>(value: &Option<V>) -> String {
    value
        .as_ref()
        .map_or_else(|| INHERITED.to_string(), V::to_property)
}

/// The value of `key`, taken from `f`; `absent` is the value of a key that
/// files written before it existed lack (`None`: the key is required).
fn decode<V: PropertyValue>(f: &mut Fields<'_>, key: &str, absent: Option<V>) -> Result<V> {
    match (f.take_optional(key), absent) {
        (Some(text), _) => parse(f, key, text),
        (None, Some(value)) => Ok(value),
        (None, None) => Err(f.corrupt(format!("{key} is missing"))),
    }
}

/// The value of inherited setting `key`, taken from `f`.
fn decode_inherited<V: PropertyValue>(f: &mut Fields<'_>, key: &str) -> Result<Option<V>> {
    match f.take(key)? {
        INHERITED => Ok(None),
        text => parse(f, key, text).map(Some),
    }
}

fn parse<V: PropertyValue>(f: &Fields<'_>, key: &str, text: &str) -> Result<V> {
    V::from_property(text).ok_or_else(|| f.corrupt(format!("{key}={text} is not {}", V::FORM)))
}
