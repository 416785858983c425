//! DeleteTopics (key 20): deletes topics by name (v1-v5) or by name or topic
//! id (v6), one answer per requested topic.
//!
//! Deleting the files is the store's job; this file only resolves what each
//! entry names and reports what happened.

use super::create_topics::duplicates;
use super::describe_configs::{refusal, Refusal};
use super::wire_name;
use crate::Broker;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::LogError;
use uuid::Uuid;

/// One requested deletion: by name, or (v6) by topic id.
struct Target {
    name: Option<String>,
    id: Uuid,
}

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let targets: Vec<Target> = if version >= 6 {
        let to_target = |state: &DeleteTopicState| Target {
            name: state.name.as_ref().map(|name| name.to_string()),
            id: state.topic_id,
        };
        request.topics.iter().map(to_target).collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|name| Target {
                name: Some(name.to_string()),
                id: Uuid::nil(),
            })
            .collect()
    };
    let duplicate_names = duplicates(targets.iter().filter_map(|t| t.name.as_deref()));
    let duplicate_ids = duplicates(targets.iter().map(|t| t.id).filter(|id| !id.is_nil()));
    let responses = targets
        .iter()
        .map(|target| {
            let duplicated = target
                .name
                .as_deref()
                .is_some_and(|n| duplicate_names.contains(n))
                || duplicate_ids.contains(&target.id);
            let outcome = if duplicated {
                Err((
                    ResponseError::InvalidRequest,
                    "the same topic is named twice in one request".to_string(),
                ))
            } else {
                delete(broker, target)
            };
            result(version, target, outcome)
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// Deletes what `target` names and returns the deleted topic's name.
fn delete(broker: &Broker, target: &Target) -> Result<String, Refusal> {
    let name = match (&target.name, target.id.is_nil()) {
        (Some(_), false) => {
            let message = "give either a topic name or a topic id, not both".to_string();
            return Err((ResponseError::InvalidRequest, message));
        }
        (None, true) => {
            return Err((
                ResponseError::InvalidRequest,
                "neither topic name nor id given".to_string(),
            ))
        }
        (Some(name), true) => name.clone(),
        (None, false) => match broker.store.topic_by_id(target.id) {
            Some(topic) => topic.name().to_string(),
            None => {
                return Err((
                    ResponseError::UnknownTopicId,
                    format!("no topic has id {}", target.id),
                ))
            }
        },
    };
    if broker.store.topic(&name).is_none() {
        return Err(refusal(&LogError::UnknownTopicOrPartition(name)));
    }
    if name == crate::groups::OFFSETS_TOPIC {
        let message = format!("{name} is internal: it holds every group's committed offsets");
        return Err((ResponseError::InvalidTopicException, message));
    }
    broker.store.delete_topic(&name).map_err(|e| refusal(&e))?;
    Ok(name)
}

fn result(version: i16, target: &Target, outcome: Result<String, Refusal>) -> DeletableTopicResult {
    let (name, error) = match outcome {
        Ok(name) => (Some(name), None),
        Err(refused) => (target.name.clone(), Some(refused)),
    };
    let mut result = DeletableTopicResult::default().with_name(name.as_deref().map(wire_name));
    if version >= 6 {
        result = result.with_topic_id(target.id);
    }
    if let Some((error, message)) = error {
        result = result.with_error_code(error.code());
        if version >= 5 {
            result = result.with_error_message(Some(StrBytes::from_string(message)));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, create_topic};
    use super::*;

    fn by_names(names: &[&str]) -> DeleteTopicsRequest {
        DeleteTopicsRequest::default()
            .with_topic_names(names.iter().map(|n| wire_name(n)).collect())
    }

    #[tokio::test]
    async fn deletes_by_name_and_reports_unknown_names() {
        let broker = broker();
        create_topic(&broker, "a", 2);
        for version in [1, 5] {
            let response = handle(&broker, version, by_names(&["a", "missing"])).await;
            let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
            let a_code = if version == 1 {
                0
            } else {
                ResponseError::UnknownTopicOrPartition.code()
            };
            assert_eq!(
                codes,
                [a_code, ResponseError::UnknownTopicOrPartition.code()]
            );
            assert_eq!(response.responses[1].error_message.is_some(), version >= 5);
        }
        assert!(broker.store.topic("a").is_none());
    }

    #[tokio::test]
    async fn v6_deletes_by_id_and_refuses_bad_entries() {
        let broker = broker();
        create_topic(&broker, "by-id", 1);
        create_topic(&broker, "twice", 1);
        let id = broker.store.topic("by-id").expect("topic").id();
        let state = |name: Option<&str>, id: Uuid| {
            DeleteTopicState::default()
                .with_name(name.map(wire_name))
                .with_topic_id(id)
        };
        let cases = [
            (state(None, id), 0, Some("by-id")),
            (
                state(None, Uuid::from_u128(7)),
                ResponseError::UnknownTopicId.code(),
                None,
            ),
            (
                state(Some("twice"), Uuid::from_u128(9)),
                ResponseError::InvalidRequest.code(),
                Some("twice"),
            ),
            (
                state(None, Uuid::nil()),
                ResponseError::InvalidRequest.code(),
                None,
            ),
        ];
        for (entry, expected, name) in cases {
            let request = DeleteTopicsRequest::default().with_topics(vec![entry.clone()]);
            let response = handle(&broker, 6, request).await;
            let result = &response.responses[0];
            assert_eq!(result.error_code, expected, "{entry:?}: {result:?}");
            assert_eq!(result.name.as_ref().map(|n| n.to_string()).as_deref(), name);
            assert_eq!(result.topic_id, entry.topic_id);
        }
        assert!(broker.store.topic("by-id").is_none());
        assert!(broker.store.topic("twice").is_some());
    }

    #[tokio::test]
    async fn duplicate_names_are_refused() {
        let broker = broker();
        create_topic(&broker, "dup", 1);
        let response = handle(&broker, 5, by_names(&["dup", "dup"])).await;
        assert!(response
            .responses
            .iter()
            .all(|r| r.error_code == ResponseError::InvalidRequest.code()));
        assert!(broker.store.topic("dup").is_some());
    }
}
