//! Deleting whole segments from the front of a partition: time and size
//! retention, rolling by `segment.ms`, and DeleteRecords moving the log start
//! offset. Never deletes the active segment or anything at or above the high
//! watermark.

use crate::checkpoint;
use crate::partition::{out_of_range, State};
use crate::segment::{Segment, LOG_SUFFIX};
use crate::{LogError, Partition, TopicConfig};
use std::path::Path;
use std::time::UNIX_EPOCH;

impl Partition {
    /// DeleteRecords: moves the log start offset up to `offset` (-1 = high
    /// watermark) and drops whole segments below it. Returns the new start.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let mut state = self.state();
        let offsets = state.offsets();
        let target = if offset == -1 {
            offsets.high_watermark
        } else {
            offset
        };
        if target < 0 || target > offsets.high_watermark {
            return Err(out_of_range(offset, &offsets));
        }
        if target <= state.log_start {
            return Ok(state.log_start);
        }
        checkpoint::write_log_start(self.dir(), target)?;
        state.log_start = target;
        if target >= state.active().next_offset && state.active().size_bytes > 0 {
            self.roll_locked(&mut state)?;
        }
        let below = state
            .segments
            .windows(2)
            .take_while(|w| w[1].base_offset <= target)
            .count();
        drop_front_segments(self.dir(), &mut state, below)?;
        Ok(target)
    }

    /// Forgets idle idempotent producers, rolls by `segment.ms`, then
    /// deletes the oldest segments past `retention.ms` or beyond
    /// `retention.bytes`. Returns segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let config = self.config_snapshot();
        let mut state = self.state();
        if state.deleted {
            return Ok(0);
        }
        state.producers.expire(now_ms);
        let active = state.active();
        let aged = active
            .first_batch_ms
            .is_some_and(|t| now_ms.saturating_sub(t) >= config.segment_ms);
        if active.size_bytes > 0 && config.segment_ms >= 0 && aged {
            self.roll_locked(&mut state)?;
        }
        let expired = count_expired(self.dir(), &state, &config, now_ms);
        drop_front_segments(self.dir(), &mut state, expired)?;
        Ok(expired)
    }
}

/// How many segments from the front retention removes.
fn count_expired(dir: &Path, state: &State, config: &TopicConfig, now_ms: i64) -> usize {
    let mut total_bytes: i64 = state.segments.iter().map(|s| s.size_bytes as i64).sum();
    let high_watermark = state.high_watermark.offset;
    let deadline_ms = now_ms.saturating_sub(config.retention_ms);
    let mut count = 0;
    for segment in &state.segments[..state.segments.len() - 1] {
        if segment.next_offset > high_watermark {
            break;
        }
        let too_old = config.retention_ms >= 0 && largest_timestamp_ms(dir, segment) < deadline_ms;
        let too_big = config.retention_bytes >= 0
            && total_bytes - segment.size_bytes as i64 >= config.retention_bytes;
        if !too_old && !too_big {
            break;
        }
        total_bytes -= segment.size_bytes as i64;
        count += 1;
    }
    count
}

/// The segment's max timestamp, or its file's modification time when no
/// batch carried one (as Kafka does).
fn largest_timestamp_ms(dir: &Path, segment: &Segment) -> i64 {
    if segment.max_timestamp_ms >= 0 {
        return segment.max_timestamp_ms;
    }
    let path = crate::segment::segment_path(dir, segment.base_offset, LOG_SUFFIX);
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| d.as_millis() as i64)
}

/// Removes the first `count` segments (never the active one) and raises the
/// log start offset to the new first segment if needed.
fn drop_front_segments(dir: &Path, state: &mut State, count: usize) -> Result<(), LogError> {
    assert!(
        count < state.segments.len(),
        "retention must keep the active segment"
    );
    if count == 0 {
        return Ok(());
    }
    let new_first = state.segments[count].base_offset;
    if new_first > state.log_start {
        checkpoint::write_log_start(dir, new_first)?;
        state.log_start = new_first;
    }
    for segment in state.segments.drain(..count) {
        tracing::info!(dir = %dir.display(), base_offset = segment.base_offset, "deleting segment");
        Segment::remove_files(dir, segment.base_offset);
    }
    Ok(())
}
