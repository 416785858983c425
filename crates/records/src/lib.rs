//! Kafka RecordBatch v2 (magic 2): header fields, CRC32C, compression codecs,
//! and iteration over batches and records in a byte slice.
//!
//! Nothing here does IO or knows about files, sockets or topics: callers hand
//! in byte slices (a produce payload, a segment chunk) and get parsed views or
//! errors back. Every parser is total — any input yields a value or a
//! [`RecordsError`], never a panic.

mod batch;
mod builder;
mod codec;
mod error;
mod record;
mod varint;

pub use batch::{
    set_log_append_time, stamp_base_offset, validate_batch, BatchHeader, BatchIter,
    BATCH_HEADER_BYTES, BATCH_LENGTH_MIN, LOG_OVERHEAD_BYTES, MAGIC_V2,
};
pub use builder::{BatchBuilder, NewRecord};
pub use codec::{Compression, DECOMPRESSED_BYTES_MAX};
pub use error::RecordsError;
pub use record::{Header, Record, RecordIter, Records};
