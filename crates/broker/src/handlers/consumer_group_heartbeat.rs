//! ConsumerGroupHeartbeat (key 68, v0-v1, KIP-848): join, heartbeat and leave
//! in one call, with the assignment computed by the broker. v0 lets the broker
//! pick the member id; v1 clients bring their own. Answers once the group's
//! new state is durable.

use crate::dispatch::Client;
use crate::groups::service;
use crate::{errors, Broker};
use group::{ConsumerHeartbeatRequest, TopicPartitions};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, TopicPartitions as WirePartitions,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: ConsumerGroupHeartbeatRequest,
    client: &Client,
) -> ConsumerGroupHeartbeatResponse {
    let heartbeat = ConsumerHeartbeatRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.to_string()),
        rack_id: request.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        // librdkafka 2.1x sends "" for "no regex"; Kafka treats it as none.
        subscribed_topic_regex: request
            .subscribed_topic_regex
            .filter(|regex| !regex.is_empty())
            .map(|s| s.to_string()),
        server_assignor: request.server_assignor.map(|s| s.to_string()),
        owned_partitions: request.topic_partitions.map(|owned| {
            owned
                .into_iter()
                .map(|t| TopicPartitions {
                    topic_id: *t.topic_id.as_bytes(),
                    partitions: t.partitions,
                })
                .collect()
        }),
        client_id: client.id.clone(),
        client_host: client.host.clone(),
    };
    let result = match service(broker) {
        Ok(groups) => groups.consumer_heartbeat(&heartbeat).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.map(|topics| {
                Assignment::default().with_topic_partitions(
                    topics
                        .into_iter()
                        .map(|t| {
                            WirePartitions::default()
                                .with_topic_id(Uuid::from_bytes(t.topic_id))
                                .with_partitions(t.partitions)
                        })
                        .collect(),
                )
            })),
        Err(error) => {
            tracing::debug!(group = %heartbeat.group_id, member = %heartbeat.member_id, %error, "ConsumerGroupHeartbeat refused");
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(errors::group_code(
                    &error,
                    ApiKey::ConsumerGroupHeartbeat,
                    version,
                ))
                .with_error_message(Some(StrBytes::from_string(error.to_string())))
        }
    }
}
