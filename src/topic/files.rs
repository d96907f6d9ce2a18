//! The files samsa writes in a topic directory, by name (see
//! `storage::prune`): the metadata file and the partition directories.

use super::properties;
use crate::partition::PartitionFiles;
use crate::storage::OwnNames;

/// The names of a topic directory's entries.
pub(crate) struct TopicFiles;

impl OwnNames for TopicFiles {
    fn file(&self, name: &str) -> bool {
        name.strip_suffix(".tmp").unwrap_or(name) == properties::FILE_NAME
    }

    fn dir(&self, name: &str) -> Option<&dyn OwnNames> {
        parse_partition_dir(name).map(|_| &PartitionFiles as &dyn OwnNames)
    }
}

/// The partition number a directory called `name` holds, if samsa would
/// have named it so (`p.to_string()`: no sign, no leading zero).
pub(crate) fn parse_partition_dir(name: &str) -> Option<u32> {
    let p: u32 = name.parse().ok()?;
    (p.to_string() == name).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_are_canonical_numbers() {
        assert_eq!(parse_partition_dir("0"), Some(0));
        assert_eq!(parse_partition_dir("2024"), Some(2024));
        for other in ["", "00", "01", "+1", "-1", "1x", "4294967296", "notes"] {
            assert_eq!(parse_partition_dir(other), None, "{other}");
        }
        assert!(TopicFiles.file("topic.properties"));
        assert!(TopicFiles.file("topic.properties.tmp"));
        assert!(!TopicFiles.file("notes.txt"));
    }
}
