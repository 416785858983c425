//! The KIP-848 consumer group records of `__consumer_offsets` (key versions
//! 3-8, flexible values of version 0), byte-compatible with Kafka's
//! ConsumerGroup* message schemas. Rack data of partition metadata is written
//! empty, as Kafka 4 does. Dispatch and classic records live in `records.rs`.

use crate::codec::{DecodeError, Reader, Writer};
use crate::records::{value_version, Record};

/// Partitions of one topic, by topic id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic_id: [u8; 16],
    pub partitions: Vec<i32>,
}

/// One subscribed topic in ConsumerGroupPartitionMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub topic_id: [u8; 16],
    pub name: String,
    pub partitions: i32,
}

/// ConsumerGroupMemberMetadataValue (classic-protocol member data not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

/// ConsumerGroupCurrentMemberAssignmentValue. `state`: 0 stable,
/// 1 unrevoked partitions, 2 unreleased partitions (Kafka's MemberState).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned: Vec<TopicPartitions>,
    pub pending_revocation: Vec<TopicPartitions>,
}

pub const KEY_GROUP_EPOCH: i16 = 3;
pub const KEY_PARTITION_METADATA: i16 = 4;
pub const KEY_MEMBER: i16 = 5;
pub const KEY_TARGET_EPOCH: i16 = 6;
pub const KEY_TARGET_MEMBER: i16 = 7;
pub const KEY_CURRENT_ASSIGNMENT: i16 = 8;

/// A key of type 3, 4 or 6 (group id only).
pub fn group_key(key_version: i16, group: &str) -> Vec<u8> {
    let mut w = Writer::new(key_version, false);
    w.string(group);
    w.finish()
}

/// A key of type 5, 7 or 8 (group id and member id).
pub fn member_key(key_version: i16, group: &str, member_id: &str) -> Vec<u8> {
    let mut w = Writer::new(key_version, false);
    w.string(group);
    w.string(member_id);
    w.finish()
}

/// ConsumerGroupMetadataValue and ConsumerGroupTargetAssignmentMetadataValue.
pub fn epoch_value(epoch: i32) -> Vec<u8> {
    let mut w = Writer::new(0, true);
    w.i32(epoch);
    w.tags();
    w.finish()
}

pub fn partition_metadata_value(topics: &[TopicMeta]) -> Vec<u8> {
    let mut w = Writer::new(0, true);
    w.array_len(topics.len());
    for t in topics {
        w.uuid(&t.topic_id);
        w.string(&t.name);
        w.i32(t.partitions);
        w.array_len(0);
        w.tags();
    }
    w.tags();
    w.finish()
}

pub fn member_value(v: &ConsumerMemberValue) -> Vec<u8> {
    let mut w = Writer::new(0, true);
    w.nullable_string(v.instance_id.as_deref());
    w.nullable_string(v.rack_id.as_deref());
    w.string(&v.client_id);
    w.string(&v.client_host);
    w.array_len(v.subscribed_topic_names.len());
    for t in &v.subscribed_topic_names {
        w.string(t);
    }
    w.nullable_string(v.subscribed_topic_regex.as_deref());
    w.i32(v.rebalance_timeout_ms);
    w.nullable_string(v.server_assignor.as_deref());
    w.tags();
    w.finish()
}

fn write_topic_partitions(w: &mut Writer, list: &[TopicPartitions]) {
    w.array_len(list.len());
    for tp in list {
        w.uuid(&tp.topic_id);
        w.array_len(tp.partitions.len());
        for p in &tp.partitions {
            w.i32(*p);
        }
        w.tags();
    }
}

pub fn target_member_value(list: &[TopicPartitions]) -> Vec<u8> {
    let mut w = Writer::new(0, true);
    write_topic_partitions(&mut w, list);
    w.tags();
    w.finish()
}

pub fn current_assignment_value(v: &CurrentAssignmentValue) -> Vec<u8> {
    let mut w = Writer::new(0, true);
    w.i32(v.member_epoch);
    w.i32(v.previous_member_epoch);
    w.i8(v.state);
    write_topic_partitions(&mut w, &v.assigned);
    write_topic_partitions(&mut w, &v.pending_revocation);
    w.tags();
    w.finish()
}

/// Decodes a key of version 3-8 (after its version) and its value.
pub(crate) fn decode(
    key_version: i16,
    k: &mut Reader<'_>,
    value: Option<&[u8]>,
) -> Result<Record, DecodeError> {
    let group = k.string()?;
    let member_id = match key_version {
        KEY_MEMBER | KEY_TARGET_MEMBER | KEY_CURRENT_ASSIGNMENT => k.string()?,
        _ => String::new(),
    };
    let mut r = match value {
        None => return Ok(tombstone(key_version, group, member_id)),
        Some(bytes) => Reader::new(bytes),
    };
    if r.i16()? != 0 {
        return Ok(Record::Unknown {
            key_version,
            value_version: value_version(value),
        });
    }
    r.flexible = true;
    let record = match key_version {
        KEY_GROUP_EPOCH => Record::ConsumerGroupEpoch {
            group,
            epoch: Some(read_epoch(&mut r)?),
        },
        KEY_TARGET_EPOCH => Record::ConsumerTargetEpoch {
            group,
            epoch: Some(read_epoch(&mut r)?),
        },
        KEY_PARTITION_METADATA => Record::ConsumerPartitionMetadata {
            group,
            topics: Some(read_partition_metadata(&mut r)?),
        },
        KEY_MEMBER => Record::ConsumerMember {
            group,
            member_id,
            value: Some(read_member(&mut r)?),
        },
        KEY_TARGET_MEMBER => {
            let list = read_topic_partitions(&mut r)?;
            r.tags()?;
            Record::ConsumerTargetMember {
                group,
                member_id,
                value: Some(list),
            }
        }
        _ => Record::ConsumerCurrentAssignment {
            group,
            member_id,
            value: Some(read_current(&mut r)?),
        },
    };
    Ok(record)
}

fn tombstone(key_version: i16, group: String, member_id: String) -> Record {
    match key_version {
        KEY_GROUP_EPOCH => Record::ConsumerGroupEpoch { group, epoch: None },
        KEY_TARGET_EPOCH => Record::ConsumerTargetEpoch { group, epoch: None },
        KEY_PARTITION_METADATA => Record::ConsumerPartitionMetadata {
            group,
            topics: None,
        },
        KEY_MEMBER => Record::ConsumerMember {
            group,
            member_id,
            value: None,
        },
        KEY_TARGET_MEMBER => Record::ConsumerTargetMember {
            group,
            member_id,
            value: None,
        },
        _ => Record::ConsumerCurrentAssignment {
            group,
            member_id,
            value: None,
        },
    }
}

fn read_epoch(r: &mut Reader<'_>) -> Result<i32, DecodeError> {
    let epoch = r.i32()?;
    r.tags()?;
    Ok(epoch)
}

fn read_partition_metadata(r: &mut Reader<'_>) -> Result<Vec<TopicMeta>, DecodeError> {
    let count = r.array_len(22)?;
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let topic_id = r.uuid()?;
        let name = r.string()?;
        let partitions = r.i32()?;
        let racks = r.array_len(6)?;
        for _ in 0..racks {
            let _partition = r.i32()?;
            let names = r.array_len(1)?;
            for _ in 0..names {
                r.string()?;
            }
            r.tags()?;
        }
        r.tags()?;
        topics.push(TopicMeta {
            topic_id,
            name,
            partitions,
        });
    }
    r.tags()?;
    Ok(topics)
}

fn read_member(r: &mut Reader<'_>) -> Result<ConsumerMemberValue, DecodeError> {
    let instance_id = r.nullable_string()?;
    let rack_id = r.nullable_string()?;
    let client_id = r.string()?;
    let client_host = r.string()?;
    let count = r.array_len(1)?;
    let mut subscribed_topic_names = Vec::with_capacity(count);
    for _ in 0..count {
        subscribed_topic_names.push(r.string()?);
    }
    let subscribed_topic_regex = r.nullable_string()?;
    let rebalance_timeout_ms = r.i32()?;
    let server_assignor = r.nullable_string()?;
    r.tags()?;
    Ok(ConsumerMemberValue {
        instance_id,
        rack_id,
        client_id,
        client_host,
        subscribed_topic_names,
        subscribed_topic_regex,
        rebalance_timeout_ms,
        server_assignor,
    })
}

fn read_topic_partitions(r: &mut Reader<'_>) -> Result<Vec<TopicPartitions>, DecodeError> {
    let count = r.array_len(18)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let topic_id = r.uuid()?;
        let n = r.array_len(4)?;
        let mut partitions = Vec::with_capacity(n);
        for _ in 0..n {
            partitions.push(r.i32()?);
        }
        r.tags()?;
        out.push(TopicPartitions {
            topic_id,
            partitions,
        });
    }
    Ok(out)
}

fn read_current(r: &mut Reader<'_>) -> Result<CurrentAssignmentValue, DecodeError> {
    let member_epoch = r.i32()?;
    let previous_member_epoch = r.i32()?;
    let state = r.i8()?;
    let assigned = read_topic_partitions(r)?;
    let pending_revocation = read_topic_partitions(r)?;
    r.tags()?;
    Ok(CurrentAssignmentValue {
        member_epoch,
        previous_member_epoch,
        state,
        assigned,
        pending_revocation,
    })
}
