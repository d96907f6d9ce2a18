//! Opening a partition directory: lock, marker, segment list, recovery,
//! and the producer state.

use super::files::{self as own, PartitionFiles};
use super::log_start;
use super::marker::{self, CleanShutdown};
use super::producer_snapshot::Snapshots;
use super::producer_state::ProducerState;
use crate::error::{Error, Result};
use crate::identity::{self, DirKind};
use crate::segment::{parse_log_file_name, parse_segment_file_name, Files, Segment};
use crate::storage::{read_all, DirLock, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What opening found.
pub(crate) struct Opened {
    /// Files and directories samsa did not write, left in place.
    pub foreign: Vec<PathBuf>,
    pub segments: Vec<Arc<Segment>>,
    /// The producer state as of the log end.
    pub producers: ProducerState,
    pub snapshots: Snapshots,
    /// Where `delete_records` last moved the log start, if it did.
    pub checkpointed_start: Option<u64>,
}

/// Takes the directory of a partition opened on its own and returns its
/// lock: the lock of the log it belongs to, for a log's partition
/// directory (`<log>/topics/<topic>/<n>`); otherwise its own lock, once
/// [`identity::inspect`] found the directory missing, empty or samsa's
/// (and then its identity file is written). A directory of someone
/// else's is refused before anything is created in it.
pub(crate) fn claim_alone(storage: &dyn Storage, dir: &Path) -> Result<DirLock> {
    let lock = |at: &Path| {
        storage
            .lock_dir(at)
            .map_err(|e| Error::io("lock", at, e))?
            .ok_or_else(|| Error::Locked {
                path: at.to_path_buf(),
            })
    };
    if let Some(root) = log_root_of(storage, dir) {
        return lock(root);
    }
    identity::inspect(storage, dir, DirKind::Partition, &PartitionFiles)?;
    storage
        .create_dir_all(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    let held = lock(dir)?;
    // Again under the lock: another process may have made it meanwhile.
    let found = identity::inspect(storage, dir, DirKind::Partition, &PartitionFiles)?;
    identity::claim(storage, dir, DirKind::Partition, found)?;
    Ok(held)
}

/// The log directory `dir` is a partition directory of, if it is one:
/// `<root>/topics/<topic>/<n>` where `<root>` holds a log's identity file
/// (or, made before those, a lock file).
fn log_root_of<'a>(storage: &dyn Storage, dir: &'a Path) -> Option<&'a Path> {
    let topics = dir.parent()?.parent()?;
    if topics.file_name()? != "topics" {
        return None;
    }
    let root = topics.parent()?;
    match identity::read(storage, root) {
        Ok(Some(id)) => (id.kind == DirKind::Log).then_some(root),
        Ok(None) => storage
            .exists(&root.join(identity::LOCK_FILE))
            .then_some(root),
        // A damaged identity: the log's own open reports it.
        Err(_) => Some(root),
    }
}

/// Reads and removes the clean-shutdown marker, and builds the
/// segment list: every segment but the last is sealed (and was synced when
/// sealed, so it is not scanned); the last is recovered unless the marker
/// vouches for it.
///
/// The producer state is rebuilt as Kafka's `LogLoader` does: the newest
/// intact snapshot, then the headers of the batches after it. After a clean
/// close the snapshot is as of the log end and nothing is read; after a
/// crash, the scan of the active segment supplies its headers in the same
/// pass; only a missing or damaged snapshot makes open read more headers.
pub(crate) fn open_dir(files: &Files, dir: &Path, index_interval: u32) -> Result<Opened> {
    let storage = &files.storage;
    storage
        .create_dir_all(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    let clean = take_marker(&**storage, dir)?;
    load(files, dir, index_interval, clean)
}

/// Builds the segment list and producer state from the directory's files,
/// as open does after the marker (`clean`, if it vouches for the active
/// segment) was taken; and as an in-process recovery does, with none.
pub(crate) fn load(
    files: &Files,
    dir: &Path,
    index_interval: u32,
    clean: Option<CleanShutdown>,
) -> Result<Opened> {
    let storage = &files.storage;
    let names = storage.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut foreign: Vec<PathBuf> = names
        .iter()
        .filter(|n| !own::is_own(n))
        .map(|n| dir.join(n))
        .collect();
    for d in storage
        .list_dirs(dir)
        .map_err(|e| Error::io("list", dir, e))?
    {
        foreign.push(dir.join(d));
    }
    let mut snapshots = Snapshots::from_names(&names);
    let mut bases: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_log_file_name(n))
        .collect();
    bases.sort_unstable();
    for name in names
        .iter()
        .filter(|n| (n.ends_with(".tmp") || n.ends_with(".cleaned")) && own::is_own(n))
    {
        // Leftovers of an atomic write or of a compaction cut short:
        // never the live copy (a segment's cleaned log is renamed into
        // place before its cleaned indexes, so a cleaned index left here
        // belongs to a log that is either the old one or already in
        // place, whose index is then rebuilt).
        let _ = storage.remove_file(&dir.join(name));
    }
    let cleaned_below = log_start::read_kind(log_start::CLEANER, &**storage, dir)?;
    let first = bases.iter().min().copied();
    for name in &names {
        // Index files of a segment whose log retention removed before a
        // crash: their log is gone, so they describe nothing.
        let base = parse_segment_file_name(name).filter(|_| !name.ends_with(".log"));
        if base.is_some_and(|b| first.is_none_or(|f| b < f)) {
            let _ = storage.remove_file(&dir.join(name));
        }
    }
    let checkpointed_start = log_start::read(&**storage, dir)?;

    if bases.is_empty() {
        let seg = Segment::create(files, dir, 0, index_interval)?;
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
        // Snapshots without a log describe nothing that is still there.
        snapshots.remove_above(&**storage, dir, 0)?;
        return Ok(Opened {
            foreign,
            segments: vec![Arc::new(seg)],
            producers: ProducerState::default(),
            snapshots,
            checkpointed_start,
        });
    }

    let last = *bases.last().expect("bases is not empty");
    let mut segments: Vec<Arc<Segment>> = bases
        .windows(2)
        .map(|w| {
            let seg = Segment::sealed(files, dir, w[0], w[1], index_interval);
            Arc::new(if cleaned_below.is_some_and(|c| w[0] < c) {
                seg.compacted()
            } else {
                seg
            })
        })
        .collect();
    let clean = clean
        .filter(|m| m.base_offset == last)
        .map(|m| (m.next_offset, m.log_size));

    // The state is a fold over the batches in offset order: the sealed
    // segments after the snapshot first, then the active segment's, whose
    // scan (if it needs one) hands over each valid batch.
    let (from, mut producers) = snapshots.load_newest(&**storage, dir, u64::MAX);
    replay(&segments, from, &mut producers)?;
    let (active, scanned) =
        Segment::open_active(files, dir, last, index_interval, clean, &mut |h| {
            if h.base_offset >= from {
                producers.record(h);
            }
        })?;
    let active = Arc::new(active);
    segments.push(active.clone());
    let end = active.next_offset();
    if from > end {
        // The log ends before the snapshot: it lost a tail the snapshot had
        // seen, which only damage does (snapshots are written after the log
        // is synced). Start again from a snapshot the log still covers.
        snapshots.remove_above(&**storage, dir, end)?;
        let (from, state) = snapshots.load_newest(&**storage, dir, end);
        producers = state;
        replay(&segments, from, &mut producers)?;
    } else if !scanned {
        replay(&segments[segments.len() - 1..], from, &mut producers)?;
    }
    Ok(Opened {
        foreign,
        segments,
        producers,
        snapshots,
        checkpointed_start,
    })
}

/// Takes into `state` every batch at or after offset `from` in `segments`,
/// reading their headers only.
fn replay(segments: &[Arc<Segment>], from: u64, state: &mut ProducerState) -> Result<()> {
    for seg in segments.iter().filter(|s| s.next_offset() > from) {
        seg.for_each_header(&mut |h| {
            if h.base_offset >= from {
                state.record(h);
            }
        })?;
    }
    Ok(())
}

/// Reads the marker, if any, and removes it durably before anything is
/// appended: a stale marker surviving a later crash would vouch for a log
/// that changed after it was written.
fn take_marker(storage: &dyn Storage, dir: &Path) -> Result<Option<CleanShutdown>> {
    let path = dir.join(marker::FILE_NAME);
    if !storage.exists(&path) {
        return Ok(None);
    }
    // Read only a file of the marker's size: anything else is not one.
    let marker = storage
        .open(&path, false)
        .ok()
        .filter(|f| f.len().is_ok_and(|n| n == CleanShutdown::SIZE as u64))
        .and_then(|f| read_all(&*f).ok())
        .and_then(|b| CleanShutdown::decode_from(&b));
    storage
        .remove_file(&path)
        .map_err(|e| Error::io("remove", &path, e))?;
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, e))?;
    Ok(marker)
}

/// Writes the marker for an active segment as it is now.
pub(crate) fn write_marker(
    storage: &dyn Storage,
    dir: &Path,
    marker: &CleanShutdown,
) -> Result<()> {
    let mut buf = [0u8; CleanShutdown::SIZE];
    marker.encode_into(&mut buf);
    crate::storage::write_atomic(storage, dir, marker::FILE_NAME, &buf)
        .map_err(|e| Error::io("write", dir.join(marker::FILE_NAME), e))
}
