//! The only module with `unsafe` code: read-only maps of immutable files.
//!
//! A mapped page whose file shrank underneath it, or a page of a sparse
//! file that cannot be allocated on a full disk, raises SIGBUS when touched.
//! So samsa maps only files that can never shrink or change while mapped:
//! sealed index files, which are written whole, synced, and afterwards only
//! ever replaced by rename or removed, and sealed segments' logs, which are
//! trimmed and synced before the segment is sealed and afterwards likewise
//! only replaced by rename (compaction) or removed (retention); both leave
//! the mapped inode intact. All under a directory lock that keeps other
//! samsa instances away. Nothing is ever written through a map.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::sync::Arc;

/// Immutable bytes of a whole file: mapped, or on the heap.
#[derive(Debug, Clone)]
pub(crate) enum SharedBytes {
    /// A read-only map of an immutable file.
    Mapped(Arc<memmap2::Mmap>),
    /// A copy in memory.
    Heap(Arc<[u8]>),
}

impl SharedBytes {
    /// Maps `file` read-only. The caller promises `file` never shrinks or
    /// changes while the map lives (see the module docs).
    pub(crate) fn map_immutable_file(file: &File) -> io::Result<SharedBytes> {
        if file.metadata()?.len() == 0 {
            // A zero-length map is an error on some platforms; nothing to map.
            return Ok(SharedBytes::Heap(Arc::from(Vec::new())));
        }
        // SAFETY: memmap2 requires that the mapped file is not modified or
        // truncated for the life of the map. Callers map only sealed index
        // files and sealed segments' logs: samsa never writes or truncates
        // either in place (it replaces one by rename; a log is trimmed
        // before its segment is sealed, and recovery truncates only at open,
        // before any read), the directory lock keeps other samsa instances
        // out, and removal or rename leaves this inode's pages valid. The
        // map is read-only, so no page is ever allocated through it. A
        // process outside samsa changing the file breaks samsa's contract
        // (its readers bound every slice they take, so such bytes fail a
        // CRC or end an iteration, never index out of bounds).
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(SharedBytes::Mapped(Arc::new(map)))
    }
}

impl SharedBytes {
    /// Asks the kernel to map the pages of `range` now, in one call,
    /// rather than page fault by page fault as a read touches them
    /// (`MADV_POPULATE_READ`, Linux 5.14). Only advice: where it is not
    /// supported, the read faults the pages in as before.
    pub(crate) fn populate(&self, range: std::ops::Range<usize>) {
        #[cfg(target_os = "linux")]
        if let SharedBytes::Mapped(m) = self {
            if range.end <= m.len() && range.start < range.end {
                let _ = m.advise_range(
                    memmap2::Advice::PopulateRead,
                    range.start,
                    range.end - range.start,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = range;
    }
}

impl Deref for SharedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            SharedBytes::Mapped(m) => m,
            SharedBytes::Heap(h) => h,
        }
    }
}
