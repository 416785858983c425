//! `group`: Kafka's group coordinator as a pure state machine — classic
//! rebalance protocol, KIP-848 consumer groups, committed offsets, and their
//! persistence in `__consumer_offsets` records. No IO, no clock (every call
//! takes `now_ms`), no wire types: the broker maps Kafka requests to the types
//! here, appends the returned records, and delivers the returned completions.

mod admin;
mod assignor;
mod classic;
mod classic_join;
mod classic_sync;
mod codec;
mod consumer;
mod consumer_reconcile;
mod consumer_records;
mod coordinator;
mod error;
mod offsets;
mod records;
mod records_consumer;

pub use admin::{
    ConsumerGroupDescription, ConsumerMemberDescription, GroupDescription, ListedGroup,
    MemberDescription, ReplayWarning,
};
pub use assignor::{Assignor, ASSIGNOR_RANGE, ASSIGNOR_UNIFORM};
pub use classic::{
    ClassicState, Completion, HeartbeatRequest, JoinMember, JoinRequest, JoinResponse, LeaveMember,
    Protocol, SyncRequest, SyncResponse,
};
pub use codec::DecodeError;
pub use consumer::{ConsumerHeartbeatRequest, ConsumerHeartbeatResponse, TopicInfo, TopicLookup};
pub use coordinator::{Coordinator, Output, Settings, Token};
pub use error::GroupError;
pub use offsets::{CommitPartition, FetchedOffset, OffsetCommitRequest, PartitionResult};
pub use records::{
    decode, partition_for, GroupMetadataValue, MemberMetadataValue, OffsetValue, PersistRecord,
    Record, TopicPartitions,
};
