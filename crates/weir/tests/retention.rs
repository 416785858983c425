//! Size-based retention through the real binary: with tiny segments and a
//! tiny `retention.bytes`, old segments are deleted, the partition's
//! earliest offset advances, records from there on stay readable, and a
//! fetch below the earliest offset gets OFFSET_OUT_OF_RANGE (checked both
//! with a raw Fetch request and through librdkafka with
//! `auto.offset.reset=error`).

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::wire::{round_trip, RawConn};
use common::{
    consume_from, consumer, create_topic, producer, runtime, watermarks, Broker, WAIT_MAX,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset};

const SEGMENT_BYTES: usize = 16 * 1024;
const RETENTION_BYTES: usize = 64 * 1024;
const RECORD_COUNT: usize = 2_000;
const VALUE_BYTES: usize = 500;
/// Segment files that may remain: what retention keeps plus the active
/// segment and one being rolled.
const SEGMENTS_LEFT_MAX: usize = RETENTION_BYTES / SEGMENT_BYTES + 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;

fn count_log_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                count_log_files(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "log"))
            }
        })
        .sum()
}

fn raw_fetch_error(broker: &Broker, topic: &str, offset: i64) -> i16 {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])]);
    let mut conn = RawConn::connect(broker.addr());
    let response: FetchResponse = round_trip(&mut conn, ApiKey::Fetch, 4, 7, &request);
    response.responses[0].partitions[0].error_code
}

#[test]
fn retention_deletes_old_segments_and_advances_earliest_offset() {
    let broker = Broker::start(&[
        "--segment-bytes",
        &SEGMENT_BYTES.to_string(),
        "--retention-bytes",
        &RETENTION_BYTES.to_string(),
        "--retention-check-interval-ms",
        "100",
    ]);
    let topic = "retention";
    create_topic(&broker.bootstrap(), topic, 1, &[]);
    // Small batches, so that segments roll often: retention deletes whole
    // segments and never one that would leave less than retention.bytes.
    let producer = producer(
        &broker.bootstrap(),
        &[("linger.ms", "5"), ("batch.size", "4096")],
    );
    let value = vec![b'r'; VALUE_BYTES];
    let futures: Vec<_> = (0..RECORD_COUNT)
        .map(|_| {
            let record = FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload(&value);
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    let rt = runtime();
    for f in futures {
        rt.block_on(f)
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
    }

    let consumer = consumer(&broker.bootstrap(), &[]);
    let deadline = Instant::now() + WAIT_MAX;
    let (low, high) = loop {
        let (low, high) = watermarks(&consumer, topic, 0);
        // Only this topic's segments: the data dir also holds the internal
        // __consumer_offsets topic, one segment per partition.
        let segments = count_log_files(&broker.data_dir().join("topics").join(topic));
        if low > 0 && segments <= SEGMENTS_LEFT_MAX {
            break (low, high);
        }
        assert!(
            Instant::now() < deadline,
            "retention did not run: earliest offset {low}, {segments} .log files"
        );
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(high, RECORD_COUNT as i64);

    // Everything from the earliest offset on is still readable.
    let got = consume_from(
        &consumer,
        topic,
        &[(0, Offset::Offset(low))],
        (high - low) as usize,
    );
    assert_eq!(got[0].offset, low);
    assert_eq!(got.last().map(|g| g.offset), Some(high - 1));

    assert_eq!(raw_fetch_error(&broker, topic, 0), OFFSET_OUT_OF_RANGE);
    assert_eq!(
        raw_fetch_error(&broker, topic, low - 1),
        OFFSET_OUT_OF_RANGE
    );
    assert_eq!(
        raw_fetch_error(&broker, topic, high + 1),
        OFFSET_OUT_OF_RANGE
    );
    expect_client_out_of_range(&broker, topic);
}

fn expect_client_out_of_range(broker: &Broker, topic: &str) {
    let consumer = consumer(&broker.bootstrap(), &[("auto.offset.reset", "error")]);
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(0))
        .expect("add partition");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        assert!(
            Instant::now() < deadline,
            "no out-of-range error from librdkafka"
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => panic!("read offset {} below the earliest offset", m.offset()),
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange,
            ))) => return,
            Some(Err(e)) => panic!("unexpected consumer error: {e}"),
        }
    }
}
