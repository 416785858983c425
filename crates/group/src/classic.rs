//! Types and the group model of the classic rebalance protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup): request/response structs the broker fills
//! from and maps to wire types, the member and group records in memory, and
//! conversion to and from `GroupMetadataValue`. The transitions live in
//! `classic_join.rs` (join phase, timers) and `classic_sync.rs` (sync,
//! heartbeat, leave).

use std::collections::{BTreeMap, BTreeSet};

use crate::coordinator::{Ctx, Token};
use crate::error::GroupError;
use crate::records::{GroupMetadataValue, MemberMetadataValue};

/// One protocol a member supports, with its opaque metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Vec<u8>,
}

/// A JoinGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a new member.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v0 has none: pass the session timeout, as Kafka does.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+ (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814).
    pub supports_skip_assignment: bool,
}

/// A member as the leader sees it in a JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Vec<u8>,
}

/// A successful JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinMember>,
    pub skip_assignment: bool,
}

/// A SyncGroup request. Only the leader's assignments are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A successful SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

/// A Heartbeat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
}

/// One member leaving in a LeaveGroup request (v0-v2: one, v3+: a batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// The answer to a waiting JoinGroup or SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Join {
        token: Token,
        result: Result<JoinResponse, GroupError>,
    },
    Sync {
        token: Token,
        result: Result<SyncResponse, GroupError>,
    },
}

/// Classic group states, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassicState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl ClassicState {
    pub fn name(self) -> &'static str {
        match self {
            ClassicState::Empty => "Empty",
            ClassicState::PreparingRebalance => "PreparingRebalance",
            ClassicState::CompletingRebalance => "CompletingRebalance",
            ClassicState::Stable => "Stable",
            ClassicState::Dead => "Dead",
        }
    }
}

pub(crate) struct ClassicMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    pub assignment: Vec<u8>,
    pub join_waiter: Option<Token>,
    pub sync_waiter: Option<Token>,
    /// A member whose first join has not completed: its join can time out.
    pub is_new: bool,
    pub heartbeat_deadline_ms: i64,
}

impl ClassicMember {
    pub fn metadata(&self, protocol: Option<&str>) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|p| Some(p.name.as_str()) == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
    /// Members parked in a join or sync need not heartbeat (Kafka's rule).
    pub fn heartbeat_satisfied(&self) -> bool {
        !self.is_new && (self.join_waiter.is_some() || self.sync_waiter.is_some())
    }
    fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }
}

pub(crate) struct InitialDelay {
    pub delay_ms: i64,
    pub remaining_ms: i64,
}

pub(crate) struct ClassicGroup {
    pub state: ClassicState,
    pub previous_state: ClassicState,
    pub state_timestamp_ms: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// In join order: the first member becomes leader, as in Kafka.
    pub members: Vec<ClassicMember>,
    /// KIP-394 members that got MEMBER_ID_REQUIRED: id → expiry deadline.
    pub pending_members: BTreeMap<String, i64>,
    pub pending_sync: BTreeSet<String>,
    pub sync_deadline_ms: Option<i64>,
    pub join_deadline_ms: Option<i64>,
    pub initial_delay: Option<InitialDelay>,
    pub new_member_added: bool,
}

impl ClassicGroup {
    pub fn new(now_ms: i64) -> ClassicGroup {
        ClassicGroup {
            state: ClassicState::Empty,
            previous_state: ClassicState::Empty,
            state_timestamp_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            join_deadline_ms: None,
            initial_delay: None,
            new_member_added: false,
        }
    }

    pub fn transition(&mut self, to: ClassicState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp_ms = now_ms;
    }

    pub fn member(&self, id: &str) -> Option<&ClassicMember> {
        self.members.iter().find(|m| m.member_id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut ClassicMember> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    pub fn static_member_id(&self, instance_id: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.member_id.clone())
    }

    pub fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .iter()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some())
    }

    pub fn awaiting_join_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.join_waiter.is_some())
            .count()
    }

    /// Kafka's `validateMember`: static members are checked by instance id.
    pub fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        match instance_id {
            Some(instance) => match self.static_member_id(instance) {
                None => Err(GroupError::UnknownMemberId),
                Some(existing) if existing != member_id => Err(GroupError::FencedInstanceId),
                Some(_) => Ok(()),
            },
            None if self.member(member_id).is_none() => Err(GroupError::UnknownMemberId),
            None => Ok(()),
        }
    }

    /// Protocols every current member supports.
    fn candidate_protocols(&self) -> BTreeSet<&str> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &self.members {
            for p in &m.protocols {
                *counts.entry(p.name.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(_, c)| *c == self.members.len())
            .map(|(n, _)| n)
            .collect()
    }

    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| candidates.contains(p.name.as_str()))
    }

    /// Each member votes for its most preferred candidate; most votes wins
    /// (ties go to the protocol named first by the earliest voter).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for m in &self.members {
            if let Some(p) = m
                .protocols
                .iter()
                .find(|p| candidates.contains(p.name.as_str()))
            {
                match votes.iter_mut().find(|(n, _)| *n == p.name) {
                    Some(v) => v.1 += 1,
                    None => votes.push((p.name.as_str(), 1)),
                }
            }
        }
        let best = votes.iter().map(|(_, c)| *c).max()?;
        votes
            .iter()
            .find(|(_, c)| *c == best)
            .map(|(n, _)| (*n).to_owned())
    }

    pub fn add_member(&mut self, member: ClassicMember) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.member_id.clone());
        }
        self.members.push(member);
    }

    /// Removes a member, answering its parked requests with UNKNOWN_MEMBER_ID
    /// so no request waits forever.
    pub fn remove_member(&mut self, id: &str, cx: &mut Ctx<'_>) {
        let Some(pos) = self.members.iter().position(|m| m.member_id == id) else {
            return;
        };
        let member = self.members.remove(pos);
        if let Some(token) = member.join_waiter {
            cx.complete_join(token, Err(GroupError::UnknownMemberId));
        }
        if let Some(token) = member.sync_waiter {
            cx.complete_sync(token, Err(GroupError::UnknownMemberId));
        }
        self.pending_sync.remove(id);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.member_id.clone());
        }
    }

    /// The response for a member of the current generation.
    pub fn join_response(
        &self,
        member_id: &str,
        with_members: bool,
        skip_assignment: bool,
    ) -> JoinResponse {
        let members = if with_members {
            let protocol = self.protocol_name.as_deref();
            self.members
                .iter()
                .map(|m| JoinMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata(protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members,
            skip_assignment,
        }
    }

    /// Replaces a member's protocols and timeouts and parks its join.
    pub fn update_member(&mut self, id: &str, req: &JoinRequest, token: Token, cx: &mut Ctx<'_>) {
        let Some(m) = self.member_mut(id) else {
            return;
        };
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        if let Some(old) = m.join_waiter.replace(token) {
            cx.complete_join(old, Err(GroupError::RebalanceInProgress));
        }
    }

    pub fn member_matches(&self, id: &str, protocols: &[Protocol]) -> bool {
        self.member(id).is_some_and(|m| m.matches(protocols))
    }

    pub fn to_record(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .iter()
                .map(|m| MemberMetadataValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its record: Empty without members, else Stable.
    /// Heartbeat deadlines are set when the coordinator first sees a clock.
    pub fn from_record(v: &GroupMetadataValue) -> ClassicGroup {
        let mut g = ClassicGroup::new(v.current_state_timestamp_ms);
        g.generation = v.generation;
        g.protocol_type = (!v.protocol_type.is_empty()).then(|| v.protocol_type.clone());
        g.protocol_name = v.protocol.clone();
        g.leader = v.leader.clone();
        let name = v.protocol.clone().unwrap_or_default();
        g.members = v
            .members
            .iter()
            .map(|m| ClassicMember {
                member_id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: v.protocol_type.clone(),
                protocols: vec![Protocol {
                    name: name.clone(),
                    metadata: m.subscription.clone(),
                }],
                assignment: m.assignment.clone(),
                join_waiter: None,
                sync_waiter: None,
                is_new: false,
                heartbeat_deadline_ms: i64::MAX,
            })
            .collect();
        if !g.members.is_empty() {
            g.state = ClassicState::Stable;
        }
        g
    }

    /// The earliest deadline at which `tick` has work for this group.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let members = self
            .members
            .iter()
            .filter(|m| !m.heartbeat_satisfied())
            .map(|m| m.heartbeat_deadline_ms);
        members
            .chain(self.pending_members.values().copied())
            .chain(self.join_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }
}
