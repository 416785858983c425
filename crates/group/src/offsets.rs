//! Committed offsets of one group: the in-memory map, the records that persist
//! it, fetch answers (never-committed partitions answer offset -1), deletion
//! and retention-based expiry. Who may commit (generation / member epoch
//! checks) is decided in `coordinator.rs`, not here.

use std::collections::BTreeMap;

use crate::error::GroupError;
use crate::records::{offset_key, offset_value, OffsetValue, PersistRecord};

/// One partition in an OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An OffsetCommit request. `generation_id_or_member_epoch` is -1 for simple
/// (admin / manual-assignment) commits with an empty `member_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id_or_member_epoch: i32,
    pub partitions: Vec<CommitPartition>,
}

/// One partition's answer to OffsetCommit or OffsetDelete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    pub topic: String,
    pub partition: i32,
    pub result: Result<(), GroupError>,
}

/// One partition's answer to OffsetFetch: -1 / -1 / "" when never committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

#[derive(Default)]
pub(crate) struct OffsetStore {
    map: BTreeMap<(String, i32), OffsetValue>,
}

impl OffsetStore {
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.map.contains_key(&(topic.to_owned(), partition))
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<&OffsetValue> {
        self.map.get(&(topic.to_owned(), partition))
    }

    /// Stores one commit and returns its record.
    pub fn commit(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        value: OffsetValue,
    ) -> PersistRecord {
        let record = PersistRecord {
            key: offset_key(group, topic, partition),
            value: Some(offset_value(&value)),
        };
        self.map.insert((topic.to_owned(), partition), value);
        record
    }

    /// Applies a replayed record (`None` deletes).
    pub fn replay(&mut self, topic: String, partition: i32, value: Option<OffsetValue>) {
        match value {
            Some(v) => {
                self.map.insert((topic, partition), v);
            }
            None => {
                self.map.remove(&(topic, partition));
            }
        }
    }

    pub fn fetch_one(&self, topic: &str, partition: i32) -> FetchedOffset {
        match self.get(topic, partition) {
            Some(v) => FetchedOffset {
                topic: topic.to_owned(),
                partition,
                offset: v.offset,
                leader_epoch: v.leader_epoch,
                metadata: v.metadata.clone(),
            },
            None => unknown_offset(topic, partition),
        }
    }

    pub fn fetch_all(&self) -> Vec<FetchedOffset> {
        self.map
            .keys()
            .map(|(t, p)| self.fetch_one(t, *p))
            .collect()
    }

    pub fn delete(&mut self, group: &str, topic: &str, partition: i32) -> Option<PersistRecord> {
        self.map
            .remove(&(topic.to_owned(), partition))
            .map(|_| PersistRecord {
                key: offset_key(group, topic, partition),
                value: None,
            })
    }

    /// Deletes offsets whose age, counted from the later of their commit and
    /// `empty_since_ms` (when the group became empty), reached the retention.
    pub fn expire(
        &mut self,
        group: &str,
        now_ms: i64,
        retention_ms: i64,
        empty_since_ms: i64,
    ) -> Vec<PersistRecord> {
        let expired: Vec<(String, i32)> = self
            .map
            .iter()
            .filter(|(_, v)| {
                now_ms.saturating_sub(v.commit_timestamp_ms.max(empty_since_ms)) >= retention_ms
            })
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .iter()
            .filter_map(|(t, p)| self.delete(group, t, *p))
            .collect()
    }
}

pub(crate) fn unknown_offset(topic: &str, partition: i32) -> FetchedOffset {
    FetchedOffset {
        topic: topic.to_owned(),
        partition,
        offset: -1,
        leader_epoch: -1,
        metadata: String::new(),
    }
}

/// The topics a classic `consumer` member subscribes to, read from its
/// ConsumerProtocolSubscription (int16 version, then an int32-counted list of
/// int16-length strings in every version). `None` if it cannot be read.
pub(crate) fn subscribed_topics(subscription: &[u8]) -> Option<Vec<String>> {
    let mut r = crate::codec::Reader::new(subscription);
    let _version = r.i16().ok()?;
    let count = r.i32().ok()?;
    if count < 0 || count as usize > r.remaining() {
        return None;
    }
    (0..count).map(|_| r.string().ok()).collect()
}
