//! The one place where storage and group coordinator errors become Kafka
//! error codes, and the throttle that keeps a repeating storage failure
//! from flooding the log.

use kafka_protocol::ResponseError;
use log::LogError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Least time between two log lines from one [`LogThrottle`].
const LOG_THROTTLE_INTERVAL: Duration = Duration::from_secs(10);

/// Lets a repeating failure reach the log at most once per
/// [`LOG_THROTTLE_INTERVAL`], saying how many occurrences went unlogged in
/// between. A full or failing disk fails every produce: clients only see
/// retries and then timeouts, so the operator must see it in the log, but
/// once every few seconds is enough.
#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl ThrottleState {
    /// `Some(n)` when an occurrence at `now` may be logged, `n` being those
    /// left unlogged since the last line; `None` counts it as unlogged.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        let quiet = self
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= LOG_THROTTLE_INTERVAL);
        if !quiet {
            self.unlogged += 1;
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

impl LogThrottle {
    /// See [`ThrottleState::admit`].
    pub(crate) fn admit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.admit(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_logs_once_per_interval_and_counts_what_it_held_back() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let interval_ms = LOG_THROTTLE_INTERVAL.as_millis() as u64;
        // (occurrence time in ms, expected answer)
        let cases = [
            (0, Some(0)),
            (1, None),
            (interval_ms - 1, None),
            (interval_ms, Some(2)),
            (interval_ms + 5, None),
            (3 * interval_ms, Some(1)),
            (10 * interval_ms, Some(0)),
        ];
        let mut state = ThrottleState::default();
        for (ms, expected) in cases {
            assert_eq!(state.admit(at(ms)), expected, "occurrence at {ms} ms");
        }
    }
}
