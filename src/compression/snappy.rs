//! Snappy: one raw Snappy block (the format's own length preamble, then
//! the compressed data), through the pure-Rust `snap`. Kafka frames its
//! Snappy batches in snappy-java's stream format instead; samsa's batches
//! are its own format, never handed to Kafka as bytes, so the block is
//! kept bare.

use super::CodecError;

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    out.resize(start + snap::raw::max_compress_len(input.len()), 0);
    let n = snap::raw::Encoder::new()
        .compress(input, &mut out[start..])
        .map_err(|e| CodecError::Corrupt(format!("snappy: {e}")))?;
    out.truncate(start + n);
    Ok(())
}

pub(super) fn decompress(input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = snap::raw::decompress_len(input)
        .map_err(|e| CodecError::Corrupt(format!("snappy: {e}")))?;
    if len > max {
        return Err(CodecError::TooLarge { max });
    }
    let start = out.len();
    out.resize(start + len, 0);
    match snap::raw::Decoder::new().decompress(input, &mut out[start..]) {
        Ok(n) if n == len => Ok(()),
        Ok(_) => {
            out.truncate(start);
            Err(CodecError::Corrupt(
                "snappy: shorter than its preamble".into(),
            ))
        }
        Err(e) => {
            out.truncate(start);
            Err(CodecError::Corrupt(format!("snappy: {e}")))
        }
    }
}
