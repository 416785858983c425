//! The storage engine: topics made of partitions, partitions made of segments.
//!
//! A partition is a directory of segments named by base offset. Each segment's
//! `.log` file holds Kafka RecordBatch v2 bytes exactly as the producer sent
//! them (only `baseOffset` is stamped), with a sparse offset index and a time
//! index beside it. This crate knows nothing of the wire protocol or the
//! network: the broker translates requests into calls on [`Store`] and
//! [`Partition`], and [`LogError`] values back into Kafka error codes.
//!
//! Code map: `store` (data dir, lock, topics), `partition` (append;
//! `partition/read`, `partition/durability`: read by offset, flush side and
//! high watermark), `segment` + `index` (one segment and its indexes),
//! `recovery` (opening after a crash), `retention`, `lookup` (by timestamp),
//! `flush` (policy and the group-commit flusher thread), `checkpoint`
//! (small metadata files written atomically), `producer_state`
//! (idempotent-producer sequences and duplicates, with their snapshot),
//! `producer_ids` (producer-id allocation).

mod checkpoint;
pub mod config;
mod error;
mod flush;
mod index;
mod lookup;
mod partition;
mod producer_ids;
mod producer_state;
mod recovery;
mod retention;
mod segment;
mod store;
mod sync_pool;
pub mod topic_name;

pub use config::TopicConfig;
pub use error::LogError;
pub use flush::{FlushPolicy, FlushTicket};
pub use partition::{
    AppendInfo, FileRange, Partition, PartitionOffsets, ReadResult, TimestampOffset,
    APPEND_BATCHES_MAX,
};
pub use producer_state::{PRODUCERS_PER_PARTITION_MAX, PRODUCER_ID_EXPIRATION_MS};
pub use store::{Store, StoreOptions, Topic};
