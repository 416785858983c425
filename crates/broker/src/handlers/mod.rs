//! One file per Kafka API. Each exposes
//! `pub(crate) async fn handle(broker: &Broker, version: i16, request: XRequest) -> XResponse`
//! (Produce returns `Option` because acks=0 gets no answer). Handlers never
//! encode or decode: `dispatch` does that.

// Core data path (lead).
pub(crate) mod api_versions;
pub(crate) mod fetch;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod produce;
// Idempotent producer.
pub(crate) mod init_producer_id;

// Administration (topics, configs, records, cluster).
pub(crate) mod alter_configs;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_log_dirs;
pub(crate) mod incremental_alter_configs;

// Groups and committed offsets (`crate::groups` holds the coordinator).
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod delete_groups;
pub(crate) mod describe_groups;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod sync_group;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// A wire topic name from ours.
pub(crate) fn wire_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}
