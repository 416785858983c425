//! The join phase of the classic protocol, after Kafka's GroupMetadataManager:
//! new and known members joining (KIP-394 pending members, static membership
//! replacement), preparing a rebalance (with the initial delay for a group
//! leaving Empty), completing the join into a new generation, and the timers
//! `tick` drives. Sync, heartbeat and leave live in `classic_sync.rs`.

use crate::classic::{ClassicGroup, ClassicMember, ClassicState, InitialDelay, JoinRequest};
use crate::coordinator::{Ctx, Token};
use crate::error::GroupError;

/// Handles a JoinGroup for an existing (possibly just created) classic group.
/// The answer for `token` arrives through `cx` now or in a later call.
pub(crate) fn join(g: &mut ClassicGroup, token: Token, req: &JoinRequest, cx: &mut Ctx<'_>) {
    if !accept_joining_member(g, &req.member_id, cx.settings.classic_members_max) {
        g.remove_member(&req.member_id, cx);
        cx.complete_join(token, Err(GroupError::GroupMaxSizeReached));
        maybe_complete_join_phase(g, cx);
        return;
    }
    let result = if g.state == ClassicState::Dead {
        Err(GroupError::CoordinatorNotAvailable)
    } else if !g.supports_protocols(&req.protocol_type, &req.protocols) {
        Err(GroupError::InconsistentGroupProtocol)
    } else if req.member_id.is_empty() {
        join_new_member(g, token, req, cx)
    } else {
        join_existing_member(g, token, req, cx)
    };
    if let Err(e) = result {
        cx.complete_join(token, Err(e));
    }
}

fn accept_joining_member(g: &ClassicGroup, member_id: &str, members_max: usize) -> bool {
    match g.state {
        ClassicState::Empty | ClassicState::Dead => true,
        ClassicState::PreparingRebalance => {
            g.member(member_id).is_some_and(|m| m.join_waiter.is_some())
                || g.awaiting_join_count() < members_max
        }
        ClassicState::CompletingRebalance | ClassicState::Stable => {
            g.member(member_id).is_some() || g.members.len() < members_max
        }
    }
}

fn join_new_member(
    g: &mut ClassicGroup,
    token: Token,
    req: &JoinRequest,
    cx: &mut Ctx<'_>,
) -> Result<(), GroupError> {
    let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
    let new_id = cx.new_member_id(prefix);
    if let Some(instance) = &req.group_instance_id {
        match g.static_member_id(instance) {
            Some(old_id) => replace_static_member(g, token, req, &old_id, &new_id, cx),
            None => add_member_then_rebalance(g, token, req, &new_id, cx),
        }
        return Ok(());
    }
    if req.require_known_member_id {
        let deadline = cx.now_ms + i64::from(req.session_timeout_ms);
        g.pending_members.insert(new_id.clone(), deadline);
        return Err(GroupError::MemberIdRequired { member_id: new_id });
    }
    add_member_then_rebalance(g, token, req, &new_id, cx);
    Ok(())
}

fn join_existing_member(
    g: &mut ClassicGroup,
    token: Token,
    req: &JoinRequest,
    cx: &mut Ctx<'_>,
) -> Result<(), GroupError> {
    let id = req.member_id.as_str();
    if g.pending_members.remove(id).is_some() {
        add_member_then_rebalance(g, token, req, id, cx);
        return Ok(());
    }
    g.validate_member(id, req.group_instance_id.as_deref())?;
    let matches = g.member_matches(id, &req.protocols);
    match g.state {
        ClassicState::PreparingRebalance => update_member_then_rebalance(g, token, req, cx),
        ClassicState::CompletingRebalance if matches => {
            // The member lost the join response: answer it again.
            let response = g.join_response(id, g.is_leader(id), false);
            cx.complete_join(token, Ok(response));
        }
        ClassicState::Stable if matches && !g.is_leader(id) => {
            let response = g.join_response(id, false, false);
            cx.complete_join(token, Ok(response));
        }
        // The leader rejoining, or changed metadata, forces a rebalance.
        ClassicState::CompletingRebalance | ClassicState::Stable => {
            update_member_then_rebalance(g, token, req, cx)
        }
        ClassicState::Empty | ClassicState::Dead => return Err(GroupError::UnknownMemberId),
    }
    Ok(())
}

fn update_member_then_rebalance(
    g: &mut ClassicGroup,
    token: Token,
    req: &JoinRequest,
    cx: &mut Ctx<'_>,
) {
    g.update_member(&req.member_id, req, token, cx);
    maybe_prepare_rebalance_or_complete_join(g, cx);
}

fn add_member_then_rebalance(
    g: &mut ClassicGroup,
    token: Token,
    req: &JoinRequest,
    member_id: &str,
    cx: &mut Ctx<'_>,
) {
    if g.state == ClassicState::PreparingRebalance && g.previous_state == ClassicState::Empty {
        g.new_member_added = true;
    }
    g.add_member(ClassicMember {
        member_id: member_id.to_owned(),
        instance_id: req.group_instance_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        session_timeout_ms: req.session_timeout_ms,
        protocol_type: req.protocol_type.clone(),
        protocols: req.protocols.clone(),
        assignment: Vec::new(),
        join_waiter: Some(token),
        sync_waiter: None,
        is_new: true,
        heartbeat_deadline_ms: cx.now_ms + cx.settings.new_member_join_timeout_ms,
    });
    maybe_prepare_rebalance_or_complete_join(g, cx);
}

/// A static member rejoined with an unknown member id: the old id is fenced
/// and the member continues under the new id.
fn replace_static_member(
    g: &mut ClassicGroup,
    token: Token,
    req: &JoinRequest,
    old_id: &str,
    new_id: &str,
    cx: &mut Ctx<'_>,
) {
    let current_leader = g.leader.clone().unwrap_or_default();
    if let Some(m) = g.member_mut(old_id) {
        if let Some(t) = m.join_waiter.take() {
            cx.complete_join(t, Err(GroupError::FencedInstanceId));
        }
        if let Some(t) = m.sync_waiter.take() {
            cx.complete_sync(t, Err(GroupError::FencedInstanceId));
        }
        m.member_id = new_id.to_owned();
        m.heartbeat_deadline_ms = cx.now_ms + i64::from(m.session_timeout_ms);
    }
    if g.is_leader(old_id) {
        g.leader = Some(new_id.to_owned());
    }
    if g.pending_sync.remove(old_id) {
        g.pending_sync.insert(new_id.to_owned());
    }
    g.update_member(new_id, req, token, cx);
    match g.state {
        ClassicState::Stable if g.select_protocol() == g.protocol_name => {
            cx.persist_classic(g);
            if let Some(m) = g.member_mut(new_id) {
                m.join_waiter = None;
            }
            let response = if req.supports_skip_assignment {
                let leader = g.is_leader(new_id);
                g.join_response(new_id, leader, leader)
            } else {
                let mut r = g.join_response(new_id, false, false);
                r.leader = current_leader;
                r
            };
            cx.complete_join(token, Ok(response));
        }
        ClassicState::Stable => maybe_prepare_rebalance_or_complete_join(g, cx),
        ClassicState::CompletingRebalance => prepare_rebalance(g, cx),
        _ => maybe_complete_join_phase(g, cx),
    }
}

pub(crate) fn maybe_prepare_rebalance_or_complete_join(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    match g.state {
        ClassicState::Stable | ClassicState::CompletingRebalance | ClassicState::Empty => {
            prepare_rebalance(g, cx)
        }
        _ => maybe_complete_join_phase(g, cx),
    }
}

fn maybe_complete_join_phase(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    if g.state == ClassicState::PreparingRebalance
        && g.previous_state != ClassicState::Empty
        && g.all_members_joined()
    {
        complete_join(g, cx);
    }
}

pub(crate) fn prepare_rebalance(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    if g.state == ClassicState::CompletingRebalance {
        reset_assignments_with_error(g, GroupError::RebalanceInProgress, cx);
    }
    g.pending_sync.clear();
    g.sync_deadline_ms = None;
    let initial = g.state == ClassicState::Empty;
    g.transition(ClassicState::PreparingRebalance, cx.now_ms);
    if initial {
        let delay_ms = cx.settings.initial_rebalance_delay_ms;
        let remaining_ms = (g.rebalance_timeout_ms() - delay_ms).max(0);
        g.initial_delay = Some(InitialDelay {
            delay_ms,
            remaining_ms,
        });
        g.join_deadline_ms = Some(cx.now_ms + delay_ms);
    } else if g.all_members_joined() {
        complete_join(g, cx);
    } else {
        g.join_deadline_ms = Some(cx.now_ms + g.rebalance_timeout_ms());
    }
}

/// Answers every parked SyncGroup with `error` and clears assignments.
pub(crate) fn reset_assignments_with_error(
    g: &mut ClassicGroup,
    error: GroupError,
    cx: &mut Ctx<'_>,
) {
    for m in &mut g.members {
        m.assignment.clear();
        if let Some(token) = m.sync_waiter.take() {
            cx.complete_sync(token, Err(error.clone()));
            m.heartbeat_deadline_ms = cx.now_ms + i64::from(m.session_timeout_ms);
        }
    }
}

/// The join deadline passed: extend the initial delay while members keep
/// arriving (up to the rebalance timeout), else complete the join.
pub(crate) fn on_join_deadline(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    g.join_deadline_ms = None;
    if let Some(delay) = g.initial_delay.take() {
        if g.new_member_added && delay.remaining_ms != 0 {
            g.new_member_added = false;
            let delay_ms = cx
                .settings
                .initial_rebalance_delay_ms
                .min(delay.remaining_ms);
            let remaining_ms = (delay.remaining_ms - delay.delay_ms).max(0);
            g.initial_delay = Some(InitialDelay {
                delay_ms,
                remaining_ms,
            });
            g.join_deadline_ms = Some(cx.now_ms + delay_ms);
            return;
        }
    }
    complete_join(g, cx);
}

/// Ends the join phase: dynamic members that did not rejoin are removed and,
/// if anyone is left, a new generation starts and joins are answered.
pub(crate) fn complete_join(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    g.join_deadline_ms = None;
    g.initial_delay = None;
    g.new_member_added = false;
    let gone: Vec<String> = g
        .members
        .iter()
        .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for id in gone {
        g.remove_member(&id, cx);
    }
    if g.state == ClassicState::Dead {
        return;
    }
    if !elect_joined_leader(g) && !g.members.is_empty() {
        // Only static members that did not rejoin: wait for their sessions.
        g.join_deadline_ms = Some(cx.now_ms + g.rebalance_timeout_ms());
        return;
    }
    init_next_generation(g, cx);
}

fn elect_joined_leader(g: &mut ClassicGroup) -> bool {
    let Some(leader) = g.leader.clone() else {
        return false;
    };
    if g.member(&leader).is_some_and(|m| m.join_waiter.is_some()) {
        return true;
    }
    match g.members.iter().find(|m| m.join_waiter.is_some()) {
        Some(m) => {
            g.leader = Some(m.member_id.clone());
            true
        }
        None => false,
    }
}

fn init_next_generation(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    g.generation = g.generation.wrapping_add(1);
    g.pending_sync.clear();
    if g.members.is_empty() {
        g.protocol_name = None;
        g.transition(ClassicState::Empty, cx.now_ms);
        cx.persist_classic(g);
        return;
    }
    g.protocol_name = g.select_protocol();
    g.transition(ClassicState::CompletingRebalance, cx.now_ms);
    let ids: Vec<String> = g.members.iter().map(|m| m.member_id.clone()).collect();
    for id in ids {
        let response = g.join_response(&id, g.is_leader(&id), false);
        if let Some(m) = g.member_mut(&id) {
            if let Some(token) = m.join_waiter.take() {
                cx.complete_join(token, Ok(response));
            }
            m.heartbeat_deadline_ms = cx.now_ms + i64::from(m.session_timeout_ms);
            m.is_new = false;
        }
        g.pending_sync.insert(id);
    }
    g.sync_deadline_ms = Some(cx.now_ms + g.rebalance_timeout_ms());
}

/// Runs every timer of the group that is due at `cx.now_ms`.
pub(crate) fn run_timers(g: &mut ClassicGroup, cx: &mut Ctx<'_>) {
    let now = cx.now_ms;
    let expired: Vec<String> = g
        .members
        .iter()
        .filter(|m| m.heartbeat_deadline_ms <= now && !m.heartbeat_satisfied())
        .map(|m| m.member_id.clone())
        .collect();
    for id in expired {
        crate::classic_sync::remove_member_and_update(g, &id, cx);
    }
    let pending: Vec<String> = g
        .pending_members
        .iter()
        .filter(|(_, d)| **d <= now)
        .map(|(id, _)| id.clone())
        .collect();
    for id in pending {
        g.pending_members.remove(&id);
        if g.state == ClassicState::PreparingRebalance && g.all_members_joined() {
            complete_join(g, cx);
        }
    }
    if g.join_deadline_ms.is_some_and(|d| d <= now) {
        on_join_deadline(g, cx);
    }
    if g.sync_deadline_ms.is_some_and(|d| d <= now) {
        crate::classic_sync::on_sync_deadline(g, cx);
    }
}
