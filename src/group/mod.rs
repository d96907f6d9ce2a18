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
pub(crate) mod membership;
mod metadata;
pub(crate) mod offsets;

pub use crate::assignor::{
    Assignor, CooperativeStickyAssignor, GroupMember, RangeAssignor, RoundRobinAssignor,
};
pub use crate::offset::Offset;
pub use admin::{ConsumerGroup, OffsetChange, PartitionLag};

use crate::error::Result;
use crate::record::Record;
use crate::registry::Registry;
use committer::Committer;
use coordinator::Coordinator;
use membership::Recorder;
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
    /// The thread commits made from async code are written on, and the
    /// membership records.
    pub committer: Committer,
    /// Writes what the coordinator has of each group to
    /// `__consumer_groups`, for other processes to read.
    pub recorder: Recorder,
}

impl Groups {
    pub fn new(registry: Arc<Registry>) -> Groups {
        Groups {
            registry,
            coordinator: Coordinator::default(),
            offsets: OffsetStore::default(),
            committer: Committer::default(),
            recorder: Recorder::default(),
        }
    }

    /// Writes the membership record of every group changed since its
    /// last one, on this thread.
    pub fn record_membership(&self) -> Result<()> {
        self.recorder.record(&self.registry, &self.coordinator)
    }

    /// [`Self::record_membership`] on the commit thread, if a group
    /// changed: never blocks, so polls (sync or async) call it after every
    /// change they make. A failed write is logged and tried again later.
    pub fn record_membership_in_background(self: &Arc<Self>) {
        if !self
            .recorder
            .should_queue(&self.registry, &self.coordinator)
        {
            return;
        }
        let groups = self.clone();
        let queued = self.committer.submit(move || {
            groups.recorder.started();
            groups.record_membership()
        });
        if queued.is_err() {
            self.recorder.started();
        }
    }
}

pub use coordinator::{GroupDescription, GroupState, MemberDescription};
pub use membership::RecordedGroup;
pub use metadata::ConsumerGroupMetadata;
pub use offsets::OffsetAndMetadata;

/// The records a state topic's write appends: under each key its value,
/// or, for none, a tombstone (which deletes the key).
pub(crate) fn keyed_records(encoded: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<Record<'_>> {
    encoded
        .iter()
        .map(|(k, v)| match v {
            Some(v) => Record::new(v).key(k),
            None => Record::tombstone(k),
        })
        .collect()
}
