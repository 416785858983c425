//! One partition: an ordered list of segments. (skeleton: to be implemented)

use crate::{FlushTicket, LogError};
use std::path::Path;

/// Where an append landed.
#[derive(Debug, Clone, Copy)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Broker time used for `LogAppendTime` topics, else -1.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// Await with [`crate::Store::wait_durable`] before acknowledging.
    pub ticket: FlushTicket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub log_start: i64,
    /// What consumers may read up to: the durable end under `FlushPolicy::Always`,
    /// the log end otherwise.
    pub high_watermark: i64,
    pub log_end: i64,
}

/// Whole stored batches starting with the one containing the requested offset.
#[derive(Debug)]
pub struct ReadResult {
    pub bytes: Vec<u8>,
    pub offsets: PartitionOffsets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp_ms: i64,
    pub offset: i64,
}

pub struct Partition {
    _private: (),
}

impl Partition {
    pub fn id(&self) -> i32 {
        todo!()
    }
    pub fn dir(&self) -> &Path {
        todo!()
    }
    /// Validates and appends the record batches in `records` (one or more
    /// concatenated v2 batches, as a produce request carries them), stamping
    /// base offsets. All-or-nothing: a bad batch rejects the whole append.
    pub fn append(&self, _records: &[u8], _now_ms: i64) -> Result<AppendInfo, LogError> {
        todo!()
    }
    /// Reads whole batches starting at the batch containing `offset`, up to
    /// `max_bytes` but always at least one batch when `offset` < high watermark
    /// (KIP-74), never past the high watermark.
    pub fn read(&self, _offset: i64, _max_bytes: usize) -> Result<ReadResult, LogError> {
        todo!()
    }
    pub fn offsets(&self) -> PartitionOffsets {
        todo!()
    }
    /// Wakes when the high watermark moves; used for fetch long-polls.
    pub fn watch_high_watermark(&self) -> tokio::sync::watch::Receiver<i64> {
        todo!()
    }
    /// The earliest record whose timestamp is >= `timestamp_ms`.
    pub fn offset_for_timestamp(&self, _timestamp_ms: i64) -> Result<Option<TimestampOffset>, LogError> {
        todo!()
    }
    /// The record with the largest timestamp (ListOffsets -3, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        todo!()
    }
    /// DeleteRecords: moves the log start offset up to `offset` (-1 = high
    /// watermark) and drops whole segments below it. Returns the new start.
    pub fn delete_records_before(&self, _offset: i64) -> Result<i64, LogError> {
        todo!()
    }
    pub fn size_bytes(&self) -> u64 {
        todo!()
    }
}
