//! The invariants of the classic randomized run, checked after every step
//! and at the end: committed offsets match the model, replaying the emitted
//! records rebuilds the live group, and every parked request is answered.
//! The simulation that drives the coordinator is in the parent module.

use super::*;

impl Sim {
    pub(crate) fn check_offsets(&mut self) {
        let all = partitions();
        let got = self
            .c
            .offset_fetch(GROUP, Some(&all), None)
            .expect("offset fetch");
        for (i, f) in got.iter().enumerate() {
            let (want, reset) = self.committed.get(&i).copied().unwrap_or((-1, false));
            assert_eq!(f.offset, want, "seed {}: partition {i}", self.seed);
            assert!(
                f.offset >= self.fetched[i] || reset,
                "seed {}: partition {i} moved back without a reset",
                self.seed
            );
            self.fetched[i] = f.offset;
        }
    }

    pub(crate) fn replayed(&self) -> Coordinator {
        let mut r = Coordinator::new(self.settings.clone());
        for rec in &self.log {
            assert_eq!(r.replay(&rec.key, rec.value.as_deref()), Ok(None));
        }
        r
    }

    pub(crate) fn check_replay(&mut self) {
        let seed = self.seed;
        let mut r = self.replayed();
        let all = partitions();
        assert_eq!(
            r.offset_fetch(GROUP, Some(&all), None),
            self.c.offset_fetch(GROUP, Some(&all), None),
            "seed {seed}: replayed offsets differ"
        );
        let live = self.c.describe_group(GROUP);
        let replayed = r.describe_group(GROUP);
        match live.state.as_str() {
            "Stable" => {
                assert_eq!(replayed, live, "seed {seed}: replayed group differs");
                for m in &live.members {
                    let hb = HeartbeatRequest {
                        group_id: GROUP.into(),
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        generation_id: self.max_generation,
                    };
                    let got = r.heartbeat(&hb, self.now);
                    assert_eq!(got, Ok(()), "seed {seed}: replayed generation of {m:?}");
                }
                self.count("replay stable");
                self.check_replayed_leader(&live);
            }
            "Empty" => assert_eq!(replayed.state, "Empty", "seed {seed}"),
            _ => {}
        }
    }

    /// A follower's rejoin with unchanged metadata in a Stable group is
    /// answered at once (naming generation, protocol and leader) and changes
    /// nothing; the leader's starts a rebalance, so we find a follower of the
    /// replayed group first and then ask both coordinators.
    pub(crate) fn check_replayed_leader(&mut self, live: &GroupDescription) {
        let seed = self.seed;
        if live.members.len() < 2 {
            return;
        }
        let first = probe_join(&mut self.replayed(), &live.members[0], self.now);
        let (follower, replayed_leader) = match first {
            Some(r) => (&live.members[0], r.leader),
            None => (&live.members[1], live.members[0].member_id.clone()),
        };
        let want = probe_join(&mut self.replayed(), follower, self.now)
            .unwrap_or_else(|| panic!("seed {seed}: two leaders in the replayed group"));
        assert_eq!(want.leader, replayed_leader, "seed {seed}");
        let got = probe_join(&mut self.c, follower, self.now)
            .unwrap_or_else(|| panic!("seed {seed}: live leader differs from replayed"));
        assert_eq!(got, want, "seed {seed}: replayed join answer differs");
        assert_eq!(got.generation_id, self.max_generation, "seed {seed}");
        self.count("replay leader probed");
    }
}

/// Rejoins `m` with unchanged metadata; `Some` if answered at once.
pub(crate) fn probe_join(
    c: &mut Coordinator,
    m: &MemberDescription,
    now: i64,
) -> Option<JoinResponse> {
    let probe = Token(u64::MAX);
    let req = JoinRequest {
        group_id: GROUP.into(),
        member_id: m.member_id.clone(),
        group_instance_id: m.group_instance_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        session_timeout_ms: SESSION_TIMEOUT_MS,
        rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: PROTOCOL.into(),
            metadata: m.metadata.clone(),
        }],
        require_known_member_id: true,
        supports_skip_assignment: false,
    };
    let out = c.join(probe, &req, now);
    match out.completions.as_slice() {
        [] => None,
        [Completion::Join {
            token,
            result: Ok(r),
        }] if *token == probe && out.records.is_empty() => Some(r.clone()),
        _ => panic!("unexpected probe answer {out:?}"),
    }
}

impl Sim {
    /// Every process stops; time runs an hour on from deadline to deadline.
    /// Every parked request must have been answered and the group be Empty.
    pub(crate) fn stop_all_and_drain(&mut self) {
        for proc in &mut self.procs {
            proc.alive = false;
        }
        let end_ms = self.now + 3_600_000;
        let mut ticks = 0;
        while let Some(due) = self.c.next_deadline_ms().filter(|d| *d <= end_ms) {
            ticks += 1;
            assert!(ticks < 10_000, "seed {}: timers never settle", self.seed);
            self.now = self.now.max(due);
            let out = self.c.tick(self.now);
            self.handle(out);
        }
        self.now = end_ms;
        let out = self.c.tick(self.now);
        self.handle(out);
        assert!(
            self.outstanding.is_empty(),
            "seed {}: requests never answered: {:?}",
            self.seed,
            self.outstanding
        );
        assert_eq!(
            self.c.describe_group(GROUP).state,
            "Empty",
            "seed {}",
            self.seed
        );
    }

    pub(crate) fn stats(&self) -> String {
        let delivered: usize = self.owners.values().map(BTreeMap::len).sum();
        let resets = self.committed.values().filter(|c| c.1).count();
        format!(
            "{:?}\nseed {}: generations {}, owned partitions delivered {delivered}, \
             committed partitions {} ({resets} last reset), records {}, processes {}",
            self.counts,
            self.seed,
            self.max_generation,
            self.committed.len(),
            self.log.len(),
            self.procs.len()
        )
    }
}
