//! The end of a partition's life: a clean close, a hold while its topic is
//! deleted, and the deletion.

use super::marker::CleanShutdown;
use super::{open, Partition, Writer};
use crate::error::{Error, Result};
use std::sync::atomic::Ordering;

impl Partition {
    /// Syncs what is not synced yet, writes the active segment's indexes, a
    /// snapshot of the producer state and the clean-shutdown marker (so the
    /// next open skips recovery), and releases the directory lock and every
    /// open file. A partition not changed since it was opened has nothing
    /// to write: its close costs no I/O. Every clone of
    /// this partition is closed. Dropping a partition without closing it
    /// loses nothing either; the next open then scans the active segment.
    /// A partition whose sync failed recovers first; if it cannot, it is
    /// closed all the same and the error returned.
    pub fn close(&self) -> Result<()> {
        let s = &*self.shared;
        let recovered = match s.closed.load(Ordering::Acquire) {
            true => Ok(()),
            false => self.recover_if_failed(),
        };
        let mut w = s.writer.lock();
        if s.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = recovered.and_then(|()| {
            if let Some(cause) = &*s.poisoned.lock() {
                return Err(Error::Poisoned {
                    path: s.dir.clone(),
                    cause: cause.clone(),
                });
            }
            if let Some(failure) = s.commit.failure() {
                return Err(failure);
            }
            if w.marker {
                // Nothing changed since open: the files are as the marker
                // says.
                return Ok(());
            }
            // An active segment without an index entry is scanned at open
            // (an index interval and a batch at most) faster than its
            // index files are written here. (The producer state goes into
            // the marker.)
            if w.active.has_index_entries() {
                w.active.write_indexes()?;
            }
            self.write_txn_index(w.active.state())?;
            w.active.trim()?;
            if w.active.synced() < w.active.written() {
                self.synced(w.active.sync())?;
            }
            self.publish(&w);
            s.commit.mark_durable(w.next_offset);
            let marker = CleanShutdown {
                base_offset: w.active.base_offset(),
                next_offset: w.next_offset,
                log_size: w.active.written(),
            };
            open::write_marker(&*s.files.storage, &s.dir, &marker, &w.producers)
        });
        self.close_files();
        drop(s.lock.lock().take());
        // Waiters (blocked readers, awaiting tasks) learn it is closed now.
        s.signal.notify();
        result
    }
}

/// A partition held still by [`Partition::hold`].
pub(crate) struct Hold<'a> {
    _maintenance: parking_lot::MutexGuard<'a, ()>,
    _writer: parking_lot::MutexGuard<'a, Writer>,
}

impl Partition {
    /// Holds the partition still until the hold is dropped: no append,
    /// roll, retention pass or compaction runs meanwhile (reads do).
    pub(crate) fn hold(&self) -> Hold<'_> {
        let maintenance = self.shared.maintenance.lock();
        Hold {
            _maintenance: maintenance,
            _writer: self.shared.writer.lock(),
        }
    }

    /// Its topic is deleted: every later call gets
    /// [`Error::UnknownTopic`], and nothing more is written (its files are
    /// going away).
    pub(crate) fn mark_deleted(&self) {
        self.shared.deleted.store(true, Ordering::Release);
        self.shared.closed.store(true, Ordering::Release);
        self.close_files();
        self.shared.signal.notify();
    }

    /// Gives back every descriptor and map its segments hold: it is
    /// closed, and takes no more calls.
    fn close_files(&self) {
        for seg in self.shared.segments.read().iter() {
            seg.close_files();
        }
    }

    /// Whether its topic was deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.shared.deleted.load(Ordering::Acquire)
    }
}
