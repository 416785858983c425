//! OffsetCommit (key 8, v2-v9): commits by group members (generation, or
//! KIP-848 member epoch from v9) and simple commits (generation -1, empty
//! member id). Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION
//! without reaching the coordinator, as in Kafka. Answers once durable.
//! `retention_time_ms` (v2-v4) is ignored, as Kafka 2.1+ does.

use super::wire_name;
use crate::groups::service;
use crate::{errors, Broker};
use group::{CommitPartition, GroupError, OffsetCommitRequest as Commit, PartitionResult};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    // (topic, partition) → error code, in request order.
    let mut answers: Vec<(String, i32, Option<i16>)> = Vec::new();
    let mut partitions = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let known = broker.store.topic(&name);
        for p in &topic.partitions {
            let exists = known
                .as_ref()
                .is_some_and(|t| t.partition(p.partition_index).is_some());
            if !exists {
                let code = ResponseError::UnknownTopicOrPartition.code();
                answers.push((name.clone(), p.partition_index, Some(code)));
                continue;
            }
            answers.push((name.clone(), p.partition_index, None));
            partitions.push(CommitPartition {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
    }
    let commit = Commit {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation_id_or_member_epoch: request.generation_id_or_member_epoch,
        partitions,
    };
    let code = |e: &GroupError| errors::group_code(e, ApiKey::OffsetCommit, version);
    let result = if commit.partitions.is_empty() {
        Ok(Vec::new())
    } else {
        match service(broker) {
            Ok(groups) => groups.offset_commit(&commit).await,
            Err(e) => Err(e),
        }
    };
    let results: BTreeMap<(String, i32), i16> = match result {
        Ok(results) => results
            .into_iter()
            .map(
                |PartitionResult {
                     topic,
                     partition,
                     result,
                 }| { ((topic, partition), result.err().as_ref().map_or(0, code)) },
            )
            .collect(),
        Err(error) => commit
            .partitions
            .iter()
            .map(|p| ((p.topic.clone(), p.partition), code(&error)))
            .collect(),
    };
    respond(answers, &results)
}

fn respond(
    answers: Vec<(String, i32, Option<i16>)>,
    results: &BTreeMap<(String, i32), i16>,
) -> OffsetCommitResponse {
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for (topic, partition, early) in answers {
        let code = early
            .or_else(|| results.get(&(topic.clone(), partition)).copied())
            .unwrap_or(ResponseError::UnknownServerError.code());
        let entry = OffsetCommitResponsePartition::default()
            .with_partition_index(partition)
            .with_error_code(code);
        match topics.last_mut() {
            Some(last) if last.name.0.as_str() == topic => last.partitions.push(entry),
            _ => topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(wire_name(&topic))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}
