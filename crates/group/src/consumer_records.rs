//! Building and replaying the KIP-848 records of one consumer group: epoch,
//! subscription (partition) metadata, member metadata, target assignment and
//! current assignment. Byte layouts live in `records_consumer.rs`; the group
//! logic in `consumer.rs`.

use std::collections::BTreeMap;

use crate::assignor::Assignment;
use crate::consumer::{from_list, to_list, ConsumerGroup, ConsumerMember};
use crate::records::{
    ConsumerMemberValue, CurrentAssignmentValue, PersistRecord, Record, TopicMeta,
};
use crate::records_consumer as rc;

pub(crate) fn epoch_record(group: &str, epoch: i32) -> PersistRecord {
    PersistRecord {
        key: rc::group_key(rc::KEY_GROUP_EPOCH, group),
        value: Some(rc::epoch_value(epoch)),
    }
}

pub(crate) fn target_epoch_record(group: &str, epoch: i32) -> PersistRecord {
    PersistRecord {
        key: rc::group_key(rc::KEY_TARGET_EPOCH, group),
        value: Some(rc::epoch_value(epoch)),
    }
}

pub(crate) fn partition_metadata_record(
    group: &str,
    topics: &BTreeMap<String, TopicMeta>,
) -> PersistRecord {
    let list: Vec<TopicMeta> = topics.values().cloned().collect();
    PersistRecord {
        key: rc::group_key(rc::KEY_PARTITION_METADATA, group),
        value: Some(rc::partition_metadata_value(&list)),
    }
}

pub(crate) fn member_record(
    group: &str,
    member_id: &str,
    v: &ConsumerMemberValue,
) -> PersistRecord {
    PersistRecord {
        key: rc::member_key(rc::KEY_MEMBER, group, member_id),
        value: Some(rc::member_value(v)),
    }
}

pub(crate) fn target_member_record(group: &str, member_id: &str, a: &Assignment) -> PersistRecord {
    PersistRecord {
        key: rc::member_key(rc::KEY_TARGET_MEMBER, group, member_id),
        value: Some(rc::target_member_value(&to_list(a))),
    }
}

pub(crate) fn current_assignment_record(
    group: &str,
    member_id: &str,
    m: &ConsumerMember,
) -> PersistRecord {
    let v = CurrentAssignmentValue {
        member_epoch: m.member_epoch,
        previous_member_epoch: m.previous_member_epoch,
        state: m.state,
        assigned: to_list(&m.assigned),
        pending_revocation: to_list(&m.pending_revocation),
    };
    PersistRecord {
        key: rc::member_key(rc::KEY_CURRENT_ASSIGNMENT, group, member_id),
        value: Some(rc::current_assignment_value(&v)),
    }
}

/// Tombstones for one member, in Kafka's order (current, target, metadata).
pub(crate) fn member_tombstones(group: &str, member_id: &str) -> Vec<PersistRecord> {
    [
        rc::KEY_CURRENT_ASSIGNMENT,
        rc::KEY_TARGET_MEMBER,
        rc::KEY_MEMBER,
    ]
    .into_iter()
    .map(|k| PersistRecord {
        key: rc::member_key(k, group, member_id),
        value: None,
    })
    .collect()
}

impl ConsumerGroup {
    /// Tombstones for everything this group wrote (not its offsets).
    pub(crate) fn delete_records(&self, group: &str) -> Vec<PersistRecord> {
        let mut out: Vec<PersistRecord> = self
            .members
            .keys()
            .flat_map(|id| member_tombstones(group, id))
            .collect();
        for k in [
            rc::KEY_TARGET_EPOCH,
            rc::KEY_PARTITION_METADATA,
            rc::KEY_GROUP_EPOCH,
        ] {
            out.push(PersistRecord {
                key: rc::group_key(k, group),
                value: None,
            });
        }
        out
    }

    /// Applies one replayed consumer-group record.
    pub(crate) fn replay(&mut self, record: Record, session_ms: i32) {
        let fresh = || ConsumerMember::new(0, session_ms);
        match record {
            Record::ConsumerGroupEpoch { epoch, .. } => self.epoch = epoch.unwrap_or(0),
            Record::ConsumerTargetEpoch { epoch, .. } => self.assignment_epoch = epoch.unwrap_or(0),
            Record::ConsumerPartitionMetadata { topics, .. } => {
                self.topics = topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.name.clone(), t))
                    .collect();
            }
            Record::ConsumerMember {
                member_id,
                value: Some(v),
                ..
            } => self.members.entry(member_id).or_insert_with(fresh).value = v,
            Record::ConsumerMember {
                member_id,
                value: None,
                ..
            } => {
                self.members.remove(&member_id);
            }
            Record::ConsumerTargetMember {
                member_id,
                value: Some(list),
                ..
            } => {
                self.target.insert(member_id, from_list(&list));
            }
            Record::ConsumerTargetMember {
                member_id,
                value: None,
                ..
            } => {
                self.target.remove(&member_id);
            }
            Record::ConsumerCurrentAssignment {
                member_id,
                value: Some(v),
                ..
            } => {
                let m = self.members.entry(member_id).or_insert_with(fresh);
                m.member_epoch = v.member_epoch;
                m.previous_member_epoch = v.previous_member_epoch;
                m.state = v.state;
                m.assigned = from_list(&v.assigned);
                m.pending_revocation = from_list(&v.pending_revocation);
            }
            Record::ConsumerCurrentAssignment {
                member_id,
                value: None,
                ..
            } => {
                self.members.remove(&member_id);
            }
            _ => {}
        }
    }
}
