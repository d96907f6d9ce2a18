//! A position in a partition, named as Kafka's clients and tools name it:
//! shared by the consumer's seek and the group's offset reset.

/// A position in a partition, as a consumer
/// [`seek`](crate::Consumer::seek)s to it or a group's committed offsets
/// are [reset](crate::ConsumerGroup::reset_offsets) to it (the options of
/// `kafka-consumer-groups --reset-offsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The log start offset (`--to-earliest`).
    Earliest,
    /// The high watermark: the next record to be appended (`--to-latest`).
    Latest,
    /// This offset (`--to-offset`). A seek goes there as given (a position
    /// outside the log is handled by `auto_offset_reset` at the next
    /// poll); a reset clamps it to the partition's range.
    At(u64),
    /// The earliest offset whose timestamp is at or after this many
    /// milliseconds since the epoch, like Kafka's `offsetsForTimes`; the
    /// high watermark if no record is that recent (`--to-datetime`).
    Timestamp(i64),
    /// This many records forward (or back, if negative) from the current
    /// position (a seek: the consumer's position; a reset: the committed
    /// offset, or the log start where nothing is committed), clamped to
    /// the partition's range (`--shift-by`).
    ShiftBy(i64),
}
