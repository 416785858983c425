//! Flush policy and group commit. One flusher thread per store waits until
//! partitions are marked dirty, takes the whole dirty set as one numbered
//! cycle, makes every dirty file durable (outside partition locks), then
//! publishes the cycle number through a watch channel that produce requests
//! await. Only then does it write recovery points and drop cache behind the
//! page-cache window, which make nothing durable. What a partition syncs,
//! and how its high watermark moves, lives in `partition/durability.rs`.
//!
//! A cycle fdatasyncs each of its files, many at once (`sync_pool.rs`), and
//! never calls syncfs(2): that would also wait for whatever other programs
//! left dirty on the filesystem, and produce requests wait for the cycle.
//! Syncs outside the flusher's cycles ([`Flusher::sync_now`]: partitions
//! being opened, or closed at shutdown, a thousand at a time after a
//! crash) call syncfs once on the data directory's filesystem when four or
//! more files are on it: all writeback is queued together and the disk
//! cache is flushed once, and nobody's produce waits for it. A write error
//! on that filesystem fails them just as a failed fdatasync does.
//!
//! Under `Never` with a page-cache window the thread also runs window
//! passes, which sync nothing: see [`Flusher::run`].

use crate::partition::{Aftercare, FlushPlan};
use crate::sync_pool::{SyncPool, SYNC_HELPERS_MAX};
use crate::{LogError, Partition};
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// When appended bytes are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fdatasync before a produce is acknowledged; one fdatasync per dirty
    /// segment per flush cycle covers every batch that became pending while
    /// the previous cycle ran (group commit). The default.
    Always,
    /// fdatasync every N milliseconds; acknowledged data can be lost on a
    /// machine crash (not on a process crash).
    IntervalMs(u64),
    /// Never fdatasync except on roll and shutdown (Kafka's default).
    Never,
}

impl std::str::FromStr for FlushPolicy {
    type Err = String;
    /// Parses `always`, `never` or `interval:<ms>`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FlushPolicy::Always),
            "never" => Ok(FlushPolicy::Never),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(FlushPolicy::IntervalMs(ms)),
                _ => Err(format!(
                    "invalid flush policy {s:?}: expected always, never or interval:<ms>"
                )),
            },
        }
    }
}

/// What a produce must wait for before answering: the flush cycle that will
/// cover its batches. `None` inside means nothing to wait for (policy is not
/// `Always`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(pub(crate) Option<u64>);

/// A [`Flusher::sync_now`] with at least this many files to sync on the
/// data directory's filesystem uses one syncfs instead of one fdatasync per
/// file (1,050 partitions after a crash: 0.33-0.46 s instead of 0.95-1.21).
const SYNCFS_MIN_FILES: usize = 4;

/// How a cycle's files reach the disk.
#[derive(Clone, Copy)]
enum Syncing<'a> {
    /// The flusher's own cycles: every file fdatasynced on its own, many at
    /// once on the pool, waiting for no other program's writes.
    Concurrently(&'a SyncPool),
    /// [`Flusher::sync_now`]: syncfs when enough files share the data
    /// directory's filesystem, the rest one by one.
    InBulk,
}

/// Under `Never` with a page-cache window, how often the flusher runs a
/// window pass while partitions are appended to. At 35 MB/s into a
/// partition a pass finds about one 4 MiB step to drop.
const WINDOW_PASS_INTERVAL: Duration = Duration::from_millis(100);

/// What the flusher thread does next.
enum Next {
    /// A flush cycle: its partitions, its number, and whether it is the last.
    Cycle(Vec<Arc<Partition>>, u64, bool),
    /// A window pass over these partitions with this window.
    WindowPass(Vec<Arc<Partition>>, u64),
}

/// What waiters can observe about flush cycles.
#[derive(Debug, Clone, Default)]
struct Durability {
    /// Every cycle up to this one completed with all its fdatasyncs succeeding.
    synced_gen: u64,
    /// Set forever by the first failed fdatasync: the page cache may have
    /// dropped dirty pages, so nothing later can be called durable.
    failure: Option<Arc<str>>,
    stopped: bool,
}

struct FlushState {
    dirty: Vec<Arc<Partition>>,
    /// Partitions appended to since the last window pass (`flush=never`
    /// with a page-cache window only).
    window_pass: Vec<Arc<Partition>>,
    /// The cycle that will take the current dirty set.
    next_gen: u64,
    stop: bool,
}

pub(crate) struct Flusher {
    policy: FlushPolicy,
    state: Mutex<FlushState>,
    wake: Condvar,
    durable_tx: watch::Sender<Durability>,
    fdatasync_count: AtomicU64,
    /// The data directory and its filesystem's `st_dev`, for syncfs.
    filesystem: Option<(File, u64)>,
    /// See [`crate::StoreOptions::page_cache_window_bytes`].
    cache_window_bytes: Option<u64>,
}

impl Flusher {
    /// `data_dir` is where syncfs applies; without it (or if it cannot be
    /// opened) every file is fdatasynced on its own.
    pub fn new(
        policy: FlushPolicy,
        data_dir: Option<&Path>,
        cache_window_bytes: Option<u64>,
    ) -> Arc<Flusher> {
        let (durable_tx, _) = watch::channel(Durability::default());
        let filesystem = data_dir.and_then(|dir| {
            let file = File::open(dir).ok()?;
            let device = file.metadata().ok()?.dev();
            Some((file, device))
        });
        Arc::new(Flusher {
            policy,
            state: Mutex::new(FlushState {
                dirty: Vec::new(),
                window_pass: Vec::new(),
                next_gen: 1,
                stop: false,
            }),
            wake: Condvar::new(),
            durable_tx,
            fdatasync_count: AtomicU64::new(0),
            filesystem,
            cache_window_bytes,
        })
    }

    /// How much of each partition's newest synced data stays in the page
    /// cache; `None` leaves the cache to the kernel.
    pub fn cache_window_bytes(&self) -> Option<u64> {
        self.cache_window_bytes
    }

    pub fn policy(&self) -> FlushPolicy {
        self.policy
    }

    fn lock(&self) -> MutexGuard<'_, FlushState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `partition` for the next cycle and returns that cycle's number.
    /// `urgent` wakes the flusher now (always under `Always`; on roll).
    pub fn mark_dirty(&self, partition: &Arc<Partition>, urgent: bool) -> u64 {
        let mut state = self.lock();
        if !partition.flush_queued.swap(true, Ordering::AcqRel) {
            state.dirty.push(partition.clone());
        }
        let is_interval = matches!(self.policy, FlushPolicy::IntervalMs(_));
        if urgent && !is_interval || matches!(self.policy, FlushPolicy::Always) {
            self.wake.notify_one();
        }
        state.next_gen
    }

    /// Whether appends queue window passes: under `Never` with a page-cache
    /// window, where no flush cycle runs to drop what the window leaves.
    pub fn window_passes(&self) -> bool {
        self.policy == FlushPolicy::Never && self.cache_window_bytes.is_some()
    }

    /// Queues `partition` for the next window pass; see [`Self::run`].
    pub fn queue_window_pass(&self, partition: Arc<Partition>) {
        let mut state = self.lock();
        if state.window_pass.is_empty() {
            self.wake.notify_one();
        }
        state.window_pass.push(partition);
    }

    /// Counts fdatasync calls (exposed for tests and metrics).
    pub fn note_fdatasync(&self) {
        self.fdatasync_count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fdatasync_count(&self) -> u64 {
        self.fdatasync_count.load(Ordering::Relaxed)
    }

    /// The flusher thread body; returns after the cycle that follows `stop`.
    /// It starts the threads that help it sync each cycle's files, and
    /// stops and joins them before it returns.
    ///
    /// Under `Never` with a page-cache window it also runs a window pass
    /// every [`WINDOW_PASS_INTERVAL`] while partitions are appended to: see
    /// `Partition::drop_unsynced_behind_window`.
    pub fn run(self: Arc<Self>) {
        let pool = SyncPool::default();
        let counted = || self.note_fdatasync();
        std::thread::scope(|scope| {
            // Stops the helpers even if a cycle panics, so the scope's join
            // cannot wait on them forever.
            let _stop = StopOnDrop(&pool);
            for i in 1..=SYNC_HELPERS_MAX {
                let helper = std::thread::Builder::new()
                    .name(format!("weir-sync-{i}"))
                    .spawn_scoped(scope, || pool.help(&counted));
                match helper {
                    Ok(_) => pool.add_helper(),
                    Err(error) => {
                        // Fewer helpers only means fewer syncs at once.
                        tracing::warn!(%error, helpers = i - 1, "cannot start a sync thread");
                        break;
                    }
                }
            }
            self.serve(&pool);
        });
    }

    /// Runs flush cycles (and window passes) until the cycle after `stop`.
    fn serve(&self, pool: &SyncPool) {
        let mut last_cycle = Instant::now();
        loop {
            let (batch, generation, stopping) = match self.next_cycle(last_cycle) {
                Next::Cycle(batch, generation, stopping) => (batch, generation, stopping),
                Next::WindowPass(partitions, window) => {
                    for partition in partitions {
                        partition.window_queued.store(false, Ordering::Release);
                        let again = partition.drop_unsynced_behind_window(window);
                        if again && !partition.window_queued.swap(true, Ordering::AcqRel) {
                            self.queue_window_pass(partition);
                        }
                    }
                    continue;
                }
            };
            last_cycle = Instant::now();
            let (result, aftercare) = self.sync_cycle(&batch, Syncing::Concurrently(pool));
            let failure = result.err().map(|e| Arc::from(e.to_string()));
            self.durable_tx.send_modify(|d| {
                if failure.is_some() && d.failure.is_none() {
                    d.failure = failure.clone();
                }
                if d.failure.is_none() {
                    d.synced_gen = generation;
                }
                d.stopped |= stopping;
            });
            for (partition, aftercare) in batch.iter().zip(aftercare) {
                partition.after_flush(aftercare);
            }
            if stopping {
                return;
            }
        }
    }

    /// Makes durable what `partitions` hold unsynced as one cycle of their
    /// own, outside the flusher thread: partitions just opened (see
    /// [`Partition::open`]; after a crash every one has rewritten its tail's
    /// index files) or being closed at shutdown. A thousand partitions then
    /// cost one syncfs instead of two or three fdatasyncs and a directory
    /// fsync each. A failure fails the opening or the shutdown, and marks
    /// the store as unable to make anything durable, as a failed cycle does.
    /// Returns the partitions it synced, each with its aftercare.
    pub fn sync_now(
        &self,
        partitions: &[Arc<Partition>],
    ) -> Result<Vec<(Arc<Partition>, Aftercare)>, LogError> {
        let batch: Vec<Arc<Partition>> = partitions
            .iter()
            .filter(|p| p.has_unsynced())
            .cloned()
            .collect();
        let (result, aftercare) = self.sync_cycle(&batch, Syncing::InBulk);
        if let Err(error) = result {
            let failure: Arc<str> = Arc::from(error.to_string());
            self.durable_tx
                .send_modify(|d| _ = d.failure.get_or_insert(failure));
            return Err(error);
        }
        Ok(batch.into_iter().zip(aftercare).collect())
    }

    /// Makes one cycle's partitions durable and moves their durable ends.
    /// Every partition is attempted; the first error is returned, with each
    /// partition's aftercare (none for one whose sync failed) to run once
    /// the cycle is published.
    fn sync_cycle(
        &self,
        batch: &[Arc<Partition>],
        syncing: Syncing<'_>,
    ) -> (Result<(), LogError>, Vec<Aftercare>) {
        let plans: Vec<FlushPlan> = batch.iter().map(|p| p.begin_flush()).collect();
        let synced = match syncing {
            Syncing::Concurrently(pool) => self.sync_concurrently(pool, batch, &plans),
            Syncing::InBulk => self.sync_in_bulk(batch, &plans),
        };
        let mut first_error = None;
        let mut aftercare = Vec::with_capacity(batch.len());
        for ((partition, plan), synced) in batch.iter().zip(plans).zip(synced) {
            match synced {
                Ok(()) => aftercare.push(partition.finish_flush(plan, self)),
                Err(e) => {
                    aftercare.push(Aftercare::default());
                    tracing::error!(
                        dir = %partition.dir().display(),
                        error = %e,
                        "sync failed: the disk may have lost acknowledged writes; refusing further durability claims"
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        (first_error.map_or(Ok(()), Err), aftercare)
    }

    /// fdatasyncs every plan's files on the pool; returns each partition's
    /// outcome (its first failed unit, if any).
    fn sync_concurrently(
        &self,
        pool: &SyncPool,
        batch: &[Arc<Partition>],
        plans: &[FlushPlan],
    ) -> Vec<Result<(), LogError>> {
        let mut units = Vec::new();
        let mut owners = Vec::new();
        for (i, (partition, plan)) in batch.iter().zip(plans).enumerate() {
            let before = units.len();
            units.extend(partition.sync_units(plan));
            owners.resize(units.len(), i);
            debug_assert!(owners.len() - before == plan.file_count());
        }
        let mut synced: Vec<Result<(), LogError>> = batch.iter().map(|_| Ok(())).collect();
        let counted = || self.note_fdatasync();
        for (owner, result) in owners.into_iter().zip(pool.sync_all(units, &counted)) {
            if let (Err(e), Ok(())) = (result, &synced[owner]) {
                synced[owner] = Err(e);
            }
        }
        synced
    }

    /// One syncfs for the partitions on the data directory's filesystem if
    /// they have [`SYNCFS_MIN_FILES`] or more files to sync, one fdatasync
    /// per file otherwise and for partitions elsewhere; returns each
    /// partition's outcome.
    fn sync_in_bulk(
        &self,
        batch: &[Arc<Partition>],
        plans: &[FlushPlan],
    ) -> Vec<Result<(), LogError>> {
        let device = self.filesystem.as_ref().map(|(_, device)| *device);
        let shared = |p: &Partition| Some(p.device) == device;
        let shared_files: usize = batch
            .iter()
            .zip(plans)
            .filter(|(p, _)| shared(p))
            .map(|(_, plan)| plan.file_count())
            .sum();
        let mut synced_together = None;
        if shared_files >= SYNCFS_MIN_FILES {
            if let Some((dir, _)) = &self.filesystem {
                let result = rustix::fs::syncfs(dir).map_err(io::Error::from);
                self.note_fdatasync();
                synced_together = Some(result);
            }
        }
        batch
            .iter()
            .zip(plans)
            .map(|(partition, plan)| match &synced_together {
                Some(result) if shared(partition) => result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| LogError::Io(io::Error::new(e.kind(), format!("syncfs: {e}")))),
                _ => partition.sync_each(plan, self),
            })
            .collect()
    }

    /// Waits for work (or the interval), then takes the dirty set; or,
    /// under `Never`, the partitions due a window pass.
    fn next_cycle(&self, last_cycle: Instant) -> Next {
        let mut state = self.lock();
        while !state.stop {
            match self.policy {
                FlushPolicy::IntervalMs(ms) => {
                    let due = last_cycle + Duration::from_millis(ms);
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    state = self
                        .wake
                        .wait_timeout(state, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                FlushPolicy::Always | FlushPolicy::Never => {
                    if !state.dirty.is_empty() {
                        break;
                    }
                    if state.window_pass.is_empty() {
                        state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                    let (next, timeout) = self
                        .wake
                        .wait_timeout(state, WINDOW_PASS_INTERVAL)
                        .unwrap_or_else(|e| e.into_inner());
                    state = next;
                    if let Some(window) = self.cache_window_bytes {
                        if timeout.timed_out() && state.dirty.is_empty() && !state.stop {
                            return Next::WindowPass(
                                std::mem::take(&mut state.window_pass),
                                window,
                            );
                        }
                    }
                }
            }
        }
        let batch = std::mem::take(&mut state.dirty);
        for partition in &batch {
            partition.flush_queued.store(false, Ordering::Release);
        }
        let generation = state.next_gen;
        state.next_gen += 1;
        Next::Cycle(batch, generation, state.stop)
    }

    /// Asks the thread to run one last cycle and exit.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }

    /// Resolves once cycle `generation` has synced, or fails if syncing
    /// failed or the flusher stopped first.
    pub async fn wait(&self, generation: u64) -> Result<(), LogError> {
        let mut rx = self.durable_tx.subscribe();
        let state = rx
            .wait_for(|d| d.synced_gen >= generation || d.failure.is_some() || d.stopped)
            .await
            .map_err(|_| io::Error::other("flusher is gone"))?
            .clone();
        if state.synced_gen >= generation {
            return Ok(());
        }
        let why = match state.failure {
            Some(f) => format!("fdatasync failed, write not durable: {f}"),
            None => "store shut down before the write was flushed".to_string(),
        };
        Err(LogError::Io(io::Error::other(why)))
    }
}

/// Stops the pool's helpers when dropped.
struct StopOnDrop<'a>(&'a SyncPool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}
