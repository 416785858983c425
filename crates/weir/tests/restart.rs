//! Graceful restart: records produced before a SIGTERM are all there after
//! `weir serve` starts again on the same data directory, the topic keeps its
//! partition count, and new records continue at the next offset with no gap
//! and no reuse. Crashes (SIGKILL) are covered by `crash.rs`.

mod common;

use std::time::Duration;

use common::{consume_exact, consumer, create_topic, producer, runtime, watermarks, Broker, Got};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, FutureRecord};

const PARTITION_COUNT: i32 = 3;
const FIRST_BATCH: usize = 300;
const SECOND_BATCH: usize = 150;

fn produce(producer: &FutureProducer, topic: &str, from: usize, count: usize) -> Vec<(i32, i64)> {
    let futures: Vec<_> = (from..from + count)
        .map(|i| {
            let key = format!("k{i}");
            let value = format!("v{i}");
            let record = FutureRecord::to(topic)
                .partition((i % PARTITION_COUNT as usize) as i32)
                .key(&key)
                .payload(&value);
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    let rt = runtime();
    futures
        .into_iter()
        .map(|f| {
            let d = rt
                .block_on(f)
                .expect("delivery future")
                .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
            (d.partition, d.offset)
        })
        .collect()
}

fn value_index(g: &Got) -> usize {
    let value = String::from_utf8(g.value.clone().expect("value")).expect("utf8");
    value.trim_start_matches('v').parse().expect("index")
}

fn check_contiguous(got: &[Got], total: usize) {
    for p in 0..PARTITION_COUNT {
        let offsets: Vec<i64> = got
            .iter()
            .filter(|g| g.partition == p)
            .map(|g| g.offset)
            .collect();
        let want: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, want,
            "partition {p}: offsets not contiguous from 0"
        );
    }
    let mut indexes: Vec<usize> = got.iter().map(value_index).collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        (0..total).collect::<Vec<_>>(),
        "records lost or duplicated"
    );
}

#[test]
fn restart_keeps_records_and_continues_offsets() {
    let mut broker = Broker::start(&[]);
    let topic = "restart";
    create_topic(&broker.bootstrap(), topic, PARTITION_COUNT, &[]);
    let first = produce(&producer(&broker.bootstrap(), &[]), topic, 0, FIRST_BATCH);

    broker.stop();
    broker.restart();

    let consumer = consumer(&broker.bootstrap(), &[]);
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .expect("metadata");
    assert_eq!(
        metadata.topics()[0].partitions().len(),
        PARTITION_COUNT as usize
    );
    let partitions: Vec<i32> = (0..PARTITION_COUNT).collect();
    let got = consume_exact(&consumer, topic, &partitions, FIRST_BATCH);
    check_contiguous(&got, FIRST_BATCH);
    for (i, (p, o)) in first.iter().enumerate() {
        assert!(got
            .iter()
            .any(|g| g.partition == *p && g.offset == *o && value_index(g) == i));
    }

    let mut high_before = Vec::new();
    for p in &partitions {
        high_before.push(watermarks(&consumer, topic, *p).1);
    }
    let second = produce(
        &producer(&broker.bootstrap(), &[]),
        topic,
        FIRST_BATCH,
        SECOND_BATCH,
    );
    for p in &partitions {
        let mut offsets: Vec<i64> = second
            .iter()
            .filter(|(q, _)| q == p)
            .map(|(_, o)| *o)
            .collect();
        offsets.sort_unstable();
        let start = high_before[*p as usize];
        let want: Vec<i64> = (start..start + offsets.len() as i64).collect();
        assert_eq!(
            offsets, want,
            "partition {p}: new offsets do not continue the log"
        );
    }

    broker.stop();
    broker.restart();
    let consumer = common::consumer(&broker.bootstrap(), &[]);
    let got = consume_exact(&consumer, topic, &partitions, FIRST_BATCH + SECOND_BATCH);
    check_contiguous(&got, FIRST_BATCH + SECOND_BATCH);
    broker.stop();
}
