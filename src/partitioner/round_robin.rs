//! Round-robin: every record to the next partition in turn.

use super::Partitioner;
use std::sync::atomic::{AtomicU64, Ordering};

/// Sends every record, keyed or not, to the next partition in turn:
/// `0, 1, 2, ..., partitions - 1, 0, 1, ...`, like Kafka's
/// `RoundRobinPartitioner`. Keys are ignored, so records with the same key
/// are spread over all partitions and lose their relative order.
///
/// The turn is one atomic counter, shared by every thread that uses this
/// partitioner: over `k * partitions` calls with the same partition count,
/// each partition gets exactly `k` records. The counter is one for the
/// whole partitioner, not one per topic as in Kafka; a producer writing to
/// several topics through one instance still spreads each topic's records
/// evenly in the long run, but strict turns per topic need one instance
/// per topic.
///
/// ```
/// use samsa_log::producer::{Partitioner, RoundRobinPartitioner};
///
/// let p = RoundRobinPartitioner::new();
/// let turns: Vec<_> = (0..5).map(|_| p.partition(None, None, 3).unwrap()).collect();
/// assert_eq!(turns, [0, 1, 2, 0, 1]);
/// ```
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    /// Calls so far. 64 bits so it never wraps in practice: a 32-bit
    /// counter would break the turn at the wrap unless `partitions`
    /// divides 2^32.
    next: AtomicU64,
}

impl RoundRobinPartitioner {
    /// A round-robin partitioner whose first record goes to partition 0.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    /// The next partition in turn; `None` only for `partitions == 0`, which
    /// the contract excludes.
    fn partition(
        &self,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: u32,
    ) -> Option<u32> {
        if partitions == 0 {
            return None;
        }
        // Relaxed: the counter orders nothing but itself, and fetch_add
        // alone gives each caller a distinct turn.
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some((turn % u64::from(partitions)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn cycles_through_every_partition_ignoring_keys() {
        let p = RoundRobinPartitioner::new();
        let got: Vec<u32> = (0..8)
            .map(|i| {
                let key = [i as u8];
                p.partition(Some(&key), None, 4).unwrap()
            })
            .collect();
        assert_eq!(got, [0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn threads_share_the_turn_and_each_partition_gets_its_share() {
        const THREADS: u32 = 4;
        const CALLS: u32 = 3 * 7 * 1000;
        let p = Arc::new(RoundRobinPartitioner::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let p = Arc::clone(&p);
                thread::spawn(move || {
                    let mut counts = [0u32; 7];
                    for _ in 0..CALLS {
                        counts[p.partition(None, None, 7).unwrap() as usize] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut total = [0u32; 7];
        for h in handles {
            for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
                *t += c;
            }
        }
        assert_eq!(total, [THREADS * CALLS / 7; 7]);
    }
}
