//! LeaveGroup (key 13): one member (v0-v2) or a batch of members, possibly
//! static, by `group.instance.id` (v3+, KIP-345). Answers once the group's new
//! state is durable.

use crate::groups::service;
use crate::{errors, Broker};
use group::LeaveMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let members: Vec<LeaveMember> = if version < 3 {
        vec![LeaveMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    } else {
        request
            .members
            .iter()
            .map(|m| LeaveMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    };
    let group_id = request.group_id.0.to_string();
    let result = match service(broker) {
        Ok(groups) => groups.leave(&group_id, &members).await,
        Err(e) => Err(e),
    };
    let code = |e: &group::GroupError| errors::group_code(e, ApiKey::LeaveGroup, version);
    let results = match result {
        Err(error) => return LeaveGroupResponse::default().with_error_code(code(&error)),
        Ok(results) => results,
    };
    if version < 3 {
        // One member: its error is the request's error.
        let first = results.first().and_then(|r| r.as_ref().err());
        return LeaveGroupResponse::default().with_error_code(first.map_or(0, code));
    }
    let responses = request
        .members
        .into_iter()
        .zip(results)
        .map(|(m, r)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(r.err().as_ref().map_or(0, code))
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}
