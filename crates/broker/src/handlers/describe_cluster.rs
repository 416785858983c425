//! DescribeCluster (key 60): the cluster id, and this node as the only broker
//! and the controller.
//!
//! Weir serves broker endpoints only; a request for controller endpoints gets
//! UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers.

use crate::Broker;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

/// "Authorized operations not requested" in Kafka's encoding.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// DescribeCluster `EndpointType` for broker listeners.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

/// Kafka `AclOperation` codes allowed on the cluster resource. Weir has no
/// ACLs, so every operation that applies to a cluster is allowed: CREATE,
/// ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE.
const CLUSTER_OPERATIONS: [u32; 7] = [5, 7, 8, 9, 10, 11, 12];

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default();
    if version >= 1 {
        response = response.with_endpoint_type(request.endpoint_type);
        if request.endpoint_type != ENDPOINT_TYPE_BROKERS {
            let message = format!(
                "endpoint type {} is not served: this broker has broker endpoints only",
                request.endpoint_type
            );
            return response
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        }
    }
    let node_id = BrokerId(broker.config.node_id);
    let this_broker = DescribeClusterBroker::default()
        .with_broker_id(node_id)
        .with_host(StrBytes::from_string(broker.advertised_host.clone()))
        .with_port(i32::from(broker.advertised_port))
        .with_rack(None);
    let authorized_operations = if request.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
            .iter()
            .fold(0i32, |bits, op| bits | (1 << op))
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    response
        .with_cluster_id(StrBytes::from_string(broker.store.cluster_id().to_string()))
        .with_controller_id(node_id)
        .with_brokers(vec![this_broker])
        .with_cluster_authorized_operations(authorized_operations)
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::broker;
    use super::*;

    #[tokio::test]
    async fn describes_this_node_as_the_whole_cluster() {
        let broker = broker();
        for version in [0, 1] {
            let response = handle(&broker, version, DescribeClusterRequest::default()).await;
            assert_eq!(response.error_code, 0);
            assert_eq!(response.cluster_id.as_str(), broker.store.cluster_id());
            assert!(!response.cluster_id.is_empty());
            assert_eq!(response.controller_id, BrokerId(broker.config.node_id));
            assert_eq!(response.brokers.len(), 1);
            assert_eq!(response.brokers[0].host.as_str(), "127.0.0.1");
            assert_eq!(response.brokers[0].port, 9092);
            assert_eq!(response.brokers[0].rack, None);
            assert_eq!(response.endpoint_type, ENDPOINT_TYPE_BROKERS);
            assert_eq!(
                response.cluster_authorized_operations,
                AUTHORIZED_OPERATIONS_OMITTED
            );
        }
    }

    #[tokio::test]
    async fn authorized_operations_when_asked_and_controller_endpoints_refused() {
        let broker = broker();
        let asked =
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
        let response = handle(&broker, 1, asked).await;
        // DESCRIBE (8) and ALTER_CONFIGS (11) among them.
        assert_ne!(response.cluster_authorized_operations & (1 << 8), 0);
        assert_ne!(response.cluster_authorized_operations & (1 << 11), 0);
        let controllers = DescribeClusterRequest::default().with_endpoint_type(2);
        let response = handle(&broker, 1, controllers).await;
        assert_eq!(
            response.error_code,
            ResponseError::UnsupportedEndpointType.code()
        );
        assert_eq!(response.endpoint_type, 2);
        assert!(response.brokers.is_empty());
    }
}
