//! Topic configuration under Kafka's own key names: the accepted keys, their
//! value rules, parsing of a topic's overrides and rendering of effective
//! values.
//!
//! A topic's effective config is the broker defaults overlaid with the topic's
//! explicit overrides. Only keys in [`KEYS`] are accepted; anything else is
//! `LogError::InvalidConfig`, as Kafka answers INVALID_CONFIG. Some keys change
//! how the log behaves (retention, segments, cleanup policy, batch size,
//! timestamp type); the others are ones tools commonly set that mean nothing on
//! a single node storing batches as produced: they are validated by type and
//! kept verbatim so DescribeConfigs reports what was set. Wire types and Kafka
//! error codes live in the broker, not here.

use crate::LogError;
use std::collections::BTreeMap;

/// Smallest accepted `segment.bytes`. Kafka's floor is higher (1 MiB since
/// 4.0); Weir allows small segments so retention and roll can be exercised
/// with little data. A batch larger than a segment gets a segment of its own.
pub const SEGMENT_BYTES_MIN: u64 = 1024;

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

/// What a value must look like to be accepted for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRule {
    /// A 64-bit integer at least `min`.
    Long { min: i64 },
    /// A 32-bit integer at least `min`.
    Int { min: i32 },
    /// `true` or `false`, any case.
    Bool,
    /// A number in `[0, 1]`.
    Ratio,
    /// `delete`, `compact`, or both comma-separated in any order.
    CleanupPolicy,
    /// `CreateTime` or `LogAppendTime`.
    TimestampType,
    /// Only `producer`: batches are stored exactly as produced.
    CompressionType,
    /// A comma-separated list of anything (throttled replica lists).
    AnyList,
}

/// One accepted config key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub kind: ConfigType,
    pub doc: &'static str,
    /// The broker-wide setting that supplies this key's default in Kafka
    /// (`log.retention.ms` for `retention.ms`), reported as a synonym.
    pub broker_name: &'static str,
    /// Kafka's default, as Kafka renders it.
    pub kafka_default: &'static str,
    pub rule: ValueRule,
    /// Whether the key changes Weir's behaviour; the others are stored and
    /// reported only.
    pub effective: bool,
}

const fn key(
    name: &'static str,
    kind: ConfigType,
    rule: ValueRule,
    kafka_default: &'static str,
    broker_name: &'static str,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        kind,
        doc,
        broker_name,
        kafka_default,
        rule,
        effective: false,
    }
}

const fn effective(k: ConfigKey) -> ConfigKey {
    ConfigKey {
        effective: true,
        ..k
    }
}

const LONG_MAX: &str = "9223372036854775807";
const SEGMENT_BYTES_MIN_I32: i32 = SEGMENT_BYTES_MIN as i32;

/// Every topic config key Weir accepts, sorted by name.
pub const KEYS: &[ConfigKey] = &[
    effective(key("cleanup.policy", ConfigType::List, ValueRule::CleanupPolicy, "delete", "log.cleanup.policy",
        "How old segments are cleaned: delete (by retention), compact (keep the last record per key), or both.")),
    key("compression.type", ConfigType::String, ValueRule::CompressionType, "producer", "compression.type",
        "Only 'producer' is accepted: Weir stores batches exactly as the producer compressed them."),
    key("delete.retention.ms", ConfigType::Long, ValueRule::Long { min: 0 }, "86400000", "log.cleaner.delete.retention.ms",
        "How long delete tombstones are kept on compacted topics (reported only)."),
    key("file.delete.delay.ms", ConfigType::Long, ValueRule::Long { min: 0 }, "60000", "log.segment.delete.delay.ms",
        "Delay before a deleted segment's files are removed (reported only)."),
    key("flush.messages", ConfigType::Long, ValueRule::Long { min: 1 }, LONG_MAX, "log.flush.interval.messages",
        "Records between forced flushes (reported only; Weir's flush policy is broker-wide)."),
    key("flush.ms", ConfigType::Long, ValueRule::Long { min: 0 }, LONG_MAX, "log.flush.interval.ms",
        "Milliseconds between forced flushes (reported only; Weir's flush policy is broker-wide)."),
    key("follower.replication.throttled.replicas", ConfigType::List, ValueRule::AnyList, "", "follower.replication.throttled.replicas",
        "Replicas to throttle on followers (reported only: a single node has no followers)."),
    key("index.interval.bytes", ConfigType::Int, ValueRule::Int { min: 0 }, "4096", "log.index.interval.bytes",
        "Bytes between offset index entries (reported only; Weir's interval is broker-wide)."),
    key("leader.replication.throttled.replicas", ConfigType::List, ValueRule::AnyList, "", "leader.replication.throttled.replicas",
        "Replicas to throttle on the leader (reported only: a single node has no followers)."),
    key("max.compaction.lag.ms", ConfigType::Long, ValueRule::Long { min: 1 }, LONG_MAX, "log.cleaner.max.compaction.lag.ms",
        "Longest time a record stays uncompacted (reported only)."),
    effective(key("max.message.bytes", ConfigType::Int, ValueRule::Int { min: 0 }, "1048588", "message.max.bytes",
        "The largest record batch the topic accepts, in bytes.")),
    key("message.downconversion.enable", ConfigType::Boolean, ValueRule::Bool, "true", "log.message.downconversion.enable",
        "Whether old fetch versions get down-converted batches (reported only)."),
    key("message.timestamp.after.max.ms", ConfigType::Long, ValueRule::Long { min: 0 }, LONG_MAX, "log.message.timestamp.after.max.ms",
        "Largest allowed lead of a record timestamp over broker time (reported only)."),
    key("message.timestamp.before.max.ms", ConfigType::Long, ValueRule::Long { min: 0 }, LONG_MAX, "log.message.timestamp.before.max.ms",
        "Largest allowed lag of a record timestamp behind broker time (reported only)."),
    key("message.timestamp.difference.max.ms", ConfigType::Long, ValueRule::Long { min: 0 }, LONG_MAX, "log.message.timestamp.difference.max.ms",
        "Largest allowed gap between record and broker time (deprecated in Kafka; reported only)."),
    effective(key("message.timestamp.type", ConfigType::String, ValueRule::TimestampType, "CreateTime", "log.message.timestamp.type",
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with broker time.")),
    key("min.cleanable.dirty.ratio", ConfigType::Double, ValueRule::Ratio, "0.5", "log.cleaner.min.cleanable.ratio",
        "Share of uncompacted log that triggers compaction (reported only)."),
    key("min.compaction.lag.ms", ConfigType::Long, ValueRule::Long { min: 0 }, "0", "log.cleaner.min.compaction.lag.ms",
        "Shortest time a record stays uncompacted (reported only)."),
    key("min.insync.replicas", ConfigType::Int, ValueRule::Int { min: 1 }, "1", "min.insync.replicas",
        "Replicas that must acknowledge acks=all writes (reported only: there is one replica)."),
    key("preallocate", ConfigType::Boolean, ValueRule::Bool, "false", "log.preallocate",
        "Whether segment files are preallocated (reported only)."),
    effective(key("retention.bytes", ConfigType::Long, ValueRule::Long { min: -1 }, "-1", "log.retention.bytes",
        "Largest size of a partition before its oldest segments are deleted; -1 is unlimited.")),
    effective(key("retention.ms", ConfigType::Long, ValueRule::Long { min: -1 }, "604800000", "log.retention.ms",
        "How long a segment is kept after its newest record; -1 keeps forever.")),
    effective(key("segment.bytes", ConfigType::Int, ValueRule::Int { min: SEGMENT_BYTES_MIN_I32 }, "1073741824", "log.segment.bytes",
        "Size at which the active segment is rolled, in bytes.")),
    key("segment.index.bytes", ConfigType::Int, ValueRule::Int { min: 4 }, "10485760", "log.index.size.max.bytes",
        "Size of a segment's offset index (reported only)."),
    key("segment.jitter.ms", ConfigType::Long, ValueRule::Long { min: 0 }, "0", "log.roll.jitter.ms",
        "Random jitter subtracted from segment.ms (reported only)."),
    effective(key("segment.ms", ConfigType::Long, ValueRule::Long { min: 1 }, "604800000", "log.roll.ms",
        "Age of the active segment's first record at which it is rolled, in milliseconds.")),
    key("unclean.leader.election.enable", ConfigType::Boolean, ValueRule::Bool, "false", "unclean.leader.election.enable",
        "Whether an out-of-sync replica may become leader (reported only: there is one replica)."),
];

/// The accepted key named `name`, if any.
pub fn config_key(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.name == name)
}

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
    /// Accepted keys with no effect on a single node (`min.insync.replicas`,
    /// `flush.ms`, ...), validated and kept as given, by key.
    pub other: BTreeMap<String, String>,
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
            other: BTreeMap::new(),
        }
    }
}

impl TopicConfig {
    /// `self` (the broker defaults) overlaid with `overrides`, each validated.
    /// The first bad key or value is reported, naming both.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, LogError> {
        let mut config = self.clone();
        for (name, value) in overrides {
            config.set(name, value)?;
        }
        Ok(config)
    }

    /// The value of `key` as Kafka renders it, or `None` for an unknown key.
    pub fn value_of(&self, key: &str) -> Option<String> {
        let value = match key {
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "cleanup.policy" => cleanup_policy_name(self.cleanup_policy).to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => {
                timestamp_type_name(self.message_timestamp_type).to_string()
            }
            _ => match self.other.get(key) {
                Some(value) => value.clone(),
                None => config_key(key)?.kafka_default.to_string(),
            },
        };
        Some(value)
    }

    /// Validates one override and applies it to `self`.
    fn set(&mut self, name: &str, value: &str) -> Result<(), LogError> {
        let Some(key) = config_key(name) else {
            return Err(LogError::InvalidConfig(format!(
                "unknown topic config {name:?} (value {value:?})"
            )));
        };
        let invalid = |why: &str| {
            LogError::InvalidConfig(format!("invalid value {value:?} for {name}: {why}"))
        };
        let value = value.trim();
        match key.rule {
            ValueRule::Long { min } => {
                let parsed = parse_long(value, min).map_err(|why| invalid(&why))?;
                match name {
                    "retention.ms" => self.retention_ms = parsed,
                    "retention.bytes" => self.retention_bytes = parsed,
                    "segment.ms" => self.segment_ms = parsed,
                    _ => self.keep(name, parsed.to_string()),
                }
            }
            ValueRule::Int { min } => {
                let parsed = parse_int(value, min).map_err(|why| invalid(&why))?;
                // `parse_int` refuses negatives for every key with a
                // non-negative floor, so these conversions cannot fail.
                match (name, u32::try_from(parsed)) {
                    ("segment.bytes", Ok(bytes)) => self.segment_bytes = u64::from(bytes),
                    ("max.message.bytes", Ok(bytes)) => self.max_message_bytes = bytes as usize,
                    _ => self.keep(name, parsed.to_string()),
                }
            }
            ValueRule::Bool => {
                let parsed = parse_bool(value).map_err(|why| invalid(&why))?;
                self.keep(name, parsed.to_string());
            }
            ValueRule::Ratio => {
                let parsed = parse_ratio(value).map_err(|why| invalid(&why))?;
                self.keep(name, parsed.to_string());
            }
            ValueRule::CleanupPolicy => {
                self.cleanup_policy = parse_cleanup_policy(value).map_err(|why| invalid(&why))?;
            }
            ValueRule::TimestampType => {
                self.message_timestamp_type =
                    parse_timestamp_type(value).map_err(|why| invalid(&why))?;
            }
            ValueRule::CompressionType => {
                if value != "producer" {
                    return Err(invalid(
                        "Weir stores batches exactly as the producer sent them, so only 'producer' is supported",
                    ));
                }
                self.keep(name, value.to_string());
            }
            ValueRule::AnyList => self.keep(name, normalize_list(value)),
        }
        Ok(())
    }

    fn keep(&mut self, name: &str, value: String) {
        self.other.insert(name.to_string(), value);
    }
}

pub fn cleanup_policy_name(policy: CleanupPolicy) -> &'static str {
    match policy {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactDelete => "compact,delete",
    }
}

pub fn timestamp_type_name(kind: TimestampType) -> &'static str {
    match kind {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

fn parse_long(value: &str, min: i64) -> Result<i64, String> {
    let parsed: i64 = value
        .parse()
        .map_err(|_| "expected a 64-bit integer".to_string())?;
    if parsed < min {
        return Err(format!("must be at least {min}"));
    }
    Ok(parsed)
}

fn parse_int(value: &str, min: i32) -> Result<i32, String> {
    let parsed: i32 = value
        .parse()
        .map_err(|_| "expected a 32-bit integer".to_string())?;
    if parsed < min {
        return Err(format!("must be at least {min}"));
    }
    Ok(parsed)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".to_string())
    }
}

fn parse_ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err("expected a number between 0 and 1".to_string()),
    }
}

/// Kafka accepts the list in any order and with spaces around commas.
fn parse_cleanup_policy(value: &str) -> Result<CleanupPolicy, String> {
    let (mut delete, mut compact) = (false, false);
    for item in value.split(',').map(str::trim) {
        match item {
            "delete" => delete = true,
            "compact" => compact = true,
            _ => return Err("expected delete, compact, or compact,delete".to_string()),
        }
    }
    Ok(match (delete, compact) {
        (true, true) => CleanupPolicy::CompactDelete,
        (false, true) => CleanupPolicy::Compact,
        _ => CleanupPolicy::Delete,
    })
}

fn parse_timestamp_type(value: &str) -> Result<TimestampType, String> {
    match value {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err("expected CreateTime or LogAppendTime".to_string()),
    }
}

fn normalize_list(value: &str) -> String {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn accepted_values_are_applied() {
        type Check = fn(&TopicConfig) -> bool;
        let cases: &[(&str, &str, Check)] = &[
            ("retention.ms", "-1", |c| c.retention_ms == -1),
            ("retention.ms", " 1000 ", |c| c.retention_ms == 1000),
            ("retention.bytes", "-1", |c| c.retention_bytes == -1),
            ("retention.bytes", "1048576", |c| {
                c.retention_bytes == 1_048_576
            }),
            ("segment.bytes", "1024", |c| c.segment_bytes == 1024),
            ("segment.bytes", "2147483647", |c| {
                c.segment_bytes == 2_147_483_647
            }),
            ("segment.ms", "1", |c| c.segment_ms == 1),
            ("cleanup.policy", "compact", |c| {
                c.cleanup_policy == CleanupPolicy::Compact
            }),
            ("cleanup.policy", "delete", |c| {
                c.cleanup_policy == CleanupPolicy::Delete
            }),
            ("cleanup.policy", "compact,delete", |c| {
                c.cleanup_policy == CleanupPolicy::CompactDelete
            }),
            ("cleanup.policy", "delete, compact", |c| {
                c.cleanup_policy == CleanupPolicy::CompactDelete
            }),
            ("max.message.bytes", "0", |c| c.max_message_bytes == 0),
            ("max.message.bytes", "10485760", |c| {
                c.max_message_bytes == 10_485_760
            }),
            ("message.timestamp.type", "LogAppendTime", |c| {
                c.message_timestamp_type == TimestampType::LogAppendTime
            }),
            ("min.insync.replicas", "2", |c| {
                c.other["min.insync.replicas"] == "2"
            }),
            ("compression.type", "producer", |c| {
                c.other["compression.type"] == "producer"
            }),
            ("unclean.leader.election.enable", "TRUE", |c| {
                c.other["unclean.leader.election.enable"] == "true"
            }),
            ("preallocate", "false", |c| {
                c.other["preallocate"] == "false"
            }),
            ("flush.ms", "1000", |c| c.other["flush.ms"] == "1000"),
            ("min.cleanable.dirty.ratio", "0.25", |c| {
                c.other["min.cleanable.dirty.ratio"] == "0.25"
            }),
            ("leader.replication.throttled.replicas", "0:0, 1:0", |c| {
                c.other["leader.replication.throttled.replicas"] == "0:0,1:0"
            }),
        ];
        for (key, value, check) in cases {
            let config = TopicConfig::default()
                .with_overrides(&overrides(&[(key, value)]))
                .unwrap_or_else(|e| panic!("{key}={value:?} refused: {e}"));
            assert!(check(&config), "{key}={value:?} not applied: {config:?}");
        }
    }

    #[test]
    fn refused_values_name_key_and_value() {
        let cases: &[(&str, &str)] = &[
            ("no.such.key", "1"),
            ("retention.ms", "-2"),
            ("retention.ms", "abc"),
            ("retention.ms", ""),
            ("retention.bytes", "-2"),
            ("segment.bytes", "1023"),
            ("segment.bytes", "2147483648"),
            ("segment.ms", "0"),
            ("cleanup.policy", "none"),
            ("cleanup.policy", ""),
            ("cleanup.policy", "delete,archive"),
            ("max.message.bytes", "-1"),
            ("max.message.bytes", "1.5"),
            ("message.timestamp.type", "createtime"),
            ("min.insync.replicas", "0"),
            ("compression.type", "gzip"),
            ("compression.type", "uncompressed"),
            ("unclean.leader.election.enable", "yes"),
            ("flush.messages", "0"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("index.interval.bytes", "99999999999"),
        ];
        for (key, value) in cases {
            match TopicConfig::default().with_overrides(&overrides(&[(key, value)])) {
                Err(LogError::InvalidConfig(message)) => {
                    assert!(message.contains(key), "{message:?} does not name {key}");
                    assert!(
                        message.contains(&format!("{value:?}")),
                        "{message:?} does not name {value:?}"
                    );
                }
                other => panic!("{key}={value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn compression_refusal_says_why() {
        let error =
            TopicConfig::default().with_overrides(&overrides(&[("compression.type", "zstd")]));
        assert!(format!("{error:?}").contains("as the producer sent them"));
    }

    #[test]
    fn defaults_render_as_kafka_defaults() {
        let defaults = TopicConfig::default();
        for key in KEYS {
            assert_eq!(
                defaults.value_of(key.name).as_deref(),
                Some(key.kafka_default),
                "{}",
                key.name
            );
        }
        assert_eq!(defaults.value_of("no.such.key"), None);
    }

    #[test]
    fn every_key_accepts_its_default_and_renders_it_back() {
        for key in KEYS {
            let config = TopicConfig::default()
                .with_overrides(&overrides(&[(key.name, key.kafka_default)]))
                .unwrap_or_else(|e| panic!("{}: {e}", key.name));
            assert_eq!(
                config.value_of(key.name).as_deref(),
                Some(key.kafka_default),
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn keys_are_sorted_unique_and_documented() {
        for pair in KEYS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        assert!(KEYS
            .iter()
            .all(|k| !k.doc.is_empty() && !k.broker_name.is_empty()));
    }

    #[test]
    fn overrides_layer_on_broker_defaults() {
        let broker = TopicConfig::default()
            .with_overrides(&overrides(&[
                ("retention.ms", "1000"),
                ("min.insync.replicas", "2"),
            ]))
            .unwrap();
        let topic = broker
            .with_overrides(&overrides(&[("segment.bytes", "4096")]))
            .unwrap();
        assert_eq!(topic.retention_ms, 1000);
        assert_eq!(topic.segment_bytes, 4096);
        assert_eq!(topic.value_of("min.insync.replicas").as_deref(), Some("2"));
        assert_eq!(topic.value_of("cleanup.policy").as_deref(), Some("delete"));
    }

    #[test]
    fn rendered_values_parse_back_to_the_same_values() {
        let config = TopicConfig::default()
            .with_overrides(&overrides(&[
                ("cleanup.policy", "delete,compact"),
                ("retention.bytes", "5000"),
            ]))
            .unwrap();
        let rendered: BTreeMap<String, String> = KEYS
            .iter()
            .filter_map(|k| Some((k.name.to_string(), config.value_of(k.name)?)))
            .collect();
        let reparsed = TopicConfig::default().with_overrides(&rendered).unwrap();
        for key in KEYS {
            assert_eq!(
                reparsed.value_of(key.name),
                config.value_of(key.name),
                "{}",
                key.name
            );
        }
    }
}
