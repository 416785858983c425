//! JoinGroup (key 11): wire to `group::JoinRequest` and back. The request
//! waits (parked in the group service) until the coordinator completes the
//! join phase. v0 has no rebalance timeout (the session timeout stands in, as
//! in Kafka); v4+ asks for KIP-394 member ids; v9+ may skip assignment.

use crate::dispatch::Client;
use crate::groups::service;
use crate::{errors, Broker};
use group::{GroupError, JoinRequest, JoinResponse, Protocol};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: JoinGroupRequest,
    client: &Client,
) -> JoinGroupResponse {
    let join = JoinRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        client_id: client.id.clone(),
        client_host: client.host.clone(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version == 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata.to_vec(),
            })
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let member_id = join.member_id.clone();
    let result = match service(broker) {
        Ok(groups) => groups.join(join).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(joined) => success(version, joined),
        Err(error) => failure(version, &error, member_id),
    }
}

fn success(version: i16, joined: JoinResponse) -> JoinGroupResponse {
    let members = joined
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(if version >= 5 {
                    m.group_instance_id.map(StrBytes::from_string)
                } else {
                    None
                })
                .with_metadata(m.metadata.into())
        })
        .collect();
    let mut response = JoinGroupResponse::default()
        .with_generation_id(joined.generation_id)
        .with_leader(StrBytes::from_string(joined.leader))
        .with_member_id(StrBytes::from_string(joined.member_id))
        .with_members(members)
        .with_protocol_name(protocol_name(version, joined.protocol_name));
    if version >= 7 {
        response = response.with_protocol_type(joined.protocol_type.map(StrBytes::from_string));
    }
    if version >= 9 {
        response = response.with_skip_assignment(joined.skip_assignment);
    }
    response
}

/// Kafka's error answer: generation -1, no leader, the member id the client
/// sent (or, for MEMBER_ID_REQUIRED, the one it must use).
fn failure(version: i16, error: &GroupError, member_id: String) -> JoinGroupResponse {
    let member_id = match error {
        GroupError::MemberIdRequired { member_id } => member_id.clone(),
        _ => member_id,
    };
    JoinGroupResponse::default()
        .with_error_code(errors::group_code(error, ApiKey::JoinGroup, version))
        .with_generation_id(-1)
        .with_member_id(StrBytes::from_string(member_id))
        .with_protocol_name(protocol_name(version, None))
}

/// Nullable from v7; an empty string before.
fn protocol_name(version: i16, name: Option<String>) -> Option<StrBytes> {
    match name {
        Some(name) => Some(StrBytes::from_string(name)),
        None if version >= 7 => None,
        None => Some(StrBytes::default()),
    }
}
