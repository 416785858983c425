//! The storage engine's error type. The broker maps each variant to one Kafka
//! error code in a single place; nothing here knows those codes.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A batch failed its CRC, magic or length checks (Kafka CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(#[from] records::RecordsError),
    /// A batch is well formed but a record in it breaks a topic rule, e.g. a
    /// null key on a compacted topic (Kafka INVALID_RECORD, with per-record
    /// detail).
    #[error("invalid record: {message}")]
    InvalidRecord {
        message: String,
        /// (index of the record within the produced data, message)
        record_errors: Vec<(i32, String)>,
    },
    #[error("record batch of {size_bytes} bytes exceeds max.message.bytes {max_bytes}")]
    MessageTooLarge { size_bytes: usize, max_bytes: usize },
    #[error("offset {requested} is outside [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// An idempotent producer's batch carries an epoch older than the one
    /// this partition last saw from it: a fenced (zombie) producer.
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// An idempotent producer's batch does not continue its sequence.
    #[error("out of order sequence number: {0}")]
    OutOfOrderSequence(String),
    #[error("unknown topic or partition: {0}")]
    UnknownTopicOrPartition(String),
    #[error("topic already exists: {0}")]
    TopicExists(String),
    #[error("invalid topic name: {0}")]
    InvalidTopicName(String),
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A named limit (partitions per broker, ...) would be exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The data directory is held by another process.
    #[error("data directory {0} is in use by another weir process")]
    Locked(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}
