//! The page-cache window: which synced bytes the flusher tells the kernel to
//! drop from the page cache after a cycle (see `StoreOptions::
//! page_cache_window_bytes`), and the readers that hold some of them back.
//!
//! A partition keeps its newest `window` synced bytes cached. A reader a
//! little further behind, such as a consumer that fell a few seconds behind
//! a busy producer, would otherwise find everything it has yet to read
//! dropped and read it all from disk: slower than from memory, so it falls
//! further behind and never gets back into the window. So the lowest
//! position read in the last one to two [`READER_EPOCH`]s also holds the
//! window back, as long as it is at most [`READER_HOLD_WINDOWS`] windows
//! behind the durable end. Readers further behind than that are replaying
//! history; they read from disk, with read-ahead (`partition/read.rs`).
//!
//! Drops are planned after each flush cycle from the durable end; under
//! `flush=never`, where no cycle syncs anything, from the log end in the
//! flusher's window passes (`Partition::drop_unsynced_behind_window`).

use super::{Boundary, Partition, State};
use std::fs::File;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Synced bytes are dropped from the page cache in steps of at least this
/// much, so a busy partition makes a few fadvise calls a second, not one per
/// flush.
const CACHE_DROP_STEP_BYTES: u64 = 4 << 20;

/// Most bytes one partition drops in one cycle. A reader that stops holding
/// the window back can leave a gigabyte to drop; advising that at once
/// (about 0.12 s here) would hold up the next cycle and every produce
/// waiting on it. The rest goes in the following cycles.
const CACHE_DROP_MAX_BYTES: u64 = 8 * CACHE_DROP_STEP_BYTES;

/// How long a read holds the window back: positions read in the current
/// epoch and the one before count, so one to two epochs.
const READER_EPOCH: Duration = Duration::from_secs(1);

/// How many windows behind the durable end a reader may be and still hold
/// the window back (with a 64 MiB window: 1 GiB).
const READER_HOLD_WINDOWS: u64 = 16;

/// A byte in the log: `position` in the segment based at `segment_base`.
/// Orders as the log does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LogPosition {
    pub segment_base: i64,
    pub position: u64,
}

impl From<Boundary> for LogPosition {
    fn from(b: Boundary) -> Self {
        LogPosition {
            segment_base: b.segment_base,
            position: b.position,
        }
    }
}

/// The lowest positions read in the current and the previous epoch.
#[derive(Debug, Default)]
pub(crate) struct ReaderFloor {
    current: Option<LogPosition>,
    previous: Option<LogPosition>,
    epoch_started: Option<Instant>,
}

impl ReaderFloor {
    /// Notes a read starting at `at`.
    pub fn note(&mut self, at: LogPosition) {
        self.current = Some(self.current.map_or(at, |c| c.min(at)));
    }

    /// The lowest position read in the last one to two epochs as of `now`,
    /// moving to a new epoch first if the current one is over. Epochs move
    /// only here, once per flush cycle, so after a quiet spell the reads
    /// noted since the last cycle count as the previous epoch's: a stale
    /// read holds the window one epoch longer rather than a fresh one not
    /// at all.
    fn floor(&mut self, now: Instant) -> Option<LogPosition> {
        let started = *self.epoch_started.get_or_insert(now);
        if now.saturating_duration_since(started) >= READER_EPOCH {
            self.previous = self.current.take();
            self.epoch_started = Some(now);
        }
        self.current.into_iter().chain(self.previous).min()
    }
}

impl Partition {
    /// A window pass under `flush=never`, where nothing is synced for the
    /// flush cycles to drop: advises the kernel to drop what lies behind the
    /// window before the log end. Those pages are still dirty, so the
    /// advice only starts their writeback; the same ranges are advised
    /// again in the next pass, when they are clean and go. Without this the
    /// page cache grows with every write, into fresh memory, which on the
    /// VMs the window is for made `flush=never` slower than `always`.
    /// Returns whether it advised new ranges, which the next pass must
    /// advise again.
    pub(crate) fn drop_unsynced_behind_window(&self, window: u64) -> bool {
        let (ranges, fresh) = {
            let mut state = self.lock();
            if state.deleted {
                return false;
            }
            let end = state.end();
            let fresh = cache_ranges_to_drop(&mut state, window, end);
            let again = std::mem::replace(&mut state.window_advised, fresh.clone());
            let count = fresh.len();
            (again.into_iter().chain(fresh).collect::<Vec<_>>(), count)
        };
        advise_drop(&ranges);
        fresh > 0
    }
}

/// Tells the kernel the ranges' pages are not needed. Advice only: pages it
/// cannot drop yet (dirty, under writeback, mapped) stay cached.
pub(crate) fn advise_drop(ranges: &[(Arc<File>, u64, u64)]) {
    for (file, position, len) in ranges {
        let advice = rustix::fs::Advice::DontNeed;
        let _ = rustix::fs::fadvise(&**file, *position, NonZeroU64::new(*len), advice);
    }
}

/// What the window needs of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    base_offset: i64,
    size: u64,
    dropped_to: u64,
}

/// The page-cache ranges of `state`'s segments behind `window` bytes before
/// `end` (the durable end after a flush cycle; the log end in a window pass
/// under `flush=never`), as (file, position, length), each marked dropped.
pub(crate) fn cache_ranges_to_drop(
    state: &mut State,
    window: u64,
    end: Boundary,
) -> Vec<(Arc<File>, u64, u64)> {
    let floor = state.readers.floor(Instant::now());
    // Only segments from the last wholly dropped one before the durable
    // segment (or from the floor's, if older) can matter, so a partition
    // keeping a long history does not list it every cycle.
    let segments = &state.segments;
    let durable = state.segment_for(end.segment_base);
    let open = segments[..durable]
        .iter()
        .rposition(|s| s.cache_dropped_to >= s.size_bytes)
        .unwrap_or(0);
    let floor_segment = floor.and_then(|f| {
        segments
            .binary_search_by_key(&f.segment_base, |s| s.base_offset)
            .ok()
    });
    let start = floor_segment.map_or(open, |f| f.min(open));
    let extents: Vec<Extent> = segments[start..]
        .iter()
        .map(|s| Extent {
            base_offset: s.base_offset,
            size: s.size_bytes,
            dropped_to: s.cache_dropped_to,
        })
        .collect();
    drop_plan(&extents, end.into(), window, floor)
        .into_iter()
        .map(|(i, from, to)| {
            let segment = &mut state.segments[start + i];
            segment.cache_dropped_to = to;
            (segment.log.clone(), from, to - from)
        })
        .collect()
}

/// The ranges to drop, as (segment index, from, to), in log order: what is
/// not yet dropped below the window's start or the reader floor, whichever
/// is lower, at most [`CACHE_DROP_MAX_BYTES`] in all. The window starts
/// `window` bytes behind the durable end, once the durable segment alone
/// holds that much (so a partition keeps between `window` and `window` +
/// one segment cached). Within a segment only steps of at least
/// [`CACHE_DROP_STEP_BYTES`] are dropped, unless they finish it. Drops move
/// forward in log order only: every segment before a partly dropped one is
/// wholly dropped.
fn drop_plan(
    segments: &[Extent],
    durable: LogPosition,
    window: u64,
    floor: Option<LogPosition>,
) -> Vec<(usize, u64, u64)> {
    if durable.position < window {
        return Vec::new();
    }
    let mut keep = LogPosition {
        segment_base: durable.segment_base,
        position: durable.position - window,
    };
    if let Some(floor) = floor {
        let hold_max = window.saturating_mul(READER_HOLD_WINDOWS);
        let behind = bytes_between(segments, floor, durable);
        if floor < keep && behind.is_some_and(|b| b <= hold_max) {
            keep = floor;
        }
    }
    // The segment holding `keep`; none when it lies before the first.
    let Some(last) = segments
        .partition_point(|s| s.base_offset <= keep.segment_base)
        .checked_sub(1)
    else {
        return Vec::new();
    };
    let first = segments[..last]
        .iter()
        .rposition(|s| s.dropped_to >= s.size)
        .map_or(0, |done| done + 1);
    let mut budget = CACHE_DROP_MAX_BYTES;
    let mut ranges = Vec::new();
    for (i, segment) in segments.iter().enumerate().take(last + 1).skip(first) {
        let end = if i == last && segment.base_offset == keep.segment_base {
            keep.position.min(segment.size)
        } else {
            segment.size
        };
        let from = segment.dropped_to;
        if end <= from {
            continue;
        }
        let to = end.min(from + budget);
        if to < from + CACHE_DROP_STEP_BYTES && to < segment.size {
            // A short step: wait until it is worth a call. Later segments
            // wait too, so drops keep to log order.
            break;
        }
        budget -= to - from;
        ranges.push((i, from, to));
        if to < segment.size {
            break;
        }
    }
    ranges
}

/// Bytes from `from` to `to` (`to` not before `from`), or `None` if `from`
/// lies in a segment no longer there.
fn bytes_between(segments: &[Extent], from: LogPosition, to: LogPosition) -> Option<u64> {
    let i = segments
        .iter()
        .position(|s| s.base_offset == from.segment_base)?;
    let mut bytes = 0u64;
    let mut position = from.position;
    for segment in &segments[i..] {
        if segment.base_offset == to.segment_base {
            return Some(bytes + to.position.saturating_sub(position));
        }
        bytes += segment.size.saturating_sub(position);
        position = 0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn at(segment_base: i64, position: u64) -> LogPosition {
        LogPosition {
            segment_base,
            position,
        }
    }

    fn extent(base_offset: i64, size: u64, dropped_to: u64) -> Extent {
        Extent {
            base_offset,
            size,
            dropped_to,
        }
    }

    type Case<'a> = (
        &'a str,
        Vec<Extent>,
        LogPosition,
        Option<LogPosition>,
        Vec<(usize, u64, u64)>,
    );

    #[test]
    fn drops_what_lies_behind_the_window_or_the_lowest_recent_reader() {
        let window = 64 * MIB;
        let one = vec![extent(0, 200 * MIB, 0)];
        let two = vec![extent(0, 300 * MIB, 0), extent(1000, 100 * MIB, 0)];
        let partly = vec![extent(0, 300 * MIB, 290 * MIB), extent(1000, 100 * MIB, 0)];
        let cases: Vec<Case> = vec![
            // (what, segments, durable end, reader floor, expected drops)
            (
                "segment smaller than the window",
                one.clone(),
                at(0, 60 * MIB),
                None,
                vec![],
            ),
            (
                "under a step behind",
                one.clone(),
                at(0, 67 * MIB),
                None,
                vec![],
            ),
            (
                "a step behind",
                one.clone(),
                at(0, 68 * MIB),
                None,
                vec![(0, 0, 4 * MIB)],
            ),
            (
                "capped per cycle",
                one.clone(),
                at(0, 200 * MIB),
                None,
                vec![(0, 0, 32 * MIB)],
            ),
            (
                "goes on where the last drop ended",
                vec![extent(0, 200 * MIB, 100 * MIB)],
                at(0, 200 * MIB),
                None,
                vec![(0, 100 * MIB, 132 * MIB)],
            ),
            (
                "finishes the older segment first",
                partly.clone(),
                at(1000, 90 * MIB),
                None,
                vec![(0, 290 * MIB, 300 * MIB), (1, 0, 22 * MIB)],
            ),
            (
                "a sealed segment's short rest goes",
                partly.clone(),
                at(1000, 64 * MIB),
                None,
                vec![(0, 290 * MIB, 300 * MIB)],
            ),
            (
                "a reader inside the window holds nothing",
                one.clone(),
                at(0, 100 * MIB),
                Some(at(0, 90 * MIB)),
                vec![(0, 0, 32 * MIB)],
            ),
            (
                "a reader behind the window holds it back",
                one.clone(),
                at(0, 100 * MIB),
                Some(at(0, 10 * MIB)),
                vec![(0, 0, 10 * MIB)],
            ),
            (
                "a reader under a step in holds everything",
                one.clone(),
                at(0, 100 * MIB),
                Some(at(0, 3 * MIB)),
                vec![],
            ),
            (
                "a reader in an older segment",
                two.clone(),
                at(1000, 90 * MIB),
                Some(at(0, 250 * MIB)),
                vec![(0, 0, 32 * MIB)],
            ),
            (
                "a reader in an older segment dropped up to it",
                vec![extent(0, 300 * MIB, 248 * MIB), extent(1000, 100 * MIB, 0)],
                at(1000, 90 * MIB),
                Some(at(0, 250 * MIB)),
                vec![],
            ),
            (
                "a reader more than 16 windows behind holds nothing",
                vec![extent(0, 2000 * MIB, 900 * MIB), extent(5000, 100 * MIB, 0)],
                at(5000, 100 * MIB),
                Some(at(0, 950 * MIB)),
                vec![(0, 900 * MIB, 932 * MIB)],
            ),
            (
                "a reader in a segment retention deleted holds nothing",
                vec![extent(1000, 200 * MIB, 0)],
                at(1000, 200 * MIB),
                Some(at(0, 10 * MIB)),
                vec![(0, 0, 32 * MIB)],
            ),
        ];
        for (what, segments, durable, floor, want) in cases {
            assert_eq!(drop_plan(&segments, durable, window, floor), want, "{what}");
        }
    }

    #[test]
    fn a_read_holds_the_window_for_one_to_two_epochs() {
        let start = Instant::now();
        let mut readers = ReaderFloor::default();
        assert_eq!(readers.floor(start), None);
        readers.note(at(0, 50));
        readers.note(at(0, 10));
        readers.note(at(0, 30));
        assert_eq!(readers.floor(start), Some(at(0, 10)));
        let next = start + READER_EPOCH;
        assert_eq!(
            readers.floor(next),
            Some(at(0, 10)),
            "the previous epoch counts"
        );
        readers.note(at(0, 70));
        assert_eq!(readers.floor(next), Some(at(0, 10)));
        assert_eq!(readers.floor(next + READER_EPOCH), Some(at(0, 70)));
        assert_eq!(readers.floor(next + 2 * READER_EPOCH), None);
        readers.note(at(0, 90));
        assert_eq!(
            readers.floor(next + 9 * READER_EPOCH),
            Some(at(0, 90)),
            "a read noted in a quiet spell counts for one more epoch"
        );
        assert_eq!(readers.floor(next + 10 * READER_EPOCH), None);
    }
}
