//! ListOffsets (key 2): earliest, latest, max-timestamp and by-timestamp
//! offsets of partitions.
//!
//! "Latest" is the high watermark, the end of what consumers may read. Weir
//! has no tiered storage, so "earliest local" equals earliest and "latest
//! tiered" has no answer (-1), as Kafka reports for a topic without tiering.

use super::wire_name;
use crate::{errors, Broker};
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;
use log::{LogError, Partition, TimestampOffset};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;
const LEADER_EPOCH_SINCE_VERSION: i16 = 4;
/// Kafka's "no such offset" in ListOffsets answers.
const UNKNOWN: i64 = -1;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = broker.store.topic(&topic.name.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let partition = found.as_ref().and_then(|t| t.partition(p.partition_index));
                    answer(partition.as_deref(), p, version)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(wire_name(&topic.name.0))
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn answer(
    partition: Option<&Partition>,
    request: &ListOffsetsPartition,
    version: i16,
) -> ListOffsetsPartitionResponse {
    let response =
        ListOffsetsPartitionResponse::default().with_partition_index(request.partition_index);
    // The leader epoch exists from v4; below that it must stay at its default.
    let response = if version >= LEADER_EPOCH_SINCE_VERSION {
        response.with_leader_epoch(0)
    } else {
        response
    };
    let Some(partition) = partition else {
        return response
            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
            .with_timestamp(UNKNOWN)
            .with_offset(UNKNOWN);
    };
    match lookup(partition, request.timestamp) {
        Ok(found) => {
            let found = found.unwrap_or(TimestampOffset {
                timestamp_ms: UNKNOWN,
                offset: UNKNOWN,
            });
            response
                .with_timestamp(found.timestamp_ms)
                .with_offset(found.offset)
        }
        Err(error) => response
            .with_error_code(errors::code(&error))
            .with_timestamp(UNKNOWN)
            .with_offset(UNKNOWN),
    }
}

fn lookup(partition: &Partition, timestamp: i64) -> Result<Option<TimestampOffset>, LogError> {
    let offsets = partition.offsets();
    let at = |offset| {
        Ok(Some(TimestampOffset {
            timestamp_ms: UNKNOWN,
            offset,
        }))
    };
    match timestamp {
        LATEST => at(offsets.high_watermark),
        EARLIEST | EARLIEST_LOCAL => at(offsets.log_start),
        MAX_TIMESTAMP => partition.max_timestamp(),
        LATEST_TIERED => Ok(None),
        t if t >= 0 => partition.offset_for_timestamp(t),
        other => Err(LogError::InvalidConfig(format!(
            "unknown ListOffsets timestamp {other}"
        ))),
    }
}
