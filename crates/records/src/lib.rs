//! Kafka RecordBatch v2 (magic 2): header fields, CRC32C, compression codecs,
//! and iteration over batches and records in a byte slice. No IO.
//! (skeleton: to be implemented)

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("{0}")]
    Invalid(String),
}
