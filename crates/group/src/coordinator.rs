//! The coordinator: settings, the map of groups, and the public entry points
//! the broker calls for the classic protocol, offsets and timers. It owns no
//! clock and does no IO: every call takes `now_ms` and returns the records to
//! append and the parked requests to answer. Admin calls (describe, list,
//! delete, replay) live in `admin.rs`; KIP-848 in `consumer.rs`.

use std::collections::BTreeMap;

use crate::assignor::Assignor;
use crate::classic::{
    ClassicGroup, Completion, HeartbeatRequest, JoinRequest, JoinResponse, LeaveMember,
    SyncRequest, SyncResponse,
};
use crate::consumer::ConsumerGroup;
use crate::error::GroupError;
use crate::offsets::{FetchedOffset, OffsetCommitRequest, OffsetStore, PartitionResult};
use crate::records::{group_key, group_value, OffsetValue, PersistRecord};
use crate::{classic_join, classic_sync};

/// Identifies a parked JoinGroup/SyncGroup; allocated by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u64);

/// Coordinator settings; Kafka's config names are given per field.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`
    pub session_timeout_min_ms: i32,
    pub session_timeout_max_ms: i32,
    /// How long a new member's first JoinGroup may wait (Kafka: 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `group.max.size` (classic groups).
    pub classic_members_max: usize,
    /// `group.consumer.max.size` (KIP-848 groups).
    pub consumer_members_max: usize,
    /// Groups per coordinator; beyond it `CoordinatorLimit("groups_max")`.
    pub groups_max: usize,
    /// Committed partitions per group; beyond it `CoordinatorLimit(..)`.
    pub offsets_per_group_max: usize,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_bytes_max: usize,
    /// `group.consumer.session.timeout.ms` / `group.consumer.heartbeat.interval.ms`
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    /// The first of `group.consumer.assignors`.
    pub consumer_default_assignor: Assignor,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            initial_rebalance_delay_ms: 3_000,
            session_timeout_min_ms: 6_000,
            session_timeout_max_ms: 1_800_000,
            new_member_join_timeout_ms: 300_000,
            classic_members_max: 1_000,
            consumer_members_max: 1_000,
            groups_max: 10_000,
            offsets_per_group_max: 100_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_bytes_max: 4_096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_default_assignor: Assignor::Uniform,
        }
    }
}

/// What a call produced: parked requests to answer and records to append.
/// The broker should append `records` before sending the completions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    pub completions: Vec<Completion>,
    pub records: Vec<PersistRecord>,
}

/// Per-call context handed to the state machines.
pub(crate) struct Ctx<'a> {
    pub now_ms: i64,
    pub settings: &'a Settings,
    pub out: &'a mut Output,
    pub group_id: &'a str,
    pub seq: &'a mut u64,
}

impl Ctx<'_> {
    pub fn complete_join(&mut self, token: Token, result: Result<JoinResponse, GroupError>) {
        self.out
            .completions
            .push(Completion::Join { token, result });
    }
    pub fn complete_sync(&mut self, token: Token, result: Result<SyncResponse, GroupError>) {
        self.out
            .completions
            .push(Completion::Sync { token, result });
    }
    pub fn persist_classic(&mut self, g: &ClassicGroup) {
        let value = group_value(&g.to_record());
        self.out.records.push(PersistRecord {
            key: group_key(self.group_id),
            value: Some(value),
        });
    }
    /// A unique member id `<prefix>-<uuid-like>` from a counter and the time.
    pub fn new_member_id(&mut self, prefix: &str) -> String {
        *self.seq += 1;
        let (t, s) = (self.now_ms as u64, *self.seq);
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            t >> 16,
            t & 0xffff,
            (s >> 48) & 0xffff,
            (s >> 32) & 0xffff,
            s & 0xffff_ffff
        )
    }
}

pub(crate) enum Kind {
    Classic(ClassicGroup),
    Consumer(ConsumerGroup),
}

pub(crate) struct Group {
    pub kind: Kind,
    pub offsets: OffsetStore,
}

impl Group {
    pub fn is_empty(&self) -> bool {
        match &self.kind {
            Kind::Classic(g) => g.members.is_empty(),
            Kind::Consumer(g) => g.members.is_empty(),
        }
    }
    /// No members, no pending members and no rebalance under way.
    pub fn is_idle(&self) -> bool {
        match &self.kind {
            Kind::Classic(g) => {
                g.members.is_empty()
                    && g.pending_members.is_empty()
                    && g.state == crate::classic::ClassicState::Empty
            }
            Kind::Consumer(g) => g.members.is_empty(),
        }
    }
    /// When the group last changed state (used as "empty since").
    pub fn state_timestamp_ms(&self) -> i64 {
        match &self.kind {
            Kind::Classic(g) => g.state_timestamp_ms,
            Kind::Consumer(g) => g.state_timestamp_ms,
        }
    }
}

/// The group coordinator for every group of this broker.
pub struct Coordinator {
    pub(crate) settings: Settings,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) seq: u64,
    /// Set by replay: sessions restart at the first `now_ms` seen.
    pub(crate) sessions_need_restart: bool,
}

impl Coordinator {
    pub fn new(settings: Settings) -> Coordinator {
        Coordinator {
            settings,
            groups: BTreeMap::new(),
            seq: 0,
            sessions_need_restart: false,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Restarts every replayed member's session clock at `now_ms`, once.
    pub(crate) fn observe_now(&mut self, now_ms: i64) {
        if !std::mem::take(&mut self.sessions_need_restart) {
            return;
        }
        let consumer_session_ms = self.settings.consumer_session_timeout_ms;
        for group in self.groups.values_mut() {
            match &mut group.kind {
                Kind::Classic(g) => g.members.iter_mut().for_each(|m| {
                    m.heartbeat_deadline_ms = now_ms + i64::from(m.session_timeout_ms)
                }),
                Kind::Consumer(g) => g.restart_sessions(now_ms, consumer_session_ms),
            }
        }
    }

    /// Creates an empty group of either kind, within `groups_max`.
    pub(crate) fn create_group(
        &mut self,
        group_id: &str,
        kind: Kind,
    ) -> Result<&mut Group, GroupError> {
        if !self.groups.contains_key(group_id) && self.groups.len() >= self.settings.groups_max {
            return Err(GroupError::CoordinatorLimit(format!(
                "groups_max ({}) reached",
                self.settings.groups_max
            )));
        }
        Ok(self.groups.entry(group_id.to_owned()).or_insert(Group {
            kind,
            offsets: OffsetStore::default(),
        }))
    }

    /// JoinGroup. The answer for `token` is in `completions`, now or later.
    pub fn join(&mut self, token: Token, req: &JoinRequest, now_ms: i64) -> Output {
        self.observe_now(now_ms);
        let mut out = Output::default();
        if let Err(e) = self.prepare_classic_join(req, now_ms, &mut out) {
            out.completions.push(Completion::Join {
                token,
                result: Err(e),
            });
            return out;
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return out;
        };
        let Kind::Classic(g) = &mut group.kind else {
            return out;
        };
        let mut cx = Ctx {
            now_ms,
            settings: &self.settings,
            out: &mut out,
            group_id: &req.group_id,
            seq: &mut self.seq,
        };
        classic_join::join(g, token, req, &mut cx);
        classic_join::run_timers(g, &mut cx);
        out
    }

    /// Validates a join and makes sure a classic group exists for it. An
    /// empty KIP-848 group is converted (offsets kept), as Kafka does.
    fn prepare_classic_join(
        &mut self,
        req: &JoinRequest,
        now_ms: i64,
        out: &mut Output,
    ) -> Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let s = &self.settings;
        if req.session_timeout_ms < s.session_timeout_min_ms
            || req.session_timeout_ms > s.session_timeout_max_ms
        {
            return Err(GroupError::InvalidSessionTimeout);
        }
        match self.groups.get_mut(&req.group_id) {
            Some(Group {
                kind: Kind::Classic(_),
                ..
            }) => Ok(()),
            Some(
                group @ Group {
                    kind: Kind::Consumer(_),
                    ..
                },
            ) => {
                if !group.is_empty() {
                    return Err(GroupError::InconsistentGroupProtocol);
                }
                if let Kind::Consumer(c) = &group.kind {
                    out.records.extend(c.delete_records(&req.group_id));
                }
                group.kind = Kind::Classic(ClassicGroup::new(now_ms));
                Ok(())
            }
            None if !req.member_id.is_empty() => Err(GroupError::UnknownMemberId),
            None => {
                self.create_group(&req.group_id, Kind::Classic(ClassicGroup::new(now_ms)))?;
                out.records.push(PersistRecord {
                    key: group_key(&req.group_id),
                    value: Some(group_value(&ClassicGroup::new(now_ms).to_record())),
                });
                Ok(())
            }
        }
    }

    /// SyncGroup. The answer for `token` is in `completions`, now or later.
    pub fn sync(&mut self, token: Token, req: &SyncRequest, now_ms: i64) -> Output {
        self.observe_now(now_ms);
        let mut out = Output::default();
        let Some(Group {
            kind: Kind::Classic(g),
            ..
        }) = self.groups.get_mut(&req.group_id)
        else {
            out.completions.push(Completion::Sync {
                token,
                result: Err(GroupError::UnknownMemberId),
            });
            return out;
        };
        let mut cx = Ctx {
            now_ms,
            settings: &self.settings,
            out: &mut out,
            group_id: &req.group_id,
            seq: &mut self.seq,
        };
        if g.members.is_empty() {
            cx.complete_sync(token, Err(GroupError::UnknownMemberId));
        } else {
            classic_sync::sync(g, token, req, &mut cx);
        }
        classic_join::run_timers(g, &mut cx);
        out
    }

    /// Heartbeat (classic). Never parks.
    pub fn heartbeat(&mut self, req: &HeartbeatRequest, now_ms: i64) -> Result<(), GroupError> {
        self.observe_now(now_ms);
        match self.groups.get_mut(&req.group_id) {
            Some(Group {
                kind: Kind::Classic(g),
                ..
            }) => classic_sync::heartbeat(g, req, now_ms),
            _ => Err(GroupError::UnknownMemberId),
        }
    }

    /// LeaveGroup: the outer error is the top-level one, the inner list has
    /// one result per leaving member, in request order.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[LeaveMember],
        now_ms: i64,
    ) -> (Result<Vec<Result<(), GroupError>>, GroupError>, Output) {
        self.observe_now(now_ms);
        let mut out = Output::default();
        let Some(Group {
            kind: Kind::Classic(g),
            ..
        }) = self.groups.get_mut(group_id)
        else {
            return (Err(GroupError::UnknownMemberId), out);
        };
        let mut cx = Ctx {
            now_ms,
            settings: &self.settings,
            out: &mut out,
            group_id,
            seq: &mut self.seq,
        };
        let result = classic_sync::leave(g, members, &mut cx);
        classic_join::run_timers(g, &mut cx);
        (result, out)
    }

    /// Runs every due timer: classic sessions, joins and syncs, KIP-848
    /// sessions and revocation timeouts, and offset retention.
    pub fn tick(&mut self, now_ms: i64) -> Output {
        self.observe_now(now_ms);
        let mut out = Output::default();
        let retention_ms = self.settings.offsets_retention_ms;
        let mut dead: Vec<String> = Vec::new();
        for (id, group) in self.groups.iter_mut() {
            let mut cx = Ctx {
                now_ms,
                settings: &self.settings,
                out: &mut out,
                group_id: id,
                seq: &mut self.seq,
            };
            match &mut group.kind {
                Kind::Classic(g) => classic_join::run_timers(g, &mut cx),
                Kind::Consumer(g) => g.run_timers(&mut cx),
            }
            if group.is_idle() {
                let since = group.state_timestamp_ms();
                out.records
                    .extend(group.offsets.expire(id, now_ms, retention_ms, since));
                if group.offsets.is_empty()
                    && now_ms.saturating_sub(since) >= retention_ms.min(60_000)
                {
                    dead.push(id.clone());
                }
            }
        }
        for id in dead {
            if let Some(group) = self.groups.remove(&id) {
                out.records
                    .extend(crate::admin::group_tombstones(&id, &group));
            }
        }
        out
    }

    /// The earliest `now_ms` at which `tick` has work, for the broker's timer.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(|g| match &g.kind {
                Kind::Classic(c) => c.next_deadline_ms(),
                Kind::Consumer(c) => c.next_deadline_ms(),
            })
            .min()
    }

    /// OffsetCommit. The outer error applies to every partition.
    pub fn offset_commit(
        &mut self,
        req: &OffsetCommitRequest,
        now_ms: i64,
    ) -> (Result<Vec<PartitionResult>, GroupError>, Vec<PersistRecord>) {
        self.observe_now(now_ms);
        if req.group_id.is_empty() {
            return (Err(GroupError::InvalidGroupId), Vec::new());
        }
        let mut records = Vec::new();
        if !self.groups.contains_key(&req.group_id) {
            if req.generation_id_or_member_epoch >= 0 {
                return (Err(GroupError::GroupIdNotFound), records);
            }
            if let Err(e) =
                self.create_group(&req.group_id, Kind::Classic(ClassicGroup::new(now_ms)))
            {
                return (Err(e), records);
            }
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return (Err(GroupError::GroupIdNotFound), records);
        };
        if let Err(e) = validate_commit(group, req) {
            return (Err(e), records);
        }
        let results = req
            .partitions
            .iter()
            .map(|p| {
                commit_one(
                    group,
                    &req.group_id,
                    p,
                    &self.settings,
                    now_ms,
                    &mut records,
                )
            })
            .collect();
        (Ok(results), records)
    }

    /// OffsetFetch for one group: `partitions: None` means every committed
    /// partition. Unknown groups and partitions answer offset -1, no error.
    /// `member` (OffsetFetch v9+) is checked against KIP-848 groups.
    pub fn offset_fetch(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
        member: Option<(&str, i32)>,
    ) -> Result<Vec<FetchedOffset>, GroupError> {
        let group = self.groups.get(group_id);
        if let (
            Some(Group {
                kind: Kind::Consumer(c),
                ..
            }),
            Some((member_id, epoch)),
        ) = (group, member)
        {
            c.validate_offset_fetch(member_id, epoch)?;
        }
        Ok(match (group, partitions) {
            (Some(g), Some(ps)) => ps.iter().map(|(t, p)| g.offsets.fetch_one(t, *p)).collect(),
            (Some(g), None) => g.offsets.fetch_all(),
            (None, Some(ps)) => ps
                .iter()
                .map(|(t, p)| crate::offsets::unknown_offset(t, *p))
                .collect(),
            (None, None) => Vec::new(),
        })
    }
}

fn validate_commit(group: &Group, req: &OffsetCommitRequest) -> Result<(), GroupError> {
    match &group.kind {
        Kind::Classic(g) => validate_classic_commit(g, req),
        Kind::Consumer(c) => c.validate_offset_commit(
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id_or_member_epoch,
        ),
    }
}

/// Kafka's ClassicGroup.validateOffsetCommit.
fn validate_classic_commit(g: &ClassicGroup, req: &OffsetCommitRequest) -> Result<(), GroupError> {
    use crate::classic::ClassicState::*;
    if g.state == Dead {
        return Err(GroupError::CoordinatorNotAvailable);
    }
    let generation = req.generation_id_or_member_epoch;
    if generation < 0 && g.state == Empty {
        return Ok(());
    }
    if generation >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
        g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if generation != g.generation {
            return Err(GroupError::IllegalGeneration);
        }
    } else if g.state != Empty {
        return Err(GroupError::UnknownMemberId);
    }
    if g.state == CompletingRebalance {
        return Err(GroupError::RebalanceInProgress);
    }
    Ok(())
}

fn commit_one(
    group: &mut Group,
    group_id: &str,
    p: &crate::offsets::CommitPartition,
    settings: &Settings,
    now_ms: i64,
    records: &mut Vec<PersistRecord>,
) -> PartitionResult {
    let metadata = p.metadata.clone().unwrap_or_default();
    let result = if metadata.len() > settings.offset_metadata_bytes_max {
        Err(GroupError::OffsetMetadataTooLarge)
    } else if !group.offsets.contains(&p.topic, p.partition)
        && group.offsets.len() >= settings.offsets_per_group_max
    {
        Err(GroupError::CoordinatorLimit(format!(
            "offsets_per_group_max ({}) reached",
            settings.offsets_per_group_max
        )))
    } else {
        let value = OffsetValue {
            offset: p.offset,
            leader_epoch: p.leader_epoch,
            metadata,
            commit_timestamp_ms: now_ms,
        };
        records.push(group.offsets.commit(group_id, &p.topic, p.partition, value));
        Ok(())
    };
    PartitionResult {
        topic: p.topic.clone(),
        partition: p.partition,
        result,
    }
}
