//! The set of topics in one data directory. (skeleton: to be implemented)

use crate::{FlushPolicy, FlushTicket, LogError, Partition, TopicConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    pub flush: FlushPolicy,
    /// Broker-wide defaults for every topic config (Kafka's `log.*` settings).
    pub defaults: TopicConfig,
    /// Bytes between sparse index entries (Kafka `index.interval.bytes`).
    pub index_interval_bytes: u32,
    /// Most partitions the store will hold across all topics.
    pub partitions_max: u32,
}

pub struct Topic {
    _private: (),
}

impl Topic {
    pub fn name(&self) -> &str {
        todo!()
    }
    pub fn id(&self) -> Uuid {
        todo!()
    }
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        todo!()
    }
    pub fn partition(&self, _id: i32) -> Option<Arc<Partition>> {
        todo!()
    }
    /// Effective config: broker defaults overlaid with this topic's overrides.
    pub fn config(&self) -> TopicConfig {
        todo!()
    }
    /// Only the keys set explicitly on this topic.
    pub fn overrides(&self) -> BTreeMap<String, String> {
        todo!()
    }
}

pub struct Store {
    _private: (),
}

impl Store {
    /// Locks the data directory, recovers every partition, starts the flusher.
    pub fn open(_options: StoreOptions) -> Result<Arc<Store>, LogError> {
        todo!()
    }
    pub fn data_dir(&self) -> &Path {
        todo!()
    }
    pub fn defaults(&self) -> &TopicConfig {
        todo!()
    }
    pub fn topic(&self, _name: &str) -> Option<Arc<Topic>> {
        todo!()
    }
    pub fn topic_by_id(&self, _id: Uuid) -> Option<Arc<Topic>> {
        todo!()
    }
    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        todo!()
    }
    /// Creates a topic with `partitions` partitions and the given config
    /// overrides (validated; unknown keys are `InvalidConfig`).
    pub fn create_topic(
        &self,
        _name: &str,
        _partitions: u32,
        _overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, LogError> {
        todo!()
    }
    pub fn delete_topic(&self, _name: &str) -> Result<(), LogError> {
        todo!()
    }
    /// Grows a topic to `total` partitions (never shrinks).
    pub fn add_partitions(&self, _name: &str, _total: u32) -> Result<(), LogError> {
        todo!()
    }
    /// Replaces the topic's overrides with `overrides` (validated first).
    pub fn set_topic_overrides(
        &self,
        _name: &str,
        _overrides: BTreeMap<String, String>,
    ) -> Result<(), LogError> {
        todo!()
    }
    /// Deletes segments past retention and rolls by `segment.ms`.
    pub fn enforce_retention(&self, _now_ms: i64) {
        todo!()
    }
    /// Resolves when every batch covered by `ticket` is on disk.
    pub async fn wait_durable(&self, _ticket: FlushTicket) -> Result<(), LogError> {
        todo!()
    }
    /// Flushes everything, stops the flusher, marks a clean shutdown.
    pub fn shutdown(&self) -> Result<(), LogError> {
        todo!()
    }
}
