//! Opening a partition directory: lock, marker, segment list, recovery.

use super::marker::{self, CleanShutdown};
use crate::error::{Error, Result};
use crate::segment::{parse_log_file_name, Segment};
use crate::storage::{read_all, DirLock, Storage};
use std::path::Path;
use std::sync::Arc;

/// What opening found.
pub(crate) struct Opened {
    pub lock: DirLock,
    pub segments: Vec<Arc<Segment>>,
}

/// Locks `dir`, reads and removes the clean-shutdown marker, and builds the
/// segment list: every segment but the last is sealed (and was synced when
/// sealed, so it is not scanned); the last is recovered unless the marker
/// vouches for it.
pub(crate) fn open_dir(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    index_interval: u32,
) -> Result<Opened> {
    storage
        .create_dir_all(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    let lock = storage
        .lock_dir(dir)
        .map_err(|e| Error::io("lock", dir, e))?
        .ok_or_else(|| Error::Locked {
            path: dir.to_path_buf(),
        })?;

    let clean = take_marker(&**storage, dir)?;
    let names = storage.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut bases: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_log_file_name(n))
        .collect();
    bases.sort_unstable();
    for name in names.iter().filter(|n| n.ends_with(".tmp")) {
        // Leftovers of an atomic write cut short: never the live copy.
        let _ = storage.remove_file(&dir.join(name));
    }

    if bases.is_empty() {
        let seg = Segment::create(storage.clone(), dir, 0, index_interval)?;
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
        return Ok(Opened {
            lock,
            segments: vec![Arc::new(seg)],
        });
    }

    let last = *bases.last().expect("bases is not empty");
    let mut segments: Vec<Arc<Segment>> = bases
        .windows(2)
        .map(|w| {
            Arc::new(Segment::sealed(
                storage.clone(),
                dir,
                w[0],
                w[1],
                index_interval,
            ))
        })
        .collect();
    let clean = clean
        .filter(|m| m.base_offset == last)
        .map(|m| (m.next_offset, m.log_size));
    let active = Segment::open_active(storage.clone(), dir, last, index_interval, clean)?;
    segments.push(Arc::new(active));
    Ok(Opened { lock, segments })
}

/// Reads the marker, if any, and removes it durably before anything is
/// appended: a stale marker surviving a later crash would vouch for a log
/// that changed after it was written.
fn take_marker(storage: &dyn Storage, dir: &Path) -> Result<Option<CleanShutdown>> {
    let path = dir.join(marker::FILE_NAME);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let marker = storage
        .open(&path, false)
        .and_then(|f| read_all(&*f))
        .ok()
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
