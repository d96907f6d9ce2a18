//! Batch compression: the codecs a batch's records section may be
//! compressed with, numbered as Kafka numbers them in a batch's attributes
//! (1 gzip, 2 snappy, 3 lz4, 4 zstd), each compiled in by its own cargo
//! feature. See `docs/FORMAT.md` for the bytes each writes.
//!
//! Decompression is bounded: a caller gives the most bytes the records may
//! decompress to, and a codec never allocates past it, whatever lengths
//! the compressed bytes claim (a decompression bomb is an error, not an
//! allocation).

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

use std::fmt;
use std::str::FromStr;

/// A compression codec for record batches (Kafka's producer
/// `compression.type`). Each but `None` needs its cargo feature (`gzip`,
/// `snappy`, `lz4`, `zstd`; `compression` for all four), to write batches
/// with it and to read them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Records written as they are (the default).
    #[default]
    None,
    /// gzip (DEFLATE), level 1 to 9.
    Gzip,
    /// Snappy: fast, modest ratio.
    Snappy,
    /// LZ4: fast, modest ratio.
    Lz4,
    /// Zstandard, level 1 to 22: the best ratio for its speed.
    Zstd,
}

impl Compression {
    /// Every codec, `None` first.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The name Kafka gives it: `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can write and read it (its feature is on).
    pub fn is_available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// The codecs this build has, `None` first.
    pub fn available() -> Vec<Compression> {
        Self::ALL.into_iter().filter(|c| c.is_available()).collect()
    }

    /// Its number in a batch's attributes (bits 0 to 2).
    pub(crate) fn id(self) -> u16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec numbered `id` in a batch's attributes.
    pub(crate) fn from_id(id: u16) -> Option<Compression> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }

    /// [`crate::Error::InvalidConfig`] if this build cannot write it.
    pub(crate) fn check_available(self) -> crate::Result<()> {
        if self.is_available() {
            return Ok(());
        }
        Err(crate::Error::InvalidConfig(format!(
            "compression {self} needs samsa-log's `{self}` feature"
        )))
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = crate::Error;

    /// Kafka's names (`none`, `gzip`, `snappy`, `lz4`, `zstd`), any case.
    fn from_str(s: &str) -> crate::Result<Compression> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                crate::Error::InvalidConfig(format!(
                    "unknown compression {s:?}: one of none, gzip, snappy, lz4, zstd"
                ))
            })
    }
}

/// The levels of the codecs that have one (Kafka's
/// `compression.gzip.level` and `compression.zstd.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Levels {
    pub gzip: u32,
    pub zstd: u32,
}

/// gzip's level range and default (Kafka's: 1 to 9, 6 when unset).
pub(crate) const GZIP_LEVELS: std::ops::RangeInclusive<u32> = 1..=9;
pub(crate) const GZIP_DEFAULT_LEVEL: u32 = 6;
/// zstd's level range (the positive ones) and default (Kafka's: 3).
pub(crate) const ZSTD_LEVELS: std::ops::RangeInclusive<u32> = 1..=22;
pub(crate) const ZSTD_DEFAULT_LEVEL: u32 = 3;

impl Default for Levels {
    fn default() -> Self {
        Levels {
            gzip: GZIP_DEFAULT_LEVEL,
            zstd: ZSTD_DEFAULT_LEVEL,
        }
    }
}

/// Why bytes could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodecError {
    /// The codec's feature is not compiled in.
    Unavailable(Compression),
    /// They decompress to more than the bound allows.
    TooLarge { max: usize },
    /// They are not what the codec writes.
    #[cfg_attr(
        not(any(
            feature = "gzip",
            feature = "snappy",
            feature = "lz4",
            feature = "zstd"
        )),
        allow(dead_code)
    )]
    Corrupt(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Unavailable(c) => {
                write!(
                    f,
                    "compressed with {c}, which needs samsa-log's `{c}` feature"
                )
            }
            CodecError::TooLarge { max } => {
                write!(f, "records decompress to more than {max} bytes")
            }
            CodecError::Corrupt(why) => f.write_str(why),
        }
    }
}

/// Appends `input` compressed with `codec` to `out`. `None` copies it.
/// Only fails for a codec this build lacks (callers check that first, at
/// configuration).
#[cfg_attr(not(any(feature = "gzip", feature = "zstd")), allow(unused_variables))]
pub(crate) fn compress(
    codec: Compression,
    levels: Levels,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(levels.gzip, input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(levels.zstd, input, out),
        #[allow(unreachable_patterns)]
        other => Err(CodecError::Unavailable(other)),
    }
}

/// Appends `input`, compressed with `codec`, decompressed to `out`: at
/// most `max` bytes ([`CodecError::TooLarge`] past it, with no more than
/// `max` bytes allocated for it).
#[cfg_attr(
    not(any(
        feature = "gzip",
        feature = "snappy",
        feature = "lz4",
        feature = "zstd"
    )),
    allow(unused_variables)
)]
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match codec {
        Compression::None => {
            if input.len() > max {
                return Err(CodecError::TooLarge { max });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, max, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, max, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, max, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, max, out),
        #[allow(unreachable_patterns)]
        other => Err(CodecError::Unavailable(other)),
    }
}

/// How many bytes `input`, compressed with `codec`, claims to decompress
/// to, if its framing says (a hint to size a buffer; the decompression
/// itself checks it).
#[cfg_attr(
    not(any(
        feature = "gzip",
        feature = "snappy",
        feature = "lz4",
        feature = "zstd"
    )),
    allow(unused_variables)
)]
pub(crate) fn decompressed_len_hint(codec: Compression, input: &[u8]) -> Option<usize> {
    match codec {
        Compression::None => Some(input.len()),
        // gzip's trailer: the length modulo 2^32.
        #[cfg(feature = "gzip")]
        Compression::Gzip => input.len().checked_sub(4).map(|at| {
            u32::from_le_bytes([input[at], input[at + 1], input[at + 2], input[at + 3]]) as usize
        }),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snap::raw::decompress_len(input).ok(),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => input
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
        #[cfg(feature = "zstd")]
        Compression::Zstd => ::zstd::zstd_safe::get_frame_content_size(input)
            .ok()
            .flatten()
            .and_then(|n| usize::try_from(n).ok()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(test)]
mod tests;
