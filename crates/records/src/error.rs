//! The records crate's error type: every way a byte slice can fail to be a
//! valid RecordBatch v2. Mapping to Kafka error codes happens in the broker.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// Fewer bytes than the batch header or the declared batch length need.
    /// At the end of a segment this is a torn write, not corruption.
    #[error("truncated batch: need {needed_bytes} bytes, have {available_bytes}")]
    Truncated {
        needed_bytes: usize,
        available_bytes: usize,
    },
    #[error("unsupported magic {0} (only v2 record batches are accepted)")]
    BadMagic(i8),
    #[error("invalid batch length {0}")]
    BadLength(i32),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error(
        "records count {records_count} does not match lastOffsetDelta {last_offset_delta} + 1"
    )]
    CountMismatch {
        records_count: i32,
        last_offset_delta: i32,
    },
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("decompressed batch exceeds {limit_bytes} bytes")]
    DecompressedTooLarge { limit_bytes: usize },
    #[error("malformed record {index}: {why}")]
    BadRecord { index: i32, why: &'static str },
    #[error("compression failed: {0}")]
    Compress(String),
}

impl RecordsError {
    /// True when the bytes simply end too early (a torn tail), as opposed to
    /// bytes that are present but wrong.
    pub fn is_truncated(&self) -> bool {
        matches!(self, RecordsError::Truncated { .. })
    }
}
