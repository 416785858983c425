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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_bytes_max: 100 * 1024 * 1024,
            connections_max: 10_000,
            in_flight_per_connection_max: 32,
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
        }
    }
}
