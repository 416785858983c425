//! Coordinator entry points beyond the classic join/sync path: the KIP-848
//! heartbeat and describe, DescribeGroups, ListGroups, DeleteGroups,
//! OffsetDelete, and replay of `__consumer_offsets` at start-up.

use crate::classic::ClassicGroup;
use crate::codec::DecodeError;
use crate::consumer::{
    to_list, ConsumerGroup, ConsumerHeartbeatRequest, ConsumerHeartbeatResponse, TopicLookup,
};
use crate::coordinator::{Coordinator, Ctx, Group, Kind, Output};
use crate::error::GroupError;
use crate::offsets::{subscribed_topics, OffsetStore, PartitionResult};
use crate::records::{decode, group_key, PersistRecord, Record, TopicPartitions};

/// A member in DescribeGroups (classic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Empty unless the group is Stable (as Kafka).
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A DescribeGroups answer; unknown groups are `Dead` with no members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

/// A member in ConsumerGroupDescribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub assignment: Vec<TopicPartitions>,
    pub target_assignment: Vec<TopicPartitions>,
}

/// A ConsumerGroupDescribe answer. Topic names for the ids are in `topic_names`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
    pub topic_names: Vec<([u8; 16], String)>,
}

/// One group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
    /// "classic" or "consumer".
    pub group_type: String,
}

/// One group's answer in DeleteGroups.
pub type GroupResult = (String, Result<(), GroupError>);

/// What replay did with a record it could not use.
pub type ReplayWarning = String;

impl Coordinator {
    /// ConsumerGroupHeartbeat. A non-empty classic group answers
    /// GROUP_ID_NOT_FOUND; an empty one is converted (offsets kept).
    pub fn consumer_heartbeat(
        &mut self,
        req: &ConsumerHeartbeatRequest,
        topics: &dyn TopicLookup,
        now_ms: i64,
    ) -> (
        Result<ConsumerHeartbeatResponse, GroupError>,
        Vec<PersistRecord>,
    ) {
        self.observe_now(now_ms);
        let mut out = Output::default();
        if let Err(e) = self.prepare_consumer_group(req, now_ms, &mut out) {
            return (Err(e), out.records);
        }
        let Some(Group {
            kind: Kind::Consumer(g),
            ..
        }) = self.groups.get_mut(&req.group_id)
        else {
            return (Err(GroupError::GroupIdNotFound), out.records);
        };
        let mut cx = Ctx {
            now_ms,
            settings: &self.settings,
            out: &mut out,
            group_id: &req.group_id,
            seq: &mut self.seq,
        };
        let result = g.heartbeat(req, topics, &mut cx);
        (result, out.records)
    }

    fn prepare_consumer_group(
        &mut self,
        req: &ConsumerHeartbeatRequest,
        now_ms: i64,
        out: &mut Output,
    ) -> Result<(), GroupError> {
        match self.groups.get_mut(&req.group_id) {
            Some(Group {
                kind: Kind::Consumer(_),
                ..
            }) => Ok(()),
            Some(group) if group.is_idle() && req.member_epoch == 0 => {
                out.records.push(PersistRecord {
                    key: group_key(&req.group_id),
                    value: None,
                });
                group.kind = Kind::Consumer(ConsumerGroup::new(now_ms));
                Ok(())
            }
            Some(_) => Err(GroupError::GroupIdNotFound),
            None if req.member_epoch != 0 || req.group_id.is_empty() => {
                Err(GroupError::GroupIdNotFound)
            }
            None => self
                .create_group(&req.group_id, Kind::Consumer(ConsumerGroup::new(now_ms)))
                .map(|_| ()),
        }
    }

    /// ConsumerGroupDescribe for one group.
    pub fn consumer_describe(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        let Some(Group {
            kind: Kind::Consumer(g),
            ..
        }) = self.groups.get(group_id)
        else {
            return Err(GroupError::GroupIdNotFound);
        };
        let members = g
            .members
            .iter()
            .map(|(id, m)| ConsumerMemberDescription {
                member_id: id.clone(),
                instance_id: m.value.instance_id.clone(),
                rack_id: m.value.rack_id.clone(),
                member_epoch: m.member_epoch,
                client_id: m.value.client_id.clone(),
                client_host: m.value.client_host.clone(),
                subscribed_topic_names: m.value.subscribed_topic_names.clone(),
                assignment: to_list(&m.assigned),
                target_assignment: g.target.get(id).map(to_list).unwrap_or_default(),
            })
            .collect();
        let assignor = g
            .members
            .values()
            .find_map(|m| m.value.server_assignor.clone());
        Ok(ConsumerGroupDescription {
            group_id: group_id.to_owned(),
            state: g.state_name().to_owned(),
            group_epoch: g.epoch,
            assignment_epoch: g.assignment_epoch,
            assignor_name: assignor
                .unwrap_or_else(|| self.settings.consumer_default_assignor.name().to_owned()),
            members,
            topic_names: g
                .topics
                .values()
                .map(|t| (t.topic_id, t.name.clone()))
                .collect(),
        })
    }

    /// DescribeGroups (classic) for one group.
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        let mut d = GroupDescription {
            group_id: group_id.to_owned(),
            state: "Dead".to_owned(),
            protocol_type: String::new(),
            protocol_data: String::new(),
            members: Vec::new(),
        };
        let Some(Group {
            kind: Kind::Classic(g),
            ..
        }) = self.groups.get(group_id)
        else {
            return d;
        };
        let stable = g.state == crate::classic::ClassicState::Stable;
        d.state = g.state.name().to_owned();
        d.protocol_type = g.protocol_type.clone().unwrap_or_default();
        if stable {
            d.protocol_data = g.protocol_name.clone().unwrap_or_default();
        }
        d.members = g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(g.protocol_name.as_deref())
                } else {
                    Vec::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Vec::new()
                },
            })
            .collect();
        d
    }

    /// ListGroups; empty filters match everything, matching is case-insensitive.
    pub fn list_groups(&self, states: &[String], types: &[String]) -> Vec<ListedGroup> {
        let matches = |filter: &[String], v: &str| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(v))
        };
        self.groups
            .iter()
            .map(|(id, g)| match &g.kind {
                Kind::Classic(c) => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: c.protocol_type.clone().unwrap_or_default(),
                    state: c.state.name().to_owned(),
                    group_type: "classic".to_owned(),
                },
                Kind::Consumer(c) => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: "consumer".to_owned(),
                    state: c.state_name().to_owned(),
                    group_type: "consumer".to_owned(),
                },
            })
            .filter(|l| matches(states, &l.state) && matches(types, &l.group_type))
            .collect()
    }

    /// DeleteGroups: one result per id, in order.
    pub fn delete_groups(
        &mut self,
        group_ids: &[String],
    ) -> (Vec<GroupResult>, Vec<PersistRecord>) {
        let mut records = Vec::new();
        let results = group_ids
            .iter()
            .map(|id| {
                let result = match self.groups.get(id) {
                    None => Err(GroupError::GroupIdNotFound),
                    Some(g) if !g.is_idle() => Err(GroupError::NonEmptyGroup),
                    Some(_) => {
                        if let Some(g) = self.groups.remove(id) {
                            records.extend(group_tombstones(id, &g));
                        }
                        Ok(())
                    }
                };
                (id.clone(), result)
            })
            .collect();
        (results, records)
    }

    /// OffsetDelete: refused per partition while the group subscribes to it.
    pub fn offset_delete(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> (Result<Vec<PartitionResult>, GroupError>, Vec<PersistRecord>) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return (Err(GroupError::GroupIdNotFound), Vec::new());
        };
        if let Kind::Classic(g) = &group.kind {
            let consumer = g.protocol_type.as_deref() == Some("consumer");
            if !g.members.is_empty() && !consumer {
                return (Err(GroupError::NonEmptyGroup), Vec::new());
            }
        }
        let mut records = Vec::new();
        let results = partitions
            .iter()
            .map(|(topic, partition)| {
                let result = if subscribes_to(&group.kind, topic) {
                    Err(GroupError::GroupSubscribedToTopic)
                } else {
                    records.extend(group.offsets.delete(group_id, topic, *partition));
                    Ok(())
                };
                PartitionResult {
                    topic: topic.clone(),
                    partition: *partition,
                    result,
                }
            })
            .collect();
        (Ok(results), records)
    }

    /// Rebuilds state from one `__consumer_offsets` record, read in log order.
    /// Returns a warning for records it skipped; malformed bytes are errors.
    pub fn replay(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<ReplayWarning>, DecodeError> {
        let record = decode(key, value)?;
        self.sessions_need_restart = true;
        let session_ms = self.settings.consumer_session_timeout_ms;
        match record {
            Record::Unknown {
                key_version,
                value_version,
            } => {
                return Ok(Some(format!("skipped record with key version {key_version}, value version {value_version:?}")));
            }
            Record::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let g = self.groups.entry(group).or_insert_with(|| Group {
                    kind: Kind::Classic(ClassicGroup::new(0)),
                    offsets: OffsetStore::default(),
                });
                g.offsets.replay(topic, partition, value);
            }
            Record::GroupMetadata {
                group,
                value: Some(v),
            } => {
                let g = self.groups.entry(group).or_insert_with(|| Group {
                    kind: Kind::Classic(ClassicGroup::new(0)),
                    offsets: OffsetStore::default(),
                });
                g.kind = Kind::Classic(ClassicGroup::from_record(&v));
            }
            Record::GroupMetadata { group, value: None } => {
                self.groups.remove(&group);
            }
            other => self.replay_consumer(other, session_ms),
        }
        Ok(None)
    }

    fn replay_consumer(&mut self, record: Record, session_ms: i32) {
        let group_id = match &record {
            Record::ConsumerGroupEpoch { group, .. }
            | Record::ConsumerPartitionMetadata { group, .. }
            | Record::ConsumerMember { group, .. }
            | Record::ConsumerTargetEpoch { group, .. }
            | Record::ConsumerTargetMember { group, .. }
            | Record::ConsumerCurrentAssignment { group, .. } => group.clone(),
            _ => return,
        };
        if matches!(record, Record::ConsumerGroupEpoch { epoch: None, .. }) {
            if let Some(Group {
                kind: Kind::Consumer(_),
                ..
            }) = self.groups.get(&group_id)
            {
                self.groups.remove(&group_id);
            }
            return;
        }
        let g = self.groups.entry(group_id).or_insert_with(|| Group {
            kind: Kind::Consumer(ConsumerGroup::new(0)),
            offsets: OffsetStore::default(),
        });
        if let Kind::Classic(c) = &g.kind {
            if c.members.is_empty() {
                g.kind = Kind::Consumer(ConsumerGroup::new(0));
            }
        }
        if let Kind::Consumer(c) = &mut g.kind {
            c.replay(record, session_ms);
        }
    }
}

fn subscribes_to(kind: &Kind, topic: &str) -> bool {
    match kind {
        Kind::Consumer(c) => c.subscribes_to(topic),
        Kind::Classic(g) => {
            if g.members.is_empty() {
                return false;
            }
            let protocol = g.protocol_name.as_deref();
            g.members.iter().any(|m| {
                subscribed_topics(&m.metadata(protocol))
                    .is_none_or(|ts| ts.iter().any(|t| t == topic))
            })
        }
    }
}

/// Tombstones for a deleted group: its offsets, then its metadata.
pub(crate) fn group_tombstones(group_id: &str, group: &Group) -> Vec<PersistRecord> {
    let mut out: Vec<PersistRecord> = group
        .offsets
        .fetch_all()
        .iter()
        .map(|f| PersistRecord {
            key: crate::records::offset_key(group_id, &f.topic, f.partition),
            value: None,
        })
        .collect();
    match &group.kind {
        Kind::Classic(_) => out.push(PersistRecord {
            key: group_key(group_id),
            value: None,
        }),
        Kind::Consumer(c) => out.extend(c.delete_records(group_id)),
    }
    out
}
