//! Keyed ordering with librdkafka's default partitioner on an 8-partition
//! topic created through the Admin API: the client hashes each key to a
//! partition, the broker keeps whatever partition it was given, and a
//! reader of all partitions sees every record exactly once, each key's
//! values in the order they were produced.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use common::{consume_exact, consumer, create_topic, producer, runtime, watermarks, Broker};
use rdkafka::producer::FutureRecord;

const PARTITION_COUNT: i32 = 8;
const KEY_COUNT: usize = 40;
const RECORDS_PER_KEY: usize = 25;

#[test]
fn keyed_records_keep_per_key_order_across_eight_partitions() {
    let broker = Broker::start(&[]);
    let topic = "keyed-order";
    create_topic(&broker.bootstrap(), topic, PARTITION_COUNT, &[]);
    // librdkafka's default partitioner (consistent_random) picks partitions.
    let producer = producer(&broker.bootstrap(), &[("linger.ms", "5")]);

    let mut futures = Vec::new();
    for seq in 0..RECORDS_PER_KEY {
        for k in 0..KEY_COUNT {
            let key = format!("customer-{k}");
            let value = format!("{k}:{seq}");
            let record = FutureRecord::to(topic).key(&key).payload(&value);
            let future = producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue");
            futures.push((k, future));
        }
    }
    let rt = runtime();
    let mut partition_of_key: HashMap<usize, i32> = HashMap::new();
    for (k, future) in futures {
        let delivery = rt
            .block_on(future)
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
        let first = *partition_of_key.entry(k).or_insert(delivery.partition);
        assert_eq!(first, delivery.partition, "key {k} went to two partitions");
    }
    let used: HashSet<i32> = partition_of_key.values().copied().collect();
    assert!(
        used.len() > 1,
        "all {KEY_COUNT} keys hashed to one partition"
    );

    let total = KEY_COUNT * RECORDS_PER_KEY;
    let consumer = consumer(&broker.bootstrap(), &[]);
    let partitions: Vec<i32> = (0..PARTITION_COUNT).collect();
    let got = consume_exact(&consumer, topic, &partitions, total);

    let mut per_key: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for g in &got {
        assert!(
            seen.insert((g.partition, g.offset)),
            "duplicate record {g:?}"
        );
        let value = String::from_utf8(g.value.clone().expect("value")).expect("utf8");
        let (k, seq) = value.split_once(':').expect("k:seq");
        let k: usize = k.parse().expect("key number");
        assert_eq!(
            partition_of_key[&k], g.partition,
            "key {k} read from another partition"
        );
        assert_eq!(g.key.as_deref(), Some(format!("customer-{k}").as_bytes()));
        per_key
            .entry(k)
            .or_default()
            .push(seq.parse().expect("seq"));
    }
    for (k, seqs) in &per_key {
        let want: Vec<usize> = (0..RECORDS_PER_KEY).collect();
        assert_eq!(seqs, &want, "key {k}: values out of order or missing");
    }
    assert_eq!(per_key.len(), KEY_COUNT);

    let high_sum: i64 = partitions
        .iter()
        .map(|p| watermarks(&consumer, topic, *p).1)
        .sum();
    assert_eq!(
        high_sum, total as i64,
        "log-end offsets disagree with records produced"
    );
}
