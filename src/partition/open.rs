//! Opening a partition directory: lock, marker, segment list, recovery,
//! and the producer state.

use super::files::{self as own, PartitionFiles};
use super::log_start;
use super::marker::{self, CleanShutdown};
use super::producer_snapshot::Snapshots;
use super::producer_state::CompletedTxn;
use super::producer_state::ProducerState;
use crate::batch::{AbortedTxn, ControlType};
use crate::error::{Error, Result};
use crate::identity::{self, DirKind};
use crate::segment::{
    parse_log_file_name, parse_segment_file_name, ActiveFound, Files, SegmentState, SegmentWriter,
};
use crate::storage::{read_all, CheckedStorage, DirLock, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What opening found.
pub(crate) struct Opened {
    /// The clean-shutdown marker is on disk and describes the active
    /// segment as it is: it must be removed (durably) before anything
    /// changes the segment, or after a later crash it would vouch for a
    /// log that changed after it was written; until then, a close has
    /// nothing to write.
    pub marker: bool,
    /// Files and directories samsa did not write, left in place.
    pub foreign: Vec<PathBuf>,
    /// Every segment, oldest first; the last is the active one's.
    pub segments: Vec<Arc<SegmentState>>,
    /// The active segment's writer.
    pub active: SegmentWriter,
    /// The producer state as of the log end.
    pub producers: ProducerState,
    /// Transactions aborted on the partition, in marker order.
    pub aborted: Vec<AbortedTxn>,
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
        storage.lock(at)?.ok_or_else(|| Error::Locked {
            path: at.to_path_buf(),
        })
    };
    if let Some(root) = log_root_of(storage, dir) {
        return lock(root);
    }
    identity::inspect(storage, dir, DirKind::Partition, &PartitionFiles)?;
    storage.create_directory(dir)?;
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
    storage.create_directory(dir)?;
    let (marker_file, clean) = read_marker(&**storage, dir);
    let mut opened = load(files, dir, index_interval, clean)?;
    if marker_file && !opened.marker {
        // A marker that did not describe the files: void before anything
        // is appended (see `Opened::marker`).
        void_marker(&**storage, dir)?;
    }
    opened.marker &= marker_file;
    Ok(opened)
}

/// Builds the segment list and producer state from the directory's files,
/// as open does after the marker (`clean`, if it vouches for the active
/// segment) was taken; and as an in-process recovery does, with none.
pub(crate) fn load(
    files: &Files,
    dir: &Path,
    index_interval: u32,
    clean: Option<Clean>,
) -> Result<Opened> {
    let storage = &files.storage;
    let names = storage.list_files(dir)?;
    let mut foreign: Vec<PathBuf> = names
        .iter()
        .filter(|n| !own::is_own(n))
        .map(|n| dir.join(n))
        .collect();
    for d in storage.list_directories(dir)? {
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
        let seg = SegmentWriter::create(files, dir, 0, index_interval)?;
        storage.fsync_directory(dir)?;
        // Snapshots without a log describe nothing that is still there.
        snapshots.remove_above(&**storage, dir, 0)?;
        return Ok(Opened {
            marker: false,
            foreign,
            segments: vec![seg.state().clone()],
            active: seg,
            producers: ProducerState::default(),
            aborted: Vec::new(),
            snapshots,
            checkpointed_start,
        });
    }

    let last = *bases.last().expect("bases is not empty");
    let mut segments: Vec<Arc<SegmentState>> = bases
        .windows(2)
        .map(|w| {
            let seg = SegmentState::sealed(files, dir, w[0], w[1], index_interval);
            Arc::new(if cleaned_below.is_some_and(|c| w[0] < c) {
                seg.compacted()
            } else {
                seg
            })
        })
        .collect();
    let clean = clean.filter(|c| c.marker.base_offset == last);
    let vouched = clean
        .as_ref()
        .map(|c| (c.marker.next_offset, c.marker.log_size));
    // A version 2 marker carries the state as of the log end: if the
    // marker is believed, nothing is read for it.
    let carried = clean.and_then(|c| c.producers);

    // Otherwise the state is a fold over the batches in offset order: the
    // sealed segments after the newest snapshot first, then the active
    // segment's, whose scan (if it needs one) hands over each valid batch.
    let mut folded = None;
    // Transactions the fold saw aborted (their markers at or after its
    // start); those before it are in the segments' `.txnindex` files.
    let mut fold_aborted = Vec::new();
    if carried.is_none() {
        let (from, mut producers) = snapshots.load_newest(&**storage, dir, u64::MAX);
        replay(&segments, from, &mut producers, &mut fold_aborted)?;
        folded = Some((from, producers));
    }
    let (active, found) = SegmentWriter::open(
        files,
        dir,
        last,
        index_interval,
        vouched,
        &mut |h, marker| {
            if let Some((from, producers)) = &mut folded {
                if h.base_offset >= *from {
                    note_aborted(producers.apply(h, marker), &mut fold_aborted);
                }
            }
        },
    )?;
    segments.push(active.state().clone());
    let end = active.state().next_offset();
    let believed = matches!(
        found,
        ActiveFound::Trusted | ActiveFound::Verified | ActiveFound::Damaged
    );
    let (producers, fold_from) = match (carried, believed) {
        (Some(carried), true) => {
            // Snapshots past the end describe no log that is there (the
            // fold below removes them too): gone, or a later crash's open
            // would start from one once the log grew past it.
            snapshots.remove_above(&**storage, dir, end)?;
            (carried, None)
        }
        _ => {
            // Scanned during the scan only if the fold was under way.
            let scanned = found == ActiveFound::Scanned && folded.is_some();
            let (mut from, mut producers) = match folded {
                Some(f) => f,
                None => {
                    fold_aborted.clear();
                    let (from, mut producers) = snapshots.load_newest(&**storage, dir, u64::MAX);
                    let sealed = &segments[..segments.len() - 1];
                    replay(sealed, from, &mut producers, &mut fold_aborted)?;
                    (from, producers)
                }
            };
            if from > end {
                // The log ends before the snapshot: it lost a tail the
                // snapshot had seen, which only damage does (snapshots are
                // written after the log is synced). Start again from a
                // snapshot the log still covers.
                snapshots.remove_above(&**storage, dir, end)?;
                let (older, state) = snapshots.load_newest(&**storage, dir, end);
                from = older;
                producers = state;
                fold_aborted.clear();
                replay(&segments, from, &mut producers, &mut fold_aborted)?;
            } else if !scanned {
                let active = &segments[segments.len() - 1..];
                replay(active, from, &mut producers, &mut fold_aborted)?;
            }
            (producers, Some(from))
        }
    };
    let aborted = aborted_transactions(&segments, fold_from, fold_aborted, end)?;
    Ok(Opened {
        marker: matches!(found, ActiveFound::Trusted | ActiveFound::Verified),
        foreign,
        segments,
        active,
        producers,
        aborted,
        snapshots,
        checkpointed_start,
    })
}

/// Keeps `ended` if it is an aborted transaction.
fn note_aborted(ended: Option<CompletedTxn>, aborted: &mut Vec<AbortedTxn>) {
    if let Some(t) = ended.filter(|t| t.kind == ControlType::Abort) {
        aborted.push(AbortedTxn {
            producer_id: t.producer_id,
            first_offset: t.first_offset,
            last_offset: t.last_offset,
        });
    }
}

/// The transactions aborted on the partition, in marker order: from the
/// segments' `.txnindex` files, below `fold_from` where a fold from that
/// offset found the rest (`fold_aborted`); none at or past `end` (a marker
/// a torn tail took). A damaged index is corruption.
fn aborted_transactions(
    segments: &[Arc<SegmentState>],
    fold_from: Option<u64>,
    fold_aborted: Vec<AbortedTxn>,
    end: u64,
) -> Result<Vec<AbortedTxn>> {
    let below = fold_from.unwrap_or(u64::MAX);
    let mut aborted = Vec::new();
    for seg in segments.iter().filter(|s| s.base_offset() < below) {
        let Some(entries) = seg.read_txn_index()? else {
            return Err(Error::corrupt(
                seg.txn_index_path(),
                0,
                "an aborted-transaction index entry is damaged or out of place",
            ));
        };
        aborted.extend(entries.into_iter().filter(|a| a.last_offset < below));
    }
    aborted.extend(fold_aborted);
    aborted.retain(|a| a.last_offset < end);
    aborted.sort_unstable_by_key(|a| a.last_offset);
    aborted.dedup();
    Ok(aborted)
}

/// Takes into `state` every batch at or after offset `from` in `segments`,
/// reading their headers only.
fn replay(
    segments: &[Arc<SegmentState>],
    from: u64,
    state: &mut ProducerState,
    aborted: &mut Vec<AbortedTxn>,
) -> Result<()> {
    for seg in segments.iter().filter(|s| s.next_offset() > from) {
        seg.for_each_header(&mut |h, marker| {
            if h.base_offset >= from {
                note_aborted(state.apply(h, marker), aborted);
            }
        })?;
    }
    Ok(())
}

/// What an intact marker file said.
pub(crate) struct Clean {
    marker: CleanShutdown,
    /// The producer state as of the log end (version 2 markers).
    producers: Option<ProducerState>,
}

/// Whether a marker file is there, and what it holds if it is an intact
/// one. Left in place: it is voided before the first change to the active
/// segment (see `Opened::marker`), so opening a partition costs no write,
/// and closing one that was not changed costs none either.
fn read_marker(storage: &dyn Storage, dir: &Path) -> (bool, Option<Clean>) {
    let path = dir.join(marker::FILE_NAME);
    if !storage.exists(&path) {
        return (false, None);
    }
    let Ok(file) = storage.open(&path, false) else {
        return (true, None);
    };
    let mut header = [0u8; CleanShutdown::SIZE];
    if file.read_exact_at(&mut header, 0).is_err() {
        return (true, None);
    }
    if header.iter().all(|&b| b == 0) {
        // Voided already (by the last open): nothing to void again.
        return (false, None);
    }
    // Read whole only a file of a size its header allows: anything else is
    // not a marker, and is not read.
    let read = || -> Option<Clean> {
        let len = file.len().ok()?;
        if len > CleanShutdown::max_file_size(&header)? {
            return None;
        }
        let bytes = read_all(&*file).ok()?;
        let (marker, producers) = CleanShutdown::decode_file(&bytes)?;
        Some(Clean { marker, producers })
    };
    (true, read())
}

/// Voids the marker durably, before anything changes the active segment:
/// overwritten with zeros (no intact marker) and synced. The file stays,
/// so the next close rewrites it in place instead of creating a file,
/// which costs a journal transaction on most file systems.
pub(crate) fn void_marker(storage: &dyn Storage, dir: &Path) -> Result<()> {
    let path = dir.join(marker::FILE_NAME);
    let Some(file) = storage.open_if_exists(&path)? else {
        return Ok(());
    };
    let len = file.stat()?;
    // At most the marker's size: a longer file is not read as one anyway.
    let zeros = vec![0u8; len.min(CleanShutdown::SIZE as u64) as usize];
    file.write_at(&zeros, 0)?;
    file.fdatasync()
}

/// Writes the marker for an active segment as it is now, with the producer
/// state as of the log end, after the log was synced: in place over the
/// voided one, if there is one. Not synced itself: a marker lost or torn by
/// a power cut (its CRCs tell) only costs the next open a scan.
pub(crate) fn write_marker(
    storage: &dyn Storage,
    dir: &Path,
    marker: &CleanShutdown,
    producers: &ProducerState,
) -> Result<()> {
    let bytes = marker.encode_file(producers);
    crate::storage::write_unsynced(storage, &dir.join(marker::FILE_NAME), &bytes)
}
