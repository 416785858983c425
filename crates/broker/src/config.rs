//! Broker settings that are not storage settings (those live in
//! [`log::StoreOptions`]).

use std::net::SocketAddr;

/// What to do with a CreateTopics replication factor above 1 on this single
/// broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationFactorPolicy {
    /// Accept any factor, keep one replica, and report exactly one replica in
    /// Metadata. The default: tools and test suites ask for 3.
    AcceptAny,
    /// Refuse factors above 1 with INVALID_REPLICATION_FACTOR.
    Refuse,
}

/// Named limits on what clients can make the broker hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request frame accepted; checked before any allocation.
    pub request_bytes_max: usize,
    /// Most concurrent client connections; further accepts wait.
    pub connections_max: usize,
    /// Most requests read from one connection and not yet answered.
    pub in_flight_per_connection_max: usize,
    /// Kafka's broker `fetch.max.bytes`: most record bytes in one fetch
    /// response, whatever the request allows (the first batch with data is
    /// sent whole even past it, as KIP-74 has it for the request's limit).
    pub fetch_max_bytes: usize,
}

/// Kafka's default `fetch.max.bytes` (55 MiB).
const FETCH_MAX_BYTES_DEFAULT: usize = 55 * 1024 * 1024;
/// The least `fetch.max.bytes` Kafka accepts.
pub const FETCH_MAX_BYTES_MIN: usize = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_bytes_max: 100 * 1024 * 1024,
            connections_max: 10_000,
            in_flight_per_connection_max: 32,
            fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where the Kafka listener binds. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Host advertised in Metadata; defaults to the listen IP.
    pub advertised_host: Option<String>,
    /// Port advertised in Metadata; defaults to the bound port.
    pub advertised_port: Option<u16>,
    /// This broker's node id in Metadata.
    pub node_id: i32,
    /// Kafka `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Kafka `num.partitions`: partitions of auto-created topics.
    pub default_partitions: u32,
    pub replication_factor_policy: ReplicationFactorPolicy,
    /// How often retention and `segment.ms` rolls are enforced.
    pub retention_check_interval_ms: u64,
    pub limits: Limits,
    /// The group coordinator's settings.
    pub groups: GroupConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised_host: None,
            advertised_port: None,
            node_id: 0,
            auto_create_topics: true,
            default_partitions: 1,
            replication_factor_policy: ReplicationFactorPolicy::AcceptAny,
            retention_check_interval_ms: 30_000,
            limits: Limits::default(),
            groups: GroupConfig::default(),
        }
    }
}

/// Group coordinator settings; Kafka's config name is given per field.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`
    pub session_timeout_min_ms: i32,
    /// `group.max.session.timeout.ms`
    pub session_timeout_max_ms: i32,
    /// `group.max.size`: members of one classic group.
    pub members_max: usize,
    /// `group.consumer.max.size`: members of one KIP-848 group.
    pub consumer_members_max: usize,
    /// `group.consumer.session.timeout.ms`
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`
    pub consumer_heartbeat_interval_ms: i32,
    /// Groups this broker coordinates (Kafka has no such limit).
    pub groups_max: usize,
    /// `offsets.retention.minutes`
    pub offsets_retention_minutes: u64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`,
    /// used only when the topic is created.
    pub offsets_topic_partitions: u32,
    /// JoinGroup/SyncGroup requests parked at once, across all groups.
    pub waiting_requests_max: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            session_timeout_min_ms: 6_000,
            session_timeout_max_ms: 1_800_000,
            members_max: 1_000,
            consumer_members_max: 1_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            groups_max: 10_000,
            offsets_retention_minutes: 7 * 24 * 60,
            offsets_topic_partitions: 50,
            waiting_requests_max: 100_000,
        }
    }
}
