//! Every version the broker advertises for the data-path APIs (Metadata,
//! Produce, Fetch, ListOffsets) is sent over a raw socket with a populated
//! request and must come back as a decodable, error-free response. Clients
//! each pick a different version (kcat's librdkafka 2.0.2 sends ListOffsets
//! v2, aiokafka v3, recent librdkafka v7+), so a field set outside its
//! version range breaks one client while the others keep passing.

mod common;

use bytes::{Bytes, BytesMut};
use common::wire::{round_trip, RawConn};
use common::{create_topic, now_ms, Broker};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const TOPIC: &str = "every-version";

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// Advertised (min, max) of `key`, clipped to what the codec can encode.
fn versions(conn: &mut RawConn, key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let response: ApiVersionsResponse = round_trip(
        conn,
        ApiKey::ApiVersions,
        3,
        1,
        &ApiVersionsRequest::default(),
    );
    let advertised = response
        .api_keys
        .iter()
        .find(|k| k.api_key == key as i16)
        .unwrap_or_else(|| panic!("{key:?} not advertised"));
    let codec = key.valid_versions();
    advertised.min_version.max(codec.min)..=advertised.max_version.min(codec.max)
}

fn batch() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms(),
        key: None,
        value: Some(Bytes::from_static(b"every version")),
        headers: IndexMap::new(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("encode batch");
    buf.freeze()
}

#[test]
fn every_advertised_data_path_version_answers() {
    let broker = Broker::start(&[]);
    create_topic(&broker.bootstrap(), TOPIC, 1, &[]);
    let mut conn = RawConn::connect(broker.addr());
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name())),
    ]));
    let response: MetadataResponse = round_trip(&mut conn, ApiKey::Metadata, 12, 2, &request);
    let id = response.topics[0].topic_id;
    let mut correlation_id = 10;
    let mut next_id = || {
        correlation_id += 1;
        correlation_id
    };

    for v in versions(&mut conn, ApiKey::Metadata) {
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name())),
        ]));
        let response: MetadataResponse =
            round_trip(&mut conn, ApiKey::Metadata, v, next_id(), &request);
        assert_eq!(response.topics[0].error_code, 0, "Metadata v{v}");
        assert_eq!(response.brokers.len(), 1, "Metadata v{v}");
    }

    for v in versions(&mut conn, ApiKey::Produce) {
        let mut topic =
            TopicProduceData::default().with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch()))]);
        topic = if v >= 13 {
            topic.with_topic_id(id)
        } else {
            topic.with_name(topic_name())
        };
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![topic]);
        let response: ProduceResponse =
            round_trip(&mut conn, ApiKey::Produce, v, next_id(), &request);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "Produce v{v}");
    }

    for v in versions(&mut conn, ApiKey::Fetch) {
        let mut topic = FetchTopic::default().with_partitions(vec![FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1024 * 1024)]);
        topic = if v >= 13 {
            topic.with_topic_id(id)
        } else {
            topic.with_topic(topic_name())
        };
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1024 * 1024)
            .with_topics(vec![topic]);
        let response: FetchResponse = round_trip(&mut conn, ApiKey::Fetch, v, next_id(), &request);
        assert_eq!(response.error_code, 0, "Fetch v{v}");
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0, "Fetch v{v}");
        assert!(
            partition.records.as_ref().is_some_and(|r| !r.is_empty()),
            "Fetch v{v}: no records"
        );
    }

    for v in versions(&mut conn, ApiKey::ListOffsets) {
        for timestamp in [-2i64, -1] {
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name())
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp)])]);
            let response: ListOffsetsResponse =
                round_trip(&mut conn, ApiKey::ListOffsets, v, next_id(), &request);
            let partition = &response.topics[0].partitions[0];
            assert_eq!(
                partition.error_code, 0,
                "ListOffsets v{v} timestamp {timestamp}"
            );
        }
    }
}
