//! Topic names: Kafka's rule, which also makes every name a safe, single
//! path component.

use crate::error::{Error, Result};

/// The longest topic name, as in Kafka.
pub(crate) const MAX_LEN: usize = 249;

/// Prefix of samsa's internal topics, which users may not create.
pub(crate) const INTERNAL_PREFIX: &str = "__";

/// Checks `name` against Kafka's rule: 1..=249 characters of
/// `[a-zA-Z0-9._-]`, not `.` or `..`; names starting with `__` only when
/// `internal`.
pub(crate) fn validate(name: &str, internal: bool) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidTopicName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_LEN {
        return bad("it is longer than 249 characters");
    }
    if name == "." || name == ".." {
        return bad("it is \".\" or \"..\"");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("it has a character outside [a-zA-Z0-9._-]");
    }
    if name.starts_with(INTERNAL_PREFIX) != internal {
        return if internal {
            bad("internal topic names start with \"__\"")
        } else {
            bad("names starting with \"__\" are reserved for samsa's internal topics")
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rule() {
        for ok in ["orders", "a", "A.b_c-9", "...", &"x".repeat(249)] {
            assert!(validate(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a b",
            "a\0b",
            "ünï",
            "a:b",
            "__x",
            &"x".repeat(250),
        ] {
            assert!(
                matches!(validate(bad, false), Err(Error::InvalidTopicName { .. })),
                "{bad:?}"
            );
        }
        assert!(validate("__consumer_offsets", true).is_ok());
        assert!(validate("orders", true).is_err());
    }
}
