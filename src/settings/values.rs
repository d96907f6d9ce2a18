//! The types of the settings that are not plain numbers, and the text each
//! value of a setting is written as in `topic.properties`.

use crate::compression::Compression;

/// A setting's value as `topic.properties` writes it: `to_property` and
/// `from_property` are exact inverses on every value, and the text of a
/// value never changes (files written by every earlier version read).
pub(crate) trait PropertyValue: Sized {
    /// What the text looks like, for the error naming a bad value.
    const FORM: &'static str;
    /// The value's text.
    fn to_property(&self) -> String;
    /// The value of `text`, `None` if it is not one.
    fn from_property(text: &str) -> Option<Self>;
    /// [`crate::Error::InvalidConfig`] if this build cannot honour the
    /// value (a codec whose feature is off); ranges are checked apart.
    fn usable(&self) -> crate::Result<()> {
        Ok(())
    }
}

/// A setting checked against a range: the part of the value the range is
/// over (`None`: nothing to check, as for "no limit").
pub(crate) trait Bounded {
    /// The type the range is over.
    type Bound: PartialOrd + std::fmt::Debug;
    /// The value to check, if any.
    fn bounded(&self) -> Option<&Self::Bound>;
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl PropertyValue for $t {
            const FORM: &'static str = "a number";
            fn to_property(&self) -> String {
                self.to_string()
            }
            fn from_property(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
        impl Bounded for $t {
            type Bound = $t;
            fn bounded(&self) -> Option<&$t> {
                Some(self)
            }
        }
    )*};
}
numbers!(u32, u64, f64);

/// A limit that may be absent: Kafka writes "no limit" as `-1`.
impl PropertyValue for Option<u64> {
    const FORM: &'static str = "a number or -1 (no limit)";
    fn to_property(&self) -> String {
        self.map_or("-1".to_string(), |v| v.to_string())
    }
    fn from_property(text: &str) -> Option<Self> {
        match text {
            "-1" => Some(None),
            _ => text.parse().ok().map(Some),
        }
    }
}

impl Bounded for Option<u64> {
    type Bound = u64;
    fn bounded(&self) -> Option<&u64> {
        self.as_ref()
    }
}

/// An enum of unit variants, each written as one fixed word.
macro_rules! words {
    ($t:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl PropertyValue for $t {
            const FORM: &'static str = concat!("one of" $(, " ", $text)*);
            fn to_property(&self) -> String {
                match self {
                    $(Self::$variant => $text,)*
                }
                .to_string()
            }
            fn from_property(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

/// How a topic's batches are compressed (Kafka's topic-level
/// `compression.type`): as the producer sent them, or in one codec
/// whatever it sent (the log then recompresses what arrives otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CompressionType {
    /// Keep each batch as its producer compressed it (the default).
    /// Appends through [`Partition::append`](crate::Partition::append)
    /// are then stored uncompressed.
    #[default]
    Producer,
    /// Store every batch uncompressed.
    Uncompressed,
    /// Store every batch gzip-compressed (level: `compression_gzip_level`).
    Gzip,
    /// Store every batch Snappy-compressed.
    Snappy,
    /// Store every batch LZ4-compressed.
    Lz4,
    /// Store every batch zstd-compressed (level: `compression_zstd_level`).
    Zstd,
}

impl CompressionType {
    /// The codec it stores batches in; `None` for [`Self::Producer`].
    pub fn codec(self) -> Option<Compression> {
        Some(match self {
            CompressionType::Producer => return None,
            CompressionType::Uncompressed => Compression::None,
            CompressionType::Gzip => Compression::Gzip,
            CompressionType::Snappy => Compression::Snappy,
            CompressionType::Lz4 => Compression::Lz4,
            CompressionType::Zstd => Compression::Zstd,
        })
    }
}

impl From<Compression> for CompressionType {
    fn from(codec: Compression) -> Self {
        match codec {
            Compression::None => CompressionType::Uncompressed,
            Compression::Gzip => CompressionType::Gzip,
            Compression::Snappy => CompressionType::Snappy,
            Compression::Lz4 => CompressionType::Lz4,
            Compression::Zstd => CompressionType::Zstd,
        }
    }
}

impl PropertyValue for CompressionType {
    const FORM: &'static str = "one of producer uncompressed gzip snappy lz4 zstd";
    fn to_property(&self) -> String {
        match self.codec() {
            None => "producer".into(),
            Some(Compression::None) => "uncompressed".into(),
            Some(c) => c.name().into(),
        }
    }
    fn from_property(text: &str) -> Option<Self> {
        match text {
            "producer" => Some(CompressionType::Producer),
            "uncompressed" => Some(CompressionType::Uncompressed),
            _ => text
                .parse::<Compression>()
                .ok()
                .filter(|c| *c != Compression::None)
                .map(CompressionType::from),
        }
    }
    fn usable(&self) -> crate::Result<()> {
        self.codec().map_or(Ok(()), Compression::check_available)
    }
}

/// When appended bytes are made durable with `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Sync before an append is acknowledged (the default). An acknowledged
    /// record survives power loss. Concurrent appenders share one sync
    /// (group commit), and readers see a record only once it is durable.
    #[default]
    Always,
    /// Sync during an append once `ms` milliseconds or `bytes` bytes have
    /// passed since the last sync (a zero disables that trigger), and on
    /// [`flush`](crate::Partition::flush) and close. Appends are
    /// acknowledged once written: a power loss may lose the newest unsynced
    /// records, never older ones; a killed process loses nothing.
    Interval {
        /// Milliseconds between syncs (0: no time trigger).
        ms: u64,
        /// Bytes between syncs (0: no size trigger).
        bytes: u64,
    },
    /// Never sync on the append path; the operating system writes pages
    /// back when it likes. A killed process loses nothing; a power loss may
    /// lose what the OS had not written. Segments are still synced once
    /// when sealed, as Kafka does at roll, so recovery only ever scans the
    /// last segment.
    Os,
}

/// `always`, `os` or `interval:<ms>:<bytes>`.
impl PropertyValue for SyncPolicy {
    const FORM: &'static str = "always, os or interval:<ms>:<bytes>";
    fn to_property(&self) -> String {
        match self {
            SyncPolicy::Always => "always".into(),
            SyncPolicy::Os => "os".into(),
            SyncPolicy::Interval { ms, bytes } => format!("interval:{ms}:{bytes}"),
        }
    }
    fn from_property(text: &str) -> Option<Self> {
        match text {
            "always" => Some(SyncPolicy::Always),
            "os" => Some(SyncPolicy::Os),
            _ => {
                let mut parts = text.split(':');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some("interval"), Some(ms), Some(bytes), None) => Some(SyncPolicy::Interval {
                        ms: ms.parse().ok()?,
                        bytes: bytes.parse().ok()?,
                    }),
                    _ => None,
                }
            }
        }
    }
}

/// Which time a record's timestamp is (Kafka's `message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's create time: the record's own timestamp, or the time
    /// of the append if it has none (the default).
    #[default]
    CreateTime,
    /// The time the log appended the batch; records' own timestamps are
    /// kept in the batch but every record reads back with the append time.
    LogAppendTime,
}

words!(TimestampType {
    CreateTime => "CreateTime",
    LogAppendTime => "LogAppendTime",
});

/// What happens to old segments (Kafka's `cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Delete whole segments past the retention time or size (default).
    #[default]
    Delete,
    /// Keep at least the latest record of every key.
    Compact,
    /// Compact, and also delete past retention.
    CompactDelete,
}

words!(CleanupPolicy {
    Delete => "delete",
    Compact => "compact",
    CompactDelete => "compact,delete",
});
