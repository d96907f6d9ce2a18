//! LZ4: the records' length (u32, little-endian), then one LZ4 block,
//! through the pure-Rust `lz4_flex` (its bounds-checked decoder). Kafka
//! frames LZ4 batches in the LZ4 frame format; samsa's batches are its
//! own format, so the block only carries the length its decoder needs.

use super::CodecError;

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = u32::try_from(input.len())
        .map_err(|_| CodecError::Corrupt("lz4: records over 4 GiB".into()))?;
    out.extend_from_slice(&len.to_le_bytes());
    let start = out.len();
    out.resize(
        start + lz4_flex::block::get_maximum_output_size(input.len()),
        0,
    );
    let n = lz4_flex::block::compress_into(input, &mut out[start..])
        .map_err(|e| CodecError::Corrupt(format!("lz4: {e}")))?;
    out.truncate(start + n);
    Ok(())
}

pub(super) fn decompress(input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let (len, block) = match input {
        [a, b, c, d, block @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, block),
        _ => return Err(CodecError::Corrupt("lz4: no length".into())),
    };
    if len > max {
        return Err(CodecError::TooLarge { max });
    }
    let start = out.len();
    out.resize(start + len, 0);
    match lz4_flex::block::decompress_into(block, &mut out[start..]) {
        Ok(n) if n == len => Ok(()),
        Ok(_) => {
            out.truncate(start);
            Err(CodecError::Corrupt("lz4: shorter than its length".into()))
        }
        Err(e) => {
            out.truncate(start);
            Err(CodecError::Corrupt(format!("lz4: {e}")))
        }
    }
}
