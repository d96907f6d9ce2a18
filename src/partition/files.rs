//! The files samsa writes in a partition directory, by name, so that
//! clean-up removes those and nothing else (see `storage::prune`).

use super::{log_start, marker, producer_snapshot};
use crate::identity;
use crate::segment::parse_segment_file_name;
use crate::storage::OwnNames;

/// The names of a partition directory's files.
pub(crate) struct PartitionFiles;

impl OwnNames for PartitionFiles {
    fn file(&self, name: &str) -> bool {
        is_own(name)
    }

    fn dir(&self, _name: &str) -> Option<&dyn OwnNames> {
        None
    }
}

/// Whether samsa writes a file called `name` in a partition directory:
/// segment logs and indexes, producer snapshots, the checkpoints, the
/// clean-shutdown marker, the lock and identity files of a partition
/// opened on its own; and the `.tmp` copies of an atomic write and the
/// `.cleaned` files of a compaction pass, of those.
pub(crate) fn is_own(name: &str) -> bool {
    let base = name
        .strip_suffix(".tmp")
        .or_else(|| name.strip_suffix(".cleaned"))
        .unwrap_or(name);
    [
        marker::FILE_NAME,
        log_start::LOG_START.file_name,
        log_start::CLEANER.file_name,
        identity::FILE_NAME,
        identity::LOCK_FILE,
    ]
    .contains(&base)
        || parse_segment_file_name(base).is_some()
        || producer_snapshot::parse_file_name(base).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_and_others() {
        for own in [
            "00000000000000000000.log",
            "00000000000000000000.index.tmp",
            "00000000000000000007.timeindex.cleaned",
            "00000000000000000007.log.cleaned",
            "00000000000000000007.snapshot",
            "00000000000000000007.snapshot.tmp",
            "log-start-offset",
            "cleaner-offset-checkpoint.tmp",
            ".clean_shutdown",
            "meta.properties",
            ".lock",
        ] {
            assert!(is_own(own), "{own}");
        }
        for other in [
            "keep.log",
            "keep.txt",
            "notes.tmp",
            "0.log",
            "00000000000000000000.log.bak",
            "00000000000000000000.log.tmp.tmp",
            "topic.properties",
            "leader-epoch-checkpoint",
        ] {
            assert!(!is_own(other), "{other}");
        }
    }
}
