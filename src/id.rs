//! 128-bit random ids, written as Kafka writes its `Uuid`s: 16 bytes in
//! URL-safe base64 without padding (22 characters). Topic ids and log
//! directory ids are these.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 64 random bits: std's `RandomState` is keyed from the operating
/// system's random source (once per process, then varied per instance),
/// and hashes a process-wide counter, so no two calls agree.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A random id that is not zero and whose text does not start with `-`
/// (Kafka avoids both: zero is reserved, and `-...` reads as a
/// command-line flag).
pub(crate) fn random_u128() -> u128 {
    loop {
        let id = (u128::from(random_u64()) << 64) | u128::from(random_u64());
        if id != 0 && !encode(id).starts_with('-') {
            return id;
        }
    }
}

/// `id` as 22 characters of URL-safe base64, big-endian, as Kafka prints
/// a `Uuid`.
pub(crate) fn encode(id: u128) -> String {
    let bytes = id.to_be_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        // 3 bytes give 4 characters, the last 1 byte gives 2.
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The id written by [`encode`], if `text` is exactly such a string.
pub(crate) fn decode(text: &str) -> Option<u128> {
    let b = text.as_bytes();
    if b.len() != 22 {
        return None;
    }
    let mut bytes = Vec::with_capacity(16);
    for chunk in b.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            bytes.push((n >> (16 - 8 * i)) as u8);
        }
    }
    let id = u128::from_be_bytes(bytes.try_into().ok()?);
    // Only the canonical spelling: the unused low bits of the last
    // character must be zero.
    (encode(id) == text).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_spelling_round_trips() {
        // Kafka's Uuid(0x0123456789abcdef, 0xfedcba9876543210).toString()
        let id = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        assert_eq!(encode(id), "ASNFZ4mrze_-3LqYdlQyEA");
        assert_eq!(decode("ASNFZ4mrze_-3LqYdlQyEA"), Some(id));
        assert_eq!(encode(0), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(encode(u128::MAX), "_____________________w");
        for bad in [
            "",
            "ASNFZ4mrze_-3LqYdlQyE",
            "ASNFZ4mrze_-3LqYdlQyEB",
            "ASNFZ4mrze_-3LqYdlQyE=",
            "ASNFZ4mrze_-3LqYdlQyEAA",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn random_ids_differ_and_round_trip() {
        let ids: std::collections::BTreeSet<u128> = (0..1000).map(|_| random_u128()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids {
            let text = encode(id);
            assert!(!text.starts_with('-'));
            assert_eq!(decode(&text), Some(id));
        }
    }
}
