//! Seeded randomized run of the classic protocol against a simple model.
//! Simulated consumers (some static, some dynamic) join (through
//! MEMBER_ID_REQUIRED), sync (the leader assigns round-robin), heartbeat,
//! commit, leave, crash and restart on a fake clock. After every step we check:
//! (a) each partition has at most one owner per generation, and every member
//! gets exactly what its generation's leader assigned it; (b) committed offsets
//! equal the last successful commit, so they only move backwards by an
//! explicit reset; (c) every parked Join/Sync is answered exactly once, in the
//! end too; (d) replaying the emitted records rebuilds the same offsets and,
//! for a Stable group, the same generation, protocol, leader and members.
//! Fenced static members ("zombies") must never be able to commit.

use std::collections::BTreeMap;

use group::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

#[path = "classic_random/checks.rs"]
mod checks;

const GROUP: &str = "g";
const TOPICS: [&str; 3] = ["a", "b", "c"];
const PARTITIONS_PER_TOPIC: i32 = 3;
const SLOTS: usize = 6;
/// Slots below this number run static members (`group.instance.id`).
const STATIC_SLOTS: usize = 2;
const STEPS: usize = 600;
const SESSION_TIMEOUT_MS: i32 = 10_000;
const REBALANCE_TIMEOUT_MS: i32 = 20_000;
const PROTOCOL: &str = "roundrobin";

fn partitions() -> Vec<(String, i32)> {
    TOPICS
        .iter()
        .flat_map(|t| (0..PARTITIONS_PER_TOPIC).map(move |p| ((*t).to_owned(), p)))
        .collect()
}

/// The test's assignment format: one byte per owned partition index.
fn decode_assignment(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

#[derive(Clone, Debug)]
enum Phase {
    /// Not in a generation: the next action joins (with `member_id` if set).
    Idle,
    Joining,
    Joined {
        generation: i32,
        leader: bool,
        skip: bool,
        members: Vec<JoinMember>,
    },
    /// `joined` is the Joined phase to go back to for a retried sync.
    Syncing {
        generation: i32,
        joined: Box<Phase>,
    },
    Stable {
        generation: i32,
    },
}

#[derive(Debug)]
struct Process {
    slot: usize,
    instance: Option<String>,
    member_id: String,
    phase: Phase,
    alive: bool,
    /// A later process of the same static slot joined: this id is dead.
    fenced: bool,
    skip_assignment: bool,
    /// The newest request; answers to older (retried) ones change nothing.
    latest: Option<Token>,
    /// The generation of its last successful JoinGroup.
    generation: i32,
}

impl Process {
    fn owner(&self) -> String {
        self.instance
            .clone()
            .unwrap_or_else(|| self.member_id.clone())
    }
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Join,
    Sync { generation: i32 },
}

struct Sim {
    seed: u64,
    settings: Settings,
    c: Coordinator,
    rng: StdRng,
    now: i64,
    next_token: u64,
    procs: Vec<Process>,
    /// Slot → index of its newest process.
    current: Vec<Option<usize>>,
    outstanding: BTreeMap<Token, (usize, Pending)>,
    log: Vec<PersistRecord>,
    /// Generation → owner → the assignment its leader sent.
    proposals: BTreeMap<i32, BTreeMap<String, Vec<u8>>>,
    /// Generation → partition index → owner, from delivered SyncResponses.
    owners: BTreeMap<i32, BTreeMap<u8, String>>,
    max_generation: i32,
    /// Partition index → (last successful commit, whether it was a reset).
    committed: BTreeMap<usize, (i64, bool)>,
    fetched: Vec<i64>,
    /// How often each interesting event happened, to see what a seed covers.
    counts: BTreeMap<String, usize>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let settings = Settings {
            initial_rebalance_delay_ms: if rng.gen_bool(0.5) { 0 } else { 3_000 },
            classic_members_max: rng.gen_range(4..=8),
            ..Settings::default()
        };
        Sim {
            seed,
            c: Coordinator::new(settings.clone()),
            settings,
            rng,
            now: 0,
            next_token: 0,
            procs: Vec::new(),
            current: vec![None; SLOTS],
            outstanding: BTreeMap::new(),
            log: Vec::new(),
            proposals: BTreeMap::new(),
            owners: BTreeMap::new(),
            max_generation: 0,
            committed: BTreeMap::new(),
            fetched: vec![-1; partitions().len()],
            counts: BTreeMap::new(),
        }
    }

    fn count(&mut self, what: impl Into<String>) {
        *self.counts.entry(what.into()).or_default() += 1;
    }

    fn token(&mut self, p: usize, pending: Pending) -> Token {
        self.next_token += 1;
        let t = Token(self.next_token);
        self.outstanding.insert(t, (p, pending));
        self.procs[p].latest = Some(t);
        t
    }

    fn join_req(&self, p: usize) -> JoinRequest {
        let proc = &self.procs[p];
        JoinRequest {
            group_id: GROUP.into(),
            member_id: proc.member_id.clone(),
            group_instance_id: proc.instance.clone(),
            client_id: format!("client-{}", proc.slot),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION_TIMEOUT_MS,
            rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: PROTOCOL.into(),
                metadata: vec![proc.slot as u8],
            }],
            require_known_member_id: true,
            supports_skip_assignment: proc.skip_assignment,
        }
    }

    // ---- delivering outputs -------------------------------------------

    fn handle(&mut self, out: Output) {
        self.log.extend(out.records);
        for completion in out.completions {
            let token = match &completion {
                Completion::Join { token, .. } | Completion::Sync { token, .. } => *token,
            };
            let Some((p, pending)) = self.outstanding.remove(&token) else {
                panic!(
                    "seed {}: completion for an unknown or already answered token: {completion:?}",
                    self.seed
                );
            };
            if self.procs[p].latest != Some(token) {
                self.count("superseded answer");
                continue;
            }
            self.procs[p].latest = None;
            match (completion, pending) {
                (Completion::Join { result, .. }, Pending::Join) => self.on_join(p, result),
                (Completion::Sync { result, .. }, Pending::Sync { generation }) => {
                    self.on_sync(p, generation, result)
                }
                (c, pending) => panic!("seed {}: {c:?} answers a {pending:?}", self.seed),
            }
        }
    }

    fn on_join(&mut self, p: usize, result: Result<JoinResponse, GroupError>) {
        let seed = self.seed;
        match result {
            Ok(r) => {
                let proc = &self.procs[p];
                if !proc.member_id.is_empty() {
                    assert_eq!(r.member_id, proc.member_id, "seed {seed}");
                }
                self.max_generation = self.max_generation.max(r.generation_id);
                if proc.instance.is_some() {
                    self.fence_older_processes(p);
                }
                let proc = &mut self.procs[p];
                proc.member_id = r.member_id.clone();
                proc.generation = r.generation_id;
                proc.phase = Phase::Joined {
                    generation: r.generation_id,
                    leader: r.leader == r.member_id,
                    skip: r.skip_assignment,
                    members: r.members,
                };
            }
            Err(GroupError::MemberIdRequired { member_id }) => {
                self.procs[p].member_id = member_id;
                self.procs[p].phase = Phase::Idle;
            }
            Err(e) => self.on_error(p, e, "join"),
        }
    }

    /// A static process joined: every older process of its slot is fenced.
    fn fence_older_processes(&mut self, p: usize) {
        let slot = self.procs[p].slot;
        for q in 0..p {
            if self.procs[q].slot == slot {
                self.procs[q].fenced = true;
            }
        }
    }

    fn on_sync(&mut self, p: usize, generation: i32, result: Result<SyncResponse, GroupError>) {
        let seed = self.seed;
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.on_error(p, e, "sync"),
        };
        let owner = self.procs[p].owner();
        let Some(proposal) = self.proposals.get(&generation) else {
            panic!("seed {seed}: generation {generation} delivered without a leader assignment");
        };
        let expected = proposal.get(&owner).cloned().unwrap_or_default();
        assert_eq!(
            r.assignment, expected,
            "seed {seed}: {owner} in generation {generation} got another member's assignment"
        );
        assert_eq!(r.protocol_name.as_deref(), Some(PROTOCOL), "seed {seed}");
        let owners = self.owners.entry(generation).or_default();
        for partition in decode_assignment(&r.assignment) {
            let previous = owners.entry(partition).or_insert_with(|| owner.clone());
            assert_eq!(
                *previous, owner,
                "seed {seed}: partition {partition} owned twice in generation {generation}"
            );
        }
        self.procs[p].phase = Phase::Stable { generation };
        self.count("sync ok");
    }

    /// A live client's reaction to an error; a fenced live member is a bug.
    fn on_error(&mut self, p: usize, e: GroupError, what: &str) {
        self.count(format!("{what} {e:?}"));
        let proc = &mut self.procs[p];
        if proc.alive && !proc.fenced {
            assert_ne!(
                e,
                GroupError::FencedInstanceId,
                "seed {}: live {what} fenced: {proc:?}",
                self.seed
            );
        }
        match e {
            GroupError::UnknownMemberId
            | GroupError::FencedInstanceId
            | GroupError::GroupMaxSizeReached => proc.member_id.clear(),
            GroupError::RebalanceInProgress | GroupError::IllegalGeneration => {}
            other => panic!("seed {}: unexpected {what} error {other:?}", self.seed),
        }
        proc.phase = Phase::Idle;
    }

    // ---- client actions -----------------------------------------------

    fn join(&mut self, p: usize) {
        let req = self.join_req(p);
        let token = self.token(p, Pending::Join);
        self.procs[p].phase = Phase::Joining;
        let out = self.c.join(token, &req, self.now);
        self.handle(out);
    }

    fn sync(&mut self, p: usize) {
        let joined = match &self.procs[p].phase {
            Phase::Syncing { joined, .. } => (**joined).clone(),
            other => other.clone(),
        };
        let Phase::Joined {
            generation,
            leader,
            skip,
            members,
        } = joined.clone()
        else {
            return;
        };
        let assignments = if leader && !skip {
            self.propose(generation, &members)
        } else {
            Vec::new()
        };
        let req = SyncRequest {
            group_id: GROUP.into(),
            member_id: self.procs[p].member_id.clone(),
            group_instance_id: self.procs[p].instance.clone(),
            generation_id: generation,
            protocol_type: Some("consumer".into()),
            protocol_name: Some(PROTOCOL.into()),
            assignments,
        };
        let token = self.token(p, Pending::Sync { generation });
        self.procs[p].phase = Phase::Syncing {
            generation,
            joined: Box::new(joined),
        };
        let out = self.c.sync(token, &req, self.now);
        self.handle(out);
    }

    /// Round-robin over the members sorted by id, as RoundRobinAssignor does.
    fn propose(&mut self, generation: i32, members: &[JoinMember]) -> Vec<(String, Vec<u8>)> {
        let mut sorted: Vec<&JoinMember> = members.iter().collect();
        sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let mut by_member: Vec<(String, Vec<u8>)> = sorted
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        for i in 0..partitions().len() {
            let n = by_member.len();
            by_member[i % n].1.push(i as u8);
        }
        let proposal: BTreeMap<String, Vec<u8>> = sorted
            .iter()
            .zip(&by_member)
            .map(|(m, (_, a))| {
                let owner = m.group_instance_id.clone();
                (owner.unwrap_or_else(|| m.member_id.clone()), a.clone())
            })
            .collect();
        let previous = self.proposals.entry(generation).or_insert(proposal.clone());
        assert_eq!(
            *previous, proposal,
            "seed {}: two leaders in generation {generation}",
            self.seed
        );
        by_member
    }

    fn heartbeat(&mut self, p: usize) {
        let generation = match self.procs[p].phase {
            Phase::Joined { generation, .. }
            | Phase::Syncing { generation, .. }
            | Phase::Stable { generation } => generation,
            _ => return,
        };
        let req = HeartbeatRequest {
            group_id: GROUP.into(),
            member_id: self.procs[p].member_id.clone(),
            group_instance_id: self.procs[p].instance.clone(),
            generation_id: generation,
        };
        if let Err(e) = self.c.heartbeat(&req, self.now) {
            self.on_error(p, e, "heartbeat");
        }
    }

    fn leave(&mut self, p: usize) {
        let member = LeaveMember {
            member_id: self.procs[p].member_id.clone(),
            group_instance_id: self.procs[p].instance.clone(),
        };
        let (result, out) = self.c.leave(GROUP, &[member], self.now);
        self.handle(out);
        if let Ok(results) = result {
            assert!(
                matches!(results[0], Ok(()) | Err(GroupError::UnknownMemberId)),
                "seed {}: leave {results:?}",
                self.seed
            );
        }
        self.procs[p].member_id.clear();
        self.procs[p].phase = Phase::Idle;
    }

    /// Commits a few partitions: mostly forward, sometimes an explicit reset.
    fn commit(&mut self, p: Option<usize>) {
        let n = partitions().len();
        let mut chosen: Vec<(usize, i64, bool)> = Vec::new();
        for _ in 0..self.rng.gen_range(1..=3) {
            let i = self.rng.gen_range(0..n);
            let current = self.committed.get(&i).map_or(0, |c| c.0);
            let reset = current > 0 && self.rng.gen_bool(0.1);
            let offset = if reset {
                self.rng.gen_range(0..current)
            } else {
                current + self.rng.gen_range(0..10)
            };
            if chosen.iter().all(|c| c.0 != i) {
                chosen.push((i, offset, reset));
            }
        }
        let (member_id, instance, generation) = match p {
            Some(p) => {
                let proc = &self.procs[p];
                // Stable members commit as they consume; rejoining ones commit
                // before revoking (onJoinPrepare), with the generation they
                // had; a commit delayed in flight carries an older one.
                let generation = match proc.phase {
                    Phase::Stable { .. } | Phase::Joining if proc.generation >= 0 => {
                        proc.generation
                    }
                    _ => return,
                };
                let delayed = self.rng.gen_bool(0.1);
                let proc = &self.procs[p];
                let generation = generation - i32::from(delayed);
                (proc.member_id.clone(), proc.instance.clone(), generation)
            }
            None => (String::new(), None, -1),
        };
        let all = partitions();
        let req = OffsetCommitRequest {
            group_id: GROUP.into(),
            member_id,
            group_instance_id: instance,
            generation_id_or_member_epoch: generation,
            partitions: chosen
                .iter()
                .map(|(i, offset, _)| CommitPartition {
                    topic: all[*i].0.clone(),
                    partition: all[*i].1,
                    offset: *offset,
                    leader_epoch: -1,
                    metadata: None,
                })
                .collect(),
        };
        let state_before = self.c.describe_group(GROUP).state;
        let (result, records) = self.c.offset_commit(&req, self.now);
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{e:?}"),
        };
        self.count(format!(
            "commit {} {outcome}",
            if p.is_some() { "member" } else { "admin" }
        ));
        self.log.extend(records);
        self.check_commit_allowed(p, generation, &state_before, result.is_ok());
        for (r, (i, offset, reset)) in result.into_iter().flatten().zip(chosen) {
            assert_eq!(r.result, Ok(()), "seed {}", self.seed);
            self.committed.insert(i, (offset, reset));
        }
    }

    fn check_commit_allowed(&self, p: Option<usize>, generation: i32, state: &str, ok: bool) {
        let seed = self.seed;
        match p {
            None => assert_eq!(
                ok,
                state == "Empty" || state == "Dead",
                "seed {seed}: admin commit while {state}"
            ),
            Some(p) if ok => {
                assert!(
                    !self.procs[p].fenced,
                    "seed {seed}: a fenced zombie committed"
                );
                assert_eq!(
                    generation, self.max_generation,
                    "seed {seed}: commit accepted from an old generation"
                );
            }
            Some(_) => {}
        }
    }

    /// A fenced static process wakes up and tries its old id: always refused.
    fn zombie(&mut self) {
        let zombies: Vec<usize> = (0..self.procs.len())
            .filter(|&q| self.procs[q].fenced && !self.procs[q].member_id.is_empty())
            .collect();
        if zombies.is_empty() {
            return;
        }
        let z = zombies[self.rng.gen_range(0..zombies.len())];
        let proc = &self.procs[z];
        let req = HeartbeatRequest {
            group_id: GROUP.into(),
            member_id: proc.member_id.clone(),
            group_instance_id: proc.instance.clone(),
            generation_id: self.max_generation,
        };
        let result = self.c.heartbeat(&req, self.now);
        assert!(
            matches!(
                result,
                Err(GroupError::FencedInstanceId | GroupError::UnknownMemberId)
            ),
            "seed {}: zombie heartbeat {result:?}",
            self.seed
        );
        self.procs[z].generation = self.max_generation;
        self.procs[z].phase = Phase::Stable {
            generation: self.max_generation,
        };
        self.commit(Some(z));
        self.procs[z].phase = Phase::Idle;
    }

    /// An admin removes members in one batch: static ones by instance id,
    /// a dynamic one by member id.
    fn admin_remove_members(&mut self) {
        let mut members: Vec<LeaveMember> = (0..STATIC_SLOTS)
            .filter(|_| self.rng.gen_bool(0.5))
            .map(|slot| LeaveMember {
                member_id: String::new(),
                group_instance_id: Some(format!("instance-{slot}")),
            })
            .collect();
        let dynamic: Vec<String> = self
            .procs
            .iter()
            .filter(|p| p.instance.is_none() && !p.member_id.is_empty())
            .map(|p| p.member_id.clone())
            .collect();
        if !dynamic.is_empty() {
            let id = dynamic[self.rng.gen_range(0..dynamic.len())].clone();
            members.push(LeaveMember {
                member_id: id,
                group_instance_id: None,
            });
        }
        let (result, out) = self.c.leave(GROUP, &members, self.now);
        self.handle(out);
        for r in result.into_iter().flatten() {
            assert!(
                matches!(r, Ok(()) | Err(GroupError::UnknownMemberId)),
                "seed {}: admin leave {r:?}",
                self.seed
            );
            self.count(format!("admin leave {r:?}"));
        }
    }

    fn restart(&mut self, slot: usize) {
        let instance = (slot < STATIC_SLOTS).then(|| format!("instance-{slot}"));
        self.procs.push(Process {
            slot,
            instance,
            member_id: String::new(),
            phase: Phase::Idle,
            alive: true,
            fenced: false,
            skip_assignment: self.rng.gen_bool(0.5),
            latest: None,
            generation: -1,
        });
        self.current[slot] = Some(self.procs.len() - 1);
    }

    /// One random action of the process in `slot`.
    fn act(&mut self, slot: usize) {
        let Some(p) = self.current[slot].filter(|&p| self.procs[p].alive) else {
            if self.rng.gen_bool(0.3) {
                self.restart(slot);
            }
            return;
        };
        if self.rng.gen_bool(0.02) {
            self.procs[p].alive = false;
            return;
        }
        let roll = self.rng.gen_range(0..100);
        match self.procs[p].phase {
            Phase::Idle => self.join(p),
            // A client whose request timed out retries it.
            Phase::Joining if roll < 3 => self.join(p),
            Phase::Joining if roll < 10 && !self.procs[p].member_id.is_empty() => {
                self.commit(Some(p))
            }
            Phase::Syncing { .. } if roll < 3 => self.sync(p),
            Phase::Syncing { .. } if roll < 20 => self.heartbeat(p),
            Phase::Joining | Phase::Syncing { .. } => {}
            Phase::Joined { .. } if roll < 70 => self.sync(p),
            Phase::Joined { .. } => self.heartbeat(p),
            Phase::Stable { .. } => match roll {
                0..=49 => self.heartbeat(p),
                50..=79 => self.commit(Some(p)),
                80..=84 => self.leave(p),
                85..=89 => self.join(p),
                _ => {}
            },
        }
    }

    fn step(&mut self) {
        self.now += self.rng.gen_range(0..800);
        let due = self.c.next_deadline_ms();
        let out = self.c.tick(self.now);
        if due.is_none_or(|d| d > self.now) {
            assert!(
                out.completions.is_empty(),
                "seed {}: tick before next_deadline_ms answered {:?}",
                self.seed,
                out.completions
            );
        }
        self.handle(out);
        match self.rng.gen_range(0..100) {
            0 => self.admin_remove_members(),
            1 => self.commit(None),
            2..=3 => self.zombie(),
            _ => {
                let slot = self.rng.gen_range(0..SLOTS);
                self.act(slot);
            }
        }
    }
}

#[test]
fn classic_random_against_model() {
    for seed in 0..16u64 {
        let mut sim = Sim::new(seed);
        for i in 0..STEPS {
            sim.step();
            sim.check_offsets();
            if i % 25 == 0 {
                sim.check_replay();
            }
        }
        sim.check_replay();
        sim.stop_all_and_drain();
        sim.check_offsets();
        sim.check_replay();
        eprintln!("{}", sim.stats());
    }
}
