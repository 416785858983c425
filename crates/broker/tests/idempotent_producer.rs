//! The idempotent producer over a real socket with raw `kafka-protocol`
//! requests: InitProducerId hands out distinct ids (never reused after a
//! restart), a retried batch is answered with its original offset and stored
//! once, sequence gaps and fenced epochs get Kafka's error codes, and a
//! transactional id is refused with a code clients treat as fatal.
//! Client-library round trips live in `tests/python`.

mod common;

use broker::BrokerConfig;
use bytes::Bytes;
use common::{create_topic, name, str, Client, TestBroker};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError as E;
use log::FlushPolicy;
use records::{BatchBuilder, NewRecord};

fn batch(pid: i64, epoch: i16, seq: i32, values: &[&[u8]]) -> Bytes {
    let records = values
        .iter()
        .map(|value| NewRecord::new(None, value, 1_700_000_000_000))
        .collect();
    let builder = BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchBuilder::new(records)
    };
    Bytes::from(builder.build().unwrap())
}

fn produce(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

async fn init(
    client: &mut Client,
    version: i16,
    request: InitProducerIdRequest,
) -> (i16, i64, i16) {
    let response = client.call(version, &request).await;
    (
        response.error_code,
        response.producer_id.0,
        response.producer_epoch,
    )
}

fn plain() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

#[tokio::test]
async fn init_producer_id_allocates_fresh_ids_across_versions_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2 {
        let broker =
            TestBroker::start_in(dir.path(), FlushPolicy::Always, BrokerConfig::default()).await;
        let mut client = Client::connect(broker.addr).await;
        for version in 0..=5 {
            let (code, id, epoch) = init(&mut client, version, plain()).await;
            assert_eq!((code, epoch), (0, 0), "v{version}");
            assert!(id >= 0 && seen.insert(id), "v{version}: id {id} reused");
        }
        // KIP-360 (v3+): with its current id and epoch, a non-transactional
        // producer gets a fresh id, as from Kafka's coordinator.
        let current = plain()
            .with_producer_id(ProducerId(0))
            .with_producer_epoch(0);
        let (code, id, epoch) = init(&mut client, 4, current).await;
        assert_eq!((code, epoch), (0, 0));
        assert!(seen.insert(id));
        // An id without an epoch is malformed.
        let half = plain().with_producer_id(ProducerId(5));
        assert_eq!(init(&mut client, 3, half).await.0, E::InvalidRequest.code());
        // Transactions are not supported: a fatal code, not a retriable one.
        let txn = plain().with_transactional_id(Some(TransactionalId(str("tx"))));
        let (code, id, _) = init(&mut client, 4, txn).await;
        assert_eq!(
            (code, id),
            (E::TransactionalIdAuthorizationFailed.code(), -1)
        );
        broker.stop().await;
    }
}

#[tokio::test]
async fn retried_batches_are_stored_once_and_answered_with_their_offset() {
    let dir = tempfile::tempdir().unwrap();
    let broker =
        TestBroker::start_in(dir.path(), FlushPolicy::Always, BrokerConfig::default()).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "idem", 1).await;
    let (_, pid, epoch) = init(&mut client, 4, plain()).await;
    let answer = |r: &ProduceResponse| {
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    let first = batch(pid, epoch, 0, &[b"a", b"b"]);
    let second = batch(pid, epoch, 2, &[b"c"]);
    assert_eq!(
        answer(&client.call(9, &produce("idem", first.clone())).await),
        (0, 0)
    );
    assert_eq!(
        answer(&client.call(9, &produce("idem", second.clone())).await),
        (0, 2)
    );
    // Retries of both: the original offsets, nothing new stored.
    assert_eq!(
        answer(&client.call(9, &produce("idem", first)).await),
        (0, 0)
    );
    assert_eq!(
        answer(&client.call(9, &produce("idem", second)).await),
        (0, 2)
    );
    let gap = batch(pid, epoch, 9, &[b"x"]);
    let got = answer(&client.call(9, &produce("idem", gap)).await);
    assert_eq!(got, (E::OutOfOrderSequenceNumber.code(), -1));
    let bumped = batch(pid, epoch + 1, 0, &[b"d"]);
    assert_eq!(
        answer(&client.call(9, &produce("idem", bumped)).await),
        (0, 3)
    );
    let zombie = batch(pid, epoch, 3, &[b"z"]);
    let got = answer(&client.call(9, &produce("idem", zombie)).await);
    assert_eq!(got, (E::InvalidProducerEpoch.code(), -1));
    // The log end shows exactly the four records.
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(name("idem"))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1),
            ])]);
    let response = client.call(1, &list).await;
    assert_eq!(response.topics[0].partitions[0].offset, 4);
    broker.stop().await;
}
