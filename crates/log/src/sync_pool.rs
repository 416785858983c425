//! The threads that make one flush cycle's files durable at once: the
//! flusher thread and up to [`SYNC_HELPERS_MAX`] helpers each take the next
//! file (or directory) not yet taken and fdatasync it, so a cycle waits for
//! its slowest sync rather than for the sum of them, and on a journaling
//! filesystem concurrent fdatasyncs share one journal commit.
//!
//! It replaced syncfs(2) in the flusher's cycles: one syncfs also writes
//! back every other program's dirty data on the filesystem, and a produce
//! waits for that. Beside a `dd` writing 6 GB to the same ext4 filesystem,
//! durable produce p99 at 100 MB/s over 8 partitions was 774-887 ms with
//! syncfs in three rounds of four (8 ms in the other), 7.5-12.9 ms in every
//! round with concurrent fdatasyncs, and 43-56 ms with them one after
//! another. Alone, the two cost the machine the same: 1.92-2.09 CPU-seconds
//! per GB produced at full rate with syncfs, 1.92-2.00 this way (more of it
//! is the broker's, since its threads now do the writeback that syncfs left
//! to the kernel's).
//!
//! What to sync and what a sync means for a partition is not here: see
//! `partition/durability.rs`. The helpers are started and stopped by
//! [`crate::flush::Flusher::run`], which owns them.

use crate::partition::SyncUnit;
use crate::LogError;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Most helper threads beside the flusher thread. They spend their time
/// waiting on the disk, not on a core, so more of them than cores is
/// fine. Eight syncs in flight kept syncfs's throughput on the 2-core
/// development VM (1 KiB records at full rate: 8 partitions 881-969 MB/s
/// against 849-983, 64 partitions 764-827 against 530-866; 1,000
/// partitions keyed, 221-325k records/s against 214-282k), and 32 were no
/// faster (196-283k).
pub(crate) const SYNC_HELPERS_MAX: usize = 7;

#[derive(Default)]
pub(crate) struct SyncPool {
    job: Mutex<Job>,
    /// Wakes helpers: a new cycle's units, or stop.
    work: Condvar,
    /// Wakes the flusher thread: the cycle's last unit is done.
    done: Condvar,
}

/// The cycle being synced; empty between cycles.
#[derive(Default)]
struct Job {
    units: Vec<SyncUnit>,
    /// The first unit nobody has taken yet.
    next: usize,
    /// Units whose sync has returned.
    finished: usize,
    /// Each unit's outcome, filled in as they finish.
    results: Vec<Option<Result<(), LogError>>>,
    /// Helper threads running `help`.
    helpers: usize,
    stop: bool,
}

impl SyncPool {
    fn lock(&self) -> MutexGuard<'_, Job> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a helper that is about to run [`Self::help`], so cycles wake it.
    pub(crate) fn add_helper(&self) {
        self.lock().helpers += 1;
    }

    /// A helper thread's body: syncs units of each cycle until [`Self::stop`].
    /// `synced` is called once per sync that returned.
    pub(crate) fn help(&self, synced: &(dyn Fn() + Sync)) {
        let mut job = self.lock();
        while !job.stop {
            let took;
            (job, took) = self.sync_next(job, synced);
            if !took {
                job = self.work.wait(job).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Makes the helpers return once they finish the unit in hand.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.work.notify_all();
    }

    /// Syncs every unit, on the calling thread and the helpers, and returns
    /// each unit's outcome in order. A unit that fails does not stop the
    /// others. One caller at a time: only the flusher thread calls it.
    pub(crate) fn sync_all(
        &self,
        units: Vec<SyncUnit>,
        synced: &(dyn Fn() + Sync),
    ) -> Vec<Result<(), LogError>> {
        let count = units.len();
        let mut job = self.lock();
        assert!(job.units.is_empty(), "one cycle at a time");
        job.results = (0..count).map(|_| None).collect();
        job.units = units;
        job.next = 0;
        job.finished = 0;
        // The caller takes a unit too, so a cycle of one file wakes nobody.
        for _ in 1..count.min(job.helpers + 1) {
            self.work.notify_one();
        }
        loop {
            let took;
            (job, took) = self.sync_next(job, synced);
            if !took {
                break;
            }
        }
        while job.finished < count {
            job = self.done.wait(job).unwrap_or_else(|e| e.into_inner());
        }
        job.units.clear();
        let results = std::mem::take(&mut job.results);
        drop(job);
        let results: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(results.len(), count, "every unit has an outcome");
        results
    }

    /// Takes the next unit, if any is left, and syncs it with the lock
    /// released. Returns the lock again, and whether it synced a unit.
    fn sync_next<'a>(
        &'a self,
        mut job: MutexGuard<'a, Job>,
        synced: &(dyn Fn() + Sync),
    ) -> (MutexGuard<'a, Job>, bool) {
        let Some(unit) = job.units.get(job.next).cloned() else {
            return (job, false);
        };
        let index = job.next;
        job.next += 1;
        drop(job);
        let result = unit.sync();
        synced();
        let mut job = self.lock();
        job.results[index] = Some(result);
        job.finished += 1;
        if job.finished == job.units.len() {
            self.done.notify_one();
        }
        (job, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Runs `units` through a pool with `helpers` helper threads; returns
    /// which units succeeded and how many syncs were counted.
    fn run(helpers: usize, units: Vec<SyncUnit>) -> (Vec<bool>, usize) {
        let pool = SyncPool::default();
        let counted = AtomicUsize::new(0);
        let synced = || {
            counted.fetch_add(1, Ordering::Relaxed);
        };
        let outcomes = std::thread::scope(|scope| {
            for _ in 0..helpers {
                pool.add_helper();
                scope.spawn(|| pool.help(&synced));
            }
            // Two cycles in a row, as the flusher runs them.
            let first = pool.sync_all(units.clone(), &synced);
            let second = pool.sync_all(units, &synced);
            pool.stop();
            assert_eq!(
                first.iter().map(Result::is_ok).collect::<Vec<_>>(),
                second.iter().map(Result::is_ok).collect::<Vec<_>>()
            );
            first
        });
        let ok = outcomes.iter().map(Result::is_ok).collect();
        (ok, counted.load(Ordering::Relaxed))
    }

    #[test]
    fn every_unit_gets_its_own_outcome_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let path = dir.path().join(name);
            SyncUnit::File(Arc::new(File::create(path).unwrap()))
        };
        let good_dir = SyncUnit::Dir(dir.path().to_path_buf());
        let missing_dir = SyncUnit::Dir(dir.path().join("missing"));
        // (helpers, units, which succeed)
        let cases: Vec<(usize, Vec<SyncUnit>, Vec<bool>)> = vec![
            (0, vec![], vec![]),
            (3, vec![], vec![]),
            (0, vec![file("a")], vec![true]),
            (0, vec![file("a"), missing_dir.clone()], vec![true, false]),
            (1, vec![missing_dir.clone(), file("b")], vec![false, true]),
            (
                SYNC_HELPERS_MAX,
                vec![file("a"), missing_dir.clone(), good_dir.clone(), file("c")],
                vec![true, false, true, true],
            ),
            (
                2,
                (0..40).map(|i| file(&format!("f{i}"))).collect(),
                vec![true; 40],
            ),
        ];
        for (helpers, units, expected) in cases {
            let count = units.len();
            let (ok, counted) = run(helpers, units);
            assert_eq!(ok, expected, "{helpers} helpers");
            assert_eq!(counted, 2 * count, "every sync counted once per cycle");
        }
    }
}
