//! Random: every record to a uniformly random partition.

use super::Partitioner;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64's increment, 2^64 / φ rounded to odd (Steele, Lea and
/// Flood, "Fast splittable pseudorandom number generators", 2014).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Sends every record, keyed or not, to a uniformly random partition.
///
/// The generator is SplitMix64 with its state in one atomic, so the
/// partitioner is lock-free and shared freely between threads. With
/// [`with_seed`](RandomPartitioner::with_seed) the sequence of partitions
/// is reproducible (for calls from one thread, or in any fixed order);
/// [`new`](RandomPartitioner::new) seeds from the clock and per-process
/// randomness. The reduction to `0..partitions` is exact (Lemire's
/// multiply-shift with rejection), so no partition is favoured. Not for
/// cryptography.
///
/// ```
/// use samsa_log::producer::{Partitioner, RandomPartitioner};
///
/// let a = RandomPartitioner::with_seed(7);
/// let b = RandomPartitioner::with_seed(7);
/// for _ in 0..100 {
///     let p = a.partition(None, None, 12).unwrap();
///     assert!(p < 12);
///     assert_eq!(Some(p), b.partition(None, None, 12));
/// }
/// ```
#[derive(Debug)]
pub struct RandomPartitioner {
    /// SplitMix64's state: a Weyl sequence advanced by [`GAMMA`].
    state: AtomicU64,
}

impl RandomPartitioner {
    /// A random partitioner seeded from the clock and per-process
    /// randomness: two instances, even created at the same instant,
    /// produce different sequences.
    pub fn new() -> Self {
        // std's RandomState carries random keys from the OS, different per
        // process and per instance; the clock and an address add more.
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        let local = 0u8;
        hasher.write_usize(std::ptr::addr_of!(local) as usize);
        Self::with_seed(hasher.finish())
    }

    /// A random partitioner whose sequence of partitions is fixed by
    /// `seed`: the same seed and the same calls give the same partitions.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// The next 64 random bits: SplitMix64's output function over the
    /// advanced state.
    fn next_u64(&self) -> u64 {
        // Relaxed: each caller gets a distinct state from fetch_add; no
        // other memory is published through it.
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..n`, `n >= 1`, with no bias: Lemire's
    /// multiply-shift ("Fast random integer generation in an interval",
    /// 2019), redrawing the few products whose low half falls below
    /// `2^64 mod n`.
    fn below(&self, n: u32) -> u32 {
        let n = u64::from(n);
        let mut product = u128::from(self.next_u64()) * u128::from(n);
        if (product as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (product >> 64) as u32
    }
}

impl Default for RandomPartitioner {
    /// Same as [`RandomPartitioner::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Partitioner for RandomPartitioner {
    /// A uniformly random partition; `None` only for `partitions == 0`,
    /// which the contract excludes.
    fn partition(
        &self,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: u32,
    ) -> Option<u32> {
        (partitions > 0).then(|| self.below(partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_output() {
        // The first outputs of Vigna's reference splitmix64.c from state
        // 1234567, as listed by Rosetta Code's "Pseudo-random
        // numbers/Splitmix64" task.
        let rng = RandomPartitioner::with_seed(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn one_partition_is_always_zero() {
        let p = RandomPartitioner::with_seed(3);
        for _ in 0..100 {
            assert_eq!(p.partition(None, None, 1), Some(0));
        }
    }

    #[test]
    fn large_ranges_stay_in_bounds() {
        let p = RandomPartitioner::with_seed(9);
        for n in [2, 3, u32::MAX / 2 + 1, u32::MAX - 1, u32::MAX] {
            for _ in 0..1000 {
                assert!(p.partition(None, None, n).unwrap() < n);
            }
        }
    }

    #[test]
    fn unseeded_instances_differ() {
        let a = RandomPartitioner::new();
        let b = RandomPartitioner::new();
        let draws = |p: &RandomPartitioner| (0..32).map(|_| p.next_u64()).collect::<Vec<_>>();
        assert_ne!(draws(&a), draws(&b));
    }
}
