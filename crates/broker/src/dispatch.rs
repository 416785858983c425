//! From one request frame to one response frame: read the fixed header
//! prefix, check the API and version against what we advertise, decode with
//! `kafka-protocol`, call the handler, encode the answer.
//!
//! Nothing here knows what a request means; handlers do. Anything a client
//! sends that we cannot answer in Kafka's terms becomes [`Reject`], and the
//! connection closes, which is what a Kafka broker does for an unknown API
//! key, a version it does not support, or a body it cannot parse.

use crate::frame::Frame;
use crate::handlers::{self, api_versions};
use crate::Broker;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// api key, api version, correlation id: present in every request header.
pub(crate) const HEADER_PREFIX_BYTES: usize = 8;

/// Why a request gets no response and its connection is closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Reject {
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {key:?}")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("malformed {key:?} v{version} request: {reason}")]
    Malformed {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode {key:?} v{version} response: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// The fixed prefix of a request header, read without trusting the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

impl Prefix {
    /// `None` when the frame is too short to hold a header.
    pub(crate) fn read(frame: &[u8]) -> Option<Prefix> {
        let mut b = frame.get(..HEADER_PREFIX_BYTES)?;
        Some(Prefix {
            api_key: b.get_i16(),
            api_version: b.get_i16(),
            correlation_id: b.get_i32(),
        })
    }
}

/// Handles one request frame. `Ok(None)` means the request expects no
/// response (a Produce with acks=0).
/// `peer` is the client's address, recorded by the group APIs.
pub(crate) async fn dispatch(
    broker: &Broker,
    frame: Bytes,
    peer: Option<std::net::SocketAddr>,
) -> Result<Option<Frame>, Reject> {
    let prefix = Prefix::read(&frame).ok_or(Reject::Malformed {
        key: ApiKey::ApiVersions,
        version: -1,
        reason: format!("frame of {} bytes has no request header", frame.len()),
    })?;
    let key =
        ApiKey::try_from(prefix.api_key).map_err(|_| Reject::UnknownApiKey(prefix.api_key))?;
    if !api_versions::is_supported(key, prefix.api_version) {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer a too-new ApiVersions in v0 so the client can
            // retry with a version we speak.
            return encode_frame(
                key,
                0,
                prefix.correlation_id,
                &api_versions::unsupported_version_response(),
            )
            .map(|f| Some(f.into()));
        }
        return Err(Reject::UnsupportedVersion {
            key,
            version: prefix.api_version,
        });
    }
    let mut body = frame;
    let version = prefix.api_version;
    let header = decode_header(key, version, &mut body)?;
    let client = Client {
        id: header
            .client_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
    };
    route(broker, key, version, prefix.correlation_id, &client, body).await
}

/// Who sent a request, for the group APIs that record it (JoinGroup,
/// ConsumerGroupHeartbeat): the header's client id and the peer's address
/// written as Kafka writes it (`/127.0.0.1`).
pub(crate) struct Client {
    pub id: String,
    pub host: String,
}

/// One arm per API: decode, handle, encode.
async fn route(
    broker: &Broker,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    client: &Client,
    mut body: Bytes,
) -> Result<Option<Frame>, Reject> {
    macro_rules! call {
        ($request:ty, $handler:path) => {{
            let request: $request = decode(key, version, &mut body)?;
            let response = $handler(broker, version, request).await;
            encode_frame(key, version, correlation_id, &response).map(|f| Some(f.into()))
        }};
        ($request:ty, $handler:path, client) => {{
            let request: $request = decode(key, version, &mut body)?;
            let response = $handler(broker, version, request, client).await;
            encode_frame(key, version, correlation_id, &response).map(|f| Some(f.into()))
        }};
    }
    match key {
        ApiKey::ApiVersions => call!(ApiVersionsRequest, handlers::api_versions::handle),
        ApiKey::Metadata => call!(MetadataRequest, handlers::metadata::handle),
        ApiKey::Produce => {
            let request: ProduceRequest = decode(key, version, &mut body)?;
            match handlers::produce::handle(broker, version, request).await {
                Some(response) => {
                    encode_frame(key, version, correlation_id, &response).map(|f| Some(f.into()))
                }
                None => Ok(None),
            }
        }
        ApiKey::Fetch => {
            let request: FetchRequest = decode(key, version, &mut body)?;
            let answer = handlers::fetch::handle(broker, version, request).await;
            handlers::fetch::encode::encode(
                version,
                correlation_id,
                &answer.response,
                answer.records,
            )
            .map(Some)
            .map_err(|error| Reject::Encode {
                key,
                version,
                reason: error.to_string(),
            })
        }
        ApiKey::ListOffsets => call!(ListOffsetsRequest, handlers::list_offsets::handle),
        ApiKey::InitProducerId => {
            call!(InitProducerIdRequest, handlers::init_producer_id::handle)
        }
        ApiKey::CreateTopics => call!(CreateTopicsRequest, handlers::create_topics::handle),
        ApiKey::DeleteTopics => call!(DeleteTopicsRequest, handlers::delete_topics::handle),
        ApiKey::CreatePartitions => {
            call!(CreatePartitionsRequest, handlers::create_partitions::handle)
        }
        ApiKey::DescribeConfigs => {
            call!(DescribeConfigsRequest, handlers::describe_configs::handle)
        }
        ApiKey::AlterConfigs => call!(AlterConfigsRequest, handlers::alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => call!(
            IncrementalAlterConfigsRequest,
            handlers::incremental_alter_configs::handle
        ),
        ApiKey::DeleteRecords => call!(DeleteRecordsRequest, handlers::delete_records::handle),
        ApiKey::DescribeCluster => {
            call!(DescribeClusterRequest, handlers::describe_cluster::handle)
        }
        ApiKey::DescribeLogDirs => {
            call!(DescribeLogDirsRequest, handlers::describe_log_dirs::handle)
        }
        // Groups and committed offsets.
        ApiKey::FindCoordinator => {
            call!(FindCoordinatorRequest, handlers::find_coordinator::handle)
        }
        ApiKey::JoinGroup => call!(JoinGroupRequest, handlers::join_group::handle, client),
        ApiKey::SyncGroup => call!(SyncGroupRequest, handlers::sync_group::handle),
        ApiKey::Heartbeat => call!(HeartbeatRequest, handlers::heartbeat::handle),
        ApiKey::LeaveGroup => call!(LeaveGroupRequest, handlers::leave_group::handle),
        ApiKey::OffsetCommit => call!(OffsetCommitRequest, handlers::offset_commit::handle),
        ApiKey::OffsetFetch => call!(OffsetFetchRequest, handlers::offset_fetch::handle),
        ApiKey::OffsetDelete => call!(OffsetDeleteRequest, handlers::offset_delete::handle),
        ApiKey::DescribeGroups => call!(DescribeGroupsRequest, handlers::describe_groups::handle),
        ApiKey::ListGroups => call!(ListGroupsRequest, handlers::list_groups::handle),
        ApiKey::DeleteGroups => call!(DeleteGroupsRequest, handlers::delete_groups::handle),
        ApiKey::ConsumerGroupHeartbeat => call!(
            ConsumerGroupHeartbeatRequest,
            handlers::consumer_group_heartbeat::handle,
            client
        ),
        ApiKey::ConsumerGroupDescribe => call!(
            ConsumerGroupDescribeRequest,
            handlers::consumer_group_describe::handle
        ),
        // is_supported() admitted only the keys above.
        other => Err(Reject::UnsupportedVersion {
            key: other,
            version,
        }),
    }
}

fn decode_header(key: ApiKey, version: i16, body: &mut Bytes) -> Result<RequestHeader, Reject> {
    let header_version = key.request_header_version(version);
    guarded(key, version, || RequestHeader::decode(body, header_version))
}

fn decode<T: Decodable>(key: ApiKey, version: i16, body: &mut Bytes) -> Result<T, Reject> {
    let request = guarded(key, version, || T::decode(body, version))?;
    if body.has_remaining() {
        // Kafka ignores trailing bytes too; a client that sends them is
        // worth knowing about, not worth disconnecting.
        tracing::debug!(
            ?key,
            version,
            trailing_bytes = body.remaining(),
            "request has trailing bytes"
        );
    }
    Ok(request)
}

/// Runs a decoder over client bytes. The decoder returns errors for short
/// input; the unwind guard is defence in depth so a decoder bug on hostile
/// input costs one connection, never the broker.
fn guarded<T>(
    key: ApiKey,
    version: i16,
    decode: impl FnOnce() -> anyhow::Result<T>,
) -> Result<T, Reject> {
    let malformed = |reason: String| Reject::Malformed {
        key,
        version,
        reason,
    };
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(malformed(error.to_string())),
        Err(_) => Err(malformed("decoder panicked".to_string())),
    }
}

/// Length prefix, response header, body.
pub(crate) fn encode_frame<R: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &R,
) -> Result<BytesMut, Reject> {
    let fail = |error: anyhow::Error| Reject::Encode {
        key,
        version,
        reason: error.to_string(),
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = R::header_version(version);
    let size = header.compute_size(header_version).map_err(fail)?
        + response.compute_size(version).map_err(fail)?;
    let mut out = BytesMut::with_capacity(4 + size);
    out.put_i32(size as i32);
    header.encode(&mut out, header_version).map_err(fail)?;
    response.encode(&mut out, version).map_err(fail)?;
    debug_assert_eq!(out.len(), 4 + size, "compute_size disagrees with encode");
    Ok(out)
}
