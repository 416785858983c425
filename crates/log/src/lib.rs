//! The storage engine: topics made of partitions, partitions made of segments.
//!
//! A partition is a directory of segments named by base offset. Each segment's
//! `.log` file holds Kafka RecordBatch v2 bytes exactly as the producer sent
//! them (only `baseOffset` is stamped), with a sparse offset index and a time
//! index beside it. This crate knows nothing of the wire protocol or the
//! network: the broker translates requests into calls on [`Store`] and
//! [`Partition`], and [`LogError`] values back into Kafka error codes.

pub mod config;
mod error;
mod flush;
mod partition;
mod store;
pub mod topic_name;

pub use config::TopicConfig;
pub use error::LogError;
pub use flush::{FlushPolicy, FlushTicket};
pub use partition::{AppendInfo, Partition, PartitionOffsets, ReadResult, TimestampOffset};
pub use store::{Store, StoreOptions, Topic};
