//! Compression codecs of the record section of a batch: gzip, snappy (raw or
//! Kafka's xerial framing), lz4 (frame format) and zstd. Decompression is
//! bounded by a byte limit so a small batch cannot expand into all of memory.

use crate::RecordsError;
use std::io::{Read, Write};

/// Largest decompressed record section accepted by default (a zip-bomb guard).
pub const DECOMPRESSED_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Magic of the xerial snappy framing that Kafka's Java client writes.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
/// Magic (8) + version (4) + compatible version (4).
const XERIAL_HEADER_BYTES: usize = 16;
/// Size of each xerial block the builder writes.
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// From the batch attributes' low three bits.
    pub fn from_attributes(codec: i16) -> Result<Compression, RecordsError> {
        match codec {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordsError::UnknownCodec(other)),
        }
    }
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

fn decompress_error(e: impl std::fmt::Display) -> RecordsError {
    RecordsError::Decompress(e.to_string())
}

/// Reads at most `limit_bytes` from `reader`; more is an error.
fn read_bounded(reader: impl Read, limit_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(decompress_error)?;
    if out.len() > limit_bytes {
        return Err(RecordsError::DecompressedTooLarge { limit_bytes });
    }
    Ok(out)
}

/// Decompresses `data` (the records section of a batch) with `codec`.
pub(crate) fn decompress(
    codec: Compression,
    data: &[u8],
    limit_bytes: usize,
) -> Result<Vec<u8>, RecordsError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data), limit_bytes),
        Compression::Lz4 => read_bounded(
            lz4::Decoder::new(data).map_err(decompress_error)?,
            limit_bytes,
        ),
        Compression::Zstd => read_bounded(
            zstd::stream::read::Decoder::new(data).map_err(decompress_error)?,
            limit_bytes,
        ),
        Compression::Snappy if data.starts_with(XERIAL_MAGIC) => snappy_xerial(data, limit_bytes),
        Compression::Snappy => snappy_raw(data, limit_bytes, &mut Vec::new()),
    }
}

fn snappy_raw(
    block: &[u8],
    limit_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<Vec<u8>, RecordsError> {
    let len = snap::raw::decompress_len(block).map_err(decompress_error)?;
    if out.len().saturating_add(len) > limit_bytes {
        return Err(RecordsError::DecompressedTooLarge { limit_bytes });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(decompress_error)?;
    Ok(std::mem::take(out))
}

/// Xerial framing: a 16-byte header, then blocks of (i32 BE length, raw snappy).
fn snappy_xerial(data: &[u8], limit_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let mut pos = XERIAL_HEADER_BYTES.min(data.len());
    while pos < data.len() {
        let len_bytes = data
            .get(pos..pos + 4)
            .ok_or_else(|| decompress_error("truncated xerial block length"))?;
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let len =
            usize::try_from(len).map_err(|_| decompress_error("negative xerial block length"))?;
        pos += 4;
        let end = pos.checked_add(len).filter(|&e| e <= data.len());
        let end = end.ok_or_else(|| decompress_error("truncated xerial block"))?;
        out = snappy_raw(&data[pos..end], limit_bytes, &mut out)?;
        pos = end;
    }
    Ok(out)
}

fn compress_error(e: impl std::fmt::Display) -> RecordsError {
    RecordsError::Compress(e.to_string())
}

/// Compresses a records section (used by the batch builder).
pub(crate) fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(compress_error)?;
            enc.finish().map_err(compress_error)
        }
        Compression::Lz4 => {
            let mut enc = lz4::EncoderBuilder::new()
                .build(Vec::new())
                .map_err(compress_error)?;
            enc.write_all(data).map_err(compress_error)?;
            let (out, result) = enc.finish();
            result.map_err(compress_error)?;
            Ok(out)
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).map_err(compress_error),
        Compression::Snappy => snappy_xerial_compress(data),
    }
}

fn snappy_xerial_compress(data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_BYTES + data.len() / 2);
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in data.chunks(XERIAL_BLOCK_BYTES) {
        let block = encoder.compress_vec(chunk).map_err(compress_error)?;
        let len = i32::try_from(block.len()).map_err(compress_error)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_snappy_decodes() {
        let data = b"hello hello hello hello".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn bombs_are_refused() {
        let data = vec![0u8; 1 << 20];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = compress(codec, &data).unwrap();
            assert!(packed.len() < data.len() / 10, "{codec:?}");
            let err = decompress(codec, &packed, 1000).unwrap_err();
            assert_eq!(
                err,
                RecordsError::DecompressedTooLarge { limit_bytes: 1000 },
                "{codec:?}"
            );
            assert_eq!(decompress(codec, &packed, 1 << 20).unwrap(), data);
        }
    }

    #[test]
    fn garbage_fails_cleanly() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(decompress(codec, b"\x82SNAPPY\0garbage-garbage", 1 << 20).is_err());
            assert!(decompress(codec, &[0xff; 40], 1 << 20).is_err());
        }
    }
}
