//! A partition's side of a flush cycle (what to sync, then moving the
//! durable end and the high watermark), the small files written after it
//! (recovery point, producer snapshot), clean close, and the optional
//! page-cache window. The cycle itself is run by `flush.rs`.
//!
//! The small files and the page-cache window are [`Aftercare`]: the
//! flusher does them after it has told waiting produce requests their data
//! is durable, because neither makes anything durable and both take time
//! (dropping 4 MiB of cache is about half a millisecond here).

use super::window::{advise_drop, cache_ranges_to_drop};
use super::{Boundary, Partition, State};
use crate::checkpoint::{self, RecoveryPoint, RecoveryPointFile};
use crate::flush::Flusher;
use crate::{FlushPolicy, LogError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Least time between two recovery-point writes by the flusher.
const RECOVERY_POINT_INTERVAL: Duration = Duration::from_secs(1);

/// One partition's part of a flush cycle; see [`Partition::begin_flush`].
pub(crate) struct FlushPlan {
    files: Vec<Arc<File>>,
    end: Boundary,
    sealed_synced: bool,
    sync_dir: bool,
}

/// What a flush leaves for after its waiters are answered; see
/// [`Partition::after_flush`].
#[derive(Default)]
#[must_use = "pass it to Partition::after_flush"]
pub(crate) struct Aftercare {
    /// The recovery point (and maybe the producer snapshot) is due.
    checkpoints: bool,
    /// Synced ranges behind the page-cache window: (file, position, length).
    cache_to_drop: Vec<(Arc<File>, u64, u64)>,
}

impl FlushPlan {
    /// Files to sync, the directory counted as one.
    pub(crate) fn file_count(&self) -> usize {
        self.files.len() + usize::from(self.sync_dir)
    }
}

/// One thing a flush makes durable on its own: a segment file written to,
/// or a partition directory whose entries changed (a new segment).
#[derive(Clone)]
pub(crate) enum SyncUnit {
    File(Arc<File>),
    Dir(PathBuf),
}

impl SyncUnit {
    /// fdatasync for a file, fsync for a directory.
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        match self {
            SyncUnit::File(file) => file.sync_data()?,
            SyncUnit::Dir(dir) => checkpoint::sync_dir_at(dir)?,
        }
        Ok(())
    }
}

impl Partition {
    /// Whether a flush would sync anything: files or the directory not yet
    /// synced, or appended bytes past the durable end.
    pub fn has_unsynced(&self) -> bool {
        let state = self.lock();
        !state.unsynced.is_empty() || state.dir_unsynced || state.end() != state.durable
    }

    /// What a flush must make durable, taken from the state: the files
    /// written since the last flush and the end they reach.
    pub(crate) fn begin_flush(&self) -> FlushPlan {
        let mut state = self.lock();
        let sync_dir = std::mem::take(&mut state.dir_unsynced);
        let mut files = std::mem::take(&mut state.unsynced);
        let sealed_synced = !files.is_empty();
        let end = state.end();
        if end != state.durable {
            files.push(state.active().log.clone());
        }
        FlushPlan {
            files,
            end,
            sealed_synced,
            sync_dir,
        }
    }

    /// What the plan makes durable, one unit per fdatasync: its files, then
    /// the directory if entries changed.
    pub(crate) fn sync_units<'a>(
        &'a self,
        plan: &'a FlushPlan,
    ) -> impl Iterator<Item = SyncUnit> + 'a {
        let files = plan.files.iter().map(|file| SyncUnit::File(file.clone()));
        let dir = plan.sync_dir.then(|| SyncUnit::Dir(self.dir.clone()));
        files.chain(dir)
    }

    /// fdatasyncs the plan's files (and the directory if entries changed)
    /// one by one, on the calling thread.
    pub(crate) fn sync_each(&self, plan: &FlushPlan, flusher: &Flusher) -> Result<(), LogError> {
        for unit in self.sync_units(plan) {
            unit.sync()?;
            flusher.note_fdatasync();
        }
        Ok(())
    }

    /// Called once the plan's files are on disk: moves the durable end and,
    /// under `Always`, the high watermark. Returns what is left to do once
    /// waiters have been answered; see [`Partition::after_flush`].
    pub(crate) fn finish_flush(&self, plan: FlushPlan, flusher: &Flusher) -> Aftercare {
        let FlushPlan {
            end, sealed_synced, ..
        } = plan;
        let mut state = self.lock();
        if end.offset >= state.durable.offset {
            state.durable = end;
        }
        if flusher.policy() == FlushPolicy::Always {
            self.advance_high_watermark(&mut state, end);
        }
        if state.deleted {
            return Aftercare::default();
        }
        let cache_to_drop = match flusher.cache_window_bytes() {
            Some(window) => {
                let durable = state.durable;
                cache_ranges_to_drop(&mut state, window, durable)
            }
            None => Vec::new(),
        };
        let due = state
            .last_recovery_point
            .is_none_or(|t| t.elapsed() >= RECOVERY_POINT_INTERVAL);
        Aftercare {
            checkpoints: due || sealed_synced,
            cache_to_drop,
        }
    }

    /// Writes the recovery point (and producer snapshot) when due and drops
    /// synced data behind the page-cache window. Never fails: the data is
    /// durable whether or not these land, so a failure (a full disk, say)
    /// only makes the next recovery check more. Failing the flush instead
    /// would stop the store from acknowledging anything again.
    pub(crate) fn after_flush(&self, aftercare: Aftercare) {
        self.aftercare(aftercare, true);
    }

    /// [`Partition::after_flush`] for the sync that follows opening (see
    /// [`Flusher::sync_now`]), minus the producer snapshot: that can wait
    /// for the first flush cycle, and writing it costs every partition a
    /// file rename before the broker can start.
    pub(crate) fn after_open(&self, aftercare: Aftercare) {
        self.aftercare(aftercare, false);
    }

    fn aftercare(&self, aftercare: Aftercare, producer_snapshot: bool) {
        if aftercare.checkpoints {
            let mut state = self.lock();
            if !state.deleted {
                match self.write_checkpoints(&mut state, producer_snapshot) {
                    Ok(()) => state.last_recovery_point = Some(Instant::now()),
                    Err(error) => tracing::warn!(
                        dir = %self.dir.display(),
                        %error,
                        "could not write the recovery point or producer snapshot; will retry"
                    ),
                }
            }
        }
        advise_drop(&aftercare.cache_to_drop);
    }

    /// The recovery point, and the producer snapshot when it is due (and
    /// `producer_snapshot` allows it).
    fn write_checkpoints(
        &self,
        state: &mut State,
        producer_snapshot: bool,
    ) -> Result<(), LogError> {
        write_recovery_point(&self.dir, state)?;
        if producer_snapshot && state.producers.snapshot_due(state.active().base_offset) {
            write_producer_snapshot(&self.dir, state)?;
        }
        Ok(())
    }

    /// First step of a clean shutdown: writes the active segment's index
    /// files (unless those on disk already match) and leaves them, with
    /// anything else not yet synced, for one [`Flusher::sync_now`] over
    /// every partition; then [`Self::after_close`].
    pub(crate) fn prepare_close(&self) -> Result<(), LogError> {
        let mut state = self.lock();
        if state.deleted {
            return Ok(());
        }
        let active = state.active_mut();
        active.push_time_entry();
        active.release_preallocation();
        if !active.index_files_current() {
            let index_files = active.write_index_files(&self.dir)?;
            state.unsynced.extend(index_files);
        }
        Ok(())
    }

    /// Last step of a clean shutdown, once everything is synced: the
    /// recovery point, and the producer snapshot unless the one on disk
    /// already covers the log.
    pub(crate) fn after_close(&self) -> Result<(), LogError> {
        let mut state = self.lock();
        if state.deleted {
            return Ok(());
        }
        write_recovery_point(&self.dir, &mut state)?;
        let end = state.end().offset;
        if !state.producers.snapshot_covers(end) {
            write_producer_snapshot(&self.dir, &mut state)?;
        }
        Ok(())
    }
}

/// Records the durable end as the recovery point: in place once the file
/// is open, else by creating it.
fn write_recovery_point(dir: &Path, state: &mut State) -> Result<(), LogError> {
    let d = state.durable;
    let point = RecoveryPoint {
        segment_base: d.segment_base,
        position: d.position,
        next_offset: d.offset,
    };
    match &state.recovery_point_file {
        Some(file) => file.write(point)?,
        None => state.recovery_point_file = Some(RecoveryPointFile::open(dir, point)?),
    }
    Ok(())
}

fn write_producer_snapshot(dir: &Path, state: &mut State) -> Result<(), LogError> {
    let end = state.end().offset;
    state.producers.write_snapshot(dir, end)
}
