//! Consumer groups over a real socket with raw `kafka-protocol` requests:
//! FindCoordinator, the classic join/sync/heartbeat/leave cycle with two
//! members rebalancing, offset commit and fetch (including never-committed
//! partitions), the admin APIs, the KIP-848 heartbeat, the internal topic's
//! protections, and committed offsets surviving a restart. Client-library
//! round trips live in `crates/weir/tests` and `tests/python`.

mod common;

use broker::{BrokerConfig, GroupConfig};
use bytes::{BufMut, Bytes, BytesMut};
use common::{create_topic, name, str, Client, TestBroker};
use kafka_protocol::messages::*;
use log::FlushPolicy;

const MEMBER_ID_REQUIRED: i16 = 79;
const REBALANCE_IN_PROGRESS: i16 = 27;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_SESSION_TIMEOUT: i16 = 26;

fn config() -> BrokerConfig {
    BrokerConfig {
        default_partitions: 2,
        groups: GroupConfig {
            initial_rebalance_delay_ms: 0,
            offsets_topic_partitions: 3,
            ..GroupConfig::default()
        },
        ..BrokerConfig::default()
    }
}

async fn start() -> (TestBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path(), FlushPolicy::Always, config()).await;
    (broker, dir)
}

/// ConsumerProtocolSubscription v0: the topics, no user data.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

fn join_request(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(str(group)))
        .with_member_id(str(member_id))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(str("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(str("range"))
        .with_metadata(subscription(&["t"]))])
}

/// KIP-394: the first join gets MEMBER_ID_REQUIRED and the id to use.
async fn member_id(client: &mut Client, group: &str) -> String {
    let response = client.call(5, &join_request(group, "")).await;
    assert_eq!(response.error_code, MEMBER_ID_REQUIRED);
    assert!(!response.member_id.is_empty());
    response.member_id.to_string()
}

fn sync_request(
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(str(group)))
        .with_member_id(str(member))
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(str(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        )
}

fn heartbeat(group: &str, member: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(str(group)))
        .with_member_id(str(member))
        .with_generation_id(generation)
}

fn commit(
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(str(group)))
        .with_member_id(str(member))
        .with_generation_id_or_member_epoch(generation)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(p, o)| {
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                                .with_committed_metadata(Some(str("meta")))
                        })
                        .collect(),
                ),
        ])
}

fn commit_codes(response: &OffsetCommitResponse) -> Vec<i16> {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// OffsetFetch v7 (single group) of `topic` partitions 0 and 1.
async fn fetch_offsets(client: &mut Client, group: &str, topic: &str) -> Vec<(i32, i64, i16)> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(str(group)))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(name(topic))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let response = client.call(7, &request).await;
    assert_eq!(response.error_code, 0);
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset, p.error_code))
        })
        .collect()
}

/// Joins `group` alone and syncs: (member id, generation).
async fn join_alone(client: &mut Client, group: &str) -> (String, i32) {
    let id = member_id(client, group).await;
    let joined = client.call(5, &join_request(group, &id)).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.as_str(), id);
    let synced = client
        .call(
            3,
            &sync_request(group, &id, joined.generation_id, &[(&id, b"mine")]),
        )
        .await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"mine");
    (id, joined.generation_id)
}

#[tokio::test]
async fn find_coordinator_answers_this_broker_single_and_batched() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    for version in 0..=3 {
        let request = FindCoordinatorRequest::default().with_key(str("g"));
        let response = client.call(version, &request).await;
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.port, i32::from(broker.addr.port()));
        assert_eq!(response.host.as_str(), "127.0.0.1");
    }
    let batched = FindCoordinatorRequest::default().with_coordinator_keys(vec![str("a"), str("b")]);
    let response = client.call(4, &batched).await;
    assert_eq!(response.coordinators.len(), 2);
    assert!(response.coordinators.iter().all(|c| c.error_code == 0));
    let transaction = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![str("tx")]);
    // Answered with this broker so the client fails fast at InitProducerId
    // (transactions unsupported) instead of retrying FindCoordinator.
    let response = client.call(6, &transaction).await;
    assert_eq!(response.coordinators[0].error_code, 0);
    assert_eq!(response.coordinators[0].port, i32::from(broker.addr.port()));
    broker.stop().await;
}

#[tokio::test]
async fn one_member_joins_syncs_heartbeats_commits_and_fetches() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "t", 2).await;
    let bad = client
        .call(5, &join_request("g1", "").with_session_timeout_ms(1))
        .await;
    assert_eq!(bad.error_code, INVALID_SESSION_TIMEOUT);

    let (id, generation) = join_alone(&mut client, "g1").await;
    assert_eq!(
        client
            .call(3, &heartbeat("g1", &id, generation))
            .await
            .error_code,
        0
    );
    // Nothing committed yet: -1 and no error, for a known and an unknown group.
    assert_eq!(
        fetch_offsets(&mut client, "g1", "t").await,
        vec![(0, -1, 0), (1, -1, 0)]
    );
    assert_eq!(
        fetch_offsets(&mut client, "nobody", "t").await,
        vec![(0, -1, 0), (1, -1, 0)]
    );

    let committed = client
        .call(8, &commit("g1", &id, generation, "t", &[(0, 42)]))
        .await;
    assert_eq!(commit_codes(&committed), vec![0]);
    assert_eq!(
        fetch_offsets(&mut client, "g1", "t").await,
        vec![(0, 42, 0), (1, -1, 0)]
    );

    let stale = client
        .call(8, &commit("g1", &id, generation + 1, "t", &[(0, 50)]))
        .await;
    assert_eq!(commit_codes(&stale), vec![ILLEGAL_GENERATION]);
    let unknown = client
        .call(2, &commit("g1", "", -1, "no-such-topic", &[(0, 1)]))
        .await;
    assert_eq!(commit_codes(&unknown), vec![UNKNOWN_TOPIC_OR_PARTITION]);

    // The multi-group form (v8+) and every committed partition (null topics).
    let request = OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str("g1")))
            .with_topics(None),
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str("nobody")))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let response = client.call(8, &request).await;
    let g1 = &response.groups[0];
    assert_eq!((g1.error_code, g1.topics.len()), (0, 1));
    assert_eq!(g1.topics[0].partitions[0].committed_offset, 42);
    assert_eq!(g1.topics[0].partitions[0].metadata.as_deref(), Some("meta"));
    let nobody = &response.groups[1].topics[0].partitions[0];
    assert_eq!((nobody.committed_offset, nobody.error_code), (-1, 0));

    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(str("g1")))
        .with_member_id(str(&id));
    assert_eq!(client.call(1, &leave).await.error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn a_second_member_triggers_a_rebalance_and_gets_the_leaders_assignment() {
    let (broker, _dir) = start().await;
    let mut a = Client::connect(broker.addr).await;
    let mut b = Client::connect(broker.addr).await;
    let (a_id, generation) = join_alone(&mut a, "g2").await;

    let b_id = member_id(&mut b, "g2").await;
    let b_join = b.send(5, &join_request("g2", &b_id)).await;
    // A learns of the rebalance from its heartbeat, then rejoins.
    let mut beats = 0;
    while a
        .call(3, &heartbeat("g2", &a_id, generation))
        .await
        .error_code
        != REBALANCE_IN_PROGRESS
    {
        beats += 1;
        assert!(beats < 1000, "no rebalance signalled");
        tokio::task::yield_now().await;
    }
    let a_joined = a.call(5, &join_request("g2", &a_id)).await;
    let (received, b_joined) = b.receive::<JoinGroupRequest>(5).await;
    assert_eq!(received, b_join);
    assert_eq!((a_joined.error_code, b_joined.error_code), (0, 0));
    assert_eq!(a_joined.generation_id, generation + 1);
    assert_eq!(b_joined.generation_id, generation + 1);
    assert_eq!(a_joined.leader.as_str(), a_id);
    assert_eq!(a_joined.members.len(), 2, "the leader sees every member");
    assert!(b_joined.members.is_empty(), "followers see none");

    // B waits in SyncGroup until the leader sends the assignment.
    let next = a_joined.generation_id;
    let b_sync = b.send(3, &sync_request("g2", &b_id, next, &[])).await;
    let a_synced = a
        .call(
            3,
            &sync_request("g2", &a_id, next, &[(&a_id, b"p0"), (&b_id, b"p1")]),
        )
        .await;
    let (received, b_synced) = b.receive::<SyncGroupRequest>(3).await;
    assert_eq!(received, b_sync);
    assert_eq!(&a_synced.assignment[..], b"p0");
    assert_eq!(&b_synced.assignment[..], b"p1");

    // Described while stable: both members, with their assignments.
    let described = a
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(str("g2"))]),
        )
        .await;
    let group = &described.groups[0];
    assert_eq!(group.group_state.as_str(), "Stable");
    assert_eq!(group.protocol_data.as_str(), "range");
    assert_eq!(group.members.len(), 2);
    assert!(group
        .members
        .iter()
        .all(|m| m.client_id.as_str() == "broker-test"));
    assert!(group
        .members
        .iter()
        .all(|m| m.client_host.as_str() == "/127.0.0.1"));

    // B leaves (batched form): A must rebalance again, alone.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(str("g2")))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(str(&b_id))
        ]);
    let left = b.call(3, &leave).await;
    assert_eq!((left.error_code, left.members[0].error_code), (0, 0));
    assert_eq!(
        a.call(3, &heartbeat("g2", &a_id, next)).await.error_code,
        REBALANCE_IN_PROGRESS
    );
    let alone = a.call(5, &join_request("g2", &a_id)).await;
    assert_eq!((alone.error_code, alone.members.len()), (0, 1));
    broker.stop().await;
}

#[tokio::test]
async fn committed_offsets_and_groups_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path(), FlushPolicy::Always, config()).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "t", 2).await;
    let (id, generation) = join_alone(&mut client, "durable").await;
    let committed = client
        .call(
            8,
            &commit("durable", &id, generation, "t", &[(0, 7), (1, 9)]),
        )
        .await;
    assert_eq!(commit_codes(&committed), vec![0, 0]);
    let simple = client
        .call(2, &commit("simple", "", -1, "t", &[(1, 3)]))
        .await;
    assert_eq!(commit_codes(&simple), vec![0]);
    drop(client);
    broker.stop().await;

    let broker = TestBroker::start_in(dir.path(), FlushPolicy::Always, config()).await;
    let mut client = Client::connect(broker.addr).await;
    assert_eq!(
        fetch_offsets(&mut client, "durable", "t").await,
        vec![(0, 7, 0), (1, 9, 0)]
    );
    assert_eq!(
        fetch_offsets(&mut client, "simple", "t").await,
        vec![(0, -1, 0), (1, 3, 0)]
    );
    let listed = client.call(3, &ListGroupsRequest::default()).await;
    let mut ids: Vec<&str> = listed
        .groups
        .iter()
        .map(|g| g.group_id.0.as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["durable", "simple"]);
    // The member came back with the group; its heartbeat is accepted.
    assert_eq!(
        client
            .call(3, &heartbeat("durable", &id, generation))
            .await
            .error_code,
        0
    );
    broker.stop().await;
}

#[tokio::test]
async fn list_filters_delete_groups_and_offset_delete() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "t", 2).await;
    let (_id, _) = join_alone(&mut client, "busy").await;
    let simple = client
        .call(2, &commit("idle", "", -1, "t", &[(0, 5), (1, 6)]))
        .await;
    assert_eq!(commit_codes(&simple), vec![0, 0]);

    let stable = ListGroupsRequest::default().with_states_filter(vec![str("Stable")]);
    let listed = client.call(4, &stable).await;
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].group_id.0.as_str(), "busy");
    let consumer_type = ListGroupsRequest::default().with_types_filter(vec![str("consumer")]);
    assert!(client.call(5, &consumer_type).await.groups.is_empty());

    let delete = OffsetDeleteRequest::default()
        .with_group_id(GroupId(str("idle")))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default()
                        .with_partition_index(0),
                ]),
        ]);
    let deleted = client.call(0, &delete).await;
    assert_eq!(deleted.error_code, 0);
    assert_eq!(deleted.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        fetch_offsets(&mut client, "idle", "t").await,
        vec![(0, -1, 0), (1, 6, 0)]
    );

    let request = DeleteGroupsRequest::default().with_groups_names(vec![
        GroupId(str("busy")),
        GroupId(str("idle")),
        GroupId(str("missing")),
    ]);
    let codes: Vec<i16> = client
        .call(2, &request)
        .await
        .results
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, vec![NON_EMPTY_GROUP, 0, GROUP_ID_NOT_FOUND]);
    assert_eq!(
        fetch_offsets(&mut client, "idle", "t").await,
        vec![(0, -1, 0), (1, -1, 0)]
    );
    broker.stop().await;
}

#[tokio::test]
async fn consumer_offsets_is_internal_and_refuses_client_produce() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    let all = client
        .call(12, &MetadataRequest::default().with_topics(None))
        .await;
    let internal = all
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("__consumer_offsets"))
        .expect("__consumer_offsets listed");
    assert!(internal.is_internal);
    assert_eq!(internal.partitions.len(), 3);
    // Compacted, and never deleted by time or size while the log cannot compact.
    let describe = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str("__consumer_offsets"))
            .with_configuration_keys(None),
    ]);
    let configs = client.call(4, &describe).await;
    let value = |key: &str| {
        configs.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == key)
            .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
    };
    assert_eq!(value("cleanup.policy").as_deref(), Some("compact"));
    assert_eq!(value("retention.ms").as_deref(), Some("-1"));

    let records = records::BatchBuilder::new(vec![records::NewRecord::new(Some(b"k"), b"v", 0)])
        .build()
        .unwrap();
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name("__consumer_offsets"))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(records))),
            ])]);
    let response = client.call(9, &produce).await;
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        INVALID_TOPIC_EXCEPTION
    );
    broker.stop().await;
}

#[tokio::test]
async fn kip_848_heartbeat_assigns_every_partition_and_describe_shows_it() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "t", 2).await;
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(str("new")))
        .with_member_id(str("member-1"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name("t")]))
        .with_topic_partitions(Some(Vec::new()));
    let joined = client.call(1, &join).await;
    assert_eq!(joined.error_code, 0, "{:?}", joined.error_message);
    assert!(joined.member_epoch > 0);
    let member = joined.member_id.clone().unwrap();
    let mut assigned: Vec<i32> = joined
        .assignment
        .iter()
        .flat_map(|a| a.topic_partitions.iter().flat_map(|t| t.partitions.clone()))
        .collect();
    assigned.sort();
    assert_eq!(assigned, vec![0, 1]);

    let committed = client
        .call(
            9,
            &commit("new", &member, joined.member_epoch, "t", &[(0, 11)]),
        )
        .await;
    assert_eq!(commit_codes(&committed), vec![0]);

    let described = client
        .call(
            1,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(str("new"))]),
        )
        .await;
    let group = &described.groups[0];
    assert_eq!(group.error_code, 0);
    assert_eq!(group.members.len(), 1);
    assert_eq!(
        group.members[0].assignment.topic_partitions[0]
            .topic_name
            .0
            .as_str(),
        "t"
    );
    let classic = client
        .call(
            1,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(str("none"))]),
        )
        .await;
    assert_eq!(classic.groups[0].error_code, GROUP_ID_NOT_FOUND);

    // v0 (librdkafka 2.4-2.11): the broker names the member.
    let v0 = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(str("old")))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name("t")]))
        .with_topic_partitions(Some(Vec::new()));
    let joined_v0 = client.call(0, &v0).await;
    assert_eq!(joined_v0.error_code, 0, "{:?}", joined_v0.error_message);
    assert!(joined_v0.member_id.is_some_and(|id| !id.is_empty()));

    let leave = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(str("new")))
        .with_member_id(str(&member))
        .with_member_epoch(-1);
    assert_eq!(client.call(1, &leave).await.error_code, 0);
    broker.stop().await;
}

/// One classic cycle per JoinGroup version, every other group API at the
/// nearest version it has: each answer must decode and carry no error, so a
/// field set outside its version range (which the codec refuses to encode)
/// shows up here rather than in one client.
#[tokio::test]
async fn every_advertised_version_of_the_classic_cycle_answers() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "t", 2).await;
    for v in 0..=9i16 {
        let group = format!("v{v}");
        let find = FindCoordinatorRequest::default();
        let find = if v >= 4 {
            find.with_coordinator_keys(vec![str(&group)])
        } else {
            find.with_key(str(&group))
        };
        let found = client.call(v.min(6), &find).await;
        assert_eq!(found.error_code, 0, "FindCoordinator v{}", v.min(6));
        let mut join = join_request(&group, "");
        if v == 0 {
            join.rebalance_timeout_ms = -1;
        }
        let mut joined = client.call(v, &join).await;
        if v >= 4 {
            assert_eq!(joined.error_code, MEMBER_ID_REQUIRED);
            join.member_id = joined.member_id.clone();
            joined = client.call(v, &join).await;
        }
        assert_eq!(joined.error_code, 0, "JoinGroup v{v}");
        let id = joined.member_id.to_string();
        let generation = joined.generation_id;
        let synced = client
            .call(
                v.min(5),
                &sync_request(&group, &id, generation, &[(&id, b"a")]),
            )
            .await;
        assert_eq!(synced.error_code, 0, "SyncGroup v{}", v.min(5));
        let beat = client
            .call(v.min(4), &heartbeat(&group, &id, generation))
            .await;
        assert_eq!(beat.error_code, 0, "Heartbeat v{}", v.min(4));
        let cv = v.clamp(2, 9);
        let committed = client
            .call(cv, &commit(&group, &id, generation, "t", &[(0, 1)]))
            .await;
        assert_eq!(commit_codes(&committed), vec![0], "OffsetCommit v{cv}");
        check_fetch_versions(&mut client, &group).await;
        let described = client
            .call(
                v.min(5),
                &DescribeGroupsRequest::default().with_groups(vec![GroupId(str(&group))]),
            )
            .await;
        assert_eq!(described.groups[0].members.len(), 1);
        let listed = client.call(v.min(5), &ListGroupsRequest::default()).await;
        assert_eq!(listed.error_code, 0);
        let leave = LeaveGroupRequest::default().with_group_id(GroupId(str(&group)));
        let leave = if v >= 3 {
            leave.with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(str(&id))
            ])
        } else {
            leave.with_member_id(str(&id))
        };
        assert_eq!(client.call(v.min(5), &leave).await.error_code, 0);
        let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str(&group))]);
        let deleted = client.call(v.min(2), &delete).await;
        assert_eq!(
            deleted.results[0].error_code,
            0,
            "DeleteGroups v{}",
            v.min(2)
        );
    }
    broker.stop().await;
}

/// OffsetFetch v1-v9 for `group`: partition 0 committed at 1, 1 never.
async fn check_fetch_versions(client: &mut Client, group: &str) {
    for v in 1..=7 {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(str(group)))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0, 1]),
            ]));
        let response = client.call(v, &request).await;
        let offsets: Vec<(i64, i16)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.committed_offset, p.error_code))
            .collect();
        assert_eq!(offsets, vec![(1, 0), (-1, 0)], "OffsetFetch v{v}");
    }
    for v in 8..=9 {
        let request = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(str(group)))
                .with_topics(None),
        ]);
        let response = client.call(v, &request).await;
        assert_eq!(response.groups[0].error_code, 0, "OffsetFetch v{v}");
        assert_eq!(
            response.groups[0].topics[0].partitions[0].committed_offset,
            1
        );
    }
}

/// A member that stops heartbeating is removed by the timer task when its
/// session expires, and the survivor is told to rejoin.
#[tokio::test]
async fn an_expired_session_triggers_a_rebalance_from_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.groups.session_timeout_min_ms = 10;
    let broker = TestBroker::start_in(dir.path(), FlushPolicy::Always, config).await;
    let mut a = Client::connect(broker.addr).await;
    let mut b = Client::connect(broker.addr).await;
    let (a_id, generation) = join_alone(&mut a, "expiry").await;
    let short = |member: &str| join_request("expiry", member).with_session_timeout_ms(200);
    let b_id = b.call(5, &short("")).await.member_id.to_string();
    let b_join = b.send(5, &short(&b_id)).await;
    while a
        .call(3, &heartbeat("expiry", &a_id, generation))
        .await
        .error_code
        == 0
    {}
    let a_joined = a.call(5, &join_request("expiry", &a_id)).await;
    let (received, b_joined) = b.receive::<JoinGroupRequest>(5).await;
    assert_eq!((received, a_joined.members.len()), (b_join, 2));
    let next = a_joined.generation_id;
    let synced = a
        .call(
            3,
            &sync_request("expiry", &a_id, next, &[(&a_id, b"a"), (&b_id, b"b")]),
        )
        .await;
    assert_eq!((synced.error_code, b_joined.error_code), (0, 0));
    // B goes silent; A keeps heartbeating until the timer expires B.
    let mut beats = 0u32;
    loop {
        let code = a
            .call(3, &heartbeat("expiry", &a_id, next))
            .await
            .error_code;
        if code == REBALANCE_IN_PROGRESS {
            break;
        }
        assert_eq!(code, 0);
        beats += 1;
        assert!(beats < 100_000, "B's session never expired");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let alone = a.call(5, &join_request("expiry", &a_id)).await;
    assert_eq!((alone.error_code, alone.members.len()), (0, 1));
    broker.stop().await;
}

#[tokio::test]
async fn the_offsets_topic_cannot_be_deleted_or_repartitioned() {
    let (broker, _dir) = start().await;
    let mut client = Client::connect(broker.addr).await;
    let delete =
        DeleteTopicsRequest::default().with_topic_names(vec![TopicName(str("__consumer_offsets"))]);
    let response = client.call(4, &delete).await;
    assert_eq!(
        response.responses[0].error_code,
        kafka_protocol::ResponseError::InvalidTopicException.code()
    );
    let grow = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(TopicName(str("__consumer_offsets")))
            .with_count(60),
    ]);
    let response = client.call(1, &grow).await;
    assert_eq!(
        response.results[0].error_code,
        kafka_protocol::ResponseError::InvalidTopicException.code()
    );
    broker.stop().await;
}
