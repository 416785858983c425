//! SyncGroup (key 14): wire to `group::SyncRequest` and back. Waits until the
//! leader's assignment arrives (or the group moves on). Protocol type and
//! name are sent and checked from v5.

use crate::groups::service;
use crate::{errors, Broker};
use group::SyncRequest;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let sync = SyncRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|s| s.to_string()),
        protocol_name: request.protocol_name.map(|s| s.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
            .collect(),
    };
    let result = match service(broker) {
        Ok(groups) => groups.sync(sync).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(synced) => {
            let response = SyncGroupResponse::default().with_assignment(synced.assignment.into());
            if version >= 5 {
                response
                    .with_protocol_type(synced.protocol_type.map(StrBytes::from_string))
                    .with_protocol_name(synced.protocol_name.map(StrBytes::from_string))
            } else {
                response
            }
        }
        Err(error) => SyncGroupResponse::default().with_error_code(errors::group_code(
            &error,
            ApiKey::SyncGroup,
            version,
        )),
    }
}
