//! Produce (key 0): append each partition's batches, then answer once the
//! flush cycle covering all of them has run (acks=1 and acks=all), or not at
//! all (acks=0).
//!
//! Durability waits happen once per request, after every append, so one
//! group-committed fdatasync covers the whole request (and every other
//! request that appended meanwhile). Batches are validated and stored by the
//! log; nothing here looks inside them.

use super::wire_name;
use crate::server::now_ms;
use crate::{errors, Broker};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use log::{FlushTicket, LogError, Topic};
use std::sync::Arc;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let refusal = if !matches!(acks, -1..=1) {
        Some(failure(
            ResponseError::InvalidRequiredAcks,
            format!("acks must be -1, 0 or 1, not {acks}"),
        ))
    } else if request.transactional_id.is_some() {
        Some(failure(
            ResponseError::InvalidRequest,
            "transactions are not supported yet".into(),
        ))
    } else {
        None
    };
    let now_ms = now_ms();
    let mut ticket = FlushTicket::default();
    let mut responses: Vec<TopicProduceResponse> = request
        .topic_data
        .into_iter()
        .map(|topic_data| {
            let topic = broker.store.topic(&topic_data.name.0);
            append_topic(
                broker,
                topic.as_ref(),
                topic_data,
                refusal.as_ref(),
                now_ms,
                &mut ticket,
            )
        })
        .collect();
    if acks == 0 {
        return None;
    }
    if let Err(error) = broker.store.wait_durable(ticket).await {
        if let Some(unlogged) = broker.flush_failures.admit() {
            tracing::error!(%error, unlogged, "flush failed; failing the produce");
        }
        fail_appended(&mut responses, &error);
    }
    if version < 8 {
        for partition in responses
            .iter_mut()
            .flat_map(|t| t.partition_responses.iter_mut())
        {
            partition.record_errors.clear();
            partition.error_message = None;
        }
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// An error code with its message, as KIP-467 reports it.
struct Failure {
    code: i16,
    message: String,
    record_errors: Vec<BatchIndexAndErrorMessage>,
}

fn failure(error: ResponseError, message: String) -> Failure {
    Failure {
        code: error.code(),
        message,
        record_errors: Vec::new(),
    }
}

fn append_topic(
    broker: &Broker,
    topic: Option<&Arc<Topic>>,
    data: TopicProduceData,
    refusal: Option<&Failure>,
    now_ms: i64,
    ticket: &mut FlushTicket,
) -> TopicProduceResponse {
    let name = data.name.0.to_string();
    let partitions = data
        .partition_data
        .into_iter()
        .map(|partition| {
            let index = partition.index;
            let result = match (refusal, topic) {
                (Some(refusal), _) => Err(Failure {
                    code: refusal.code,
                    message: refusal.message.clone(),
                    record_errors: Vec::new(),
                }),
                (None, None) => Err(unknown_topic(&name)),
                // Kafka's ReplicaManager: clients may not append to internal
                // topics (INVALID_TOPIC_EXCEPTION); the group service does.
                (None, Some(_)) if name == crate::groups::OFFSETS_TOPIC => Err(failure(
                    ResponseError::InvalidTopicException,
                    format!("Cannot append to internal topic {name}"),
                )),
                (None, Some(topic)) => append_partition(broker, topic, partition, now_ms, ticket),
            };
            respond(index, result)
        })
        .collect();
    TopicProduceResponse::default()
        .with_name(wire_name(&name))
        .with_partition_responses(partitions)
}

/// Producing to an illegal name is INVALID_TOPIC_EXCEPTION; to a legal but
/// missing one, UNKNOWN_TOPIC_OR_PARTITION. Produce never auto-creates.
fn unknown_topic(name: &str) -> Failure {
    let error = match log::topic_name::validate(name) {
        Err(error) => error,
        Ok(()) => LogError::UnknownTopicOrPartition(name.to_owned()),
    };
    from_log_error(&error)
}

fn append_partition(
    broker: &Broker,
    topic: &Topic,
    data: PartitionProduceData,
    now_ms: i64,
    ticket: &mut FlushTicket,
) -> Result<log::AppendInfo, Failure> {
    let partition = topic.partition(data.index).ok_or_else(|| {
        from_log_error(&LogError::UnknownTopicOrPartition(format!(
            "{}-{}",
            topic.name(),
            data.index
        )))
    })?;
    let records = data
        .records
        .ok_or_else(|| failure(ResponseError::CorruptMessage, "records are null".into()))?;
    let info = partition.append(&records, now_ms).map_err(|error| {
        // A refused batch is the client's business; a failed write is the
        // operator's, who would otherwise only hear of it from clients.
        let storage = errors::kafka_error(&error) == ResponseError::KafkaStorageError;
        if !storage {
            tracing::debug!(topic = topic.name(), partition = data.index, %error, "append refused");
        } else if let Some(unlogged) = broker.append_failures.admit() {
            tracing::warn!(
                topic = topic.name(),
                partition = data.index,
                %error,
                unlogged,
                "append failed; answering KAFKA_STORAGE_ERROR"
            );
        }
        from_log_error(&error)
    })?;
    *ticket = (*ticket).max(info.ticket);
    Ok(info)
}

fn from_log_error(error: &LogError) -> Failure {
    let record_errors = match error {
        LogError::InvalidRecord { record_errors, .. } => record_errors
            .iter()
            .map(|(index, message)| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(*index)
                    .with_batch_index_error_message(Some(StrBytes::from_string(message.clone())))
            })
            .collect(),
        _ => Vec::new(),
    };
    Failure {
        code: errors::code(error),
        message: error.to_string(),
        record_errors,
    }
}

fn respond(index: i32, result: Result<log::AppendInfo, Failure>) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(index);
    match result {
        Ok(info) => response
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time_ms)
            .with_log_start_offset(info.log_start_offset),
        Err(failure) => response
            .with_error_code(failure.code)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1)
            .with_error_message(Some(StrBytes::from_string(failure.message)))
            .with_record_errors(failure.record_errors),
    }
}

/// The flush failed: nothing appended by this request may be acknowledged.
fn fail_appended(responses: &mut [TopicProduceResponse], error: &LogError) {
    for partition in responses
        .iter_mut()
        .flat_map(|t| t.partition_responses.iter_mut())
    {
        if partition.error_code == 0 {
            partition.error_code = errors::code(error);
            partition.error_message = Some(StrBytes::from_string(error.to_string()));
            partition.base_offset = -1;
        }
    }
}
