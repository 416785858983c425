//! FindCoordinator (key 10): this broker coordinates every group. Single keys
//! (v0-v3) and batched `coordinator_keys` (v4+). Transactions are not
//! supported yet, but a transaction key (type 1) is still answered with this
//! broker: the client's next call, InitProducerId with a transactional id,
//! then fails fast with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, where
//! COORDINATOR_NOT_AVAILABLE here would make it retry until its own timeout.

use crate::Broker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let error = check(broker, request.key_type);
    let (node_id, host, port) = match error {
        None => (
            broker.config.node_id,
            broker.advertised_host.clone(),
            i32::from(broker.advertised_port),
        ),
        Some(_) => (-1, String::new(), -1),
    };
    let code = error.map_or(0, |e| e.code());
    let message = error.map(|e| StrBytes::from_string(e.to_string()));
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node_id))
                    .with_host(StrBytes::from_string(host.clone()))
                    .with_port(port)
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(node_id))
        .with_host(StrBytes::from_string(host))
        .with_port(port);
    if version >= 1 {
        response.with_error_message(message)
    } else {
        response
    }
}

fn check(broker: &Broker, key_type: i8) -> Option<ResponseError> {
    match key_type {
        KEY_TYPE_GROUP if broker.groups.is_some() => None,
        KEY_TYPE_GROUP => Some(ResponseError::CoordinatorNotAvailable),
        KEY_TYPE_TRANSACTION => None,
        _ => Some(ResponseError::InvalidRequest),
    }
}
