//! What a transactional producer needs of a consumer to commit its offsets
//! inside a transaction (KIP-447): the group, and the member and
//! generation the offsets come from, so that a member that lost its
//! partitions in a rebalance cannot commit them.

/// A consumer's place in its group, from
/// [`Consumer::group_metadata`](crate::Consumer::group_metadata), for
/// [`Producer::send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction)
/// (Kafka's `ConsumerGroupMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The member id, for a subscribed consumer (`None` for one with
    /// assigned partitions: its offsets are accepted only while the group
    /// has no members, as its plain commits are).
    pub member_id: Option<String>,
    /// The generation of the assignment the member holds (0 without one).
    pub generation: u32,
}
