//! Metadata (key 3): this broker, and the topics asked for, auto-creating
//! unknown ones when `auto.create.topics.enable` and the client allow it.
//!
//! A single broker leads every partition, so each partition reports this node
//! as leader, sole replica and sole in-sync replica, whatever replication
//! factor the topic was created with. Authorized operations are left at the
//! codec's default, Kafka's "not requested" (there are no ACLs).

use super::wire_name;
use crate::{errors, Broker};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::{LogError, Topic};
use uuid::Uuid;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    // v0 has no null: an empty list there means "all topics".
    let all = request.topics.is_none()
        || (version == 0 && request.topics.as_ref().is_some_and(Vec::is_empty));
    // Before v4 there is no flag and auto-creation is always allowed.
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let topics = if all {
        broker
            .store
            .topics()
            .iter()
            .map(|topic| describe(broker, topic))
            .collect()
    } else {
        request
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|wanted| match wanted.name {
                Some(name) => by_name(broker, &name.0, allow_auto_create),
                None => by_id(broker, wanted.topic_id),
            })
            .collect()
    };
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(broker.config.node_id))
            .with_host(StrBytes::from_string(broker.advertised_host.clone()))
            .with_port(i32::from(broker.advertised_port))])
        .with_cluster_id(Some(StrBytes::from_string(
            broker.store.cluster_id().to_owned(),
        )))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_topics(topics)
}

fn by_name(broker: &Broker, name: &str, allow_auto_create: bool) -> MetadataResponseTopic {
    if let Some(topic) = broker.store.topic(name) {
        return describe(broker, &topic);
    }
    let failed = |error: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(wire_name(name)))
            .with_error_code(error.code())
    };
    if let Err(error) = log::topic_name::validate(name) {
        return failed(errors::kafka_error(&error));
    }
    if !(allow_auto_create && broker.config.auto_create_topics) {
        return failed(ResponseError::UnknownTopicOrPartition);
    }
    match broker
        .store
        .create_topic(name, broker.config.default_partitions, Default::default())
    {
        Ok(topic) => {
            tracing::info!(topic = name, "auto-created topic");
            describe(broker, &topic)
        }
        // Another request created it between our look-up and create.
        Err(LogError::TopicExists(_)) => match broker.store.topic(name) {
            Some(topic) => describe(broker, &topic),
            None => failed(ResponseError::LeaderNotAvailable),
        },
        Err(error) => {
            tracing::warn!(topic = name, %error, "auto-create failed");
            failed(errors::kafka_error(&error))
        }
    }
}

fn by_id(broker: &Broker, id: Uuid) -> MetadataResponseTopic {
    match broker.store.topic_by_id(id) {
        Some(topic) => describe(broker, &topic),
        None => MetadataResponseTopic::default()
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

fn describe(broker: &Broker, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let partitions = topic
        .partitions()
        .iter()
        .map(|partition| {
            MetadataResponsePartition::default()
                .with_partition_index(partition.id())
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(wire_name(topic.name())))
        .with_topic_id(topic.id())
        .with_is_internal(topic.name() == crate::groups::OFFSETS_TOPIC)
        .with_partitions(partitions)
}
