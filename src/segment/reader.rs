//! Sequential batch reading from a segment file through a window buffer.

use crate::batch::{BatchHeader, HeaderError};
use crate::error::Result;
use crate::storage::{NamedFile, StorageFile};

/// What lies at the reader's position.
#[derive(Debug)]
pub(crate) enum Step {
    /// The end: no bytes left.
    End,
    /// A batch whose header is plausible and which ends inside the file.
    Batch(BatchHeader),
    /// Bytes remain, but too few for the header or for the batch it claims.
    Partial,
    /// The header is not acceptable.
    Bad(HeaderError),
}

/// Reads batches one after another from `pos` up to `end`, through a
/// buffer, so scanning many small batches costs one read per window.
/// Nothing is allocated from a length field before that length has been
/// checked against the bytes actually in the file. A failed read is
/// `Error::Io` naming the file.
pub(crate) struct BatchReader<'a> {
    file: NamedFile<'a, &'a dyn StorageFile>,
    pub pos: u64,
    end: u64,
    window: usize,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_start: u64,
}

impl<'a> BatchReader<'a> {
    pub fn new(
        file: NamedFile<'a, &'a dyn StorageFile>,
        pos: u64,
        end: u64,
        window: usize,
    ) -> Self {
        BatchReader {
            file,
            pos,
            end,
            window,
            buf: Vec::new(),
            buf_start: pos,
        }
    }

    /// Makes `[at, at + n)` available in the buffer; `n` must fit before `end`.
    fn fill(&mut self, at: u64, n: usize) -> Result<&[u8]> {
        let have = at >= self.buf_start && at + n as u64 <= self.buf_start + self.buf.len() as u64;
        if !have {
            let want = (n.max(self.window) as u64).min(self.end - at) as usize;
            self.buf.resize(want, 0);
            self.file.read_at(&mut self.buf, at)?;
            self.buf_start = at;
        }
        let off = (at - self.buf_start) as usize;
        Ok(&self.buf[off..off + n])
    }

    /// Bytes of `[at, at + n)`, which must lie before `end`.
    pub fn bytes_at(&mut self, at: u64, n: usize) -> Result<&[u8]> {
        debug_assert!(at + n as u64 <= self.end);
        self.fill(at, n)
    }

    /// What lies at the current position.
    pub fn peek(&mut self) -> Result<Step> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(Step::End);
        }
        if left < BatchHeader::SIZE as u64 {
            return Ok(Step::Partial);
        }
        let pos = self.pos;
        let header = match BatchHeader::decode_from(self.fill(pos, BatchHeader::SIZE)?) {
            Ok(h) => h,
            Err(e) => return Ok(Step::Bad(e)),
        };
        if header.total_size() as u64 > left {
            return Ok(Step::Partial);
        }
        Ok(Step::Batch(header))
    }

    /// The whole batch at the current position (after `peek` gave `Batch`).
    pub fn batch(&mut self, header: &BatchHeader) -> Result<&[u8]> {
        let pos = self.pos;
        self.fill(pos, header.total_size())
    }

    /// Moves past the batch at the current position.
    pub fn advance(&mut self, header: &BatchHeader) {
        self.pos += header.total_size() as u64;
    }

    /// The bytes `[from, to)` (before `end`) as an owned buffer: the
    /// reader's own, without a copy, when it holds them from its start,
    /// else read anew.
    pub fn into_bytes(mut self, from: u64, to: u64) -> Result<Vec<u8>> {
        let n = (to - from) as usize;
        if self.buf_start == from && self.buf.len() >= n {
            self.buf.truncate(n);
            return Ok(self.buf);
        }
        let mut buf = vec![0u8; n];
        self.file.read_at(&mut buf, from)?;
        Ok(buf)
    }
}
