//! CreatePartitions (key 37): grows topics to a larger partition count.
//!
//! Partitions are never removed, so asking for the current count or fewer is
//! INVALID_PARTITIONS, as in Kafka. Manual assignments for the new partitions
//! are accepted when this node can serve every replica list.

use super::create_topics::{check_replicas, duplicates};
use super::describe_configs::{refusal, Refusal};
use crate::Broker;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::LogError;
use std::collections::HashSet;

pub(crate) async fn handle(
    broker: &Broker,
    _version: i16,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicated = duplicates(request.topics.iter().map(|topic| topic.name.as_str()));
    let mut answered = HashSet::new();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.as_str();
        let outcome = if duplicated.contains(name) {
            if !answered.insert(name) {
                continue;
            }
            Err((
                ResponseError::InvalidRequest,
                format!("duplicate topic name {name:?} in one request"),
            ))
        } else {
            grow(broker, topic, request.validate_only)
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        if let Err((error, message)) = outcome {
            result = result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        }
        results.push(result);
    }
    CreatePartitionsResponse::default().with_results(results)
}

fn grow(
    broker: &Broker,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), Refusal> {
    let name = topic.name.as_str();
    let Some(existing) = broker.store.topic(name) else {
        return Err(refusal(&LogError::UnknownTopicOrPartition(
            name.to_string(),
        )));
    };
    if name == crate::groups::OFFSETS_TOPIC {
        // A group's records go to hash(group) % partitions, fixed at start-up.
        let message = format!("{name} is internal: its partition count cannot change");
        return Err((ResponseError::InvalidTopicException, message));
    }
    let current = existing.partitions().len();
    let requested = usize::try_from(topic.count).unwrap_or(0);
    if requested <= current {
        let message = if requested == current {
            format!("topic {name:?} already has {current} partitions")
        } else {
            format!(
                "topic {name:?} has {current} partitions, more than the requested {}",
                topic.count
            )
        };
        return Err((ResponseError::InvalidPartitions, message));
    }
    if let Some(assignments) = &topic.assignments {
        let added = requested - current;
        if assignments.len() != added {
            let message = format!(
                "adding {added} partitions but {} assignments were given",
                assignments.len()
            );
            return Err((ResponseError::InvalidReplicaAssignment, message));
        }
        for assignment in assignments {
            check_replicas(broker, &assignment.broker_ids)
                .map_err(|why| (ResponseError::InvalidReplicaAssignment, why))?;
        }
    }
    if validate_only {
        return Ok(());
    }
    let total = u32::try_from(requested).map_err(|_| {
        (
            ResponseError::InvalidPartitions,
            "too many partitions".to_string(),
        )
    })?;
    broker
        .store
        .add_partitions(name, total)
        .map_err(|e| refusal(&e))
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, create_topic};
    use super::super::wire_name;
    use super::*;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    use kafka_protocol::messages::BrokerId;

    fn grow_to(name: &str, count: i32) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default()
            .with_name(wire_name(name))
            .with_count(count)
            .with_assignments(None)
    }

    fn assignments(lists: &[&[i32]]) -> Option<Vec<CreatePartitionsAssignment>> {
        let to_assignment = |ids: &&[i32]| {
            CreatePartitionsAssignment::default()
                .with_broker_ids(ids.iter().map(|&id| BrokerId(id)).collect())
        };
        Some(lists.iter().map(to_assignment).collect())
    }

    #[tokio::test]
    async fn bad_requests_get_kafka_error_codes() {
        let broker = broker();
        create_topic(&broker, "t", 3);
        let cases = [
            (
                grow_to("missing", 5),
                ResponseError::UnknownTopicOrPartition,
            ),
            (grow_to("t", 3), ResponseError::InvalidPartitions),
            (grow_to("t", 2), ResponseError::InvalidPartitions),
            (grow_to("t", -1), ResponseError::InvalidPartitions),
            (
                grow_to("t", 5).with_assignments(assignments(&[&[0]])),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                grow_to("t", 4).with_assignments(assignments(&[&[3]])),
                ResponseError::InvalidReplicaAssignment,
            ),
        ];
        for (topic, expected) in cases {
            for validate_only in [true, false] {
                let request = CreatePartitionsRequest::default()
                    .with_topics(vec![topic.clone()])
                    .with_validate_only(validate_only);
                for version in 0..=3 {
                    let response = handle(&broker, version, request.clone()).await;
                    let result = &response.results[0];
                    assert_eq!(result.error_code, expected.code(), "{topic:?}: {result:?}");
                    assert!(result.error_message.is_some());
                }
            }
        }
        assert_eq!(
            broker.store.topic("t").map(|t| t.partitions().len()),
            Some(3)
        );
    }

    #[tokio::test]
    async fn grows_unless_validate_only() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let dry = CreatePartitionsRequest::default()
            .with_topics(vec![grow_to("t", 4)])
            .with_validate_only(true);
        assert_eq!(handle(&broker, 3, dry).await.results[0].error_code, 0);
        assert_eq!(
            broker.store.topic("t").map(|t| t.partitions().len()),
            Some(1)
        );
        let real = CreatePartitionsRequest::default().with_topics(vec![
            grow_to("t", 3).with_assignments(assignments(&[&[0], &[0, 1]]))
        ]);
        let response = handle(&broker, 3, real).await;
        assert_eq!(response.results[0].error_code, 0, "{response:?}");
        assert_eq!(
            broker.store.topic("t").map(|t| t.partitions().len()),
            Some(3)
        );
    }

    #[tokio::test]
    async fn duplicate_topics_get_one_invalid_request() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let request =
            CreatePartitionsRequest::default().with_topics(vec![grow_to("t", 2), grow_to("t", 3)]);
        let response = handle(&broker, 0, request).await;
        assert_eq!(response.results.len(), 1);
        assert_eq!(
            response.results[0].error_code,
            ResponseError::InvalidRequest.code()
        );
        assert_eq!(
            broker.store.topic("t").map(|t| t.partitions().len()),
            Some(1)
        );
    }
}
