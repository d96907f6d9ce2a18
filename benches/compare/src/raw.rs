//! The raw-file floor: what a log costs with nothing but the bytes.
//! Length-prefixed records (`u32` little-endian length, then the value)
//! through a 1 MiB `BufWriter`, `fdatasync` for durability, read back
//! through a memory map. No CRC, no index, no offsets. A segmented floor
//! (for the reopen workload) is the same in files named by their first
//! record's sequence number, as samsa's and commitlog's are.

use crate::append::Appender;
use crate::check::Check;
use memmap2::Mmap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Buffer of the floor's writer.
pub const BUFFER_BYTES: usize = 1 << 20;
/// Bytes of each record's length prefix.
const PREFIX_BYTES: usize = 4;

/// A length-prefixed log through a buffered writer.
pub struct RawLog {
    out: BufWriter<File>,
}

impl RawLog {
    /// Creates (truncating) the log file at `path`.
    pub fn create(path: &Path) -> RawLog {
        let file = File::create(path).expect("create raw log");
        RawLog {
            out: BufWriter::with_capacity(BUFFER_BYTES, file),
        }
    }

    /// Appends one record into the buffer.
    #[inline]
    pub fn append(&mut self, value: &[u8]) {
        self.out
            .write_all(&(value.len() as u32).to_le_bytes())
            .expect("write length");
        self.out.write_all(value).expect("write value");
    }

    /// Hands everything buffered to the OS.
    pub fn flush(&mut self) {
        self.out.flush().expect("flush raw log");
    }

    /// The file under the buffer.
    pub fn file(&self) -> &File {
        self.out.get_ref()
    }
}

impl Appender for RawLog {
    type Batch<'v> = Vec<&'v [u8]>;

    fn prepare(values: &[Vec<u8>]) -> Self::Batch<'_> {
        values.iter().map(Vec::as_slice).collect()
    }

    fn append_batch(&mut self, batch: &Self::Batch<'_>) {
        for v in batch {
            self.append(v);
        }
    }

    fn append_one(&mut self, value: &[u8]) {
        self.append(value);
    }

    fn finish(&mut self) {
        self.flush();
    }
}

/// Maps `file` whole (`None` if it is empty: an empty map is an error).
fn map(file: &File) -> Option<Mmap> {
    let len = file.metadata().expect("stat raw log").len();
    if len == 0 {
        return None;
    }
    // SAFETY: the floor's files are written by this program only, never
    // truncated or written while a map of them lives (every map is of a
    // closed log, read, then dropped before the file is touched again).
    Some(unsafe { Mmap::map(file) }.expect("map raw log"))
}

/// Walks the records of `bytes`, giving each value to `each`; returns the
/// length of the complete records (a torn last record is not counted).
#[inline]
fn walk(bytes: &[u8], mut each: impl FnMut(&[u8])) -> usize {
    let mut at = 0;
    while let Some(len) = bytes.get(at..at + PREFIX_BYTES) {
        let n = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let Some(v) = bytes.get(at + PREFIX_BYTES..at + PREFIX_BYTES + n) else {
            break;
        };
        each(v);
        at += PREFIX_BYTES + n;
    }
    at
}

/// Reads the log at `path` through a map, checking every value.
pub fn read_all(path: &Path) -> Check {
    let file = File::open(path).expect("open raw log");
    let mut check = Check::default();
    if let Some(m) = map(&file) {
        let end = walk(&m, |v| check.add(v));
        assert_eq!(end, m.len(), "raw log has a torn tail");
    }
    check
}

/// Counts the complete records of the file at `path`.
pub fn count(path: &Path) -> u64 {
    let file = File::open(path).expect("open raw log");
    let mut n = 0;
    if let Some(m) = map(&file) {
        walk(&m, |_| n += 1);
    }
    n
}

/// Segment files of a segmented floor in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .expect("list raw log")
        .filter_map(|e| {
            let path = e.expect("entry").path();
            let stem = path.file_stem()?.to_str()?;
            let base = stem.parse::<u64>().ok()?;
            (path.extension()? == "log").then_some((base, path))
        })
        .collect();
    names.sort_unstable();
    names.into_iter().map(|(_, p)| p).collect()
}

/// A segmented floor being written: rolls to a new file once the current
/// one holds `segment_bytes`.
pub struct Segmented {
    dir: PathBuf,
    segment_bytes: u64,
    log: RawLog,
    in_segment: u64,
    next_seq: u64,
}

impl Segmented {
    /// Starts a segmented floor in the empty directory `dir`.
    pub fn create(dir: &Path, segment_bytes: u64) -> Segmented {
        std::fs::create_dir_all(dir).expect("create raw dir");
        Segmented {
            dir: dir.to_path_buf(),
            segment_bytes,
            log: RawLog::create(&segment_path(dir, 0)),
            in_segment: 0,
            next_seq: 0,
        }
    }

    /// Appends one record, rolling first if the segment is full.
    pub fn append(&mut self, value: &[u8]) {
        if self.in_segment >= self.segment_bytes {
            self.log.flush();
            self.log = RawLog::create(&segment_path(&self.dir, self.next_seq));
            self.in_segment = 0;
        }
        self.log.append(value);
        self.in_segment += (PREFIX_BYTES + value.len()) as u64;
        self.next_seq += 1;
    }

    /// Hands everything buffered to the OS.
    pub fn flush(&mut self) {
        self.log.flush();
    }

    /// Flushes the last segment.
    pub fn finish(mut self) {
        self.flush();
    }
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Opens a segmented floor for appending, as a log would: lists the
/// directory and opens the newest segment at its end. With `recover`, the
/// newest segment is scanned for its last complete record and a torn tail
/// cut off (the floor has no marker telling a clean stop from a crash, so
/// a floor that must survive a crash scans every time; the clean reopen
/// is measured without the scan, as if it had one). Returns the file.
pub fn open(dir: &Path, recover: bool) -> File {
    let last = segments(dir).pop().expect("a raw segment");
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&last)
        .expect("open raw segment");
    let len = file.metadata().expect("stat raw segment").len();
    if recover {
        let valid = map(&file).map_or(0, |m| walk(&m, |_| {}) as u64);
        if valid < len {
            file.set_len(valid).expect("truncate torn tail");
        }
    }
    file
}
