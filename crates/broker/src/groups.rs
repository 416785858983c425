//! The group coordinator wired into the broker: one [`group::Coordinator`]
//! behind a mutex, its records appended to the internal compacted topic
//! `__consumer_offsets`, parked JoinGroup/SyncGroup requests, the timer task,
//! and the replay of `__consumer_offsets` at start-up.
//!
//! The rule that keeps the log and memory in step: every coordinator call that
//! returns records appends them *while still holding the coordinator lock*, so
//! log order is state order; the lock is released before waiting for the
//! flush, and only a durable call is answered (completions included). What a
//! request means on the wire lives in the handlers, not here; the mapping of
//! [`GroupError`] to Kafka codes lives in `errors.rs`.

use crate::config::GroupConfig;
use crate::server::now_ms;
use group::{
    Completion, ConsumerHeartbeatRequest, ConsumerHeartbeatResponse, Coordinator, GroupError,
    JoinRequest, JoinResponse, Output, PersistRecord, Settings, SyncRequest, SyncResponse, Token,
    TopicInfo, TopicLookup,
};
use log::{FlushTicket, Partition, Store, Topic};
use records::{BatchBuilder, BatchIter, NewRecord, Records};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinSet;

/// The internal topic holding committed offsets and group metadata.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Records of one coordinator call are cut into batches of about this size.
const BATCH_BYTES_TARGET: usize = 256 * 1024;
/// The timer wakes at least this often, for offset retention.
const TIMER_PERIOD_MAX_MS: i64 = 1_000;
/// Bytes read per step while replaying `__consumer_offsets`.
const REPLAY_READ_BYTES: usize = 1024 * 1024;

pub(crate) type JoinResult = Result<JoinResponse, GroupError>;
pub(crate) type SyncResult = Result<SyncResponse, GroupError>;

/// A parked JoinGroup or SyncGroup: where its answer goes.
enum Waiter {
    Join(oneshot::Sender<JoinResult>),
    Sync(oneshot::Sender<SyncResult>),
}

/// What a coordinator call leaves to do once the lock is released.
struct Pending {
    completions: Vec<Completion>,
    /// The flush to wait for, or why the records could not be appended.
    appended: Result<FlushTicket, String>,
}

pub(crate) struct GroupService {
    coordinator: Mutex<Coordinator>,
    next_token: AtomicU64,
    /// Parked requests by token; at most `waiters_max`.
    waiters: Mutex<HashMap<Token, Waiter>>,
    waiters_max: usize,
    store: Arc<Store>,
    topic: Arc<Topic>,
    /// `__consumer_offsets` partitions, fixed at start-up (`partition_for`).
    partitions: i32,
    /// Wakes the timer task after a call that may have set an earlier deadline.
    timer_wake: Notify,
    /// Set at shutdown: no request parks any more.
    closed: AtomicBool,
    /// Tasks delivering completions after a flush (`settle`); finished ones
    /// are reaped on each spawn, the rest awaited at shutdown.
    deliveries: Mutex<JoinSet<()>>,
}

/// `__consumer_offsets` is compacted, as in Kafka. The log does not compact
/// yet and applies time/size retention whatever the cleanup policy, so
/// retention is switched off: otherwise the offsets of a group that stops
/// committing (nothing new to read) would be deleted after `retention.ms`.
/// Expiry of offsets is the coordinator's job (`offsets.retention.minutes`).
fn offsets_topic_overrides() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_owned(), "compact".to_owned()),
        ("retention.ms".to_owned(), "-1".to_owned()),
        ("retention.bytes".to_owned(), "-1".to_owned()),
    ])
}

/// Adds any of [`offsets_topic_overrides`] missing from an existing topic.
fn ensure_overrides(store: &Store, topic: &Topic) -> anyhow::Result<()> {
    let mut overrides = topic.overrides();
    let before = overrides.clone();
    for (key, value) in offsets_topic_overrides() {
        overrides.entry(key).or_insert(value);
    }
    if overrides != before {
        store
            .set_topic_overrides(OFFSETS_TOPIC, overrides)
            .map_err(|e| anyhow::anyhow!("cannot configure {OFFSETS_TOPIC}: {e}"))?;
    }
    Ok(())
}

/// The coordinator settings from the broker's group settings.
fn settings(config: &GroupConfig) -> Settings {
    let minutes = i64::try_from(config.offsets_retention_minutes).unwrap_or(i64::MAX);
    Settings {
        initial_rebalance_delay_ms: config.initial_rebalance_delay_ms,
        session_timeout_min_ms: config.session_timeout_min_ms,
        session_timeout_max_ms: config.session_timeout_max_ms,
        classic_members_max: config.members_max,
        consumer_members_max: config.consumer_members_max,
        groups_max: config.groups_max,
        offsets_retention_ms: minutes.saturating_mul(60_000),
        consumer_session_timeout_ms: config.consumer_session_timeout_ms,
        consumer_heartbeat_interval_ms: config.consumer_heartbeat_interval_ms,
        ..Settings::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl GroupService {
    /// Creates `__consumer_offsets` if missing and rebuilds every group from
    /// it. Bad records are logged and skipped; they never stop the broker.
    pub(crate) fn open(store: Arc<Store>, config: &GroupConfig) -> anyhow::Result<GroupService> {
        let topic = match store.topic(OFFSETS_TOPIC) {
            Some(topic) => {
                ensure_overrides(&store, &topic)?;
                topic
            }
            None => {
                let partitions = config.offsets_topic_partitions.max(1);
                store
                    .create_topic(OFFSETS_TOPIC, partitions, offsets_topic_overrides())
                    .map_err(|e| anyhow::anyhow!("cannot create {OFFSETS_TOPIC}: {e}"))?
            }
        };
        let mut coordinator = Coordinator::new(settings(config));
        let mut replayed = 0u64;
        for partition in topic.partitions() {
            replayed += replay_partition(&mut coordinator, &partition);
        }
        let partitions = i32::try_from(topic.partitions().len()).unwrap_or(i32::MAX);
        tracing::info!(records = replayed, partitions, "replayed {OFFSETS_TOPIC}");
        Ok(GroupService {
            coordinator: Mutex::new(coordinator),
            next_token: AtomicU64::new(1),
            waiters: Mutex::new(HashMap::new()),
            waiters_max: config.waiting_requests_max.max(1),
            store,
            topic,
            partitions,
            timer_wake: Notify::new(),
            deliveries: Mutex::new(JoinSet::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The coordinator, for calls that only read it.
    pub(crate) fn read<T>(&self, call: impl FnOnce(&Coordinator) -> T) -> T {
        call(&lock(&self.coordinator))
    }

    /// Runs one coordinator call and appends its records under the lock.
    fn apply<T>(&self, call: impl FnOnce(&mut Coordinator, i64) -> (T, Output)) -> (T, Pending) {
        let now_ms = now_ms();
        let mut coordinator = lock(&self.coordinator);
        let (value, output) = call(&mut coordinator, now_ms);
        let appended = self.append(&output.records, now_ms);
        drop(coordinator);
        let pending = Pending {
            completions: output.completions,
            appended,
        };
        (value, pending)
    }

    /// Runs a call that may change state and answers only once its records
    /// are durable; completions it produced are delivered in any case.
    async fn apply_and_settle<T>(
        self: &Arc<Self>,
        call: impl FnOnce(&mut Coordinator, i64) -> (T, Output),
    ) -> Result<T, GroupError> {
        let (value, pending) = self.apply(call);
        self.settle(pending).await.map(|()| value)
    }

    /// Appends `records` to the group's partition(s), in order, as v2 batches.
    fn append(&self, records: &[PersistRecord], now_ms: i64) -> Result<FlushTicket, String> {
        let mut ticket = FlushTicket::default();
        let mut by_partition: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
        for record in records {
            let Some(group_id) = group_of(record) else {
                tracing::error!("coordinator produced a record with an unreadable key");
                continue;
            };
            by_partition
                .entry(group::partition_for(&group_id, self.partitions))
                .or_default()
                .push(NewRecord {
                    key: Some(record.key.clone()),
                    value: record.value.clone(),
                    headers: Vec::new(),
                    timestamp_ms: now_ms,
                });
        }
        for (index, records) in by_partition {
            let partition = self
                .topic
                .partition(index)
                .ok_or_else(|| format!("{OFFSETS_TOPIC}-{index} is missing"))?;
            let bytes = encode_batches(records)?;
            let info = partition
                .append(&bytes, now_ms)
                .map_err(|e| format!("append to {OFFSETS_TOPIC}-{index}: {e}"))?;
            ticket = ticket.max(info.ticket);
        }
        Ok(ticket)
    }

    /// Waits for durability, then delivers completions. Runs in its own task
    /// when there are completions, so a caller that goes away cannot strand
    /// other members' parked requests.
    async fn settle(self: &Arc<Self>, pending: Pending) -> Result<(), GroupError> {
        if pending.completions.is_empty() {
            return self.durable(pending.appended).await;
        }
        let service = self.clone();
        let (done_tx, done_rx) = oneshot::channel();
        let delivery = async move {
            let result = service.durable(pending.appended).await;
            service.deliver(pending.completions, result.is_ok());
            let _ = done_tx.send(result);
        };
        {
            let mut deliveries = lock(&self.deliveries);
            while deliveries.try_join_next().is_some() {}
            deliveries.spawn(delivery);
        }
        done_rx
            .await
            .unwrap_or(Err(GroupError::CoordinatorNotAvailable))
    }

    async fn durable(&self, appended: Result<FlushTicket, String>) -> Result<(), GroupError> {
        let result = match appended {
            Ok(ticket) => self
                .store
                .wait_durable(ticket)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        result.map_err(|error| {
            tracing::error!(%error, "group state not persisted; failing the request");
            GroupError::CoordinatorNotAvailable
        })
    }

    /// Answers parked requests. A missing waiter means the client is gone.
    fn deliver(&self, completions: Vec<Completion>, durable: bool) {
        let mut waiters = lock(&self.waiters);
        for completion in completions {
            let token = match &completion {
                Completion::Join { token, .. } | Completion::Sync { token, .. } => *token,
            };
            let Some(waiter) = waiters.remove(&token) else {
                continue;
            };
            let failed = GroupError::CoordinatorNotAvailable;
            match (waiter, completion) {
                (Waiter::Join(tx), Completion::Join { result, .. }) => {
                    let _ = tx.send(if durable { result } else { Err(failed) });
                }
                (Waiter::Sync(tx), Completion::Sync { result, .. }) => {
                    let _ = tx.send(if durable { result } else { Err(failed) });
                }
                (Waiter::Join(tx), Completion::Sync { .. }) => {
                    tracing::error!(?token, "sync completion for a parked join");
                    let _ = tx.send(Err(GroupError::UnknownServerError));
                }
                (Waiter::Sync(tx), Completion::Join { .. }) => {
                    tracing::error!(?token, "join completion for a parked sync");
                    let _ = tx.send(Err(GroupError::UnknownServerError));
                }
            }
        }
    }

    /// Registers a waiter under a fresh token, within `waiters_max`.
    fn park(&self, waiter: impl FnOnce() -> Waiter) -> Result<Parked<'_>, GroupError> {
        let token = Token(self.next_token.fetch_add(1, Ordering::Relaxed));
        let mut waiters = lock(&self.waiters);
        if self.closed.load(Ordering::Acquire) {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if waiters.len() >= self.waiters_max {
            tracing::warn!(
                waiters_max = self.waiters_max,
                "too many parked JoinGroup/SyncGroup requests"
            );
            return Err(GroupError::CoordinatorNotAvailable);
        }
        waiters.insert(token, waiter());
        Ok(Parked {
            service: self,
            token,
        })
    }

    /// JoinGroup: answers when the coordinator completes this request.
    pub(crate) async fn join(self: &Arc<Self>, request: JoinRequest) -> JoinResult {
        let (tx, rx) = oneshot::channel();
        let parked = self.park(|| Waiter::Join(tx))?;
        let token = parked.token;
        let ((), pending) = self.apply(|c, now_ms| ((), c.join(token, &request, now_ms)));
        self.timer_wake.notify_one();
        self.settle(pending).await?;
        rx.await.unwrap_or(Err(GroupError::CoordinatorNotAvailable))
    }

    /// SyncGroup: answers when the coordinator completes this request.
    pub(crate) async fn sync(self: &Arc<Self>, request: SyncRequest) -> SyncResult {
        let (tx, rx) = oneshot::channel();
        let parked = self.park(|| Waiter::Sync(tx))?;
        let token = parked.token;
        let ((), pending) = self.apply(|c, now_ms| ((), c.sync(token, &request, now_ms)));
        self.timer_wake.notify_one();
        self.settle(pending).await?;
        rx.await.unwrap_or(Err(GroupError::CoordinatorNotAvailable))
    }

    /// Heartbeat (classic): no records, no completions.
    pub(crate) fn heartbeat(&self, request: &group::HeartbeatRequest) -> Result<(), GroupError> {
        lock(&self.coordinator).heartbeat(request, now_ms())
    }

    /// LeaveGroup: top-level result, then one result per member.
    pub(crate) async fn leave(
        self: &Arc<Self>,
        group_id: &str,
        members: &[group::LeaveMember],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let result = self
            .apply_and_settle(|c, now_ms| c.leave(group_id, members, now_ms))
            .await;
        self.timer_wake.notify_one();
        result?
    }

    /// OffsetCommit: answers once the commit records are durable.
    pub(crate) async fn offset_commit(
        self: &Arc<Self>,
        request: &group::OffsetCommitRequest,
    ) -> Result<Vec<group::PartitionResult>, GroupError> {
        self.apply_and_settle(|c, now_ms| {
            let (result, records) = c.offset_commit(request, now_ms);
            (result, records_only(records))
        })
        .await?
    }

    /// OffsetDelete: answers once the tombstones are durable.
    pub(crate) async fn offset_delete(
        self: &Arc<Self>,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<group::PartitionResult>, GroupError> {
        self.apply_and_settle(|c, _| {
            let (result, records) = c.offset_delete(group_id, partitions);
            (result, records_only(records))
        })
        .await?
    }

    /// DeleteGroups: one result per group, once the tombstones are durable.
    pub(crate) async fn delete_groups(
        self: &Arc<Self>,
        group_ids: &[String],
    ) -> Vec<(String, Result<(), GroupError>)> {
        let (results, pending) = self.apply(|c, _| {
            let (results, records) = c.delete_groups(group_ids);
            (results, records_only(records))
        });
        match self.settle(pending).await {
            Ok(()) => results,
            Err(e) => results
                .into_iter()
                .map(|(id, r)| (id, r.and(Err(e.clone()))))
                .collect(),
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848), against the store's topics.
    pub(crate) async fn consumer_heartbeat(
        self: &Arc<Self>,
        request: &ConsumerHeartbeatRequest,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        let topics = StoreTopics(&self.store);
        let result = self
            .apply_and_settle(|c, now_ms| {
                let (result, records) = c.consumer_heartbeat(request, &topics, now_ms);
                (result, records_only(records))
            })
            .await;
        self.timer_wake.notify_one();
        result?
    }

    /// Runs the coordinator's timers until `stop` fires: sleeps until the
    /// next deadline (at most [`TIMER_PERIOD_MAX_MS`]), or until a call may
    /// have set an earlier one.
    pub(crate) async fn run_timers(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let now_ms = now_ms();
            let deadline_ms = self.read(Coordinator::next_deadline_ms);
            let wait_ms = deadline_ms
                .map_or(TIMER_PERIOD_MAX_MS, |d| d.saturating_sub(now_ms))
                .clamp(0, TIMER_PERIOD_MAX_MS);
            let sleep = tokio::time::sleep(Duration::from_millis(wait_ms as u64));
            tokio::select! {
                _ = sleep => {}
                _ = self.timer_wake.notified() => continue,
                _ = stop.changed() => return,
            }
            let ((), pending) = self.apply(|c, now_ms| ((), c.tick(now_ms)));
            if let Err(error) = self.settle(pending).await {
                tracing::warn!(%error, "group timer records not persisted");
            }
        }
    }

    /// Waits for the completion deliveries still running; used at shutdown,
    /// while the store still flushes (each waits for one flush cycle).
    pub(crate) async fn finish_deliveries(&self) {
        let mut deliveries = std::mem::take(&mut *lock(&self.deliveries));
        while deliveries.join_next().await.is_some() {}
    }

    /// Answers every parked request with COORDINATOR_NOT_AVAILABLE, so
    /// clients look for the coordinator again; used at shutdown.
    pub(crate) fn fail_waiters(&self) {
        self.closed.store(true, Ordering::Release);
        let drained: Vec<Waiter> = lock(&self.waiters).drain().map(|(_, w)| w).collect();
        for waiter in drained {
            match waiter {
                Waiter::Join(tx) => {
                    let _ = tx.send(Err(GroupError::CoordinatorNotAvailable));
                }
                Waiter::Sync(tx) => {
                    let _ = tx.send(Err(GroupError::CoordinatorNotAvailable));
                }
            }
        }
    }
}

/// Removes a parked request's waiter when the request ends or is dropped.
struct Parked<'a> {
    service: &'a GroupService,
    token: Token,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        lock(&self.service.waiters).remove(&self.token);
    }
}

fn records_only(records: Vec<PersistRecord>) -> Output {
    Output {
        completions: Vec::new(),
        records,
    }
}

/// The group a record belongs to, from its key (every key starts with the
/// version and the group id).
fn group_of(record: &PersistRecord) -> Option<String> {
    let key = record.key.get(2..)?;
    let length = usize::try_from(i16::from_be_bytes([*key.first()?, *key.get(1)?])).ok()?;
    let name = key.get(2..2 + length)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Cuts `records` into v2 batches of about [`BATCH_BYTES_TARGET`] and
/// concatenates them, ready for one append.
fn encode_batches(records: Vec<NewRecord>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut chunk: Vec<NewRecord> = Vec::new();
    let mut chunk_bytes = 0usize;
    let flush = |chunk: &mut Vec<NewRecord>, out: &mut Vec<u8>| -> Result<(), String> {
        if chunk.is_empty() {
            return Ok(());
        }
        let batch = BatchBuilder::new(std::mem::take(chunk))
            .build()
            .map_err(|e| format!("cannot encode group records: {e}"))?;
        out.extend_from_slice(&batch);
        Ok(())
    };
    for record in records {
        let size =
            record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len);
        if chunk_bytes + size > BATCH_BYTES_TARGET {
            flush(&mut chunk, &mut out)?;
            chunk_bytes = 0;
        }
        chunk_bytes += size;
        chunk.push(record);
    }
    flush(&mut chunk, &mut out)?;
    Ok(out)
}

/// Feeds one `__consumer_offsets` partition, log start to high watermark,
/// through `Coordinator::replay`. Returns how many records it replayed.
fn replay_partition(coordinator: &mut Coordinator, partition: &Partition) -> u64 {
    let offsets = partition.offsets();
    let mut next = offsets.log_start;
    let mut replayed = 0u64;
    while next < offsets.high_watermark {
        let read = match partition.read(next, REPLAY_READ_BYTES) {
            Ok(read) => read,
            Err(error) => {
                tracing::error!(partition = partition.id(), next, %error, "replay stopped: read failed");
                break;
            }
        };
        let start = next;
        let bytes = match read.to_vec() {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(partition = partition.id(), next, %error, "replay stopped: read failed");
                break;
            }
        };
        for batch in BatchIter::new(&bytes) {
            let (header, bytes) = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(partition = partition.id(), next, %error, "replay: bad batch; rest of this read skipped");
                    break;
                }
            };
            if header.last_offset() < next {
                continue;
            }
            if !header.is_control() {
                replayed += replay_batch(coordinator, partition.id(), bytes, next);
            }
            next = header.last_offset() + 1;
        }
        if next == start {
            tracing::error!(
                partition = partition.id(),
                next,
                "replay stopped: no progress"
            );
            break;
        }
    }
    replayed
}

fn replay_batch(coordinator: &mut Coordinator, partition: i32, batch: &[u8], from: i64) -> u64 {
    let records = match Records::new(batch) {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(partition, %error, "replay: skipped an unreadable batch");
            return 0;
        }
    };
    let mut replayed = 0;
    for record in records.iter() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(partition, %error, "replay: rest of a batch unreadable");
                break;
            }
        };
        if record.offset < from {
            continue;
        }
        let Some(key) = record.key else {
            tracing::warn!(
                partition,
                offset = record.offset,
                "replay: skipped a record without key"
            );
            continue;
        };
        match coordinator.replay(key, record.value) {
            Ok(None) => replayed += 1,
            Ok(Some(warning)) => {
                tracing::warn!(partition, offset = record.offset, %warning, "replay")
            }
            Err(error) => {
                tracing::warn!(partition, offset = record.offset, %error, "replay: skipped a bad record")
            }
        }
    }
    replayed
}

/// Topic metadata for KIP-848 assignments, from the store.
struct StoreTopics<'a>(&'a Store);

impl TopicLookup for StoreTopics<'_> {
    fn topic(&self, name: &str) -> Option<TopicInfo> {
        let topic = self.0.topic(name)?;
        Some(TopicInfo {
            id: *topic.id().as_bytes(),
            partitions: i32::try_from(topic.partitions().len()).ok()?,
        })
    }
}

/// The broker's group service, or COORDINATOR_NOT_AVAILABLE where there is
/// none (handler unit tests).
pub(crate) fn service(broker: &crate::Broker) -> Result<&Arc<GroupService>, GroupError> {
    broker
        .groups
        .as_ref()
        .ok_or(GroupError::CoordinatorNotAvailable)
}
