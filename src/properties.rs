//! The `key=value` text files samsa keeps its metadata in (a topic's
//! `topic.properties`, a directory's `meta.properties`), in the form of
//! Kafka's `.properties` files: a comment line, one pair a line, and a
//! last `crc=` line over everything before it, so that damage or a hand
//! edit is recognised instead of read as a setting. Written atomically
//! (temp file, sync, rename, directory sync); anything unexpected when read
//! back is `Error::Corrupt` naming the file, never a default.

use crate::error::{Error, Result};
use crate::storage::{CheckedStorage, Storage};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The largest metadata file read; anything longer is not one of ours.
pub(crate) const MAX_BYTES: u64 = 64 << 10;

/// The file contents: `# comment`, the pairs in order, the crc line.
pub(crate) fn encode(comment: &str, pairs: &[(&str, String)]) -> String {
    let mut s = format!("# {comment}\n");
    for (k, v) in pairs {
        let _ = writeln!(s, "{k}={v}");
    }
    let crc = crc32fast::hash(s.as_bytes());
    let _ = writeln!(s, "crc={crc:08x}");
    s
}

/// The pairs of a file's `bytes`, checked against its crc line.
pub(crate) fn decode<'a>(bytes: &'a [u8], path: &'a Path) -> Result<Fields<'a>> {
    let corrupt = |reason: String| Error::corrupt(path, 0, reason);
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
    let body_end = text
        .rfind("crc=")
        .ok_or_else(|| corrupt("no crc line".into()))?;
    let (body, crc_line) = text.split_at(body_end);
    let computed = crc32fast::hash(body.as_bytes());
    // Exactly the line encode() writes: nothing may follow it.
    if crc_line != format!("crc={computed:08x}\n") {
        return Err(corrupt(format!(
            "crc line {:?} does not match the contents (crc {computed:08x})",
            crc_line.trim_end()
        )));
    }
    let mut map = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| corrupt(format!("line without '=': {line:?}")))?;
        if map.insert(k, v).is_some() {
            return Err(corrupt(format!("{k} given twice")));
        }
    }
    Ok(Fields { map, path })
}

/// The pairs of a decoded file, taken one by one; what is left over at
/// the end is an unknown key.
pub(crate) struct Fields<'a> {
    map: BTreeMap<&'a str, &'a str>,
    path: &'a Path,
}

impl<'a> Fields<'a> {
    /// `Error::Corrupt` naming the file.
    pub fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path, 0, reason)
    }

    /// The value of `key`, which must be there.
    pub fn take(&mut self, key: &str) -> Result<&'a str> {
        self.map
            .remove(key)
            .ok_or_else(|| Error::corrupt(self.path, 0, format!("{key} is missing")))
    }

    /// The value of `key`, if there (keys added in later versions).
    pub fn take_optional(&mut self, key: &str) -> Option<&'a str> {
        self.map.remove(key)
    }

    /// `Error::Corrupt` if a key was not taken.
    pub fn finish(self) -> Result<()> {
        match self.map.keys().next() {
            Some(k) => Err(self.corrupt(format!("unknown key {k}"))),
            None => Ok(()),
        }
    }
}

/// The bytes of the metadata file at `path`, refusing (as `Error::Corrupt`)
/// one longer than [`MAX_BYTES`] without reading it.
pub(crate) fn read(storage: &dyn Storage, path: &Path) -> Result<Vec<u8>> {
    let file = storage.open_file(path)?;
    let len = file.stat()?;
    if len > MAX_BYTES {
        return Err(Error::corrupt(
            path,
            0,
            format!("{len} bytes is too long for a metadata file"),
        ));
    }
    file.read_all()
}

/// Writes `text` as `name` in `dir`, atomically.
pub(crate) fn write(storage: &dyn Storage, dir: &Path, name: &str, text: &str) -> Result<()> {
    storage.write_atomically(dir, name, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let text = encode("c", &[("a", "1".into()), ("b", "x".into())]);
        let mut f = decode(text.as_bytes(), Path::new("p")).unwrap();
        assert_eq!(f.take("a").unwrap(), "1");
        assert_eq!(f.take_optional("b"), Some("x"));
        assert_eq!(f.take_optional("z"), None);
        f.finish().unwrap();
        let mut f = decode(text.as_bytes(), Path::new("p")).unwrap();
        f.take("a").unwrap();
        assert!(matches!(f.finish(), Err(Error::Corrupt { .. })), "b left");
        for i in 0..text.len() {
            let mut b = text.clone().into_bytes();
            b[i] ^= 1;
            assert!(decode(&b, Path::new("p")).is_err(), "flip at {i}");
        }
    }
}
