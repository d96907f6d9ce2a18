//! Scenario: records routed to partitions. Checks Kafka compatibility of
//! the default partitioner against Kafka's own published murmur2 vectors,
//! and the properties every partitioner promises: in range for any
//! partition count, stable per key, fair round-robin turns, reproducible
//! and uniform random draws, and closures usable wherever a
//! `Partitioner` is.

use proptest::prelude::*;
use samsa_log::producer::{
    kafka_partition_for_key, murmur2, DefaultPartitioner, Partitioner, RandomPartitioner,
    RoundRobinPartitioner,
};
use std::sync::Arc;
use std::thread;

/// Kafka's `UtilsTest.testMurmur2` cases, verbatim: key bytes and the Java
/// `int` that `Utils.murmur2` returns for them. Source: apache/kafka,
/// clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
/// (read at commit f55581dc73953c3509a4702433aeeeddc2970779).
const KAFKA_MURMUR2_VECTORS: [(&[u8], i32); 6] = [
    (b"21", -973_932_308),
    (b"foobar", -790_332_482),
    (b"a-little-bit-long-string", -985_981_536),
    (b"a-little-bit-longer-string", -1_486_304_829),
    (
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        -58_897_971,
    ),
    // Kafka writes this one as `new byte[] {'a', 'b', 'c'}`.
    (b"abc", 479_470_107),
];

#[test]
fn murmur2_matches_kafkas_published_vectors() {
    for (key, expected) in KAFKA_MURMUR2_VECTORS {
        assert_eq!(
            murmur2(key),
            expected,
            "murmur2({:?})",
            String::from_utf8_lossy(key)
        );
    }
}

/// Partition numbers Kafka's default partitioner gives these keys,
/// computed by hand from the vectors above as
/// `toPositive(murmur2(key)) % n`, where `toPositive(h) = h & 0x7fffffff`:
///
/// | key                          | murmur2      | as u32     | toPositive  |
/// |------------------------------|--------------|------------|-------------|
/// | "21"                         | -973932308   | 0xc5f2f8ec | 1173551340  |
/// | "foobar"                     | -790332482   | 0xd0e47bbe | 1357151166  |
/// | "a-little-bit-long-string"   | -985981536   | 0xc53b1da0 | 1161502112  |
/// | "a-little-bit-longer-string" | -1486304829  | 0xa768c9c3 | 661178819   |
/// | "lkjh...h89h8"               | -58897971    | 0xfc7d49cd | 2088585677  |
/// | "abc"                        | 479470107    | 0x1c94221b | 479470107   |
///
/// then the remainders for 3, 10, 12 and 100 partitions.
const KAFKA_PARTITIONS: [(&[u8], [u32; 4]); 6] = [
    (b"21", [0, 0, 0, 40]),
    (b"foobar", [0, 6, 6, 66]),
    (b"a-little-bit-long-string", [2, 2, 8, 12]),
    (b"a-little-bit-longer-string", [2, 9, 11, 19]),
    (
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        [2, 7, 5, 77],
    ),
    (b"abc", [0, 7, 3, 7]),
];
const COUNTS: [u32; 4] = [3, 10, 12, 100];

#[test]
fn keyed_records_land_where_kafka_puts_them() {
    for (key, expected) in KAFKA_PARTITIONS {
        for (n, want) in COUNTS.into_iter().zip(expected) {
            let name = String::from_utf8_lossy(key);
            assert_eq!(kafka_partition_for_key(key, n), want, "{name} over {n}");
            assert_eq!(
                DefaultPartitioner.partition(Some(key), None, n),
                Some(want),
                "{name} over {n}"
            );
        }
    }
    // toPositive clears the sign bit; it is not abs(): abs(-973932308) % 100
    // would be 8, Kafka gives 40.
    assert_ne!(kafka_partition_for_key(b"21", 100), 973_932_308 % 100);
}

#[test]
fn default_leaves_keyless_records_to_the_producer() {
    assert_eq!(DefaultPartitioner.partition(None, Some(b"v"), 12), None);
    assert_eq!(DefaultPartitioner.partition(None, None, 1), None);
}

/// Every built-in partitioner, behind the trait object a producer holds.
fn built_ins() -> Vec<(&'static str, Box<dyn Partitioner>)> {
    vec![
        ("default", Box::new(DefaultPartitioner)),
        ("round-robin", Box::new(RoundRobinPartitioner::new())),
        ("random", Box::new(RandomPartitioner::new())),
        ("random(42)", Box::new(RandomPartitioner::with_seed(42))),
    ]
}

proptest! {
    #[test]
    fn every_partitioner_stays_in_range(
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        partitions in 1u32..=10_000,
    ) {
        for (name, p) in built_ins() {
            for _ in 0..3 {
                if let Some(got) = p.partition(key.as_deref(), value.as_deref(), partitions) {
                    prop_assert!(got < partitions, "{name}: {got} of {partitions}");
                }
            }
        }
        // The only `None` among the built-ins: the default, for no key.
        let default = DefaultPartitioner.partition(key.as_deref(), value.as_deref(), partitions);
        prop_assert_eq!(default.is_some(), key.is_some());
    }

    #[test]
    fn same_key_same_partition(
        key in proptest::collection::vec(any::<u8>(), 0..256),
        value_a in proptest::collection::vec(any::<u8>(), 0..32),
        value_b in proptest::collection::vec(any::<u8>(), 0..32),
        partitions in 1u32..=10_000,
    ) {
        let first = DefaultPartitioner.partition(Some(&key), Some(&value_a), partitions);
        // A fresh instance, another value: the key alone decides.
        let again = DefaultPartitioner.partition(Some(&key), Some(&value_b), partitions);
        prop_assert_eq!(first, again);
        prop_assert_eq!(first, Some(kafka_partition_for_key(&key, partitions)));
        prop_assert_eq!(
            kafka_partition_for_key(&key, partitions),
            (murmur2(&key) as u32 & 0x7fff_ffff) % partitions
        );
    }

    #[test]
    fn round_robin_visits_every_partition_equally(
        partitions in 1u32..=500,
        rounds in 1u32..=4,
        keyed in any::<bool>(),
    ) {
        let p = RoundRobinPartitioner::new();
        let mut counts = vec![0u32; partitions as usize];
        for i in 0..partitions * rounds {
            let key = i.to_le_bytes();
            let key = keyed.then_some(&key[..]);
            let got = p.partition(key, None, partitions).unwrap();
            // In turn: call i goes to partition i mod n.
            prop_assert_eq!(got, i % partitions);
            counts[got as usize] += 1;
        }
        prop_assert!(counts.iter().all(|&c| c == rounds));
    }

    #[test]
    fn random_with_a_seed_is_reproducible(seed in any::<u64>(), partitions in 1u32..=10_000) {
        let a = RandomPartitioner::with_seed(seed);
        let b = RandomPartitioner::with_seed(seed);
        for _ in 0..64 {
            prop_assert_eq!(
                a.partition(None, None, partitions),
                b.partition(Some(b"keys are ignored"), None, partitions)
            );
        }
    }
}

/// Pearson's chi-square statistic of `counts` against a uniform spread.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

fn draw_counts(p: &RandomPartitioner, partitions: u32, draws: u32) -> Vec<u64> {
    let mut counts = vec![0u64; partitions as usize];
    for _ in 0..draws {
        counts[p.partition(None, None, partitions).unwrap() as usize] += 1;
    }
    counts
}

#[test]
fn random_is_roughly_uniform() {
    // Seeded, so the outcome is fixed and cannot flake. With 7 degrees of
    // freedom the statistic has mean 7 and sd 3.7; 40 is beyond p = 1e-5,
    // loose enough to hold for any decent seed, tight enough to catch a
    // skewed reduction (one partition 2% heavy over 80,000 draws gives
    // about 55).
    for seed in 0..8 {
        let counts = draw_counts(&RandomPartitioner::with_seed(seed), 8, 80_000);
        let chi2 = chi_square(&counts);
        assert!(
            chi2 < 40.0,
            "seed {seed}: chi-square {chi2:.1} for {counts:?}"
        );
    }
    // A count that is not a power of two, where a biased reduction shows.
    let counts = draw_counts(&RandomPartitioner::with_seed(99), 7, 70_000);
    let chi2 = chi_square(&counts);
    assert!(chi2 < 40.0, "chi-square {chi2:.1} for {counts:?}");

    // Unseeded: every partition within 10% of its expected 10,000, which
    // is 10 standard deviations (p below 1e-20).
    let counts = draw_counts(&RandomPartitioner::new(), 8, 80_000);
    assert!(
        counts.iter().all(|&c| (9_000..=11_000).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn random_spreads_over_threads_without_losing_draws() {
    let p = Arc::new(RandomPartitioner::with_seed(5));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = Arc::clone(&p);
            thread::spawn(move || draw_counts(&p, 8, 20_000))
        })
        .collect();
    let mut total = vec![0u64; 8];
    for h in handles {
        for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
            *t += c;
        }
    }
    assert_eq!(total.iter().sum::<u64>(), 80_000);
    assert!(
        total.iter().all(|&c| (9_000..=11_000).contains(&c)),
        "{total:?}"
    );
}

/// A producer-like caller, generic over any partitioner, sized or not.
fn route<P: Partitioner + ?Sized>(p: &P, key: &[u8], partitions: u32) -> Option<u32> {
    p.partition(Some(key), None, partitions)
}

#[test]
fn a_closure_is_a_partitioner() {
    // Keys of the form "<digits>:..." name their partition, modulo n.
    let by_prefix = |key: Option<&[u8]>, _value: Option<&[u8]>, partitions: u32| {
        let key = key?;
        let digits = key.split(|&b| b == b':').next()?;
        let n: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        Some(n % partitions)
    };
    assert_eq!(route(&by_prefix, b"5:order", 4), Some(1));
    assert_eq!(route(&by_prefix, b"no-prefix", 4), None);

    let boxed: Box<dyn Partitioner> = Box::new(by_prefix);
    assert_eq!(route(&*boxed, b"7:x", 4), Some(3));

    // Shared between threads, as a `Clone` producer would share it.
    let shared: Arc<dyn Partitioner> = Arc::new(by_prefix);
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || route(&*shared, format!("{t}:k").as_bytes(), 3))
        })
        .collect();
    let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [Some(0), Some(1), Some(2), Some(0)]);

    // A closure capturing state works too, as long as it is Send + Sync.
    let hot_keys: Vec<Vec<u8>> = vec![b"vip".to_vec()];
    let hot_first = move |key: Option<&[u8]>, _value: Option<&[u8]>, partitions: u32| match key {
        Some(k) if hot_keys.iter().any(|h| h == k) => Some(0),
        Some(k) => Some(kafka_partition_for_key(k, partitions)),
        None => None,
    };
    assert_eq!(route(&hot_first, b"vip", 12), Some(0));
    assert_eq!(route(&hot_first, b"abc", 12), Some(3));
}

/// A user type implementing the trait directly.
#[derive(Debug)]
struct AlwaysLast;

impl Partitioner for AlwaysLast {
    fn partition(
        &self,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: u32,
    ) -> Option<u32> {
        Some(partitions - 1)
    }
}

#[test]
fn a_user_type_is_a_partitioner() {
    let all: Vec<Arc<dyn Partitioner>> = vec![
        Arc::new(AlwaysLast),
        Arc::new(DefaultPartitioner),
        Arc::new(RoundRobinPartitioner::new()),
    ];
    let got: Vec<_> = all.iter().map(|p| route(&**p, b"abc", 10)).collect();
    assert_eq!(got, [Some(9), Some(7), Some(0)]);
}
