//! Kafka's murmur2: the hash its Java client uses to place keyed records.

/// Kafka's seed for murmur2 (`Utils.murmur2` in the Java client).
const SEED: u32 = 0x9747_b28c;
/// MurmurHash2's multiplier.
const M: u32 = 0x5bd1_e995;
/// MurmurHash2's shift.
const R: u32 = 24;

/// The 32-bit MurmurHash2 of `data`, exactly as Kafka's Java client
/// computes it (`org.apache.kafka.common.utils.Utils.murmur2`): seed
/// `0x9747b28c`, little-endian 4-byte blocks, and the result as Java's
/// signed `int`, so it may be negative.
///
/// Use [`kafka_partition_for_key`] to turn it into a partition number.
///
/// ```
/// // Vectors from Kafka's own test, `UtilsTest.testMurmur2`.
/// assert_eq!(samsa_log::producer::murmur2(b"21"), -973932308);
/// assert_eq!(samsa_log::producer::murmur2(b"abc"), 479470107);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    // Java's `int` arithmetic is two's complement with wrapping `*`, and
    // its `>>>` is a logical shift: `u32` with wrapping_mul and `>>` is the
    // same computation bit for bit. Java takes the length as an `int`;
    // truncating to 32 bits matches it for every array Java can hold.
    let mut h = SEED ^ data.len() as u32;

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The last one to three bytes, unsigned (Java masks each with 0xff).
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a record with this
/// key in a topic of `partitions` partitions:
/// `(murmur2(key) & 0x7fffffff) % partitions`, Kafka's
/// `Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions`.
///
/// Always less than `partitions`.
///
/// # Panics
///
/// If `partitions` is 0.
///
/// ```
/// // murmur2(b"abc") = 479470107, already positive.
/// assert_eq!(samsa_log::producer::kafka_partition_for_key(b"abc", 10), 7);
/// ```
pub fn kafka_partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    // `toPositive` clears the sign bit (it is not `abs`), so the result is
    // in 0..=i32::MAX and the remainder fits the partition count.
    (murmur2(key) as u32 & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct transcription of the Java code, with the tail as a
    /// fall-through switch, to check the chunked loop above against.
    fn java_murmur2(data: &[u8]) -> i32 {
        let length = data.len() as i32;
        let (seed, m, r) = (0x9747_b28c_u32 as i32, 0x5bd1_e995_i32, 24);
        let mut h = seed ^ length;
        for i in 0..(length / 4) as usize {
            let i4 = i * 4;
            let mut k = (i32::from(data[i4]) & 0xff)
                .wrapping_add((i32::from(data[i4 + 1]) & 0xff) << 8)
                .wrapping_add((i32::from(data[i4 + 2]) & 0xff) << 16)
                .wrapping_add((i32::from(data[i4 + 3]) & 0xff) << 24);
            k = k.wrapping_mul(m);
            k ^= ((k as u32) >> r) as i32;
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
        }
        let base = data.len() & !3;
        let rem = length % 4;
        if rem == 3 {
            h ^= i32::from(data[base + 2]) << 16;
        }
        if rem >= 2 {
            h ^= i32::from(data[base + 1]) << 8;
        }
        if rem >= 1 {
            h ^= i32::from(data[base]);
            h = h.wrapping_mul(m);
        }
        h ^= ((h as u32) >> 13) as i32;
        h = h.wrapping_mul(m);
        h ^= ((h as u32) >> 15) as i32;
        h
    }

    #[test]
    fn matches_a_literal_transcription_of_the_java_code() {
        // Every length 0..64 (all tail sizes, several blocks), with bytes
        // above 0x7f, where Java's signed bytes would bite without masking.
        let data: Vec<u8> = (0..64u32).map(|i| (i * 37 + 200) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                murmur2(&data[..len]),
                java_murmur2(&data[..len]),
                "len {len}"
            );
        }
        assert_eq!(murmur2(&[0xff; 7]), java_murmur2(&[0xff; 7]));
    }

    #[test]
    fn kafka_test_vectors() {
        // apache/kafka clients/src/test/java/org/apache/kafka/common/utils/
        // UtilsTest.java, testMurmur2.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn partition_clears_the_sign_bit_rather_than_taking_abs() {
        // murmur2(b"21") = -973932308 = 0xc5f2_f8ec as u32; toPositive
        // clears bit 31: 0x45f2_f8ec = 1173551340, whereas abs would give
        // 973932308.
        assert_eq!(murmur2(b"21") as u32 & 0x7fff_ffff, 1_173_551_340);
        assert_eq!(kafka_partition_for_key(b"21", 1_000_000_000), 173_551_340);
        assert_eq!(kafka_partition_for_key(b"21", 1), 0);
    }

    #[test]
    #[should_panic(expected = "at least one partition")]
    fn zero_partitions_panics() {
        kafka_partition_for_key(b"k", 0);
    }
}
