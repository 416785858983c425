//! The one place where storage and group coordinator errors become Kafka
//! error codes.

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
        LogError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
        LogError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        LogError::UnknownTopicOrPartition(_) => ResponseError::UnknownTopicOrPartition,
        LogError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        LogError::InvalidTopicName(_) => ResponseError::InvalidTopicException,
        LogError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        LogError::InvalidConfig(_) => ResponseError::InvalidConfig,
        LogError::LimitExceeded(_) => ResponseError::PolicyViolation,
        LogError::Locked(_) | LogError::Io(_) => ResponseError::KafkaStorageError,
    }
}

/// A group coordinator error as the Kafka error of the API (`key`, `version`)
/// that reports it. This is the only place group errors get wire codes.
pub(crate) fn group_error(
    error: &group::GroupError,
    key: kafka_protocol::messages::ApiKey,
    version: i16,
) -> ResponseError {
    use group::GroupError as G;
    use kafka_protocol::messages::ApiKey;
    match error {
        G::UnknownMemberId => ResponseError::UnknownMemberId,
        G::IllegalGeneration => ResponseError::IllegalGeneration,
        G::RebalanceInProgress => ResponseError::RebalanceInProgress,
        G::MemberIdRequired { .. } => ResponseError::MemberIdRequired,
        G::FencedInstanceId => ResponseError::FencedInstanceId,
        G::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        G::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        G::InvalidGroupId => ResponseError::InvalidGroupId,
        G::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        G::GroupIdNotFound => ResponseError::GroupIdNotFound,
        G::NonEmptyGroup => ResponseError::NonEmptyGroup,
        G::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        G::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        G::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        G::UnknownServerError => ResponseError::UnknownServerError,
        G::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
        // KIP-848: OffsetCommit before v9 and OffsetFetch before v9 do not
        // know STALE_MEMBER_EPOCH; Kafka answers ILLEGAL_GENERATION there.
        G::StaleMemberEpoch
            if matches!(key, ApiKey::OffsetCommit | ApiKey::OffsetFetch) && version < 9 =>
        {
            ResponseError::IllegalGeneration
        }
        G::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
        G::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
        G::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
        G::InvalidRequest(_) => ResponseError::InvalidRequest,
        // A coordinator-wide limit (groups per broker, committed partitions
        // per group) has no Kafka code. POLICY_VIOLATION is what the store's
        // named limits answer too: non-retriable, so clients surface it to
        // the application instead of retrying silently forever (as they would
        // for COORDINATOR_NOT_AVAILABLE), and it does not misreport a member
        // count the way GROUP_MAX_SIZE_REACHED would (librdkafka treats that
        // one as fatal for the member).
        G::CoordinatorLimit(_) => ResponseError::PolicyViolation,
    }
}

/// [`group_error`]'s wire code.
pub(crate) fn group_code(
    error: &group::GroupError,
    key: kafka_protocol::messages::ApiKey,
    version: i16,
) -> i16 {
    group_error(error, key, version).code()
}
