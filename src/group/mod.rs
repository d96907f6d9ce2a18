//! Consumer groups, beside the topic registry: the coordinator
//! (membership, generations, assignments) and the offset store (committed
//! offsets in the internal topic `__consumer_offsets`). They depend on the
//! registry, not on the `Log` that owns them; the admin handle on them,
//! `ConsumerGroup`, is part of the log's façade (`log/group.rs`).

pub(crate) mod coordinator;
pub(crate) mod offsets;

pub use coordinator::{GroupDescription, GroupState, MemberDescription};
pub use offsets::OffsetAndMetadata;
