//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT single
//! keys of a topic's overrides, leaving the other overrides as they are.
//!
//! The whole resulting override set is validated by the `log` crate before it
//! is stored with `Store::set_topic_overrides`; one bad operation leaves the
//! topic unchanged. Broker settings are read-only here (see `alter_configs`).

use super::alter_configs::alterable_topic;
use super::describe_configs::{refusal, Refusal};
use crate::Broker;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::config::{config_key, ConfigType};
use log::TopicConfig;
use std::collections::BTreeMap;

/// Kafka `AlterConfigOp.OpType` codes.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub(crate) async fn handle(
    broker: &Broker,
    _version: i16,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    let name = resource.resource_name.as_str();
    let keys: Vec<&str> = resource.configs.iter().map(|c| c.name.as_str()).collect();
    let Some(topic) = alterable_topic(broker, resource.resource_type, name, &keys)? else {
        return Ok(());
    };
    let defaults = broker.store.defaults();
    let mut overrides = topic.overrides();
    for op in &resource.configs {
        apply(defaults, &mut overrides, op)?;
    }
    defaults
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

/// Applies one operation to `overrides`. APPEND and SUBTRACT start from the
/// override if there is one, else from the broker default.
fn apply(
    defaults: &TopicConfig,
    overrides: &mut BTreeMap<String, String>,
    op: &AlterableConfig,
) -> Result<(), Refusal> {
    let name = op.name.as_str();
    let Some(key) = config_key(name) else {
        return Err((
            ResponseError::InvalidConfig,
            format!("unknown topic config {name:?}"),
        ));
    };
    let value = match (op.config_operation, &op.value) {
        (OP_DELETE, _) => {
            overrides.remove(name);
            return Ok(());
        }
        (OP_SET | OP_APPEND | OP_SUBTRACT, Some(value)) => value.as_str(),
        (OP_SET | OP_APPEND | OP_SUBTRACT, None) => {
            return Err((
                ResponseError::InvalidRequest,
                format!("null value not supported for {name:?}"),
            ));
        }
        (other, _) => {
            return Err((
                ResponseError::InvalidRequest,
                format!("unknown config operation {other}"),
            ))
        }
    };
    if op.config_operation == OP_SET {
        overrides.insert(name.to_string(), value.to_string());
        return Ok(());
    }
    if key.kind != ConfigType::List {
        let message =
            format!("APPEND and SUBTRACT apply to list configs only, and {name} is not one");
        return Err((ResponseError::InvalidConfig, message));
    }
    let current = overrides
        .get(name)
        .cloned()
        .or_else(|| defaults.value_of(name))
        .unwrap_or_default();
    let mut items: Vec<&str> = list_items(&current).collect();
    for item in list_items(value) {
        if op.config_operation == OP_APPEND && !items.contains(&item) {
            items.push(item);
        } else if op.config_operation == OP_SUBTRACT {
            items.retain(|existing| *existing != item);
        }
    }
    overrides.insert(name.to_string(), items.join(","));
    Ok(())
}

fn list_items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, create_topic};
    use super::*;
    use crate::handlers::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};

    type Op = (&'static str, i8, Option<&'static str>);

    fn resource(kind: i8, name: &'static str, ops: &[Op]) -> AlterConfigsResource {
        let configs = ops
            .iter()
            .map(|&(key, op, value)| {
                AlterableConfig::default()
                    .with_name(key.into())
                    .with_config_operation(op)
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
        let request = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![resource])
            .with_validate_only(validate_only);
        let response = handle(broker, 1, request).await;
        let result = &response.responses[0];
        if result.error_code != 0 {
            assert!(result.error_message.as_ref().is_some_and(|m| !m.is_empty()));
        }
        result.error_code
    }

    #[tokio::test]
    async fn bad_operations_get_kafka_error_codes_and_change_nothing() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let cases = [
            (
                resource(RESOURCE_TOPIC, "missing", &[]),
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("no.such", OP_SET, Some("1"))]),
                ResponseError::InvalidConfig,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("no.such", OP_DELETE, None)]),
                ResponseError::InvalidConfig,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("segment.ms", OP_SET, Some("0"))]),
                ResponseError::InvalidConfig,
            ),
            (
                resource(
                    RESOURCE_TOPIC,
                    "t",
                    &[("retention.ms", OP_APPEND, Some("1"))],
                ),
                ResponseError::InvalidConfig,
            ),
            (
                resource(
                    RESOURCE_TOPIC,
                    "t",
                    &[("cleanup.policy", OP_APPEND, Some("x"))],
                ),
                ResponseError::InvalidConfig,
            ),
            (
                resource(
                    RESOURCE_TOPIC,
                    "t",
                    &[("cleanup.policy", OP_SUBTRACT, Some("delete"))],
                ),
                ResponseError::InvalidConfig,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("retention.ms", OP_SET, None)]),
                ResponseError::InvalidRequest,
            ),
            (
                resource(RESOURCE_TOPIC, "t", &[("retention.ms", 9, Some("1"))]),
                ResponseError::InvalidRequest,
            ),
            (
                resource(
                    RESOURCE_TOPIC,
                    "t",
                    &[
                        ("retention.ms", OP_SET, Some("1")),
                        ("retention.ms", OP_DELETE, None),
                    ],
                ),
                ResponseError::InvalidRequest,
            ),
            (
                resource(
                    RESOURCE_TOPIC,
                    "t",
                    &[
                        ("retention.ms", OP_SET, Some("1")),
                        ("segment.ms", OP_SET, Some("0")),
                    ],
                ),
                ResponseError::InvalidConfig,
            ),
            (
                resource(
                    RESOURCE_BROKER,
                    "0",
                    &[("log.retention.ms", OP_SET, Some("1"))],
                ),
                ResponseError::InvalidRequest,
            ),
            (resource(16, "x", &[]), ResponseError::InvalidRequest),
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
    async fn operations_change_only_their_keys() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let steps: &[(Op, &[(&str, &str)])] = &[
            (
                ("retention.ms", OP_SET, Some("1000")),
                &[("retention.ms", "1000")],
            ),
            (
                ("cleanup.policy", OP_APPEND, Some("compact")),
                &[
                    ("cleanup.policy", "delete,compact"),
                    ("retention.ms", "1000"),
                ],
            ),
            (
                ("cleanup.policy", OP_SUBTRACT, Some("delete")),
                &[("cleanup.policy", "compact"), ("retention.ms", "1000")],
            ),
            (
                ("retention.ms", OP_DELETE, None),
                &[("cleanup.policy", "compact")],
            ),
            (
                ("retention.ms", OP_DELETE, None),
                &[("cleanup.policy", "compact")],
            ),
        ];
        for (op, expected) in steps {
            assert_eq!(
                alter_one(&broker, resource(RESOURCE_TOPIC, "t", &[*op]), true).await,
                0,
                "{op:?}"
            );
            assert_eq!(
                alter_one(&broker, resource(RESOURCE_TOPIC, "t", &[*op]), false).await,
                0,
                "{op:?}"
            );
            let overrides = broker.store.topic("t").expect("t").overrides();
            let got: Vec<(&str, &str)> = overrides
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, *expected, "after {op:?}");
        }
        let config = broker.store.topic("t").expect("t").config();
        assert_eq!(config.cleanup_policy, log::config::CleanupPolicy::Compact);
    }
}
