//! Idempotent-producer state of one partition: for each producer id, its
//! epoch and the metadata of its last few batches, used to refuse
//! out-of-order or fenced batches and to answer a retried batch with the
//! offsets it was first written at instead of writing it twice. Also the
//! snapshot file that carries this table across restarts, and its rebuild
//! from batch headers. The rules follow Kafka's `ProducerAppendInfo` and
//! `ProducerStateEntry`. Transactions (markers, ongoing transactions) are not
//! here; neither is producer-id allocation (`producer_ids.rs`).

use crate::checkpoint::replace_unsynced;
use crate::segment::{find_batch, read_header, Segment};
use crate::LogError;
use records::{BatchHeader, BATCH_HEADER_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

/// Batches remembered per producer for duplicate detection. Kafka keeps 5,
/// and clients cap in-flight requests per partition at 5 for idempotence.
pub(crate) const BATCHES_PER_PRODUCER: usize = 5;
/// Most producer ids remembered per partition; the least recently used is
/// forgotten first. A forgotten producer's next batch is accepted with any
/// sequence (as Kafka does for a producer whose state has expired).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 10_000;
/// Kafka's `producer.id.expiration.ms` default (one day): a producer that
/// has not appended for this long is forgotten.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;
/// The snapshot file in each partition directory.
pub(crate) const SNAPSHOT_FILE: &str = "producer-state.json";
/// Least time between two snapshots of a table that only changed. A start
/// after a crash replays the batch headers written since the snapshot, which
/// recovery has just read (so they are cached); writing it every second
/// instead cost a file create and rename per partition per second, most of
/// a flush cycle with a thousand partitions.
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(30);
const SNAPSHOT_VERSION: u32 = 1;

/// Where one appended batch of a producer landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp as stored (the append time on
    /// LogAppendTime topics).
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_PER_PRODUCER`], all of `epoch`.
    pub batches: VecDeque<BatchMeta>,
    /// Broker time of the last append (batch time when rebuilt from the log).
    pub last_append_ms: i64,
}

impl ProducerEntry {
    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::with_capacity(BATCHES_PER_PRODUCER),
            last_append_ms: -1,
        }
    }

    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    /// Records a batch; a new epoch forgets the old epoch's batches.
    fn add(&mut self, epoch: i16, batch: BatchMeta, now_ms: i64) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == BATCHES_PER_PRODUCER {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_append_ms = now_ms;
    }

    fn duplicate_of(&self, header: &BatchHeader) -> Option<BatchMeta> {
        if header.producer_epoch != self.epoch {
            return None;
        }
        let last_seq = last_sequence(header);
        self.batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == last_seq)
            .copied()
    }
}

/// The sequence of a batch's last record, wrapping past `i32::MAX` to 0.
pub(crate) fn last_sequence(header: &BatchHeader) -> i32 {
    let last = i64::from(header.base_sequence) + i64::from(header.last_offset_delta);
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

/// Whether `next` may follow `last` (sequences wrap from `i32::MAX` to 0).
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Checks one batch against its producer's entry as updated by the earlier
/// batches of the same append (`None` = a producer this partition does not
/// know). Kafka's rules: an older epoch is fenced; a newer epoch must start
/// at sequence 0; the same epoch must continue the last sequence; an
/// unknown producer may start anywhere (its state may have expired).
fn check_batch(entry: Option<&ProducerEntry>, header: &BatchHeader) -> Result<(), LogError> {
    let Some(entry) = entry else {
        return Ok(());
    };
    let pid = header.producer_id;
    let (epoch, seq) = (header.producer_epoch, header.base_sequence);
    if epoch < entry.epoch {
        return Err(LogError::InvalidProducerEpoch(format!(
            "producer {pid} sent epoch {epoch}, older than the current epoch {}",
            entry.epoch
        )));
    }
    if epoch != entry.epoch {
        if seq != 0 {
            return Err(LogError::OutOfOrderSequence(format!(
                "producer {pid} started epoch {epoch} at sequence {seq}, not 0"
            )));
        }
        return Ok(());
    }
    match entry.last_seq() {
        Some(last) if !in_sequence(last, seq) => Err(LogError::OutOfOrderSequence(format!(
            "producer {pid} epoch {epoch} sent sequence {seq}, expected {}",
            i64::from(last) + 1
        ))),
        _ => Ok(()),
    }
}

/// What the producer table says about an append.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Write it; then apply these entries.
    Append(Vec<(i64, ProducerEntry)>),
    /// A batch of it was already written here: answer with that batch and
    /// write nothing (as Kafka does).
    Duplicate(BatchMeta),
}

/// One batch of an append, with the offset it would be written at.
pub(crate) struct Incoming<'a> {
    pub header: &'a BatchHeader,
    pub base_offset: i64,
    pub timestamp_ms: i64,
}

/// Producer table of one partition.
#[derive(Debug)]
pub(crate) struct ProducerStates {
    entries: HashMap<i64, (ProducerEntry, u64)>,
    /// Recency order: use tick → producer id. The first is least recent.
    recency: BTreeMap<u64, i64>,
    tick: u64,
    /// Whether the table changed since the last snapshot.
    pub dirty: bool,
    /// The offset the last snapshot written or read covers (-1: none).
    pub snapshot_end: i64,
    /// When this process last wrote a snapshot.
    snapshot_written: Option<Instant>,
}

impl Default for ProducerStates {
    fn default() -> Self {
        ProducerStates {
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
            dirty: false,
            snapshot_end: -1,
            snapshot_written: None,
        }
    }
}

impl ProducerStates {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.entries.get(&producer_id).map(|(e, _)| e)
    }

    /// Validates every idempotent batch of an append without changing the
    /// table. `batches` are in append order, offsets already assigned.
    pub fn check(&self, batches: &[Incoming<'_>], now_ms: i64) -> Result<Verdict, LogError> {
        let mut updated: Vec<(i64, ProducerEntry)> = Vec::new();
        for batch in batches {
            let header = batch.header;
            let pid = header.producer_id;
            if pid < 0 {
                continue;
            }
            let current = self.entries.get(&pid).map(|(e, _)| e);
            if let Some(duplicate) = current.and_then(|e| e.duplicate_of(header)) {
                return Ok(Verdict::Duplicate(duplicate));
            }
            let slot = match updated.iter().position(|(id, _)| *id == pid) {
                Some(i) => {
                    // A later batch of the same append continues the earlier.
                    check_batch(Some(&updated[i].1), header)?;
                    i
                }
                None => {
                    check_batch(current, header)?;
                    let fresh = ProducerEntry::new(header.producer_epoch);
                    updated.push((pid, current.cloned().unwrap_or(fresh)));
                    updated.len() - 1
                }
            };
            let entry = &mut updated[slot].1;
            entry.add(header.producer_epoch, meta_of(batch), now_ms);
        }
        Ok(Verdict::Append(updated))
    }

    /// Applies the entries of a written append.
    pub fn apply(&mut self, updated: Vec<(i64, ProducerEntry)>) {
        for (pid, entry) in updated {
            self.put(pid, entry);
        }
    }

    fn put(&mut self, pid: i64, entry: ProducerEntry) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, old_tick)) = self.entries.insert(pid, (entry, tick)) {
            self.recency.remove(&old_tick);
        }
        self.recency.insert(tick, pid);
        while self.entries.len() > PRODUCERS_PER_PARTITION_MAX {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.dirty = true;
    }

    /// Forgets producers idle for [`PRODUCER_ID_EXPIRATION_MS`]. Walks from
    /// the least recently used and stops at the first one still live, so
    /// the cost is the number expired (plus one).
    pub fn expire(&mut self, now_ms: i64) {
        let deadline_ms = now_ms.saturating_sub(PRODUCER_ID_EXPIRATION_MS);
        while let Some((&tick, &pid)) = self.recency.first_key_value() {
            let idle = self
                .entries
                .get(&pid)
                .is_none_or(|(e, _)| e.last_append_ms <= deadline_ms);
            if !idle {
                break;
            }
            self.recency.remove(&tick);
            self.entries.remove(&pid);
            self.dirty = true;
        }
    }

    /// Replays a batch read back from the log (no validation: it was
    /// validated when written).
    pub fn replay(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.is_control() {
            return;
        }
        let incoming = Incoming {
            header,
            base_offset: header.base_offset,
            timestamp_ms: header.max_timestamp,
        };
        let mut entry = self
            .entries
            .get(&header.producer_id)
            .map(|(e, _)| e.clone())
            .unwrap_or_else(|| ProducerEntry::new(header.producer_epoch));
        entry.add(
            header.producer_epoch,
            meta_of(&incoming),
            header.max_timestamp,
        );
        self.put(header.producer_id, entry);
    }

    /// Writes the table, covering the log up to `end_offset` (exclusive),
    /// atomically to the partition directory.
    pub fn write_snapshot(&mut self, dir: &Path, end_offset: i64) -> Result<(), LogError> {
        // Oldest first, so loading in order restores the recency.
        let producers: Vec<SnapshotProducer> = self
            .recency
            .values()
            .filter_map(|pid| {
                self.entries.get(pid).map(|(entry, _)| SnapshotProducer {
                    producer_id: *pid,
                    entry: entry.clone(),
                })
            })
            .collect();
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            end_offset,
            producers,
        };
        let json = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
        // No fsync: `load` rebuilds from the log when the snapshot is
        // missing, unreadable or past the recovered log end, and any
        // version that survives describes a prefix of the log. This runs
        // under the partition lock, where an fsync would stall appends for
        // milliseconds.
        replace_unsynced(&dir.join(SNAPSHOT_FILE), &json)?;
        self.dirty = false;
        self.snapshot_end = end_offset;
        self.snapshot_written = Some(Instant::now());
        Ok(())
    }

    /// Whether the last snapshot written or loaded holds this table and
    /// covers the log up to `end_offset`, so writing another would change
    /// nothing.
    pub fn snapshot_covers(&self, end_offset: i64) -> bool {
        !self.dirty && self.snapshot_end == end_offset
    }

    /// Whether to write a snapshot now: it fell behind the active segment
    /// (so a start replays at most one segment of headers), or the table
    /// changed and the last snapshot is [`SNAPSHOT_INTERVAL`] old.
    pub fn snapshot_due(&self, active_base: i64) -> bool {
        self.snapshot_end < active_base
            || self.dirty
                && self
                    .snapshot_written
                    .is_none_or(|at| at.elapsed() >= SNAPSHOT_INTERVAL)
    }

    /// Loads the snapshot; `None` if missing, unreadable or from another
    /// version. Returns the table and the offset it covers.
    pub fn read_snapshot(dir: &Path) -> Option<(ProducerStates, i64)> {
        let bytes = std::fs::read(dir.join(SNAPSHOT_FILE)).ok()?;
        let snapshot: Snapshot = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "unreadable producer state snapshot");
                return None;
            }
        };
        if snapshot.version != SNAPSHOT_VERSION {
            return None;
        }
        let mut states = ProducerStates::default();
        for p in snapshot.producers {
            let sane = p.entry.batches.len() <= BATCHES_PER_PRODUCER && p.producer_id >= 0;
            if sane {
                states.put(p.producer_id, p.entry);
            }
        }
        states.dirty = false;
        states.snapshot_end = snapshot.end_offset;
        Some((states, snapshot.end_offset))
    }
}

fn meta_of(batch: &Incoming<'_>) -> BatchMeta {
    let header = batch.header;
    BatchMeta {
        first_seq: header.base_sequence,
        last_seq: last_sequence(header),
        first_offset: batch.base_offset,
        last_offset: batch.base_offset + i64::from(header.last_offset_delta),
        timestamp_ms: batch.timestamp_ms,
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotProducer {
    producer_id: i64,
    entry: ProducerEntry,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// Every batch below this offset is reflected in `producers`.
    end_offset: i64,
    producers: Vec<SnapshotProducer>,
}

/// Builds a partition's producer table at open: the snapshot, then every
/// batch header from the offset it covers to the log end. Without a usable
/// snapshot (missing, corrupt, or covering offsets a crash truncated away)
/// only the active segment's headers are replayed. That bound is
/// acceptable: state older than the active segment matters only for a
/// producer idle since before the last roll, and such a producer is treated
/// like one whose state expired (Kafka drops state on expiry too): its next
/// batch is accepted at any sequence. Start-up stays bounded by one segment.
pub(crate) fn load(
    dir: &Path,
    segments: &mut [Segment],
    index_interval_bytes: u32,
) -> ProducerStates {
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        return ProducerStates::default();
    };
    let (first_base, active_base, log_end) =
        (first.base_offset, last.base_offset, last.next_offset);
    let (mut states, from) = match ProducerStates::read_snapshot(dir) {
        Some((states, end)) if end <= log_end => (states, end.max(first_base)),
        Some((_, end)) => {
            tracing::warn!(dir = %dir.display(), snapshot_end = end, log_end, "producer state snapshot is past the log end; rebuilding from the active segment");
            (ProducerStates::default(), active_base)
        }
        None => (ProducerStates::default(), active_base),
    };
    if let Err(e) = replay_from(&mut states, dir, segments, from, index_interval_bytes) {
        tracing::error!(dir = %dir.display(), error = %e, "could not replay producer state; duplicates from before this start may be accepted");
    }
    states.dirty = true;
    states
}

/// Replays every batch header at or after `from` (a batch boundary).
fn replay_from(
    states: &mut ProducerStates,
    dir: &Path,
    segments: &mut [Segment],
    from: i64,
    index_interval_bytes: u32,
) -> std::io::Result<()> {
    for segment in segments.iter_mut().filter(|s| s.next_offset > from) {
        let mut position = 0;
        if segment.base_offset < from {
            segment.ensure_indexes(dir, index_interval_bytes);
            let start = segment.lookup(from);
            match find_batch(&segment.log, start, segment.size_bytes, from)? {
                Some((at, _)) => position = at,
                None => continue,
            }
        }
        while position + BATCH_HEADER_BYTES as u64 <= segment.size_bytes {
            let header = read_header(&segment.log, position)?;
            if header.base_offset >= from {
                states.replay(&header);
            }
            position += header.total_size() as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, last_offset_delta: i32) -> BatchHeader {
        let bytes = records::BatchBuilder {
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            ..records::BatchBuilder::new(
                (0..=last_offset_delta)
                    .map(|_| records::NewRecord::new(None, b"v", 0))
                    .collect(),
            )
        }
        .build()
        .expect("batch");
        BatchHeader::parse(&bytes).expect("header")
    }

    fn append(states: &mut ProducerStates, h: &BatchHeader, base_offset: i64, now_ms: i64) {
        let batch = Incoming {
            header: h,
            base_offset,
            timestamp_ms: 0,
        };
        match states.check(&[batch], now_ms).expect("accepted") {
            Verdict::Append(updates) => states.apply(updates),
            Verdict::Duplicate(d) => panic!("unexpected duplicate {d:?}"),
        }
    }

    #[test]
    fn the_least_recently_used_producer_is_evicted_at_the_limit() {
        let mut states = ProducerStates::default();
        for pid in 0..PRODUCERS_PER_PARTITION_MAX as i64 {
            append(&mut states, &header(pid, 0, 0, 0), pid, 0);
        }
        // Touch producer 0, so producer 1 is now the least recently used.
        append(&mut states, &header(0, 0, 1, 0), 20_000, 0);
        append(&mut states, &header(-5 + 100_000, 0, 0, 0), 20_001, 0);
        assert_eq!(states.len(), PRODUCERS_PER_PARTITION_MAX);
        assert!(states.entry(1).is_none());
        assert_eq!(states.entry(0).map(|e| e.batches.len()), Some(2));
    }

    #[test]
    fn last_sequence_wraps_like_kafka() {
        assert_eq!(last_sequence(&header(1, 0, i32::MAX, 0)), i32::MAX);
        assert_eq!(last_sequence(&header(1, 0, i32::MAX, 1)), 0);
        assert_eq!(last_sequence(&header(1, 0, i32::MAX - 1, 3)), 1);
        assert!(in_sequence(i32::MAX, 0));
        assert!(!in_sequence(i32::MAX, 1));
    }

    #[test]
    fn snapshot_is_due_after_a_roll_or_once_a_change_is_old_enough() {
        let dir = tempfile::tempdir().unwrap();
        let mut states = ProducerStates::default();
        assert!(states.snapshot_due(0), "never written: behind any segment");
        states.write_snapshot(dir.path(), 100).unwrap();
        assert!(!states.snapshot_due(0));
        assert!(!states.snapshot_due(100));
        assert!(
            states.snapshot_due(101),
            "the active segment rolled past it"
        );
        states.replay(&header(7, 0, 0, 0));
        assert!(states.dirty);
        assert!(!states.snapshot_due(100), "a change waits for the interval");
        states.snapshot_written = Instant::now().checked_sub(SNAPSHOT_INTERVAL);
        assert!(states.snapshot_due(100));
        states.dirty = false;
        assert!(
            !states.snapshot_due(100),
            "an old but unchanged one is kept"
        );
    }
}
