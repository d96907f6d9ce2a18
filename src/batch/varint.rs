//! LEB128 varints, and zigzag for signed values, as in Kafka's record format.

/// The most bytes a `u64` varint takes.
pub(crate) const MAX_LEN: usize = 10;

/// How many bytes `v` takes as a varint.
#[inline]
pub(crate) fn len(v: u64) -> usize {
    // Bits needed (at least 1), seven to a byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    // Rounded-up division by 7, as multiply and shift (exact for 1..=64).
    ((bits + 6) * 37) >> 8
}

/// Appends `v` to `out` as a varint.
#[cfg(test)]
pub(crate) fn put(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; MAX_LEN];
    let n = put_at(&mut buf, 0, v);
    out.extend_from_slice(&buf[..n]);
}

/// Writes `v` as a varint into `buf` at `pos` and returns the position after
/// it. `buf` must have room for [`MAX_LEN`] bytes from `pos`.
#[inline]
pub(crate) fn put_at(buf: &mut [u8], mut pos: usize, mut v: u64) -> usize {
    if v < 0x80 {
        buf[pos] = v as u8;
        return pos + 1;
    }
    while v >= 0x80 {
        buf[pos] = (v as u8) | 0x80;
        v >>= 7;
        pos += 1;
    }
    buf[pos] = v as u8;
    pos + 1
}

/// Reads a varint from the front of `buf`: the value and how many bytes it
/// took. `None` if `buf` ends inside it or it is longer than any `u64`.
#[inline]
pub(crate) fn get(buf: &[u8]) -> Option<(u64, usize)> {
    // Most fields of most records fit in one byte.
    match buf.first() {
        Some(&b) if b < 0x80 => Some((u64::from(b), 1)),
        _ => get_multi(buf),
    }
}

fn get_multi(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(MAX_LEN) {
        let low = u64::from(b & 0x7f);
        // The tenth byte may only carry the top bit of a u64.
        if i == MAX_LEN - 1 && low > 1 {
            return None;
        }
        v |= low << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Zigzag-maps a signed value so small magnitudes take few bytes.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        put(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(get(&out), Some((300, 2)));
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn truncated_and_overlong_are_rejected() {
        assert_eq!(get(&[0x80, 0x80]), None);
        assert_eq!(get(&[]), None);
        assert_eq!(get(&[0xff; 11]), None);
        // Ten bytes whose last carries more than one bit overflow a u64.
        let mut ten = [0xff; 10];
        ten[9] = 0x02;
        assert_eq!(get(&ten), None);
    }

    proptest! {
        #[test]
        fn round_trip(v: u64, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            put(&mut out, v);
            prop_assert_eq!(out.len(), len(v));
            out.extend_from_slice(&tail);
            prop_assert_eq!(get(&out), Some((v, len(v))));
        }

        #[test]
        fn zigzag_round_trip(v: i64) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }

        #[test]
        fn get_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Some((v, n)) = get(&buf) {
                prop_assert!(n <= buf.len());
                prop_assert_eq!(len(v) <= n, true);
            }
        }
    }
}
