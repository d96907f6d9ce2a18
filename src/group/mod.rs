//! Consumer groups: [`ConsumerGroup`] (from
//! [`Log::group`](crate::Log::group)) describes a group, its committed
//! offsets and lag, and resets or deletes them; the [`Assignor`]s share a
//! topic's partitions among the members of a group.

// Beside the topic registry: the coordinator (membership, generations,
// assignments) and the offset store (committed offsets in the internal
// topic `__consumer_offsets`). They depend on the registry, not on the
// `Log` that owns them; nor does the admin handle on them.

mod admin;
pub(crate) mod committer;
pub(crate) mod coordinator;
mod metadata;
pub(crate) mod offsets;

pub use crate::assignor::{
    Assignor, CooperativeStickyAssignor, GroupMember, RangeAssignor, RoundRobinAssignor,
};
pub use crate::offset::Offset;
pub use admin::{ConsumerGroup, OffsetChange, PartitionLag};

use crate::registry::Registry;
use committer::Committer;
use coordinator::Coordinator;
use offsets::OffsetStore;
use std::sync::Arc;

/// The consumer groups of one log: what a [`ConsumerGroup`] handle holds.
pub(crate) struct Groups {
    /// The log's topics, which the groups read and commit against.
    pub registry: Arc<Registry>,
    /// Membership, generations and assignments.
    pub coordinator: Coordinator,
    /// Committed offsets, loaded from `__consumer_offsets` at open.
    pub offsets: OffsetStore,
    /// The thread commits made from async code are written on.
    pub committer: Committer,
}

impl Groups {
    pub fn new(registry: Arc<Registry>) -> Groups {
        Groups {
            registry,
            coordinator: Coordinator::default(),
            offsets: OffsetStore::default(),
            committer: Committer::default(),
        }
    }
}

pub use coordinator::{GroupDescription, GroupState, MemberDescription};
pub use metadata::ConsumerGroupMetadata;
pub use offsets::OffsetAndMetadata;
