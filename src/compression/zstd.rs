//! Zstandard: one zstd frame with its content size, as Kafka's
//! `ZstdOutputStream` writes it (which may leave the size out: a frame
//! without one is decoded as a stream, up to the bound).

use super::CodecError;
use std::io::Read;

pub(super) fn compress(level: u32, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let level = i32::try_from(level).unwrap_or(super::ZSTD_DEFAULT_LEVEL as i32);
    let compressed = zstd::bulk::compress(input, level)
        .map_err(|e| CodecError::Corrupt(format!("zstd: {e}")))?;
    out.extend_from_slice(&compressed);
    Ok(())
}

pub(super) fn decompress(input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let corrupt = |e: std::io::Error| CodecError::Corrupt(format!("zstd: {e}"));
    match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(len)) => {
            if len > max as u64 {
                return Err(CodecError::TooLarge { max });
            }
            out.resize(start + len as usize, 0);
            let n = zstd::bulk::decompress_to_buffer(input, &mut out[start..]).map_err(|e| {
                out.truncate(start);
                corrupt(e)
            });
            match n? {
                n if n == len as usize => Ok(()),
                _ => {
                    out.truncate(start);
                    Err(CodecError::Corrupt(
                        "zstd: shorter than its frame says".into(),
                    ))
                }
            }
        }
        Ok(None) => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
            // One byte past the bound tells a bomb from records exactly at it.
            match decoder.take(max as u64 + 1).read_to_end(out) {
                Ok(read) if read <= max => Ok(()),
                Ok(_) => {
                    out.truncate(start);
                    Err(CodecError::TooLarge { max })
                }
                Err(e) => {
                    out.truncate(start);
                    Err(corrupt(e))
                }
            }
        }
        Err(_) => Err(CodecError::Corrupt("zstd: not a zstd frame".into())),
    }
}
