//! ApiVersions (key 18): the table of every API and version range Weir
//! answers, and the KIP-511 fallback for clients newer than us.
//!
//! The table is the single source of truth: dispatch admits exactly what it
//! lists. Advertised minimums follow Kafka 4.x, including its quirk
//! (KAFKA-18659) of advertising Produce from v0: librdkafka up to 2.11 only
//! enables gzip/snappy/lz4 when the advertised Produce range contains v0, even
//! though it then sends v3 or later. Produce v0-v2 requests themselves are
//! refused by closing the connection, as Kafka 4 does.

use crate::Broker;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

/// Lowest Produce version we decode; lower ones are advertised only (see above).
const PRODUCE_VERSION_MIN_SERVED: i16 = 3;

/// (API, lowest advertised version, highest version).
const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 12),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::InitProducerId, 0, 5),
    // Groups: minimums of 0 (OffsetCommit 2, OffsetFetch 1, the codec's
    // floor) keep librdkafka <= 2.11's balanced consumer enabled.
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// Whether dispatch should decode and serve `version` of `key`.
pub(crate) fn is_supported(key: ApiKey, version: i16) -> bool {
    if key == ApiKey::Produce && version < PRODUCE_VERSION_MIN_SERVED {
        return false;
    }
    SUPPORTED
        .iter()
        .any(|&(k, min, max)| k == key && (min..=max).contains(&version))
}

fn advertised() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

pub(crate) async fn handle(
    _broker: &Broker,
    _version: i16,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(advertised())
}

/// KIP-511: UNSUPPORTED_VERSION, listing only our ApiVersions range, to be
/// encoded as v0 whatever version the client sent.
pub(crate) fn unsupported_version_response() -> ApiVersionsResponse {
    let own = SUPPORTED
        .iter()
        .filter(|(key, _, _)| *key == ApiKey::ApiVersions)
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_within_what_the_codec_decodes() {
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::Message;
        let codec_range = |key: ApiKey| -> (i16, i16) {
            macro_rules! r {
                ($t:ty) => {
                    (<$t>::VERSIONS.min, <$t>::VERSIONS.max)
                };
            }
            match key {
                ApiKey::Produce => r!(ProduceRequest),
                ApiKey::Fetch => r!(FetchRequest),
                ApiKey::ListOffsets => r!(ListOffsetsRequest),
                ApiKey::Metadata => r!(MetadataRequest),
                ApiKey::ApiVersions => r!(ApiVersionsRequest),
                ApiKey::CreateTopics => r!(CreateTopicsRequest),
                ApiKey::DeleteTopics => r!(DeleteTopicsRequest),
                ApiKey::DeleteRecords => r!(DeleteRecordsRequest),
                ApiKey::DescribeConfigs => r!(DescribeConfigsRequest),
                ApiKey::AlterConfigs => r!(AlterConfigsRequest),
                ApiKey::CreatePartitions => r!(CreatePartitionsRequest),
                ApiKey::IncrementalAlterConfigs => r!(IncrementalAlterConfigsRequest),
                ApiKey::DescribeLogDirs => r!(DescribeLogDirsRequest),
                ApiKey::DescribeCluster => r!(DescribeClusterRequest),
                ApiKey::InitProducerId => r!(InitProducerIdRequest),
                ApiKey::FindCoordinator => r!(FindCoordinatorRequest),
                ApiKey::JoinGroup => r!(JoinGroupRequest),
                ApiKey::SyncGroup => r!(SyncGroupRequest),
                ApiKey::Heartbeat => r!(HeartbeatRequest),
                ApiKey::LeaveGroup => r!(LeaveGroupRequest),
                ApiKey::OffsetCommit => r!(OffsetCommitRequest),
                ApiKey::OffsetFetch => r!(OffsetFetchRequest),
                ApiKey::DescribeGroups => r!(DescribeGroupsRequest),
                ApiKey::ListGroups => r!(ListGroupsRequest),
                ApiKey::DeleteGroups => r!(DeleteGroupsRequest),
                ApiKey::OffsetDelete => r!(OffsetDeleteRequest),
                ApiKey::ConsumerGroupHeartbeat => r!(ConsumerGroupHeartbeatRequest),
                ApiKey::ConsumerGroupDescribe => r!(ConsumerGroupDescribeRequest),
                other => panic!("no codec range known for {other:?}"),
            }
        };
        for &(key, min, max) in SUPPORTED {
            let (codec_min, codec_max) = codec_range(key);
            assert!(
                max <= codec_max,
                "{key:?} advertised up to v{max}, codec stops at v{codec_max}"
            );
            for version in min..=max {
                if is_supported(key, version) {
                    assert!(
                        version >= codec_min,
                        "{key:?} v{version} served but codec starts at v{codec_min}"
                    );
                }
            }
        }
    }

    #[test]
    fn produce_below_v3_is_advertised_but_not_served() {
        assert!(advertised()
            .iter()
            .any(|v| v.api_key == 0 && v.min_version == 0));
        assert!(!is_supported(ApiKey::Produce, 2));
        assert!(is_supported(ApiKey::Produce, 3));
    }
}
