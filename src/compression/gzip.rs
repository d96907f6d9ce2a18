//! gzip: one gzip member (RFC 1952) holding the records, as Kafka's
//! `GZIPOutputStream` writes it; flate2 with its pure-Rust backend.

use super::CodecError;
use std::io::{Read, Write};

pub(super) fn compress(level: u32, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
    // Writing to a Vec cannot fail.
    encoder
        .write_all(input)
        .and_then(|()| encoder.try_finish())
        .map_err(|e| CodecError::Corrupt(format!("gzip: {e}")))
}

pub(super) fn decompress(input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut decoder = flate2::read::GzDecoder::new(input);
    let start = out.len();
    // One byte past the bound tells a bomb from a batch exactly at it.
    let read = (&mut decoder)
        .take(max as u64 + 1)
        .read_to_end(out)
        .map_err(|e| CodecError::Corrupt(format!("gzip: {e}")))?;
    if read > max {
        out.truncate(start);
        return Err(CodecError::TooLarge { max });
    }
    if !decoder.into_inner().is_empty() {
        return Err(CodecError::Corrupt("gzip: bytes after the member".into()));
    }
    Ok(())
}
