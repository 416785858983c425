//! DescribeConfigs (key 32): a topic's effective configs with where each value
//! comes from, and this broker's defaults under Kafka's broker setting names.
//!
//! Also home of what the other config handlers share: resource type codes,
//! the source of each topic config value, and the check that a BROKER
//! resource names this node. Parsing and validating values is the `log`
//! crate's job (`log::config`); nothing here interprets a value.

use crate::{errors, Broker};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::config::{ConfigType, KEYS};
use log::{LogError, Topic, TopicConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Kafka `ConfigResource.Type` codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Kafka `ConfigSource` codes.
pub(crate) const SOURCE_TOPIC: i8 = 1;
pub(crate) const SOURCE_STATIC_BROKER: i8 = 4;
pub(crate) const SOURCE_DEFAULT: i8 = 5;

/// A per-resource refusal: the Kafka error and a message for the client.
pub(crate) type Refusal = (ResponseError, String);

pub(crate) fn refusal(error: &LogError) -> Refusal {
    (errors::kafka_error(error), error.to_string())
}

/// One config as a client sees it: value, where it came from, and the
/// settings it could have come from (highest precedence first).
pub(crate) struct Entry {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
    pub kind: ConfigType,
    pub doc: &'static str,
    pub read_only: bool,
    pub synonyms: Vec<(String, String, i8)>,
}

/// Every topic config key with its effective value for a topic with
/// `overrides` over the broker `defaults`.
pub(crate) fn topic_entries(
    defaults: &TopicConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<Vec<Entry>, LogError> {
    let effective = defaults.with_overrides(overrides)?;
    let kafka_defaults = TopicConfig::default();
    let entries = KEYS.iter().filter_map(|key| {
        let value = effective.value_of(key.name)?;
        let broker_value = defaults.value_of(key.name)?;
        let broker_is_set =
            kafka_defaults.value_of(key.name).as_deref() != Some(broker_value.as_str());
        let mut synonyms = Vec::new();
        if overrides.contains_key(key.name) {
            synonyms.push((key.name.to_string(), value.clone(), SOURCE_TOPIC));
        }
        if broker_is_set {
            synonyms.push((
                key.broker_name.to_string(),
                broker_value,
                SOURCE_STATIC_BROKER,
            ));
        }
        synonyms.push((
            key.broker_name.to_string(),
            key.kafka_default.to_string(),
            SOURCE_DEFAULT,
        ));
        Some(Entry {
            name: key.name,
            value,
            source: synonyms[0].2,
            kind: key.kind,
            doc: key.doc,
            read_only: false,
            synonyms,
        })
    });
    Ok(entries.collect())
}

/// The broker's own settings under Kafka's names: read-only, since Weir takes
/// them from flags, environment and TOML at startup.
pub(crate) fn broker_entries(broker: &Broker) -> Vec<Entry> {
    let node_id = broker.config.node_id.to_string();
    let data_dir = broker.store.data_dir().display().to_string();
    let fixed: [(&'static str, String, &str, ConfigType, &'static str); 6] = [
        (
            "auto.create.topics.enable",
            broker.config.auto_create_topics.to_string(),
            "true",
            ConfigType::Boolean,
            "Whether Metadata requests create unknown topics.",
        ),
        (
            "broker.id",
            node_id.clone(),
            "-1",
            ConfigType::Int,
            "This broker's id.",
        ),
        (
            "default.replication.factor",
            "1".to_string(),
            "1",
            ConfigType::Int,
            "Replicas of auto-created topics; a single node keeps one.",
        ),
        (
            "log.dirs",
            data_dir,
            "/tmp/kafka-logs",
            ConfigType::String,
            "The data directory.",
        ),
        ("node.id", node_id, "-1", ConfigType::Int, "This node's id."),
        (
            "num.partitions",
            broker.config.default_partitions.to_string(),
            "1",
            ConfigType::Int,
            "Partitions of auto-created topics and of CreateTopics asking for the default.",
        ),
    ];
    let defaults = broker.store.defaults();
    let from_topic_keys = KEYS.iter().filter_map(|key| {
        let value = defaults.value_of(key.name)?;
        Some((key.broker_name, value, key.kafka_default, key.kind, key.doc))
    });
    let mut entries: Vec<Entry> = fixed
        .into_iter()
        .chain(from_topic_keys)
        .map(|(name, value, kafka_default, kind, doc)| {
            let source = if value == kafka_default {
                SOURCE_DEFAULT
            } else {
                SOURCE_STATIC_BROKER
            };
            let synonyms = vec![(name.to_string(), value.clone(), source)];
            Entry {
                name,
                value,
                source,
                kind,
                doc,
                read_only: true,
                synonyms,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    entries
}

/// Checks that a BROKER resource name is this node's id. The empty name means
/// the cluster-wide dynamic defaults, of which Weir has none.
pub(crate) fn check_broker_name(broker: &Broker, name: &str) -> Result<(), Refusal> {
    if name.is_empty() || name.parse::<i32>().ok() == Some(broker.config.node_id) {
        return Ok(());
    }
    Err((
        ResponseError::InvalidRequest,
        format!(
            "unexpected broker id {name:?}: this broker is {}",
            broker.config.node_id
        ),
    ))
}

/// DescribeConfigs v3+ `ConfigType` codes.
pub(crate) fn type_code(kind: ConfigType) -> i8 {
    match kind {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Short => 4,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let options = Options {
        version,
        include_synonyms: request.include_synonyms,
        include_documentation: version >= 3 && request.include_documentation,
    };
    let results = request
        .resources
        .into_iter()
        .map(|resource| describe(broker, &options, resource))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

struct Options {
    version: i16,
    include_synonyms: bool,
    include_documentation: bool,
}

fn describe(
    broker: &Broker,
    options: &Options,
    resource: DescribeConfigsResource,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => topic_entries_by_name(broker, &resource.resource_name),
        RESOURCE_BROKER if resource.resource_name.is_empty() => Ok(Vec::new()),
        RESOURCE_BROKER => {
            check_broker_name(broker, &resource.resource_name).map(|()| broker_entries(broker))
        }
        other => Err((
            ResponseError::InvalidRequest,
            format!("unsupported resource type {other}"),
        )),
    };
    match entries {
        Ok(entries) => {
            let wanted = resource.configuration_keys.as_ref();
            let configs = entries
                .into_iter()
                .filter(|entry| match wanted {
                    None => true,
                    Some(keys) => keys.iter().any(|key| **key == *entry.name),
                })
                .map(|entry| render(options, entry))
                .collect();
            result.with_error_message(None).with_configs(configs)
        }
        Err((error, message)) => result
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(message))),
    }
}

fn topic_entries_by_name(broker: &Broker, name: &str) -> Result<Vec<Entry>, Refusal> {
    let topic = existing_topic(broker, name)?;
    topic_entries(broker.store.defaults(), &topic.overrides()).map_err(|e| refusal(&e))
}

/// The topic a TOPIC resource names: INVALID_TOPIC_EXCEPTION for an illegal
/// name, UNKNOWN_TOPIC_OR_PARTITION for a missing one, as Kafka checks.
pub(crate) fn existing_topic(broker: &Broker, name: &str) -> Result<Arc<Topic>, Refusal> {
    log::topic_name::validate(name).map_err(|e| refusal(&e))?;
    broker
        .store
        .topic(name)
        .ok_or_else(|| refusal(&LogError::UnknownTopicOrPartition(name.to_string())))
}

fn render(options: &Options, entry: Entry) -> DescribeConfigsResourceResult {
    let synonyms = if options.include_synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(name))
                    .with_value(Some(StrBytes::from_string(value)))
                    .with_source(source)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(entry.name))
        .with_value(Some(StrBytes::from_string(entry.value)))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source)
        .with_is_sensitive(false)
        .with_synonyms(synonyms);
    if options.version >= 3 {
        let documentation = options
            .include_documentation
            .then(|| StrBytes::from_static_str(entry.doc));
        result = result
            .with_config_type(type_code(entry.kind))
            .with_documentation(documentation);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, broker_with, create_topic};
    use super::*;
    use crate::BrokerConfig;

    fn resource(
        kind: i8,
        name: &'static str,
        keys: Option<&[&'static str]>,
    ) -> DescribeConfigsResource {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(name.into())
            .with_configuration_keys(
                keys.map(|keys| keys.iter().map(|&k| StrBytes::from(k)).collect()),
            )
    }

    async fn describe_one(
        broker: &Broker,
        version: i16,
        resource: DescribeConfigsResource,
        synonyms: bool,
        documentation: bool,
    ) -> DescribeConfigsResult {
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![resource])
            .with_include_synonyms(synonyms)
            .with_include_documentation(documentation);
        handle(broker, version, request).await.results.remove(0)
    }

    fn find<'a>(
        result: &'a DescribeConfigsResult,
        name: &str,
    ) -> &'a DescribeConfigsResourceResult {
        result
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[tokio::test]
    async fn bad_resources_get_kafka_error_codes() {
        let broker = broker();
        let cases = [
            (
                resource(RESOURCE_TOPIC, "missing", None),
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                resource(RESOURCE_TOPIC, "bad/name", None),
                ResponseError::InvalidTopicException,
            ),
            (
                resource(RESOURCE_BROKER, "3", None),
                ResponseError::InvalidRequest,
            ),
            (
                resource(RESOURCE_BROKER, "zero", None),
                ResponseError::InvalidRequest,
            ),
            (resource(8, "0", None), ResponseError::InvalidRequest),
            (resource(32, "group", None), ResponseError::InvalidRequest),
        ];
        for (resource, expected) in cases {
            let result = describe_one(&broker, 4, resource.clone(), false, false).await;
            assert_eq!(result.error_code, expected.code(), "{resource:?}");
            assert!(result.error_message.is_some_and(|m| !m.is_empty()));
            assert!(result.configs.is_empty());
        }
    }

    #[tokio::test]
    async fn topic_sources_tell_override_from_broker_setting_from_default() {
        let defaults = TopicConfig {
            retention_bytes: 1_000_000,
            ..TopicConfig::default()
        };
        let broker = broker_with(BrokerConfig::default(), defaults);
        create_topic(&broker, "t", 1);
        let overrides = [("retention.ms".to_string(), "1000".to_string())].into();
        broker
            .store
            .set_topic_overrides("t", overrides)
            .expect("set");
        let result =
            describe_one(&broker, 4, resource(RESOURCE_TOPIC, "t", None), true, true).await;
        assert_eq!(result.error_code, 0);
        assert_eq!(result.configs.len(), KEYS.len());
        let cases = [
            ("retention.ms", "1000", SOURCE_TOPIC, 5, 2),
            ("retention.bytes", "1000000", SOURCE_STATIC_BROKER, 5, 2),
            ("segment.bytes", "1073741824", SOURCE_DEFAULT, 3, 1),
            ("cleanup.policy", "delete", SOURCE_DEFAULT, 7, 1),
            ("min.insync.replicas", "1", SOURCE_DEFAULT, 3, 1),
        ];
        for (name, value, source, type_code, synonyms) in cases {
            let config = find(&result, name);
            assert_eq!(config.value.as_deref(), Some(value), "{name}");
            assert_eq!(config.config_source, source, "{name}");
            assert_eq!(config.config_type, type_code, "{name}");
            assert_eq!(config.synonyms.len(), synonyms, "{name}");
            assert_eq!(config.synonyms[0].source, source, "{name}");
            assert!(!config.read_only && !config.is_sensitive);
            assert!(config.documentation.as_ref().is_some_and(|d| !d.is_empty()));
        }
        assert_eq!(
            find(&result, "retention.bytes").synonyms[0].name.as_str(),
            "log.retention.bytes"
        );
    }

    #[tokio::test]
    async fn requested_keys_and_version_gated_fields() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let wanted = resource(RESOURCE_TOPIC, "t", Some(&["segment.ms", "no.such.key"]));
        let result = describe_one(&broker, 4, wanted, false, false).await;
        let names: Vec<&str> = result.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["segment.ms"]);
        assert!(result.configs[0].synonyms.is_empty());
        assert_eq!(result.configs[0].documentation, None);
        let old = describe_one(&broker, 2, resource(RESOURCE_TOPIC, "t", None), true, true).await;
        let default = DescribeConfigsResourceResult::default();
        for config in &old.configs {
            assert_eq!(
                (config.config_type, &config.documentation),
                (default.config_type, &default.documentation)
            );
        }
        let none = describe_one(
            &broker,
            1,
            resource(RESOURCE_TOPIC, "t", Some(&[])),
            false,
            false,
        )
        .await;
        assert!(none.configs.is_empty());
    }

    #[tokio::test]
    async fn broker_resource_reports_read_only_broker_names() {
        let config = BrokerConfig {
            default_partitions: 4,
            node_id: 2,
            ..BrokerConfig::default()
        };
        let broker = broker_with(config, TopicConfig::default());
        let result = describe_one(
            &broker,
            4,
            resource(RESOURCE_BROKER, "2", None),
            false,
            false,
        )
        .await;
        assert_eq!(result.error_code, 0);
        assert!(result.configs.iter().all(|c| c.read_only));
        let num_partitions = find(&result, "num.partitions");
        assert_eq!(
            (
                num_partitions.value.as_deref(),
                num_partitions.config_source
            ),
            (Some("4"), SOURCE_STATIC_BROKER)
        );
        let retention = find(&result, "log.retention.ms");
        assert_eq!(
            (retention.value.as_deref(), retention.config_source),
            (Some("604800000"), SOURCE_DEFAULT)
        );
        for name in [
            "log.segment.bytes",
            "log.roll.ms",
            "message.max.bytes",
            "auto.create.topics.enable",
            "log.dirs",
        ] {
            find(&result, name);
        }
        let cluster_defaults = describe_one(
            &broker,
            4,
            resource(RESOURCE_BROKER, "", None),
            false,
            false,
        )
        .await;
        assert_eq!(cluster_defaults.error_code, 0);
        assert!(cluster_defaults.configs.is_empty());
    }
}
