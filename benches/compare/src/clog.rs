//! The `commitlog` crate (0.2): segments of CRC32C-checked messages with
//! a memory-mapped offset index, one index entry per message.
//!
//! Its `flush()` only `msync`s the active index's new pages (on Linux an
//! `fdatasync` of that range of the index file); the segment file's
//! `flush()` is `File::flush`, a no-op, so nothing syncs the log data. For
//! durable runs this module `fdatasync`s the active segment file itself,
//! through a second handle opened on it, and then calls `flush()` for the
//! index: two syncs a commit, as commitlog's layout needs (an unsynced
//! index loses the records it does not point at). The durable runs stay
//! inside the first segment, so the active segment file never changes
//! under that handle (checked at the end of each run).

use crate::append::Appender;
use crate::check::Check;
use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// commitlog's default segment size (1 GB), the one the append runs use.
pub const DEFAULT_SEGMENT_BYTES: usize = 1_000_000_000;
/// Most bytes of one append: commitlog's default (1 MB) refuses the 1 MiB
/// batches of the 1 KiB and 64 KiB workloads with their headers.
const MAX_APPEND_BYTES: usize = 64 << 20;

/// Options for a log in `dir` rolling at `segment_bytes`.
pub fn options(dir: &Path, segment_bytes: usize) -> LogOptions {
    let mut o = LogOptions::new(dir);
    o.segment_max_bytes(segment_bytes)
        .message_max_bytes(MAX_APPEND_BYTES);
    o
}

/// A commitlog with a reused message buffer (encoding a batch into it is
/// timed: that is commitlog's encode and CRC, as samsa's is).
pub struct Clog {
    /// The log.
    pub log: CommitLog,
    buf: MessageBuf,
}

impl Clog {
    /// Opens (creating) a log in `dir`.
    pub fn open(dir: &Path, segment_bytes: usize) -> Clog {
        Clog {
            log: CommitLog::new(options(dir, segment_bytes)).expect("open commitlog"),
            buf: MessageBuf::default(),
        }
    }

    /// Appends `values` as one message set.
    pub fn append_values<V: AsRef<[u8]>>(&mut self, values: impl IntoIterator<Item = V>) {
        self.buf.clear();
        for v in values {
            self.buf.push(v).expect("commitlog message");
        }
        self.log.append(&mut self.buf).expect("commitlog append");
    }
}

impl Appender for Clog {
    type Batch<'v> = Vec<&'v [u8]>;

    fn prepare(values: &[Vec<u8>]) -> Self::Batch<'_> {
        values.iter().map(Vec::as_slice).collect()
    }

    fn append_batch(&mut self, batch: &Self::Batch<'_>) {
        self.append_values(batch.iter().copied());
    }

    fn append_one(&mut self, value: &[u8]) {
        // Through the reused buffer: faster than `append_msg`, which
        // allocates one per call.
        self.append_values([value]);
    }

    fn finish(&mut self) {
        // Every append is already written to the segment file, and the
        // index is a shared map: both are in the page cache.
    }
}

/// Segment files (`*.log`) of a commitlog in `dir`, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list commitlog")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

/// A second handle on the active (newest) segment file, for `fdatasync`.
pub fn active_segment(dir: &Path) -> File {
    let path = segment_files(dir).pop().expect("a commitlog segment");
    OpenOptions::new()
        .read(true)
        .open(path)
        .expect("open commitlog segment")
}

/// Reads the whole log in 1 MiB reads (commitlog checks every message's
/// CRC32C as it reads), checking every value.
pub fn read_all(log: &CommitLog) -> Check {
    let end = log.next_offset();
    let mut at = 0;
    let mut check = Check::default();
    while at < end {
        let msgs = log
            .read(at, ReadLimit::max_bytes(1 << 20))
            .expect("commitlog read");
        assert!(!msgs.is_empty(), "commitlog read nothing at {at} of {end}");
        for m in msgs.iter() {
            check.add(m.payload());
            at = m.offset() + 1;
        }
    }
    check
}
