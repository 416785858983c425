//! The 61-byte RecordBatch v2 header, whole-batch validation (magic, length,
//! CRC32C, record count, codec), iteration over concatenated batches, and the
//! two in-place edits a broker makes: stamping `baseOffset` and setting
//! LogAppendTime. Record-level parsing lives in `record.rs`.

use crate::codec::Compression;
use crate::RecordsError;

/// Size of the v2 batch header, up to and including `recordsCount`.
pub const BATCH_HEADER_BYTES: usize = 61;
/// `baseOffset` (8) + `batchLength` (4): bytes not counted in `batchLength`.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest legal `batchLength`: the header after the log overhead.
pub const BATCH_LENGTH_MIN: i32 = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
pub const MAGIC_V2: i8 = 2;

const OFFSET_LENGTH: usize = 8;
const OFFSET_MAGIC: usize = 16;
const OFFSET_CRC: usize = 17;
/// The CRC covers everything from `attributes` to the end of the batch.
const OFFSET_ATTRIBUTES: usize = 21;
const OFFSET_MAX_TIMESTAMP: usize = 35;

const ATTR_CODEC_MASK: i16 = 0x07;
const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

/// The parsed fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the header fields only; checks nothing but that 61 bytes exist.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, RecordsError> {
        if bytes.len() < BATCH_HEADER_BYTES {
            return Err(RecordsError::Truncated {
                needed_bytes: BATCH_HEADER_BYTES,
                available_bytes: bytes.len(),
            });
        }
        Ok(BatchHeader {
            base_offset: be_i64(bytes, 0),
            batch_length: be_i32(bytes, OFFSET_LENGTH),
            partition_leader_epoch: be_i32(bytes, 12),
            magic: bytes[OFFSET_MAGIC] as i8,
            crc: be_i32(bytes, OFFSET_CRC) as u32,
            attributes: be_i16(bytes, OFFSET_ATTRIBUTES),
            last_offset_delta: be_i32(bytes, 23),
            base_timestamp: be_i64(bytes, 27),
            max_timestamp: be_i64(bytes, OFFSET_MAX_TIMESTAMP),
            producer_id: be_i64(bytes, 43),
            producer_epoch: be_i16(bytes, 51),
            base_sequence: be_i32(bytes, 53),
            records_count: be_i32(bytes, 57),
        })
    }

    /// Parses the header and checks magic and length sanity (not the CRC).
    /// Enough to walk a trusted log by headers alone.
    pub fn parse_checked(bytes: &[u8]) -> Result<BatchHeader, RecordsError> {
        let header = BatchHeader::parse(bytes)?;
        if header.magic != MAGIC_V2 {
            return Err(RecordsError::BadMagic(header.magic));
        }
        if header.batch_length < BATCH_LENGTH_MIN {
            return Err(RecordsError::BadLength(header.batch_length));
        }
        Ok(header)
    }

    /// Whole batch size on disk and on the wire: `batchLength` + 12.
    pub fn total_size(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD_BYTES
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    /// Offsets this batch occupies: `lastOffsetDelta + 1`.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }
    pub fn compression(&self) -> Result<Compression, RecordsError> {
        Compression::from_attributes(self.attributes & ATTR_CODEC_MASK)
    }
    /// True for LogAppendTime, false for CreateTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

fn crc_of(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[OFFSET_ATTRIBUTES..])
}

/// Validates one batch occupying exactly the start of `bytes`: magic 2, a sane
/// `batchLength` within the slice, CRC32C, `recordsCount == lastOffsetDelta + 1`
/// and a known codec. Returns the header; the batch is `bytes[..total_size]`.
pub fn validate_batch(bytes: &[u8]) -> Result<BatchHeader, RecordsError> {
    let header = BatchHeader::parse_checked(bytes)?;
    let total = header.total_size();
    if bytes.len() < total {
        return Err(RecordsError::Truncated {
            needed_bytes: total,
            available_bytes: bytes.len(),
        });
    }
    let computed = crc_of(&bytes[..total]);
    if computed != header.crc {
        return Err(RecordsError::BadCrc {
            stored: header.crc,
            computed,
        });
    }
    if header.last_offset_delta < 0
        || i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1
    {
        return Err(RecordsError::CountMismatch {
            records_count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    header.compression()?;
    Ok(header)
}

/// Writes `base_offset` into the batch at the start of `batch`. The field is
/// outside the CRC, so the batch stays valid.
pub fn stamp_base_offset(batch: &mut [u8], base_offset: i64) {
    assert!(
        batch.len() >= OFFSET_LENGTH,
        "stamp_base_offset on a slice shorter than 8 bytes"
    );
    batch[..OFFSET_LENGTH].copy_from_slice(&base_offset.to_be_bytes());
}

/// Marks the (validated, whole) batch as LogAppendTime with `timestamp_ms` as
/// its max timestamp, and recomputes the CRC.
pub fn set_log_append_time(batch: &mut [u8], timestamp_ms: i64) -> Result<(), RecordsError> {
    let header = BatchHeader::parse_checked(batch)?;
    let total = header.total_size();
    if batch.len() < total {
        return Err(RecordsError::Truncated {
            needed_bytes: total,
            available_bytes: batch.len(),
        });
    }
    let attributes = header.attributes | ATTR_TIMESTAMP_TYPE;
    batch[OFFSET_ATTRIBUTES..OFFSET_ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[OFFSET_MAX_TIMESTAMP..OFFSET_MAX_TIMESTAMP + 8]
        .copy_from_slice(&timestamp_ms.to_be_bytes());
    let crc = crc_of(&batch[..total]);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Iterates over concatenated batches, validating each. Yields
/// `(header, batch bytes)`; after the first error it yields nothing more.
/// A [`RecordsError::Truncated`] error means the slice ended mid-batch.
pub struct BatchIter<'a> {
    bytes: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(bytes: &'a [u8]) -> BatchIter<'a> {
        BatchIter {
            bytes,
            position: 0,
            failed: false,
        }
    }
    /// Byte position of the next batch (after the last one yielded).
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.position..];
        match validate_batch(rest) {
            Ok(header) => {
                let total = header.total_size();
                self.position += total;
                Some(Ok((header, &rest[..total])))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
