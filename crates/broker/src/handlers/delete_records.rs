//! DeleteRecords (key 21): moves partitions' log start offsets forward, so
//! records below the requested offsets can no longer be read.
//!
//! The store decides what "before offset" means (-1 is the high watermark)
//! and drops whole segments; this file only routes each partition and reports
//! the new low watermark or the error.

use crate::{errors, Broker};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use log::{LogError, Topic};
use std::sync::Arc;

/// The low watermark reported when a partition could not be changed.
const LOW_WATERMARK_UNKNOWN: i64 = -1;

pub(crate) async fn handle(
    broker: &Broker,
    _version: i16,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| delete_in_topic(broker, topic))
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete_in_topic(broker: &Broker, request: &DeleteRecordsTopic) -> DeleteRecordsTopicResult {
    let topic = broker.store.topic(request.name.as_str());
    let partitions = request
        .partitions
        .iter()
        .map(|partition| {
            let result = DeleteRecordsPartitionResult::default()
                .with_partition_index(partition.partition_index);
            match delete_in_partition(topic.as_ref(), request.name.as_str(), partition) {
                Ok(low_watermark) => result.with_low_watermark(low_watermark),
                Err(error) => result
                    .with_low_watermark(LOW_WATERMARK_UNKNOWN)
                    .with_error_code(errors::code(&error)),
            }
        })
        .collect();
    DeleteRecordsTopicResult::default()
        .with_name(request.name.clone())
        .with_partitions(partitions)
}

fn delete_in_partition(
    topic: Option<&Arc<Topic>>,
    name: &str,
    request: &DeleteRecordsPartition,
) -> Result<i64, LogError> {
    let unknown =
        || LogError::UnknownTopicOrPartition(format!("{name}-{}", request.partition_index));
    let partition = topic
        .and_then(|topic| topic.partition(request.partition_index))
        .ok_or_else(unknown)?;
    if request.offset < -1 {
        // Kafka answers OFFSET_OUT_OF_RANGE for offsets below -1; the store
        // is only ever asked about offsets that can exist.
        let offsets = partition.offsets();
        return Err(LogError::OffsetOutOfRange {
            requested: request.offset,
            log_start: offsets.log_start,
            log_end: offsets.log_end,
        });
    }
    partition.delete_records_before(request.offset)
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, create_topic};
    use super::super::wire_name;
    use super::*;
    use kafka_protocol::ResponseError;

    fn request(topic: &str, partitions: &[(i32, i64)]) -> DeleteRecordsRequest {
        let partitions = partitions
            .iter()
            .map(|&(index, offset)| {
                DeleteRecordsPartition::default()
                    .with_partition_index(index)
                    .with_offset(offset)
            })
            .collect();
        DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
            .with_name(wire_name(topic))
            .with_partitions(partitions)])
    }

    #[tokio::test]
    async fn unknown_partitions_and_bad_offsets_get_kafka_error_codes() {
        let broker = broker();
        create_topic(&broker, "t", 2);
        let cases = [
            ("missing", 0, 0, ResponseError::UnknownTopicOrPartition),
            ("t", 2, 0, ResponseError::UnknownTopicOrPartition),
            ("t", -1, 0, ResponseError::UnknownTopicOrPartition),
            ("t", 0, 5, ResponseError::OffsetOutOfRange),
            ("t", 0, -2, ResponseError::OffsetOutOfRange),
        ];
        for (topic, partition, offset, expected) in cases {
            let response = handle(&broker, 2, request(topic, &[(partition, offset)])).await;
            let result = &response.topics[0].partitions[0];
            assert_eq!(
                result.error_code,
                expected.code(),
                "{topic}-{partition}@{offset}"
            );
            assert_eq!(result.low_watermark, LOW_WATERMARK_UNKNOWN);
        }
    }

    #[tokio::test]
    async fn empty_partition_keeps_low_watermark_zero() {
        let broker = broker();
        create_topic(&broker, "t", 2);
        let response = handle(&broker, 0, request("t", &[(0, 0), (1, -1)])).await;
        for result in &response.topics[0].partitions {
            assert_eq!(
                (result.error_code, result.low_watermark),
                (0, 0),
                "{result:?}"
            );
        }
    }

    #[tokio::test]
    async fn moves_the_low_watermark_and_reports_it() {
        let broker = broker();
        create_topic(&broker, "t", 1);
        let partition = broker
            .store
            .topic("t")
            .and_then(|t| t.partition(0))
            .expect("partition");
        for _ in 0..3 {
            let records = (0..2)
                .map(|i| records::NewRecord::new(None, b"value", i))
                .collect();
            let batch = records::BatchBuilder::new(records).build().expect("batch");
            partition.append(&batch, 0).expect("append");
        }
        let response = handle(&broker, 2, request("t", &[(0, 3)])).await;
        let result = &response.topics[0].partitions[0];
        assert_eq!((result.error_code, result.low_watermark), (0, 3));
        assert_eq!(partition.offsets().log_start, 3);
        let response = handle(&broker, 2, request("t", &[(0, -1)])).await;
        let result = &response.topics[0].partitions[0];
        assert_eq!((result.error_code, result.low_watermark), (0, 6));
    }
}
