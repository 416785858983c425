//! Server-side partition assignors of KIP-848: `uniform` (balanced and sticky,
//! Kafka's default) and `range` (per-topic contiguous ranges). They compute a
//! target assignment from members' subscriptions; reconciliation towards it
//! (revoke before reassign) lives in `consumer.rs`, not here.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::GroupError;

/// A Kafka topic id.
pub type TopicId = [u8; 16];
/// Partitions by topic id.
pub type Assignment = BTreeMap<TopicId, BTreeSet<i32>>;

/// The names clients may ask for in `server_assignor`.
pub const ASSIGNOR_UNIFORM: &str = "uniform";
pub const ASSIGNOR_RANGE: &str = "range";

/// A server-side assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    Uniform,
    Range,
}

impl Assignor {
    pub fn from_name(name: &str) -> Result<Assignor, GroupError> {
        match name {
            ASSIGNOR_UNIFORM => Ok(Assignor::Uniform),
            ASSIGNOR_RANGE => Ok(Assignor::Range),
            _ => Err(GroupError::UnsupportedAssignor),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => ASSIGNOR_UNIFORM,
            Assignor::Range => ASSIGNOR_RANGE,
        }
    }
}

/// One member as the assignor sees it.
pub struct AssignMember<'a> {
    pub member_id: &'a str,
    pub subscribed: BTreeSet<TopicId>,
    /// The member's previous target, to keep assignments sticky.
    pub previous: Option<&'a Assignment>,
}

/// Computes a target assignment: every partition of a subscribed topic goes to
/// exactly one member subscribed to it. `topics` maps id to partition count.
pub fn assign(
    kind: Assignor,
    members: &[AssignMember<'_>],
    topics: &BTreeMap<TopicId, i32>,
) -> BTreeMap<String, Assignment> {
    match kind {
        Assignor::Uniform => uniform(members, topics),
        Assignor::Range => range(members, topics),
    }
}

fn range(
    members: &[AssignMember<'_>],
    topics: &BTreeMap<TopicId, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_owned(), Assignment::new()))
        .collect();
    for (topic, count) in topics {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.subscribed.contains(topic))
            .map(|m| m.member_id)
            .collect();
        subscribers.sort_unstable();
        if subscribers.is_empty() {
            continue;
        }
        let n = subscribers.len() as i32;
        let (base, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.iter().enumerate() {
            let take = base + i32::from((i as i32) < extra);
            let parts: BTreeSet<i32> = (next..next + take).collect();
            next += take;
            if !parts.is_empty() {
                if let Some(a) = out.get_mut(*member) {
                    a.insert(*topic, parts);
                }
            }
        }
    }
    out
}

/// Balanced and sticky: each member keeps previously targeted partitions up to
/// its quota, then the rest go to the least-loaded eligible member.
fn uniform(
    members: &[AssignMember<'_>],
    topics: &BTreeMap<TopicId, i32>,
) -> BTreeMap<String, Assignment> {
    let mut sorted: Vec<&AssignMember<'_>> = members.iter().collect();
    sorted.sort_unstable_by(|a, b| a.member_id.cmp(b.member_id));
    let subscribed_partitions: i64 = topics
        .iter()
        .filter(|(t, _)| sorted.iter().any(|m| m.subscribed.contains(*t)))
        .map(|(_, c)| i64::from(*c))
        .sum();
    let active = sorted
        .iter()
        .filter(|m| !m.subscribed.is_empty())
        .count()
        .max(1) as i64;
    let quota_base = subscribed_partitions / active;
    let mut extras_left = subscribed_partitions % active;
    let mut out: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut load: BTreeMap<&str, i64> = BTreeMap::new();
    let mut taken: BTreeSet<(TopicId, i32)> = BTreeSet::new();
    for m in &sorted {
        let entry = out.entry(m.member_id.to_owned()).or_default();
        let mut n = 0;
        let previous_count: i64 = m
            .previous
            .into_iter()
            .flatten()
            .map(|(_, ps)| ps.len() as i64)
            .sum();
        let quota_max = if previous_count > quota_base && extras_left > 0 {
            extras_left -= 1;
            quota_base + 1
        } else {
            quota_base
        };
        for (topic, parts) in m.previous.into_iter().flatten() {
            let count = topics.get(topic).copied().unwrap_or(0);
            if !m.subscribed.contains(topic) {
                continue;
            }
            for p in parts.iter().filter(|p| **p < count) {
                if n < quota_max && taken.insert((*topic, *p)) {
                    entry.entry(*topic).or_default().insert(*p);
                    n += 1;
                }
            }
        }
        load.insert(m.member_id, n);
    }
    for (topic, count) in topics {
        for p in 0..*count {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            let best = sorted
                .iter()
                .filter(|m| m.subscribed.contains(topic))
                .min_by_key(|m| (load.get(m.member_id).copied().unwrap_or(0), m.member_id));
            if let Some(m) = best {
                *load.entry(m.member_id).or_default() += 1;
                out.entry(m.member_id.to_owned())
                    .or_default()
                    .entry(*topic)
                    .or_default()
                    .insert(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(n: u8) -> TopicId {
        [n; 16]
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn uniform_is_balanced_and_exclusive() {
        let topics: BTreeMap<TopicId, i32> = [(tid(1), 3), (tid(2), 4)].into_iter().collect();
        let subs: BTreeSet<TopicId> = [tid(1), tid(2)].into_iter().collect();
        let ids = ["a", "b", "c"];
        let members: Vec<AssignMember<'_>> = ids
            .iter()
            .map(|id| AssignMember {
                member_id: id,
                subscribed: subs.clone(),
                previous: None,
            })
            .collect();
        let out = assign(Assignor::Uniform, &members, &topics);
        let counts: Vec<usize> = out.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 7);
        assert!(counts.iter().all(|c| (2..=3).contains(c)));
        let mut seen = BTreeSet::new();
        for a in out.values() {
            for (t, ps) in a {
                for p in ps {
                    assert!(seen.insert((*t, *p)));
                }
            }
        }
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins() {
        let topics: BTreeMap<TopicId, i32> = [(tid(1), 4)].into_iter().collect();
        let subs: BTreeSet<TopicId> = [tid(1)].into_iter().collect();
        let prev_a: Assignment = [(tid(1), [0, 1].into_iter().collect())]
            .into_iter()
            .collect();
        let prev_b: Assignment = [(tid(1), [2, 3].into_iter().collect())]
            .into_iter()
            .collect();
        let members = vec![
            AssignMember {
                member_id: "a",
                subscribed: subs.clone(),
                previous: Some(&prev_a),
            },
            AssignMember {
                member_id: "b",
                subscribed: subs.clone(),
                previous: Some(&prev_b),
            },
            AssignMember {
                member_id: "c",
                subscribed: subs,
                previous: None,
            },
        ];
        let out = assign(Assignor::Uniform, &members, &topics);
        assert!(out["a"][&tid(1)].is_subset(&prev_a[&tid(1)]));
        assert!(out["b"][&tid(1)].is_subset(&prev_b[&tid(1)]));
        assert_eq!(count(&out["c"]), 1, "{out:?}");
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let topics: BTreeMap<TopicId, i32> = [(tid(1), 5)].into_iter().collect();
        let subs: BTreeSet<TopicId> = [tid(1)].into_iter().collect();
        let members = vec![
            AssignMember {
                member_id: "b",
                subscribed: subs.clone(),
                previous: None,
            },
            AssignMember {
                member_id: "a",
                subscribed: subs,
                previous: None,
            },
        ];
        let out = assign(Assignor::Range, &members, &topics);
        assert_eq!(out["a"][&tid(1)], [0, 1, 2].into_iter().collect());
        assert_eq!(out["b"][&tid(1)], [3, 4].into_iter().collect());
    }
}
