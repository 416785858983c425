//! One partition: an ordered list of segments, the last one active. This
//! file owns its state and append (validate, assign offsets, roll, one
//! vectored positioned write); `read.rs` reads by offset, `durability.rs`
//! is the partition's side of a flush cycle (durable end, high watermark,
//! recovery point, page-cache window). Lookups by timestamp are in
//! `lookup.rs`, retention in `retention.rs`, recovery of its directory in
//! `recovery.rs`, the flusher thread in `flush.rs`.

mod durability;
mod read;
mod window;

pub(crate) use durability::{Aftercare, FlushPlan, SyncUnit};
pub use read::{FileRange, ReadResult};

use crate::checkpoint::RecoveryPointFile;
use crate::config::{CleanupPolicy, TimestampType};
use crate::flush::Flusher;
use crate::producer_state::{self, BatchMeta, Incoming as ProducerBatch, ProducerStates, Verdict};
use crate::recovery::{self, Recovered};
use crate::segment::{Segment, SEGMENT_BYTES_MAX};
use crate::{FlushPolicy, FlushTicket, LogError, TopicConfig};
use records::{BatchHeader, BatchIter, Records, BATCH_HEADER_BYTES};
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Instant;
use tokio::sync::watch;

/// A scratch buffer larger than this is dropped after use rather than kept.
const SCRATCH_BYTES_KEPT_MAX: usize = 4 << 20;

thread_local! {
    /// Where appends are copied to be stamped: one per thread, not one per
    /// partition, so memory follows the number of threads rather than
    /// partitions × the largest batch each has seen.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Most batches accepted in one append (one produce partition payload).
pub const APPEND_BATCHES_MAX: usize = 10_000;

/// Where an append landed.
#[derive(Debug, Clone, Copy)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Broker time used for `LogAppendTime` topics, else -1.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// Await with [`crate::Store::wait_durable`] before acknowledging.
    pub ticket: FlushTicket,
    /// The append was a retry of an idempotent producer's batch already in
    /// the log: nothing was written, and the offsets are the original ones.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub log_start: i64,
    /// What consumers may read up to: the durable end under `FlushPolicy::Always`,
    /// the log end otherwise.
    pub high_watermark: i64,
    pub log_end: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp_ms: i64,
    pub offset: i64,
}

/// A batch boundary: `offset` is the next offset, found at `position` in the
/// segment with base `segment_base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Boundary {
    pub offset: i64,
    pub segment_base: i64,
    pub position: u64,
}

pub(crate) struct State {
    /// Sorted by base offset; never empty; the last is active.
    pub segments: Vec<Segment>,
    pub log_start: i64,
    /// Readable prefix.
    pub high_watermark: Boundary,
    /// Prefix known to be fdatasync'ed.
    pub durable: Boundary,
    /// Files awaiting their fdatasync besides the active segment's tail:
    /// sealed segments, what opening recovered or created, and the index
    /// files written at shutdown.
    pub unsynced: Vec<Arc<File>>,
    /// A segment file was created since the directory was last synced; its
    /// directory entry must be durable before its data counts as durable.
    pub dir_unsynced: bool,
    pub last_recovery_point: Option<Instant>,
    /// Open once the recovery point was first written by this process.
    pub recovery_point_file: Option<RecoveryPointFile>,
    /// Set when the topic is deleted; appends then fail.
    pub deleted: bool,
    /// Idempotent producers' epochs and recent batches.
    pub producers: ProducerStates,
    /// Where recent reads started, for the page-cache window.
    pub readers: window::ReaderFloor,
    /// Under `flush=never`, what the last window pass advised: advised
    /// again by the next, once the writeback the first advice started is
    /// done (see `Partition::drop_unsynced_behind_window`).
    pub window_advised: Vec<(Arc<File>, u64, u64)>,
}

impl State {
    pub fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a partition always has an active segment")
    }
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a partition always has an active segment")
    }
    pub fn end(&self) -> Boundary {
        let active = self.active();
        Boundary {
            offset: active.next_offset,
            segment_base: active.base_offset,
            position: active.size_bytes,
        }
    }
    pub fn offsets(&self) -> PartitionOffsets {
        PartitionOffsets {
            log_start: self.log_start,
            high_watermark: self.high_watermark.offset,
            log_end: self.active().next_offset,
        }
    }
    /// Index of the segment holding `offset` (the last with base <= offset).
    pub fn segment_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }
    /// Readable byte limit of segment `i`, given the high watermark.
    pub fn readable_bytes(&self, i: usize) -> u64 {
        let segment = &self.segments[i];
        let hw = self.high_watermark;
        match segment.base_offset.cmp(&hw.segment_base) {
            std::cmp::Ordering::Less => segment.size_bytes,
            std::cmp::Ordering::Equal => hw.position.min(segment.size_bytes),
            std::cmp::Ordering::Greater => 0,
        }
    }
}

pub(crate) struct PartitionParams {
    pub id: i32,
    pub dir: PathBuf,
    pub config: Arc<RwLock<TopicConfig>>,
    pub index_interval_bytes: u32,
    pub flusher: Arc<Flusher>,
    pub clean_shutdown: bool,
}

pub struct Partition {
    id: i32,
    dir: PathBuf,
    config: Arc<RwLock<TopicConfig>>,
    index_interval_bytes: u32,
    flusher: Arc<Flusher>,
    /// The filesystem the partition's directory is on (`st_dev`), so the
    /// flusher knows whether one syncfs of the data directory covers it.
    pub(crate) device: u64,
    this: Weak<Partition>,
    /// Whether the flusher's dirty set holds this partition (guarded by the
    /// flusher's lock).
    pub(crate) flush_queued: AtomicBool,
    /// In the flusher's list for the next window pass (`flush=never`).
    pub(crate) window_queued: AtomicBool,
    state: Mutex<State>,
    high_watermark_tx: watch::Sender<i64>,
}

/// Size of one append, for the roll decision.
#[derive(Clone, Copy)]
struct Incoming {
    bytes: u64,
    offsets: i64,
}

/// Validated batches of one append: (start position in the payload, header).
struct Checked {
    batches: Vec<(usize, BatchHeader)>,
    offset_count: i64,
}

impl Partition {
    /// Opens (recovering) or creates the partition directory. What recovery
    /// rewrote (a truncated tail, index files) or created (a first segment)
    /// is left in `unsynced` for [`Flusher::sync_now`], which syncs every
    /// partition opened together at once: nothing may read or append to the
    /// partition before it has.
    pub(crate) fn open(params: PartitionParams) -> Result<Arc<Partition>, LogError> {
        std::fs::create_dir_all(&params.dir)?;
        let Recovered {
            mut segments,
            log_start,
            files_to_sync,
        } = recovery::recover_partition(
            &params.dir,
            params.index_interval_bytes,
            params.clean_shutdown,
        )?;
        let producers =
            producer_state::load(&params.dir, &mut segments, params.index_interval_bytes);
        // The page-cache window governs what this process writes. What is
        // already on disk stays as cached as the kernel left it: dropping
        // gigabytes of it here, or in the first flush cycle, would hold up
        // the start or every produce waiting on that cycle.
        for segment in &mut segments {
            segment.cache_dropped_to = segment.size_bytes;
        }
        let mut state = State {
            segments,
            log_start,
            high_watermark: Boundary {
                offset: 0,
                segment_base: 0,
                position: 0,
            },
            durable: Boundary {
                offset: 0,
                segment_base: 0,
                position: 0,
            },
            dir_unsynced: !files_to_sync.is_empty(),
            unsynced: files_to_sync,
            last_recovery_point: None,
            recovery_point_file: None,
            deleted: false,
            producers,
            readers: window::ReaderFloor::default(),
            window_advised: Vec::new(),
        };
        // Everything recovery kept is readable, and durable once `unsynced`
        // is synced, which the store does before anyone reads or appends.
        state.high_watermark = state.end();
        state.durable = state.end();
        let (high_watermark_tx, _) = watch::channel(state.high_watermark.offset);
        let device = std::fs::metadata(&params.dir)?.dev();
        Ok(Arc::new_cyclic(|this| Partition {
            id: params.id,
            dir: params.dir,
            config: params.config,
            index_interval_bytes: params.index_interval_bytes,
            flusher: params.flusher,
            device,
            this: this.clone(),
            flush_queued: AtomicBool::new(false),
            window_queued: AtomicBool::new(false),
            state: Mutex::new(state),
            high_watermark_tx,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(&self) -> TopicConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn mark_dirty(&self, urgent: bool) -> u64 {
        match self.this.upgrade() {
            Some(me) => self.flusher.mark_dirty(&me, urgent),
            None => 0,
        }
    }

    /// Under `flush=never` with a page-cache window, puts this partition in
    /// the flusher's next window pass (see `Flusher::run`).
    fn queue_window_pass(&self) {
        if self.flusher.window_passes() && !self.window_queued.swap(true, Ordering::AcqRel) {
            if let Some(me) = self.this.upgrade() {
                self.flusher.queue_window_pass(me);
            }
        }
    }

    pub fn id(&self) -> i32 {
        self.id
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates and appends the record batches in `records` (one or more
    /// concatenated v2 batches, as a produce request carries them), stamping
    /// base offsets. All-or-nothing: a bad batch rejects the whole append.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let config = self.config();
        let checked = check_batches(records, &config)?;
        let log_append = config.message_timestamp_type == TimestampType::LogAppendTime;
        let (base_offset, log_start, rolled) = {
            let mut state = self.lock();
            if state.deleted {
                return Err(LogError::UnknownTopicOrPartition(format!(
                    "partition {} was deleted",
                    self.id
                )));
            }
            let incoming = Incoming {
                bytes: records.len() as u64,
                offsets: checked.offset_count,
            };
            let base_offset = state.active().next_offset;
            let append_time_ms = log_append.then_some(now_ms);
            let producer_updates =
                match check_producers(&mut state, &checked, append_time_ms, now_ms)? {
                    ProducerCheck::None => None,
                    ProducerCheck::Append(updates) => Some(updates),
                    ProducerCheck::Duplicate(original) => {
                        return Ok(self.duplicate_info(&state, original, log_append));
                    }
                };
            let rolled = self.roll_if_full(&mut state, incoming, &config)?;
            self.write_batches(&mut state, records, &checked, append_time_ms)?;
            if let Some(updates) = producer_updates {
                state.producers.apply(updates);
            }
            if self.flusher.policy() != FlushPolicy::Always {
                let end = state.end();
                self.advance_high_watermark(&mut state, end);
            }
            (base_offset, state.log_start, rolled)
        };
        let ticket = match self.flusher.policy() {
            FlushPolicy::Always => FlushTicket(Some(self.mark_dirty(true))),
            FlushPolicy::IntervalMs(_) => {
                self.mark_dirty(rolled);
                FlushTicket(None)
            }
            FlushPolicy::Never => {
                if rolled {
                    self.mark_dirty(true);
                }
                self.queue_window_pass();
                FlushTicket(None)
            }
        };
        Ok(AppendInfo {
            base_offset,
            last_offset: base_offset + checked.offset_count - 1,
            log_append_time_ms: if log_append { now_ms } else { -1 },
            log_start_offset: log_start,
            ticket,
            duplicate: false,
        })
    }

    /// The answer to a retried batch: the original offsets, and a ticket
    /// that waits for the original to be durable if it may not be yet.
    fn duplicate_info(&self, state: &State, original: BatchMeta, log_append: bool) -> AppendInfo {
        let unsynced = original.last_offset >= state.durable.offset;
        let ticket = match self.flusher.policy() {
            FlushPolicy::Always if unsynced => FlushTicket(Some(self.mark_dirty(true))),
            _ => FlushTicket(None),
        };
        AppendInfo {
            base_offset: original.first_offset,
            last_offset: original.last_offset,
            log_append_time_ms: if log_append {
                original.timestamp_ms
            } else {
                -1
            },
            log_start_offset: state.log_start,
            ticket,
            duplicate: true,
        }
    }

    /// Writes the checked batches at the end of the active segment with
    /// their offsets stamped, and indexes them.
    ///
    /// Batches keep their CreateTime (the usual case) are written straight
    /// from the request: one vectored positioned write takes each batch's
    /// new base offset from a small array and the rest of its bytes from
    /// `records`, so nothing is copied. `LogAppendTime` rewrites timestamps
    /// and the CRC, so those batches are stamped in this thread's scratch
    /// buffer first.
    fn write_batches(
        &self,
        state: &mut State,
        records: &[u8],
        checked: &Checked,
        log_append_time_ms: Option<i64>,
    ) -> Result<(), LogError> {
        if log_append_time_ms.is_none() {
            return self.write_stamped_in_place(state, records, checked);
        }
        SCRATCH.with_borrow_mut(|buffer| {
            buffer.clear();
            buffer.extend_from_slice(records);
            let written = self.stamp_and_write(state, buffer, checked, log_append_time_ms);
            if buffer.capacity() > SCRATCH_BYTES_KEPT_MAX {
                *buffer = Vec::new();
            }
            written
        })
    }

    fn stamp_and_write(
        &self,
        state: &mut State,
        buffer: &mut [u8],
        checked: &Checked,
        log_append_time_ms: Option<i64>,
    ) -> Result<(), LogError> {
        let mut next = state.active().next_offset;
        let mut headers = Vec::with_capacity(checked.batches.len());
        for &(start, header) in &checked.batches {
            let batch = &mut buffer[start..start + header.total_size()];
            records::stamp_base_offset(batch, next);
            if let Some(ms) = log_append_time_ms {
                records::set_log_append_time(batch, ms)?;
            }
            let stamped = BatchHeader::parse(batch)?;
            next += stamped.offset_count();
            headers.push((start as u64, stamped));
        }
        let active = state.active_mut();
        let position =
            active.write_at_end(buffer.len() as u64, |log, at| log.write_all_at(buffer, at))?;
        for (start, header) in &headers {
            active.note_batch(position + start, header, self.index_interval_bytes);
        }
        Ok(())
    }

    fn write_stamped_in_place(
        &self,
        state: &mut State,
        records: &[u8],
        checked: &Checked,
    ) -> Result<(), LogError> {
        let mut next = state.active().next_offset;
        let mut stamped = Vec::with_capacity(checked.batches.len());
        for &(start, header) in &checked.batches {
            stamped.push((
                start,
                BatchHeader {
                    base_offset: next,
                    ..header
                },
            ));
            next += header.offset_count();
        }
        let stamps: Vec<[u8; 8]> = stamped
            .iter()
            .map(|(_, h)| h.base_offset.to_be_bytes())
            .collect();
        let mut slices = Vec::with_capacity(2 * stamped.len());
        for ((start, header), stamp) in stamped.iter().zip(&stamps) {
            slices.push(IoSlice::new(stamp));
            slices.push(IoSlice::new(
                &records[start + 8..start + header.total_size()],
            ));
        }
        let active = state.active_mut();
        let position = active.write_at_end(records.len() as u64, |log, at| {
            pwrite_all_vectored(log, &mut slices, at)
        })?;
        let base = checked.batches.first().map_or(0, |&(start, _)| start);
        for (start, header) in &stamped {
            let at = position + (start - base) as u64;
            active.note_batch(at, header, self.index_interval_bytes);
        }
        Ok(())
    }

    /// Rolls before an append of `incoming` would overflow the active
    /// segment (an empty segment takes any single append).
    fn roll_if_full(
        &self,
        state: &mut State,
        incoming: Incoming,
        config: &TopicConfig,
    ) -> Result<bool, LogError> {
        if incoming.bytes > SEGMENT_BYTES_MAX {
            let max_bytes = SEGMENT_BYTES_MAX as usize;
            return Err(LogError::MessageTooLarge {
                size_bytes: incoming.bytes as usize,
                max_bytes,
            });
        }
        let limit = config.segment_bytes.clamp(1, SEGMENT_BYTES_MAX);
        let active = state.active();
        let size = active.size_bytes;
        // Relative offsets are stored in 4 bytes too.
        let used_offsets = active.next_offset - active.base_offset;
        let offsets_full = used_offsets + incoming.offsets > i64::from(u32::MAX);
        if size > 0 && (size + incoming.bytes > limit || offsets_full) {
            self.roll(state)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Seals the active segment (its files go to the flusher) and starts a
    /// new one at the log end.
    fn roll(&self, state: &mut State) -> Result<(), LogError> {
        let next = state.active().next_offset;
        let files = state.active_mut().seal(&self.dir)?;
        state.unsynced.extend(files);
        state.segments.push(Segment::create(&self.dir, next)?);
        state.dir_unsynced = true;
        tracing::debug!(dir = %self.dir.display(), base_offset = next, "rolled segment");
        Ok(())
    }

    fn advance_high_watermark(&self, state: &mut State, to: Boundary) {
        if to.offset > state.high_watermark.offset {
            state.high_watermark = to;
            self.high_watermark_tx.send_replace(to.offset);
        }
    }

    /// One flush of this partition by the flusher thread: fdatasync sealed
    /// segments and the active segment's new bytes without holding the lock,
    /// then advance the durable prefix (and, under `Always`, the high
    /// watermark), and now and then persist the recovery point.
    pub(crate) fn mark_deleted(&self) {
        self.lock().deleted = true;
    }

    /// Reads whole batches starting at the batch containing `offset`, up to
    /// `max_bytes` but always at least one batch when `offset` < high watermark
    /// (KIP-74), never past the high watermark.
    pub fn offsets(&self) -> PartitionOffsets {
        self.lock().offsets()
    }

    /// Wakes when the high watermark moves; used for fetch long-polls.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark_tx.subscribe()
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.lock().segments.iter().map(|s| s.size_bytes).sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.lock().segments.iter().map(|s| s.base_offset).collect()
    }

    /// Number of segments (for tests and DescribeLogDirs-style reporting).
    pub fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.lock()
    }

    pub(crate) fn roll_locked(&self, state: &mut State) -> Result<(), LogError> {
        self.roll(state)?;
        self.mark_dirty(true);
        Ok(())
    }

    /// Makes sure segment `i`'s indexes are in memory (sealed segments load
    /// them on first use).
    pub(crate) fn load_indexes(&self, state: &mut State, i: usize) {
        state.segments[i].ensure_indexes(&self.dir, self.index_interval_bytes);
    }

    pub(crate) fn config_snapshot(&self) -> TopicConfig {
        self.config()
    }
}

pub(crate) fn out_of_range(requested: i64, offsets: &PartitionOffsets) -> LogError {
    LogError::OffsetOutOfRange {
        requested,
        log_start: offsets.log_start,
        log_end: offsets.log_end,
    }
}

/// What the producer table says about an append.
enum ProducerCheck {
    /// No batch carries a producer id: nothing to check or record.
    None,
    Append(Vec<(i64, producer_state::ProducerEntry)>),
    Duplicate(BatchMeta),
}

/// Checks the idempotent batches of an append against the producer table
/// (all of them before anything is written, keeping appends all-or-nothing),
/// with the offsets they would get. Batches without a producer id cost one
/// comparison each.
fn check_producers(
    state: &mut State,
    checked: &Checked,
    append_time_ms: Option<i64>,
    now_ms: i64,
) -> Result<ProducerCheck, LogError> {
    if !checked.batches.iter().any(|(_, h)| h.producer_id >= 0) {
        return Ok(ProducerCheck::None);
    }
    state.producers.expire(now_ms);
    let mut next = state.active().next_offset;
    let mut batches = Vec::with_capacity(checked.batches.len());
    for (_, header) in &checked.batches {
        batches.push(ProducerBatch {
            header,
            base_offset: next,
            timestamp_ms: append_time_ms.unwrap_or(header.max_timestamp),
        });
        next += header.offset_count();
    }
    Ok(match state.producers.check(&batches, now_ms)? {
        Verdict::Append(updates) => ProducerCheck::Append(updates),
        Verdict::Duplicate(original) => ProducerCheck::Duplicate(original),
    })
}

/// Writes every byte of `slices` at `position`, in calls of at most
/// `IOV_CHUNK` slices (the kernel takes up to 1024 per call).
fn pwrite_all_vectored(
    file: &File,
    mut slices: &mut [IoSlice<'_>],
    mut position: u64,
) -> io::Result<()> {
    const IOV_CHUNK: usize = 1024;
    while !slices.is_empty() {
        let chunk = &slices[..slices.len().min(IOV_CHUNK)];
        let written = match rustix::io::pwritev(file, chunk, position) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ))
            }
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        position += written as u64;
        IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// Validates every batch of an append before anything is written.
fn check_batches(records: &[u8], config: &TopicConfig) -> Result<Checked, LogError> {
    let mut batches = Vec::new();
    let mut offset_count = 0;
    let mut iter = BatchIter::new(records);
    while let Some(item) = iter.next() {
        let (header, batch) = item?;
        if batch.len() > config.max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size_bytes: batch.len(),
                max_bytes: config.max_message_bytes,
            });
        }
        if batches.len() >= APPEND_BATCHES_MAX {
            return Err(LogError::InvalidRecord {
                message: format!("more than {APPEND_BATCHES_MAX} batches in one append"),
                record_errors: Vec::new(),
            });
        }
        batches.push((iter.position() - batch.len(), header));
        offset_count += header.offset_count();
    }
    if batches.is_empty() {
        return Err(records::RecordsError::Truncated {
            needed_bytes: BATCH_HEADER_BYTES,
            available_bytes: 0,
        }
        .into());
    }
    if config.cleanup_policy != CleanupPolicy::Delete {
        check_keys(records, &batches)?;
    }
    Ok(Checked {
        batches,
        offset_count,
    })
}

/// Compacted topics need a key on every (non-control) record.
fn check_keys(records: &[u8], batches: &[(usize, BatchHeader)]) -> Result<(), LogError> {
    let mut record_errors = Vec::new();
    let mut index: i32 = 0;
    for &(start, header) in batches {
        let parsed = Records::new(&records[start..start + header.total_size()])?;
        for record in parsed.iter() {
            let record = record?;
            if record.key.is_none() && !header.is_control() {
                record_errors.push((index, "compacted topic requires a record key".to_string()));
            }
            index += 1;
        }
    }
    if record_errors.is_empty() {
        return Ok(());
    }
    Err(LogError::InvalidRecord {
        message: format!(
            "{} record(s) without a key on a compacted topic",
            record_errors.len()
        ),
        record_errors,
    })
}
