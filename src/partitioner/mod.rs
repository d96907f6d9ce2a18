//! Partitioners: which partition of a topic a record goes to.
//!
//! Beside the storage layers, not under them: a partitioner only sees a
//! record's key and value and the topic's partition count, and the
//! producer acts on its answer. [`DefaultPartitioner`] is Kafka's built-in
//! behaviour (murmur2 of the key, sticky for keyless records);
//! [`RoundRobinPartitioner`] and [`RandomPartitioner`] spread records
//! evenly; any closure of the right shape is a [`Partitioner`] too.

mod murmur2;
mod random;
mod round_robin;

pub use murmur2::{kafka_partition_for_key, murmur2};
pub use random::RandomPartitioner;
pub use round_robin::RoundRobinPartitioner;

/// Chooses the partition of a record: one method, called by the producer
/// for every record that does not name its own partition.
///
/// # Contract
///
/// - The producer calls [`partition`](Partitioner::partition) with
///   `partitions >= 1`, the topic's current partition count.
/// - Return `Some(p)` with `p < partitions` to send the record to
///   partition `p`.
/// - Return `None` for "no preference": the producer then applies Kafka's
///   sticky behaviour for keyless records, staying on one partition for
///   `ProducerConfig::sticky_partition_bytes` (16 KiB, Kafka's
///   `batch.size`) or until its batch closes, then moving on (since Kafka
///   3.3 the producer does this itself, KIP-794, and so does samsa's).
/// - Returning `Some(p)` with `p >= partitions` is an error: the producer
///   rejects the record with a typed error instead of writing it anywhere.
/// - A partition set explicitly on a record always wins: the producer does
///   not call the partitioner for it.
/// - The producer may call the partitioner from many threads at once,
///   hence `Send + Sync`; keep it cheap, since it runs on every `send`.
///
/// Any `Fn(Option<&[u8]>, Option<&[u8]>, u32) -> Option<u32> + Send + Sync`
/// closure implements the trait, so a custom partitioner is usually one
/// closure:
///
/// ```
/// use samsa_log::producer::{Partitioner, kafka_partition_for_key};
/// use std::sync::Arc;
///
/// // Records keyed `audit:...` go to partition 0; other keys are hashed
/// // as Kafka would hash them, over the remaining partitions.
/// let audit_first = |key: Option<&[u8]>, _value: Option<&[u8]>, partitions: u32| {
///     let key = key?; // keyless: no preference, the producer sticks
///     if key.starts_with(b"audit:") || partitions == 1 {
///         Some(0)
///     } else {
///         Some(1 + kafka_partition_for_key(key, partitions - 1))
///     }
/// };
/// assert_eq!(audit_first.partition(Some(b"audit:login"), None, 8), Some(0));
/// assert_eq!(audit_first.partition(None, Some(b"ping"), 8), None);
///
/// // The same closure behind a trait object, as a producer would hold it.
/// let shared: Arc<dyn Partitioner> = Arc::new(audit_first);
/// let p = shared.partition(Some(b"user-42"), None, 8).unwrap();
/// assert!((1..8).contains(&p));
/// ```
pub trait Partitioner: Send + Sync {
    /// The partition for a record with this `key` and `value` in a topic of
    /// `partitions` partitions: `Some(p)` with `p < partitions`, or `None`
    /// to leave the choice to the producer's sticky behaviour. See the
    /// trait's contract.
    fn partition(&self, key: Option<&[u8]>, value: Option<&[u8]>, partitions: u32) -> Option<u32>;
}

impl<F> Partitioner for F
where
    F: Fn(Option<&[u8]>, Option<&[u8]>, u32) -> Option<u32> + Send + Sync,
{
    fn partition(&self, key: Option<&[u8]>, value: Option<&[u8]>, partitions: u32) -> Option<u32> {
        self(key, value, partitions)
    }
}

/// Kafka's built-in partitioner, the producer's default.
///
/// A keyed record goes to [`kafka_partition_for_key`]`(key, partitions)`:
/// murmur2 of the key bytes, exactly as Kafka's Java client computes it, so
/// a key lands on the same partition number here as in Kafka for the same
/// partition count. An empty key is still a key and is hashed. A keyless
/// record gets `None`, so the producer's sticky behaviour places it.
///
/// Like Kafka's, the mapping depends on the partition count: adding
/// partitions to a topic moves most keys.
///
/// ```
/// use samsa_log::producer::{DefaultPartitioner, Partitioner};
///
/// let p = DefaultPartitioner;
/// let key: Option<&[u8]> = Some(b"user-42");
/// let first = p.partition(key, None, 12);
/// assert_eq!(first, p.partition(key, Some(b"other value"), 12));
/// assert_eq!(p.partition(None, Some(b"no key"), 12), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultPartitioner;

impl Partitioner for DefaultPartitioner {
    /// `Some(kafka_partition_for_key(key, partitions))` for a keyed record,
    /// `None` for a keyless one (and, outside the contract, for
    /// `partitions == 0`).
    fn partition(&self, key: Option<&[u8]>, _value: Option<&[u8]>, partitions: u32) -> Option<u32> {
        match key {
            Some(key) if partitions > 0 => Some(kafka_partition_for_key(key, partitions)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn default_hashes_keys_and_leaves_keyless_to_the_producer() {
        let p = DefaultPartitioner;
        assert_eq!(p.partition(None, Some(b"v"), 3), None);
        assert_eq!(p.partition(None, None, 3), None);
        for n in 1..50 {
            let got = p.partition(Some(b"abc"), None, n).unwrap();
            assert_eq!(got, kafka_partition_for_key(b"abc", n));
            assert!(got < n);
        }
        // The value plays no part.
        assert_eq!(
            p.partition(Some(b"k"), Some(b"one"), 7),
            p.partition(Some(b"k"), Some(b"two"), 7)
        );
        // An empty key is a key.
        assert_eq!(
            p.partition(Some(b""), None, 7),
            Some(kafka_partition_for_key(b"", 7))
        );
    }

    #[test]
    fn zero_partitions_is_no_preference_not_a_panic() {
        assert_eq!(DefaultPartitioner.partition(Some(b"k"), None, 0), None);
        assert_eq!(RoundRobinPartitioner::new().partition(None, None, 0), None);
        assert_eq!(
            RandomPartitioner::with_seed(1).partition(None, None, 0),
            None
        );
    }

    #[test]
    fn closures_and_trait_objects_are_partitioners() {
        let last = |_k: Option<&[u8]>, _v: Option<&[u8]>, n: u32| Some(n - 1);
        assert_eq!(last.partition(None, None, 5), Some(4));
        let boxed: Box<dyn Partitioner> = Box::new(last);
        assert_eq!(boxed.partition(None, None, 9), Some(8));
        let shared: Arc<dyn Partitioner> = Arc::new(DefaultPartitioner);
        assert_eq!(shared.partition(None, None, 9), None);
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn built_ins_are_send_and_sync() {
        assert_send_sync::<DefaultPartitioner>();
        assert_send_sync::<RoundRobinPartitioner>();
        assert_send_sync::<RandomPartitioner>();
        assert_send_sync::<Box<dyn Partitioner>>();
    }
}
