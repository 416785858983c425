//! Heartbeat (key 12, classic protocol): keeps a member's session alive and
//! tells it when a rebalance is under way. Never waits.

use crate::groups::service;
use crate::{errors, Broker};
use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let heartbeat = group::HeartbeatRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation_id: request.generation_id,
    };
    let result = service(broker).and_then(|groups| groups.heartbeat(&heartbeat));
    let code = match result {
        Ok(()) => 0,
        Err(error) => errors::group_code(&error, ApiKey::Heartbeat, version),
    };
    HeartbeatResponse::default().with_error_code(code)
}
