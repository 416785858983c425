//! OffsetDelete (key 47, v0): deletes committed offsets of partitions the
//! group no longer subscribes to. Unknown topics get
//! UNKNOWN_TOPIC_OR_PARTITION per partition, as in Kafka. Answers once the
//! tombstones are durable.

use super::wire_name;
use crate::groups::service;
use crate::{errors, Broker};
use group::GroupError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let code = |e: &GroupError| errors::group_code(e, ApiKey::OffsetDelete, version);
    let mut wanted = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        if broker.store.topic(&name).is_some() {
            wanted.extend(
                topic
                    .partitions
                    .iter()
                    .map(|p| (name.clone(), p.partition_index)),
            );
        }
    }
    let result = match service(broker) {
        Ok(groups) => groups.offset_delete(&request.group_id.0, &wanted).await,
        Err(e) => Err(e),
    };
    let results: BTreeMap<(String, i32), i16> = match result {
        Ok(results) => results
            .into_iter()
            .map(|r| {
                (
                    (r.topic, r.partition),
                    r.result.err().as_ref().map_or(0, code),
                )
            })
            .collect(),
        Err(error) => return OffsetDeleteResponse::default().with_error_code(code(&error)),
    };
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let key = (name.clone(), p.partition_index);
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(results.get(&key).copied().unwrap_or(unknown))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(wire_name(&name))
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
