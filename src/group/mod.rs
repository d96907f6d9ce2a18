//! Consumer groups, beside the log: the coordinator (membership,
//! generations, assignments) and the offset store (committed offsets in the
//! internal topic `__consumer_offsets`), plus the admin operations on them.

mod admin;
pub(crate) mod coordinator;
pub(crate) mod offsets;

pub use admin::{ConsumerGroup, OffsetChange, OffsetReset, PartitionLag};
pub use coordinator::{GroupDescription, GroupState, MemberDescription};
pub use offsets::OffsetAndMetadata;
