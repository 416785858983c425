//! KIP-848 target assignment and reconciliation for a consumer group: the
//! subscription metadata of the group, the server-side target assignment
//! computed by the assignors, and Kafka's CurrentAssignmentBuilder, which moves
//! one member towards its target only as fast as other members release the
//! partitions it wants. Request handling, membership, sessions and offsets
//! checks live in `consumer.rs`; the assignors in `assignor.rs`.

use std::collections::{BTreeMap, BTreeSet};

use crate::assignor::{assign, AssignMember, Assignment, Assignor, TopicId};
use crate::consumer::{
    ConsumerGroup, ConsumerMember, TopicLookup, STATE_STABLE, STATE_UNRELEASED, STATE_UNREVOKED,
};
use crate::coordinator::Ctx;
use crate::records::{TopicMeta, TopicPartitions};

fn owns_any(owned: Option<&[TopicPartitions]>, of: &Assignment) -> bool {
    match owned {
        None => true,
        Some(list) => list.iter().any(|tp| {
            tp.partitions
                .iter()
                .any(|p| of.get(&tp.topic_id).is_some_and(|s| s.contains(p)))
        }),
    }
}

pub(crate) fn set_epoch(m: &mut ConsumerMember, epoch: i32) {
    if m.member_epoch != epoch {
        m.previous_member_epoch = m.member_epoch;
        m.member_epoch = epoch;
    }
}

impl ConsumerGroup {
    /// Recomputes which subscribed topics exist and with how many partitions.
    pub(crate) fn refresh_subscription_metadata(
        &mut self,
        topics: &dyn TopicLookup,
        cx: &mut Ctx<'_>,
    ) -> bool {
        let names: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(|m| m.value.subscribed_topic_names.iter())
            .collect();
        let fresh: BTreeMap<String, TopicMeta> = names
            .into_iter()
            .filter_map(|n| {
                topics.topic(n).map(|t| {
                    (
                        n.clone(),
                        TopicMeta {
                            topic_id: t.id,
                            name: n.clone(),
                            partitions: t.partitions,
                        },
                    )
                })
            })
            .collect();
        if fresh == self.topics {
            return false;
        }
        self.topics = fresh;
        cx.out
            .records
            .push(crate::consumer_records::partition_metadata_record(
                cx.group_id,
                &self.topics,
            ));
        true
    }

    pub(crate) fn compute_target(&mut self, cx: &mut Ctx<'_>) {
        let by_name: BTreeMap<&str, TopicId> = self
            .topics
            .values()
            .map(|t| (t.name.as_str(), t.topic_id))
            .collect();
        let counts: BTreeMap<TopicId, i32> = self
            .topics
            .values()
            .map(|t| (t.topic_id, t.partitions))
            .collect();
        let kind = self
            .members
            .values()
            .find_map(|m| {
                m.value
                    .server_assignor
                    .as_deref()
                    .and_then(|n| Assignor::from_name(n).ok())
            })
            .unwrap_or(cx.settings.consumer_default_assignor);
        let members: Vec<AssignMember<'_>> = self
            .members
            .iter()
            .map(|(id, m)| AssignMember {
                member_id: id,
                subscribed: m
                    .value
                    .subscribed_topic_names
                    .iter()
                    .filter_map(|n| by_name.get(n.as_str()).copied())
                    .collect(),
                previous: self.target.get(id),
            })
            .collect();
        let target = assign(kind, &members, &counts);
        for (id, a) in &target {
            if self.target.get(id) != Some(a) {
                cx.out
                    .records
                    .push(crate::consumer_records::target_member_record(
                        cx.group_id,
                        id,
                        a,
                    ));
            }
        }
        self.target = target;
        self.assignment_epoch = self.epoch;
        cx.out
            .records
            .push(crate::consumer_records::target_epoch_record(
                cx.group_id,
                self.epoch,
            ));
    }

    /// Partitions held (assigned or pending revocation) by other members.
    fn held_by_others(&self, member_id: &str) -> BTreeSet<(TopicId, i32)> {
        let mut held = BTreeSet::new();
        for (id, m) in &self.members {
            if id == member_id {
                continue;
            }
            for a in [&m.assigned, &m.pending_revocation] {
                for (t, ps) in a {
                    held.extend(ps.iter().map(|p| (*t, *p)));
                }
            }
        }
        held
    }

    /// Kafka's CurrentAssignmentBuilder for one member.
    pub(crate) fn reconcile(
        &mut self,
        member_id: &str,
        owned: Option<&[TopicPartitions]>,
        cx: &mut Ctx<'_>,
    ) {
        let held = self.held_by_others(member_id);
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let target_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        let next_epoch = match m.state {
            STATE_STABLE if m.member_epoch == target_epoch => return,
            STATE_UNREVOKED if owns_any(owned, &m.pending_revocation) => return,
            STATE_UNREVOKED => m.member_epoch + 1,
            _ => m.member_epoch,
        };
        let mut assigned = Assignment::new();
        let mut revoke = Assignment::new();
        let mut unreleased = false;
        let topic_ids: BTreeSet<TopicId> =
            target.keys().chain(m.assigned.keys()).copied().collect();
        for t in topic_ids {
            let want = target.get(&t).cloned().unwrap_or_default();
            let have = m.assigned.get(&t).cloned().unwrap_or_default();
            let keep: BTreeSet<i32> = have.intersection(&want).copied().collect();
            let gone: BTreeSet<i32> = have.difference(&keep).copied().collect();
            let mut add: BTreeSet<i32> = want.difference(&keep).copied().collect();
            let before = add.len();
            add.retain(|p| !held.contains(&(t, *p)));
            unreleased |= add.len() != before;
            let mut now_assigned = keep;
            if !gone.is_empty() {
                revoke.insert(t, gone);
            }
            now_assigned.extend(add);
            if !now_assigned.is_empty() {
                assigned.insert(t, now_assigned);
            }
        }
        if !revoke.is_empty() && owns_any(owned, &revoke) {
            // Keep only the intersection; the new partitions wait for the revocation.
            for (t, ps) in assigned.iter_mut() {
                let have = m.assigned.get(t).cloned().unwrap_or_default();
                ps.retain(|p| have.contains(p));
            }
            assigned.retain(|_, ps| !ps.is_empty());
            set_epoch(m, next_epoch);
            m.state = STATE_UNREVOKED;
            m.assigned = assigned;
            m.pending_revocation = revoke;
            let timeout = i64::from(m.value.rebalance_timeout_ms.max(0));
            m.revocation_deadline_ms = Some(cx.now_ms + timeout);
            return;
        }
        set_epoch(m, target_epoch);
        m.state = if unreleased {
            STATE_UNRELEASED
        } else {
            STATE_STABLE
        };
        m.assigned = assigned;
        m.pending_revocation = Assignment::new();
        m.revocation_deadline_ms = None;
    }
}
