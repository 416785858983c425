//! ConsumerGroupDescribe (key 69, v0-v1, KIP-848): groups of the consumer
//! protocol with each member's current and target assignment. A classic or
//! unknown group answers GROUP_ID_NOT_FOUND, as in Kafka.

use crate::groups::service;
use crate::{errors, Broker};
use group::{ConsumerGroupDescription, TopicPartitions};
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions as WirePartitions,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let groups = request
        .group_ids
        .into_iter()
        .map(|id| {
            let described = service(broker).and_then(|g| g.read(|c| c.consumer_describe(&id.0)));
            match described {
                Ok(d) => describe(d).with_group_id(id),
                Err(error) => DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(errors::group_code(
                        &error,
                        ApiKey::ConsumerGroupDescribe,
                        version,
                    ))
                    .with_error_message(Some(StrBytes::from_string(error.to_string()))),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn describe(d: ConsumerGroupDescription) -> DescribedGroup {
    let names = &d.topic_names;
    let assignment = |list: Vec<TopicPartitions>| {
        Assignment::default().with_topic_partitions(
            list.into_iter()
                .map(|t| {
                    let name = names
                        .iter()
                        .find(|(id, _)| *id == t.topic_id)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default();
                    WirePartitions::default()
                        .with_topic_id(Uuid::from_bytes(t.topic_id))
                        .with_topic_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(t.partitions)
                })
                .collect(),
        )
    };
    let members = d
        .members
        .into_iter()
        .map(|m| {
            Member::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_instance_id(m.instance_id.map(StrBytes::from_string))
                .with_rack_id(m.rack_id.map(StrBytes::from_string))
                .with_member_epoch(m.member_epoch)
                .with_client_id(StrBytes::from_string(m.client_id))
                .with_client_host(StrBytes::from_string(m.client_host))
                .with_subscribed_topic_names(
                    m.subscribed_topic_names
                        .into_iter()
                        .map(|n| TopicName(StrBytes::from_string(n)))
                        .collect(),
                )
                .with_assignment(assignment(m.assignment))
                .with_target_assignment(assignment(m.target_assignment))
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_string(d.state))
        .with_group_epoch(d.group_epoch)
        .with_assignment_epoch(d.assignment_epoch)
        .with_assignor_name(StrBytes::from_string(d.assignor_name))
        .with_members(members)
}
