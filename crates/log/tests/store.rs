//! Store-level behaviour: the data-directory lock, cluster id, topic
//! lifecycle and metadata surviving restarts, limits.

mod common;

use common::*;
use log::{FlushPolicy, LogError, Store, TopicConfig};

#[test]
fn second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let second = Store::open(options(
        dir.path(),
        FlushPolicy::Never,
        TopicConfig::default(),
    ));
    assert!(matches!(second, Err(LogError::Locked(_))));
    drop(store);
    open(dir.path(), FlushPolicy::Never, TopicConfig::default());
}

#[test]
fn cluster_id_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let id = open(dir.path(), FlushPolicy::Never, TopicConfig::default())
        .cluster_id()
        .to_string();
    assert_eq!(id.len(), 22);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let again = open(dir.path(), FlushPolicy::Never, TopicConfig::default())
        .cluster_id()
        .to_string();
    assert_eq!(id, again);
}

#[test]
fn topic_lifecycle_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let topic = store.create_topic("orders", 3, no_overrides()).unwrap();
    let id = topic.id();
    topic
        .partition(2)
        .unwrap()
        .append(&batch(1, 4, 0), 0)
        .unwrap();
    assert!(matches!(
        store.create_topic("orders", 1, no_overrides()),
        Err(LogError::TopicExists(_))
    ));
    assert!(matches!(
        store.create_topic("bad/name", 1, no_overrides()),
        Err(LogError::InvalidTopicName(_))
    ));
    assert!(matches!(
        store.create_topic("zero", 0, no_overrides()),
        Err(LogError::InvalidPartitions(_))
    ));
    store.add_partitions("orders", 5).unwrap();
    assert!(matches!(
        store.add_partitions("orders", 4),
        Err(LogError::InvalidPartitions(_))
    ));
    store.create_topic("gone", 1, no_overrides()).unwrap();
    store.delete_topic("gone").unwrap();
    assert!(matches!(
        store.delete_topic("gone"),
        Err(LogError::UnknownTopicOrPartition(_))
    ));
    drop(topic);
    drop(store);

    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let names: Vec<String> = store
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(names, vec!["orders"]);
    let topic = store.topic_by_id(id).unwrap();
    assert_eq!(topic.partitions().len(), 5);
    assert_eq!(topic.partition(2).unwrap().offsets().log_end, 4);
    assert_eq!(topic.partition(4).unwrap().offsets().log_end, 0);
    assert!(topic.partition(5).is_none());
    assert!(topic.overrides().is_empty());
    assert_eq!(topic.config(), TopicConfig::default());
    // A deleted name can be created again, empty.
    let again = store.create_topic("gone", 2, no_overrides()).unwrap();
    assert_eq!(again.partition(0).unwrap().offsets().log_end, 0);
    assert!(std::fs::read_dir(dir.path().join("deleted"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn partition_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), FlushPolicy::Never, TopicConfig::default());
    opts.partitions_max = 4;
    let store = Store::open(opts).unwrap();
    store.create_topic("a", 3, no_overrides()).unwrap();
    assert!(matches!(
        store.create_topic("b", 2, no_overrides()),
        Err(LogError::LimitExceeded(_))
    ));
    assert!(matches!(
        store.add_partitions("a", 5),
        Err(LogError::LimitExceeded(_))
    ));
    store.add_partitions("a", 4).unwrap();
}

#[test]
fn deleted_topic_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let p = single_partition(&store, "t");
    store.delete_topic("t").unwrap();
    assert!(matches!(
        p.append(&batch(1, 1, 0), 0),
        Err(LogError::UnknownTopicOrPartition(_))
    ));
}

#[test]
fn retention_by_time_and_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = TopicConfig {
        segment_bytes: 300,
        retention_ms: 1000,
        segment_ms: 500,
        ..TopicConfig::default()
    };
    let store = open(dir.path(), FlushPolicy::Never, defaults);
    let p = single_partition(&store, "t");
    for i in 0..10 {
        p.append(&batch(i, 2, 10_000 + 100 * i as i64), 0).unwrap();
    }
    let segments = p.segment_count();
    assert!(segments > 2);
    // Nothing has expired yet at time 10_500.
    store.enforce_retention(10_500);
    assert_eq!(p.offsets().log_start, 0);
    // segment.ms rolls the active segment once its first batch is old enough.
    store.enforce_retention(20_000);
    let offsets = p.offsets();
    assert_eq!(
        offsets.log_start, offsets.log_end,
        "everything expired; log start moves to the end"
    );
    assert_eq!(p.segment_count(), 1);
    assert!(p.read(offsets.log_end, 100).unwrap().is_empty());
    assert_eq!(
        p.append(&batch(99, 1, 0), 0).unwrap().base_offset,
        offsets.log_end
    );
}

#[test]
fn overrides_are_validated_applied_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let overrides: std::collections::BTreeMap<String, String> =
        [("max.message.bytes".to_string(), "100".to_string())].into();
    let topic = store.create_topic("t", 1, overrides.clone()).unwrap();
    assert_eq!(topic.config().max_message_bytes, 100);
    let p = topic.partition(0).unwrap();
    assert!(matches!(
        p.append(&batch(1, 5, 0), 0),
        Err(LogError::MessageTooLarge { .. })
    ));
    let bad: std::collections::BTreeMap<String, String> =
        [("no.such.key".to_string(), "1".to_string())].into();
    assert!(matches!(
        store.create_topic("u", 1, bad.clone()),
        Err(LogError::InvalidConfig(_))
    ));
    assert!(store.topic("u").is_none());
    assert!(matches!(
        store.set_topic_overrides("t", bad),
        Err(LogError::InvalidConfig(_))
    ));
    store.set_topic_overrides("t", no_overrides()).unwrap();
    p.append(&batch(1, 5, 0), 0).unwrap();
    store.set_topic_overrides("t", overrides.clone()).unwrap();
    drop((p, topic, store));
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let topic = store.topic("t").unwrap();
    assert_eq!(topic.overrides(), overrides);
    assert_eq!(topic.config().max_message_bytes, 100);
}

#[test]
fn names_differing_only_by_dot_or_underscore_collide() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    store
        .create_topic("orders.v1", 1, Default::default())
        .unwrap();
    for (name, collides) in [
        ("orders_v1", true),
        ("orders.v1", false),
        ("orders-v1", false),
    ] {
        let result = store.create_topic(name, 1, Default::default());
        match (collides, result) {
            (true, Err(LogError::InvalidTopicName(message))) => {
                assert!(message.contains("orders.v1"))
            }
            (false, Err(LogError::TopicExists(_))) => assert_eq!(name, "orders.v1"),
            (false, Ok(_)) => assert_eq!(name, "orders-v1"),
            (_, other) => panic!(
                "{name}: unexpected {:?}",
                other.map(|t| t.name().to_string())
            ),
        }
    }
}

#[test]
fn every_topic_gets_its_own_partitions_back_when_they_open_together() {
    // At start-up all topics' partitions open in one queue on several
    // threads; each must land in its own topic, in id order.
    let dir = tempfile::tempdir().unwrap();
    let counts = [1u32, 3, 2, 5, 1, 4, 7];
    let records = |topic: usize, partition: u32| topic * 10 + partition as usize + 1;
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    for (t, count) in counts.iter().enumerate() {
        let topic = store
            .create_topic(&format!("t{t}"), *count, no_overrides())
            .unwrap();
        for p in 0..*count {
            let partition = topic.partition(p as i32).unwrap();
            partition.append(&batch(1, records(t, p), 0), 0).unwrap();
        }
    }
    drop(store);

    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    for (t, count) in counts.iter().enumerate() {
        let topic = store.topic(&format!("t{t}")).unwrap();
        assert_eq!(topic.partitions().len(), *count as usize, "t{t}");
        for p in 0..*count {
            let partition = topic.partition(p as i32).unwrap();
            assert_eq!(partition.id(), p as i32, "t{t}");
            let end = partition.offsets().log_end;
            assert_eq!(end, records(t, p) as i64, "t{t} partition {p}");
        }
    }
}
