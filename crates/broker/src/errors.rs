//! The one place where storage errors become Kafka error codes.

use kafka_protocol::ResponseError;
use log::LogError;

pub(crate) fn code(error: &LogError) -> i16 {
    kafka_error(error).code()
}

pub(crate) fn kafka_error(error: &LogError) -> ResponseError {
    match error {
        LogError::CorruptBatch(_) => ResponseError::CorruptMessage,
        LogError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        LogError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::UnknownTopicOrPartition(_) => ResponseError::UnknownTopicOrPartition,
        LogError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        LogError::InvalidTopicName(_) => ResponseError::InvalidTopicException,
        LogError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        LogError::InvalidConfig(_) => ResponseError::InvalidConfig,
        LogError::LimitExceeded(_) => ResponseError::PolicyViolation,
        LogError::Locked(_) | LogError::Io(_) => ResponseError::KafkaStorageError,
    }
}
