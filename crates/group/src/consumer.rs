//! KIP-848 consumer groups (ConsumerGroupHeartbeat v0/v1, ConsumerGroupDescribe):
//! the request and member types, request validation, joining (including static
//! member replacement), member epochs, leaving, fencing, sessions and the
//! offset commit/fetch checks. Regex subscriptions are refused
//! (INVALID_REQUEST), as Kafka 3.7-3.9 did. The target assignment and the
//! per-member reconciliation (a partition is given to a member only once its
//! previous owner no longer holds it) live in `consumer_reconcile.rs`; records
//! and replay in `consumer_records.rs`; assignors in `assignor.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::assignor::{Assignment, Assignor};
use crate::consumer_reconcile::set_epoch;
use crate::coordinator::Ctx;
use crate::error::GroupError;
use crate::records::{ConsumerMemberValue, TopicMeta, TopicPartitions};

/// What the broker knows about a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: [u8; 16],
    pub partitions: i32,
}

/// Topic metadata lookup by name, passed into heartbeats.
pub trait TopicLookup {
    fn topic(&self, name: &str) -> Option<TopicInfo>;
}

impl TopicLookup for BTreeMap<String, TopicInfo> {
    fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.get(name).copied()
    }
}

impl TopicLookup for HashMap<String, TopicInfo> {
    fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.get(name).copied()
    }
}

/// A ConsumerGroupHeartbeat request (v0/v1). `None` fields were not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerHeartbeatRequest {
    pub group_id: String,
    /// Empty on a v0 first join (the coordinator generates one).
    pub member_id: String,
    /// 0 joins, -1 leaves, -2 leaves a static member, >0 heartbeats.
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1 if not sent.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned_partitions: Option<Vec<TopicPartitions>>,
    pub client_id: String,
    pub client_host: String,
}

/// A successful ConsumerGroupHeartbeat response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerHeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent on full requests and whenever the assignment changed.
    pub assignment: Option<Vec<TopicPartitions>>,
}

pub(crate) const STATE_STABLE: i8 = 0;
pub(crate) const STATE_UNREVOKED: i8 = 1;
pub(crate) const STATE_UNRELEASED: i8 = 2;
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Clone)]
pub(crate) struct ConsumerMember {
    pub value: ConsumerMemberValue,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    pub session_deadline_ms: i64,
    pub revocation_deadline_ms: Option<i64>,
}

impl ConsumerMember {
    pub fn new(now_ms: i64, session_ms: i32) -> ConsumerMember {
        ConsumerMember {
            value: ConsumerMemberValue {
                instance_id: None,
                rack_id: None,
                client_id: String::new(),
                client_host: String::new(),
                subscribed_topic_names: Vec::new(),
                subscribed_topic_regex: None,
                rebalance_timeout_ms: -1,
                server_assignor: None,
            },
            member_epoch: 0,
            previous_member_epoch: 0,
            state: STATE_STABLE,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline_ms: now_ms + i64::from(session_ms),
            revocation_deadline_ms: None,
        }
    }
}

pub(crate) struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, Assignment>,
    /// Subscription metadata: subscribed topic name → id and partitions.
    pub topics: BTreeMap<String, TopicMeta>,
    pub state_timestamp_ms: i64,
}

pub(crate) fn to_list(a: &Assignment) -> Vec<TopicPartitions> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| TopicPartitions {
            topic_id: *t,
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

pub(crate) fn from_list(list: &[TopicPartitions]) -> Assignment {
    let mut a = Assignment::new();
    for tp in list {
        a.entry(tp.topic_id)
            .or_default()
            .extend(tp.partitions.iter().copied());
    }
    a
}

fn is_subset(owned: Option<&[TopicPartitions]>, of: &Assignment) -> bool {
    owned.is_some_and(|list| {
        list.iter().all(|tp| {
            tp.partitions
                .iter()
                .all(|p| of.get(&tp.topic_id).is_some_and(|s| s.contains(p)))
        })
    })
}

fn validate_request(req: &ConsumerHeartbeatRequest) -> Result<(), GroupError> {
    let invalid = |m: &str| Err(GroupError::InvalidRequest(m.to_owned()));
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.instance_id.as_deref() == Some("") || req.rack_id.as_deref() == Some("") {
        return invalid("InstanceId and RackId can't be empty.");
    }
    if req.subscribed_topic_regex.is_some() {
        return invalid("SubscribedTopicRegex is not supported.");
    }
    match req.member_epoch {
        e if e > 0 || e == LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
        }
        0 => {
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.owned_partitions.as_ref().is_none_or(|o| !o.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if req
                .subscribed_topic_names
                .as_ref()
                .is_none_or(Vec::is_empty)
            {
                return invalid("SubscribedTopicNames must be set in first request.");
            }
        }
        STATIC_LEAVE_EPOCH => {
            if req.member_id.is_empty() || req.instance_id.is_none() {
                return invalid("MemberId and InstanceId can't be empty.");
            }
        }
        _ => return invalid("MemberEpoch is invalid."),
    }
    if let Some(name) = &req.server_assignor {
        Assignor::from_name(name)?;
    }
    Ok(())
}

impl ConsumerGroup {
    pub fn new(now_ms: i64) -> ConsumerGroup {
        ConsumerGroup {
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics: BTreeMap::new(),
            state_timestamp_ms: now_ms,
        }
    }

    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != STATE_STABLE)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    pub fn restart_sessions(&mut self, now_ms: i64, session_ms: i32) {
        for m in self.members.values_mut() {
            m.session_deadline_ms = now_ms + i64::from(session_ms);
            m.revocation_deadline_ms = None;
        }
    }

    fn static_member(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(_, m)| m.value.instance_id.as_deref() == Some(instance))
            .map(|(id, _)| id.clone())
    }

    /// Handles one heartbeat; `topics` resolves subscribed topic names.
    pub fn heartbeat(
        &mut self,
        req: &ConsumerHeartbeatRequest,
        topics: &dyn TopicLookup,
        cx: &mut Ctx<'_>,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        validate_request(req)?;
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(req, cx);
        }
        let (member_id, mut member) = self.get_or_create_member(req, cx)?;
        let before = self.members.get(&member_id).cloned();
        let mut bump = update_member_value(&mut member, req);
        member.session_deadline_ms = cx.now_ms + i64::from(cx.settings.consumer_session_timeout_ms);
        self.members.insert(member_id.clone(), member);
        bump |= self.refresh_subscription_metadata(topics, cx);
        if bump || before.is_none() {
            self.epoch += 1;
            cx.out.records.push(crate::consumer_records::epoch_record(
                cx.group_id,
                self.epoch,
            ));
        }
        if self.epoch > self.assignment_epoch {
            self.compute_target(cx);
        }
        self.reconcile(&member_id, req.owned_partitions.as_deref(), cx);
        self.persist_member_changes(&member_id, before.as_ref(), cx);
        let m = self
            .members
            .get(&member_id)
            .ok_or(GroupError::UnknownServerError)?;
        let full = req.member_epoch == 0
            || (req.rebalance_timeout_ms != -1
                && req.subscribed_topic_names.is_some()
                && req.owned_partitions.is_some());
        let changed = before.as_ref().is_none_or(|b| b.assigned != m.assigned);
        Ok(ConsumerHeartbeatResponse {
            member_id,
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: cx.settings.consumer_heartbeat_interval_ms,
            assignment: (full || changed).then(|| to_list(&m.assigned)),
        })
    }

    fn get_or_create_member(
        &mut self,
        req: &ConsumerHeartbeatRequest,
        cx: &mut Ctx<'_>,
    ) -> Result<(String, ConsumerMember), GroupError> {
        if req.member_epoch != 0 {
            let id = match &req.instance_id {
                Some(instance) => {
                    let existing = self
                        .static_member(instance)
                        .ok_or(GroupError::UnknownMemberId)?;
                    if existing != req.member_id {
                        return Err(GroupError::FencedInstanceId);
                    }
                    existing
                }
                None => req.member_id.clone(),
            };
            let m = self.members.get(&id).ok_or(GroupError::UnknownMemberId)?;
            self.check_epoch(m, req)?;
            return Ok((id, m.clone()));
        }
        let is_known = !req.member_id.is_empty() && self.members.contains_key(&req.member_id);
        if !is_known && self.members.len() >= cx.settings.consumer_members_max {
            return Err(GroupError::GroupMaxSizeReached);
        }
        let id = if req.member_id.is_empty() {
            cx.new_member_id("consumer")
        } else {
            req.member_id.clone()
        };
        let session_ms = cx.settings.consumer_session_timeout_ms;
        if let Some(instance) = &req.instance_id {
            if let Some(old_id) = self.static_member(instance).filter(|old| *old != id) {
                let old = self
                    .members
                    .get(&old_id)
                    .ok_or(GroupError::UnknownServerError)?;
                if old.member_epoch != STATIC_LEAVE_EPOCH {
                    return Err(GroupError::UnreleasedInstanceId);
                }
                let mut replacement = old.clone();
                replacement.member_epoch = 0;
                replacement.previous_member_epoch = 0;
                let target = self.target.remove(&old_id);
                self.remove_member_records(&old_id, cx);
                self.members.remove(&old_id);
                if let Some(t) = target {
                    self.target.insert(id.clone(), t);
                }
                return Ok((id, replacement));
            }
        }
        // A rejoin with epoch 0 declares it owns nothing: start it afresh.
        let mut member = ConsumerMember::new(cx.now_ms, session_ms);
        if let Some(existing) = self.members.get(&id) {
            member.value = existing.value.clone();
        }
        Ok((id, member))
    }

    fn check_epoch(
        &self,
        m: &ConsumerMember,
        req: &ConsumerHeartbeatRequest,
    ) -> Result<(), GroupError> {
        let received = req.member_epoch;
        if received > m.member_epoch {
            return Err(GroupError::FencedMemberEpoch);
        }
        if received < m.member_epoch
            && (received != m.previous_member_epoch
                || !is_subset(req.owned_partitions.as_deref(), &m.assigned))
        {
            return Err(GroupError::FencedMemberEpoch);
        }
        Ok(())
    }

    fn persist_member_changes(
        &self,
        member_id: &str,
        before: Option<&ConsumerMember>,
        cx: &mut Ctx<'_>,
    ) {
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        if before.is_none_or(|b| b.value != m.value) {
            cx.out.records.push(crate::consumer_records::member_record(
                cx.group_id,
                member_id,
                &m.value,
            ));
        }
        let assignment_changed = before.is_none_or(|b| {
            b.member_epoch != m.member_epoch
                || b.state != m.state
                || b.assigned != m.assigned
                || b.pending_revocation != m.pending_revocation
        });
        if assignment_changed {
            cx.out
                .records
                .push(crate::consumer_records::current_assignment_record(
                    cx.group_id,
                    member_id,
                    m,
                ));
        }
    }

    fn leave(
        &mut self,
        req: &ConsumerHeartbeatRequest,
        cx: &mut Ctx<'_>,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        let id = match &req.instance_id {
            None if self.members.contains_key(&req.member_id) => req.member_id.clone(),
            None => return Err(GroupError::UnknownMemberId),
            Some(instance) => {
                let existing = self
                    .static_member(instance)
                    .ok_or(GroupError::UnknownMemberId)?;
                if existing != req.member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                existing
            }
        };
        if req.member_epoch == STATIC_LEAVE_EPOCH {
            if let Some(m) = self.members.get_mut(&id) {
                set_epoch(m, STATIC_LEAVE_EPOCH);
                m.pending_revocation.clear();
                cx.out
                    .records
                    .push(crate::consumer_records::current_assignment_record(
                        cx.group_id,
                        &id,
                        m,
                    ));
            }
        } else {
            self.fence_member(&id, cx);
        }
        Ok(ConsumerHeartbeatResponse {
            member_id: id,
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: cx.settings.consumer_heartbeat_interval_ms,
            assignment: None,
        })
    }

    fn remove_member_records(&self, member_id: &str, cx: &mut Ctx<'_>) {
        cx.out
            .records
            .extend(crate::consumer_records::member_tombstones(
                cx.group_id,
                member_id,
            ));
    }

    /// Removes a member (leave, session or revocation timeout) and bumps the
    /// group epoch so the others get its partitions.
    pub fn fence_member(&mut self, member_id: &str, cx: &mut Ctx<'_>) {
        if self.members.remove(member_id).is_none() {
            return;
        }
        self.target.remove(member_id);
        self.remove_member_records(member_id, cx);
        let names: BTreeSet<String> = self
            .members
            .values()
            .flat_map(|m| m.value.subscribed_topic_names.iter().cloned())
            .collect();
        let before = self.topics.len();
        self.topics.retain(|n, _| names.contains(n));
        if self.topics.len() != before {
            cx.out
                .records
                .push(crate::consumer_records::partition_metadata_record(
                    cx.group_id,
                    &self.topics,
                ));
        }
        self.epoch += 1;
        cx.out.records.push(crate::consumer_records::epoch_record(
            cx.group_id,
            self.epoch,
        ));
        if self.members.is_empty() {
            self.state_timestamp_ms = cx.now_ms;
        }
    }

    pub fn run_timers(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.now_ms;
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.session_deadline_ms <= now || m.revocation_deadline_ms.is_some_and(|d| d <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.fence_member(&id, cx);
        }
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline_ms).chain(m.revocation_deadline_ms))
            .min()
    }

    /// Kafka's ConsumerGroup.validateOffsetCommit.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        _instance: Option<&str>,
        epoch: i32,
    ) -> Result<(), GroupError> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        self.check_member_epoch(member_id, epoch)
    }

    pub fn validate_offset_fetch(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        if epoch < 0 && member_id.is_empty() {
            return Ok(());
        }
        self.check_member_epoch(member_id, epoch)
    }

    /// The member must exist and be at `epoch`.
    fn check_member_epoch(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let m = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if m.member_epoch != epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    pub fn subscribes_to(&self, topic: &str) -> bool {
        self.members
            .values()
            .any(|m| m.value.subscribed_topic_names.iter().any(|t| t == topic))
    }
}

/// Applies the request's fields; true if the subscription changed.
fn update_member_value(m: &mut ConsumerMember, req: &ConsumerHeartbeatRequest) -> bool {
    let v = &mut m.value;
    let mut changed = false;
    if req.instance_id.is_some() {
        v.instance_id = req.instance_id.clone();
    }
    if req.rack_id.is_some() {
        v.rack_id = req.rack_id.clone();
    }
    if req.rebalance_timeout_ms != -1 {
        v.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if let Some(a) = &req.server_assignor {
        changed |= v.server_assignor.as_ref() != Some(a);
        v.server_assignor = Some(a.clone());
    }
    if let Some(names) = &req.subscribed_topic_names {
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        changed |= v.subscribed_topic_names != sorted;
        v.subscribed_topic_names = sorted;
    }
    v.client_id = req.client_id.clone();
    v.client_host = req.client_host.clone();
    changed
}
