//! Recovery without a restart: what a partition does after a failed sync.
//!
//! A failed write or file creation (ENOSPC, EMFILE, EIO on `write`) changes
//! nothing the partition relies on: the segment takes back the part of the
//! batch that reached the file, a roll leaves the segment active, and the
//! next append goes on as soon as the cause clears. Those are plain
//! `Error::Io`, naming the operation, the file and the cause.
//!
//! A failed `fdatasync` (of a segment, or of the directory at a roll) is
//! different: after it, the page cache can no longer be trusted to hold what
//! reached the disk (the lesson of PostgreSQL's "fsyncgate": Linux may mark
//! the pages clean and drop them). So the partition acknowledges nothing
//! more (every waiter of that sync, and every later one, gets the same
//! error) until it has recovered, in-process, as a reopen would:
//!
//! 1. The active segment is cut back to what the last successful sync
//!    covered under [`SyncPolicy::Always`], where nothing after it was
//!    acknowledged. Under the weaker policies the records after it were
//!    acknowledged when written: they are written again from what reads
//!    still see, so that the next sync covers them.
//! 2. The segment and the directory are synced.
//! 3. The partition's state (segments, offsets, producer state) is loaded
//!    again from the directory, as open loads it.
//!
//! This runs at the next append, flush or close, at the next maintenance
//! pass, or when [`Partition::reopen`] is called. Until it succeeds (the
//! disk may still be full), those calls return its error and the partition
//! stays [`PartitionHealth::Recovering`]. Reads go on throughout. Only if
//! the reload finds damage (`Error::Corrupt`) does the partition stop
//! trying by itself: it is [`PartitionHealth::Poisoned`], appends get
//! `Error::Poisoned` naming the damage, and [`Partition::reopen`] tries
//! again once it is fixed, without closing the rest of the log.

use super::{open, Loaded, Partition, SyncPolicy, Writer};
use crate::error::{Error, Result};
use crate::storage::CheckedStorage;
use std::fmt;
use std::sync::atomic::Ordering;

/// How a partition is doing; see [`Partition::health`] and
/// [`crate::Log::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionHealth {
    /// It takes appends.
    Healthy,
    /// A sync failed (`cause` names it): nothing after the last durable
    /// record was acknowledged, and the partition recovers in-process at
    /// its next append, flush or close, or the next maintenance pass (see
    /// [`Partition::reopen`]).
    Recovering {
        /// The failed sync.
        cause: String,
    },
    /// Its recovery found damage it does not repair by itself (`cause`):
    /// appends get [`Error::Poisoned`] until [`Partition::reopen`]
    /// succeeds. Reads go on.
    Poisoned {
        /// What the recovery found.
        cause: String,
    },
}

impl fmt::Display for PartitionHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionHealth::Healthy => f.write_str("healthy"),
            PartitionHealth::Recovering { cause } => write!(f, "recovering after {cause}"),
            PartitionHealth::Poisoned { cause } => write!(f, "poisoned: {cause}"),
        }
    }
}

impl Partition {
    /// How the partition is doing: healthy, recovering after a failed
    /// sync, or poisoned (see [`PartitionHealth`]).
    pub fn health(&self) -> PartitionHealth {
        let s = &*self.shared;
        if let Some(cause) = &*s.poisoned.lock() {
            return PartitionHealth::Poisoned {
                cause: cause.clone(),
            };
        }
        match s.commit.failure() {
            Some(e) => PartitionHealth::Recovering {
                cause: e.to_string(),
            },
            None => PartitionHealth::Healthy,
        }
    }

    /// Reopens the partition in-process: syncs what it holds, or after a
    /// failed sync keeps what was durable (see the module docs), and loads
    /// its state again from its directory, as [`Partition::open`] would,
    /// without closing anything else. The way out of
    /// [`PartitionHealth::Poisoned`] once the damage is dealt with; a
    /// partition recovering after a failed sync does this by itself at its
    /// next use. Appends waiting for a sync when it runs get an error.
    pub fn reopen(&self) -> Result<()> {
        self.recover(true)
    }

    /// Recovers if a sync failed and the partition has not recovered since;
    /// nothing to do otherwise (one atomic load).
    pub(crate) fn recover_if_failed(&self) -> Result<()> {
        if !self.shared.commit.is_failed() {
            return Ok(());
        }
        self.recover(false)
    }

    fn recover(&self, forced: bool) -> Result<()> {
        let s = &*self.shared;
        // Retention and compaction change the segment list and files: none
        // may run while it is read again.
        let _one_at_a_time = s.maintenance.lock();
        let mut w = s.writer.lock();
        if s.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        let poisoned = s.poisoned.lock().clone();
        if !forced {
            if let Some(cause) = poisoned {
                return Err(Error::Poisoned {
                    path: s.dir.clone(),
                    cause,
                });
            }
            if !s.commit.is_failed() {
                // Another caller recovered meanwhile.
                return Ok(());
            }
        }
        match self.reload(&mut w) {
            Ok(()) => {
                crate::observe::info!(
                    dir = %s.dir.display(),
                    next_offset = w.next_offset,
                    "partition recovered in process"
                );
                *s.poisoned.lock() = None;
                Ok(())
            }
            Err(e @ Error::Corrupt { .. }) => {
                crate::observe::error!(
                    dir = %s.dir.display(),
                    error = %e,
                    "partition poisoned: its recovery found damage"
                );
                *s.poisoned.lock() = Some(e.to_string());
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Steps 1 to 3 of the module docs, under the writer lock.
    fn reload(&self, w: &mut Writer) -> Result<()> {
        let s = &*self.shared;
        // A marker still there (a reopen before any append) would vouch
        // for the segment the scan below may cut.
        self.take_marker(w)?;
        let seg = w.active.state().clone();
        if !s.commit.is_failed() {
            // A reopen of a healthy partition: everything written is kept.
            self.synced(w.active.sync())?;
        }
        let durable = w.active.synced();
        let written = w.active.written();
        let file = seg.log_file()?;
        if s.config.sync == SyncPolicy::Always {
            // Never acknowledged: cut, which also drops the pages the
            // failed sync may have left behind.
            file.truncate(durable)?;
        } else if written > durable {
            // Acknowledged when written: write them again, so they are
            // dirty again and the sync below covers them.
            let mut tail = vec![0u8; (written - durable) as usize];
            file.read_at(&mut tail, durable)?;
            file.write_at(&tail, durable)?;
        }
        file.fdatasync()?;
        s.files.storage.fsync_directory(&s.dir)?;

        let mut opened = open::load(&s.files, &s.dir, s.config.index_interval_bytes, None)?;
        opened.foreign.clear();
        let loaded = Loaded::from(opened, &*s.files.storage, &s.dir, s.clock.now_ms())?;
        let next = loaded.writer.next_offset;
        let last_append_ms = w.last_append_ms;
        s.first_unstable.store(
            loaded
                .writer
                .producers
                .first_unstable_offset()
                .unwrap_or(u64::MAX),
            Ordering::Release,
        );
        *w = loaded.writer;
        w.last_append_ms = last_append_ms;
        *s.segments.write() = loaded.segments;
        *s.aborted.write() = loaded.aborted;
        s.log_start.fetch_max(loaded.start, Ordering::AcqRel);
        s.log_end.store(next, Ordering::Release);
        // Under the weaker policies readers saw records as they were
        // written; a tail the disk lost for good cannot be read any more.
        s.high_watermark.fetch_min(next, Ordering::AcqRel);
        s.commit.recovered(next);
        self.advance_high_watermark(next);
        Ok(())
    }
}
