//! The `__consumer_offsets` record format, byte-compatible with Kafka: every key
//! and value starts with an int16 version; the key version says which record
//! type it is (0/1 offset commit, 2 group metadata, 3-8 KIP-848 consumer group
//! records, see `records_consumer.rs`). A `None` value is a tombstone. This file
//! holds the offset and classic group-metadata records and the decode dispatch;
//! it knows nothing about group state machines.

use crate::codec::{DecodeError, Reader, Writer};
pub use crate::records_consumer::{
    ConsumerMemberValue, CurrentAssignmentValue, TopicMeta, TopicPartitions,
};

/// One record for the broker to append to `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistRecord {
    pub key: Vec<u8>,
    /// `None` is a tombstone (the key is deleted by compaction).
    pub value: Option<Vec<u8>>,
}

/// The value of an offset commit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// The value of a classic group metadata record (GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadataValue>,
}

/// One member inside a `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A decoded `__consumer_offsets` record. `None` payloads are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    GroupMetadata {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    ConsumerGroupEpoch {
        group: String,
        epoch: Option<i32>,
    },
    ConsumerPartitionMetadata {
        group: String,
        topics: Option<Vec<TopicMeta>>,
    },
    ConsumerMember {
        group: String,
        member_id: String,
        value: Option<ConsumerMemberValue>,
    },
    ConsumerTargetEpoch {
        group: String,
        epoch: Option<i32>,
    },
    ConsumerTargetMember {
        group: String,
        member_id: String,
        value: Option<Vec<TopicPartitions>>,
    },
    ConsumerCurrentAssignment {
        group: String,
        member_id: String,
        value: Option<CurrentAssignmentValue>,
    },
    /// A record type or version this coordinator does not know; skipped.
    Unknown {
        key_version: i16,
        value_version: Option<i16>,
    },
}

/// Kafka writes OffsetCommitKey version 1 and OffsetCommitValue version 3.
const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_KEY_VERSION: i16 = 2;
const GROUP_VALUE_VERSION: i16 = 3;

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut w = Writer::new(OFFSET_KEY_VERSION, false);
    w.string(group);
    w.string(topic);
    w.i32(partition);
    w.finish()
}

pub fn offset_value(v: &OffsetValue) -> Vec<u8> {
    let mut w = Writer::new(OFFSET_VALUE_VERSION, false);
    w.i64(v.offset);
    w.i32(v.leader_epoch);
    w.string(&v.metadata);
    w.i64(v.commit_timestamp_ms);
    w.finish()
}

pub fn group_key(group: &str) -> Vec<u8> {
    let mut w = Writer::new(GROUP_KEY_VERSION, false);
    w.string(group);
    w.finish()
}

pub fn group_value(v: &GroupMetadataValue) -> Vec<u8> {
    let mut w = Writer::new(GROUP_VALUE_VERSION, false);
    w.string(&v.protocol_type);
    w.i32(v.generation);
    w.nullable_string(v.protocol.as_deref());
    w.nullable_string(v.leader.as_deref());
    w.i64(v.current_state_timestamp_ms);
    w.array_len(v.members.len());
    for m in &v.members {
        w.string(&m.member_id);
        w.nullable_string(m.group_instance_id.as_deref());
        w.string(&m.client_id);
        w.string(&m.client_host);
        w.i32(m.rebalance_timeout_ms);
        w.i32(m.session_timeout_ms);
        w.bytes(&m.subscription);
        w.bytes(&m.assignment);
    }
    w.finish()
}

/// Decodes one record. Unknown key or value versions give `Record::Unknown`;
/// malformed bytes of a known version give an error.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, DecodeError> {
    let mut k = Reader::new(key);
    let key_version = k.i16()?;
    let record = match key_version {
        0 | 1 => decode_offset(&mut k, value)?,
        2 => decode_group(&mut k, value)?,
        3..=8 => crate::records_consumer::decode(key_version, &mut k, value)?,
        _ => {
            return Ok(Record::Unknown {
                key_version,
                value_version: value_version(value),
            })
        }
    };
    k.end()?;
    Ok(record)
}

pub(crate) fn value_version(value: Option<&[u8]>) -> Option<i16> {
    value.and_then(|v| Reader::new(v).i16().ok())
}

fn decode_offset(k: &mut Reader<'_>, value: Option<&[u8]>) -> Result<Record, DecodeError> {
    let group = k.string()?;
    let topic = k.string()?;
    let partition = k.i32()?;
    let value = match value {
        None => None,
        Some(bytes) => match decode_offset_value(bytes)? {
            Some(v) => Some(v),
            None => {
                return Ok(Record::Unknown {
                    key_version: 1,
                    value_version: value_version(Some(bytes)),
                })
            }
        },
    };
    Ok(Record::Offset {
        group,
        topic,
        partition,
        value,
    })
}

/// Versions 0-4 of OffsetCommitValue; `Ok(None)` for a version beyond them.
fn decode_offset_value(bytes: &[u8]) -> Result<Option<OffsetValue>, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Ok(None);
    }
    r.flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp_ms = r.i64()?;
    if version == 1 {
        let _expire_timestamp_ms = r.i64()?;
    }
    r.tags()?;
    Ok(Some(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
    }))
}

fn decode_group(k: &mut Reader<'_>, value: Option<&[u8]>) -> Result<Record, DecodeError> {
    let group = k.string()?;
    let value = match value {
        None => None,
        Some(bytes) => match decode_group_value(bytes)? {
            Some(v) => Some(v),
            None => {
                return Ok(Record::Unknown {
                    key_version: 2,
                    value_version: value_version(Some(bytes)),
                })
            }
        },
    };
    Ok(Record::GroupMetadata { group, value })
}

/// Versions 0-4 of GroupMetadataValue; `Ok(None)` for a version beyond them.
fn decode_group_value(bytes: &[u8]) -> Result<Option<GroupMetadataValue>, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Ok(None);
    }
    r.flexible = version >= 4;
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    // Each member takes at least four empty strings/bytes plus one int32.
    let count = r.array_len(8)?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        members.push(decode_member(&mut r, version)?);
    }
    r.tags()?;
    Ok(Some(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp_ms,
        members,
    }))
}

fn decode_member(r: &mut Reader<'_>, version: i16) -> Result<MemberMetadataValue, DecodeError> {
    let member_id = r.string()?;
    let group_instance_id = if version >= 3 {
        r.nullable_string()?
    } else {
        None
    };
    let client_id = r.string()?;
    let client_host = r.string()?;
    let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
    let session_timeout_ms = r.i32()?;
    let subscription = r.bytes()?;
    let assignment = r.bytes()?;
    r.tags()?;
    let rebalance_timeout_ms = if rebalance_timeout_ms < 0 {
        session_timeout_ms
    } else {
        rebalance_timeout_ms
    };
    Ok(MemberMetadataValue {
        member_id,
        group_instance_id,
        client_id,
        client_host,
        rebalance_timeout_ms,
        session_timeout_ms,
        subscription,
        assignment,
    })
}

/// The `__consumer_offsets` partition of a group: `abs(hash) % partitions`
/// with Java's `String.hashCode` over UTF-16 code units, as Kafka does
/// (`Utils.abs` maps `i32::MIN` to 0). `partitions` must be positive.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash_matches_kafka() {
        // "hello".hashCode() == 99162322 in Java.
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }

    #[test]
    fn offset_record_bytes_match_kafka_layout() {
        let key = offset_key("g", "t", 2);
        assert_eq!(key, vec![0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]);
        let v = OffsetValue {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 7,
        };
        let bytes = offset_value(&v);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(bytes.len(), 2 + 8 + 4 + 2 + 8);
        let rec = decode(&key, Some(&bytes)).unwrap();
        assert_eq!(
            rec,
            Record::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                value: Some(v)
            }
        );
    }

    #[test]
    fn truncation_at_every_byte_is_an_error_not_a_panic() {
        let v = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp_ms: 99,
            members: vec![MemberMetadataValue {
                member_id: "m1".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300,
                session_timeout_ms: 100,
                subscription: vec![1, 2],
                assignment: vec![3],
            }],
        };
        let key = group_key("grp");
        let bytes = group_value(&v);
        assert_eq!(
            decode(&key, Some(&bytes)).unwrap(),
            Record::GroupMetadata {
                group: "grp".into(),
                value: Some(v)
            }
        );
        for cut in 0..bytes.len() {
            assert!(decode(&key, Some(&bytes[..cut])).is_err(), "cut {cut}");
        }
        for cut in 0..key.len() {
            assert!(decode(&key[..cut], None).is_err());
        }
    }
}
