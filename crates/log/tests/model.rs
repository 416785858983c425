//! Seeded randomized run of one partition against a model: a Vec of the
//! batches that should be stored. Covers appends, reads at random offsets,
//! rolls (tiny segments), clean and unclean reopen, retention, DeleteRecords.

mod common;

use common::*;
use log::{FlushPolicy, LogError, Partition, Store, TopicConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

struct Model {
    /// (base offset, stored bytes) of every batch still retained.
    batches: Vec<(i64, Vec<u8>)>,
    log_start: i64,
    log_end: i64,
}

impl Model {
    fn containing(&self, offset: i64) -> usize {
        self.batches.partition_point(|(base, b)| {
            base + records::BatchHeader::parse(b).unwrap().offset_count() <= offset
        })
    }
}

fn partition(store: &Store) -> Arc<Partition> {
    store.topic("m").unwrap().partition(0).unwrap()
}

fn check_read(p: &Partition, model: &Model, offset: i64, max_bytes: usize) {
    let read = p.read(offset, max_bytes).unwrap();
    if offset == model.log_end {
        assert!(read.is_empty());
        return;
    }
    let first = model.containing(offset);
    let mut expected = Vec::new();
    for (_, b) in &model.batches[first..] {
        if expected.len() >= (read.len() as usize) {
            break;
        }
        expected.extend_from_slice(b);
    }
    assert!(
        !read.is_empty(),
        "read({offset}) below the high watermark returned nothing"
    );
    assert_eq!(
        read.to_vec().unwrap(),
        expected[..(read.len() as usize)],
        "read({offset}, {max_bytes})"
    );
    assert_eq!(expected.len(), (read.len() as usize), "whole batches only");
    let first_len = model.batches[first].1.len();
    let budget = max_bytes.max(first_len);
    assert!((read.len() as usize) <= budget);
    // And as many whole batches as fit: a read stops short only at the end
    // of a segment.
    let taken = model.batches[first..]
        .iter()
        .scan(0, |sum, (_, b)| {
            *sum += b.len();
            Some(*sum)
        })
        .take_while(|&sum| sum <= read.len() as usize)
        .count();
    if let Some((next_base, next)) = model.batches.get(first + taken) {
        let fits = read.len() as usize + next.len() <= budget;
        let segment_starts = p.segment_base_offsets().contains(next_base);
        assert!(
            !fits || segment_starts,
            "read({offset}, {max_bytes}) stopped at {} bytes although the next batch fits",
            read.len()
        );
    }
}

fn run(seed: u64, flush: FlushPolicy, cache_window: Option<u64>) {
    let open = |dir: &std::path::Path, flush, defaults| {
        let mut options = options(dir, flush, defaults);
        options.page_cache_window_bytes = cache_window;
        Store::open(options).expect("open store")
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let defaults = TopicConfig {
        segment_bytes: 1500,
        retention_ms: -1,
        ..TopicConfig::default()
    };
    let mut store = open(dir.path(), flush, defaults.clone());
    store.create_topic("m", 1, no_overrides()).unwrap();
    let mut model = Model {
        batches: Vec::new(),
        log_start: 0,
        log_end: 0,
    };
    for step in 0..600 {
        let p = partition(&store);
        match rng.gen_range(0..100) {
            0..=49 => {
                let count = rng.gen_range(1..6);
                let payload = batch(step, count, rng.gen_range(0..1000));
                let info = p.append(&payload, 0).unwrap();
                runtime.block_on(store.wait_durable(info.ticket)).unwrap();
                assert_eq!(info.base_offset, model.log_end);
                let mut stored = payload;
                records::stamp_base_offset(&mut stored, info.base_offset);
                model.batches.push((info.base_offset, stored));
                model.log_end = info.last_offset + 1;
            }
            50..=84 => {
                let offset = rng.gen_range(model.log_start..=model.log_end);
                check_read(&p, &model, offset, rng.gen_range(0..2000));
            }
            85..=89 => {
                drop(p);
                let clean = rng.gen_bool(0.5);
                if clean {
                    store.shutdown().unwrap();
                }
                drop(store);
                store = open(dir.path(), flush, defaults.clone());
            }
            90..=94 => {
                let bytes_max = rng.gen_range(0..6000);
                let config = TopicConfig {
                    retention_bytes: bytes_max,
                    ..defaults.clone()
                };
                // Retention reads the topic's config; emulate an alteration
                // through a fresh store with other defaults.
                drop(p);
                drop(store);
                store = open(dir.path(), flush, config);
                store.enforce_retention(0);
                let p = partition(&store);
                let start = p.offsets().log_start;
                assert!(start >= model.log_start);
                apply_log_start(&mut model, start);
                drop(p);
                drop(store);
                store = open(dir.path(), flush, defaults.clone());
            }
            _ => {
                let offset = rng.gen_range(model.log_start..=model.log_end + 1);
                match p.delete_records_before(offset) {
                    Ok(start) => {
                        assert_eq!(start, offset.max(model.log_start));
                        apply_log_start(&mut model, start);
                    }
                    Err(LogError::OffsetOutOfRange { .. }) => assert_eq!(offset, model.log_end + 1),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        let p = partition(&store);
        let offsets = p.offsets();
        assert_eq!(
            (offsets.log_start, offsets.log_end),
            (model.log_start, model.log_end),
            "step {step}"
        );
        assert_eq!(offsets.high_watermark, model.log_end);
    }
    // Final sweep: every retained offset reads back exactly.
    let p = partition(&store);
    for offset in model.log_start..model.log_end {
        check_read(&p, &model, offset, 0);
    }
    assert!(
        matches!(
            p.read(model.log_start - 1, 10),
            Err(LogError::OffsetOutOfRange { .. })
        ) || model.log_start == 0
    );
}

fn apply_log_start(model: &mut Model, start: i64) {
    model.log_start = start;
    // Batches wholly below the start can no longer be read.
    let keep_from = model.containing(start);
    model.batches.drain(..keep_from);
}

#[test]
fn model_never() {
    for seed in 0..4 {
        run(seed, FlushPolicy::Never, None);
    }
}

#[test]
fn model_always() {
    run(21, FlushPolicy::Always, None);
}

#[test]
fn model_interval() {
    run(11, FlushPolicy::IntervalMs(1), None);
}

/// Dropping synced bytes from the page cache right away changes nothing a
/// reader sees.
#[test]
fn model_always_dropping_page_cache() {
    run(5, FlushPolicy::Always, Some(0));
    run(6, FlushPolicy::IntervalMs(1), Some(600));
}
