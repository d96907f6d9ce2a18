//! How records print in `Debug`: keys, values and header values as
//! escaped text, cut after [`SHOWN_BYTES`] bytes, and lists of records cut
//! after [`SHOWN_RECORDS`]: a poll of many records, or a large value,
//! prints as a few readable lines, never as a buffer of numbers.

use std::fmt;

/// Bytes of a key or value shown before the rest is counted instead.
pub(crate) const SHOWN_BYTES: usize = 64;

/// Records of a list shown before the rest are counted instead.
pub(crate) const SHOWN_RECORDS: usize = 10;

/// Optional bytes, shown as `b"escaped text"` (cut with `...(+N bytes)`)
/// or `null`.
pub(crate) struct Bytes<'a>(pub Option<&'a [u8]>);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(b) = self.0 else {
            return f.write_str("null");
        };
        f.write_str("b\"")?;
        for &c in &b[..b.len().min(SHOWN_BYTES)] {
            write!(f, "{}", std::ascii::escape_default(c))?;
        }
        f.write_str("\"")?;
        if b.len() > SHOWN_BYTES {
            write!(f, "...(+{} bytes)", b.len() - SHOWN_BYTES)?;
        }
        Ok(())
    }
}

/// Shows the first [`SHOWN_RECORDS`] items of `items` as a list, and how
/// many more there are.
pub(crate) fn list<T: fmt::Debug>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
    total: usize,
) -> fmt::Result {
    let mut l = f.debug_list();
    l.entries(items.take(SHOWN_RECORDS));
    if total > SHOWN_RECORDS {
        l.entry(&format_args!("...and {} more", total - SHOWN_RECORDS));
    }
    l.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_as_escaped_text_cut_short() {
        assert_eq!(format!("{:?}", Bytes(None)), "null");
        assert_eq!(
            format!("{:?}", Bytes(Some(b"a\"b\n\x01"))),
            r#"b"a\"b\n\x01""#
        );
        let long = vec![b'x'; 1000];
        let shown = format!("{:?}", Bytes(Some(&long)));
        assert_eq!(shown, format!("b\"{}\"...(+936 bytes)", "x".repeat(64)));
    }
}
