//! Round trip through the real `weir` binary with librdkafka (the `rdkafka`
//! crate), once per compression codec: keyed records with headers, null
//! values and explicit timestamps go in, and exactly the same records come
//! back at the offsets the producer was told. Ordering across keys and
//! crash behaviour live in `keyed_order.rs` and `crash.rs`.

mod common;

use common::{consume_exact, consumer, create_topic, now_ms, producer, runtime, Broker, Got};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

/// Records per codec: enough for several multi-record batches.
const RECORD_COUNT: usize = 400;
const PARTITION_COUNT: i32 = 2;

struct Sent {
    partition: i32,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp_ms: i64,
}

fn record(i: usize, base_ms: i64) -> Sent {
    // Every tenth record is a tombstone; sizes vary so batches differ.
    let value = (i % 10 != 7).then(|| format!("value-{i}-{}", "x".repeat(i % 97)).into_bytes());
    let mut headers = vec![("seq".to_string(), Some(i.to_string().into_bytes()))];
    if matches!(i % 3, 0) {
        headers.push(("null-header".to_string(), None));
    }
    Sent {
        partition: (i as i32) % PARTITION_COUNT,
        key: format!("key-{i}").into_bytes(),
        value,
        headers,
        timestamp_ms: base_ms + i as i64,
    }
}

fn round_trip(codec: &str) {
    let broker = Broker::start(&[]);
    let topic = format!("round-trip-{codec}");
    create_topic(&broker.bootstrap(), &topic, PARTITION_COUNT, &[]);
    let producer = producer(
        &broker.bootstrap(),
        &[("compression.type", codec), ("linger.ms", "20")],
    );
    let base_ms = now_ms() - 60_000;
    let sent: Vec<Sent> = (0..RECORD_COUNT).map(|i| record(i, base_ms)).collect();

    let mut futures = Vec::with_capacity(sent.len());
    for s in &sent {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &s.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_ref(),
            });
        }
        let mut rec = FutureRecord::to(&topic)
            .partition(s.partition)
            .key(&s.key)
            .headers(headers)
            .timestamp(s.timestamp_ms);
        if let Some(value) = &s.value {
            rec = rec.payload(value);
        }
        futures.push(
            producer
                .send_result(rec)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    let rt = runtime();
    let mut by_offset = std::collections::HashMap::new();
    for (i, future) in futures.into_iter().enumerate() {
        let delivery = rt
            .block_on(future)
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("{codec}: record {i} not delivered: {e}"));
        assert_eq!(delivery.partition, sent[i].partition);
        assert!(
            by_offset
                .insert((delivery.partition, delivery.offset), i)
                .is_none(),
            "{codec}: offset {} given twice",
            delivery.offset
        );
    }

    let consumer = consumer(&broker.bootstrap(), &[]);
    let partitions: Vec<i32> = (0..PARTITION_COUNT).collect();
    let got = consume_exact(&consumer, &topic, &partitions, RECORD_COUNT);
    for g in &got {
        let i = *by_offset
            .get(&(g.partition, g.offset))
            .unwrap_or_else(|| panic!("{codec}: unexpected record {g:?}"));
        assert_eq!(*g, expected(&sent[i], g), "{codec}: record {i} differs");
    }
    let mut seen: Vec<(i32, i64)> = got.iter().map(|g| (g.partition, g.offset)).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        RECORD_COUNT,
        "{codec}: a record was returned twice"
    );
}

fn expected(s: &Sent, g: &Got) -> Got {
    Got {
        partition: s.partition,
        offset: g.offset,
        key: Some(s.key.clone()),
        value: s.value.clone(),
        headers: s.headers.clone(),
        timestamp_ms: Some(s.timestamp_ms),
    }
}

#[test]
fn round_trip_uncompressed() {
    round_trip("none");
}

#[test]
fn round_trip_gzip() {
    round_trip("gzip");
}

#[test]
fn round_trip_snappy() {
    round_trip("snappy");
}

#[test]
fn round_trip_lz4() {
    round_trip("lz4");
}

#[test]
fn round_trip_zstd() {
    round_trip("zstd");
}
