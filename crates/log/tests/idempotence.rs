//! Idempotent producers at the storage layer: Kafka's sequence and epoch
//! rules, duplicates answered with their original offsets, producer state
//! across clean and unclean restarts, producer-id allocation, and a seeded
//! randomized run of retrying producers checked against a model.

mod common;

use common::{no_overrides, open};
use log::{FlushPolicy, LogError, Partition, Store, TopicConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use records::{BatchBuilder, NewRecord, Records};
use std::sync::Arc;

const NOW_MS: i64 = 1_700_000_000_000;

/// A batch of `count` records from producer `pid` at `epoch`, first
/// sequence `seq`, values tagged `tag`.
fn idem(pid: i64, epoch: i16, seq: i32, count: usize, tag: &str) -> Vec<u8> {
    let records = (0..count)
        .map(|i| NewRecord::new(None, format!("{tag}-{i}").as_bytes(), NOW_MS))
        .collect();
    BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchBuilder::new(records)
    }
    .build()
    .expect("build batch")
}

fn setup(dir: &std::path::Path) -> (Arc<Store>, Arc<Partition>) {
    let store = open(dir, FlushPolicy::Never, TopicConfig::default());
    if store.topic("t").is_none() {
        store.create_topic("t", 1, no_overrides()).expect("create");
    }
    let partition = store.topic("t").and_then(|t| t.partition(0)).expect("p0");
    (store, partition)
}

/// Every record value in the partition, in offset order.
fn values(partition: &Partition) -> Vec<String> {
    let end = partition.offsets().high_watermark;
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < end {
        let read = partition.read(offset, 1 << 20).expect("read");
        for item in records::BatchIter::new(&read.to_vec().unwrap()) {
            let (header, batch) = item.expect("valid batch");
            for record in Records::new(batch).expect("records").iter() {
                let value = record.expect("record").value.expect("value");
                out.push(String::from_utf8_lossy(value).into_owned());
            }
            offset = header.last_offset() + 1;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Appended at this base offset.
    At(i64),
    /// A duplicate answered with this original base offset.
    Dup(i64),
    OutOfOrder,
    Fenced,
}

fn outcome(result: Result<log::AppendInfo, LogError>) -> Want {
    match result {
        Ok(info) if info.duplicate => Want::Dup(info.base_offset),
        Ok(info) => Want::At(info.base_offset),
        Err(LogError::OutOfOrderSequence(_)) => Want::OutOfOrder,
        Err(LogError::InvalidProducerEpoch(_)) => Want::Fenced,
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// (case name, appends of (pid, epoch, first seq, record count), outcomes)
type Case = (&'static str, Vec<(i64, i16, i32, usize)>, Vec<Want>);

fn cases() -> Vec<Case> {
    use Want::*;
    let max = i32::MAX;
    vec![
        ("first batch at seq 0", vec![(1, 0, 0, 3)], vec![At(0)]),
        (
            "unknown producer may start anywhere (state may have expired)",
            vec![(1, 0, 42, 1)],
            vec![At(0)],
        ),
        (
            "continuing",
            vec![(1, 0, 0, 3), (1, 0, 3, 2), (1, 0, 5, 1)],
            vec![At(0), At(3), At(5)],
        ),
        (
            "gap",
            vec![(1, 0, 0, 3), (1, 0, 4, 1)],
            vec![At(0), OutOfOrder],
        ),
        (
            "repeat of a smaller range is out of order",
            vec![(1, 0, 0, 3), (1, 0, 1, 1)],
            vec![At(0), OutOfOrder],
        ),
        (
            "older epoch is fenced",
            vec![(1, 1, 0, 1), (1, 0, 1, 1)],
            vec![At(0), Fenced],
        ),
        (
            "epoch bump restarts at 0",
            vec![(1, 0, 0, 2), (1, 1, 0, 1), (1, 1, 1, 1)],
            vec![At(0), At(2), At(3)],
        ),
        (
            "epoch bump not at 0",
            vec![(1, 0, 0, 2), (1, 1, 5, 1)],
            vec![At(0), OutOfOrder],
        ),
        (
            "after a bump the old epoch is fenced",
            vec![(1, 0, 0, 1), (1, 1, 0, 1), (1, 0, 1, 1)],
            vec![At(0), At(1), Fenced],
        ),
        (
            "duplicate after a bump is not a duplicate",
            vec![(1, 0, 0, 1), (1, 1, 0, 1), (1, 0, 0, 1)],
            vec![At(0), At(1), Fenced],
        ),
        (
            "sequence wraps at i32::MAX",
            vec![(1, 0, max - 1, 2), (1, 0, 0, 2)],
            vec![At(0), At(2)],
        ),
        (
            "batch spanning the wrap",
            vec![(1, 0, max - 1, 1), (1, 0, max, 3), (1, 0, 2, 1)],
            vec![At(0), At(1), At(4)],
        ),
        (
            "duplicate spanning the wrap",
            vec![(1, 0, max, 3), (1, 0, max, 3)],
            vec![At(0), Dup(0)],
        ),
        (
            "producers are independent",
            vec![(1, 0, 0, 2), (2, 0, 0, 1), (1, 0, 2, 1), (2, 0, 1, 1)],
            vec![At(0), At(2), At(3), At(4)],
        ),
        (
            "same seq, other producer",
            vec![(1, 0, 0, 2), (2, 0, 0, 2)],
            vec![At(0), At(2)],
        ),
    ]
}

#[test]
fn sequence_and_epoch_rules_match_kafka() {
    for (name, appends, wants) in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_store, partition) = setup(dir.path());
        for (i, (&(pid, epoch, seq, count), &want)) in appends.iter().zip(&wants).enumerate() {
            let got = outcome(partition.append(&idem(pid, epoch, seq, count, "v"), NOW_MS));
            assert_eq!(got, want, "case {name:?}, append {i}");
        }
    }
}

#[test]
fn duplicate_of_each_of_the_last_five_batches_returns_its_original_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, partition) = setup(dir.path());
    // Seven batches of 2 records: sequences 0,2,...,12 at offsets 0,2,...,12.
    for k in 0..7 {
        let info = partition
            .append(&idem(7, 0, 2 * k, 2, &format!("b{k}")), NOW_MS)
            .expect("append");
        assert_eq!(info.base_offset, i64::from(2 * k));
    }
    for k in 2..7 {
        let info = partition
            .append(&idem(7, 0, 2 * k, 2, &format!("b{k}")), NOW_MS)
            .expect("retry");
        assert!(info.duplicate, "batch {k} is a duplicate");
        assert_eq!(
            (info.base_offset, info.last_offset),
            (i64::from(2 * k), i64::from(2 * k + 1))
        );
    }
    // Older than the last five: no longer known, so out of order.
    for k in 0..2 {
        let err = partition.append(&idem(7, 0, 2 * k, 2, "old"), NOW_MS);
        assert!(
            matches!(err, Err(LogError::OutOfOrderSequence(_))),
            "batch {k}: {err:?}"
        );
    }
    assert_eq!(partition.offsets().log_end, 14);
    assert_eq!(values(&partition).len(), 14);
}

#[test]
fn a_rejected_batch_rejects_the_whole_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, partition) = setup(dir.path());
    let mut payload = idem(1, 0, 0, 2, "a");
    payload.extend(idem(1, 0, 2, 1, "b"));
    payload.extend(idem(1, 0, 9, 1, "gap"));
    assert!(matches!(
        partition.append(&payload, NOW_MS),
        Err(LogError::OutOfOrderSequence(_))
    ));
    assert_eq!(partition.offsets().log_end, 0);
    // Nothing was recorded either: sequence 0 is still the start.
    let mut payload = idem(1, 0, 0, 2, "a");
    payload.extend(idem(1, 0, 2, 1, "b"));
    assert_eq!(
        partition
            .append(&payload, NOW_MS)
            .expect("append")
            .last_offset,
        2
    );
    // Plain batches mixed in are untouched by the producer rules.
    let mut payload = common::batch(1, 2, NOW_MS);
    payload.extend(idem(1, 0, 3, 1, "c"));
    assert_eq!(
        partition
            .append(&payload, NOW_MS)
            .expect("mixed")
            .base_offset,
        3
    );
}

#[test]
fn producer_state_survives_a_clean_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, partition) = setup(dir.path());
        partition
            .append(&idem(3, 2, 0, 4, "x"), NOW_MS)
            .expect("append");
        partition
            .append(&idem(3, 2, 4, 1, "y"), NOW_MS)
            .expect("append");
        store.shutdown().expect("shutdown");
    }
    let (_store, partition) = setup(dir.path());
    let info = partition
        .append(&idem(3, 2, 4, 1, "y"), NOW_MS)
        .expect("retry");
    assert!(info.duplicate && info.base_offset == 4);
    assert!(matches!(
        partition.append(&idem(3, 1, 5, 1, "z"), NOW_MS),
        Err(LogError::InvalidProducerEpoch(_))
    ));
    assert!(matches!(
        partition.append(&idem(3, 2, 9, 1, "z"), NOW_MS),
        Err(LogError::OutOfOrderSequence(_))
    ));
    assert_eq!(
        partition
            .append(&idem(3, 2, 5, 1, "z"), NOW_MS)
            .expect("next")
            .base_offset,
        5
    );
}

#[test]
fn producer_state_survives_an_unclean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
        store.create_topic("t", 1, no_overrides()).expect("create");
        let partition = store.topic("t").and_then(|t| t.partition(0)).expect("p0");
        partition
            .append(&idem(5, 0, 0, 2, "a"), NOW_MS)
            .expect("append");
        partition
            .append(&idem(6, 0, 0, 1, "b"), NOW_MS)
            .expect("append");
        partition
            .append(&idem(5, 0, 2, 2, "c"), NOW_MS)
            .expect("append");
        drop(partition);
        drop(store); // no shutdown: like SIGKILL, no snapshot at close
    }
    let (_store, partition) = setup(dir.path());
    for (pid, seq, count, base) in [(5, 0, 2, 0), (6, 0, 1, 2), (5, 2, 2, 3)] {
        let info = partition
            .append(&idem(pid, 0, seq, count, "r"), NOW_MS)
            .expect("retry");
        assert!(info.duplicate, "producer {pid} seq {seq}");
        assert_eq!(info.base_offset, base);
    }
    assert_eq!(
        partition
            .append(&idem(5, 0, 4, 1, "d"), NOW_MS)
            .expect("next")
            .base_offset,
        5
    );
    // And once more, now that a snapshot may exist from the flusher.
    drop(partition);
    drop(_store);
    let (_store, partition) = setup(dir.path());
    assert!(
        partition
            .append(&idem(5, 0, 4, 1, "d"), NOW_MS)
            .expect("retry")
            .duplicate
    );
    assert_eq!(values(&partition).len(), 6);
}

#[test]
fn idle_producers_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, partition) = setup(dir.path());
    partition
        .append(&idem(1, 0, 0, 1, "a"), NOW_MS)
        .expect("append");
    partition
        .enforce_retention(NOW_MS + log::PRODUCER_ID_EXPIRATION_MS - 1)
        .expect("retention");
    assert!(
        partition
            .append(&idem(1, 0, 0, 1, "a"), NOW_MS)
            .expect("retry")
            .duplicate
    );
    partition
        .enforce_retention(NOW_MS + log::PRODUCER_ID_EXPIRATION_MS + 1)
        .expect("retention");
    // Forgotten: the same batch is now new data (Kafka does the same).
    assert!(
        !partition
            .append(&idem(1, 0, 0, 1, "a"), NOW_MS)
            .expect("append")
            .duplicate
    );
}

#[test]
fn producer_ids_are_unique_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
        for _ in 0..5 {
            assert!(seen.insert(store.allocate_producer_id().expect("id")));
        }
        drop(store); // unclean or clean alike
    }
}

/// Producers send logical batches in order, resending some (a retry after a
/// lost answer) and bumping their epoch now and then; appends interleave
/// across producers and the store is reopened (cleanly or not) at random.
/// Model: each producer's logical batches appear exactly once, in order.
#[test]
fn randomized_retries_store_every_batch_exactly_once() {
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, mut partition) = setup(dir.path());
        // Per producer: (epoch, next seq, next logical batch number, last sent batch)
        let mut producers: Vec<(i16, i32, u32, Option<Vec<u8>>)> = vec![(0, 0, 0, None); 4];
        let mut expected: Vec<Vec<String>> = vec![Vec::new(); 4];
        for _ in 0..300 {
            let p = rng.gen_range(0..producers.len());
            let (epoch, seq, n, last) = &mut producers[p];
            if let (Some(sent), true) = (last.as_ref(), rng.gen_bool(0.3)) {
                let info = partition.append(sent, NOW_MS).expect("retry");
                assert!(
                    info.duplicate,
                    "seed {seed}: a retry must not be stored again"
                );
                continue;
            }
            if rng.gen_bool(0.05) {
                *epoch += 1;
                *seq = 0;
            }
            let count = rng.gen_range(1..4);
            let tag = format!("p{p}-b{n}");
            let batch = idem(p as i64, *epoch, *seq, count, &tag);
            let info = partition.append(&batch, NOW_MS).expect("append");
            assert!(
                !info.duplicate,
                "seed {seed}: new batch taken for a duplicate"
            );
            expected[p].extend((0..count).map(|i| format!("{tag}-{i}")));
            *seq += count as i32;
            *n += 1;
            *last = Some(batch);
            if rng.gen_bool(0.02) {
                let clean = rng.gen_bool(0.5);
                if clean {
                    store.shutdown().expect("shutdown");
                }
                drop(partition);
                drop(store);
                (store, partition) = setup(dir.path());
            }
        }
        let mut stored: Vec<Vec<String>> = vec![Vec::new(); 4];
        for value in values(&partition) {
            let p: usize = value[1..value.find('-').expect("tag")]
                .parse()
                .expect("producer");
            stored[p].push(value);
        }
        assert_eq!(stored, expected, "seed {seed}");
    }
}

#[test]
fn a_corrupt_or_missing_snapshot_is_rebuilt_from_the_active_segment() {
    for damage in ["corrupt", "missing", "past the log end"] {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (store, partition) = setup(dir.path());
            partition
                .append(&idem(9, 0, 0, 3, "a"), NOW_MS)
                .expect("append");
            partition
                .append(&idem(9, 0, 3, 1, "b"), NOW_MS)
                .expect("append");
            store.shutdown().expect("shutdown");
        }
        let snapshot = dir.path().join("topics/t/0/producer-state.json");
        assert!(snapshot.exists(), "clean shutdown writes the snapshot");
        match damage {
            "corrupt" => std::fs::write(&snapshot, b"{\"version\":1,\"end_of").expect("write"),
            "missing" => std::fs::remove_file(&snapshot).expect("remove"),
            _ => {
                let text = std::fs::read_to_string(&snapshot).expect("read");
                let text = text.replace("\"end_offset\":4", "\"end_offset\":99");
                std::fs::write(&snapshot, text).expect("write");
            }
        }
        let (_store, partition) = setup(dir.path());
        let info = partition
            .append(&idem(9, 0, 3, 1, "b"), NOW_MS)
            .expect("retry");
        assert!(info.duplicate && info.base_offset == 3, "{damage}");
        assert!(
            matches!(
                partition.append(&idem(9, 0, 7, 1, "c"), NOW_MS),
                Err(LogError::OutOfOrderSequence(_))
            ),
            "{damage}"
        );
    }
}
