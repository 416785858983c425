//! AlterConfigs (key 33), the legacy form: the request's configs replace a
//! topic's whole override set, so keys left out return to their defaults.
//!
//! Broker settings come from flags, environment and TOML at startup and are
//! read-only here. The incremental form lives in `incremental_alter_configs`.

use super::create_topics::duplicates;
use super::describe_configs::{
    check_broker_name, existing_topic, refusal, Refusal, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::Broker;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::Topic;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn handle(
    broker: &Broker,
    _version: i16,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|resource| {
            let outcome = alter(broker, resource, request.validate_only);
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match outcome {
                Ok(()) => response.with_error_message(None),
                Err((error, message)) => response
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    let name = resource.resource_name.as_str();
    let keys: Vec<&str> = resource.configs.iter().map(|c| c.name.as_str()).collect();
    if alterable_topic(broker, resource.resource_type, name, &keys)?.is_none() {
        return Ok(());
    }
    let mut overrides = BTreeMap::new();
    for config in &resource.configs {
        let Some(value) = &config.value else {
            let message = format!(
                "null value not supported for topic config {:?}",
                config.name.as_str()
            );
            return Err((ResponseError::InvalidRequest, message));
        };
        overrides.insert(config.name.to_string(), value.to_string());
    }
    broker
        .store
        .defaults()
        .with_overrides(&overrides)
        .map_err(|e| refusal(&e))?;
    if validate_only {
        return Ok(());
    }
    broker
        .store
        .set_topic_overrides(name, overrides)
        .map_err(|e| refusal(&e))
}

/// Broker settings cannot change at runtime. A request that changes nothing
/// (no configs) succeeds, as it would on Kafka.
/// What both alter APIs check before changing anything: the resource is a
/// topic that exists, and no key is named twice. A broker resource is
/// read-only here (its settings come from flags, environment and TOML), so
/// it is `Ok(None)` when it asks for no change and refused otherwise.
pub(crate) fn alterable_topic(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    keys: &[&str],
) -> Result<Option<Arc<Topic>>, Refusal> {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            check_broker_name(broker, name)?;
            if keys.is_empty() {
                return Ok(None);
            }
            let message = "broker configs are read-only in Weir: set them with flags, environment or TOML at startup";
            return Err((ResponseError::InvalidRequest, message.to_string()));
        }
        other => {
            let message = format!("unsupported resource type {other}");
            return Err((ResponseError::InvalidRequest, message));
        }
    }
    let topic = existing_topic(broker, name)?;
    check_unique_keys(keys.iter().copied())?;
    Ok(Some(topic))
}

/// Kafka refuses a resource that names one key twice.
fn check_unique_keys<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), Refusal> {
    let repeated = duplicates(names);
    match repeated.iter().next() {
        None => Ok(()),
        Some(name) => Err((
            ResponseError::InvalidRequest,
            format!("config {name:?} is given more than once"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, create_topic};
    use super::*;
    use kafka_protocol::messages::alter_configs_request::AlterableConfig;

    fn resource(
        kind: i8,
        name: &'static str,
        configs: &[(&'static str, Option<&'static str>)],
    ) -> AlterConfigsResource {
        let configs = configs
            .iter()
            .map(|&(key, value)| {
                AlterableConfig::default()
                    .with_name(key.into())
                    .with_value(value.map(StrBytes::from))
            })
            .collect();
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(name.into())
            .with_configs(configs)
    }

    async fn alter_one(
        broker: &crate::Broker,
        resource: AlterConfigsResource,
        validate_only: bool,
    ) -> i16 {
        let request = AlterConfigsRequest::default()
            .with_resources(vec![resource])
            .with_validate_only(validate_only);
        let response = handle(broker, 2, request).await;
        let result = &response.responses[0];
        if result.error_code != 0 {
            assert!(result.error_message.as_ref().is_some_and(|m| !m.is_empty()));
        }
        result.error_code
    }

    #[tokio::test]
    async fn bad_resources_get_kafka_error_codes() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let cases = [
            (
                resource(RESOURCE_TOPIC, "missing", &[]),
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                resource(RESOURCE_TOPIC, "bad/name", &[]),
                ResponseError::InvalidTopicException,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("no.such", Some("1"))]),
                ResponseError::InvalidConfig,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("retention.ms", Some("-5"))]),
                ResponseError::InvalidConfig,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("retention.ms", None)]),
                ResponseError::InvalidRequest,
            ),
            (
                resource(
                    RESOURCE_TOPIC,
                    "t",
                    &[("retention.ms", Some("1")), ("retention.ms", Some("2"))],
                ),
                ResponseError::InvalidRequest,
            ),
            (
                resource(RESOURCE_BROKER, "0", &[("log.retention.ms", Some("1"))]),
                ResponseError::InvalidRequest,
            ),
            (
                resource(RESOURCE_BROKER, "7", &[]),
                ResponseError::InvalidRequest,
            ),
            (resource(8, "0", &[]), ResponseError::InvalidRequest),
        ];
        for (resource, expected) in cases {
            for validate_only in [true, false] {
                assert_eq!(
                    alter_one(&broker, resource.clone(), validate_only).await,
                    expected.code(),
                    "{resource:?}"
                );
            }
        }
        assert!(broker.store.topic("t").expect("t").overrides().is_empty());
    }

    #[tokio::test]
    async fn replaces_the_whole_override_set() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let first = resource(
            RESOURCE_TOPIC,
            "t",
            &[
                ("retention.ms", Some("1000")),
                ("cleanup.policy", Some("compact")),
            ],
        );
        assert_eq!(alter_one(&broker, first, false).await, 0);
        let second = resource(RESOURCE_TOPIC, "t", &[("segment.bytes", Some("4096"))]);
        assert_eq!(alter_one(&broker, second.clone(), true).await, 0);
        assert_eq!(
            broker.store.topic("t").expect("t").overrides().len(),
            2,
            "validate_only changed nothing"
        );
        assert_eq!(alter_one(&broker, second, false).await, 0);
        let topic = broker.store.topic("t").expect("t");
        let keys: Vec<String> = topic.overrides().into_keys().collect();
        assert_eq!(keys, ["segment.bytes"]);
        assert_eq!(
            topic.config().retention_ms,
            log::TopicConfig::default().retention_ms
        );
        assert_eq!(topic.config().segment_bytes, 4096);
        assert_eq!(
            alter_one(&broker, resource(RESOURCE_BROKER, "0", &[]), false).await,
            0
        );
    }
}
