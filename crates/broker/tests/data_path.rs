//! The real server, in-process, spoken to over a real socket with requests
//! encoded by `kafka-protocol`: the data path's protocol-level behaviour
//! (in-order pipelining, long-poll wake-up, KIP-74 byte limits, KIP-511
//! fallback, the produce error codes). Client-library round trips live in
//! `crates/weir/tests` and `tests/python`.

mod common;

use broker::BrokerConfig;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{create_topic, name, Client, TestBroker, WAIT};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use log::FlushPolicy;
use records::{BatchBuilder, NewRecord};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A broker over a fresh temporary data directory.
async fn start(flush: FlushPolicy) -> (TestBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path(), flush, BrokerConfig::default()).await;
    (broker, dir)
}

/// A batch timestamped now: older timestamps would be fair game for the
/// broker's retention pass (7 days by default) and vanish mid-test.
fn batch(values: &[&[u8]]) -> Bytes {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records = values
        .iter()
        .map(|value| NewRecord::new(None, value, now_ms))
        .collect();
    Bytes::from(BatchBuilder::new(records).build().unwrap())
}

fn produce(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn fetch(topic: &str, offset: i64, max_wait_ms: i32, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])])
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (broker, _dir) = start(FlushPolicy::Always).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "ordered", 1).await;
    // A long-polling fetch first, then quick requests behind it: the quick
    // answers must wait for the fetch so the order holds.
    let mut sent = vec![client.send(12, &fetch("ordered", 0, 300, 1 << 20)).await];
    for _ in 0..5 {
        sent.push(client.send(3, &ApiVersionsRequest::default()).await);
    }
    let (first, _) = client.receive::<FetchRequest>(12).await;
    let mut received = vec![first];
    for _ in 0..5 {
        received.push(client.receive::<ApiVersionsRequest>(3).await.0);
    }
    assert_eq!(sent, received);
    broker.stop().await;
}

#[tokio::test]
async fn long_poll_wakes_on_append_and_returns_the_batch() {
    let (broker, _dir) = start(FlushPolicy::Always).await;
    let mut consumer = Client::connect(broker.addr).await;
    let mut producer = Client::connect(broker.addr).await;
    create_topic(&mut consumer, "wake", 1).await;
    // Wait far longer than WAIT: only the append can end this poll in time.
    let poll = consumer.send(12, &fetch("wake", 0, 120_000, 1 << 20)).await;
    let sent = batch(&[b"one", b"two"]);
    let produced = producer
        .call(9, &produce("wake", 0, sent.clone(), -1))
        .await;
    let partition = &produced.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 0));
    let (correlation, fetched) = consumer.receive::<FetchRequest>(12).await;
    assert_eq!(correlation, poll);
    let data = &fetched.responses[0].partitions[0];
    assert_eq!(data.error_code, 0);
    assert_eq!(data.high_watermark, 2);
    let records = data.records.clone().unwrap();
    // Stored bytes come back as produced, with base offset 0 stamped.
    assert_eq!(&records[8..], &sent[8..]);
    broker.stop().await;
}

#[tokio::test]
async fn fetch_returns_one_oversized_batch_then_respects_the_limit() {
    let (broker, _dir) = start(FlushPolicy::Never).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "limits", 1).await;
    let big = vec![b'x'; 4000];
    for _ in 0..3 {
        client
            .call(9, &produce("limits", 0, batch(&[&big]), 1))
            .await;
    }
    // max_bytes smaller than one batch: still exactly one whole batch (KIP-74).
    let response = client.call(12, &fetch("limits", 0, 0, 100)).await;
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    let one_batch = (&records[8..12]).get_i32() as usize + 12;
    assert_eq!(records.len(), one_batch);
    // A generous limit returns all three.
    let response = client.call(12, &fetch("limits", 0, 0, 1 << 20)).await;
    assert_eq!(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        3 * one_batch
    );
    broker.stop().await;
}

#[tokio::test]
async fn the_broker_fetch_limit_caps_responses_and_rotates_which_partitions_fill_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    config.limits.fetch_max_bytes = 16 * 1024;
    config.default_partitions = 4;
    let broker = TestBroker::start_in(dir.path(), FlushPolicy::Never, config).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "capped", 4).await;
    let big = vec![b'x'; 4000];
    for partition in 0..4 {
        for _ in 0..3 {
            let response = client
                .call(9, &produce("capped", partition, batch(&[&big]), 1))
                .await;
            assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
        }
    }
    // Every partition holds ~12 KB; the request allows 1 MiB each, the
    // broker 16 KiB in all: not every partition fits in one response.
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("capped"))
            .with_partitions(
                (0..4)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]);
    let mut served = [0; 4];
    for _ in 0..4 {
        let response = client.call(12, &request).await;
        let partitions = &response.responses[0].partitions;
        // Answers stay in request order whoever was served first.
        let order: Vec<i32> = partitions.iter().map(|p| p.partition_index).collect();
        assert_eq!(order, vec![0, 1, 2, 3]);
        let sizes: Vec<usize> = partitions
            .iter()
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
            .collect();
        assert!(sizes.iter().sum::<usize>() <= 16 * 1024, "{sizes:?}");
        assert!(
            sizes.contains(&0),
            "the limit left no partition out: {sizes:?}"
        );
        for (count, size) in served.iter_mut().zip(&sizes) {
            *count += usize::from(*size > 0);
        }
    }
    // The same request four times: each partition was served as often.
    assert!(
        served[0] > 0 && served.iter().all(|&n| n == served[0]),
        "{served:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn fetch_below_log_start_is_offset_out_of_range() {
    let (broker, _dir) = start(FlushPolicy::Never).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "range", 1).await;
    client
        .call(9, &produce("range", 0, batch(&[b"a"]), 1))
        .await;
    let response = client.call(12, &fetch("range", 5, 0, 1 << 20)).await;
    let data = &response.responses[0].partitions[0];
    assert_eq!(
        data.error_code,
        kafka_protocol::ResponseError::OffsetOutOfRange.code()
    );
    assert_eq!((data.high_watermark, data.log_start_offset), (1, 0));
    broker.stop().await;
}

#[tokio::test]
async fn produce_error_codes() {
    let (broker, _dir) = start(FlushPolicy::Always).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "codes", 1).await;
    let code = |r: &ProduceResponse| r.responses[0].partition_responses[0].error_code;
    use kafka_protocol::ResponseError as E;

    let response = client
        .call(9, &produce("bad name!", 0, batch(&[b"a"]), -1))
        .await;
    assert_eq!(code(&response), E::InvalidTopicException.code());
    let response = client
        .call(9, &produce("no-such-topic", 0, batch(&[b"a"]), -1))
        .await;
    assert_eq!(code(&response), E::UnknownTopicOrPartition.code());
    let response = client
        .call(9, &produce("codes", 7, batch(&[b"a"]), -1))
        .await;
    assert_eq!(code(&response), E::UnknownTopicOrPartition.code());
    let mut corrupt = batch(&[b"a"]).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let response = client
        .call(9, &produce("codes", 0, Bytes::from(corrupt), -1))
        .await;
    assert_eq!(code(&response), E::CorruptMessage.code());
    let response = client
        .call(9, &produce("codes", 0, batch(&[b"a"]), 2))
        .await;
    assert_eq!(code(&response), E::InvalidRequiredAcks.code());
    // Nothing above was stored: the next good batch gets offset 0.
    let response = client
        .call(9, &produce("codes", 0, batch(&[b"ok"]), -1))
        .await;
    assert_eq!(response.responses[0].partition_responses[0].base_offset, 0);
    broker.stop().await;
}

#[tokio::test]
async fn api_versions_newer_than_ours_gets_the_kip_511_answer() {
    let (broker, _dir) = start(FlushPolicy::Never).await;
    let mut client = Client::connect(broker.addr).await;
    // Hand-made v99 header (flexible header v2), body irrelevant.
    let mut frame = BytesMut::new();
    let body: &[u8] = &[0, 18, 0, 99, 0, 0, 0, 42, 0, 0, 0];
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(body);
    client.socket.write_all(&frame).await.unwrap();
    let length = client.socket.read_i32().await.unwrap() as usize;
    let mut response = vec![0; length];
    client.socket.read_exact(&mut response).await.unwrap();
    let mut response = Bytes::from(response);
    assert_eq!(response.get_i32(), 42, "correlation id, header v0");
    let decoded = ApiVersionsResponse::decode(&mut response, 0).unwrap();
    assert_eq!(
        decoded.error_code,
        kafka_protocol::ResponseError::UnsupportedVersion.code()
    );
    assert_eq!(decoded.api_keys.len(), 1);
    assert_eq!(
        (decoded.api_keys[0].api_key, decoded.api_keys[0].max_version),
        (18, 4)
    );
    // The same connection still works with a version we speak.
    let versions = client.call(3, &ApiVersionsRequest::default()).await;
    assert_eq!(versions.error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn unknown_api_key_closes_only_that_connection() {
    let (broker, _dir) = start(FlushPolicy::Never).await;
    let mut bad = Client::connect(broker.addr).await;
    let mut good = Client::connect(broker.addr).await;
    let body: &[u8] = &[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0];
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(body);
    bad.socket.write_all(&frame).await.unwrap();
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(WAIT, bad.socket.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "connection should close");
    let versions = good.call(3, &ApiVersionsRequest::default()).await;
    assert_eq!(versions.error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn shutdown_answers_a_request_already_in_flight() {
    let (broker, _dir) = start(FlushPolicy::Always).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "drain", 1).await;
    let sent = client.send(12, &fetch("drain", 0, 500, 1 << 20)).await;
    // Give the request time to be read before shutdown starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = broker.addr;
    let stopping = tokio::spawn(broker.stop());
    let (received, _) = client.receive::<FetchRequest>(12).await;
    assert_eq!(sent, received);
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}
