//! OffsetFetch (key 9): one group (v1-v7) or many (v8+), some partitions or
//! all committed ones (null topics, v2+). A group or partition that never
//! committed answers offset -1 with NO error: clients rely on it to apply
//! `auto.offset.reset`. v9 carries the KIP-848 member id and epoch.

use super::wire_name;
use crate::groups::service;
use crate::{errors, Broker};
use group::{FetchedOffset, GroupError};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let code = |e: &GroupError| errors::group_code(e, ApiKey::OffsetFetch, version);
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|topics| {
                    topic_partitions(topics.into_iter().map(|t| (t.name, t.partition_indexes)))
                });
                let member = g
                    .member_id
                    .as_ref()
                    .map(|m| (m.to_string(), g.member_epoch));
                match fetch(broker, &g.group_id.0, wanted.as_deref(), member) {
                    Ok(offsets) => OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_topics(group_topics(offsets)),
                    Err(error) => OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(code(&error)),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = request
        .topics
        .map(|topics| topic_partitions(topics.into_iter().map(|t| (t.name, t.partition_indexes))));
    match fetch(broker, &request.group_id.0, wanted.as_deref(), None) {
        Ok(offsets) => OffsetFetchResponse::default().with_topics(single_topics(version, offsets)),
        Err(error) if version >= 2 => OffsetFetchResponse::default().with_error_code(code(&error)),
        // v1 has no top-level error: report it on every requested partition.
        Err(error) => {
            let failed = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(topic, partition)| FetchedOffset {
                    topic,
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: String::new(),
                })
                .collect();
            let mut topics = single_topics(version, failed);
            for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.error_code = code(&error);
            }
            OffsetFetchResponse::default().with_topics(topics)
        }
    }
}

/// The requested (topic, partition) pairs, from either request shape (the
/// v8+ per-group topics or the older top-level topics).
fn topic_partitions(topics: impl Iterator<Item = (TopicName, Vec<i32>)>) -> Vec<(String, i32)> {
    topics
        .flat_map(|(name, partitions)| {
            let name = name.0.to_string();
            partitions.into_iter().map(move |p| (name.clone(), p))
        })
        .collect()
}

fn fetch(
    broker: &Broker,
    group_id: &StrBytes,
    partitions: Option<&[(String, i32)]>,
    member: Option<(String, i32)>,
) -> Result<Vec<FetchedOffset>, GroupError> {
    let groups = service(broker)?;
    let member = member.as_ref().map(|(id, epoch)| (id.as_str(), *epoch));
    groups.read(|c| c.offset_fetch(group_id.as_str(), partitions, member))
}

/// Consecutive offsets of one topic go under one topic entry.
fn runs(offsets: Vec<FetchedOffset>) -> Vec<(String, Vec<FetchedOffset>)> {
    let mut out: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
    for offset in offsets {
        match out.last_mut() {
            Some((topic, list)) if *topic == offset.topic => list.push(offset),
            _ => out.push((offset.topic.clone(), vec![offset])),
        }
    }
    out
}

fn single_topics(version: i16, offsets: Vec<FetchedOffset>) -> Vec<OffsetFetchResponseTopic> {
    runs(offsets)
        .into_iter()
        .map(|(topic, list)| {
            let partitions = list
                .into_iter()
                .map(|o| {
                    let p = OffsetFetchResponsePartition::default()
                        .with_partition_index(o.partition)
                        .with_committed_offset(o.offset)
                        .with_metadata(Some(StrBytes::from_string(o.metadata)));
                    if version >= 5 {
                        p.with_committed_leader_epoch(o.leader_epoch)
                    } else {
                        p
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(wire_name(&topic))
                .with_partitions(partitions)
        })
        .collect()
}

fn group_topics(offsets: Vec<FetchedOffset>) -> Vec<OffsetFetchResponseTopics> {
    runs(offsets)
        .into_iter()
        .map(|(topic, list)| {
            let partitions = list
                .into_iter()
                .map(|o| {
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(o.partition)
                        .with_committed_offset(o.offset)
                        .with_committed_leader_epoch(o.leader_epoch)
                        .with_metadata(Some(StrBytes::from_string(o.metadata)))
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(wire_name(&topic))
                .with_partitions(partitions)
        })
        .collect()
}
