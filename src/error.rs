//! The one error type of samsa.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in samsa.
///
/// Variants carry the facts a caller needs to react (the offending size, the
/// valid offset range, the file and position of damage), so callers match on
/// them instead of parsing messages. New variants may be added in minor
/// releases, hence `#[non_exhaustive]`.
///
/// `Clone`, so one failure can be reported to every waiter it concerns (the
/// appends a failed sync covered, the deliveries of a failed batch): a
/// clone of an [`Error::Io`] shares its `io::Error`, raw OS code included.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("I/O error during {op} on {path}: {source}")]
    Io {
        /// What samsa was doing (`"write"`, `"fdatasync"`, `"open"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error, shared by the error's clones:
        /// `source.kind()` and `source.raw_os_error()` work through the
        /// `Arc`; match `&*source` where code needs the `io::Error` itself.
        #[source]
        source: Arc<io::Error>,
    },

    /// Bytes on disk are not what samsa wrote: a checksum mismatch, an
    /// impossible length, offsets out of order. Nothing from the damaged
    /// region is returned as data, and nothing after it is thrown away.
    #[error("corrupt data in {path} at byte {position}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damaged structure inside `path`.
        position: u64,
        /// What check failed.
        reason: String,
    },

    /// A read or seek asked for an offset outside `start..=end`.
    ///
    /// `start` is the log start offset and `end` the high watermark (the
    /// next offset to be written); reading at `end` is allowed and returns
    /// nothing.
    #[error("offset {requested} is out of range: the log holds offsets {start}..{end}")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The first offset still in the log.
        start: u64,
        /// The high watermark: one past the last readable offset.
        end: u64,
    },

    /// A batch is compressed with a codec this build of samsa-log was
    /// compiled without: enable its cargo feature (`gzip`, `snappy`,
    /// `lz4`, `zstd`) to read it. Nothing of the read was returned.
    #[error("{path} holds batches compressed with {codec}: enable samsa-log's `{codec}` feature to read them")]
    CompressionUnavailable {
        /// The codec.
        codec: crate::compression::Compression,
        /// The log file holding the batch.
        path: PathBuf,
    },

    /// One record, encoded, is larger than the configured maximum.
    /// Nothing of the append it belonged to was written.
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Encoded size of the record in bytes.
        size: usize,
        /// The configured `max_record_bytes`.
        max: usize,
    },

    /// One append's batch is larger than a segment may be (Kafka's
    /// `RecordBatchTooLargeException`). Nothing was written.
    #[error("batch of {size} bytes exceeds the segment size of {max} bytes")]
    BatchTooLarge {
        /// Encoded size of the batch in bytes.
        size: usize,
        /// The configured `segment_bytes`.
        max: u64,
    },

    /// An append with no records.
    #[error("an append needs at least one record")]
    EmptyAppend,

    /// A record without a key sent to a compacted topic (cleanup policy
    /// `Compact`): compaction keeps the latest record per key, and a
    /// keyless one would have nothing to be kept by. Kafka refuses these
    /// too. Nothing of the append was written.
    #[error("topic {topic:?} is compacted: every record needs a key")]
    KeyRequired {
        /// The compacted topic.
        topic: String,
    },

    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A topic name outside Kafka's rule: 1 to 249 characters of
    /// `[a-zA-Z0-9._-]`, not `.` or `..`, and not starting with `__` (which
    /// samsa reserves for its internal topics).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// No topic has this name.
    #[error("unknown topic {name:?}")]
    UnknownTopic {
        /// The name asked for.
        name: String,
    },

    /// A topic of this name exists already.
    #[error("topic {name:?} already exists")]
    TopicExists {
        /// The name given.
        name: String,
    },

    /// The topic has no partition of this number.
    #[error("topic {topic:?} has no partition {partition}: it has {partitions}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has (numbered from 0).
        partitions: u32,
    },

    /// An idempotent producer's batch came from an older epoch of its
    /// producer id than the partition has seen: a newer producer with the
    /// same id took over, and this one is fenced.
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current_epoch}")]
    ProducerFenced {
        /// The producer id.
        producer_id: i64,
        /// The epoch of the refused batch.
        epoch: i16,
        /// The newest epoch the partition has seen for this id.
        current_epoch: i16,
    },

    /// A transactional producer was used out of order (Kafka's
    /// `IllegalStateException` and `InvalidTxnStateException`): a send
    /// outside a transaction, a commit with none open, a call before
    /// `init_transactions`, or any call after it was fenced.
    #[error("transactional producer {transactional_id:?}: {reason}")]
    TransactionState {
        /// The producer's transactional id.
        transactional_id: String,
        /// What was wrong.
        reason: &'static str,
    },

    /// An idempotent producer's batch does not continue its sequence on
    /// this partition and is not a retry of a recent batch: records in
    /// between were lost, so it is refused rather than leave a gap.
    #[error("producer {producer_id}: sequence {got} out of order, expected {expected}")]
    OutOfOrderSequence {
        /// The producer id.
        producer_id: i64,
        /// The base sequence the partition expected next.
        expected: i32,
        /// The base sequence of the refused batch.
        got: i32,
    },

    /// A consumer has no position on a partition and its
    /// `auto_offset_reset` is `None` (Kafka's
    /// `NoOffsetForPartitionException`).
    #[error("no offset for {topic}/{partition} and auto_offset_reset is None")]
    NoOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },

    /// A consumer committed as a group member, but the group no longer has
    /// it as a member: it was evicted (no poll within `max_poll_interval`)
    /// and a rebalance went on without it. Poll (which rejoins; the
    /// partitions are lost), then commit what the new assignment gives.
    #[error("group {group:?} rebalanced without this member: it last saw generation {generation}, the group is at {current}")]
    RebalanceInProgress {
        /// The group.
        group: String,
        /// The member's generation.
        generation: u32,
        /// The group's generation.
        current: u32,
    },

    /// A commit or operation named a partition this consumer is not
    /// assigned.
    #[error("{topic}/{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },

    /// The operation needs a consumer group with no active members.
    #[error("group {group:?} has active members")]
    GroupNotEmpty {
        /// The group.
        group: String,
    },

    /// Another consumer with the same `group_instance_id` took this static
    /// member's place in the group (Kafka's `FencedInstanceIdException`).
    #[error("group {group:?}: instance {instance_id:?} was taken over by a newer consumer")]
    Fenced {
        /// The group.
        group: String,
        /// The static member's instance id.
        instance_id: String,
    },

    /// No such consumer group.
    #[error("unknown consumer group {group:?}")]
    UnknownGroup {
        /// The group.
        group: String,
    },

    /// A member joined with assignors that do not include the one the group
    /// uses.
    #[error("group {group:?} uses assignor {assignor:?}, which this consumer does not list")]
    InconsistentGroupProtocol {
        /// The group.
        group: String,
        /// The group's assignor.
        assignor: String,
    },

    /// A producer's buffer stayed full for longer than its `max_block`.
    #[error("producer buffer of {buffer_bytes} bytes stayed full for {waited_ms} ms")]
    BufferFull {
        /// The configured `buffer_bytes`.
        buffer_bytes: usize,
        /// How long `send` waited.
        waited_ms: u64,
    },

    /// The directory is not one samsa may use: it holds files but no
    /// `meta.properties` naming it a samsa log (or partition), or a
    /// directory samsa would have to remove holds files samsa did not
    /// write. samsa changed nothing in it: it never deletes, moves or
    /// rewrites a file it did not write.
    #[error("{path} is not a directory samsa may use: {reason}; nothing in it was changed")]
    ForeignDirectory {
        /// The directory.
        path: PathBuf,
        /// What samsa found there.
        reason: String,
    },

    /// Another owner holds the directory's lock.
    #[error("{path} is locked by another owner")]
    Locked {
        /// The locked directory.
        path: PathBuf,
    },

    /// The partition cannot take appends until it is reopened: after a
    /// failed sync, its in-process recovery found damage it does not repair
    /// by itself (`cause`). Nothing acknowledged before is lost; reads go
    /// on. Fix the cause, then [`crate::Partition::reopen`] it (the rest of
    /// the log keeps working meanwhile). A failed sync alone does not
    /// poison a partition: it recovers by itself at its next use (see
    /// [`crate::partition::PartitionHealth`]).
    #[error("partition at {path} needs reopening: {cause}")]
    Poisoned {
        /// The partition's directory.
        path: PathBuf,
        /// What its recovery found.
        cause: String,
    },

    /// The partition, or the whole log, was closed.
    #[error("{path} is closed")]
    Closed {
        /// The directory of what was closed.
        path: PathBuf,
    },

    /// Something waited for longer than it may (Kafka's
    /// `TimeoutException`): `operation` on `target` gave up after
    /// `waited_ms`, for the `reason` given. Nothing was lost: what was done
    /// before stays done, and the call may be made again once the cause
    /// clears.
    #[error("{operation} of {target} timed out after {waited_ms} ms: {reason}")]
    TimedOut {
        /// What waited (`"copy_topic"`, ...).
        operation: &'static str,
        /// What it waited on: a topic, a partition.
        target: String,
        /// How long it waited.
        waited_ms: u64,
        /// What it waited for.
        reason: String,
    },

    /// A call to a Kafka cluster failed: returned by the implementations
    /// of the [`client`](crate::client) traits for Kafka (the
    /// `samsa-kafka` crate), never by samsa itself. Failures with a samsa
    /// counterpart (an unknown topic, a topic that exists) come as that
    /// variant instead.
    #[error("Kafka {operation} of {target} failed: {reason}")]
    Kafka {
        /// What was asked (`"send"`, `"commit"`, `"create_topic"`, ...).
        operation: &'static str,
        /// What it was asked of: a topic, a partition, a group or the
        /// cluster's bootstrap servers.
        target: String,
        /// The client's error, as it reports it (its code and text).
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        position: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            path: path.into(),
            position,
            reason: reason.into(),
        }
    }
}

/// `Result` with samsa's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_error_chains_its_source() {
        let e = Error::io("write", "/x/0.log", io::Error::other("disk on fire"));
        assert!(e.to_string().contains("write"));
        assert!(e.to_string().contains("/x/0.log"));
        assert_eq!(e.source().unwrap().to_string(), "disk on fire");
    }

    #[test]
    fn a_clone_keeps_kind_message_and_os_code() {
        let e = Error::io("fdatasync", "/x/0.log", io::Error::from_raw_os_error(5));
        let c = e.clone();
        assert_eq!(c.to_string(), e.to_string());
        assert_eq!(format!("{c:?}"), format!("{e:?}"));
        let (
            Error::Io { source: a, .. },
            Error::Io {
                op,
                path,
                source: b,
            },
        ) = (&e, &c)
        else {
            panic!("{c:?}");
        };
        assert_eq!(
            (*op, path.as_path()),
            ("fdatasync", std::path::Path::new("/x/0.log"))
        );
        assert_eq!(b.kind(), a.kind());
        assert_eq!(b.raw_os_error(), Some(5));
        assert!(Arc::ptr_eq(a, b), "clones share the io::Error");
        assert_eq!(c.source().unwrap().to_string(), a.to_string());

        let e = Error::corrupt("/x/0.index", 12, "bad entry");
        assert_eq!(e.clone().to_string(), e.to_string());
    }

    #[test]
    fn out_of_range_names_the_range() {
        let e = Error::OffsetOutOfRange {
            requested: 9,
            start: 2,
            end: 5,
        };
        assert_eq!(
            e.to_string(),
            "offset 9 is out of range: the log holds offsets 2..5"
        );
    }
}
