//! Shared helpers for the storage engine's tests: stores in temp dirs and
//! batches made with the records crate's builder.
#![allow(dead_code)]

use log::{FlushPolicy, Partition, Store, StoreOptions, TopicConfig};
use records::{BatchBuilder, Compression, NewRecord};
use std::path::Path;
use std::sync::Arc;

pub fn options(dir: &Path, flush: FlushPolicy, defaults: TopicConfig) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_path_buf(),
        flush,
        defaults,
        index_interval_bytes: 256,
        partitions_max: 1000,
        page_cache_window_bytes: None,
    }
}

pub fn open(dir: &Path, flush: FlushPolicy, defaults: TopicConfig) -> Arc<Store> {
    Store::open(options(dir, flush, defaults)).expect("open store")
}

/// Creates topic `name` with one partition and returns that partition.
pub fn single_partition(store: &Store, name: &str) -> Arc<Partition> {
    store
        .create_topic(name, 1, no_overrides())
        .expect("create topic")
        .partition(0)
        .expect("partition 0")
}

/// A batch of `count` records whose values name `tag` and their index.
pub fn batch(tag: u64, count: usize, timestamp_ms: i64) -> Vec<u8> {
    batch_with(tag, count, timestamp_ms, Compression::None)
}

pub fn batch_with(tag: u64, count: usize, timestamp_ms: i64, compression: Compression) -> Vec<u8> {
    let records = (0..count)
        .map(|i| {
            NewRecord::new(
                Some(format!("k{i}").as_bytes()),
                format!("{tag}-{i}").as_bytes(),
                timestamp_ms + i as i64,
            )
        })
        .collect();
    BatchBuilder::new(records)
        .compression(compression)
        .build()
        .expect("build batch")
}

/// Splits read bytes into (base offset, record count) per batch, validating each.
pub fn batches_in(bytes: &[u8]) -> Vec<(i64, i32)> {
    records::BatchIter::new(bytes)
        .map(|b| {
            let (h, _) = b.expect("stored batch is valid");
            (h.base_offset, h.records_count)
        })
        .collect()
}

pub fn no_overrides() -> std::collections::BTreeMap<String, String> {
    Default::default()
}
