//! SyncGroup, Heartbeat and LeaveGroup of the classic protocol, plus member
//! removal and the pending-sync timer, after Kafka's GroupMetadataManager.
//! The join phase lives in `classic_join.rs`.

use std::collections::BTreeMap;

use crate::classic::{
    ClassicGroup, ClassicState, HeartbeatRequest, LeaveMember, SyncRequest, SyncResponse,
};
use crate::classic_join::{
    complete_join, maybe_prepare_rebalance_or_complete_join, prepare_rebalance,
};
use crate::coordinator::{Ctx, Token};
use crate::error::GroupError;

fn inconsistent(requested: Option<&str>, current: Option<&str>) -> bool {
    matches!(requested, Some(r) if Some(r) != current)
}

pub(crate) fn sync(g: &mut ClassicGroup, token: Token, req: &SyncRequest, cx: &mut Ctx<'_>) {
    if let Err(e) = validate_sync(g, req) {
        cx.complete_sync(token, Err(e));
        return;
    }
    let id = req.member_id.as_str();
    match g.state {
        ClassicState::PreparingRebalance => {
            cx.complete_sync(token, Err(GroupError::RebalanceInProgress))
        }
        ClassicState::CompletingRebalance => {
            if let Some(m) = g.member_mut(id) {
                if let Some(old) = m.sync_waiter.replace(token) {
                    cx.complete_sync(old, Err(GroupError::RebalanceInProgress));
                }
            }
            remove_pending_sync(g, id);
            if g.is_leader(id) {
                apply_leader_assignments(g, &req.assignments, cx);
            }
        }
        ClassicState::Stable => {
            remove_pending_sync(g, id);
            let assignment = g
                .member(id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default();
            let response = SyncResponse {
                protocol_type: g.protocol_type.clone(),
                protocol_name: g.protocol_name.clone(),
                assignment,
            };
            cx.complete_sync(token, Ok(response));
        }
        ClassicState::Empty | ClassicState::Dead => {
            cx.complete_sync(token, Err(GroupError::UnknownMemberId))
        }
    }
}

fn validate_sync(g: &ClassicGroup, req: &SyncRequest) -> Result<(), GroupError> {
    if g.state == ClassicState::Dead {
        return Err(GroupError::CoordinatorNotAvailable);
    }
    g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
    if req.generation_id != g.generation {
        return Err(GroupError::IllegalGeneration);
    }
    if inconsistent(req.protocol_type.as_deref(), g.protocol_type.as_deref())
        || inconsistent(req.protocol_name.as_deref(), g.protocol_name.as_deref())
    {
        return Err(GroupError::InconsistentGroupProtocol);
    }
    Ok(())
}

fn remove_pending_sync(g: &mut ClassicGroup, id: &str) {
    g.pending_sync.remove(id);
    if g.pending_sync.is_empty() {
        g.sync_deadline_ms = None;
    }
}

/// The leader's SyncGroup: store assignments (missing ones empty), persist,
/// answer every parked SyncGroup and become Stable.
fn apply_leader_assignments(
    g: &mut ClassicGroup,
    assignments: &[(String, Vec<u8>)],
    cx: &mut Ctx<'_>,
) {
    let by_member: BTreeMap<&str, &Vec<u8>> =
        assignments.iter().map(|(id, a)| (id.as_str(), a)).collect();
    for m in &mut g.members {
        m.assignment = by_member
            .get(m.member_id.as_str())
            .map(|a| (*a).clone())
            .unwrap_or_default();
    }
    g.transition(ClassicState::Stable, cx.now_ms);
    cx.persist_classic(g);
    let (protocol_type, protocol_name) = (g.protocol_type.clone(), g.protocol_name.clone());
    for m in &mut g.members {
        if let Some(token) = m.sync_waiter.take() {
            let response = SyncResponse {
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: m.assignment.clone(),
            };
            cx.complete_sync(token, Ok(response));
            m.heartbeat_deadline_ms = cx.now_ms + i64::from(m.session_timeout_ms);
        }
    }
}

pub(crate) fn heartbeat(
    g: &mut ClassicGroup,
    req: &HeartbeatRequest,
    now_ms: i64,
) -> Result<(), GroupError> {
    if g.state == ClassicState::Dead {
        return Err(GroupError::CoordinatorNotAvailable);
    }
    g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
    if req.generation_id != g.generation {
        return Err(GroupError::IllegalGeneration);
    }
    let state = g.state;
    let member = g
        .member_mut(&req.member_id)
        .ok_or(GroupError::UnknownMemberId)?;
    match state {
        ClassicState::Empty | ClassicState::Dead => Err(GroupError::UnknownMemberId),
        ClassicState::PreparingRebalance => {
            member.heartbeat_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
            Err(GroupError::RebalanceInProgress)
        }
        ClassicState::CompletingRebalance | ClassicState::Stable => {
            member.heartbeat_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
            Ok(())
        }
    }
}

/// LeaveGroup for a batch of members; one result per member, in order.
pub(crate) fn leave(
    g: &mut ClassicGroup,
    leaving: &[LeaveMember],
    cx: &mut Ctx<'_>,
) -> Result<Vec<Result<(), GroupError>>, GroupError> {
    if g.state == ClassicState::Dead {
        return Err(GroupError::CoordinatorNotAvailable);
    }
    let mut results = Vec::with_capacity(leaving.len());
    let mut removed_any = false;
    for l in leaving {
        let target: Result<Option<String>, GroupError> = match &l.group_instance_id {
            None if g.pending_members.remove(&l.member_id).is_some() => Ok(None),
            None if g.member(&l.member_id).is_none() => Err(GroupError::UnknownMemberId),
            None => Ok(Some(l.member_id.clone())),
            Some(instance) => match g.static_member_id(instance) {
                None => Err(GroupError::UnknownMemberId),
                Some(existing) if !l.member_id.is_empty() && existing != l.member_id => {
                    Err(GroupError::FencedInstanceId)
                }
                Some(existing) => Ok(Some(existing)),
            },
        };
        let result = target.map(|id| {
            if let Some(id) = id {
                g.remove_member(&id, cx);
            }
            removed_any = true;
        });
        results.push(result);
    }
    if removed_any {
        after_removal(g, cx);
    }
    Ok(results)
}

fn after_removal(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    match g.state {
        ClassicState::Stable | ClassicState::CompletingRebalance => {
            maybe_prepare_rebalance_or_complete_join(g, cx)
        }
        ClassicState::PreparingRebalance if g.all_members_joined() => complete_join(g, cx),
        _ => {}
    }
}

/// Session expiry of one member (or a timed-out first join).
pub(crate) fn remove_member_and_update(g: &mut ClassicGroup, id: &str, cx: &mut Ctx<'_>) {
    g.remove_member(id, cx);
    after_removal(g, cx);
}

/// Members that never sent SyncGroup in time are removed and the group
/// rebalances without them.
pub(crate) fn on_sync_deadline(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    g.sync_deadline_ms = None;
    if !matches!(
        g.state,
        ClassicState::CompletingRebalance | ClassicState::Stable
    ) || g.pending_sync.is_empty()
    {
        return;
    }
    let late: Vec<String> = g.pending_sync.iter().cloned().collect();
    for id in late {
        g.remove_member(&id, cx);
    }
    prepare_rebalance(g, cx);
}
