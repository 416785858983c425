//! Topic configuration under Kafka's own key names. (skeleton: to be implemented)
//!
//! A topic's effective config is the broker defaults overlaid with the topic's
//! explicit overrides. Only keys in [`KEYS`] are accepted; anything else is
//! `LogError::InvalidConfig`, as Kafka answers INVALID_CONFIG.

use crate::LogError;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    Delete,
    Compact,
    CompactDelete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The value type Kafka reports for a key in DescribeConfigs (v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
}

/// One accepted config key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub kind: ConfigType,
    pub doc: &'static str,
}

/// Every topic config key Weir accepts.
pub const KEYS: &[ConfigKey] = &[];

#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// `retention.ms`; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes` per partition; -1 is unlimited.
    pub retention_bytes: i64,
    /// `segment.bytes`: roll the active segment when it would pass this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment when its first batch is this old.
    pub segment_ms: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
}

impl Default for TopicConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        TopicConfig {
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            cleanup_policy: CleanupPolicy::Delete,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
        }
    }
}

impl TopicConfig {
    /// `self` (the broker defaults) overlaid with `overrides`, each validated.
    pub fn with_overrides(&self, _overrides: &BTreeMap<String, String>) -> Result<TopicConfig, LogError> {
        todo!()
    }
    /// The value of `key` as Kafka renders it, or `None` for an unknown key.
    pub fn value_of(&self, _key: &str) -> Option<String> {
        todo!()
    }
}
