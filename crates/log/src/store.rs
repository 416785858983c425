//! The set of topics in one data directory: opening it (lock, cluster id,
//! recovery of every partition, the flusher thread), creating, deleting and
//! altering topics with crash-safe metadata, retention passes, and shutdown.
//! Per-partition storage lives in `partition/`; group commit in `flush.rs`.

use crate::checkpoint::{self, write_atomic};
use crate::flush::Flusher;
use crate::partition::PartitionParams;
use crate::producer_ids::ProducerIds;
use crate::{FlushPolicy, FlushTicket, LogError, Partition, TopicConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use uuid::Uuid;

const TOPICS_DIR: &str = "topics";
/// Topics being deleted are renamed here first, so a crash never leaves half a topic.
const DELETED_DIR: &str = "deleted";
/// Topics being created are assembled here, then renamed into `topics/`.
const STAGING_DIR: &str = "staging";
const LOCK_FILE: &str = ".lock";
const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
const META_FILE: &str = "meta.json";
const TOPIC_FILE: &str = "topic.json";

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    pub flush: FlushPolicy,
    /// Broker-wide defaults for every topic config (Kafka's `log.*` settings).
    pub defaults: TopicConfig,
    /// Bytes between sparse index entries (Kafka `index.interval.bytes`).
    pub index_interval_bytes: u32,
    /// Most partitions the store will hold across all topics.
    pub partitions_max: u32,
    /// Keep only this many of each partition's newest synced bytes in the
    /// page cache, dropping older ones (`posix_fadvise(DONTNEED)`) once they
    /// are on disk. `None` leaves caching to the kernel, as Kafka does.
    /// A reader a little behind holds the window back (see
    /// `partition/window.rs`); readers further behind read from disk. Fresh
    /// writes reuse the pages freed, which on VMs where first-touched memory
    /// is expensive more than doubles sustained write throughput.
    pub page_cache_window_bytes: Option<u64>,
}

/// `topic.json`: everything about a topic except its data.
#[derive(Debug, Serialize, Deserialize)]
struct TopicMeta {
    name: String,
    id: Uuid,
    partitions: u32,
    overrides: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoreMeta {
    cluster_id: String,
}

pub struct Topic {
    name: String,
    id: Uuid,
    dir: PathBuf,
    partitions: RwLock<Vec<Arc<Partition>>>,
    overrides: RwLock<BTreeMap<String, String>>,
    /// Shared with every partition, so alterations apply at once.
    config: Arc<RwLock<TopicConfig>>,
}

impl Topic {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn id(&self) -> Uuid {
        self.id
    }
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn partition(&self, id: i32) -> Option<Arc<Partition>> {
        let index = usize::try_from(id).ok()?;
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(index)
            .cloned()
    }
    /// Effective config: broker defaults overlaid with this topic's overrides.
    pub fn config(&self) -> TopicConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Only the keys set explicitly on this topic.
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn partition_count(&self) -> u32 {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u32
    }
    fn meta(&self, partitions: u32, overrides: &BTreeMap<String, String>) -> TopicMeta {
        TopicMeta {
            name: self.name.clone(),
            id: self.id,
            partitions,
            overrides: overrides.clone(),
        }
    }
}

fn effective_config(
    defaults: &TopicConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<TopicConfig, LogError> {
    if overrides.is_empty() {
        Ok(defaults.clone())
    } else {
        defaults.with_overrides(overrides)
    }
}

fn write_topic_meta(dir: &Path, meta: &TopicMeta) -> Result<(), LogError> {
    let json =
        serde_json::to_vec_pretty(meta).map_err(|e| LogError::Io(std::io::Error::other(e)))?;
    write_atomic(&dir.join(TOPIC_FILE), &json, true)?;
    Ok(())
}

pub struct Store {
    options: StoreOptions,
    cluster_id: String,
    /// Held (locked) for the store's lifetime.
    _lock: File,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serializes topic creation, deletion and alteration.
    admin: Mutex<()>,
    flusher: Arc<Flusher>,
    flusher_thread: Mutex<Option<JoinHandle<()>>>,
    shut_down: AtomicBool,
    producer_ids: Mutex<ProducerIds>,
}

impl Store {
    /// Locks the data directory, recovers every partition, starts the flusher.
    pub fn open(mut options: StoreOptions) -> Result<Arc<Store>, LogError> {
        options.index_interval_bytes = options.index_interval_bytes.max(1);
        let data_dir = options.data_dir.clone();
        for sub in [TOPICS_DIR, DELETED_DIR, STAGING_DIR] {
            fs::create_dir_all(data_dir.join(sub))?;
        }
        let lock = lock_data_dir(&data_dir)?;
        for sub in [DELETED_DIR, STAGING_DIR] {
            clear_dir(&data_dir.join(sub))?;
        }
        let cluster_id = load_cluster_id(&data_dir)?;
        let producer_ids = ProducerIds::open(&data_dir)?;
        let clean_marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = clean_marker.exists();
        let flusher = Flusher::new(
            options.flush,
            Some(&data_dir),
            options.page_cache_window_bytes,
        );
        let store = Store {
            options,
            cluster_id,
            _lock: lock,
            topics: RwLock::new(BTreeMap::new()),
            admin: Mutex::new(()),
            flusher: flusher.clone(),
            flusher_thread: Mutex::new(None),
            shut_down: AtomicBool::new(false),
            producer_ids: Mutex::new(producer_ids),
        };
        store.load_topics(clean)?;
        if clean {
            // From here on a crash must not be mistaken for a clean stop.
            fs::remove_file(&clean_marker)?;
            checkpoint::sync_dir_at(&data_dir)?;
        }
        let thread = std::thread::Builder::new()
            .name("weir-flusher".into())
            .spawn(move || flusher.run())?;
        *store
            .flusher_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(thread);
        tracing::info!(data_dir = %data_dir.display(), clean, topics = store.topics().len(), "store opened");
        Ok(Arc::new(store))
    }

    fn load_topics(&self, clean: bool) -> Result<(), LogError> {
        let mut shells = Vec::new();
        for entry in fs::read_dir(self.options.data_dir.join(TOPICS_DIR))? {
            let dir = entry?.path();
            let meta: TopicMeta = match fs::read(dir.join(TOPIC_FILE))
                .map(|b| serde_json::from_slice(&b))
            {
                Ok(Ok(meta)) => meta,
                Ok(Err(e)) => {
                    tracing::error!(dir = %dir.display(), error = %e, "unreadable topic.json; skipping topic");
                    continue;
                }
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "missing topic.json; skipping topic");
                    continue;
                }
            };
            shells.push(self.topic_shell(dir, meta)?);
        }
        self.open_partitions(&shells, clean)?;
        let topics = shells
            .into_iter()
            .map(|(topic, _)| (topic.name.clone(), topic))
            .collect();
        *self.topics.write().unwrap_or_else(|e| e.into_inner()) = topics;
        Ok(())
    }

    fn open_topic(
        &self,
        dir: PathBuf,
        meta: TopicMeta,
        clean: bool,
    ) -> Result<Arc<Topic>, LogError> {
        let shell = self.topic_shell(dir, meta)?;
        self.open_partitions(std::slice::from_ref(&shell), clean)?;
        Ok(shell.0)
    }

    /// A topic with no partitions open yet, and how many it has; directories
    /// of partitions beyond that count are removed.
    fn topic_shell(&self, dir: PathBuf, meta: TopicMeta) -> Result<(Arc<Topic>, u32), LogError> {
        let config = effective_config(&self.options.defaults, &meta.overrides)?;
        remove_extra_partition_dirs(&dir, meta.partitions)?;
        let topic = Arc::new(Topic {
            name: meta.name,
            id: meta.id,
            dir,
            partitions: RwLock::new(Vec::new()),
            overrides: RwLock::new(meta.overrides),
            config: Arc::new(RwLock::new(config)),
        });
        Ok((topic, meta.partitions))
    }

    /// Opens every partition of `topics` (each with its partition count)
    /// and gives each topic its partitions.
    fn open_partitions(&self, topics: &[(Arc<Topic>, u32)], clean: bool) -> Result<(), LogError> {
        let jobs: Vec<(&Topic, u32)> = topics
            .iter()
            .flat_map(|(topic, count)| (0..*count).map(move |id| (&**topic, id)))
            .collect();
        let mut opened = self.open_partition_set(&jobs, clean)?.into_iter();
        for (topic, count) in topics {
            let partitions = opened.by_ref().take(*count as usize).collect();
            *topic.partitions.write().unwrap_or_else(|e| e.into_inner()) = partitions;
        }
        Ok(())
    }

    /// Opens the partitions `jobs` names (topic, partition id) side by
    /// side, all topics' partitions in one queue so that a store of many
    /// single-partition topics recovers in parallel too, then syncs what
    /// they recovered or created in one go. Returns them in `jobs` order.
    fn open_partition_set(
        &self,
        jobs: &[(&Topic, u32)],
        clean: bool,
    ) -> Result<Vec<Arc<Partition>>, LogError> {
        let opened = concurrently(jobs.to_vec(), |(topic, id)| {
            self.open_partition(topic, id, clean)
        })?;
        let synced = self.flusher.sync_now(&opened)?;
        concurrently(synced, |(partition, aftercare)| {
            partition.after_open(aftercare);
            Ok(())
        })?;
        Ok(opened)
    }

    fn open_partition(
        &self,
        topic: &Topic,
        id: u32,
        clean: bool,
    ) -> Result<Arc<Partition>, LogError> {
        Partition::open(PartitionParams {
            id: id as i32,
            dir: topic.dir.join(id.to_string()),
            config: topic.config.clone(),
            index_interval_bytes: self.options.index_interval_bytes,
            flusher: self.flusher.clone(),
            clean_shutdown: clean,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }
    pub fn defaults(&self) -> &TopicConfig {
        &self.options.defaults
    }
    /// The cluster id (22 characters of base64url, like Kafka's), generated
    /// once and kept in `meta.json`.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }
    pub fn flush_policy(&self) -> FlushPolicy {
        self.options.flush
    }
    /// fdatasync calls made so far (for group-commit tests and metrics).
    pub fn fdatasync_count(&self) -> u64 {
        self.flusher.fdatasync_count()
    }
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        topics.values().find(|t| t.id == id).cloned()
    }
    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
    fn partition_total(&self) -> u64 {
        self.topics()
            .iter()
            .map(|t| u64::from(t.partition_count()))
            .sum()
    }
    fn check_partition_limit(&self, adding: u32) -> Result<(), LogError> {
        let total = self.partition_total() + u64::from(adding);
        if total > u64::from(self.options.partitions_max) {
            return Err(LogError::LimitExceeded(format!(
                "{total} partitions would exceed the broker limit of {}",
                self.options.partitions_max
            )));
        }
        Ok(())
    }

    /// Whether `name` may be used for a new topic: legal, not taken, and not
    /// differing from an existing name only by '.' versus '_' (Kafka refuses
    /// those because both map to the same metric names).
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), LogError> {
        crate::topic_name::validate(name)?;
        if self.topic(name).is_some() {
            return Err(LogError::TopicExists(name.to_string()));
        }
        if name.contains(['.', '_']) {
            let folded = name.replace('.', "_");
            if let Some(existing) = self
                .topics()
                .iter()
                .find(|t| t.name().replace('.', "_") == folded)
            {
                return Err(LogError::InvalidTopicName(format!(
                    "{name:?} collides with existing topic {:?} ('.' and '_' are alike)",
                    existing.name()
                )));
            }
        }
        Ok(())
    }

    /// Creates a topic with `partitions` partitions and the given config
    /// overrides (validated; unknown keys are `InvalidConfig`).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, LogError> {
        if partitions == 0 || partitions > i32::MAX as u32 {
            return Err(LogError::InvalidPartitions(format!(
                "{partitions}: a topic needs at least one partition"
            )));
        }
        effective_config(&self.options.defaults, &overrides)?;
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        self.check_new_topic_name(name)?;
        self.check_partition_limit(partitions)?;
        let meta = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            overrides,
        };
        let staging = self
            .options
            .data_dir
            .join(STAGING_DIR)
            .join(format!("{name}-{}", meta.id));
        fs::create_dir_all(&staging)?;
        for id in 0..partitions {
            fs::create_dir(staging.join(id.to_string()))?;
        }
        write_topic_meta(&staging, &meta)?;
        let topics_dir = self.options.data_dir.join(TOPICS_DIR);
        let dir = topics_dir.join(name);
        fs::rename(&staging, &dir)?;
        checkpoint::sync_dir_at(&topics_dir)?;
        let topic = self.open_topic(dir, meta, false)?;
        self.topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    pub fn delete_topic(&self, name: &str) -> Result<(), LogError> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self
            .topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let topic = topic.ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        for partition in topic.partitions() {
            partition.mark_deleted();
        }
        let graveyard = self
            .options
            .data_dir
            .join(DELETED_DIR)
            .join(format!("{name}-{}", Uuid::new_v4()));
        fs::rename(&topic.dir, &graveyard)?;
        checkpoint::sync_dir_at(&self.options.data_dir.join(TOPICS_DIR))?;
        fs::remove_dir_all(&graveyard)?;
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `total` partitions (never shrinks).
    pub fn add_partitions(&self, name: &str, total: u32) -> Result<(), LogError> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self
            .topic(name)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        let current = topic.partition_count();
        if total <= current || total > i32::MAX as u32 {
            return Err(LogError::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count must be larger, got {total}"
            )));
        }
        self.check_partition_limit(total - current)?;
        let jobs: Vec<(&Topic, u32)> = (current..total).map(|id| (&*topic, id)).collect();
        let added = self.open_partition_set(&jobs, false)?;
        write_topic_meta(&topic.dir, &topic.meta(total, &topic.overrides()))?;
        topic
            .partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(added);
        Ok(())
    }

    /// Replaces the topic's overrides with `overrides` (validated first).
    pub fn set_topic_overrides(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
    ) -> Result<(), LogError> {
        let config = effective_config(&self.options.defaults, &overrides)?;
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self
            .topic(name)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        write_topic_meta(&topic.dir, &topic.meta(topic.partition_count(), &overrides))?;
        *topic.overrides.write().unwrap_or_else(|e| e.into_inner()) = overrides;
        *topic.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// Deletes segments past retention and rolls by `segment.ms`.
    pub fn enforce_retention(&self, now_ms: i64) {
        for topic in self.topics() {
            for partition in topic.partitions() {
                if let Err(e) = partition.enforce_retention(now_ms) {
                    tracing::error!(dir = %partition.dir().display(), error = %e, "retention failed");
                }
            }
        }
    }

    /// A producer id never handed out before by this data directory, for an
    /// idempotent producer (InitProducerId). Ids are reserved in durable
    /// blocks, so a crash skips ids rather than reusing them.
    pub fn allocate_producer_id(&self) -> Result<i64, LogError> {
        self.producer_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allocate()
    }

    /// Resolves when every batch covered by `ticket` is on disk.
    pub async fn wait_durable(&self, ticket: FlushTicket) -> Result<(), LogError> {
        match ticket.0 {
            None => Ok(()),
            Some(generation) => self.flusher.wait(generation).await,
        }
    }

    fn stop_flusher(&self) {
        self.flusher.stop();
        let thread = self
            .flusher_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("flusher thread panicked");
            }
        }
    }

    /// Flushes everything, stops the flusher, marks a clean shutdown.
    pub fn shutdown(&self) -> Result<(), LogError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_flusher();
        // Index files written side by side, everything synced at once, then
        // the small unsynced files, as when partitions open.
        let partitions: Vec<Arc<Partition>> =
            self.topics().iter().flat_map(|t| t.partitions()).collect();
        concurrently(partitions.clone(), |p| p.prepare_close())?;
        // Their aftercare is for a store that goes on: dropping cache is
        // pointless now, and every partition writes its checkpoints below.
        let synced = self.flusher.sync_now(&partitions)?;
        drop(synced);
        concurrently(partitions, |p| p.after_close())?;
        write_atomic(
            &self.options.data_dir.join(CLEAN_SHUTDOWN_FILE),
            b"clean\n",
            true,
        )?;
        tracing::info!(data_dir = %self.options.data_dir.display(), "store shut down cleanly");
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_flusher();
    }
}

fn lock_data_dir(data_dir: &Path) -> Result<File, LogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(LogError::Locked(data_dir.display().to_string())),
        Err(TryLockError::Error(e)) => Err(e.into()),
    }
}

fn clear_dir(dir: &Path) -> Result<(), LogError> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Most threads opening partitions at once.
const OPEN_THREADS_MAX: u32 = 4;

/// `work` on every item of `items` on up to [`OPEN_THREADS_MAX`] threads;
/// results in `items` order, the first error in that order wins.
///
/// Opening partitions mostly waits on the disk, not the CPU: after a crash
/// each partition re-reads its unsynced tail and rewrites small files. So
/// partitions open faster side by side even on a small machine, at start-up
/// (all topics' partitions in one queue) and when a topic is created.
fn concurrently<I: Send, T: Send>(
    items: Vec<I>,
    work: impl Fn(I) -> Result<T, LogError> + Sync,
) -> Result<Vec<T>, LogError> {
    let threads = items.len().min(OPEN_THREADS_MAX as usize);
    if threads <= 1 {
        return items.into_iter().map(work).collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).next();
    let mut done: Vec<(usize, Result<T, LogError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some((i, item)) = next() {
                        mine.push((i, work(item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

/// Removes partition directories numbered >= `count` (left by a crash in
/// the middle of adding partitions, before `topic.json` was rewritten).
fn remove_extra_partition_dirs(dir: &Path, count: u32) -> Result<(), LogError> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let extra = name
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|id| id >= count);
        if extra && entry.path().is_dir() {
            tracing::warn!(dir = %entry.path().display(), "removing partition beyond the topic's count");
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

fn load_cluster_id(data_dir: &Path) -> Result<String, LogError> {
    let path = data_dir.join(META_FILE);
    if let Ok(bytes) = fs::read(&path) {
        match serde_json::from_slice::<StoreMeta>(&bytes) {
            Ok(meta) => return Ok(meta.cluster_id),
            Err(e) => {
                return Err(LogError::Io(std::io::Error::other(format!(
                    "{}: {e}",
                    path.display()
                ))))
            }
        }
    }
    let meta = StoreMeta {
        cluster_id: base64url(Uuid::new_v4().as_bytes()),
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?;
    write_atomic(&path, &json, true)?;
    Ok(meta.cluster_id)
}

/// Unpadded base64url, as Kafka renders a UUID as a cluster id.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64url_matches_known_values() {
        assert_eq!(super::base64url(b"\xfb\xff"), "-_8");
        assert_eq!(super::base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64url(&[0u8; 16]).len(), 22);
    }

    #[test]
    fn concurrently_keeps_item_order_and_reports_the_first_failure() {
        use super::{concurrently, LogError};
        for count in [0, 1, 2, 5, 64] {
            let done = concurrently((0..count).collect(), |id| Ok::<_, LogError>(id * 10)).unwrap();
            assert_eq!(done, (0..count).map(|id| id * 10).collect::<Vec<_>>());
        }
        let failing = |id: u32| {
            if id % 7 == 3 {
                Err(LogError::UnknownTopicOrPartition(id.to_string()))
            } else {
                Ok(id)
            }
        };
        match concurrently((0..40).collect(), failing) {
            Err(LogError::UnknownTopicOrPartition(id)) => assert_eq!(id, "3"),
            other => panic!("expected partition 3's error, got {other:?}"),
        }
    }
}
