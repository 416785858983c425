//! CreateTopics (key 19): checks each requested topic as Kafka does, then
//! creates it in the store unless the request is validate-only.
//!
//! Checks, in Kafka's order: duplicate names in one request, legal name,
//! already exists (or collides with an existing name once '.' and '_' are
//! treated alike), partition count or manual assignment, replication factor,
//! configs. A single node keeps one replica whatever factor is asked for, when
//! `ReplicationFactorPolicy::AcceptAny` allows it. Also holds the helpers the
//! other topic handlers share (duplicate detection, replica-list checks) and,
//! for tests, a broker over a temporary store.

use super::describe_configs::{refusal, topic_entries, Refusal};
use super::wire_name;
use crate::{Broker, ReplicationFactorPolicy};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use uuid::Uuid;

/// The replication factor Weir reports: one replica on this node.
const REPLICATION_FACTOR_SERVED: i16 = 1;

/// A topic that passed every check.
struct Plan {
    partitions: u32,
    overrides: BTreeMap<String, String>,
}

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let duplicated = duplicates(request.topics.iter().map(|topic| topic.name.as_str()));
    let mut answered = HashSet::new();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.as_str();
        if duplicated.contains(name) {
            // One answer per name, as Kafka's keyed response has.
            if answered.insert(name) {
                let refused = (
                    ResponseError::InvalidRequest,
                    format!("duplicate topic name {name:?} in one request"),
                );
                results.push(refused_result(name, refused));
            }
            continue;
        }
        let outcome = plan(broker, topic).and_then(|plan| {
            let id = if request.validate_only {
                Uuid::nil()
            } else {
                create(broker, name, &plan)?
            };
            Ok((plan, id))
        });
        results.push(match outcome {
            Ok((plan, id)) => created_result(broker, version, name, &plan, id),
            Err(refused) => refused_result(name, refused),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn plan(broker: &Broker, topic: &CreatableTopic) -> Result<Plan, Refusal> {
    let name = topic.name.as_str();
    broker
        .store
        .check_new_topic_name(name)
        .map_err(|e| refusal(&e))?;
    let partitions = if topic.assignments.is_empty() {
        check_replication_factor(broker, topic.replication_factor)?;
        partition_count(broker, topic.num_partitions)?
    } else {
        manual_partition_count(broker, topic)?
    };
    let overrides = config_overrides(topic)?;
    broker
        .store
        .defaults()
        .with_overrides(&overrides)
        .map_err(|e| refusal(&e))?;
    Ok(Plan {
        partitions,
        overrides,
    })
}

fn create(broker: &Broker, name: &str, plan: &Plan) -> Result<Uuid, Refusal> {
    let topic = broker
        .store
        .create_topic(name, plan.partitions, plan.overrides.clone())
        .map_err(|e| refusal(&e))?;
    Ok(topic.id())
}

fn partition_count(broker: &Broker, requested: i32) -> Result<u32, Refusal> {
    match requested {
        -1 => Ok(broker.config.default_partitions),
        n if n > 0 => Ok(n.unsigned_abs()),
        n => Err((
            ResponseError::InvalidPartitions,
            format!("number of partitions {n} is invalid: use a positive number, or -1 for the broker default"),
        )),
    }
}

fn check_replication_factor(broker: &Broker, requested: i16) -> Result<(), Refusal> {
    match requested {
        -1 | 1 => Ok(()),
        n if n > 1
            && broker.config.replication_factor_policy == ReplicationFactorPolicy::AcceptAny =>
        {
            Ok(())
        }
        n if n > 1 => Err((
            ResponseError::InvalidReplicationFactor,
            format!("replication factor {n} cannot be reached: this cluster has one broker"),
        )),
        n => Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "replication factor {n} is invalid: use a positive number, or -1 for the default"
            ),
        )),
    }
}

/// A manual assignment must number partitions 0..n-1 and give each a replica
/// list this node can serve; it replaces both count and factor.
fn manual_partition_count(broker: &Broker, topic: &CreatableTopic) -> Result<u32, Refusal> {
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        let message = "a manual partition assignment was given, so num_partitions and replication_factor must be -1";
        return Err((ResponseError::InvalidRequest, message.to_string()));
    }
    let mut seen = HashSet::new();
    for CreatableReplicaAssignment {
        partition_index,
        broker_ids,
        ..
    } in &topic.assignments
    {
        let in_range = usize::try_from(*partition_index).is_ok_and(|i| i < topic.assignments.len());
        if !in_range || !seen.insert(*partition_index) {
            let message = "partitions in a manual assignment must be numbered consecutively from 0";
            return Err((ResponseError::InvalidReplicaAssignment, message.to_string()));
        }
        check_replicas(broker, broker_ids).map_err(|why| {
            (
                ResponseError::InvalidReplicaAssignment,
                format!("partition {partition_index}: {why}"),
            )
        })?;
    }
    u32::try_from(topic.assignments.len()).map_err(|_| {
        (
            ResponseError::InvalidPartitions,
            "too many partitions".to_string(),
        )
    })
}

/// A replica list this node can serve: non-empty, no repeats, naming this
/// node; other brokers only when the replication factor policy accepts any.
pub(crate) fn check_replicas(broker: &Broker, replicas: &[BrokerId]) -> Result<(), String> {
    let node_id = broker.config.node_id;
    let distinct: HashSet<i32> = replicas.iter().map(|id| id.0).collect();
    if replicas.is_empty() {
        return Err("the replica list is empty".to_string());
    }
    if distinct.len() != replicas.len() {
        return Err("the replica list repeats a broker".to_string());
    }
    if !distinct.contains(&node_id) {
        return Err(format!(
            "the replica list does not name this broker ({node_id})"
        ));
    }
    if replicas.len() > 1
        && broker.config.replication_factor_policy == ReplicationFactorPolicy::Refuse
    {
        return Err(format!("only broker {node_id} exists"));
    }
    Ok(())
}

/// The request's configs as overrides. Kafka keeps the last of repeated keys.
fn config_overrides(topic: &CreatableTopic) -> Result<BTreeMap<String, String>, Refusal> {
    let mut overrides = BTreeMap::new();
    for config in &topic.configs {
        let Some(value) = &config.value else {
            let message = format!(
                "null value not supported for topic config {:?}",
                config.name.as_str()
            );
            return Err((ResponseError::InvalidConfig, message));
        };
        overrides.insert(config.name.to_string(), value.to_string());
    }
    Ok(overrides)
}

/// The items (topic names, ids) that occur more than once in `items`.
pub(crate) fn duplicates<T: Eq + Hash>(items: impl Iterator<Item = T>) -> HashSet<T> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(item, _)| item)
        .collect()
}

fn refused_result(name: &str, (error, message): Refusal) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(wire_name(name))
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}

fn created_result(
    broker: &Broker,
    version: i16,
    name: &str,
    plan: &Plan,
    id: Uuid,
) -> CreatableTopicResult {
    let mut result = CreatableTopicResult::default()
        .with_name(wire_name(name))
        .with_error_message(None);
    if version >= 5 {
        // The plan's overrides were validated, so describing them cannot fail;
        // an empty list would still be a correct (if terse) answer.
        let configs = topic_entries(broker.store.defaults(), &plan.overrides)
            .unwrap_or_default()
            .into_iter()
            .map(|entry| {
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_static_str(entry.name))
                    .with_value(Some(StrBytes::from_string(entry.value)))
                    .with_read_only(entry.read_only)
                    .with_config_source(entry.source)
                    .with_is_sensitive(false)
            })
            .collect();
        result = result
            .with_num_partitions(i32::try_from(plan.partitions).unwrap_or(i32::MAX))
            .with_replication_factor(REPLICATION_FACTOR_SERVED)
            .with_configs(Some(configs));
    }
    if version >= 7 {
        result = result.with_topic_id(id);
    }
    result
}

/// A broker over a fresh store in a temporary directory, for handler tests.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::{Broker, BrokerConfig};
    use log::{FlushPolicy, Store, StoreOptions, TopicConfig};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    pub(crate) struct TestBroker {
        pub broker: Broker,
        _dir: tempfile::TempDir,
    }

    impl std::ops::Deref for TestBroker {
        type Target = Broker;
        fn deref(&self) -> &Broker {
            &self.broker
        }
    }

    pub(crate) fn broker() -> TestBroker {
        broker_with(BrokerConfig::default(), TopicConfig::default())
    }

    pub(crate) fn broker_with(config: BrokerConfig, defaults: TopicConfig) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = StoreOptions {
            data_dir: dir.path().to_path_buf(),
            flush: FlushPolicy::Never,
            defaults,
            index_interval_bytes: 4096,
            partitions_max: 10_000,
            page_cache_window_bytes: None,
        };
        let store: Arc<Store> = Store::open(options).expect("open store");
        let broker = Broker {
            store,
            config,
            advertised_host: "127.0.0.1".to_string(),
            advertised_port: 9092,
            groups: None,
            append_failures: Default::default(),
            flush_failures: Default::default(),
            frame_pool: Default::default(),
            fetches: Default::default(),
        };
        TestBroker { broker, _dir: dir }
    }

    /// Creates `name` directly in the store.
    pub(crate) fn create_topic(broker: &Broker, name: &str, partitions: u32) {
        broker
            .store
            .create_topic(name, partitions, BTreeMap::new())
            .expect("create topic");
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{broker, broker_with, create_topic};
    use super::*;
    use crate::BrokerConfig;
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;

    fn topic(name: &str, partitions: i32, factor: i16) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(wire_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(factor)
    }

    fn with_config(
        topic: CreatableTopic,
        key: &'static str,
        value: Option<&'static str>,
    ) -> CreatableTopic {
        let mut configs = topic.configs.clone();
        configs.push(
            CreatableTopicConfig::default()
                .with_name(key.into())
                .with_value(value.map(StrBytes::from)),
        );
        topic.with_configs(configs)
    }

    fn assigned(name: &str, replicas: &[&[i32]]) -> CreatableTopic {
        let assignments = replicas
            .iter()
            .enumerate()
            .map(|(i, ids)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(i as i32)
                    .with_broker_ids(ids.iter().map(|&id| BrokerId(id)).collect())
            })
            .collect();
        topic(name, -1, -1).with_assignments(assignments)
    }

    async fn create(
        broker: &Broker,
        version: i16,
        topics: Vec<CreatableTopic>,
        validate_only: bool,
    ) -> CreateTopicsResponse {
        let request = CreateTopicsRequest::default()
            .with_topics(topics)
            .with_validate_only(validate_only);
        handle(broker, version, request).await
    }

    #[tokio::test]
    async fn bad_topics_get_kafka_error_codes() {
        let broker = broker();
        create_topic(&broker, "exists", 1);
        create_topic(&broker, "with.dot", 1);
        let cases: Vec<(CreatableTopic, ResponseError)> = vec![
            (topic("", 1, 1), ResponseError::InvalidTopicException),
            (
                topic("bad/name", 1, 1),
                ResponseError::InvalidTopicException,
            ),
            (topic("..", 1, 1), ResponseError::InvalidTopicException),
            (topic("exists", 1, 1), ResponseError::TopicAlreadyExists),
            (
                topic("with_dot", 1, 1),
                ResponseError::InvalidTopicException,
            ),
            (topic("zero", 0, 1), ResponseError::InvalidPartitions),
            (topic("negative", -2, 1), ResponseError::InvalidPartitions),
            (
                topic("factor0", 1, 0),
                ResponseError::InvalidReplicationFactor,
            ),
            (
                topic("factor-2", 1, -2),
                ResponseError::InvalidReplicationFactor,
            ),
            (
                with_config(topic("unknown-config", 1, 1), "no.such", Some("1")),
                ResponseError::InvalidConfig,
            ),
            (
                with_config(topic("bad-value", 1, 1), "retention.ms", Some("x")),
                ResponseError::InvalidConfig,
            ),
            (
                with_config(topic("null-value", 1, 1), "retention.ms", None),
                ResponseError::InvalidConfig,
            ),
            (
                with_config(topic("gzip", 1, 1), "compression.type", Some("gzip")),
                ResponseError::InvalidConfig,
            ),
            (
                assigned("other-broker", &[&[5]]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned("empty-replicas", &[&[]]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned("repeated", &[&[0, 0]]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned("gap", &[&[0]]).with_assignments(vec![
                    CreatableReplicaAssignment::default()
                        .with_partition_index(1)
                        .with_broker_ids(vec![BrokerId(0)]),
                ]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned("count-too", &[&[0]]).with_num_partitions(1),
                ResponseError::InvalidRequest,
            ),
        ];
        for (topic, expected) in cases {
            let name = topic.name.to_string();
            for validate_only in [true, false] {
                let response = create(&broker, 7, vec![topic.clone()], validate_only).await;
                let result = &response.topics[0];
                assert_eq!(
                    result.error_code,
                    expected.code(),
                    "{name:?} validate_only={validate_only}: {result:?}"
                );
                assert!(
                    result.error_message.as_ref().is_some_and(|m| !m.is_empty()),
                    "{name:?}"
                );
            }
        }
        let names: Vec<String> = broker
            .store
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .collect();
        assert_eq!(names, ["exists", "with.dot"]);
    }

    #[tokio::test]
    async fn creates_with_defaults_and_reports_effective_configs() {
        let config = BrokerConfig {
            default_partitions: 3,
            ..BrokerConfig::default()
        };
        let broker = broker_with(config, log::TopicConfig::default());
        let requested = with_config(topic("orders", -1, 3), "retention.ms", Some("1000"));
        let response = create(&broker, 7, vec![requested], false).await;
        let result = &response.topics[0];
        assert_eq!(result.error_code, 0, "{result:?}");
        assert_eq!(result.num_partitions, 3);
        assert_eq!(result.replication_factor, 1);
        let stored = broker.store.topic("orders").expect("created");
        assert_eq!(result.topic_id, stored.id());
        assert_eq!(stored.partitions().len(), 3);
        assert_eq!(stored.config().retention_ms, 1000);
        let configs = result.configs.as_ref().expect("configs");
        let retention = configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .expect("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(
            retention.config_source,
            super::super::describe_configs::SOURCE_TOPIC
        );
        let segment = configs
            .iter()
            .find(|c| c.name.as_str() == "segment.bytes")
            .expect("segment.bytes");
        assert_eq!(
            segment.config_source,
            super::super::describe_configs::SOURCE_DEFAULT
        );
    }

    #[tokio::test]
    async fn validate_only_creates_nothing() {
        let broker = broker();
        let response = create(&broker, 7, vec![topic("dry", 4, 1)], true).await;
        assert_eq!(response.topics[0].error_code, 0);
        assert_eq!(response.topics[0].num_partitions, 4);
        assert!(response.topics[0].topic_id.is_nil());
        assert!(broker.store.topic("dry").is_none());
    }

    #[tokio::test]
    async fn old_versions_leave_newer_fields_at_defaults() {
        let broker = broker();
        let response = create(&broker, 4, vec![topic("old", 2, 1)], false).await;
        let result = &response.topics[0];
        assert_eq!(result.error_code, 0);
        assert_eq!(result.num_partitions, -1);
        assert!(result.topic_id.is_nil());
        assert_eq!(
            broker.store.topic("old").map(|t| t.partitions().len()),
            Some(2)
        );
    }

    #[tokio::test]
    async fn duplicate_names_are_refused_once_and_others_proceed() {
        let broker = broker();
        let topics = vec![
            topic("twice", 1, 1),
            topic("once", 1, 1),
            topic("twice", 2, 1),
        ];
        let response = create(&broker, 7, topics, false).await;
        let codes: Vec<(String, i16)> = response
            .topics
            .iter()
            .map(|t| (t.name.to_string(), t.error_code))
            .collect();
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(
            codes,
            [("twice".to_string(), invalid), ("once".to_string(), 0)]
        );
        assert!(broker.store.topic("twice").is_none());
    }

    #[tokio::test]
    async fn replication_factor_policy_decides_factors_above_one() {
        let refuse = BrokerConfig {
            replication_factor_policy: ReplicationFactorPolicy::Refuse,
            ..BrokerConfig::default()
        };
        let cases = [
            (BrokerConfig::default(), topic("rf3", 1, 3), 0),
            (
                BrokerConfig::default(),
                assigned("rf3-manual", &[&[0, 1, 2], &[0, 2, 1]]),
                0,
            ),
            (
                refuse.clone(),
                topic("rf3", 1, 3),
                ResponseError::InvalidReplicationFactor.code(),
            ),
            (
                refuse.clone(),
                assigned("rf3-manual", &[&[0, 1]]),
                ResponseError::InvalidReplicaAssignment.code(),
            ),
            (refuse, topic("rf1", 1, 1), 0),
        ];
        for (config, requested, expected) in cases {
            let broker = broker_with(config, log::TopicConfig::default());
            let name = requested.name.to_string();
            let response = create(&broker, 7, vec![requested], false).await;
            assert_eq!(
                response.topics[0].error_code, expected,
                "{name}: {:?}",
                response.topics[0]
            );
        }
    }
}
