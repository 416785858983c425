//! Classic protocol, offsets and records: table-style transition tests. The
//! seeded randomized run checked against the exclusivity, offset, liveness
//! and replay invariants is `classic_random.rs`.

use std::collections::BTreeMap;

use group::*;

fn settings() -> Settings {
    Settings {
        initial_rebalance_delay_ms: 0,
        ..Settings::default()
    }
}

fn join_req(member: &str, instance: Option<&str>) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: instance.map(Into::into),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: vec![1],
        }],
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn join_result(out: &Output, token: Token) -> Option<Result<JoinResponse, GroupError>> {
    out.completions.iter().find_map(|c| match c {
        Completion::Join { token: t, result } if *t == token => Some(result.clone()),
        _ => None,
    })
}

fn sync_result(out: &Output, token: Token) -> Option<Result<SyncResponse, GroupError>> {
    out.completions.iter().find_map(|c| match c {
        Completion::Sync { token: t, result } if *t == token => Some(result.clone()),
        _ => None,
    })
}

/// Joins through MEMBER_ID_REQUIRED and returns the member's join response.
fn join_one(c: &mut Coordinator, token: u64, now: i64) -> JoinResponse {
    let out = c.join(Token(token), &join_req("", None), now);
    let Some(Err(GroupError::MemberIdRequired { member_id })) = join_result(&out, Token(token))
    else {
        panic!("{out:?}")
    };
    let out = c.join(Token(token + 1), &join_req(&member_id, None), now);
    join_result(&out, Token(token + 1)).unwrap().unwrap()
}

#[test]
fn member_id_required_then_join_sync_heartbeat() {
    let mut c = Coordinator::new(settings());
    let j = join_one(&mut c, 1, 0);
    assert_eq!(j.generation_id, 1);
    assert_eq!(j.leader, j.member_id);
    assert_eq!(j.members.len(), 1);
    let sync = SyncRequest {
        group_id: "g".into(),
        member_id: j.member_id.clone(),
        group_instance_id: None,
        generation_id: 1,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: vec![(j.member_id.clone(), vec![9])],
    };
    let out = c.sync(Token(3), &sync, 1);
    assert_eq!(
        sync_result(&out, Token(3)).unwrap().unwrap().assignment,
        vec![9]
    );
    assert_eq!(out.records.len(), 1);
    let hb = |generation, member: &str| HeartbeatRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: None,
        generation_id: generation,
    };
    let cases = [
        (hb(1, &j.member_id), Ok(())),
        (hb(2, &j.member_id), Err(GroupError::IllegalGeneration)),
        (hb(1, "nobody"), Err(GroupError::UnknownMemberId)),
    ];
    for (req, want) in cases {
        assert_eq!(c.heartbeat(&req, 2), want, "{req:?}");
    }
    assert_eq!(c.describe_group("g").state, "Stable");
}

#[test]
fn second_member_triggers_rebalance_and_follower_waits_for_leader() {
    let mut c = Coordinator::new(settings());
    let a = join_one(&mut c, 1, 0);
    let sync = |m: &str, generation, assignments: Vec<(String, Vec<u8>)>| SyncRequest {
        group_id: "g".into(),
        member_id: m.into(),
        group_instance_id: None,
        generation_id: generation,
        protocol_type: None,
        protocol_name: None,
        assignments,
    };
    c.sync(Token(3), &sync(&a.member_id, 1, vec![]), 1);
    // b joins: parked until a rejoins; a's heartbeat says REBALANCE_IN_PROGRESS.
    let out = c.join(Token(10), &join_req("", None), 2);
    let Some(Err(GroupError::MemberIdRequired { member_id: b })) = join_result(&out, Token(10))
    else {
        panic!()
    };
    let out = c.join(Token(11), &join_req(&b, None), 2);
    assert!(join_result(&out, Token(11)).is_none());
    let hb = HeartbeatRequest {
        group_id: "g".into(),
        member_id: a.member_id.clone(),
        group_instance_id: None,
        generation_id: 1,
    };
    assert_eq!(c.heartbeat(&hb, 3), Err(GroupError::RebalanceInProgress));
    let out = c.join(Token(12), &join_req(&a.member_id, None), 4);
    let ja = join_result(&out, Token(12)).unwrap().unwrap();
    let jb = join_result(&out, Token(11)).unwrap().unwrap();
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.members.len() + jb.members.len(), 2);
    let (leader, follower) = if ja.leader == ja.member_id {
        (ja, jb)
    } else {
        (jb, ja)
    };
    let out = c.sync(Token(20), &sync(&follower.member_id, 2, vec![]), 5);
    assert!(out.completions.is_empty());
    let out = c.sync(
        Token(21),
        &sync(
            &leader.member_id,
            2,
            vec![(follower.member_id.clone(), vec![7])],
        ),
        6,
    );
    assert_eq!(
        sync_result(&out, Token(20)).unwrap().unwrap().assignment,
        vec![7]
    );
    assert_eq!(
        sync_result(&out, Token(21)).unwrap().unwrap().assignment,
        Vec::<u8>::new()
    );
}

#[test]
fn static_member_rejoin_fences_the_old_id() {
    let mut c = Coordinator::new(settings());
    let out = c.join(Token(1), &join_req("", Some("i1")), 0);
    let first = join_result(&out, Token(1)).unwrap().unwrap();
    let sync = SyncRequest {
        group_id: "g".into(),
        member_id: first.member_id.clone(),
        group_instance_id: Some("i1".into()),
        generation_id: 1,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![],
    };
    c.sync(Token(2), &sync, 1);
    let out = c.join(Token(3), &join_req("", Some("i1")), 2);
    let second = join_result(&out, Token(3)).unwrap().unwrap();
    assert_ne!(first.member_id, second.member_id);
    assert_eq!(second.generation_id, 1, "no rebalance for a static rejoin");
    let hb = HeartbeatRequest {
        group_id: "g".into(),
        member_id: first.member_id,
        group_instance_id: Some("i1".into()),
        generation_id: 1,
    };
    assert_eq!(c.heartbeat(&hb, 3), Err(GroupError::FencedInstanceId));
}

#[test]
fn session_expiry_via_tick_empties_the_group() {
    let mut c = Coordinator::new(settings());
    let a = join_one(&mut c, 1, 0);
    let sync = SyncRequest {
        group_id: "g".into(),
        member_id: a.member_id.clone(),
        group_instance_id: None,
        generation_id: 1,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![],
    };
    c.sync(Token(3), &sync, 0);
    assert!(c.tick(9_999).records.is_empty());
    let out = c.tick(10_000);
    assert_eq!(out.records.len(), 1, "empty group metadata persisted");
    assert_eq!(c.describe_group("g").state, "Empty");
}

#[test]
fn invalid_session_timeout_and_group_limits() {
    let mut c = Coordinator::new(Settings {
        groups_max: 1,
        classic_members_max: 1,
        ..settings()
    });
    let mut r = join_req("", None);
    r.session_timeout_ms = 1;
    assert_eq!(
        join_result(&c.join(Token(1), &r, 0), Token(1)),
        Some(Err(GroupError::InvalidSessionTimeout))
    );
    join_one(&mut c, 2, 0);
    let mut other = join_req("", None);
    other.group_id = "h".into();
    assert!(matches!(
        join_result(&c.join(Token(5), &other, 0), Token(5)),
        Some(Err(GroupError::CoordinatorLimit(_)))
    ));
    let mut second = join_req("", None);
    second.require_known_member_id = false;
    assert_eq!(
        join_result(&c.join(Token(6), &second, 0), Token(6)),
        Some(Err(GroupError::GroupMaxSizeReached))
    );
}

#[test]
fn offsets_commit_fetch_delete_and_replay_round_trip() {
    let mut c = Coordinator::new(settings());
    let commit = |offset| OffsetCommitRequest {
        group_id: "simple".into(),
        member_id: String::new(),
        group_instance_id: None,
        generation_id_or_member_epoch: -1,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    assert_eq!(
        c.offset_fetch("nope", Some(&[("t".into(), 0)]), None)
            .unwrap()[0]
            .offset,
        -1
    );
    let (res, mut log) = c.offset_commit(&commit(42), 5);
    assert!(res.unwrap()[0].result.is_ok());
    let j = join_one(&mut c, 1, 0);
    let (_, records) = c
        .sync(
            Token(3),
            &SyncRequest {
                group_id: "g".into(),
                member_id: j.member_id.clone(),
                group_instance_id: None,
                generation_id: 1,
                protocol_type: None,
                protocol_name: None,
                assignments: vec![(j.member_id.clone(), vec![5])],
            },
            1,
        )
        .into_parts();
    log.extend(records);
    let mut replayed = Coordinator::new(settings());
    for r in &log {
        assert_eq!(replayed.replay(&r.key, r.value.as_deref()), Ok(None));
    }
    assert_eq!(
        replayed.offset_fetch("simple", None, None).unwrap()[0].offset,
        42
    );
    let d = replayed.describe_group("g");
    assert_eq!(
        (d.state.as_str(), d.members[0].assignment.clone()),
        ("Stable", vec![5])
    );
    assert!(replayed.replay(&[0, 99, 0], None).unwrap().is_some());
    let (res, tomb) = c.offset_delete("simple", &[("t".into(), 0)]);
    assert!(res.unwrap()[0].result.is_ok());
    assert_eq!(tomb[0].value, None);
}

trait IntoParts {
    fn into_parts(self) -> (Vec<Completion>, Vec<PersistRecord>);
}
impl IntoParts for Output {
    fn into_parts(self) -> (Vec<Completion>, Vec<PersistRecord>) {
        (self.completions, self.records)
    }
}

#[test]
fn fetch_unknown_partition_is_minus_one() {
    let c = Coordinator::new(settings());
    let got = c.offset_fetch("g", Some(&[("t".into(), 3)]), None).unwrap();
    assert_eq!((got[0].offset, got[0].leader_epoch), (-1, -1));
    let _ = BTreeMap::<i32, i32>::new();
}

/// offsets.retention.minutes: an empty group's committed offsets expire once
/// they are older than the retention, leaving tombstones to persist; until
/// then, and for a group with members, they stay.
#[test]
fn committed_offsets_of_an_empty_group_expire_after_retention() {
    let retention_ms = 60_000;
    let mut c = Coordinator::new(Settings {
        offsets_retention_ms: retention_ms,
        ..settings()
    });
    let commit = OffsetCommitRequest {
        group_id: "idle".into(),
        member_id: String::new(),
        group_instance_id: None,
        generation_id_or_member_epoch: -1,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 42,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    let (result, _) = c.offset_commit(&commit, 1_000);
    assert!(result.unwrap().iter().all(|p| p.result.is_ok()));
    let offset_at = |c: &Coordinator| {
        let wanted = [("t".to_string(), 0)];
        c.offset_fetch("idle", Some(&wanted), None).unwrap()[0].offset
    };

    let early = c.tick(1_000 + retention_ms - 1);
    assert_eq!(offset_at(&c), 42, "expired before the retention passed");
    assert!(early.records.iter().all(|r| r.value.is_some()));

    let late = c.tick(1_000 + retention_ms + 1);
    assert_eq!(offset_at(&c), -1, "still there after the retention passed");
    assert!(
        late.records.iter().any(|r| r.value.is_none()),
        "no tombstone to persist the expiry: {late:?}"
    );
}
