//! The one error enum of the group coordinator. Each variant is named after the
//! Kafka error it stands for, so the broker maps it to a wire code in one place.
//! Record decoding errors live in `records.rs`, not here.

use thiserror::Error;

/// An operating error answered to a client. The broker turns it into a Kafka
/// error code; the names follow Kafka's `Errors` enum.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupError {
    #[error("UNKNOWN_MEMBER_ID")]
    UnknownMemberId,
    #[error("ILLEGAL_GENERATION")]
    IllegalGeneration,
    #[error("REBALANCE_IN_PROGRESS")]
    RebalanceInProgress,
    /// KIP-394: the client must rejoin with this generated member id.
    #[error("MEMBER_ID_REQUIRED ({member_id})")]
    MemberIdRequired { member_id: String },
    #[error("FENCED_INSTANCE_ID")]
    FencedInstanceId,
    #[error("INCONSISTENT_GROUP_PROTOCOL")]
    InconsistentGroupProtocol,
    #[error("INVALID_SESSION_TIMEOUT")]
    InvalidSessionTimeout,
    #[error("INVALID_GROUP_ID")]
    InvalidGroupId,
    #[error("GROUP_MAX_SIZE_REACHED")]
    GroupMaxSizeReached,
    #[error("GROUP_ID_NOT_FOUND")]
    GroupIdNotFound,
    #[error("NON_EMPTY_GROUP")]
    NonEmptyGroup,
    #[error("GROUP_SUBSCRIBED_TO_TOPIC")]
    GroupSubscribedToTopic,
    #[error("COORDINATOR_NOT_AVAILABLE")]
    CoordinatorNotAvailable,
    #[error("OFFSET_METADATA_TOO_LARGE")]
    OffsetMetadataTooLarge,
    #[error("UNKNOWN_SERVER_ERROR")]
    UnknownServerError,
    /// KIP-848: the member epoch is not the one the coordinator expects.
    #[error("FENCED_MEMBER_EPOCH")]
    FencedMemberEpoch,
    /// KIP-848 offset commit/fetch with a member epoch that is not current
    /// (OffsetCommit v9+; older versions map this to ILLEGAL_GENERATION).
    #[error("STALE_MEMBER_EPOCH")]
    StaleMemberEpoch,
    #[error("UNRELEASED_INSTANCE_ID")]
    UnreleasedInstanceId,
    #[error("UNSUPPORTED_ASSIGNOR")]
    UnsupportedAssignor,
    #[error("INVALID_REQUEST: {0}")]
    InvalidRequest(String),
    /// A coordinator-wide named limit was reached (for example `groups_max`).
    /// Kafka has no dedicated code; the broker picks one (see the crate docs).
    #[error("coordinator limit reached: {0}")]
    CoordinatorLimit(String),
}
