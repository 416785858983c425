//! KIP-848 reconciliation: members join, heartbeat, leave and crash (stop
//! heartbeating until their session expires) in random order (seeded); no
//! partition is ever held by two members at once, in the coordinator's view
//! or in the live clients', and the group converges on an even split.

use std::collections::{BTreeMap, BTreeSet};

use group::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn topics() -> BTreeMap<String, TopicInfo> {
    [(
        "t".to_owned(),
        TopicInfo {
            id: [7; 16],
            partitions: 6,
        },
    )]
    .into_iter()
    .collect()
}

fn hb(member: &str, epoch: i32, owned: Vec<TopicPartitions>) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned_partitions: Some(owned),
        client_id: "c".into(),
        ..Default::default()
    }
}

fn assert_exclusive(c: &Coordinator) {
    let d = c.consumer_describe("g").unwrap();
    let mut seen = BTreeSet::new();
    for m in &d.members {
        for tp in &m.assignment {
            for p in &tp.partitions {
                assert!(
                    seen.insert((tp.topic_id, *p)),
                    "partition {p} owned twice: {d:?}"
                );
            }
        }
    }
}

#[test]
fn reconciliation_never_double_assigns() {
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = Coordinator::new(Settings::default());
        // member id → (epoch, owned as the client sees it)
        let mut clients: BTreeMap<String, (i32, Vec<TopicPartitions>)> = BTreeMap::new();
        let mut now = 0;
        for round in 0..60 {
            now += 100;
            if round % 15 == 0 && clients.len() < 3 {
                let (res, _) =
                    c.consumer_heartbeat(&hb(&format!("m{round}"), 0, vec![]), &topics(), now);
                let r = res.unwrap();
                clients.insert(
                    r.member_id.clone(),
                    (r.member_epoch, r.assignment.unwrap_or_default()),
                );
            }
            let ids: Vec<String> = clients.keys().cloned().collect();
            let id = &ids[rng.gen_range(0..ids.len())];
            let (epoch, owned) = clients[id].clone();
            let (res, _) = c.consumer_heartbeat(&hb(id, epoch, owned.clone()), &topics(), now);
            let r = res.unwrap();
            // The client applies a new assignment (revoking what is gone) at once.
            let owned = r.assignment.unwrap_or(owned);
            clients.insert(id.clone(), (r.member_epoch, owned));
            assert_exclusive(&c);
        }
        // Eventually everyone converges: all 6 partitions assigned, 2 each.
        for _ in 0..10 {
            for id in clients.keys().cloned().collect::<Vec<_>>() {
                let (epoch, owned) = clients[&id].clone();
                let r = c
                    .consumer_heartbeat(&hb(&id, epoch, owned.clone()), &topics(), now)
                    .0
                    .unwrap();
                clients.insert(id, (r.member_epoch, r.assignment.unwrap_or(owned)));
                assert_exclusive(&c);
            }
        }
        let d = c.consumer_describe("g").unwrap();
        assert_eq!(d.state, "Stable", "seed {seed}: {d:?}");
        let counts: Vec<usize> = d
            .members
            .iter()
            .map(|m| m.assignment.iter().map(|t| t.partitions.len()).sum())
            .collect();
        assert_eq!(counts, vec![2, 2, 2], "seed {seed}");
    }
}

#[test]
fn session_timeout_fences_and_records_replay() {
    let mut c = Coordinator::new(Settings::default());
    let mut log = Vec::new();
    let (r, recs) = c.consumer_heartbeat(&hb("a", 0, vec![]), &topics(), 0);
    log.extend(recs);
    assert_eq!(r.unwrap().assignment.unwrap()[0].partitions.len(), 6);
    let mut replayed = Coordinator::new(Settings::default());
    for rec in &log {
        assert_eq!(replayed.replay(&rec.key, rec.value.as_deref()), Ok(None));
    }
    assert_eq!(
        replayed.consumer_describe("g").unwrap(),
        c.consumer_describe("g").unwrap()
    );
    c.tick(45_000);
    assert_eq!(c.consumer_describe("g").unwrap().state, "Empty");
    let stale = c
        .consumer_heartbeat(&hb("a", 1, vec![]), &topics(), 45_001)
        .0;
    assert_eq!(stale, Err(GroupError::UnknownMemberId));
}

/// The partitions live clients believe they own never overlap.
fn assert_clients_exclusive(clients: &BTreeMap<String, (i32, Vec<TopicPartitions>)>, seed: u64) {
    let mut seen = BTreeSet::new();
    for (id, (_, owned)) in clients {
        for tp in owned {
            for p in &tp.partitions {
                assert!(
                    seen.insert((tp.topic_id, *p)),
                    "seed {seed}: {id} owns {p}, already owned by another live client"
                );
            }
        }
    }
}

/// One heartbeat as a client sends it; a fenced client rejoins with epoch 0
/// and nothing owned, as the KIP-848 clients do.
fn client_heartbeat(
    c: &mut Coordinator,
    clients: &mut BTreeMap<String, (i32, Vec<TopicPartitions>)>,
    id: &str,
    now: i64,
) {
    let (epoch, owned) = clients[id].clone();
    match c
        .consumer_heartbeat(&hb(id, epoch, owned.clone()), &topics(), now)
        .0
    {
        Ok(r) => {
            let owned = r.assignment.unwrap_or(owned);
            clients.insert(id.to_owned(), (r.member_epoch, owned));
        }
        Err(GroupError::FencedMemberEpoch | GroupError::UnknownMemberId) => {
            clients.insert(id.to_owned(), (0, Vec::new()));
        }
        Err(e) => panic!("{id}: {e:?}"),
    }
}

#[test]
fn reconciliation_with_leaves_and_crashes_never_double_assigns() {
    for seed in 0..30u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = Coordinator::new(Settings::default());
        let mut clients: BTreeMap<String, (i32, Vec<TopicPartitions>)> = BTreeMap::new();
        let mut joined = 0;
        let mut now = 0;
        for _ in 0..300 {
            now += rng.gen_range(0..1_500);
            c.tick(now);
            let ids: Vec<String> = clients.keys().cloned().collect();
            let roll = rng.gen_range(0..100);
            if clients.len() < 4 && (ids.is_empty() || roll < 10) {
                joined += 1;
                let id = format!("m{joined}");
                clients.insert(id.clone(), (0, Vec::new()));
                client_heartbeat(&mut c, &mut clients, &id, now);
            } else if roll < 14 {
                // Leave: the client drops everything it owns at once.
                let id = &ids[rng.gen_range(0..ids.len())];
                let (res, _) = c.consumer_heartbeat(&hb(id, -1, vec![]), &topics(), now);
                assert!(
                    matches!(res, Ok(_) | Err(GroupError::UnknownMemberId)),
                    "seed {seed}: leave {res:?}"
                );
                clients.remove(id);
            } else if roll < 18 {
                // Crash: it stops heartbeating; its session expires later.
                clients.remove(&ids[rng.gen_range(0..ids.len())]);
            } else {
                let id = ids[rng.gen_range(0..ids.len())].clone();
                client_heartbeat(&mut c, &mut clients, &id, now);
            }
            assert_exclusive(&c);
            assert_clients_exclusive(&clients, seed);
        }
        if clients.is_empty() {
            clients.insert("last".into(), (0, Vec::new()));
        }
        // Everyone alive keeps heartbeating until the crashed sessions expire
        // and the group converges on an even split among the live members.
        for _ in 0..80 {
            now += 1_000;
            c.tick(now);
            for id in clients.keys().cloned().collect::<Vec<_>>() {
                client_heartbeat(&mut c, &mut clients, &id, now);
                assert_exclusive(&c);
                assert_clients_exclusive(&clients, seed);
            }
        }
        let d = c.consumer_describe("g").unwrap();
        assert_eq!(d.state, "Stable", "seed {seed}: {d:?}");
        assert_eq!(d.members.len(), clients.len(), "seed {seed}: {d:?}");
        let counts: Vec<usize> = clients
            .values()
            .map(|(_, owned)| owned.iter().map(|t| t.partitions.len()).sum())
            .collect();
        let (n, sum) = (clients.len(), counts.iter().sum::<usize>());
        assert_eq!(sum, 6, "seed {seed}: {counts:?}");
        assert!(
            counts.iter().all(|k| *k == 6 / n || *k == 6 / n + 1),
            "seed {seed}: uneven {counts:?}"
        );
    }
}
